package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
)

// reportData is everything `rendezvous report` shows; its JSON form is the
// --json output.
type reportData struct {
	Metrics     analysis.MetricsReport `json:"metrics"`
	Comparisons []analysis.Comparison  `json:"comparisons"`
	// TrainingOverlap holds, per challenger, how many of its comparison's
	// inputs each model was trained on (absent without fingerprints).
	TrainingOverlap map[string]*monitor.TrainingOverlap `json:"training_overlap,omitempty"`
	Drift           *monitor.DriftResult                `json:"drift"`
	// DriftError says why there is no drift report (e.g. no reference).
	DriftError string `json:"drift_error,omitempty"`
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report [flags]",
		"Summarise recorded traffic: every model's live figures (accuracy on labelled\n"+
			"requests, or the label-free CBPE estimate, marked ~), agreement with\n"+
			"production, latency and failures; each challenger against production\n"+
			"(McNemar); and production's input drift against its training data.", stderr)
	wf := addWorkspaceFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	htmlOut := fs.String("html", "", "write a self-contained HTML report to this file instead")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ws, win, err := wf.open(ctx)
	if err != nil {
		return err
	}
	defer ws.store.Close()
	mon, err := buildMonitor(ws.cfg, ws.store, ws.members)
	if err != nil {
		return err
	}
	if *htmlOut != "" {
		return writeFileAtomic(*htmlOut, func(w io.Writer) error {
			if err := writeHTMLReport(ctx, mon, ws.store, w, win); err != nil {
				return fmt.Errorf("write HTML report: %w", err)
			}
			return nil
		})
	}
	data, err := collectReport(ctx, mon, win)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(data)
	}
	return writeReportText(stdout, data)
}

// collectReport gathers metrics, every challenger's comparison and
// production's drift.
func collectReport(ctx context.Context, mon *monitor.Monitor, win monitor.Window) (reportData, error) {
	var d reportData
	var err error
	if d.Metrics, err = mon.Metrics(ctx, win, 0); err != nil {
		return d, fmt.Errorf("metrics: %w", err)
	}
	d.Comparisons = []analysis.Comparison{}
	for _, m := range mon.Models() {
		if m.Role == model.RoleProduction {
			continue
		}
		rep, err := mon.Report(ctx, monitor.ReportParams{Challenger: m.Name, Window: win, Source: monitor.SourceLive})
		if err != nil {
			return d, fmt.Errorf("compare %s: %w", m.Name, err)
		}
		d.Comparisons = append(d.Comparisons, rep.Comparison)
		if rep.TrainingOverlap != nil {
			if d.TrainingOverlap == nil {
				d.TrainingOverlap = map[string]*monitor.TrainingOverlap{}
			}
			d.TrainingOverlap[m.Name] = rep.TrainingOverlap
		}
	}
	dr, _, err := mon.Drift(ctx, "", win)
	switch {
	case errors.Is(err, monitor.ErrNoReference):
		d.DriftError = err.Error()
	case err != nil:
		return d, fmt.Errorf("drift: %w", err)
	default:
		d.Drift = &dr
	}
	return d, nil
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100**p)
}

func num(p *float64, digits int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", digits, *p)
}

func writeReportText(w io.Writer, d reportData) error {
	m := d.Metrics
	span := "no requests"
	if m.From != nil && m.To != nil {
		span = m.From.UTC().Format(time.RFC3339) + " to " + m.To.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Models — %s — %d requests, %d labelled, %d answered by a fallback\n\n", span, m.Requests, m.Labelled, m.Fallbacks)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tMODEL\tVERSION\tREQUESTS\tSERVED\tACCURACY\tAUC\tAGREEMENT\tP50 MS\tP99 MS\tERRORS\tTIMEOUTS\tLATE\tSKIPPED")
	for _, mm := range m.Models {
		acc := num(mm.Labelled.Accuracy, 3)
		if mm.Labelled.N == 0 && mm.Estimated.Accuracy != nil {
			acc = "~" + num(mm.Estimated.Accuracy, 3)
		}
		served := "-"
		if m.Requests > 0 {
			served = fmt.Sprintf("%.1f%%", 100*float64(mm.Served)/float64(m.Requests))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n",
			mm.Role, mm.Model, mm.Version, mm.Requests, served, acc, num(mm.Labelled.ROCAUC, 3), pct(mm.Agreement),
			num(mm.LatencyMS.P50, 3), num(mm.LatencyMS.P99, 3),
			mm.Status.Error, mm.Status.Timeout, mm.Status.Late, mm.Status.Skipped)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n~ = label-free estimate (CBPE) where no labels have arrived.")

	if len(d.Comparisons) > 0 {
		fmt.Fprintf(w, "\nChallengers against production (labelled requests answered by both)\n\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHALLENGER\tPAIRS\tPRODUCTION ACC\tCHALLENGER ACC\tDIFFERENCE [95% CI]\tMCNEMAR P\tVERDICT")
		for _, c := range d.Comparisons {
			diff := "-"
			if c.Difference != nil {
				diff = fmt.Sprintf("%+.3f [%+.3f, %+.3f]", *c.Difference, deref(c.CI95Low), deref(c.CI95High))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Challenger, c.Pairs, num(c.ProductionAccuracy, 3),
				num(c.ChallengerAccuracy, 3), diff, num(c.McNemarPValue, 4), c.Verdict)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, c := range d.Comparisons {
			writeOverlapText(w, d.TrainingOverlap[c.Challenger])
		}
	}
	switch {
	case d.Drift != nil:
		fmt.Fprintf(w, "\nInput drift of %s against its training reference\n\n", d.Drift.Model)
		if err := d.Drift.WriteText(w); err != nil {
			return err
		}
	case d.DriftError != "":
		fmt.Fprintf(w, "\nNo drift report: %s\n", d.DriftError)
	}
	return nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// writeOverlapText states how many evaluated inputs each model was trained
// on and, when that is over the threshold, the comparison on the others.
func writeOverlapText(w io.Writer, o *monitor.TrainingOverlap) {
	if o == nil || o.Evaluated == 0 {
		return
	}
	share := func(m monitor.ModelOverlap) string {
		if !m.Fingerprinted {
			return m.Model + " unknown (no fingerprint)"
		}
		return fmt.Sprintf("%s %s (%d)", m.Model, pct(m.Share), m.InTraining)
	}
	fmt.Fprintf(w, "\n%s: of %d evaluated inputs, in the training set of %s, of %s\n",
		o.Challenger.Model, o.Evaluated, share(o.Production), share(o.Challenger))
	if o.Flagged {
		c := o.Clean
		fmt.Fprintf(w, "  WARNING: over %.0f%% of the evaluated inputs were trained on; the figures flatter the model(s) trained on them.\n", 100*o.Threshold)
		fmt.Fprintf(w, "  On the %d pairs neither model was trained on: production %s, challenger %s, McNemar p %s, %s\n",
			c.Pairs, num(c.ProductionAccuracy, 3), num(c.ChallengerAccuracy, 3), num(c.McNemarPValue, 4), c.Verdict)
		u := o.ChallengerUnseen
		fmt.Fprintf(w, "  On the %d pairs %s was not trained on: production %s, challenger %s, McNemar p %s, %s\n",
			u.Pairs, o.Challenger.Model, num(u.ProductionAccuracy, 3), num(u.ChallengerAccuracy, 3), num(u.McNemarPValue, 4), u.Verdict)
	}
}
