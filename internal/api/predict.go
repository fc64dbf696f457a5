package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
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

// instance is one validated prediction request.
type instance struct {
	id     string
	entity string
	input  schema.Input
}

// outcome is the rendezvous's answer for one instance.
type outcome struct {
	dec rendezvous.Decision
	err error
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

// reject records a refused request (status rejected, raw body kept) and
// answers it.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, endpoint string, received time.Time, raw []byte, rj *rejection) {
	id := requestID(r)
	h.enqueue(record.Record{
		ID:         id,
		ReceivedAt: received,
		Endpoint:   endpoint,
		Raw:        string(raw),
		Status:     record.RequestRejected,
		Problems:   rj.problems(),
	})
	msg := rj.msg
	if rj.status == http.StatusUnprocessableEntity {
		msg = msgInvalidInput
	}
	writeError(w, rj.status, errorBody{Error: msg, Fields: rj.fields, RequestID: id})
}

func (h *Handler) enqueue(rec record.Record) {
	if h.rec == nil {
		return
	}
	h.rec.Enqueue(rec) // a drop is counted by the recorder
}

// unavailable answers 503 with Retry-After.
func (h *Handler) unavailable(w http.ResponseWriter, id string) {
	w.Header().Set("Retry-After", h.retryAfter)
	writeError(w, http.StatusServiceUnavailable, errorBody{Error: msgNoAnswer, RequestID: id})
}

// routeAll sends every instance through the rendezvous, a few at a time for
// batches, and returns the outcomes in order.
func (h *Handler) routeAll(ctx context.Context, endpoint string, received time.Time, insts []instance) []outcome {
	out := make([]outcome, len(insts))
	if len(insts) == 1 {
		out[0] = h.routeOne(ctx, endpoint, received, insts[0])
		return out
	}
	const workers = 8
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, len(insts)) {
		wg.Go(func() {
			for i := range next {
				out[i] = h.routeOne(ctx, endpoint, received, insts[i])
			}
		})
	}
	for i := range insts {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// routeOne routes one instance; its record is built and enqueued by the
// completion callback, with every model's result.
func (h *Handler) routeOne(ctx context.Context, endpoint string, received time.Time, inst instance) outcome {
	if h.rec == nil { // recording off: no record to build, only the metrics
		dec, err := h.router.Route(ctx, inst.input, h.observe)
		return outcome{dec: dec, err: err}
	}
	base := record.Record{
		ID:         inst.id,
		ReceivedAt: received,
		Endpoint:   endpoint,
		EntityID:   inst.entity,
		Input:      inst.input,
	}
	dec, err := h.router.Route(ctx, inst.input, func(dec rendezvous.Decision, results []rendezvous.Result) {
		h.complete(base, dec, results)
	})
	return outcome{dec: dec, err: err}
}

// observe counts one request's model results and fallback in the metrics;
// complete does the same and also builds the record.
func (h *Handler) observe(dec rendezvous.Decision, results []rendezvous.Result) {
	for k := range results {
		h.metrics.observeModel(results[k])
	}
	h.observeFallback(dec)
}

// observeFallback counts a request served by a fallback model.
func (h *Handler) observeFallback(dec rendezvous.Decision) {
	if dec.Fallback && dec.ServedBy != "" {
		h.metrics.fallbacks.WithLabelValues(dec.ServedBy).Inc()
	}
}

// complete turns the rendezvous's final view of one request into its
// record and hands it to the recorder.
func (h *Handler) complete(rec record.Record, dec rendezvous.Decision, results []rendezvous.Result) {
	rec.Models = make(map[string]record.ModelResult, len(results))
	// One allocation for every model's prediction and probability (the
	// record points into it), and one for the decision.
	type answer struct {
		class int
		p     float64
	}
	answers := make([]answer, len(results))
	for k, res := range results {
		mr := record.ModelResult{
			Role:      res.Role,
			Version:   res.Info.Version,
			Artifact:  res.Info.Artifact,
			Features:  res.Prediction.Features,
			LatencyUS: res.Latency.Microseconds(),
			Status:    res.Status,
		}
		if res.Status == record.StatusOK || res.Status == record.StatusLate {
			a := &answers[k]
			a.class, a.p = res.Prediction.Class, res.Prediction.Probability
			mr.Prediction, mr.Probability = &a.class, &a.p
			mr.Label = h.label(res.Prediction.Class, res.Prediction.Label)
		}
		if res.Err != nil {
			mr.Error = res.Err.Error()
		}
		rec.Models[res.Name] = mr
		h.metrics.observeModel(res)
	}
	rec.Decision = &record.Decision{
		ServedBy:   dec.ServedBy,
		Reason:     dec.Reason,
		DeadlineMS: dec.Deadline.Milliseconds(),
		LatencyUS:  dec.Latency.Microseconds(),
	}
	rec.Status = record.RequestOK
	if dec.ServedBy == "" {
		rec.Status = record.RequestUnavailable
	}
	h.observeFallback(dec)
	h.enqueue(rec)
}

// label returns the model's word for class, or the configured one.
func (h *Handler) label(class int, word string) string {
	if word != "" {
		return word
	}
	return h.cfg.Labels.Words[class]
}

// entityString renders an entity id sent as a string or a JSON number.
func entityString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// entityFromInput uses the schema's entity field when the request named no
// entity.
func (h *Handler) entityFromInput(in schema.Input) string {
	ef := h.cfg.Schema.EntityField
	if ef == "" || in == nil {
		return ""
	}
	s, _ := entityString(in[ef])
	return s
}

// ---- POST /v1/predict ----

// prediction is the /v1/predict answer for one instance.
type prediction struct {
	RequestID   string   `json:"request_id"`
	EntityID    string   `json:"entity_id,omitempty"`
	Prediction  int      `json:"prediction"`
	Label       string   `json:"label"`
	Probability float64  `json:"probability"`
	ServedBy    servedBy `json:"served_by"`
	Fallback    bool     `json:"fallback"`
}

type servedBy struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Role    string `json:"role"`
}

type batchResponse struct {
	RequestID string       `json:"request_id"`
	Results   []prediction `json:"results"`
}

func (h *Handler) predictV1(w http.ResponseWriter, r *http.Request) {
	const endpoint = "/v1/predict"
	received := h.now().UTC()
	id := requestID(r)
	body, rj := h.readBody(w, r)
	if rj != nil {
		h.reject(w, r, endpoint, received, body, rj)
		return
	}
	v, rj := decode(body)
	if rj != nil {
		h.reject(w, r, endpoint, received, body, rj)
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		h.reject(w, r, endpoint, received, body, &rejection{status: http.StatusBadRequest,
			msg: "request body must be a JSON object ({\"input\":{…}} or {\"instances\":[…]}), got " + kind(v)})
		return
	}
	var (
		insts []instance
		errs  []schema.FieldError
		batch bool
	)
	if raw, ok := obj["instances"]; ok {
		batch = true
		for _, k := range sortedKeys(obj) {
			if k != "instances" {
				errs = append(errs, schema.FieldError{Field: k, Problem: "unknown field (a batch has only \"instances\")"})
			}
		}
		items, ok := raw.([]any)
		switch {
		case !ok:
			errs = append(errs, schema.FieldError{Field: "instances", Problem: "must be an array, got " + kind(raw)})
		case len(items) == 0:
			errs = append(errs, schema.FieldError{Field: "instances", Problem: "must hold at least one instance"})
		case len(items) > h.cfg.Server.MaxBatch:
			errs = append(errs, schema.FieldError{Field: "instances", Problem: fmt.Sprintf("must hold at most %d instances (server.max_batch), got %d", h.cfg.Server.MaxBatch, len(items))})
		default:
			insts = make([]instance, len(items))
			for i, it := range items {
				prefix := "instances[" + strconv.Itoa(i) + "]"
				m, ok := it.(map[string]any)
				if !ok {
					errs = append(errs, schema.FieldError{Field: prefix, Problem: "must be an object, got " + kind(it)})
					continue
				}
				entity, in, fe := h.parseV1(m, prefix+".")
				errs = append(errs, fe...)
				insts[i] = instance{id: id + "." + strconv.Itoa(i), entity: entity, input: in}
			}
		}
	} else {
		entity, in, fe := h.parseV1(obj, "")
		errs = fe
		insts = []instance{{id: id, entity: entity, input: in}}
	}
	if len(errs) > 0 {
		h.reject(w, r, endpoint, received, body, &rejection{status: http.StatusUnprocessableEntity, fields: errs})
		return
	}
	outs := h.routeAll(r.Context(), endpoint, received, insts)
	for _, o := range outs {
		if o.err != nil {
			h.unavailable(w, id)
			return
		}
	}
	results := make([]prediction, len(outs))
	for i, o := range outs {
		results[i] = h.prediction(insts[i], o.dec)
	}
	if batch {
		writeJSON(w, http.StatusOK, batchResponse{RequestID: id, Results: results})
		return
	}
	writeJSON(w, http.StatusOK, results[0])
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
		s, ok := entityString(ev)
		if !ok {
			errs = append(errs, schema.FieldError{Field: prefix + "entity_id", Problem: "must be a string or number, got " + kind(ev)})
		}
		entity = s
	}
	rawIn, ok := obj["input"]
	if !ok || rawIn == nil {
		return "", nil, append(errs, schema.FieldError{Field: prefix + "input", Problem: "required"})
	}
	m, ok := rawIn.(map[string]any)
	if !ok {
		return "", nil, append(errs, schema.FieldError{Field: prefix + "input", Problem: "must be an object, got " + kind(rawIn)})
	}
	in, fe := h.val.Validate(m, prefix)
	errs = append(errs, fe...)
	if entity == "" {
		entity = h.entityFromInput(in)
	}
	return entity, in, errs
}

func (h *Handler) prediction(inst instance, dec rendezvous.Decision) prediction {
	return prediction{
		RequestID:   inst.id,
		EntityID:    inst.entity,
		Prediction:  dec.Prediction.Class,
		Label:       h.label(dec.Prediction.Class, dec.Prediction.Label),
		Probability: dec.Prediction.Probability,
		ServedBy:    servedBy{Model: dec.ServedBy, Version: dec.Info.Version, Role: string(dec.Role)},
		Fallback:    dec.Fallback,
	}
}

// ---- compatibility routes (config routes:) ----

func (h *Handler) predictCompat(w http.ResponseWriter, r *http.Request, rt *config.Route) {
	endpoint := rt.Path
	received := h.now().UTC()
	id := requestID(r)
	body, rj := h.readBody(w, r)
	if rj != nil {
		h.reject(w, r, endpoint, received, body, rj)
		return
	}
	v, rj := decode(body)
	if rj != nil {
		h.reject(w, r, endpoint, received, body, rj)
		return
	}
	var items []any
	var prefixes []string
	switch rt.Kind {
	case config.RouteBatch:
		arr, ok := v.([]any)
		if !ok {
			h.reject(w, r, endpoint, received, body, &rejection{status: http.StatusBadRequest,
				msg: "request body must be a JSON array of objects, got " + kind(v)})
			return
		}
		if len(arr) > h.cfg.Server.MaxBatch {
			h.reject(w, r, endpoint, received, body, &rejection{status: http.StatusUnprocessableEntity,
				fields: []schema.FieldError{{Field: "body", Problem: fmt.Sprintf("must hold at most %d items (server.max_batch), got %d", h.cfg.Server.MaxBatch, len(arr))}}})
			return
		}
		items = arr
		for i := range arr {
			prefixes = append(prefixes, "["+strconv.Itoa(i)+"].")
		}
	default:
		if _, ok := v.(map[string]any); !ok {
			h.reject(w, r, endpoint, received, body, &rejection{status: http.StatusBadRequest,
				msg: "request body must be a JSON object, got " + kind(v)})
			return
		}
		items, prefixes = []any{v}, []string{""}
	}
	insts := make([]instance, len(items))
	var errs []schema.FieldError
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, schema.FieldError{Field: strings.TrimSuffix(prefixes[i], "."), Problem: "must be an object, got " + kind(it)})
			continue
		}
		entity, in, fe := h.parseCompat(rt, m, prefixes[i])
		errs = append(errs, fe...)
		iid := id
		if rt.Kind == config.RouteBatch {
			iid = id + "." + strconv.Itoa(i)
		}
		insts[i] = instance{id: iid, entity: entity, input: in}
	}
	if len(errs) > 0 {
		h.reject(w, r, endpoint, received, body, &rejection{status: http.StatusUnprocessableEntity, fields: errs})
		return
	}
	outs := h.routeAll(r.Context(), endpoint, received, insts)
	for _, o := range outs {
		if o.err != nil {
			h.unavailable(w, id)
			return
		}
	}
	var b bytes.Buffer
	if rt.Kind == config.RouteBatch {
		b.WriteString(`{`)
		writeKey(&b, rt.BatchKey)
		b.WriteString(`[`)
		for i, o := range outs {
			if i > 0 {
				b.WriteByte(',')
			}
			h.compatObject(&b, rt, insts[i], o.dec)
		}
		b.WriteString("]}\n")
	} else {
		h.compatObject(&b, rt, insts[0], outs[0].dec)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// parseCompat maps a legacy request object onto the schema: defaults for
// absent keys, the entity key taken out, request keys renamed to fields.
// Field errors name the request keys.
func (h *Handler) parseCompat(rt *config.Route, obj map[string]any, prefix string) (string, schema.Input, []schema.FieldError) {
	raw := make(map[string]any, len(obj)+len(rt.Defaults))
	get := func(k string) (any, bool) {
		v, ok := obj[k]
		if !ok || v == nil {
			v, ok = rt.Defaults[k]
		}
		return v, ok
	}
	var errs []schema.FieldError
	var entity string
	if rt.EntityKey != "" {
		if ev, ok := get(rt.EntityKey); ok && ev != nil {
			s, ok := entityString(normalizeYAML(ev))
			if !ok {
				errs = append(errs, schema.FieldError{Field: prefix + rt.EntityKey, Problem: "must be a string or number, got " + kind(ev)})
			}
			entity = s
		}
	}
	keep := func(k string) bool {
		if k != rt.EntityKey {
			return true
		}
		_, isField := h.val.Field(rt.FieldFor(k))
		return isField
	}
	var shadowed []string // schema names this route takes under another key
	for k := range obj {
		if !keep(k) {
			continue
		}
		if renamedAway(rt, k) {
			shadowed = append(shadowed, k)
			continue
		}
		v, _ := get(k)
		raw[rt.FieldFor(k)] = v
	}
	for k, v := range rt.Defaults {
		if _, sent := raw[rt.FieldFor(k)]; !sent && keep(k) {
			raw[rt.FieldFor(k)] = v
		}
	}
	in, fe := h.val.Validate(raw, "")
	for _, e := range fe {
		e.Field = prefix + rt.RequestKeyFor(e.Field)
		errs = append(errs, e)
	}
	if !h.val.AllowsUnknown() {
		sort.Strings(shadowed)
		for _, k := range shadowed {
			errs = append(errs, schema.FieldError{Field: prefix + k, Problem: fmt.Sprintf("unknown field (this route takes it as %q)", rt.RequestKeyFor(k))})
		}
		if len(shadowed) > 0 {
			in = nil
		}
	}
	if entity == "" {
		entity = h.entityFromInput(in)
	}
	return entity, in, errs
}

// renamedAway reports whether request key k is a schema field name that the
// route takes under another request key (fields: {Pclass: pclass} makes
// "pclass" itself unknown on that route).
func renamedAway(rt *config.Route, k string) bool {
	if _, isKey := rt.Fields[k]; isKey {
		return false
	}
	for key, f := range rt.Fields {
		if f == k && key != k {
			return true
		}
	}
	return false
}

// normalizeYAML makes YAML-decoded default values JSON-like.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.Itoa(x))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	}
	return v
}

// compatObject writes one legacy response object in the route's key order.
func (h *Handler) compatObject(b *bytes.Buffer, rt *config.Route, inst instance, dec rendezvous.Decision) {
	b.WriteByte('{')
	for i, k := range rt.Order() {
		if i > 0 {
			b.WriteByte(',')
		}
		writeKey(b, k)
		switch spec := rt.Response[k]; spec {
		case "$entity_id":
			appendString(b, inst.entity)
		case "$prediction":
			b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(dec.Prediction.Class), 10))
		case "$label":
			appendString(b, h.label(dec.Prediction.Class, dec.Prediction.Label))
		case "$probability":
			enc, _ := json.Marshal(dec.Prediction.Probability) // NaN cannot occur: models return [0, 1]
			b.Write(enc)
		case "$request_id":
			appendString(b, inst.id)
		case "$served_by":
			appendString(b, dec.ServedBy)
		case "$fallback":
			b.WriteString(strconv.FormatBool(dec.Fallback))
		default:
			appendString(b, spec)
		}
	}
	b.WriteByte('}')
}

// appendString writes s as a JSON string, escaping like encoding/json
// (without HTML escaping).
func appendString(b *bytes.Buffer, s string) {
	plain := true // printable ASCII without quote or backslash
	for i := 0; plain && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			plain = false
		}
	}
	if !plain {
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		b.Truncate(b.Len() - 1) // Encode's newline
		return
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

func writeKey(b *bytes.Buffer, k string) {
	appendString(b, k)
	b.WriteByte(':')
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

// PredictParams is one validated request from another front end (such as
// the OIP v2 server) for Handler.Predict.
type PredictParams struct {
	// Endpoint is the path the request came in on; RequestID its id
	// (RequestID(r) for requests through this Handler).
	Endpoint, RequestID, EntityID string
	Received                      time.Time
	Input                         schema.Input
}

// Predict routes one validated input through the rendezvous and records it
// exactly like a /v1/predict request: the record, with every model's
// result, is built when the last model has answered or been cut off. A
// non-nil error means no model qualified (answer 503). Safe for concurrent
// use.
func (h *Handler) Predict(ctx context.Context, p PredictParams) (rendezvous.Decision, error) {
	if p.Received.IsZero() {
		p.Received = h.now().UTC()
	}
	o := h.routeOne(ctx, p.Endpoint, p.Received, instance{id: p.RequestID, entity: p.EntityID, input: p.Input})
	return o.dec, o.err
}

// RejectParams is one request another front end refused before any model
// was called.
type RejectParams struct {
	Endpoint, RequestID string
	Received            time.Time
	// Raw is the body as received (at most the body limit).
	Raw      []byte
	Problems []schema.FieldError
}

// Reject archives a refused request as a record with status rejected, the
// raw body and the problems (the decoy keeps everything that arrives). It
// never blocks.
func (h *Handler) Reject(p RejectParams) {
	if p.Received.IsZero() {
		p.Received = h.now().UTC()
	}
	raw := p.Raw
	if int64(len(raw)) > h.cfg.Server.MaxBodyBytes {
		raw = raw[:h.cfg.Server.MaxBodyBytes]
	}
	h.enqueue(record.Record{
		ID:         p.RequestID,
		ReceivedAt: p.Received,
		Endpoint:   p.Endpoint,
		Raw:        string(raw),
		Status:     record.RequestRejected,
		Problems:   p.Problems,
	})
}
