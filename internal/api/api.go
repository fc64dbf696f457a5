// Package api is the gateway's HTTP front end: the prediction routes
// (POST /v1/predict and the configured compatibility routes such as the
// original service's /singletitanicpred/), the record, model, health,
// readiness, OpenAPI and Prometheus routes.
//
// It only decodes, maps to HTTP status codes and encodes: routing an input
// and recording it is package gateway's job, and its package doc states
// what a caller is promised. Every prediction request — answered, rejected
// (4xx) or unanswered (503) — becomes exactly one record per instance (one
// per rejected body). The handler never waits on the store.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
)

// Params builds a Handler. Config and Gateway are required.
type Params struct {
	// Config gives the compatibility routes and the server limits.
	Config *config.Config
	// Gateway routes and records every prediction request.
	Gateway *gateway.Gateway
	Logger  *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics (nil: a
	// new registry). Pass the gateway's registry so /metrics shows both.
	Registry *prometheus.Registry
	// Gate evaluates the promotion gate (nil: every promotion needs force).
	Gate GateFunc
	// Reload re-reads the configuration (nil: POST /v1/reload is 501).
	Reload ReloadFunc
	// Replay runs a replay on the server's store (nil: POST /v1/replay is
	// 503, the server keeps no replay results).
	Replay ReplayFunc
	// Extra mounts more routes (feedback, analysis, OIP v2 …) with the
	// same request ids, metrics, panic recovery and JSON 404/405.
	Extra []Route
	// Guard wraps the handler of every route pattern ("POST /v1/predict")
	// with its access control (auth.Authenticator.Route); nil: none.
	Guard func(pattern string, h http.Handler) http.Handler
}

// Route is an extra route mounted by New.
type Route struct {
	// Pattern is a net/http pattern with a method: "POST /v1/feedback".
	Pattern string
	Handler http.Handler
	// Operation, when set, is its OpenAPI 3.1 operation object (summary,
	// parameters, requestBody, responses …), added to /openapi.json under
	// the pattern's path and method. Schemas it references by
	// "#/components/schemas/NAME" must be given in Schemas.
	Operation map[string]any
	Schemas   map[string]any
	// JSONBody marks a state-changing route that takes a JSON body (not
	// a prediction route): 415 for another Content-Type, 403 for a
	// cross-origin browser request (see cors.go).
	JSONBody bool
}

// RequestID returns the request id the Handler assigned to r (the valid
// X-Request-ID the client sent, else a UUIDv7), for Extra routes.
func RequestID(r *http.Request) string { return requestID(r) }

// Handler is the gateway's http.Handler. It is safe for concurrent use.
type Handler struct {
	guard   func(pattern string, h http.Handler) http.Handler
	cfg     *config.Config
	gw      *gateway.Gateway
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	openapi []byte
	// exact maps the POST routes without wildcards to their instrumented
	// handlers (ServeHTTP's fast path).
	exact map[exactRoute]http.Handler
	// retryAfter is the Retry-After value of a 503, in whole seconds.
	retryAfter string
	gate       GateFunc
	reloadFn   ReloadFunc
	replayFn   ReplayFunc
	// replaying is set while a replay runs (one at a time).
	replaying atomic.Bool
	// crossOrigin refuses cross-origin browser requests on the
	// state-changing routes (origins in server.cors_origins excepted).
	crossOrigin *http.CrossOriginProtection
}

// New builds the Handler and registers its metrics.
func New(p Params) (*Handler, error) {
	if p.Config == nil || p.Gateway == nil {
		return nil, errors.New("api: Config and Gateway are required")
	}
	h := &Handler{
		guard:      p.Guard,
		cfg:        p.Config,
		gw:         p.Gateway,
		log:        p.Logger,
		mux:        http.NewServeMux(),
		exact:      map[exactRoute]http.Handler{},
		retryAfter: "1",
		gate:       p.Gate,
		reloadFn:   p.Reload,
		replayFn:   p.Replay,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	reg := p.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("api: register metrics: %w", err)
	}
	h.metrics = m
	if h.crossOrigin, err = newCrossOrigin(h.cfg.Server.CORSOrigins); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if h.openapi, err = OpenAPI(h.cfg, p.Extra...); err != nil {
		return nil, fmt.Errorf("api: build OpenAPI document: %w", err)
	}

	h.handle("POST /v1/predict", h.predictV1)
	h.handle("GET /v1/requests/{id}", h.getRequest)
	h.handle("GET /v1/models", h.getModels)
	h.handle("GET /healthz", h.healthz)
	h.handle("GET /readyz", h.readyz)
	h.handle("GET /v1/status", h.readyz)
	h.handle("GET /openapi.json", h.getOpenAPI)
	h.registerLifecycle()
	h.mux.Handle("GET /metrics", h.instrument("GET /metrics",
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: false})))
	for _, x := range p.Extra {
		if x.Handler == nil || !strings.Contains(x.Pattern, " ") {
			return nil, fmt.Errorf("api: extra route %q: want a \"METHOD /path\" pattern and a handler", x.Pattern)
		}
		hd := x.Handler
		if x.JSONBody {
			hd = h.stateChanging(hd)
		}
		h.mux.Handle(x.Pattern, h.instrument(x.Pattern, h.guarded(x.Pattern, hd)))
	}
	for i := range h.cfg.Routes {
		rt := &h.cfg.Routes[i]
		fn := func(w http.ResponseWriter, r *http.Request) { h.predictCompat(w, r, rt) }
		// Exact match, with and without the trailing slash (no redirect
		// for POSTs).
		name := "POST " + rt.Path
		p := strings.TrimSuffix(rt.Path, "/")
		h.handle("POST "+p+"/{$}", fn, name)
		h.handle("POST "+p, fn, name)
	}
	return h, nil
}

// handle registers fn under pattern, instrumented under the route name
// (pattern by default).
func (h *Handler) handle(pattern string, fn http.HandlerFunc, name ...string) {
	route := pattern
	if len(name) > 0 {
		route = name[0]
	}
	hd := h.instrument(route, h.guarded(pattern, fn))
	h.mux.Handle(pattern, hd)
	if method, path, ok := strings.Cut(pattern, " "); ok && method == http.MethodPost && strings.HasPrefix(path, "/") {
		// POST routes without wildcards (the prediction routes) skip the
		// mux's matching; their handlers read no path values.
		path = strings.TrimSuffix(path, "{$}")
		if !strings.Contains(path, "{") {
			h.exact[exactRoute{method, path}] = hd
		}
	}
}

// exactRoute is a method and a literal path.
type exactRoute struct{ method, path string }

// headerRequestID is X-Request-ID in canonical form (no allocation on
// Get and Set).
const headerRequestID = "X-Request-Id"

// headerClientID marks a request whose id the client chose (an internal
// header: ServeHTTP deletes whatever a client sent under that name).
const headerClientID = "X-Rendezvous-Client-Id"

// clientChoseID reports whether the request id is the client's.
func clientChoseID(r *http.Request) bool { return r.Header.Get(headerClientID) != "" }

// requestID returns the request id ServeHTTP assigned: it replaces the
// request's X-Request-ID header with it (no context allocation per request).
func requestID(r *http.Request) string {
	return r.Header.Get(headerRequestID)
}

// ValidRequestID reports whether a client's X-Request-ID is acceptable:
// 1 to 128 characters of [A-Za-z0-9._:-], not ending in ".<digits>" (the
// ids of a batch's instances, <id>.0, <id>.1 …, so the two never collide).
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 || gateway.InstanceSuffix(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// newID returns a UUIDv7 (time-ordered).
func newID() string {
	id, err := uuid.NewV7()
	if err != nil { // only when the system's random source fails
		return uuid.NewString()
	}
	return id.String()
}

// ServeHTTP assigns the request id (the client's X-Request-ID when valid,
// else a new UUIDv7), echoes it in the X-Request-ID header, and dispatches;
// unknown paths and methods get JSON 404 and 405 bodies.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(headerRequestID)
	r.Header.Del(headerClientID) // only ServeHTTP says whose id it is
	switch {
	case id == "":
		id = newID()
		r.Header.Set(headerRequestID, id)
	case !ValidRequestID(id):
		writeError(w, http.StatusBadRequest, errorBody{Error: "invalid X-Request-ID header: want 1 to 128 characters of A-Z a-z 0-9 . _ : - (and not ending in .<digits>, which names batch instances)"})
		h.metrics.observeHTTP("invalid request id", http.StatusBadRequest, 0)
		return
	default:
		r.Header.Set(headerClientID, "1")
	}
	w.Header().Set(headerRequestID, id)
	if h.corsEnabled() && h.cors(w, r) {
		return
	}

	if hd, ok := h.exact[exactRoute{r.Method, r.URL.Path}]; ok {
		hd.ServeHTTP(w, r) // a prediction route: what the mux would pick, without matching twice
		return
	}
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	// No route: let the mux decide between 404 and 405, then answer in JSON.
	probe := &probeWriter{header: http.Header{}}
	h.mux.ServeHTTP(probe, r)
	start := time.Now()
	code := probe.status
	switch code {
	case http.StatusMethodNotAllowed:
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, code, errorBody{Error: fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow), RequestID: id})
	case http.StatusNotFound, 0:
		code = http.StatusNotFound
		writeError(w, code, errorBody{Error: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path), RequestID: id})
	default: // redirects and anything else the mux says: pass through
		for k, v := range probe.header {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = w.Write(probe.body)
	}
	h.metrics.observeHTTP("unmatched", code, time.Since(start))
}

// probeWriter captures what the mux would answer for an unmatched request.
type probeWriter struct {
	header http.Header
	status int
	body   []byte
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	p.body = append(p.body, b...)
	return len(b), nil
}

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument counts requests by route and status and recovers panics.
func (h *Handler) instrument(route string, next http.Handler) http.Handler {
	obs := h.metrics.forRoute(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.log.Error("handler panicked", "route", route, "request_id", requestID(r), "panic", fmt.Sprint(v))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, errorBody{Error: "internal error", RequestID: requestID(r)})
				}
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			obs.observe(code, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// guarded wraps next with the access control of pattern (Params.Guard).
func (h *Handler) guarded(pattern string, next http.Handler) http.Handler {
	if h.guard == nil {
		return next
	}
	return h.guard(pattern, next)
}
