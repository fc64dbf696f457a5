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

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate --target URL (--rate R --duration D | --count N) [flags]",
		"Send realistic traffic to a running gateway: whole rows sampled from the production\n"+
			"bundle's reference sample (or replayed from a CSV), with optional drift per field,\n"+
			"and the rows' true outcomes sent later to /v1/feedback. With --rate the load is open\n"+
			"loop (latency from the intended send time); without it, closed loop with --concurrency.\n\n"+
			"Drift items (comma-separated): age:+15 (shift), fare:*1.5 (scale),\n"+
			"sex:female=0.8 (category share), age:missing=0.3 (missing rate).", stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "gateway base URL")
	rate := fs.Float64("rate", 0, "requests per second, open loop (0: closed loop)")
	duration := fs.Duration("duration", 0, "how long to send (with --rate, or closed loop)")
	count := fs.Int("count", 0, "number of requests to send (instead of --duration)")
	concurrency := fs.Int("concurrency", 0, "closed loop: concurrent senders (default 4); open loop: cap on requests in flight (default 256)")
	source := fs.String("source", "profile", "profile (sample the production bundle's reference rows) or csv:FILE (replay a training-format CSV)")
	bundlePath := fs.String("model", "", "bundle whose reference sample --source profile draws from (default: the configuration's production model)")
	cfgPath := fs.String("config", "", "configuration giving the schema, routes and CSV mapping (default: the embedded Titanic example)")
	driftSpec := fs.String("drift", "", "drift to inject, e.g. age:+15,sex:female=0.8,fare:*1.5,age:missing=0.3")
	ramp := fs.Bool("ramp", false, "grow the drift gradually from none at the start to full at the end")
	labels := fs.Bool("labels", false, "send each sampled row's true outcome to /v1/feedback")
	labelDelay := fs.Duration("label-delay", 0, "how long after the answer a label is sent")
	labelRate := fs.Float64("label-rate", 1, "share of requests whose label is sent (0‥1)")
	seed := fs.Uint64("seed", 0, "random seed; the same seed sends the same requests (default: from the clock, printed)")
	route := fs.String("route", "v1", "v1 (/v1/predict) or original (the configuration's legacy single-request route)")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	switch {
	case *count < 0:
		return fmt.Errorf("%w: --count must be > 0, got %d", errUsage, *count)
	case *duration < 0:
		return fmt.Errorf("%w: --duration must be > 0, got %s", errUsage, *duration)
	case (*count > 0) == (*duration > 0):
		return fmt.Errorf("%w: give exactly one of --count N and --duration D", errUsage)
	case *rate < 0:
		return fmt.Errorf("%w: --rate must be > 0, got %g", errUsage, *rate)
	case *rate > 0 && *duration > 0 && *rate*duration.Seconds() < 1:
		return fmt.Errorf("%w: --rate %g for --duration %s sends no request", errUsage, *rate, *duration)
	case *concurrency < 0:
		return fmt.Errorf("%w: --concurrency must be > 0, got %d", errUsage, *concurrency)
	case *labelRate < 0 || *labelRate > 1:
		return fmt.Errorf("%w: --label-rate must be between 0 and 1, got %g", errUsage, *labelRate)
	case *labelDelay < 0:
		return fmt.Errorf("%w: --label-delay must be >= 0, got %s", errUsage, *labelDelay)
	case *timeout <= 0:
		return fmt.Errorf("%w: --timeout must be > 0, got %s", errUsage, *timeout)
	case !strings.HasPrefix(*target, "http://") && !strings.HasPrefix(*target, "https://"):
		return fmt.Errorf("%w: --target must be an http:// or https:// URL, got %q", errUsage, *target)
	}
	drifts, err := simulate.ParseDrift(*driftSpec)
	if err != nil {
		return fmt.Errorf("%w: --drift %w", errUsage, err)
	}

	cfg, err := loadTrainingConfig(*cfgPath)
	if err != nil {
		return err
	}
	var rt simulate.Route
	switch *route {
	case "v1":
		rt = simulate.V1Route()
	case "original":
		if rt, err = simulate.OriginalRoute(cfg.Routes); err != nil {
			return fmt.Errorf("--route original: %w", err)
		}
	default:
		return fmt.Errorf("%w: --route must be v1 or original, got %q", errUsage, *route)
	}
	src, what, err := simulationSource(*source, *bundlePath, *cfgPath, cfg)
	if err != nil {
		return err
	}
	rows := src.Rows()
	if *labels && !rows[0].HasLabel {
		return fmt.Errorf("%w: --labels: the source has no outcome labels to send (%s)", errUsage, what)
	}
	inj, err := simulate.Bind(drifts, cfg.Schema.Fields, rows)
	if err != nil {
		return fmt.Errorf("%w: --drift %w", errUsage, err)
	}
	if !seedSet {
		*seed = uint64(time.Now().UnixNano())
	}
	rateForGen := 0.0
	if *labels {
		rateForGen = *labelRate
	}
	gen := simulate.NewGenerator(src, inj, *seed, rateForGen)

	opt := simulate.Options{
		Target: *target, Route: rt, Rate: *rate, Concurrency: *concurrency,
		Duration: *duration, Count: *count, Ramp: *ramp,
		Labels: *labels, LabelDelay: *labelDelay,
	}
	if isTerminal(stderr) {
		opt.Progress = stderr
	}
	if opt.Concurrency == 0 && opt.Rate == 0 {
		opt.Concurrency = 4
	}
	opt.Client = simulate.NewClient(max(opt.Concurrency, 256), *timeout)
	opt.Timeout = *timeout
	fmt.Fprintf(stderr, "simulate: %s, seed %d", what, *seed)
	if len(drifts) > 0 {
		fmt.Fprintf(stderr, ", drift %s", *driftSpec)
		if *ramp {
			fmt.Fprint(stderr, " (ramped)")
		}
	}
	fmt.Fprintln(stderr)
	sum, err := simulate.Run(ctx, opt, gen)
	if err != nil {
		return err
	}
	if *asJSON {
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
