package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Messages of the error bodies clients may match on.
const (
	msgInvalidInput = "invalid input"
	msgNoAnswer     = "no model answered in time"
)

// errorBody is every error response: {"error", "fields"?, "request_id"?}.
type errorBody struct {
	Error     string              `json:"error"`
	Fields    []schema.FieldError `json:"fields,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
}

// rejection is a request refused before any model was called.
type rejection struct {
	status int
	msg    string
	fields []schema.FieldError // 422 only
}

// problems is what the rejected record keeps.
func (rj *rejection) problems() []schema.FieldError {
	if len(rj.fields) > 0 {
		return rj.fields
	}
	return []schema.FieldError{{Field: "body", Problem: rj.msg}}
}

// WriteJSON writes v as a JSON response with status (HTML characters not
// escaped). Routes mounted through Params.Extra use it so every route
// answers alike.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing left to do
}

func writeError(w http.ResponseWriter, status int, body errorBody) {
	writeJSON(w, status, body)
}

// readBody reads the body up to the configured limit and checks its content
// type. On a rejection, body holds what was read (at most the limit).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *rejection) {
	limit := h.cfg.Server.MaxBodyBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return body, &rejection{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("request body exceeds the limit of %d bytes (server.max_body_bytes)", limit)}
		}
		return body, &rejection{status: http.StatusBadRequest, msg: "read request body: " + err.Error()}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" && !isJSON(ct) {
		return body, &rejection{status: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("unsupported content type %q: want application/json", ct)}
	}
	return body, nil
}

// isJSON accepts application/json and any +json media type.
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// decode parses the body as one JSON value; a syntax error is a 400 naming
// the byte offset.
func decode(body []byte) (any, *rejection) {
	if m, ok := decodeFlat(body); ok {
		return m, nil
	}
	v, err := schema.DecodeJSON(body)
	if err != nil {
		return nil, &rejection{status: http.StatusBadRequest, msg: err.Error()}
	}
	return v, nil
}

// reject archives a refused request through the gateway (status rejected,
// raw body kept) and answers it. A retry of a body already rejected under
// the same client id is answered again without a second record; another
// body under a used id is a conflict.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, req gateway.Request, raw []byte, rj *rejection) {
	if c := req.Claim; c != nil && c.Previous != nil {
		defer c.Done()
		if !c.SameRejection(req.Endpoint, raw) {
			h.conflict(w, req.ID)
			return
		}
		w.Header().Set(headerReplayed, "true")
	} else {
		h.gw.Reject(r.Context(), gateway.Rejected{
			ID:       req.ID,
			Endpoint: req.Endpoint,
			Received: req.Received,
			Raw:      raw,
			Problems: rj.problems(),
			Claim:    req.Claim,
		})
	}
	msg := rj.msg
	if rj.status == http.StatusUnprocessableEntity {
		msg = msgInvalidInput
	}
	writeError(w, rj.status, errorBody{Error: msg, Fields: rj.fields, RequestID: req.ID})
}

// admit reserves room for n predictions (gateway.Admit); false means the
// request was shed and answered 503 with Retry-After before any work.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, n int) (*gateway.Ticket, bool) {
	t, err := h.gw.Admit(r.Context(), n)
	if err != nil {
		h.overloaded(w, r, err)
		return nil, false
	}
	return t, true
}

// grow reserves k more predictions for a batch (gateway.Grow); false means
// the request was answered 503 with Retry-After.
func (h *Handler) grow(w http.ResponseWriter, r *http.Request, t *gateway.Ticket, k int) bool {
	if err := h.gw.Grow(r.Context(), t, k); err != nil {
		h.overloaded(w, r, err)
		return false
	}
	return true
}

func (h *Handler) overloaded(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", h.retryAfter)
	writeError(w, http.StatusServiceUnavailable, errorBody{Error: err.Error(), RequestID: requestID(r)})
}

// headerReplayed marks an answer given again for a retried request id.
const headerReplayed = "X-Rendezvous-Replayed"

// claim reserves the request id when the client chose it (gateway.Claim)
// and sets req.Claim. False means the request was answered: 409 while
// another request under the id is being served. While the store is
// unreachable an id the gateway does not know is served as new, marked
// with the header X-Rendezvous-Id-Unchecked: true (see DURABILITY.md).
func (h *Handler) claim(w http.ResponseWriter, r *http.Request, req *gateway.Request) bool {
	if !clientChoseID(r) {
		return true
	}
	c, err := h.gw.Claim(r.Context(), req.ID)
	switch {
	case errors.Is(err, gateway.ErrIDInUse):
		writeError(w, http.StatusConflict, errorBody{Error: fmt.Sprintf("request id %q is in use by a request still being served", req.ID), RequestID: req.ID})
		return false
	case err != nil:
		h.log.Warn("request id not checked", "request_id", req.ID, "err", err)
		w.Header().Set("Retry-After", h.retryAfter)
		writeError(w, http.StatusServiceUnavailable, errorBody{Error: "cannot check whether the request id was used before (store unreachable)", RequestID: req.ID})
		return false
	}
	if c.Unchecked {
		w.Header().Set(headerIDUnchecked, "true")
	}
	req.Claim = c
	return true
}

// headerIDUnchecked marks an answer to a request whose client-chosen id
// could not be checked against the store (unreachable).
const headerIDUnchecked = "X-Rendezvous-Id-Unchecked"

// conflict answers 409 for a request id used before by another request.
func (h *Handler) conflict(w http.ResponseWriter, id string) {
	writeError(w, http.StatusConflict, errorBody{
		Error:     fmt.Sprintf("request id %q was already used for a different request (X-Request-ID is an idempotency key: a retry must send the same body)", id),
		RequestID: id,
	})
}

// replay answers a retried request from the records the first one left:
// ok with the answers (marked replayed), 409 for a different request, 503
// when the first one got no answer either. It releases the claim.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, reqs []gateway.Request) ([]gateway.Answer, bool) {
	c := reqs[0].Claim
	defer c.Done()
	if !c.SameRequest(reqs) {
		h.conflict(w, reqs[0].Claim.Previous.ID)
		return nil, false
	}
	answers := make([]gateway.Answer, len(reqs))
	for i := range reqs {
		rec := c.Previous
		if len(reqs) > 1 && i > 0 {
			var err error
			if rec, err = c.Instance(r.Context(), i); err != nil || rec == nil {
				h.conflict(w, reqs[i].ID)
				return nil, false
			}
		}
		a, ok := gateway.Replay(rec)
		if !ok {
			w.Header().Set(headerReplayed, "true")
			h.unavailable(w, reqs[0].ID)
			return nil, false
		}
		answers[i] = a
	}
	w.Header().Set(headerReplayed, "true")
	return answers, true
}

// unavailable answers 503 with Retry-After.
func (h *Handler) unavailable(w http.ResponseWriter, id string) {
	w.Header().Set("Retry-After", h.retryAfter)
	writeError(w, http.StatusServiceUnavailable, errorBody{Error: msgNoAnswer, RequestID: id})
}

// kind names a decoded JSON value's kind for messages.
func kind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string " + strconv.Quote(x)
	case json.Number:
		return "the number " + string(x)
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
