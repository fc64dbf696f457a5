package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// storeTimeout bounds store calls made on behalf of a request.
const storeTimeout = 2 * time.Second

// getRequest serves GET /v1/requests/{id}: the stored record.
func (h *Handler) getRequest(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	rec, stored, err := h.gw.Record(ctx, id)
	switch {
	case errors.Is(err, gateway.ErrNoStore):
		writeError(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("request %q not found (neither in the store nor in the recorder)", id)})
	case err != nil:
		h.log.Warn("get record", "request_id", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, errorBody{Error: "store: " + err.Error()})
	case !stored:
		writeJSON(w, http.StatusOK, pendingRecord{Record: rec, Durable: false})
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}

// pendingRecord is a record the recorder still holds (not in the store yet):
// "durable": false says so.
type pendingRecord struct {
	record.Record
	Durable bool `json:"durable"`
}

// modelView is one entry of GET /v1/models.
type modelView struct {
	Name        string     `json:"name"`
	Role        model.Role `json:"role"`
	Version     string     `json:"version"`
	Artifact    string     `json:"artifact"`
	Algorithm   string     `json:"algorithm"`
	DeadlineMS  float64    `json:"deadline_ms"`
	InFlight    int        `json:"in_flight"`
	MaxInFlight int        `json:"max_in_flight"`
	State       string     `json:"state"`
	// Sample is the share of requests the member is called for (1 for
	// production); Paused, whether it is paused.
	Sample float64 `json:"sample"`
	Paused bool    `json:"paused"`
	// Fallback is the member's position in the fallback order (0: first
	// backstop after production); -1 for production and shadows.
	Fallback int `json:"fallback"`
}

func (h *Handler) getModels(w http.ResponseWriter, r *http.Request) {
	dep := h.gw.Deployment()
	ms := dep.Router.Members()
	order := dep.FallbackOrder()
	out := make([]modelView, len(ms))
	for i, m := range ms {
		out[i] = modelView{
			Name:        m.Name,
			Role:        m.Role,
			Version:     m.Info.Version,
			Artifact:    m.Info.Artifact,
			Algorithm:   m.Info.Algorithm,
			DeadlineMS:  float64(m.Deadline.Microseconds()) / 1000,
			InFlight:    m.InFlight,
			MaxInFlight: m.MaxInFlight,
			State:       m.State,
			Sample:      gateway.Sample(m.Skip),
			Paused:      m.Paused,
			Fallback:    slices.Index(order, m.Name),
		}
		if m.Role == model.RoleProduction {
			out[i].Fallback = -1
		}
	}
	// deployment is the live deployment's seq (records carry it as
	// decision.deployment).
	writeJSON(w, http.StatusOK, map[string]any{"deployment": dep.Seq, "models": out})
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// saturation is the queue fill level at which the recorder is reported
// saturated (a component, not a readiness check).
const saturation = 0.9

type readiness struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Reasons []string          `json:"reasons,omitempty"`
	// Components (verbose only) are the parts that do not decide whether
	// this replica can answer predictions: the store and the recorder.
	Components map[string]string `json:"components,omitempty"`
}

// readyz reports whether this replica can answer predictions: 200 when the
// production model is loaded and ready and admission is not saturated,
// else 503 with every reason. A store outage does not make a replica
// unready (predictions still work and records are spooled); with ?verbose
// (and always on GET /v1/status) the store's and the recorder's state are
// listed under components. No body names a host, user or database.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	out := readiness{Status: "ready", Checks: map[string]string{"models": "ok", "admission": "ok"}}
	fail := func(check, reason string) {
		out.Checks[check] = reason
		out.Reasons = append(out.Reasons, check+": "+reason)
	}
	ms := h.gw.Models()
	prod := false
	for _, m := range ms {
		if m.Role == model.RoleProduction {
			prod = true
			// "closed" and "half-open" are a remote or NATS model's
			// circuit breaker letting calls through.
			if m.State != "ready" && m.State != "closed" && m.State != "half-open" {
				fail("models", fmt.Sprintf("production model %s is %s", m.Name, m.State))
			}
		}
	}
	if !prod {
		fail("models", fmt.Sprintf("no production model loaded (%d models)", len(ms)))
	}
	if inFlight, limit := h.gw.AdmissionState(); limit > 0 && inFlight >= limit {
		fail("admission", fmt.Sprintf("saturated: %d of %d predictions in flight", inFlight, limit))
	} else if h.gw.ShedRecently() {
		fail("admission", "saturated: requests were shed in the last second")
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose || r.URL.Path == "/v1/status" {
		out.Components = h.components(r.Context())
	}
	code := http.StatusOK
	if len(out.Reasons) > 0 {
		out.Status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, out)
}

// components describes the store and the recorder for /readyz?verbose.
// Errors are summarised; their text (which may name hosts or users) goes
// to the debug log only.
func (h *Handler) components(ctx context.Context) map[string]string {
	c := map[string]string{}
	pctx, cancel := context.WithTimeout(ctx, storeTimeout)
	err := h.gw.Ping(pctx)
	cancel()
	switch {
	case errors.Is(err, gateway.ErrNoStore):
		c["store"] = "none (recording off)"
	case err != nil:
		h.log.Debug("store ping failed", "err", err)
		c["store"] = "degraded: unreachable"
	default:
		c["store"] = "ok"
	}
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	for name, state := range h.gw.Components(cctx) {
		c[name] = state
	}
	cancel()
	if s, ok := h.gw.RecorderStats(); ok {
		c["recorder"] = recorderState(s)
		if c["store"] != "ok" && s.Spooling {
			c["store"] += ", spooling"
		}
	}
	return c
}

// recorderState summarises the recorder in one phrase.
func recorderState(s record.RecorderStats) string {
	var parts []string
	switch {
	case s.Degraded:
		parts = append(parts, "degraded: "+degradedReason(s))
	case s.QueueCap > 0 && float64(s.QueueDepth) >= saturation*float64(s.QueueCap):
		parts = append(parts, fmt.Sprintf("saturated: queue %d of %d", s.QueueDepth, s.QueueCap))
	default:
		parts = append(parts, "ok")
	}
	if s.Spooling {
		parts = append(parts, fmt.Sprintf("spooling (%d records, %d bytes on disk)", s.SpoolRecords, s.SpoolBytes))
	}
	return strings.Join(parts, ", ")
}

func (h *Handler) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.openapi)
}

// degradedReason says why the recorder is degraded.
func degradedReason(s record.RecorderStats) string {
	reason := fmt.Sprintf("queue %d of %d", s.QueueDepth, s.QueueCap)
	if s.LastError != "" {
		reason += ", last write failed"
	}
	return reason
}
