package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
}

func (h *Handler) getModels(w http.ResponseWriter, r *http.Request) {
	ms := h.gw.Models()
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
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// saturation is the queue fill level at which /readyz reports the
// recorder as saturated.
const saturation = 0.9

type readiness struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Reasons []string          `json:"reasons,omitempty"`
}

// readyz reports 200 when the production model is loaded and ready, the
// store answers a ping and the recorder is neither degraded nor saturated;
// otherwise 503 with every reason.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	out := readiness{Status: "ready", Checks: map[string]string{}}
	fail := func(check, reason string) {
		out.Checks[check] = reason
		out.Reasons = append(out.Reasons, check+": "+reason)
	}

	ms := h.gw.Models()
	out.Checks["models"] = "ok"
	prod := false
	for _, m := range ms {
		if m.Role == model.RoleProduction {
			prod = true
			if m.State != "ready" {
				fail("models", fmt.Sprintf("production model %s is %s", m.Name, m.State))
			}
		}
	}
	if !prod {
		fail("models", fmt.Sprintf("no production model loaded (%d models)", len(ms)))
	}

	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	err := h.gw.Ping(ctx)
	cancel()
	if !errors.Is(err, gateway.ErrNoStore) {
		if err != nil {
			fail("store", "unreachable: "+err.Error())
		} else {
			out.Checks["store"] = "ok"
		}
	}
	if s, ok := h.gw.RecorderStats(); ok {
		switch {
		case s.Degraded:
			fail("recorder", "degraded: "+degradedReason(s))
		case s.QueueCap > 0 && float64(s.QueueDepth) >= saturation*float64(s.QueueCap):
			fail("recorder", fmt.Sprintf("saturated: queue %d of %d", s.QueueDepth, s.QueueCap))
		default:
			out.Checks["recorder"] = "ok"
		}
	}
	code := http.StatusOK
	if len(out.Reasons) > 0 {
		out.Status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, out)
}

func (h *Handler) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.openapi)
}

// degradedReason says why the recorder is degraded.
func degradedReason(s record.RecorderStats) string {
	reason := fmt.Sprintf("queue %d of %d", s.QueueDepth, s.QueueCap)
	if s.LastError != "" {
		reason += ", last write error: " + s.LastError
	}
	return reason
}
