package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Compatibility routes (config routes:): the original service's request
// and response shapes, mapped onto the schema by configuration.

func (h *Handler) predictCompat(w http.ResponseWriter, r *http.Request, rt *config.Route) {
	ticket, ok := h.admit(w, r, 1)
	if !ok {
		return
	}
	defer ticket.Release()
	req := h.newRequest(r, rt.Path)
	if !h.claim(w, r, &req) {
		return
	}
	body, rj := h.readBody(w, r)
	if rj == nil {
		var v any
		if v, rj = decode(body); rj == nil {
			var reqs []gateway.Request
			if reqs, rj = h.parseCompatBody(rt, v, req); rj == nil {
				h.answerCompat(w, r, rt, reqs, ticket)
				return
			}
		}
	}
	h.reject(w, r, req, body, rj)
}

// parseCompatBody reads a compatibility route's body: one object, or an
// array of them for a batch route (one gateway request per item).
func (h *Handler) parseCompatBody(rt *config.Route, v any, req gateway.Request) ([]gateway.Request, *rejection) {
	var items []any
	var prefixes []string
	switch rt.Kind {
	case config.RouteBatch:
		arr, ok := v.([]any)
		if !ok {
			return nil, &rejection{status: http.StatusBadRequest,
				msg: "request body must be a JSON array of objects, got " + kind(v)}
		}
		if len(arr) > h.cfg.Server.MaxBatch {
			return nil, &rejection{status: http.StatusUnprocessableEntity,
				fields: []schema.FieldError{{Field: "body", Problem: fmt.Sprintf("must hold at most %d items (server.max_batch), got %d", h.cfg.Server.MaxBatch, len(arr))}}}
		}
		items = arr
		for i := range arr {
			prefixes = append(prefixes, "["+strconv.Itoa(i)+"].")
		}
	default:
		if _, ok := v.(map[string]any); !ok {
			return nil, &rejection{status: http.StatusBadRequest,
				msg: "request body must be a JSON object, got " + kind(v)}
		}
		items, prefixes = []any{v}, []string{""}
	}
	reqs := make([]gateway.Request, len(items))
	var errs []schema.FieldError
	for i, it := range items {
		reqs[i] = req
		if rt.Kind == config.RouteBatch {
			reqs[i].ID = instanceID(req.ID, i)
		}
		m, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, schema.FieldError{Field: strings.TrimSuffix(prefixes[i], "."), Problem: "must be an object, got " + kind(it)})
			continue
		}
		var fe []schema.FieldError
		reqs[i].EntityID, reqs[i].Input, fe = h.parseCompat(rt, m, prefixes[i])
		errs = append(errs, fe...)
	}
	if len(errs) > 0 {
		return nil, &rejection{status: http.StatusUnprocessableEntity, fields: errs}
	}
	return reqs, nil
}

// answerCompat routes the requests and writes the route's response shape.
func (h *Handler) answerCompat(w http.ResponseWriter, r *http.Request, rt *config.Route, reqs []gateway.Request, ticket *gateway.Ticket) {
	if !h.grow(w, r, ticket, len(reqs)-1) { // a batch counts its instances
		reqs[0].Claim.Done()
		return
	}
	answers, ok := h.predictOrReplay(w, r, reqs)
	if !ok {
		return
	}
	var b bytes.Buffer
	if rt.Kind == config.RouteBatch {
		b.WriteString(`{`)
		writeKey(&b, rt.BatchKey)
		b.WriteString(`[`)
		for i, a := range answers {
			if i > 0 {
				b.WriteByte(',')
			}
			compatObject(&b, rt, a)
		}
		b.WriteString("]}\n")
	} else {
		compatObject(&b, rt, answers[0])
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
			s, ok := gateway.EntityString(normalizeYAML(ev))
			if !ok {
				errs = append(errs, schema.FieldError{Field: prefix + rt.EntityKey, Problem: "must be a string or number, got " + kind(ev)})
			}
			entity = s
			if fe := schema.CheckEntityID(entity, h.cfg.Schema.MaxEntityIDBytes); fe != nil {
				fe.Field = prefix + rt.EntityKey
				errs = append(errs, *fe)
			}
		}
	}
	keep := func(k string) bool {
		if k != rt.EntityKey {
			return true
		}
		_, isField := h.gw.Validator().Field(rt.FieldFor(k))
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
	in, fe := h.gw.Validator().Validate(raw, "")
	for _, e := range fe {
		e.Field = prefix + rt.RequestKeyFor(e.Field)
		errs = append(errs, e)
	}
	if !h.gw.Validator().AllowsUnknown() {
		sort.Strings(shadowed)
		for _, k := range shadowed {
			errs = append(errs, schema.FieldError{Field: prefix + k, Problem: fmt.Sprintf("unknown field (this route takes it as %q)", rt.RequestKeyFor(k))})
		}
		if len(shadowed) > 0 {
			in = nil
		}
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
func compatObject(b *bytes.Buffer, rt *config.Route, a gateway.Answer) {
	dec := a.Decision
	b.WriteByte('{')
	for i, k := range rt.Order() {
		if i > 0 {
			b.WriteByte(',')
		}
		writeKey(b, k)
		switch spec := rt.Response[k]; spec {
		case "$entity_id":
			appendString(b, a.EntityID)
		case "$prediction":
			b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(dec.Prediction.Class), 10))
		case "$label":
			appendString(b, a.Label)
		case "$probability":
			enc, _ := json.Marshal(dec.Prediction.Probability) // NaN cannot occur: models return [0, 1]
			b.Write(enc)
		case "$request_id":
			appendString(b, a.RequestID)
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
