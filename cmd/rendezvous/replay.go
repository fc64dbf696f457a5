package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/replay"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// replayOutcome is one candidate's replay: what it did and the report; the
// JSON form is --json's output (a list, one per candidate).
type replayOutcome = monitor.ReplayOutcome

type replayFlags struct {
	ws          workspaceFlags
	candidates  stringList
	remote      string
	protocol    string
	remoteModel string
	name        string
	sample      float64
	concurrency int
	batch       int
	asJSON      bool
	// server, token and bundlePaths: ask a running gateway (--server).
	server, token string
	bundlePaths   stringList
	// set are the flags given.
	set map[string]bool
}

func parseReplayFlags(args []string, stderr io.Writer) (*replayFlags, error) {
	fs := newFlagSet("replay --candidate FILE [--candidate FILE …] [flags]",
		"Try a model on traffic the gateway has already served. The validated input of\n"+
			"every accepted request in the store (in --since/--until) goes through the\n"+
			"candidate bundle's pipeline and model, exactly as the gateway would score it;\n"+
			"each answer is stored beside its record as a replay result (role replay),\n"+
			"never changing what production answered. A rerun writes nothing new. Inputs\n"+
			"the candidate cannot take (a field its pipeline reads is missing or of another\n"+
			"type) are counted by reason and skipped. At the end the candidate is compared\n"+
			"with production on the labelled requests, as for a live challenger: accuracies,\n"+
			"McNemar's exact test, verdict, agreement, prediction drift, and per day.\n"+
			"GET /v1/compare?challenger=NAME shows the same report afterwards.\n\n"+
			"With --server URL the running gateway replays over its own store (POST\n"+
			"/v1/replay, an admin token: --token or $RENDEZVOUS_TOKEN): --candidate FILE\n"+
			"uploads the bundle, --bundle-path PATH names one on the server.", stderr)
	f := &replayFlags{ws: addWorkspaceFlags(fs)}
	fs.Var(&f.candidates, "candidate", "model bundle to replay (repeatable)")
	fs.StringVar(&f.remote, "remote", "", "replay through a remote model at this base URL instead (needs --name)")
	fs.StringVar(&f.protocol, "protocol", "oip-v2", "--remote's protocol: oip-v2 (KServe V2) or mlflow (/invocations)")
	fs.StringVar(&f.remoteModel, "remote-model", "", "--remote's OIP v2 model name (default: --name)")
	fs.StringVar(&f.name, "name", "", "name to store the results under (default: the bundle's name; one --candidate, or --remote)")
	fs.Float64Var(&f.sample, "sample", 1, "share of the requests to replay, chosen by request id (0 < s ≤ 1)")
	fs.IntVar(&f.concurrency, "concurrency", runtime.GOMAXPROCS(0), "scoring goroutines")
	fs.IntVar(&f.batch, "batch", replay.DefaultBatchSize, "results per store write")
	fs.BoolVar(&f.asJSON, "json", false, "print the replay statistics and reports as JSON")
	fs.StringVar(&f.server, "server", "", "ask the gateway at this base URL to replay over its own store (instead of --store)")
	fs.StringVar(&f.token, "token", "", "--server's API token with the admin scope (default: $RENDEZVOUS_TOKEN)")
	fs.Var(&f.bundlePaths, "bundle-path", "with --server: a bundle file on the server to replay (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := f.checkServerMode(fs); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch {
	case len(f.candidates)+len(f.bundlePaths) == 0 && f.remote == "":
		return nil, fmt.Errorf("%w: --candidate: required (a model bundle file, e.g. examples/titanic/models/dev-logreg.json), or --remote URL", errUsage)
	case len(f.candidates)+len(f.bundlePaths) > 0 && f.remote != "":
		return nil, fmt.Errorf("%w: --remote: give either --candidate bundles or one --remote model", errUsage)
	case f.remote != "" && f.name == "":
		return nil, fmt.Errorf("%w: --name: required with --remote (the name the results are stored and compared under)", errUsage)
	case f.protocol != "oip-v2" && f.protocol != "mlflow":
		return nil, fmt.Errorf("%w: --protocol: want oip-v2 or mlflow, got %q", errUsage, f.protocol)
	case f.name != "" && len(f.candidates)+len(f.bundlePaths) > 1:
		return nil, fmt.Errorf("%w: --name: only with one --candidate", errUsage)
	case !(f.sample > 0 && f.sample <= 1):
		return nil, fmt.Errorf("%w: --sample: must be in (0, 1], got %g", errUsage, f.sample)
	case f.concurrency < 1:
		return nil, fmt.Errorf("%w: --concurrency: must be ≥ 1, got %d", errUsage, f.concurrency)
	case f.batch < 1:
		return nil, fmt.Errorf("%w: --batch: must be ≥ 1, got %d", errUsage, f.batch)
	}
	return f, nil
}

// checkServerMode refuses the flags --server and the store mode do not
// share.
func (f *replayFlags) checkServerMode(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	f.set = set
	switch {
	case f.server != "" && set["store"]:
		return fmt.Errorf("%w: --server: give either --store (replay here, reading the store) or --server (ask a running gateway), not both", errUsage)
	case f.server == "" && len(f.bundlePaths) > 0:
		return fmt.Errorf("%w: --bundle-path: only with --server (here, give the file with --candidate)", errUsage)
	case f.server == "" && set["token"]:
		return fmt.Errorf("%w: --token: only with --server", errUsage)
	case f.server != "" && set["batch"]:
		return fmt.Errorf("%w: --batch: not with --server (the gateway writes in its own batches)", errUsage)
	case f.server != "" && set["config"]:
		return fmt.Errorf("%w: --config: not with --server (the gateway uses its own configuration)", errUsage)
	}
	return nil
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseReplayFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.server != "" {
		outs, err := replayOnServer(ctx, f, stderr)
		if err != nil {
			return err
		}
		return writeReplayOutcomes(stdout, outs, f.asJSON)
	}
	var cands []replayCandidate
	for _, path := range f.candidates {
		b, err := model.Load(path)
		if err != nil {
			return fmt.Errorf("--candidate: %w", err)
		}
		name := cmp.Or(f.name, b.Name)
		cands = append(cands, replayCandidate{name: name, m: b, inputs: b.Pipeline.Inputs, bundle: b})
	}
	ws, win, err := f.ws.open(ctx)
	if err != nil {
		return err
	}
	defer ws.store.Close()
	if f.remote != "" {
		c, err := remoteCandidate(ws, f)
		if err != nil {
			return err
		}
		cands = append(cands, c)
	}
	sink, ok := ws.store.(store.ReplayStore)
	if !ok {
		return fmt.Errorf("store %s keeps no replay results", store.RedactURL(ws.cfg.Store.URL))
	}
	var outs []replayOutcome
	for _, c := range cands {
		out, err := replayOne(ctx, f, ws, sink, win, c, stderr)
		if err != nil {
			return err
		}
		outs = append(outs, out)
	}
	return writeReplayOutcomes(stdout, outs, f.asJSON)
}

// writeReplayOutcomes prints the outcomes as JSON (a list) or as text.
func writeReplayOutcomes(stdout io.Writer, outs []replayOutcome, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(outs)
	}
	for i, o := range outs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := writeReplayText(stdout, o); err != nil {
			return err
		}
	}
	return nil
}

// replayCandidate is one model to replay: a bundle (bundle set) or a
// remote model, with the raw fields it reads.
type replayCandidate struct {
	name   string
	m      model.Model
	inputs []model.InputField
	bundle *model.Bundle
}

// remoteCandidate builds --remote's model as the gateway builds a remote
// member: the configuration's schema fields are sent, its label words read.
func remoteCandidate(ws *workspace, f *replayFlags) (replayCandidate, error) {
	spec := &gateway.RemoteSpec{Protocol: f.protocol, URL: f.remote, Model: cmp.Or(f.remoteModel, f.name)}
	m, err := gateway.LoadSource(ws.cfg, f.name, gateway.Source{Remote: spec}, nil)
	if err != nil {
		return replayCandidate{}, fmt.Errorf("%w: --remote: %v", errUsage, err)
	}
	return replayCandidate{name: f.name, m: m, inputs: schemaInputs(ws.cfg)}, nil
}

// replayOne replays one candidate under its name and reports on it.
func replayOne(ctx context.Context, f *replayFlags, ws *workspace, sink store.ReplayStore, win monitor.Window, c replayCandidate, stderr io.Writer) (monitor.ReplayOutcome, error) {
	bar := newReplayProgress(stderr, c.name)
	defer bar.done()
	p := replay.Params{Source: ws.store, Sink: sink, Concurrency: f.concurrency, BatchSize: f.batch, Sample: f.sample}
	out, err := replayAndReport(ctx, ws.cfg, ws.store, ws.members, c, p, win, bar.update)
	var fe *gateway.FieldError
	if errors.As(err, &fe) {
		return out, fmt.Errorf("%w: --%s: %s", errUsage, fe.Field, fe.Msg)
	}
	return out, err
}

// replayAndReport replays c over win into sink (p gives the source and
// the tuning) and reports on it against production, with members the
// models of the comparison: the CLI's store mode and POST /v1/replay.
// The candidate's name must not be production's (a *gateway.FieldError
// naming "name").
func replayAndReport(ctx context.Context, cfg *config.Config, st store.Store, members []rendezvous.Member, c replayCandidate, p replay.Params, win monitor.Window, progress func(monitor.ReplayProgress)) (monitor.ReplayOutcome, error) {
	if err := checkReplayName(members, c.name); err != nil {
		return monitor.ReplayOutcome{}, err
	}
	// The candidate joins the monitor's models (its bundle gives the
	// reference of its prediction drift) unless configured already.
	members = append(members[:len(members):len(members)], rendezvous.Member{Name: c.name, Role: model.RoleChallenger, Model: c.m})
	mon, err := buildMonitor(cfg, st, members)
	if err != nil {
		return monitor.ReplayOutcome{}, err
	}
	p.Candidate, p.Name, p.Inputs = c.m, c.name, c.inputs
	return mon.ReplayAndReport(ctx, p, win, progress)
}

// replayProgress draws the replay's progress on a terminal: the share of
// the window's time span read, records read, rate and ETA.
type replayProgress struct {
	*progress
}

func newReplayProgress(w io.Writer, name string) *replayProgress {
	return &replayProgress{progress: newProgress(w, "replay "+name)}
}

func (p *replayProgress) update(s monitor.ReplayProgress) {
	if !p.tty || time.Since(p.progress.last) < 100*time.Millisecond {
		return
	}
	p.progress.last = time.Now()
	frac := s.Fraction
	const width = 30
	bar := []byte(strings.Repeat("#", int(frac*width)) + strings.Repeat(" ", width-int(frac*width)))
	eta := "-"
	if frac > 0 {
		eta = (time.Duration(float64(s.Elapsed) * (1 - frac) / frac)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %d records  %.0f/s  ETA %s ", p.label, bar, 100*frac, s.Read, s.Rate, eta)
}

func writeReplayText(w io.Writer, o replayOutcome) error {
	s, r := o.Replay, o.Report
	fmt.Fprintf(w, "Replay of %s (version %s) — %d records read in %s (%.0f/s)\n", s.Candidate, s.Version, s.Read, s.Elapsed.Round(time.Millisecond), s.Rate())
	fmt.Fprintf(w, "  scored %d (errors %d), new results %d, already stored %d, rejected requests %d, not sampled %d, skipped %d\n",
		s.Scored, s.Errors, s.Written, s.AlreadyStored, s.Rejected, s.NotSampled, s.SkippedTotal())
	for _, reason := range s.Reasons() {
		fmt.Fprintf(w, "    skipped %d: %s\n", s.Skipped[reason], reason)
	}
	if s.Scored == 0 {
		fmt.Fprintln(w, "\nNothing was scored: no comparison.")
		return nil
	}
	diff := "-"
	if r.Difference != nil {
		diff = fmt.Sprintf("%+.3f [%+.3f, %+.3f]", *r.Difference, deref(r.CI95Low), deref(r.CI95High))
	}
	fmt.Fprintf(w, "\n%s against %s (replay; labelled requests answered by both)\n\n", r.Challenger, r.Production)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIRS\tPRODUCTION ACC\tCHALLENGER ACC\tDIFFERENCE [95% CI]\tMCNEMAR P\tVERDICT\tAGREEMENT\tPOSITIVE RATE (PROD)")
	fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s (%s)\n", r.Pairs, num(r.ProductionAccuracy, 3), num(r.ChallengerAccuracy, 3), diff,
		num(r.McNemarPValue, 4), r.Verdict, pct(r.Agreement), pct(r.ChallengerPositiveRate), pct(r.ProductionPositiveRate))
	if err := tw.Flush(); err != nil {
		return err
	}
	writeOverlapText(w, r.TrainingOverlap)
	if d := r.PredictionDrift; d != nil {
		fmt.Fprintf(w, "\nPrediction drift against its training reference: %s %s, PSI %s, %s\n", d.Method, numberText(d.Statistic), numberText(d.PSI), d.Verdict)
	}
	if len(r.Days) > 0 {
		fmt.Fprintf(w, "\nPer day\n\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DAY\tPAIRS\tPRODUCTION ACC\tCHALLENGER ACC\tMCNEMAR P\tVERDICT\tAGREEMENT")
		for _, d := range r.Days {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Start.Format(time.DateOnly), d.Pairs, num(d.ProductionAccuracy, 3),
				num(d.ChallengerAccuracy, 3), num(d.McNemarPValue, 4), d.Verdict, pct(d.Agreement))
		}
		return tw.Flush()
	}
	return nil
}

var _ flag.Value = (*stringList)(nil)

// numberText is a drift figure with four decimals ("-" when not finite).
func numberText(n analysis.Number) string {
	v := float64(n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return num(&v, 4)
}

// checkReplayName refuses production's name for a candidate's results (a
// *gateway.FieldError naming "name").
func checkReplayName(members []rendezvous.Member, name string) error {
	for _, m := range members {
		if m.Name == name && m.Role == model.RoleProduction {
			return &gateway.FieldError{Field: "name", Msg: fmt.Sprintf("%q is the production model's name; give another name", name)}
		}
	}
	return nil
}
