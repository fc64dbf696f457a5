package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// POST /v1/predict: {"entity_id"?, "input": {…}} or {"instances": [{…}, …]}.

// prediction is the /v1/predict answer for one instance.
type prediction struct {
	RequestID   string   `json:"request_id"`
	EntityID    string   `json:"entity_id,omitempty"`
	Prediction  int      `json:"prediction"`
	Label       string   `json:"label"`
	Probability float64  `json:"probability"`
	ServedBy    servedBy `json:"served_by"`
	Fallback    bool     `json:"fallback"`
	// Replayed marks the answer of a retried request id, given again from
	// the first request's record (no second record).
	Replayed bool `json:"replayed,omitempty"`
}

type servedBy struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Role    string `json:"role"`
}

type batchResponse struct {
	RequestID string       `json:"request_id"`
	Results   []prediction `json:"results"`
	Replayed  bool         `json:"replayed,omitempty"`
}

// newRequest is the gateway request of one HTTP request before its body is
// read: its id, endpoint and arrival time.
func (h *Handler) newRequest(r *http.Request, endpoint string) gateway.Request {
	return gateway.Request{ID: requestID(r), Endpoint: endpoint, Received: h.gw.Now()}
}

// instanceID is the id of instance i of a batch sent as id.
func instanceID(id string, i int) string { return id + "." + strconv.Itoa(i) }

func (h *Handler) predictV1(w http.ResponseWriter, r *http.Request) {
	ticket, ok := h.admit(w, r, 1)
	if !ok {
		return
	}
	defer ticket.Release()
	req := h.newRequest(r, "/v1/predict")
	if !h.claim(w, r, &req) {
		return
	}
	body, rj := h.readBody(w, r)
	if rj != nil {
		h.reject(w, r, req, body, rj)
		return
	}
	v, rj := decode(body)
	if rj != nil {
		h.reject(w, r, req, body, rj)
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		h.reject(w, r, req, body, &rejection{status: http.StatusBadRequest,
			msg: "request body must be a JSON object ({\"input\":{…}} or {\"instances\":[…]}), got " + kind(v)})
		return
	}
	raw, batch := obj["instances"]
	if !batch {
		var errs []schema.FieldError
		req.EntityID, req.Input, errs = h.parseV1(obj, "")
		if len(errs) > 0 {
			h.reject(w, r, req, body, &rejection{status: http.StatusUnprocessableEntity, fields: errs})
			return
		}
		if req.Claim != nil && req.Claim.Previous != nil {
			if answers, ok := h.replay(w, r, []gateway.Request{req}); ok {
				p := h.prediction(answers[0])
				p.Replayed = true
				writeJSON(w, http.StatusOK, p)
			}
			return
		}
		ans, err := h.gw.Predict(r.Context(), req)
		if err != nil {
			h.unavailable(w, req.ID)
			return
		}
		writeJSON(w, http.StatusOK, h.prediction(ans))
		return
	}
	reqs, errs := h.parseBatchV1(obj, raw, req)
	if len(errs) > 0 {
		h.reject(w, r, req, body, &rejection{status: http.StatusUnprocessableEntity, fields: errs})
		return
	}
	if !h.grow(w, r, ticket, len(reqs)-1) { // a batch counts its instances
		req.Claim.Done()
		return
	}
	replayed := req.Claim != nil && req.Claim.Previous != nil
	answers, ok := h.predictOrReplay(w, r, reqs)
	if !ok {
		return
	}
	results := make([]prediction, len(answers))
	for i, a := range answers {
		results[i] = h.prediction(a)
		results[i].Replayed = replayed
	}
	writeJSON(w, http.StatusOK, batchResponse{RequestID: req.ID, Results: results, Replayed: replayed})
}

// parseBatchV1 reads {"instances": [...]}: one gateway request per
// instance, with field paths instances[i].….
func (h *Handler) parseBatchV1(obj map[string]any, raw any, req gateway.Request) ([]gateway.Request, []schema.FieldError) {
	var errs []schema.FieldError
	for _, k := range sortedKeys(obj) {
		if k != "instances" {
			errs = append(errs, schema.FieldError{Field: k, Problem: "unknown field (a batch has only \"instances\")"})
		}
	}
	items, ok := raw.([]any)
	switch {
	case !ok:
		return nil, append(errs, schema.FieldError{Field: "instances", Problem: "must be an array, got " + kind(raw)})
	case len(items) == 0:
		return nil, append(errs, schema.FieldError{Field: "instances", Problem: "must hold at least one instance"})
	case len(items) > h.cfg.Server.MaxBatch:
		return nil, append(errs, schema.FieldError{Field: "instances", Problem: fmt.Sprintf("must hold at most %d instances (server.max_batch), got %d", h.cfg.Server.MaxBatch, len(items))})
	}
	reqs := make([]gateway.Request, len(items))
	for i, it := range items {
		prefix := "instances[" + strconv.Itoa(i) + "]"
		reqs[i] = req
		reqs[i].ID = instanceID(req.ID, i)
		m, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, schema.FieldError{Field: prefix, Problem: "must be an object, got " + kind(it)})
			continue
		}
		var fe []schema.FieldError
		reqs[i].EntityID, reqs[i].Input, fe = h.parseV1(m, prefix+".")
		errs = append(errs, fe...)
	}
	return reqs, errs
}

// parseV1 reads {"entity_id", "input"} with field paths under prefix.
func (h *Handler) parseV1(obj map[string]any, prefix string) (string, schema.Input, []schema.FieldError) {
	var errs []schema.FieldError
	for _, k := range sortedKeys(obj) {
		if k != "entity_id" && k != "input" {
			errs = append(errs, schema.FieldError{Field: prefix + k, Problem: "unknown field (want entity_id, input)"})
		}
	}
	var entity string
	if ev, ok := obj["entity_id"]; ok && ev != nil {
		s, ok := gateway.EntityString(ev)
		if !ok {
			errs = append(errs, schema.FieldError{Field: prefix + "entity_id", Problem: "must be a string or number, got " + kind(ev)})
		}
		entity = s
		if fe := schema.CheckEntityID(entity, h.cfg.Schema.MaxEntityIDBytes); fe != nil {
			fe.Field = prefix + "entity_id"
			errs = append(errs, *fe)
		}
	}
	rawIn, ok := obj["input"]
	if !ok || rawIn == nil {
		return "", nil, append(errs, schema.FieldError{Field: prefix + "input", Problem: "required"})
	}
	m, ok := rawIn.(map[string]any)
	if !ok {
		return "", nil, append(errs, schema.FieldError{Field: prefix + "input", Problem: "must be an object, got " + kind(rawIn)})
	}
	in, fe := h.gw.Validator().Validate(m, prefix)
	return entity, in, append(errs, fe...)
}

func (h *Handler) prediction(a gateway.Answer) prediction {
	dec := a.Decision
	return prediction{
		RequestID:   a.RequestID,
		EntityID:    a.EntityID,
		Prediction:  dec.Prediction.Class,
		Label:       a.Label,
		Probability: dec.Prediction.Probability,
		ServedBy:    servedBy{Model: dec.ServedBy, Version: dec.Info.Version, Role: string(dec.Role)},
		Fallback:    dec.Fallback,
	}
}

// predictOrReplay routes reqs, or answers them again from the records of an
// earlier request under the same client id. False means the request was
// answered (409 or 503).
func (h *Handler) predictOrReplay(w http.ResponseWriter, r *http.Request, reqs []gateway.Request) ([]gateway.Answer, bool) {
	if c := reqs[0].Claim; c != nil && c.Previous != nil {
		return h.replay(w, r, reqs)
	}
	answers, err := h.gw.PredictBatch(r.Context(), reqs)
	if err != nil {
		h.unavailable(w, reqs[0].ID)
		return nil, false
	}
	return answers, true
}
