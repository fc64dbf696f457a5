package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/auth"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// maxAdminBody caps an admin request's body (an uploaded bundle).
const maxAdminBody = 64 << 20

// GateFunc evaluates the promotion gate for a challenger (the monitor's
// PromotionGate with the configured rule).
type GateFunc func(ctx context.Context, challenger string) (analysis.GateResult, error)

// ReloadFunc re-reads the configuration and bundles and applies the
// difference (gateway.Reloader.Reload; nil: POST /v1/reload answers 501).
// A refused reload is a *gateway.ReloadError.
type ReloadFunc func(ctx context.Context, actor string) (gateway.ReloadReport, error)

// lifecycleBody is the answer of every change: the stored event, and a
// warning when the change is live but its event was not stored.
type lifecycleBody struct {
	Event   store.DeploymentEvent `json:"event"`
	Warning string                `json:"warning,omitempty"`
	// Gate is the promotion gate's result (promote only).
	Gate *analysis.GateResult `json:"gate,omitempty"`
}

// fieldErrorBody names the field at fault.
type fieldErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func (h *Handler) registerLifecycle() {
	h.handle("POST /v1/models", h.admin(h.addModel))
	h.handle("DELETE /v1/models/{name}", h.admin(h.removeModel))
	h.handle("PATCH /v1/models/{name}", h.admin(h.patchModel))
	h.handle("POST /v1/models/{name}/promote", h.admin(h.promoteModel))
	h.handle("POST /v1/rollback", h.admin(h.rollback))
	h.handle("POST /v1/reload", h.admin(h.reload))
	h.handle("POST /v1/replay", h.admin(h.replayRun))
	h.handle("GET /v1/deployments", h.listDeployments)
}

// admin allows fn to a caller that authenticated with a token (the Guard
// has checked its admin scope) or, on an open gateway, to loopback clients
// only; JSON bodies are taken only from the same origin (stateChanging).
func (h *Handler) admin(fn http.HandlerFunc) http.HandlerFunc {
	checked := h.stateChanging(fn)
	return func(w http.ResponseWriter, r *http.Request) {
		if auth.Actor(r.Context()) != "" {
			checked.ServeHTTP(w, r)
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, errorBody{Error: "deployment changes without an admin token are allowed from the server's own host (loopback) only; configure auth tokens (rendezvous token create --scope admin)", RequestID: requestID(r)})
			return
		}
		checked.ServeHTTP(w, r)
	}
}

// actor is who asks: the token's name, or "local" on an open gateway.
func actor(r *http.Request) string {
	if a := auth.Actor(r.Context()); a != "" {
		return a
	}
	return "local"
}

// decodeStrict reads a JSON body into v, refusing unknown fields; an empty
// body leaves v alone when optional.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, fieldErrorBody{Error: fmt.Sprintf("body: %v (limit %d bytes)", err, maxAdminBody)})
		return false
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, jsonFieldError(err))
		return false
	}
	return true
}

// jsonFieldError names the field of a decoding error.
func jsonFieldError(err error) fieldErrorBody {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErrorBody{Error: fmt.Sprintf("%s: want %s, got JSON %s", te.Field, te.Type, te.Value), Field: te.Field}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return fieldErrorBody{Error: fmt.Sprintf("%s: unknown field", f), Field: f}
	}
	return fieldErrorBody{Error: "body: " + msg}
}

// writeChange answers a change: the event, or the error mapped to its
// status (400 naming the field, 404, 409).
func (h *Handler) writeChange(w http.ResponseWriter, status int, ev store.DeploymentEvent, gate *analysis.GateResult, err error) {
	var fe *gateway.FieldError
	switch {
	case err == nil:
		writeJSON(w, status, lifecycleBody{Event: ev, Gate: gate})
	case errors.Is(err, gateway.ErrEventNotStored):
		writeJSON(w, status, lifecycleBody{Event: ev, Gate: gate, Warning: err.Error()})
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, fieldErrorBody{Error: fe.Error(), Field: fe.Field})
	case errors.Is(err, gateway.ErrUnknownMember):
		writeError(w, http.StatusNotFound, errorBody{Error: err.Error()})
	case errors.Is(err, gateway.ErrConflict), errors.Is(err, gateway.ErrNoPrevious):
		writeError(w, http.StatusConflict, errorBody{Error: err.Error()})
	case errors.Is(err, gateway.ErrNoStore), errors.Is(err, gateway.ErrNoEventLog):
		writeError(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
	default:
		h.log.Error("deployment change", "err", err)
		writeError(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
	}
}

// addModel serves POST /v1/models: a MemberSpec (name, role, deadline,
// max_in_flight, sample, paused and one of bundle, bundle_json, remote,
// nats).
func (h *Handler) addModel(w http.ResponseWriter, r *http.Request) {
	var spec gateway.MemberSpec
	if !decodeStrict(w, r, &spec, false) {
		return
	}
	if spec.Name == "" {
		writeJSON(w, http.StatusBadRequest, fieldErrorBody{Error: "name: required", Field: "name"})
		return
	}
	if _, exists := h.gw.Deployment().Member(spec.Name); exists {
		writeError(w, http.StatusConflict, errorBody{Error: fmt.Sprintf("a model named %q is already deployed", spec.Name)})
		return
	}
	m, err := gateway.LoadSource(h.cfg, spec.Name, spec.Source, h.log)
	if err != nil {
		h.writeChange(w, 0, store.DeploymentEvent{}, nil, err)
		return
	}
	ev, err := h.gw.AddMember(r.Context(), spec, m, gateway.Change{Actor: actor(r)})
	h.writeChange(w, http.StatusCreated, ev, nil, err)
}

func (h *Handler) removeModel(w http.ResponseWriter, r *http.Request) {
	ev, err := h.gw.RemoveMember(r.Context(), r.PathValue("name"), gateway.Change{Actor: actor(r)})
	h.writeChange(w, http.StatusOK, ev, nil, err)
}

func (h *Handler) patchModel(w http.ResponseWriter, r *http.Request) {
	var p gateway.Patch
	if !decodeStrict(w, r, &p, false) {
		return
	}
	ev, err := h.gw.PatchMember(r.Context(), r.PathValue("name"), p, gateway.Change{Actor: actor(r)})
	h.writeChange(w, http.StatusOK, ev, nil, err)
}

// promoteBody is POST /v1/models/{name}/promote's optional body.
type promoteBody struct {
	Force  bool   `json:"force"`
	Reason string `json:"reason"`
}

// refusedBody is the 409 of a refused promotion: the gate's figures.
type refusedBody struct {
	Error string              `json:"error"`
	Gate  analysis.GateResult `json:"gate"`
}

func (h *Handler) promoteModel(w http.ResponseWriter, r *http.Request) {
	var body promoteBody
	if !decodeStrict(w, r, &body, true) {
		return
	}
	name := r.PathValue("name")
	if _, ok := h.gw.Deployment().Member(name); !ok {
		writeError(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("%v: %q", gateway.ErrUnknownMember, name)})
		return
	}
	if body.Force && strings.TrimSpace(body.Reason) == "" {
		writeJSON(w, http.StatusBadRequest, fieldErrorBody{Error: "reason: required with force (it is recorded in the deployment history)", Field: "reason"})
		return
	}
	var gate analysis.GateResult
	if h.gate == nil {
		gate = analysis.GateResult{Rule: "none", Refusals: []string{"no record store: the live comparison cannot be read"}}
	} else {
		var err error
		if gate, err = h.gate(r.Context(), name); err != nil {
			writeError(w, http.StatusServiceUnavailable, errorBody{Error: "read the live comparison: " + err.Error()})
			return
		}
	}
	if !gate.Pass && !body.Force {
		writeJSON(w, http.StatusConflict, refusedBody{
			Error: fmt.Sprintf("promotion of %q refused by the gate: %s (send {\"force\": true, \"reason\": \"…\"} to override; it is recorded as forced)", name, strings.Join(gate.Refusals, "; ")),
			Gate:  gate,
		})
		return
	}
	ev, err := h.gw.Promote(r.Context(), name, gateway.Change{Actor: actor(r), Reason: body.Reason, Forced: !gate.Pass, Gate: gate})
	h.writeChange(w, http.StatusOK, ev, &gate, err)
}

// reasonBody is an optional {"reason": "…"}.
type reasonBody struct {
	Reason string `json:"reason"`
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request) {
	var body reasonBody
	if !decodeStrict(w, r, &body, true) {
		return
	}
	ev, err := h.gw.Rollback(r.Context(), gateway.Change{Actor: actor(r), Reason: body.Reason})
	h.writeChange(w, http.StatusOK, ev, nil, err)
}

// reload serves POST /v1/reload: 200 with the gateway.ReloadReport (also
// when nothing changed), 422 with every problem when the file or a bundle
// is invalid (the running deployment is kept).
func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.reloadFn == nil {
		writeError(w, http.StatusNotImplemented, errorBody{Error: "this server was started without a configuration file to reload (rendezvous serve --config FILE)"})
		return
	}
	if !decodeStrict(w, r, &struct{}{}, true) {
		return
	}
	rep, err := h.reloadFn(r.Context(), actor(r))
	var invalid *gateway.ReloadError
	switch {
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, invalid)
	case err == nil, errors.Is(err, gateway.ErrEventNotStored):
		writeJSON(w, http.StatusOK, rep)
	default:
		h.writeChange(w, 0, store.DeploymentEvent{}, nil, err)
	}
}

func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, fieldErrorBody{Error: fmt.Sprintf("limit %q: want a whole number >= 0", s), Field: "limit"})
			return
		}
		limit = n
	}
	evs, err := h.gw.Events(r.Context(), limit)
	if err != nil {
		h.writeChange(w, 0, store.DeploymentEvent{}, nil, err)
		return
	}
	if evs == nil {
		evs = []store.DeploymentEvent{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}
