package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/simulate"
)

// simFlags are simulate's flags.
type simFlags struct {
	target, source, bundlePath, cfgPath, driftSpec, route string
	rate, labelRate                                       float64
	duration, labelDelay, timeout                         time.Duration
	count, concurrency                                    int
	ramp, labels, asJSON, seedSet                         bool
	seed                                                  uint64
}

// parseSimulateFlags parses and checks simulate's arguments.
func parseSimulateFlags(args []string, stderr io.Writer) (*simFlags, error) {
	fs := newFlagSet("simulate --target URL (--rate R --duration D | --count N) [flags]",
		"Send realistic traffic to a running gateway: whole rows sampled from the production\n"+
			"bundle's reference sample (or replayed from a CSV), with optional drift per field,\n"+
			"and the rows' true outcomes sent later to /v1/feedback. With --rate the load is open\n"+
			"loop (latency from the intended send time); without it, closed loop with --concurrency.\n\n"+
			"Drift items (comma-separated): age:+15 (shift), fare:*1.5 (scale),\n"+
			"sex:female=0.8 (category share), age:missing=0.3 (missing rate).", stderr)
	f := &simFlags{}
	fs.StringVar(&f.target, "target", "http://127.0.0.1:8080", "gateway base URL")
	fs.Float64Var(&f.rate, "rate", 0, "requests per second, open loop (0: closed loop)")
	fs.DurationVar(&f.duration, "duration", 0, "how long to send (with --rate, or closed loop)")
	fs.IntVar(&f.count, "count", 0, "number of requests to send (instead of --duration)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "closed loop: concurrent senders (default 4); open loop: cap on requests in flight (default 256)")
	fs.StringVar(&f.source, "source", "profile", "profile (sample the production bundle's reference rows) or csv:FILE (replay a training-format CSV)")
	fs.StringVar(&f.bundlePath, "model", "", "bundle whose reference sample --source profile draws from (default: the configuration's production model)")
	fs.StringVar(&f.cfgPath, "config", "", "configuration giving the schema, routes and CSV mapping (default: the embedded Titanic example)")
	fs.StringVar(&f.driftSpec, "drift", "", "drift to inject, e.g. age:+15,sex:female=0.8,fare:*1.5,age:missing=0.3")
	fs.BoolVar(&f.ramp, "ramp", false, "grow the drift gradually from none at the start to full at the end")
	fs.BoolVar(&f.labels, "labels", false, "send each sampled row's true outcome to /v1/feedback")
	fs.DurationVar(&f.labelDelay, "label-delay", 0, "how long after the answer a label is sent")
	fs.Float64Var(&f.labelRate, "label-rate", 1, "share of requests whose label is sent (0‥1)")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed; the same seed sends the same requests (default: from the clock, printed)")
	fs.StringVar(&f.route, "route", "v1", "v1 (/v1/predict) or original (the configuration's legacy single-request route)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&f.asJSON, "json", false, "print the summary as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) { f.seedSet = f.seedSet || fl.Name == "seed" })
	return f, f.check()
}

// check refuses inconsistent or out-of-range flags.
func (f *simFlags) check() error {
	switch {
	case f.count < 0:
		return fmt.Errorf("%w: --count must be > 0, got %d", errUsage, f.count)
	case f.duration < 0:
		return fmt.Errorf("%w: --duration must be > 0, got %s", errUsage, f.duration)
	case (f.count > 0) == (f.duration > 0):
		return fmt.Errorf("%w: give exactly one of --count N and --duration D", errUsage)
	case f.rate < 0:
		return fmt.Errorf("%w: --rate must be > 0, got %g", errUsage, f.rate)
	case f.rate > 0 && f.duration > 0 && f.rate*f.duration.Seconds() < 1:
		return fmt.Errorf("%w: --rate %g for --duration %s sends no request", errUsage, f.rate, f.duration)
	case f.concurrency < 0:
		return fmt.Errorf("%w: --concurrency must be > 0, got %d", errUsage, f.concurrency)
	case f.labelRate < 0 || f.labelRate > 1:
		return fmt.Errorf("%w: --label-rate must be between 0 and 1, got %g", errUsage, f.labelRate)
	case f.labelDelay < 0:
		return fmt.Errorf("%w: --label-delay must be >= 0, got %s", errUsage, f.labelDelay)
	case f.timeout <= 0:
		return fmt.Errorf("%w: --timeout must be > 0, got %s", errUsage, f.timeout)
	case !strings.HasPrefix(f.target, "http://") && !strings.HasPrefix(f.target, "https://"):
		return fmt.Errorf("%w: --target must be an http:// or https:// URL, got %q", errUsage, f.target)
	}
	return nil
}

// simulationRoute is the route --route names.
func simulationRoute(route string, cfg *config.Config) (simulate.Route, error) {
	switch route {
	case "v1":
		return simulate.V1Route(), nil
	case "original":
		rt, err := simulate.OriginalRoute(cfg.Routes)
		if err != nil {
			return rt, fmt.Errorf("--route original: %w", err)
		}
		return rt, nil
	default:
		return simulate.Route{}, fmt.Errorf("%w: --route must be v1 or original, got %q", errUsage, route)
	}
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseSimulateFlags(args, stderr)
	if err != nil {
		return err
	}
	drifts, err := simulate.ParseDrift(f.driftSpec)
	if err != nil {
		return fmt.Errorf("%w: --drift %w", errUsage, err)
	}
	cfg, err := loadTrainingConfig(f.cfgPath)
	if err != nil {
		return err
	}
	rt, err := simulationRoute(f.route, cfg)
	if err != nil {
		return err
	}
	src, what, err := simulationSource(f.source, f.bundlePath, f.cfgPath, cfg)
	if err != nil {
		return err
	}
	rows := src.Rows()
	if f.labels && !rows[0].HasLabel {
		return fmt.Errorf("%w: --labels: the source has no outcome labels to send (%s)", errUsage, what)
	}
	inj, err := simulate.Bind(drifts, cfg.Schema.Fields, rows)
	if err != nil {
		return fmt.Errorf("%w: --drift %w", errUsage, err)
	}
	if !f.seedSet {
		f.seed = uint64(time.Now().UnixNano())
	}
	rateForGen := 0.0
	if f.labels {
		rateForGen = f.labelRate
	}
	gen := simulate.NewGenerator(src, inj, f.seed, rateForGen)

	opt := simulate.Options{
		Target: f.target, Route: rt, Rate: f.rate, Concurrency: f.concurrency,
		Duration: f.duration, Count: f.count, Ramp: f.ramp,
		Labels: f.labels, LabelDelay: f.labelDelay,
	}
	if isTerminal(stderr) {
		opt.Progress = stderr
	}
	if opt.Concurrency == 0 && opt.Rate == 0 {
		opt.Concurrency = 4
	}
	opt.Client = simulate.NewClient(max(opt.Concurrency, 256), f.timeout)
	opt.Timeout = f.timeout
	fmt.Fprintf(stderr, "simulate: %s, seed %d", what, f.seed)
	if len(drifts) > 0 {
		fmt.Fprintf(stderr, ", drift %s", f.driftSpec)
		if f.ramp {
			fmt.Fprint(stderr, " (ramped)")
		}
	}
	fmt.Fprintln(stderr)
	sum, err := simulate.Run(ctx, opt, gen)
	if err != nil {
		return err
	}
	return writeSimulation(stdout, sum, f.asJSON)
}

// writeSimulation prints the summary (text or JSON) and fails a run in
// which no request, or no label, succeeded.
func writeSimulation(stdout io.Writer, sum *simulate.Summary, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else if err := sum.WriteText(stdout); err != nil {
		return err
	}
	if sum.Sent > 0 && sum.OK == 0 && !sum.Interrupted {
		return fmt.Errorf("no request succeeded (first error: %s)", sum.FirstError)
	}
	if sum.LabelErrors > 0 && sum.LabelsSent == 0 && !sum.Interrupted {
		return fmt.Errorf("no label was accepted (first error: %s)", sum.LabelError)
	}
	return nil
}

// simulationSource builds the row source for --source and describes it.
func simulationSource(source, bundlePath, cfgPath string, cfg *config.Config) (simulate.Source, string, error) {
	if file, ok := strings.CutPrefix(source, "csv:"); ok {
		if file == "" {
			return nil, "", fmt.Errorf("%w: --source csv: needs a file name (csv:FILE)", errUsage)
		}
		mapping, err := cfg.TrainingMapping()
		if err != nil {
			return nil, "", err
		}
		ds, err := dataset.ReadFile(file, mapping, false)
		if err != nil {
			return nil, "", err
		}
		src, err := simulate.NewReplay(simulate.FromDataset(ds))
		if err != nil {
			return nil, "", fmt.Errorf("--source %s: %w", source, err)
		}
		what := fmt.Sprintf("replaying %d rows of %s", len(ds.Rows), file)
		if !ds.HasLabels() {
			what = fmt.Sprintf("replaying %d unlabelled rows of %s", len(ds.Rows), file)
		}
		return src, what, nil
	}
	if source != "profile" {
		return nil, "", fmt.Errorf("%w: --source must be profile or csv:FILE, got %q", errUsage, source)
	}
	b, name, err := loadProfileBundle(bundlePath, cfgPath, cfg)
	if err != nil {
		return nil, "", err
	}
	src, err := simulate.NewSample(simulate.FromReference(b.Profile.ReferenceSample))
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", name, err)
	}
	return src, fmt.Sprintf("sampling %d reference rows of %s %s", len(b.Profile.ReferenceSample.Rows), b.Name, b.Version), nil
}

// loadProfileBundle loads --model, or the configuration's production bundle
// (from the embedded example when no --config was given).
func loadProfileBundle(bundlePath, cfgPath string, cfg *config.Config) (*model.Bundle, string, error) {
	if bundlePath != "" {
		b, err := model.Load(bundlePath)
		return b, bundlePath, err
	}
	for _, m := range cfg.Models {
		if m.Role != model.RoleProduction {
			continue
		}
		if m.Bundle == "" {
			return nil, "", fmt.Errorf("%w: the production model %q has no bundle to sample from: give --model FILE or --source csv:FILE", errUsage, m.Name)
		}
		if cfgPath == "" {
			data, err := titanic.FS.ReadFile(m.Bundle)
			if err != nil {
				return nil, "", fmt.Errorf("read embedded bundle %s: %w", m.Bundle, err)
			}
			b, err := model.LoadBytes("embedded "+m.Bundle, data)
			return b, m.Bundle, err
		}
		p := m.Bundle
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(cfgPath), p)
		}
		b, err := model.Load(p)
		return b, p, err
	}
	return nil, "", errors.New("the configuration has no production model: give --model FILE or --source csv:FILE")
}

// isTerminal reports whether w is a terminal (for the progress bar).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
