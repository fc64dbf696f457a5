package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/api/oip"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
)

// serveOptions are the process-level settings of `rendezvous serve`; every
// behaviour lives in the configuration file.
type serveOptions struct {
	// ConfigPath is the configuration file ("" for the embedded example).
	ConfigPath string
	// Config, when set, is used instead of loading ConfigPath (tests).
	Config *config.Config
	// Addr and StoreURL override the configuration when not empty.
	Addr     string
	StoreURL string
	Logger   *slog.Logger
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve [flags]",
		"Serve the gateway: every request goes to every configured model, one answer\n"+
			"goes back, every model's result is recorded. With no flags it serves the\n"+
			"embedded Titanic example on 127.0.0.1:8080 with an SQLite file store.", stderr)
	addr := fs.String("addr", "", "listen address (default: server.addr of the config, 127.0.0.1:8080)")
	cfgPath := fs.String("config", "", "configuration file (default: the embedded example; see 'rendezvous config print')")
	storeURL := fs.String("store", "", "record store URL, e.g. sqlite:///var/lib/rendezvous.db, postgres://…, mongodb://… (default: store.url of the config)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	pprofAddr := fs.String("pprof", "", "also serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (profiling; off by default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: --log-level: want debug, info, warn or error, got %q", errUsage, *level)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	s, err := newServer(ctx, serveOptions{ConfigPath: *cfgPath, Addr: *addr, StoreURL: *storeURL, Logger: log})
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return s.run(ctx)
}

// servePprof serves the net/http/pprof handlers on addr until stop is
// called; they are never mounted on the gateway's own address.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof serving", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}

// server is a started gateway: listening, models loaded, store open,
// recorder running.
type server struct {
	cfg      *config.Config
	log      *slog.Logger
	ln       net.Listener
	http     *http.Server
	router   *rendezvous.Router
	recorder *record.Recorder
	store    store.Store
}

// newServer loads and validates the configuration, loads the models, opens
// the store, starts the recorder and listens. On error everything opened so
// far is closed.
func newServer(ctx context.Context, opts serveOptions) (_ *server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	switch {
	case cfg != nil:
	case opts.ConfigPath == "":
		cfg, err = titanic.Config()
	default:
		cfg, err = config.Load(opts.ConfigPath)
	}
	if err != nil {
		return nil, err
	}
	if opts.Addr != "" {
		cfg.Server.Addr = opts.Addr
	}
	if opts.StoreURL != "" {
		cfg.Store.URL = opts.StoreURL
	}
	val, err := cfg.Validator()
	if err != nil {
		return nil, err
	}
	members, err := loadMembers(cfg, log)
	if err != nil {
		return nil, err
	}
	router, err := rendezvous.New(members, rendezvous.Policy{
		Fallback:        cfg.Policy.Fallback,
		OverallDeadline: cfg.Policy.OverallDeadline,
	}, rendezvous.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("build rendezvous: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	params := api.Params{
		Config:    cfg,
		Validator: val,
		Router:    router,
		Logger:    log,
		Registry:  reg,
	}
	var (
		st  store.Store
		rec *record.Recorder
	)
	if recordingOff(cfg.Store.URL) {
		log.Warn("recording is off (store none://): requests are not recorded")
	} else {
		st, err = openStore(ctx, cfg.Store.URL, cfg.Store.ConnectTimeout)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = st.Close()
			}
		}()
		rec = record.NewRecorder(st, record.RecorderOptions{
			QueueSize:     cfg.Recorder.QueueSize,
			BatchSize:     cfg.Recorder.BatchSize,
			FlushInterval: cfg.Recorder.FlushInterval,
			Logger:        log,
		})
		defer func() {
			if err != nil {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
				defer cancel()
				_ = rec.Close(ctx)
			}
		}()
		params.Recorder = rec
		params.RecorderStats = func() api.RecorderStats { return recorderStats(rec.Stats()) }
		params.Store = st
		mon, err := buildMonitor(cfg, st, members)
		if err != nil {
			return nil, fmt.Errorf("build monitor: %w", err)
		}
		go func() {
			// The label index in the background, so the first
			// /v1/metrics does not read the whole feedback log.
			start := time.Now()
			if err := mon.WarmLabels(ctx); err != nil {
				if ctx.Err() == nil {
					log.Warn("label index not built ahead; the first analytics call builds it", "err", err)
				}
				return
			}
			log.Debug("label index built", "took", time.Since(start))
		}()
		params.Extra = append(params.Extra, insightRoutes(cfg, st, mon, members, log)...)
		dash, err := dashboardRoutes(cfg, st, mon, log)
		if err != nil {
			return nil, err
		}
		params.Extra = append(params.Extra, dash...)
	}
	// The OIP v2 server sends its requests through the API handler (same
	// rendezvous, same records), which is built after the routes it mounts.
	gw := &gateway{}
	oipSrv, err := oip.New(oip.Params{
		Gateway:      gw,
		Validator:    val,
		Members:      members,
		MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Ready: func(ctx context.Context) error {
			if st == nil {
				return nil
			}
			return st.Ping(ctx)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("build OIP v2 server: %w", err)
	}
	params.Extra = append(params.Extra, oipSrv.Routes()...)
	h, err := api.New(params)
	if err != nil {
		return nil, err
	}
	gw.h = h
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	s := &server{
		cfg:      cfg,
		log:      log,
		ln:       ln,
		router:   router,
		recorder: rec,
		store:    st,
		http: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute, // a body trickled slower than this is cut
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
	src := cfg.Source
	if src == "" {
		src = opts.ConfigPath
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = fmt.Sprintf("%s(%s %s)", m.Name, m.Role, m.Model.Info().Version)
	}
	log.Info("rendezvous serving", "addr", "http://"+ln.Addr().String(), "config", src,
		"store", store.RedactURL(cfg.Store.URL), "models", strings.Join(names, ", "))
	return s, nil
}

// Addr is the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// run serves until ctx is done, then shuts down gracefully within
// server.shutdown_timeout: stop accepting and finish in-flight requests, wait
// for late model results, flush the recorder, close the store.
func (s *server) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		serveErr = fmt.Errorf("serve: %w", serveErr)
	}
	s.log.Info("shutting down", "timeout", s.cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	var errs []error
	if serveErr != nil {
		errs = append(errs, serveErr)
	}
	if err := s.http.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("finish in-flight requests: %w", err))
	}
	if err := s.router.Wait(sctx); err != nil {
		errs = append(errs, fmt.Errorf("wait for late model results: %w", err))
	}
	if s.recorder != nil {
		if err := s.recorder.Close(sctx); err != nil {
			errs = append(errs, fmt.Errorf("flush recorder: %w", err))
		}
		st := s.recorder.Stats()
		s.log.Info("recorder flushed", "records_written", st.Written, "dropped", st.Dropped, "lost", st.Lost)
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
}

// gateway lets the OIP v2 server route and archive requests through the API
// handler.
type gateway struct{ h *api.Handler }

func (g *gateway) Route(ctx context.Context, p oip.RouteParams) (rendezvous.Decision, error) {
	return g.h.Predict(ctx, api.PredictParams{Endpoint: p.Endpoint, RequestID: p.RequestID, Received: p.Received, Input: p.Input})
}

func (g *gateway) Reject(_ context.Context, p oip.RejectParams) {
	g.h.Reject(api.RejectParams{Endpoint: p.Endpoint, RequestID: p.RequestID, Received: p.Received, Raw: p.Raw, Problems: p.Problems})
}

// recorderStats adapts the recorder's view to the API's.
func recorderStats(s record.RecorderStats) api.RecorderStats {
	reason := ""
	if s.Degraded {
		reason = fmt.Sprintf("queue %d of %d", s.QueueDepth, s.QueueCap)
		if s.LastError != "" {
			reason += ", last write error: " + s.LastError
		}
	}
	return api.RecorderStats{
		QueueDepth:    s.QueueDepth,
		QueueCapacity: s.QueueCap,
		Enqueued:      s.Enqueued,
		Written:       s.Written,
		Batches:       s.Batches,
		Dropped:       s.Dropped,
		WriteErrors:   s.WriteErrors,
		Quarantined:   s.Quarantined,
		Degraded:      s.Degraded,
		Reason:        reason,
	}
}

// loadMembers builds one rendezvous member per configured model: bundles
// from the embedded FS or the file system (relative to the config file),
// remote models over HTTP.
func loadMembers(cfg *config.Config, log *slog.Logger) ([]rendezvous.Member, error) {
	members := make([]rendezvous.Member, 0, len(cfg.Models))
	for i, mc := range cfg.Models {
		var m model.Model
		switch mc.Kind {
		case config.KindRemote:
			rm, err := newRemote(cfg, mc, log)
			if err != nil {
				return nil, fmt.Errorf("models[%d] (%s): %w", i, mc.Name, err)
			}
			m = rm
		default:
			b, err := loadBundle(cfg, mc.Bundle)
			if err == nil {
				err = checkInputs(cfg, b)
			}
			if err != nil {
				return nil, fmt.Errorf("models[%d] (%s): %w", i, mc.Name, err)
			}
			m = b
		}
		members = append(members, rendezvous.Member{
			Name: mc.Name, Role: mc.Role, Model: m, Deadline: mc.Deadline, MaxInFlight: mc.MaxInFlight,
		})
	}
	return members, nil
}

// checkInputs makes sure every raw input a bundle's pipeline reads is a
// declared schema field of a compatible type, so a mismatch fails at start
// rather than on every request.
func checkInputs(cfg *config.Config, b *model.Bundle) error {
	if b.Pipeline == nil {
		return nil
	}
	types := make(map[string]schema.Type, len(cfg.Schema.Fields))
	for _, f := range cfg.Schema.Fields {
		types[f.Name] = f.Type
	}
	numeric := func(t schema.Type) bool { return t == schema.TypeInteger || t == schema.TypeNumber }
	var problems []string
	for _, in := range b.Pipeline.Inputs {
		t, ok := types[in.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("reads input %q, which schema.fields does not declare", in.Name))
		case in.Type != "" && in.Type != t && !(numeric(in.Type) && numeric(t)):
			problems = append(problems, fmt.Sprintf("reads input %q as %s, but schema.fields declares it %s", in.Name, in.Type, t))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("bundle %s %s: %s", b.Name, b.Version, strings.Join(problems, "; "))
	}
	return nil
}

func loadBundle(cfg *config.Config, p string) (*model.Bundle, error) {
	if cfg.FS == nil {
		return model.Load(cfg.BundlePath(p))
	}
	data, err := cfg.ReadBundle(p)
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", p, err)
	}
	return model.LoadBytes(p, data)
}

func newRemote(cfg *config.Config, mc config.Model, log *slog.Logger) (*remote.Model, error) {
	r := mc.Remote
	rc := remote.Config{
		Name:              mc.Name,
		Protocol:          remote.Protocol(r.Protocol),
		URL:               r.URL,
		Model:             r.Model,
		Version:           r.Version,
		Headers:           r.Headers,
		ClassOutput:       r.ClassOut,
		ProbabilityOutput: r.ProbabilityOut,
		Labels:            cfg.Labels.Words,
		BreakerFailures:   r.BreakerFailures,
		BreakerCooldown:   r.BreakerCooldown,
		Logger:            log,
	}
	if r.Pipeline != "" {
		b, err := loadBundle(cfg, r.Pipeline)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		rc.Transformer = b.Pipeline
	} else {
		for _, f := range cfg.Schema.Fields {
			rc.Fields = append(rc.Fields, remote.Field{Name: f.Name, Type: schema.Type(f.Type)})
		}
	}
	if err := rc.ApplyExtra(r.Extra); err != nil {
		return nil, fmt.Errorf("remote.extra: %w", err)
	}
	m, err := remote.New(rc)
	if err != nil {
		return nil, fmt.Errorf("remote model: %w", err)
	}
	return m, nil
}

// recordingOff reports whether the store URL is none://, which turns
// recording off (benchmarks of the bare rendezvous).
func recordingOff(rawURL string) bool {
	scheme, _, _ := strings.Cut(rawURL, ":")
	return strings.EqualFold(scheme, "none")
}

// openStore opens the record store the URL names (storeall: sqlite,
// postgres, mongodb …) within timeout. Its errors name the store by its
// redacted URL.
func openStore(ctx context.Context, rawURL string, timeout time.Duration) (store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := storeall.Open(ctx, rawURL)
	if err != nil {
		return nil, oneLine{err}
	}
	return st, nil
}

// oneLine renders an error (drivers' can span lines) on one line.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(e.err.Error(), "\n", " ; ")), " ")
}

func (e oneLine) Unwrap() error { return e.err }
