package insight_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	titanic "github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// FuzzFeedbackHandler sends arbitrary bodies to POST /v1/feedback through
// the full api.Handler (request ids, instrumentation, the JSON-only check)
// with the real insight route, feedback service and a real SQLite store.
// Invariants: no panic, no 5xx, a JSON body always, and a 2xx exactly for
// the feedback an independent check accepts (every item with one id of at
// most 256 bytes and a label that is a configured class or word).
func FuzzFeedbackHandler(f *testing.F) {
	for _, seed := range []string{
		`{"request_id":"r-1","label":0}`,
		`{"entity_id":"892","label":"Survived"}`,
		`{"request_id":"r-1","entity_id":"892","label":1}`,
		`{"feedback":[{"request_id":"a","label":1},{"entity_id":"b","label":"1"},{"request_id":"c","label":1.0}]}`,
		`{"feedback":[]}`, `{"feedback":null}`, `{"feedback":{}}`,
		`{"request_id":"r","label":2}`, `{"request_id":"r","label":null}`, `{"request_id":"r"}`,
		`{"request_id":"r","label":1,"label":0}`, `{"request_id":"r","label":true}`,
		`{"request_id":"r","label":1e400}`, `{"request_id":"\xff","label":1}`,
		`{"request_id":"r","label":1,"colour":"red"}`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	cfg, err := titanic.Config()
	if err != nil {
		f.Fatal(err)
	}
	words := cfg.Labels.Words
	h, _ := gatewayHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/feedback", bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555"
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q: %d answered %q %q, want JSON", body, w.Code, ct, w.Body)
		}
		accept, why := acceptable(body, words)
		ok := w.Code >= 200 && w.Code < 300
		if ok != accept {
			t.Fatalf("%q: %d %s; independent check accepts: %v (%s)", body, w.Code, w.Body, accept, why)
		}
		if ok {
			var res feedback.Result
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Accepted == 0 {
				t.Fatalf("%q: 2xx body %s: %v", body, w.Body, err)
			}
		}
	})
}

// acceptable is the feedback rule checked apart from package feedback's
// validator: the body parses (feedback.Decode: one item or a batch, no
// unknown field, no repeated key); 1 to feedback.MaxBatch items; each with
// exactly one of request_id and entity_id, each at most
// schema.DefaultMaxEntityIDBytes bytes, and a label that is a class number
// (an integral JSON number or a decimal string) or a class word.
func acceptable(body []byte, words map[int]string) (bool, string) {
	items, _, err := feedback.Decode(body)
	if err != nil {
		return false, "decode: " + err.Error()
	}
	if len(items) == 0 || len(items) > feedback.MaxBatch {
		return false, "item count " + strconv.Itoa(len(items))
	}
	for _, it := range items {
		if (it.RequestID == "") == (it.EntityID == "") {
			return false, "not exactly one id"
		}
		if len(it.RequestID) > schema.DefaultMaxEntityIDBytes || len(it.EntityID) > schema.DefaultMaxEntityIDBytes {
			return false, "id too long"
		}
		if !knownLabel(it.Label, words) {
			return false, "label " + string(it.Label)
		}
	}
	return true, ""
}

func knownLabel(raw json.RawMessage, words map[int]string) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for c, w := range words {
			if s == w || s == strconv.Itoa(c) {
				return true
			}
		}
		n, err := strconv.Atoi(s)
		_, ok := words[n]
		return err == nil && ok
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return false
	}
	for c := range words {
		if f == float64(c) {
			return true
		}
	}
	return false
}
