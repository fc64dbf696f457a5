package natsmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/rendezvous-gw/rendezvous/internal/breaker"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// DefaultTimeout bounds a call whose context has no deadline (the router
// always sets the member's deadline).
const DefaultTimeout = 10 * time.Second

// Config configures a Model. Name and URL are required.
type Config struct {
	// Name is the gateway-side member name (Info.Name, record key).
	Name string
	// Worker is the model name the workers serve (the subject is
	// rendezvous.model.<Worker>; default Name).
	Worker string
	// URL is the NATS server URL (nats://host:4222; several separated by
	// commas).
	URL string
	// Labels maps classes to words for Prediction.Label (default: the
	// worker's label).
	Labels map[int]string
	// Timeout bounds a call whose context has no deadline (default 10s).
	Timeout time.Duration
	// BreakerFailures consecutive failures open the breaker (default 5);
	// after BreakerCooldown (default 10s) one probe call goes through.
	BreakerFailures int
	BreakerCooldown time.Duration
	// Logger receives breaker and connection changes (default
	// slog.Default()).
	Logger *slog.Logger
	// Options are extra nats.Connect options (credentials, TLS, name).
	Options []nats.Option
}

// Model is a model served by NATS workers. It is safe for concurrent use;
// create it with New and release its connection with Close.
type Model struct {
	cfg     Config
	info    model.Info
	subject string
	nc      *nats.Conn
	breaker *breaker.Breaker
	names   atomic.Pointer[[]string] // last feature names, shared by replies
}

// New validates cfg and connects to NATS. It does not wait for the
// server: when it is not reachable yet the connection keeps retrying in
// the background and calls fail fast (kind connection) until it is up.
func New(cfg Config) (*Model, error) {
	if cfg.Name == "" {
		return nil, errors.New("nats model: name: required")
	}
	if cfg.Worker == "" {
		cfg.Worker = cfg.Name
	}
	if err := CheckName(cfg.Worker); err != nil {
		return nil, fmt.Errorf("nats model %q: %w", cfg.Name, err)
	}
	if err := CheckURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("nats model %q: bus: %w", cfg.Name, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Model{
		cfg:     cfg,
		subject: Subject(cfg.Worker),
		info: model.Info{
			Name: cfg.Name, Version: "nats", Algorithm: "remote:nats",
			Artifact: "nats:" + Subject(cfg.Worker),
		},
	}
	log := cfg.Logger
	opts := append([]nats.Option{
		nats.Name("rendezvous gateway: " + cfg.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		// No buffering while disconnected: a request then fails at once
		// instead of waiting out its deadline.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: Close
				log.Warn("nats model disconnected", "model", cfg.Name, "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats model connected", "model", cfg.Name, "server", redactURL(c.ConnectedUrl()))
		}),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats model %q: connect to %s: %w", cfg.Name, redactURL(cfg.URL), err)
	}
	m.nc = nc
	m.breaker = breaker.New(breaker.Config{
		Failures: cfg.BreakerFailures,
		Cooldown: cfg.BreakerCooldown,
		OnChange: func(from, to breaker.State) {
			log.Warn("nats model circuit breaker", "model", cfg.Name, "from", from.String(), "to", to.String())
		},
	})
	return m, nil
}

// CheckURL reports a bus URL that is not nats://, tls:// or ws(s):// with a
// host (each of a comma-separated list).
func CheckURL(raw string) error {
	if raw == "" {
		return errors.New("required (a NATS URL such as nats://127.0.0.1:4222)")
	}
	for _, one := range splitURLs(raw) {
		u, err := url.Parse(one)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a URL with a host (want nats://HOST:PORT)", redactURL(one))
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: scheme %q is not nats, tls, ws or wss", redactURL(one), u.Scheme)
		}
	}
	return nil
}

func splitURLs(raw string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(raw); i++ {
		if i == len(raw) || raw[i] == ',' {
			if s := raw[start:i]; s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	return out
}

// redactURL drops user information from a URL for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	return u.String()
}

// Info returns the member's identity: Algorithm "remote:nats", Artifact
// "nats:rendezvous.model.<worker>".
func (m *Model) Info() model.Info { return m.info }

// State returns the circuit breaker's state ("closed", "open",
// "half-open"); GET /v1/models shows it.
func (m *Model) State() string { return m.breaker.State().String() }

// Conn returns the model's NATS connection.
func (m *Model) Conn() *nats.Conn { return m.nc }

// Close closes the NATS connection; Predict then fails with kind
// connection.
func (m *Model) Close() { m.nc.Close() }

// Predict sends in to one worker of the model and returns its answer. ctx
// bounds the call (without a deadline, Config.Timeout). Every error is an
// *Error; no live worker is KindNoResponders and an open breaker
// KindCircuitOpen, both of which the rendezvous records as skipped.
func (m *Model) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	// Let in-process members started in the same fan-out score first (see
	// remote.Model.Predict).
	runtime.Gosched()
	body, err := json.Marshal(Request{Input: in})
	if err != nil {
		return model.Prediction{}, m.fail(KindBadInput, fmt.Errorf("encode request: %w", err))
	}
	ticket, err := m.breaker.Allow()
	if err != nil {
		return model.Prediction{}, m.fail(KindCircuitOpen, err)
	}
	p, ferr := m.call(ctx, body)
	if ferr != nil {
		m.breaker.Done(ticket, breakerOutcome(ferr.Kind))
		return model.Prediction{}, ferr
	}
	m.breaker.Done(ticket, breaker.Success)
	return p, nil
}

func (m *Model) call(ctx context.Context, body []byte) (model.Prediction, *Error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
	}
	msg, err := m.nc.RequestWithContext(ctx, m.subject, body)
	if err != nil {
		return model.Prediction{}, m.fail(classify(ctx, err), err)
	}
	if desc := msg.Header.Get(micro.ErrorHeader); desc != "" {
		code := msg.Header.Get(micro.ErrorCodeHeader)
		return model.Prediction{}, m.fail(KindWorker, fmt.Errorf("worker error %s: %s", code, desc))
	}
	var r Reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return model.Prediction{}, m.fail(KindBadPayload, fmt.Errorf("decode reply: %w", err))
	}
	if r.Probability < 0 || r.Probability > 1 {
		return model.Prediction{}, m.fail(KindBadPayload, fmt.Errorf("probability %g is not in [0, 1]", r.Probability))
	}
	p := model.Prediction{Class: r.Class, Label: r.Label, Probability: r.Probability}
	if w, ok := m.cfg.Labels[r.Class]; ok {
		p.Label = w
	}
	if f := r.Features; f != nil {
		if len(f.Names) != len(f.Values) {
			return model.Prediction{}, m.fail(KindBadPayload, fmt.Errorf("%d feature names for %d values", len(f.Names), len(f.Values)))
		}
		p.Features = model.Features{Names: m.sharedNames(f.Names), Values: f.Values}
	}
	return p, nil
}

// sharedNames returns a previous reply's equal names slice, so the records
// of one pipeline share one slice as they do in process.
func (m *Model) sharedNames(names []string) []string {
	if last := m.names.Load(); last != nil && slices.Equal(*last, names) {
		return *last
	}
	m.names.Store(&names)
	return names
}

func (m *Model) fail(k Kind, err error) *Error {
	return &Error{Model: m.cfg.Name, Kind: k, Err: err}
}
