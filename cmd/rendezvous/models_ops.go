package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

func modelsSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models set NAME [flags]", "Change a live model; only the flags given change. The new settings apply from the\nnext request on.", stderr)
	cf := addClientFlags(fs)
	fs.Duration("deadline", 0, "the model's deadline, e.g. 80ms")
	fs.Int("max-in-flight", 0, "the model's in-flight cap")
	fs.Float64("sample", 1, "share of requests the model is called for, in [0, 1]")
	fs.String("role", "", "challenger or canary (use 'models promote' for production)")
	fs.Bool("pause", false, "stop calling the model (it stays deployed)")
	fs.Bool("resume", false, "call a paused model again")
	fs.Int("fallback", 0, "place in the fallback order (0: first after production); -1: not a fallback")
	c, pos, err := modelsCommand(fs, cf, args, 1, "model's NAME")
	if err != nil {
		return err
	}
	patch := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		g := f.Value.(flag.Getter).Get()
		switch f.Name {
		case "deadline":
			patch["deadline"] = g.(time.Duration).String()
		case "max-in-flight":
			patch["max_in_flight"] = g
		case "sample", "role", "fallback":
			patch[f.Name] = g
		case "pause":
			patch["paused"] = g
		case "resume":
			patch["paused"] = !g.(bool)
		}
	})
	if len(patch) == 0 {
		return fmt.Errorf("%w: nothing to change: give at least one of --deadline, --max-in-flight, --sample, --role, --pause, --resume, --fallback", errUsage)
	}
	path := "/v1/models/" + url.PathEscape(pos[0])
	raw, err := c.do(ctx, http.MethodPatch, path, patch)
	if err != nil {
		return err
	}
	return printChange(stdout, raw, path, *cf.json)
}

// refusedPromotion is the 409 of a refused promotion.
type refusedPromotion struct {
	Error string              `json:"error"`
	Gate  analysis.GateResult `json:"gate"`
}

func modelsPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models promote NAME [flags]",
		"Make NAME production; the production model becomes a challenger and keeps running, so\n"+
			"'models rollback' is instant. The gate reads the live comparison (labelled pairs both\n"+
			"answered): by default it needs analysis.min_labelled_pairs pairs and refuses when\n"+
			"production is significantly better (promotion.require in the configuration). Its\n"+
			"figures are printed either way; a refusal exits 1. --force overrides a refusal and is\n"+
			"recorded as forced with --reason.", stderr)
	cf := addClientFlags(fs)
	force := fs.Bool("force", false, "promote even if the gate refuses (needs --reason)")
	reason := fs.String("reason", "", "why (recorded in the history; required with --force)")
	c, pos, err := modelsCommand(fs, cf, args, 1, "model's NAME")
	if err != nil {
		return err
	}
	if *force && strings.TrimSpace(*reason) == "" {
		return fmt.Errorf("%w: --force needs --reason (it is recorded in the deployment history)", errUsage)
	}
	path := "/v1/models/" + url.PathEscape(pos[0]) + "/promote"
	raw, err := c.do(ctx, http.MethodPost, path, map[string]any{"force": *force, "reason": *reason})
	if isStatus(err, http.StatusConflict) {
		var refused refusedPromotion
		if decode(raw, path, &refused) == nil && refused.Gate.Rule != "" {
			if *cf.json {
				_ = printRaw(stdout, raw, nil)
			} else {
				printGate(stdout, refused.Gate)
			}
			return fmt.Errorf("promotion of %q refused by the gate: %s (--force --reason \"…\" overrides; it is recorded)", pos[0], strings.Join(refused.Gate.Refusals, "; "))
		}
	}
	if err != nil {
		return err
	}
	if *cf.json {
		return printRaw(stdout, raw, nil)
	}
	var b changeBody
	if err := decode(raw, path, &b); err != nil {
		return err
	}
	if b.Gate != nil {
		printGate(stdout, *b.Gate)
	}
	return printChange(stdout, raw, path, false)
}

// printGate writes the gate's figures, one per line.
func printGate(w io.Writer, g analysis.GateResult) {
	c := g.Comparison
	verdict := "PASS"
	if !g.Pass {
		verdict = "REFUSED"
	}
	fmt.Fprintf(w, "gate %s (rule %s)\n", verdict, g.Rule)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  labelled pairs\t%d (at least %d needed)\n", c.Pairs, c.MinPairs)
	fmt.Fprintf(tw, "  accuracy\tproduction %s %s, challenger %s %s\n", c.Production, fmtNum(c.ProductionAccuracy), c.Challenger, fmtNum(c.ChallengerAccuracy))
	fmt.Fprintf(tw, "  difference\t%s, 95 %% interval (%s, %s)\n", fmtNum(c.Difference), fmtNum(c.CI95Low), fmtNum(c.CI95High))
	fmt.Fprintf(tw, "  discordant pairs\tonly production right %d, only challenger right %d\n", c.ProductionOnlyRight, c.ChallengerOnlyRight)
	fmt.Fprintf(tw, "  McNemar p\t%s\n", fmtNum(c.McNemarPValue))
	fmt.Fprintf(tw, "  verdict\t%s\n", c.Verdict)
	if g.Margin > 0 {
		fmt.Fprintf(tw, "  margin\t%.4g\n", g.Margin)
	}
	if g.ChallengerP99MS != nil {
		fmt.Fprintf(tw, "  p99 latency\t%s ms (ceiling %s ms)\n", fmtNum(g.ChallengerP99MS), fmtNum(g.MaxP99MS))
	}
	for _, r := range g.Refusals {
		fmt.Fprintf(tw, "  refused\t%s\n", r)
	}
	_ = tw.Flush()
}

func fmtNum(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'g', 4, 64)
}

func modelsRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models rollback [flags]", "Restore the deployment before the last change (add, remove, set, promote, reload),\nwith the same, still-warm models. Repeat to go further back (up to 16 changes).", stderr)
	cf := addClientFlags(fs)
	reason := fs.String("reason", "", "why (recorded in the history)")
	c, _, err := modelsCommand(fs, cf, args, 0, "")
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/rollback", map[string]string{"reason": *reason})
	if err != nil {
		return err
	}
	return printChange(stdout, raw, "/v1/rollback", *cf.json)
}

func modelsHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models history [flags]", "List the deployment changes the server's store keeps, oldest first: seq (records carry\nit as decision.deployment), time, kind, model, actor, roles after, forced, reason.", stderr)
	cf := addClientFlags(fs)
	limit := fs.Int("limit", 0, "only the newest N changes (0: all)")
	c, _, err := modelsCommand(fs, cf, args, 0, "")
	if err != nil {
		return err
	}
	path := "/v1/deployments"
	if *limit > 0 {
		path += "?limit=" + strconv.Itoa(*limit)
	}
	raw, err := c.do(ctx, http.MethodGet, path, nil)
	if isStatus(err, http.StatusServiceUnavailable) {
		var ae *apiError
		errors.As(err, &ae)
		return fmt.Errorf("this server keeps no deployment history: %s", ae.Message)
	}
	if err != nil || *cf.json {
		return printRaw(stdout, raw, err)
	}
	var body struct {
		Events []store.DeploymentEvent `json:"events"`
	}
	if err := decode(raw, path, &body); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tMODEL\tACTOR\tROLES AFTER\tREASON")
	for _, ev := range body.Events {
		reason := ev.Reason
		if ev.Forced {
			reason = "FORCED: " + reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ev.Time.UTC().Format(time.RFC3339), ev.Kind, ev.Model, ev.Actor, rolesLine(ev.After), reason)
	}
	return tw.Flush()
}

func modelsReload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models reload [flags]",
		"Have the server re-read its configuration file and bundles and apply them as one change\n"+
			"(POST /v1/reload; SIGHUP does the same and also re-reads auth.token_file). The file\n"+
			"wins: models added at runtime and not in it are removed, and a promotion it does not\n"+
			"reflect is undone. Unchanged models keep running as loaded. Settings that need a\n"+
			"restart (server.addr, store.url, …) are listed and ignored. An invalid file changes\n"+
			"nothing: every problem is listed and the command exits 1.", stderr)
	cf := addClientFlags(fs)
	c, _, err := modelsCommand(fs, cf, args, 0, "")
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/reload", nil)
	var ae *apiError
	if errors.As(err, &ae) && len(ae.Problems) > 0 {
		for _, p := range ae.Problems {
			fmt.Fprintf(stdout, "  problem: %s\n", p)
		}
		return fmt.Errorf("%s (%d problems)", ae.Message, len(ae.Problems))
	}
	if err != nil || *cf.json {
		return printRaw(stdout, raw, err)
	}
	var rep gateway.ReloadReport
	if err := decode(raw, "/v1/reload", &rep); err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep.String())
	if rep.Event != nil {
		fmt.Fprintf(stdout, "  roles: %s\n", rolesLine(rep.Event.After))
	}
	if rep.Warning != "" {
		fmt.Fprintf(stdout, "  warning: %s\n", rep.Warning)
	}
	return nil
}
