// Package remote is a model.Model served over HTTP by another process: an
// Open Inference Protocol v2 server (KServe, Triton, MLServer, …) or an
// `mlflow models serve` scoring server.
//
// Each Model owns one http.Client with its own keep-alive pool and a circuit
// breaker. The caller's context bounds every call: when it expires the request
// is abandoned and its connection closed, so a slow or dead remote costs the
// caller nothing beyond its deadline and never stalls the next request on a
// reused connection. Every failure is an *Error with a Kind (timeout, refused,
// connection, http_4xx, http_5xx, bad_payload, bad_input, canceled,
// circuit_open).
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/breaker"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Protocol is the wire protocol of a remote model.
type Protocol string

// The supported protocols.
const (
	// ProtocolOIPv2 is the Open Inference Protocol v2 (KServe V2) REST API.
	ProtocolOIPv2 Protocol = "oip-v2"
	// ProtocolMLflow is the MLflow scoring server's /invocations API.
	ProtocolMLflow Protocol = "mlflow"
)

// Layout is how an OIP v2 request carries the values.
type Layout string

// The OIP v2 input layouts.
const (
	// LayoutTensor sends one FP64 (or FP32) tensor of shape [1, n] holding
	// every value in order. Default when a Transformer is set.
	LayoutTensor Layout = "tensor"
	// LayoutFields sends one tensor of shape [1] per value, named after the
	// field or feature, with a datatype from its type (BYTES for strings).
	// Default for raw input.
	LayoutFields Layout = "fields"
)

// Defaults for a zero Config.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultThreshold           = 0.5
	DefaultTensorName          = "input-0"
	DefaultMaxIdleConnsPerHost = 64
	DefaultIdleConnTimeout     = 90 * time.Second
	DefaultMaxResponseBytes    = 1 << 20
)

// Transformer turns a validated input into the features a remote model
// scores. The model package's bundle pipeline satisfies it. It must be safe
// for concurrent use.
type Transformer interface {
	Transform(in schema.Input) (model.Features, error)
}

// Field is one raw input field sent when no Transformer is set.
type Field struct {
	Name string
	// Type picks the OIP v2 datatype (integer → INT64, number → FP64,
	// string → BYTES, boolean → BOOL); empty infers it from each value.
	Type schema.Type
}

// Config configures a remote model. Name, Protocol and URL are required, and
// Fields unless Transformer is set.
type Config struct {
	// Name is the gateway-side model name (Info.Name, record key).
	Name     string
	Protocol Protocol
	// URL is the server's base URL, e.g. http://127.0.0.1:8081.
	URL string
	// Model is the remote model name (OIP v2; default Name). Version, when
	// set, selects /v2/models/{Model}/versions/{Version}.
	Model   string
	Version string
	// Headers are sent with every call. A value "env:NAME" is read from the
	// environment variable NAME when New runs (an unset or empty variable is
	// an error). Header values never appear in errors or logs.
	Headers map[string]string
	// Timeout bounds a call whose context has no deadline, and each dial
	// (default 10s). Normally the router's per-model deadline governs.
	Timeout time.Duration

	// Transformer, when set, runs before every call and its features are
	// sent (and returned in Prediction.Features, so records hold them).
	Transformer Transformer
	// Fields lists the raw input fields to send, in order, when Transformer
	// is nil.
	Fields []Field

	// Layout of OIP v2 inputs (default: tensor with a Transformer, fields
	// without). TensorName (default "input-0") and TensorDatatype ("FP64"
	// default, or "FP32") apply to LayoutTensor.
	Layout         Layout
	TensorName     string
	TensorDatatype string

	// ClassOutput and ProbabilityOutput name the OIP v2 output tensors, or
	// the MLflow prediction keys when predictions are a list of objects.
	// See docs/REMOTE.md for what is read when neither is set.
	ClassOutput       string
	ProbabilityOutput string
	// Labels maps classes to words for Prediction.Label (class strings a
	// remote returns are also matched against them).
	Labels map[int]string
	// Threshold turns a positive-class probability into a class when only
	// probabilities come back (class 1 when p >= Threshold; default 0.5).
	Threshold float64

	// BreakerFailures consecutive failures open the breaker (default 5;
	// failures of calls in flight together count once, see package
	// breaker); after BreakerCooldown (default 10s) one probe call is let
	// through.
	BreakerFailures int
	BreakerCooldown time.Duration
	// Now is the breaker's clock (default time.Now).
	Now func() time.Time

	// MaxIdleConnsPerHost (default 64) and IdleConnTimeout (default 90s)
	// size the keep-alive pool. MaxResponseBytes caps a response body
	// (default 1 MiB).
	MaxIdleConnsPerHost int
	IdleConnTimeout     time.Duration
	MaxResponseBytes    int64

	// Logger receives breaker state changes (default slog.Default()).
	Logger *slog.Logger
}

// Model is a remote model. It is safe for concurrent use; create it with New.
type Model struct {
	cfg       Config
	info      model.Info
	inferURL  string
	readyURL  string
	header    http.Header
	secrets   []string // header values, redacted from error text
	client    *http.Client
	transport *http.Transport
	breaker   *breaker.Breaker
	labelOf   map[string]int // label word → class
	layout    Layout
}

// New validates cfg and returns a Model. It makes no network call.
func New(cfg Config) (*Model, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("remote model %q: url: want an http:// or https:// URL with a host", cfg.Name)
	}
	m := &Model{cfg: cfg, layout: cfg.Layout, header: make(http.Header)}
	// endpoint appends path segments to the base URL, keeping its query.
	endpoint := func(segs ...string) string {
		u := *base
		raw := base.EscapedPath()
		for _, s := range segs {
			u.Path += "/" + s
			raw += "/" + url.PathEscape(s)
		}
		u.RawPath = raw
		return u.String()
	}
	switch cfg.Protocol {
	case ProtocolOIPv2:
		segs := []string{"v2", "models", cfg.Model}
		if cfg.Version != "" {
			segs = append(segs, "versions", cfg.Version)
		}
		m.inferURL = endpoint(append(segs, "infer")...)
		m.readyURL = endpoint(append(segs, "ready")...)
	case ProtocolMLflow:
		m.inferURL = endpoint("invocations")
		m.readyURL = endpoint("ping")
	}
	version := cfg.Version
	if version == "" {
		version = "remote"
	}
	m.info = model.Info{
		Name:      cfg.Name,
		Version:   version,
		Algorithm: "remote:" + string(cfg.Protocol),
		Artifact:  string(cfg.Protocol) + ":" + redactURL(m.inferURL),
	}

	names := make([]string, 0, len(cfg.Headers))
	for k := range cfg.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := cfg.Headers[k]
		if env, ok := strings.CutPrefix(v, "env:"); ok {
			v = os.Getenv(env)
			if v == "" {
				return nil, fmt.Errorf("remote model %q: headers.%s: environment variable %s is unset or empty", cfg.Name, k, env)
			}
		}
		m.header.Set(k, v)
		// Redact the value and its long words (the token of "Bearer
		// <token>" may be echoed alone); very short values are not
		// secrets and would mangle messages.
		if len(v) >= 4 {
			m.secrets = append(m.secrets, v)
		}
		if words := strings.Fields(v); len(words) > 1 {
			for _, w := range words {
				if len(w) >= 8 {
					m.secrets = append(m.secrets, w)
				}
			}
		}
	}
	m.header.Set("Content-Type", "application/json")
	m.header.Set("Accept", "application/json")

	m.labelOf = make(map[string]int, len(cfg.Labels))
	for c, w := range cfg.Labels {
		m.labelOf[w] = c
	}

	m.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		TLSHandshakeTimeout:   cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	m.client = &http.Client{
		Transport: m.transport,
		// A model endpoint that redirects is misconfigured; report the
		// 3xx instead of re-sending the body elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	logger := cfg.Logger
	m.breaker = breaker.New(breaker.Config{
		Failures: cfg.BreakerFailures,
		Cooldown: cfg.BreakerCooldown,
		Now:      cfg.Now,
		OnChange: func(from, to breaker.State) {
			logger.Warn("remote model circuit breaker", "model", cfg.Name, "from", from.String(), "to", to.String())
		},
	})
	return m, nil
}

// defaults validates c and fills in its defaults.
func (c *Config) defaults() error {
	var problems []string
	if c.Name == "" {
		problems = append(problems, "name: required")
	}
	switch c.Protocol {
	case ProtocolOIPv2, ProtocolMLflow:
	case "":
		problems = append(problems, `protocol: required ("oip-v2" or "mlflow")`)
	default:
		problems = append(problems, fmt.Sprintf(`protocol: %q is not "oip-v2" or "mlflow"`, c.Protocol))
	}
	if c.URL == "" {
		problems = append(problems, "url: required")
	}
	if c.Transformer == nil && len(c.Fields) == 0 {
		problems = append(problems, "fields: required when no pipeline is set (the raw input fields to send, in order)")
	}
	seen := make(map[string]bool, len(c.Fields))
	for i, f := range c.Fields {
		switch {
		case f.Name == "":
			problems = append(problems, fmt.Sprintf("fields[%d].name: required", i))
		case seen[f.Name]:
			problems = append(problems, fmt.Sprintf("fields[%d].name: duplicate %q", i, f.Name))
		}
		seen[f.Name] = true
		switch f.Type {
		case "", schema.TypeInteger, schema.TypeNumber, schema.TypeString, schema.TypeBoolean:
		default:
			problems = append(problems, fmt.Sprintf("fields[%d].type: unknown type %q", i, f.Type))
		}
	}
	if c.Layout == "" {
		c.Layout = LayoutFields
		if c.Transformer != nil {
			c.Layout = LayoutTensor
		}
	}
	switch c.Layout {
	case LayoutFields:
	case LayoutTensor:
		if c.Transformer == nil {
			for i, f := range c.Fields {
				if f.Type == schema.TypeString {
					problems = append(problems, fmt.Sprintf("fields[%d]: string field %q cannot go in a numeric tensor; use layout %q or a pipeline", i, f.Name, LayoutFields))
				}
			}
		}
	default:
		problems = append(problems, fmt.Sprintf(`layout: %q is not "tensor" or "fields"`, c.Layout))
	}
	switch c.TensorDatatype {
	case "":
		c.TensorDatatype = "FP64"
	case "FP64", "FP32":
	default:
		problems = append(problems, fmt.Sprintf(`tensor_datatype: %q is not "FP64" or "FP32"`, c.TensorDatatype))
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	if c.Threshold < 0 || c.Threshold > 1 {
		problems = append(problems, fmt.Sprintf("threshold: %g is not in [0, 1]", c.Threshold))
	}
	if c.BreakerFailures < 0 {
		problems = append(problems, "breaker_failures: must be >= 0")
	}
	if c.BreakerCooldown < 0 {
		problems = append(problems, "breaker_cooldown: must be >= 0")
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			problems = append(problems, fmt.Sprintf("headers: invalid header name %q", k))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("remote model %q: %s", c.Name, strings.Join(problems, "; "))
	}
	if c.Model == "" {
		c.Model = c.Name
	}
	if c.TensorName == "" {
		c.TensorName = DefaultTensorName
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if c.IdleConnTimeout <= 0 {
		c.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Info returns the model's identity: Algorithm "remote:<protocol>", Artifact
// "<protocol>:<infer URL>" (without credentials).
func (m *Model) Info() model.Info { return m.info }

// State returns the circuit breaker's state: "closed", "open" or
// "half-open". The router shows it in GET /v1/models.
func (m *Model) State() string { return m.breaker.State().String() }

// Close releases idle connections. The Model stays usable.
func (m *Model) Close() { m.transport.CloseIdleConnections() }

// Predict sends in (transformed by the Transformer when one is set) to the
// remote model and returns its answer. ctx bounds the whole call; without a
// deadline Config.Timeout applies. Every error is an *Error; while the
// breaker is open Predict returns a circuit_open error without calling.
func (m *Model) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	// The router starts every member's Predict at once, and Go runs the
	// goroutine started last first on its processor. Yield once so that
	// in-process members started in the same fan-out (production, often)
	// score before this call spends ~0.1 ms of CPU encoding and writing its
	// request: measured, production's median latency with a remote
	// challenger fell from ~130 µs to ~40 µs (BENCHMARKS.md).
	runtime.Gosched()
	var feats model.Features
	var cols columns
	if m.cfg.Transformer != nil {
		f, err := m.cfg.Transformer.Transform(in)
		if err != nil {
			return model.Prediction{}, m.fail(KindBadInput, 0, fmt.Errorf("pipeline: %w", err))
		}
		feats = f
		cols = featureColumns(f)
	} else {
		cols = m.fieldColumns(in)
	}
	var body []byte
	var err error
	switch m.cfg.Protocol {
	case ProtocolOIPv2:
		body, err = m.encodeOIP(cols)
	default:
		body, err = encodeMLflow(cols)
	}
	if err != nil {
		return model.Prediction{}, m.fail(KindBadInput, 0, err)
	}

	ticket, err := m.breaker.Allow()
	if err != nil {
		return model.Prediction{}, m.fail(KindCircuitOpen, 0, err)
	}
	p, rerr := m.call(ctx, body)
	if rerr != nil {
		m.breaker.Done(ticket, breakerOutcome(rerr))
		return model.Prediction{}, rerr
	}
	m.breaker.Done(ticket, breaker.Success)
	p.Features = feats
	return p, nil
}

// call posts body and decodes the answer.
func (m *Model) call(ctx context.Context, body []byte) (model.Prediction, *Error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.inferURL, bytes.NewReader(body))
	if err != nil {
		return model.Prediction{}, m.fail(KindBadInput, 0, fmt.Errorf("build request: %w", err))
	}
	req.Header = m.header.Clone()
	data, code, rerr := m.do(ctx, req)
	if rerr != nil {
		return model.Prediction{}, rerr
	}
	if code < 200 || code > 299 {
		return model.Prediction{}, m.fail(statusKind(code), code, statusError(code, m.snippet(data)))
	}
	var p model.Prediction
	switch m.cfg.Protocol {
	case ProtocolOIPv2:
		p, err = m.decodeOIP(data)
	default:
		p, err = m.decodeMLflow(data)
	}
	if err != nil {
		return model.Prediction{}, m.fail(KindBadPayload, code, err)
	}
	return p, nil
}

// do sends req and reads at most MaxResponseBytes of the body (non-2xx
// bodies: 4 KiB). Reading the body to EOF returns the connection to
// the pool; on any error the body is closed unread, which closes the
// connection, so an abandoned request never blocks a later one.
func (m *Model) do(ctx context.Context, req *http.Request) ([]byte, int, *Error) {
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, 0, m.fail(classifyTransport(ctx, err), 0, m.scrub(err))
	}
	defer resp.Body.Close()
	limit := m.cfg.MaxResponseBytes
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Only a 200-character excerpt is kept; reading well past it
		// lets redaction see a secret whole before the excerpt is cut.
		limit = 4096
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, resp.StatusCode, m.fail(classifyTransport(ctx, err), 0, fmt.Errorf("read response: %w", m.scrub(err)))
	}
	if int64(len(data)) > limit {
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return nil, resp.StatusCode, m.fail(KindBadPayload, resp.StatusCode, fmt.Errorf("response body exceeds %d bytes", limit))
		}
		data = data[:limit]
	}
	return data, resp.StatusCode, nil
}

// Ready asks the remote whether the model is ready: GET
// /v2/models/{name}[/versions/{v}]/ready for OIP v2, GET /ping for MLflow. Any
// 2xx status means ready, whatever the body. It bypasses the breaker.
func (m *Model) Ready(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.readyURL, nil)
	if err != nil {
		return m.fail(KindBadInput, 0, fmt.Errorf("build request: %w", err))
	}
	req.Header = m.header.Clone()
	req.Header.Del("Content-Type")
	data, code, rerr := m.do(ctx, req)
	if rerr != nil {
		return rerr
	}
	if code < 200 || code > 299 {
		return m.fail(statusKind(code), code, statusError(code, m.snippet(data)))
	}
	return nil
}

func (m *Model) fail(k Kind, code int, err error) *Error {
	return &Error{Model: m.cfg.Name, Kind: k, StatusCode: code, Err: err}
}

// snippet is a printable, redacted excerpt of an error body.
// Redaction comes first, so a secret cut by the truncation cannot leak in
// part.
func (m *Model) snippet(b []byte) string {
	s := m.redact(strings.TrimSpace(strings.ToValidUTF8(string(b), "?")))
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// scrub redacts header values from an error's text, keeping its chain (so
// errors.Is still sees context.DeadlineExceeded and syscall errors) only
// when nothing needed redacting.
func (m *Model) scrub(err error) error {
	msg := err.Error()
	if r := m.redact(msg); r != msg {
		return errors.New(r)
	}
	return err
}

func (m *Model) redact(s string) string {
	for _, v := range m.secrets {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	return s
}

// redactURL drops userinfo and the query string from u.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid url)"
	}
	p.User = nil
	p.RawQuery = ""
	return p.String()
}

// columns are the named values of one request, in order.
type columns struct {
	names  []string
	types  []schema.Type // nil for features (all numbers)
	values []any         // float64, string, bool or nil
}

func featureColumns(f model.Features) columns {
	vals := make([]any, len(f.Values))
	for i, v := range f.Values {
		vals[i] = v
	}
	return columns{names: f.Names, values: vals}
}

func (m *Model) fieldColumns(in schema.Input) columns {
	c := columns{
		names:  make([]string, len(m.cfg.Fields)),
		types:  make([]schema.Type, len(m.cfg.Fields)),
		values: make([]any, len(m.cfg.Fields)),
	}
	for i, f := range m.cfg.Fields {
		c.names[i] = f.Name
		c.types[i] = f.Type
		c.values[i] = in[f.Name]
	}
	return c
}
