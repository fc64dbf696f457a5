package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/net/netutil"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/api/oip"
	"github.com/rendezvous-gw/rendezvous/internal/auth"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/gctune"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/record/natsrecord"
	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
	"github.com/rendezvous-gw/rendezvous/internal/tlsconf"
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
	// TLSCert and TLSKey override server.tls.cert_file and key_file.
	TLSCert, TLSKey string
	// Insecure allows serving a non-loopback address without any token.
	Insecure bool
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
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM; overrides server.tls.cert_file)")
	tlsKey := fs.String("tls-key", "", "the certificate's private key (PEM; overrides server.tls.key_file)")
	insecure := fs.Bool("insecure", false, "allow serving a non-loopback address with no API token configured (anyone on the network can read every record)")
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
	s, err := newServer(ctx, serveOptions{ConfigPath: *cfgPath, Addr: *addr, StoreURL: *storeURL,
		TLSCert: *tlsCert, TLSKey: *tlsKey, Insecure: *insecure, Logger: log})
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	authHup, cfgHup := make(chan os.Signal, 1), make(chan os.Signal, 1)
	go fanOut(ctx, hup, authHup, cfgHup)
	go s.auth.ReloadOn(ctx, authHup, log) // SIGHUP re-reads auth.token_file …
	if s.reloader != nil {
		go s.reloader.ReloadOn(ctx, cfgHup) // … and the configuration file
	}
	if t := startGCTuner(s.cfg.Server.GCHeadroom, log); t != nil {
		defer t.Stop()
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

// startGCTuner paces the garbage collector by server.gc_headroom (nil
// when it is -1 or GOGC is set in the environment: Go's own pacing).
func startGCTuner(headroom int64, log *slog.Logger) *gctune.Tuner {
	if headroom < 0 {
		log.Info("garbage collector: Go's own pacing (server.gc_headroom is -1)")
		return nil
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Info("garbage collector: Go's own pacing (GOGC is set)", "gogc", v)
		return nil
	}
	log.Debug("garbage collector paced by headroom", "headroom_bytes", headroom)
	return gctune.Start(gctune.Options{Headroom: headroom, Logger: log})
}

// fanOut copies every signal of in to each of outs (buffered; a signal
// arriving while the last is pending is merged with it) until ctx ends.
func fanOut(ctx context.Context, in <-chan os.Signal, outs ...chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-in:
			for _, out := range outs {
				select {
				case out <- sig:
				default:
				}
			}
		}
	}
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
	gateway  *gateway.Gateway
	auth     *auth.Authenticator
	tls      *tls.Config // nil: plain HTTP
	recorder *record.Recorder
	store    store.Store
	// bus is the NATS connection records go through (recorder.bus), and
	// stream its publisher; nil without recorder.bus.
	bus    *nats.Conn
	stream *natsrecord.Publisher
	// mon reads the live comparison for the promotion gate (nil without a
	// store).
	mon *monitor.Monitor
	// reloader applies the configuration file again (POST /v1/reload,
	// SIGHUP); nil when serving the embedded example.
	reloader *gateway.Reloader
}

// newServer loads and validates the configuration, loads the models, opens
// the store, starts the recorder and listens. On error everything opened so
// far is closed.
func newServer(ctx context.Context, opts serveOptions) (_ *server, err error) {
	s := &server{log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg, err = serveConfig(opts); err != nil {
		return nil, err
	}
	if err := s.secure(opts); err != nil {
		return nil, err
	}
	dep, err := gateway.FromConfig(s.cfg, s.log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeRecording()
		}
	}()
	if err := s.openRecording(ctx); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gp := gateway.Params{Deployment: dep, MaxRecordedBody: s.cfg.Server.MaxRecordedBodyBytes, Logger: s.log, Registry: reg,
		MaxInFlight: s.cfg.Server.MaxInFlight, MaxQueueWait: s.cfg.Server.MaxQueueWait, AdmissionTarget: max(0, s.cfg.Server.AdmissionTarget)}
	if s.recorder != nil {
		gp.Recorder, gp.Store = s.recorder, s.store
		gp.Durable = s.cfg.Recorder.Durability == config.DurabilitySync
		if ev, ok := s.store.(store.EventLog); ok {
			gp.Events = ev
			// Runtime changes survive a restart (docs/LIFECYCLE.md).
			gp.Base, gp.Loader = dep, gateway.ConfigLoader(s.cfg, s.log)
			dep = gateway.Restore(ctx, dep, ev, gp.Loader, s.log)
			gp.Deployment = dep
		}
		if s.stream != nil {
			gp.Components = map[string]func(context.Context) string{"stream": s.stream.State}
		}
	}
	if s.gateway, err = gateway.New(gp); err != nil {
		return nil, err
	}
	extra, err := s.routes(ctx, dep.Members)
	if err != nil {
		return nil, err
	}
	extra = append(extra, s.loginRoutes()...)
	ap := api.Params{Config: s.cfg, Gateway: s.gateway, Logger: s.log, Registry: reg, Extra: extra, Guard: s.auth.Route}
	if opts.ConfigPath != "" {
		s.reloader = &gateway.Reloader{Gateway: s.gateway, Running: s.cfg, Load: reloadConfig(opts), Log: s.log}
		ap.Reload = s.reloader.Reload
	}
	if s.mon != nil {
		rule := analysis.GateRule{Require: s.cfg.Promotion.Require, Margin: s.cfg.Promotion.Margin, MaxP99Latency: s.cfg.Promotion.MaxP99Latency, CountReplay: s.cfg.Promotion.CountReplay}
		mon := s.mon
		ap.Gate = func(ctx context.Context, challenger string) (analysis.GateResult, error) {
			return mon.PromotionGate(ctx, challenger, rule)
		}
	}
	if s.store != nil {
		ap.Replay = serverReplay(s.cfg, s.store, s.gateway, s.log)
	}
	h, err := api.New(ap)
	if err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", s.cfg.Server.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Server.Addr, err)
	}
	if n := s.cfg.Server.MaxConnections; n > 0 {
		s.ln = netutil.LimitListener(s.ln, n)
	}
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // a body trickled slower than this is cut
		WriteTimeout:      s.cfg.Server.WriteTimeout,
		TLSConfig:         s.tls,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.logStart(opts.ConfigPath, dep.Members)
	return s, nil
}

// secure sets up access control and TLS: the tokens (open when none are
// configured, which only a loopback address or --insecure allows) and the
// certificates of server.tls or the --tls flags.
func (s *server) secure(opts serveOptions) error {
	var err error
	if s.auth, err = auth.New(s.cfg.Auth, s.cfg.Dir); err != nil {
		return err
	}
	if err := auth.CheckBind(s.cfg.Server.Addr, s.auth.Open(), opts.Insecure); err != nil {
		return err
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		s.cfg.Server.TLS.CertFile, s.cfg.Server.TLS.KeyFile = opts.TLSCert, opts.TLSKey
	}
	s.tls, err = tlsconf.TLSConfig(s.cfg.Server.TLS)
	return err
}

// loginRoutes are the dashboard's login and logout (a token to a cookie).
func (s *server) loginRoutes() []api.Route {
	h := s.auth.LoginHandler()
	return []api.Route{
		{Pattern: "GET " + auth.LoginPath, Handler: h},
		{Pattern: "POST " + auth.LoginPath, Handler: h},
		{Pattern: "POST " + auth.LogoutPath, Handler: h},
	}
}

// serveConfig is the configuration serve runs: the given one, the file, or
// the embedded example, with the flags' overrides.
func serveConfig(opts serveOptions) (*config.Config, error) {
	cfg := opts.Config
	var err error
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
		if cfg.Recorder.SpoolDir == config.DefaultSpoolDirFor(cfg.Store.URL) {
			cfg.Recorder.SpoolDir = config.DefaultSpoolDirFor(opts.StoreURL) // the default follows the store
		}
		cfg.Store.URL = opts.StoreURL
	}
	return cfg, nil
}

// reloadConfig reads opts' configuration file again with the same
// command-line overrides as at start (so they are not reported as changes).
func reloadConfig(opts serveOptions) func() (*config.Config, error) {
	opts.Config = nil
	return func() (*config.Config, error) {
		cfg, err := serveConfig(opts)
		if err == nil && (opts.TLSCert != "" || opts.TLSKey != "") {
			cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile = opts.TLSCert, opts.TLSKey
		}
		return cfg, err
	}
}

// openRecording opens the store and starts the recorder, unless the store
// URL turns recording off.
func (s *server) openRecording(ctx context.Context) error {
	if recordingOff(s.cfg.Store.URL) {
		s.log.Warn("recording is off (store none://): requests are not recorded")
		return nil
	}
	rc := s.cfg.Recorder
	st, err := openStore(ctx, durableURL(s.cfg.Store.URL, rc.Durability), s.cfg.Store.ConnectTimeout)
	if err != nil {
		return err
	}
	s.store = st
	sp, err := spool.Open(rc.SpoolDir, spool.Options{MaxBytes: rc.SpoolMaxBytes, Logger: s.log})
	if err != nil {
		return fmt.Errorf("recorder.spool_dir: %w", err)
	}
	var w record.Writer = st
	if rc.Bus != "" {
		if w, err = s.openStream(rc); err != nil {
			return err
		}
	}
	s.recorder = record.NewRecorder(w, record.RecorderOptions{
		QueueSize:     rc.QueueSize,
		QueueMaxBytes: rc.QueueMaxBytes,
		BatchSize:     rc.BatchSize,
		FlushInterval: rc.FlushInterval,
		Spool:         sp,
		Logger:        s.log,
	})
	return nil
}

// openStream connects to recorder.bus and returns the publisher the
// recorder writes to: records and feedback go to the RENDEZVOUS_RECORDS
// stream, and 'rendezvous recorder' processes store them. NATS may be down
// at start: the connection retries in the background and the recorder
// spools meanwhile.
func (s *server) openStream(rc config.Recorder) (*natsrecord.Publisher, error) {
	log := s.log
	nc, err := nats.Connect(rc.Bus, append(gateway.BusOptions(s.cfg),
		nats.Name("rendezvous gateway records"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("records stream disconnected; records go to the local spool until it is back", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("records stream connected", "server", c.ConnectedUrlRedacted())
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("recorder.bus: connect: %w", err)
	}
	pub, err := natsrecord.NewPublisher(nc, natsrecord.StreamOptions{
		MaxBytes: rc.StreamMaxBytes, MaxAge: rc.StreamMaxAge, Replicas: rc.StreamReplicas,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("recorder.bus: %w", err)
	}
	s.bus, s.stream = nc, pub
	s.log.Info("records go through the NATS stream "+natsrecord.StreamName, "bus", nc.ConnectedUrlRedacted())
	return pub, nil
}

// durableURL makes a SQLite store commit with synchronous=full in sync
// durability (unless the URL sets synchronous itself), so a committed batch
// survives a machine crash; other stores and async mode keep their URL.
func durableURL(storeURL, durability string) string {
	if durability != config.DurabilitySync || !strings.HasPrefix(strings.ToLower(storeURL), "sqlite:") ||
		strings.Contains(storeURL, "synchronous=") {
		return storeURL
	}
	if strings.Contains(storeURL, "?") {
		return storeURL + "&synchronous=full"
	}
	return storeURL + "?synchronous=full"
}

// closeRecording flushes the recorder and closes the store (start-up
// failed).
func (s *server) closeRecording() {
	if s.recorder != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
		defer cancel()
		_ = s.recorder.Close(ctx)
	}
	if s.bus != nil {
		s.bus.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
}

// routes are the routes beside the prediction ones: feedback, analysis and
// the dashboard when recording, and the OIP v2 server.
func (s *server) routes(ctx context.Context, members []rendezvous.Member) ([]api.Route, error) {
	var extra []api.Route
	if s.store != nil {
		mon, err := buildMonitor(s.cfg, s.store, members)
		if err != nil {
			return nil, fmt.Errorf("build monitor: %w", err)
		}
		s.mon = mon
		go s.warmLabels(ctx, mon)
		extra = append(extra, insightRoutes(s.cfg, s.store, s.recorder, mon, members, s.log)...)
		dash, err := dashboardRoutes(s.cfg, s.store, mon, s.log)
		if err != nil {
			return nil, err
		}
		extra = append(extra, dash...)
	}
	oipSrv, err := oip.New(oip.Params{
		Gateway:      s.gateway,
		MaxBodyBytes: s.cfg.Server.MaxBodyBytes,
		Ready: func(ctx context.Context) error {
			if s.store == nil {
				return nil
			}
			return s.store.Ping(ctx)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("build OIP v2 server: %w", err)
	}
	return append(extra, oipSrv.Routes()...), nil
}

// warmLabels builds the label index in the background, so the first
// /v1/metrics does not read the whole feedback log.
func (s *server) warmLabels(ctx context.Context, mon *monitor.Monitor) {
	start := time.Now()
	if err := mon.WarmLabels(ctx); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("label index not built ahead; the first analytics call builds it", "err", err)
		}
		return
	}
	s.log.Debug("label index built", "took", time.Since(start))
}

// logStart says what is serving, where.
func (s *server) logStart(configPath string, members []rendezvous.Member) {
	src := s.cfg.Source
	if src == "" {
		src = configPath
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = fmt.Sprintf("%s(%s %s)", m.Name, m.Role, m.Model.Info().Version)
	}
	scheme := "http://"
	if s.tls != nil {
		scheme = "https://"
	}
	s.log.Info("rendezvous serving", "addr", scheme+s.ln.Addr().String(), "config", src,
		"store", store.RedactURL(s.cfg.Store.URL), "models", strings.Join(names, ", "), "auth", s.auth.Describe())
}

// Addr is the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// run serves until ctx is done, then shuts down gracefully within
// server.shutdown_timeout: stop accepting and finish in-flight requests, wait
// for late model results, flush the recorder, close the store.
func (s *server) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- s.http.ServeTLS(s.ln, "", "") // certificates are in TLSConfig
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
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
	if err := s.gateway.Wait(sctx); err != nil {
		errs = append(errs, fmt.Errorf("wait for late model results: %w", err))
	}
	if s.recorder != nil {
		if err := s.recorder.Close(sctx); err != nil {
			errs = append(errs, fmt.Errorf("flush recorder: %w", err))
		}
		st := s.recorder.Stats()
		s.log.Info("recorder flushed", "records_written", st.Written, "dropped", st.Dropped, "lost", st.Lost)
	}
	if s.bus != nil {
		s.bus.Close() // the recorder's Close waited for the stream's acks
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
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
