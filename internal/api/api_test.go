package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// ruleModel is a tiny in-process model: women survive. err makes it fail.
type ruleModel struct {
	name string
	prob float64 // probability given to the predicted class
	err  error
}

func (m ruleModel) Info() model.Info {
	return model.Info{Name: m.name, Version: "v1-" + m.name, Algorithm: "rule", Artifact: "sha256:" + m.name}
}

func (m ruleModel) Predict(_ context.Context, in schema.Input) (model.Prediction, error) {
	if m.err != nil {
		return model.Prediction{}, m.err
	}
	sex, _ := in.String("sex")
	age, _ := in.Float("age")
	p := model.Prediction{Class: 0, Probability: 1 - m.prob,
		Features: model.Features{Names: []string{"gender", "age"}, Values: []float64{0, age}}}
	if sex == "female" {
		p.Class, p.Probability, p.Features.Values[0] = 1, m.prob, 1
	}
	return p, nil
}

type fixture struct {
	h        *Handler
	srv      *httptest.Server
	gw       *gateway.Gateway
	recorder *record.Recorder
	store    *sqlite.Store
	cfg      *config.Config
	reg      *prometheus.Registry
	// stats, when set, replaces the recorder's own view (readiness tests).
	stats *record.RecorderStats
}

// statsRecorder is the fixture's recorder with its Stats replaceable.
type statsRecorder struct {
	*record.Recorder
	f *fixture
}

func (r statsRecorder) Stats() record.RecorderStats {
	if r.f.stats != nil {
		return *r.f.stats
	}
	return r.Recorder.Stats()
}

// newHandler builds a Handler over a gateway serving members with policy;
// gp supplies the gateway's recorder, store, clock and registry (its
// Deployment is built here).
func newHandler(t testing.TB, cfg *config.Config, members []rendezvous.Member, policy rendezvous.Policy, gp gateway.Params, extra ...Route) (*Handler, *gateway.Gateway) {
	t.Helper()
	val, err := cfg.Validator()
	if err != nil {
		t.Fatal(err)
	}
	gp.Deployment, err = gateway.NewDeployment(gateway.DeploymentParams{Members: members, Policy: policy,
		Validator: val, Words: cfg.Labels.Words, EntityField: cfg.Schema.EntityField})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := gp.Registry.(*prometheus.Registry)
	if reg == nil {
		reg = prometheus.NewRegistry()
		gp.Registry = reg
	}
	gw, err := gateway.New(gp)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Params{Config: cfg, Gateway: gw, Registry: reg, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	return h, gw
}

// testConfig is the shipped Titanic configuration with placeholder bundles.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	data, err := os.ReadFile("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFS(fstest.MapFS{
		"rendezvous.yaml":         {Data: data},
		"models/prod-gbt.json":    {Data: []byte("{}")},
		"models/canary-rule.json": {Data: []byte("{}")},
		"models/dev-logreg.json":  {Data: []byte("{}")},
	}, "rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newFixture(t *testing.T, prod, canary, dev ruleModel) *fixture {
	t.Helper()
	cfg := testConfig(t)
	members := []rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: prod, Deadline: time.Second},
		{Name: "canary-rule", Role: model.RoleCanary, Model: canary, Deadline: time.Second},
		{Name: "dev-logreg", Role: model.RoleChallenger, Model: dev, Deadline: time.Second},
	}
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := record.NewRecorder(st, record.RecorderOptions{FlushInterval: time.Millisecond})
	t.Cleanup(func() { rec.Close(context.Background()) })
	f := &fixture{recorder: rec, store: st, cfg: cfg, reg: prometheus.NewRegistry()}
	f.h, f.gw = newHandler(t, cfg, members, rendezvous.Policy{Fallback: []string{"canary-rule"}, OverallDeadline: 2 * time.Second},
		gateway.Params{Recorder: statsRecorder{rec, f}, Store: st, Registry: f.reg,
			Now: func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }})
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

func defaultFixture(t *testing.T) *fixture {
	return newFixture(t, ruleModel{name: "prod", prob: 0.9}, ruleModel{name: "canary", prob: 0.7}, ruleModel{name: "dev", prob: 0.6})
}

// settle waits until every completion callback has run.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.gw.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// byID finishes recording (every callback run, the recorder flushed and
// closed) and returns every stored record by id. Requests sent afterwards
// are no longer recorded; the store stays readable.
func (f *fixture) byID(t *testing.T) map[string]record.Record {
	t.Helper()
	f.settle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.recorder.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := map[string]record.Record{}
	err := f.store.ScanRecords(ctx, store.ScanParams{}, func(rec *record.Record) error {
		out[rec.ID] = *rec
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, method, path, contentType, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) post(t *testing.T, path, body string, header ...string) response {
	return f.do(t, http.MethodPost, path, "application/json", body, header...)
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

const passenger = `{"pclass":3,"sex":"female","age":22,"sibsp":1,"parch":0,"fare":7.25,"embarked":"S"}`

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPredict_AnswersWithProductionAndRecordsEveryModel(t *testing.T) {
	f := defaultFixture(t)
	r := f.post(t, "/v1/predict", `{"entity_id":"892","input":`+passenger+`}`)
	if r.code != http.StatusOK {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	got := decodeMap(t, r.body)
	id := r.header.Get("X-Request-ID")
	if !uuidV7.MatchString(id) || got["request_id"] != id {
		t.Fatalf("request id %q / %v, want one UUIDv7 in header and body", id, got["request_id"])
	}
	want := map[string]any{"request_id": id, "entity_id": "892", "prediction": 1.0, "label": "Survived", "probability": 0.9,
		"served_by": map[string]any{"model": "prod-gbt", "version": "v1-prod", "role": "production"}, "fallback": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("body\n got %v\nwant %v", got, want)
	}
	rec, ok := f.byID(t)[id]
	if !ok {
		t.Fatal("no record")
	}
	if rec.Status != record.RequestOK || rec.Endpoint != "/v1/predict" || rec.EntityID != "892" || len(rec.Models) != 3 {
		t.Fatalf("record %+v", rec)
	}
	if rec.Input["age"] != 22.0 || rec.Input["embarked"] != "S" {
		t.Errorf("input %v", rec.Input)
	}
	for name, mr := range rec.Models {
		if mr.Status != record.StatusOK || mr.Prediction == nil || *mr.Prediction != 1 || mr.Features.Len() != 2 || mr.Version == "" {
			t.Errorf("model %s: %+v", name, mr)
		}
	}
	if d := rec.Decision; d == nil || d.ServedBy != "prod-gbt" || d.Reason != "preferred" {
		t.Errorf("decision %+v", rec.Decision)
	}

	// The stored record is served back.
	r = f.do(t, http.MethodGet, "/v1/requests/"+id, "", "")
	if r.code != http.StatusOK || decodeMap(t, r.body)["_id"] != id {
		t.Fatalf("GET record: %d %s", r.code, r.body)
	}
}

func TestPredict_FallsBackToCanaryWhenProductionFails(t *testing.T) {
	f := newFixture(t, ruleModel{name: "prod", err: errors.New("boom")}, ruleModel{name: "canary", prob: 0.7}, ruleModel{name: "dev", prob: 0.6})
	r := f.post(t, "/v1/predict", `{"input":`+passenger+`}`)
	got := decodeMap(t, r.body)
	if r.code != 200 || got["fallback"] != true || got["served_by"].(map[string]any)["model"] != "canary-rule" {
		t.Fatalf("%d %s", r.code, r.body)
	}
	rec := f.byID(t)[got["request_id"].(string)]
	if rec.Models["prod-gbt"].Status != record.StatusError || rec.Models["prod-gbt"].Error == "" || rec.Decision.Reason != "fallback" {
		t.Fatalf("record %+v", rec)
	}
}

func TestPredict_Returns503WithRetryAfterWhenNoModelAnswers(t *testing.T) {
	boom := errors.New("boom")
	f := newFixture(t, ruleModel{name: "prod", err: boom}, ruleModel{name: "canary", err: boom}, ruleModel{name: "dev", prob: 0.6})
	r := f.post(t, "/v1/predict", `{"input":`+passenger+`}`, "X-Request-ID", "client-7")
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", r.code, r.header, r.body)
	}
	if got := decodeMap(t, r.body); got["error"] != "no model answered in time" || got["request_id"] != "client-7" {
		t.Fatalf("body %s", r.body)
	}
	rec := f.byID(t)["client-7"]
	if rec.Status != record.RequestUnavailable || len(rec.Models) != 3 || rec.Models["dev-logreg"].Status != record.StatusOK {
		t.Fatalf("record %+v", rec)
	}
}

func TestPredict_ListsEveryFieldErrorAndRecordsTheRejection(t *testing.T) {
	f := defaultFixture(t)
	body := `{"input":{"pclass":4,"sex":"male","age":"abc","sibsp":0,"embarked":"X","cabin":"C85"}}`
	r := f.post(t, "/v1/predict", body)
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var got errorBody
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := []schema.FieldError{
		{Field: "pclass", Problem: "must be one of 1, 2, 3, got 4"},
		{Field: "age", Problem: `must be a number between 0 and 120, got "abc"`},
		{Field: "parch", Problem: "required"},
		{Field: "embarked", Problem: `must be one of S, C, Q, got "X"`},
		{Field: "cabin", Problem: "unknown field"},
	}
	if got.Error != "invalid input" || !slices.Equal(got.Fields, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	rec := f.byID(t)[r.header.Get("X-Request-ID")]
	if rec.Status != record.RequestRejected || rec.Raw != body || !slices.Equal(rec.Problems, want) || rec.Models != nil {
		t.Fatalf("record %+v", rec)
	}
}

func TestPredict_BatchAnswersInOrderWithOneRecordPerInstance(t *testing.T) {
	f := defaultFixture(t)
	male := strings.Replace(passenger, "female", "male", 1)
	r := f.post(t, "/v1/predict", `{"instances":[{"entity_id":"a","input":`+passenger+`},{"entity_id":2,"input":`+male+`}]}`, "X-Request-ID", "batch-1")
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var got batchResponse
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.RequestID != "batch-1" || len(got.Results) != 2 ||
		got.Results[0].RequestID != "batch-1.0" || got.Results[0].EntityID != "a" || got.Results[0].Prediction != 1 ||
		got.Results[1].RequestID != "batch-1.1" || got.Results[1].EntityID != "2" || got.Results[1].Prediction != 0 {
		t.Fatalf("%+v", got)
	}
	recs := f.byID(t)
	if len(recs) != 2 || recs["batch-1.0"].EntityID != "a" || recs["batch-1.1"].Models["prod-gbt"].Status != record.StatusOK {
		t.Fatalf("records %+v", recs)
	}
}

func TestPredict_BatchWithAnInvalidInstanceNamesItsPath(t *testing.T) {
	f := defaultFixture(t)
	r := f.post(t, "/v1/predict", `{"instances":[{"input":`+passenger+`},{"input":{"pclass":1,"sex":"x","sibsp":0,"parch":0}},7]}`)
	if r.code != 422 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var got errorBody
	_ = json.Unmarshal(r.body, &got)
	want := []schema.FieldError{
		{Field: "instances[1].sex", Problem: "must be one of male, female, got \"x\""},
		{Field: "instances[2]", Problem: "must be an object, got the number 7"},
	}
	if !slices.Equal(got.Fields, want) {
		t.Fatalf("got %+v", got.Fields)
	}
	if n := len(f.byID(t)); n != 1 {
		t.Fatalf("%d records, want the one rejected batch", n)
	}
}

func TestPredict_RejectsBadBodiesWithTheRightStatus(t *testing.T) {
	f := defaultFixture(t)
	big := `{"input":{"sex":"` + strings.Repeat("x", 1<<20) + `"}}`
	tests := []struct {
		name, contentType, body string
		code                    int
		msg                     string
	}{
		{"malformed JSON names the offset", "application/json", `{"input":{"pclass":3,}}`, 400, "malformed JSON at byte offset 21"},
		{"truncated JSON", "application/json", `{"input":`, 400, "malformed JSON at byte offset 9: unexpected end of input"},
		{"not an object", "application/json", `[1]`, 400, "request body must be a JSON object"},
		{"over the body limit", "application/json", big, 413, "request body exceeds the limit of 1048576 bytes"},
		{"not JSON", "text/plain", passenger, 415, `unsupported content type \"text/plain\"`},
		{"JSON with charset is fine", "application/json; charset=utf-8", `{"input":` + passenger + `}`, 200, ""},
		{"no content type is taken as JSON", "", `{"input":` + passenger + `}`, 200, ""},
		{"missing input", "application/json", `{"entity_id":"1"}`, 422, "invalid input"},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		r := f.do(t, http.MethodPost, "/v1/predict", tt.contentType, tt.body)
		if r.code != tt.code || !strings.Contains(string(r.body), tt.msg) {
			t.Errorf("%s: got %d %s, want %d %q", tt.name, r.code, r.body, tt.code, tt.msg)
		}
		ids[i] = r.header.Get("X-Request-ID")
	}
	recs := f.byID(t)
	for i, tt := range tests {
		rec, ok := recs[ids[i]]
		want := record.RequestRejected
		if tt.code == 200 {
			want = record.RequestOK
		}
		if !ok || rec.Status != want || (tt.code != 200 && len(rec.Problems) == 0) {
			t.Errorf("%s: not recorded as %s: %+v", tt.name, want, rec)
			continue
		}
		if tt.code != 200 && (int64(len(rec.Raw)) > f.cfg.Server.MaxBodyBytes || (tt.code != 413 && rec.Raw != tt.body)) {
			t.Errorf("%s: raw body kept wrongly (%d bytes)", tt.name, len(rec.Raw))
		}
		if tt.code == 413 && (len(rec.Raw) != gateway.DefaultMaxRecordedBody || rec.RawBytes != f.cfg.Server.MaxBodyBytes || len(rec.RawSHA256) != 64) {
			t.Errorf("%s: raw body of %d bytes (of %d, sha256 %q), want the first %d of the %d read", tt.name, len(rec.Raw), rec.RawBytes, rec.RawSHA256,
				gateway.DefaultMaxRecordedBody, f.cfg.Server.MaxBodyBytes)
		}
	}
}

func TestRequestID_ClientIDIsUsedWhenValidAnInvalidOneIs400NoneGetsUUIDv7(t *testing.T) {
	f := defaultFixture(t)
	for _, tt := range []struct {
		sent string
		code int // 200: kept as sent; 400: refused
	}{
		{"abc-123_X.y:z", 200},
		{strings.Repeat("a", 128), 200},
		{"v1.2a", 200},
		{strings.Repeat("a", 129), 400},
		{"has space", 400},
		{"semi;colon", 400},
		{"bx.0", 400}, // the id of a batch's first instance
		{"bx.17", 400},
	} {
		r := f.do(t, http.MethodGet, "/healthz", "", "", "X-Request-ID", tt.sent)
		got := r.header.Get("X-Request-ID")
		switch {
		case r.code != tt.code:
			t.Errorf("sent %q: status %d, want %d (%s)", tt.sent, r.code, tt.code, r.body)
		case tt.code == 200 && got != tt.sent:
			t.Errorf("sent %q, got %q", tt.sent, got)
		case tt.code == 400 && !strings.Contains(string(r.body), "invalid X-Request-ID header"):
			t.Errorf("sent %q: %s", tt.sent, r.body)
		}
	}
	if r := f.do(t, http.MethodGet, "/healthz", "", ""); !uuidV7.MatchString(r.header.Get("X-Request-ID")) {
		t.Errorf("no id sent: got %q, want a UUIDv7", r.header.Get("X-Request-ID"))
	}
}

// TestRequestID_IsAnIdempotencyKey: the same body under a used id is
// answered again from the first record (replayed, no second record); a
// different body is 409; a retried bad body is rejected again without a
// second record.
func TestRequestID_IsAnIdempotencyKey(t *testing.T) {
	f := defaultFixture(t)
	woman := `{"entity_id":"7","input":` + passenger + `}`
	man := `{"entity_id":"7","input":{"pclass":3,"sex":"male","age":30,"sibsp":0,"parch":0,"fare":7.25,"embarked":"S"}}`
	batch := `{"instances":[` + woman + `,` + man + `]}`
	first := f.post(t, "/v1/predict", woman, "X-Request-ID", "k-1")
	if first.code != 200 {
		t.Fatalf("%d %s", first.code, first.body)
	}
	f.settle(t)
	for _, tt := range []struct {
		name, id, body string
		code           int
		replayed       bool
	}{
		{"same body again", "k-1", woman, 200, true},
		{"different body", "k-1", man, 409, false},
		{"a batch under a single's id", "k-1", batch, 409, false},
		{"bad body under a used id", "k-1", `{`, 409, false},
		{"new batch", "kb", batch, 200, false},
		{"same batch again", "kb", batch, 200, true},
		{"single under a batch's id", "kb", woman, 409, false},
		{"new bad body", "kr", `{"input":{}}`, 422, false},
		{"same bad body again", "kr", `{"input":{}}`, 422, true},
		{"good body under a rejected id", "kr", woman, 409, false},
		{"another compat body under a used id", "k-1", `{"pclass":1,"sex":"female","sibsp":1,"parch":0}`, 409, false},
	} {
		path := "/v1/predict"
		if strings.HasPrefix(tt.name, "another compat") {
			path = "/singletitanicpred/"
		}
		r := f.post(t, path, tt.body, "X-Request-ID", tt.id)
		if r.code != tt.code || (r.header.Get("X-Rendezvous-Replayed") == "true") != tt.replayed {
			t.Errorf("%s: %d replayed=%q %s", tt.name, r.code, r.header.Get("X-Rendezvous-Replayed"), r.body)
			continue
		}
		if tt.code == 409 && !strings.Contains(string(r.body), `request id \"`+tt.id) {
			t.Errorf("%s: 409 does not name the id: %s", tt.name, r.body)
		}
		if tt.name == "same body again" {
			var a, b map[string]any
			_ = json.Unmarshal(first.body, &a)
			_ = json.Unmarshal(r.body, &b)
			if b["replayed"] != true {
				t.Errorf("replayed answer not marked: %s", r.body)
			}
			delete(b, "replayed")
			if !reflect.DeepEqual(a, b) {
				t.Errorf("replayed answer differs:\n first %s\n again %s", first.body, r.body)
			}
		}
		f.settle(t)
	}
	recs := f.byID(t)
	want := []string{"k-1", "kb.0", "kb.1", "kr"}
	var got []string
	for id := range recs {
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want exactly %v (one per request id)", got, want)
	}
}

func TestRouting_UnknownPathsAndMethodsAnswerJSON(t *testing.T) {
	f := defaultFixture(t)
	r := f.do(t, http.MethodGet, "/nope", "", "")
	if r.code != 404 || !strings.Contains(decodeMap(t, r.body)["error"].(string), "no route GET /nope") {
		t.Fatalf("%d %s", r.code, r.body)
	}
	r = f.do(t, http.MethodGet, "/v1/predict", "", "")
	if r.code != 405 || r.header.Get("Allow") == "" || !strings.Contains(decodeMap(t, r.body)["error"].(string), "method GET not allowed") {
		t.Fatalf("%d %v %s", r.code, r.header, r.body)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
	r = f.do(t, http.MethodGet, "/v1/requests/unknown", "", "")
	if r.code != 404 {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

func TestModels_ListsEveryModelWithItsState(t *testing.T) {
	f := defaultFixture(t)
	r := f.do(t, http.MethodGet, "/v1/models", "", "")
	var got struct{ Models []modelView }
	if err := json.Unmarshal(r.body, &got); err != nil || r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if len(got.Models) != 3 || got.Models[0].Name != "prod-gbt" || got.Models[0].Role != model.RoleProduction ||
		got.Models[0].DeadlineMS != 1000 || got.Models[0].State != "ready" || got.Models[2].Artifact != "sha256:dev" {
		t.Fatalf("%+v", got)
	}
}

func TestReadyz_MeansThisReplicaCanAnswerPredictions(t *testing.T) {
	f := defaultFixture(t)
	r := f.do(t, http.MethodGet, "/readyz", "", "")
	var got readiness
	if err := json.Unmarshal(r.body, &got); err != nil || r.code != 200 || got.Checks["models"] != "ok" || got.Checks["admission"] != "ok" || got.Components != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	// A degraded recorder or an unreachable store does not make the
	// replica unready: predictions still work. The verbose form says so.
	f.stats = &record.RecorderStats{QueueDepth: 95, QueueCap: 100, Degraded: true, LastError: "dial tcp 10.1.2.3:5432: user=secret"}
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/readyz?verbose", "/v1/status"} {
		r = f.do(t, http.MethodGet, path, "", "")
		got = readiness{}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if r.code != 200 || got.Status != "ready" || got.Components["store"] != "degraded: unreachable" ||
			got.Components["recorder"] != "degraded: queue 95 of 100, last write failed" {
			t.Errorf("%s: %d %s", path, r.code, r.body)
		}
		if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "10.1.2.3") || strings.Contains(string(r.body), ".db") {
			t.Errorf("%s names a host, user or file: %s", path, r.body)
		}
	}
}

// TestAdmission_ShedsBeforeAnyWorkAndReadyzSaysSaturated: with room for one
// prediction, a second request waits at most the queue wait, then gets 503
// with Retry-After, is not recorded, and /readyz reports saturation.
func TestAdmission_ShedsBeforeAnyWorkAndReadyzSaysSaturated(t *testing.T) {
	cfg := testConfig(t)
	hold := make(chan struct{})
	var calls atomic.Int64
	prod := blocking{hold: hold, calls: &calls}
	mem := &discardCount{}
	h, gw := newHandler(t, cfg, []rendezvous.Member{{Name: "prod-gbt", Role: model.RoleProduction, Model: prod, Deadline: time.Minute}},
		rendezvous.Policy{}, gateway.Params{Recorder: mem, MaxInFlight: 1, MaxQueueWait: 5 * time.Millisecond})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, gw: gw}
	first := make(chan response)
	go func() { first <- f.post(t, "/v1/predict", `{"input":`+passenger+`}`) }()
	for calls.Load() == 0 {
		runtime.Gosched()
	}
	start := time.Now()
	r := f.post(t, "/v1/predict", `{"input":`+passenger+`}`)
	took := time.Since(start)
	if r.code != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "overloaded: 1 of 1 predictions in flight") {
		t.Errorf("shed request: %d %q %s", r.code, r.header.Get("Retry-After"), r.body)
	}
	if took > time.Second {
		t.Errorf("shed after %v", took)
	}
	if rr := f.do(t, http.MethodGet, "/readyz", "", ""); rr.code != 503 || !strings.Contains(string(rr.body), "admission: saturated") {
		t.Errorf("readyz while saturated: %d %s", rr.code, rr.body)
	}
	batch := `{"instances":[{"input":` + passenger + `},{"input":` + passenger + `}]}`
	if rr := f.post(t, "/v1/predict", batch); rr.code != 503 {
		t.Errorf("batch of 2 over a limit of 1: %d %s", rr.code, rr.body)
	}
	close(hold)
	if r := <-first; r.code != 200 {
		t.Fatalf("admitted request: %d %s", r.code, r.body)
	}
	triple := `{"instances":[{"input":` + passenger + `},{"input":` + passenger + `},{"input":` + passenger + `}]}`
	if rr := f.post(t, "/v1/predict", triple); rr.code != 503 || !strings.Contains(string(rr.body), "can never be admitted") {
		t.Errorf("batch of 3 over a limit of 1: %d %s", rr.code, rr.body)
	}
	if err := gw.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := mem.n.Load(); n != 1 || calls.Load() != 1 {
		t.Errorf("%d records, %d model calls: the shed requests did work", n, calls.Load())
	}
	if m := f.do(t, http.MethodGet, "/metrics", "", "").body; !bytes.Contains(m, []byte(`rendezvous_admission_shed_total{reason="queue_wait"} 2`)) ||
		!bytes.Contains(m, []byte(`rendezvous_admission_shed_total{reason="too_large"} 1`)) {
		t.Errorf("shed requests not counted by reason: %s", m)
	}
	m := string(f.do(t, http.MethodGet, "/metrics", "", "").body)
	for _, want := range []string{
		`rendezvous_http_request_duration_seconds_count{class="2xx",route="POST /v1/predict"} 1`,
		`rendezvous_http_request_duration_seconds_count{class="5xx",route="POST /v1/predict"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s (admitted and shed answers timed apart)", want)
		}
	}
}

// blocking answers once hold is closed, counting its calls.
type blocking struct {
	hold  chan struct{}
	calls *atomic.Int64
}

func (b blocking) Info() model.Info { return model.Info{Name: "blocking", Version: "1"} }
func (b blocking) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	b.calls.Add(1)
	<-b.hold
	return model.Prediction{Class: 1, Probability: 0.9}, nil
}

// discardCount counts records and keeps none.
type discardCount struct{ n atomic.Int64 }

func (d *discardCount) Enqueue(record.Record) bool  { d.n.Add(1); return true }
func (d *discardCount) Stats() record.RecorderStats { return record.RecorderStats{} }

func TestMetrics_ExposeRequestsModelLatencyFallbacksAndRecorder(t *testing.T) {
	f := newFixture(t, ruleModel{name: "prod", err: errors.New("boom")}, ruleModel{name: "canary", prob: 0.7}, ruleModel{name: "dev", prob: 0.6})
	f.post(t, "/v1/predict", `{"input":`+passenger+`}`)
	f.post(t, "/v1/predict", `{`)
	f.byID(t)                     // flushed: every count below is final
	f.post(t, "/v1/predict", `{`) // after Close: dropped
	r := f.do(t, http.MethodGet, "/metrics", "", "")
	for _, want := range []string{
		`rendezvous_http_requests_total{code="200",route="POST /v1/predict"} 1`,
		`rendezvous_http_requests_total{code="400",route="POST /v1/predict"} 2`,
		`rendezvous_model_latency_seconds_count{model="prod-gbt",outcome="error",role="production"} 1`,
		`rendezvous_model_latency_seconds_count{model="dev-logreg",outcome="ok",role="challenger"} 1`,
		`rendezvous_fallbacks_total{served_by="canary-rule"} 1`,
		`rendezvous_model_errors_total{kind="error",model="prod-gbt"} 1`,
		`rendezvous_recorder_quarantined_total 0`,
		`rendezvous_recorder_queue_depth 0`,
		`rendezvous_recorder_queue_capacity 100000`,
		`rendezvous_recorder_enqueued_total 2`,
		`rendezvous_recorder_written_total 2`,
		`rendezvous_recorder_dropped_total 1`,
		`rendezvous_recorder_degraded 0`,
		`rendezvous_model_in_flight{model="prod-gbt",role="production"} 0`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("missing %s", want)
		}
	}
}

// TestCompatRoutes_MatchGoldenResponses checks the original service's
// routes field for field (including the misspelled key its clients use).
func TestCompatRoutes_MatchGoldenResponses(t *testing.T) {
	// One gateway per case: every case uses the request id "golden", and a
	// request id is an idempotency key.
	fixtures := map[string]*fixture{}
	tests := []struct{ name, path, body string }{
		{"singletitanicpred", "/singletitanicpred/",
			`{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}`},
		{"singletitanicpred_defaults", "/singletitanicpred/", `{"pclass":1,"sex":"female","sibsp":1,"parch":0}`},
		{"singletitanicpred_invalid", "/singletitanicpred/", `{"pclass":5,"sex":"male","sibsp":0,"parch":0,"age":-3,"passid":{}}`},
		{"multititanicpred2", "/multititanicpred2/",
			`[{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"},` +
				`{"pclass":1,"sex":"female","sibsp":1,"parch":0,"passid":2}]`},
		{"multititanicpred2_invalid", "/multititanicpred2/", `[{"pclass":3,"sex":"male","sibsp":0,"parch":0},{"pclass":3}]`},
	}
	for _, tt := range tests {
		f := defaultFixture(t)
		fixtures[tt.name] = f
		t.Run(tt.name, func(t *testing.T) {
			r := f.post(t, tt.path, tt.body, "X-Request-ID", "golden")
			got := fmt.Sprintf("%d\n%s", r.code, r.body)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	// Without the trailing slash too.
	if r := fixtures["singletitanicpred"].post(t, "/singletitanicpred", tests[0].body); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	rec := fixtures["multititanicpred2"].byID(t)["golden.1"]
	if rec.Endpoint != "/multititanicpred2/" || rec.EntityID != "2" || rec.Input["fare"] != nil || rec.Input["embarked"] != "Q" {
		t.Fatalf("record %+v", rec)
	}
}

func TestExtraRoutes_AreMountedInstrumentedAndDocumented(t *testing.T) {
	cfg := testConfig(t)
	h, _ := newHandler(t, cfg, []rendezvous.Member{{Name: "p", Role: model.RoleProduction, Model: ruleModel{name: "p", prob: 0.9}}}, rendezvous.Policy{},
		gateway.Params{}, Route{
			Pattern: "POST /v1/feedback",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, map[string]string{"request_id": RequestID(r)})
			}),
			Operation: map[string]any{"operationId": "feedback", "responses": map[string]any{
				"200": map[string]any{"description": "ok", "content": map[string]any{"application/json": map[string]any{"schema": ref("FeedbackResult")}}}}},
			Schemas: map[string]any{"FeedbackResult": map[string]any{"type": "object"}},
		}, Route{
			Pattern: "GET /{$}",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, "home") }),
		})
	srv := httptest.NewServer(h)
	defer srv.Close()
	f := &fixture{srv: srv}
	r := f.post(t, "/v1/feedback", `{}`, "X-Request-ID", "fb-1")
	if r.code != 200 || decodeMap(t, r.body)["request_id"] != "fb-1" {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if r := f.do(t, http.MethodGet, "/v1/feedback", "", ""); r.code != 405 {
		t.Fatalf("GET: %d", r.code)
	}
	var doc map[string]any
	if err := json.Unmarshal(f.do(t, http.MethodGet, "/openapi.json", "", "").body, &doc); err != nil {
		t.Fatal(err)
	}
	if resolve(doc, "#/paths/~1/get") == nil {
		t.Fatal(`"GET /{$}" not documented as path "/"`)
	}
	if r := f.do(t, http.MethodGet, "/", "", ""); r.code != 200 {
		t.Fatalf("GET /: %d", r.code)
	}
	if resolve(doc, "#/paths/~1v1~1feedback/post/operationId") != "feedback" || resolve(doc, "#/components/schemas/FeedbackResult") == nil {
		t.Fatal("extra route not documented")
	}
	if m := f.do(t, http.MethodGet, "/metrics", "", "").body; !bytes.Contains(m, []byte(`rendezvous_http_requests_total{code="200",route="POST /v1/feedback"} 1`)) {
		t.Fatal("extra route not counted")
	}
}

// BenchmarkPredict measures the handler path of one /v1/predict request with
// three in-process models and in-memory recording (no network).
func BenchmarkPredict(b *testing.B) {
	h, gw := benchHandler(b)
	benchmarkRoute(b, h, gw, "/v1/predict", `{"entity_id":"892","input":`+passenger+`}`)
}

// BenchmarkPredictCompat measures the original route of bench/post.lua
// (POST /singletitanicpred/), the request of the gateway benchmark, with
// three in-process models and in-memory recording (no network).
func BenchmarkPredictCompat(b *testing.B) {
	h, gw := benchHandler(b)
	benchmarkRoute(b, h, gw, "/singletitanicpred/",
		`{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}`)
}

// benchHandler serves the default configuration's schema and routes with
// three rule models and a recorder that keeps nothing.
func benchHandler(b *testing.B) (*Handler, *gateway.Gateway) {
	cfg, err := titanic.Config()
	if err != nil {
		b.Fatal(err)
	}
	members := []rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: ruleModel{name: "prod", prob: 0.9}},
		{Name: "canary-rule", Role: model.RoleCanary, Model: ruleModel{name: "canary", prob: 0.7}},
		{Name: "dev-logreg", Role: model.RoleChallenger, Model: ruleModel{name: "dev", prob: 0.6}},
	}
	return newHandler(b, cfg, members, rendezvous.Policy{}, gateway.Params{Recorder: discard{}})
}

func benchmarkRoute(b *testing.B, h *Handler, gw *gateway.Gateway, path, body string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	})
	_ = gw.Wait(context.Background())
}

type discard struct{}

func (discard) Enqueue(record.Record) bool  { return true }
func (discard) Stats() record.RecorderStats { return record.RecorderStats{} }

func TestAppendString_EncodesLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "Did Not Survive", `a"b`, `back\slash`, "tab\there", "nl\n", "<&>", "Zoë", "\xff\xfe", "\u2028"} {
		var got, want bytes.Buffer
		appendString(&got, s)
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got.String()+"\n" != want.String() {
			t.Errorf("%q: got %s, want %s", s, got.String(), want.String())
		}
	}
}

// TestCompatRoutes_MapRequestKeysAndResponseValuesFromConfig uses a route
// that renames request keys and answers every placeholder and a literal.
func TestCompatRoutes_MapRequestKeysAndResponseValuesFromConfig(t *testing.T) {
	data, err := os.ReadFile("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	route := `
  - path: /legacy/score
    kind: single
    entity_key: PassengerId
    fields: {Pclass: pclass, Sex: sex, Age: age, SibSp: sibsp, Parch: parch}
    defaults: {Age: -1}
    response_order: [id, p, word, prob, rid, model, fb, api]
    response: {id: $entity_id, p: $prediction, word: $label, prob: $probability, rid: $request_id, model: $served_by, fb: $fallback, api: v1}
`
	yml := strings.Replace(string(data), "\nroutes:\n", "\nroutes:"+route, 1)
	cfg, err := config.LoadFS(fstest.MapFS{
		"rendezvous.yaml":         {Data: []byte(yml)},
		"models/prod-gbt.json":    {Data: []byte("{}")},
		"models/canary-rule.json": {Data: []byte("{}")},
		"models/dev-logreg.json":  {Data: []byte("{}")},
	}, "rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, cfg, []rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: ruleModel{name: "prod", prob: 0.75}, Deadline: time.Second},
	}, rendezvous.Policy{}, gateway.Params{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	f := &fixture{srv: srv}

	r := f.post(t, "/legacy/score", `{"PassengerId":7,"Pclass":1,"Sex":"female","SibSp":0,"Parch":0}`, "X-Request-ID", "r-1")
	want := `{"id":"7","p":1,"word":"Survived","prob":0.75,"rid":"r-1","model":"prod-gbt","fb":false,"api":"v1"}` + "\n"
	if r.code != 200 || string(r.body) != want {
		t.Fatalf("got %d %s\nwant %s", r.code, r.body, want)
	}
	r = f.post(t, "/legacy/score", `{"PassengerId":[],"Pclass":9,"Sex":"female","SibSp":0,"pclass":1}`)
	var got errorBody
	_ = json.Unmarshal(r.body, &got)
	wantErrs := []schema.FieldError{
		{Field: "PassengerId", Problem: "must be a string or number, got an array"},
		{Field: "Pclass", Problem: "must be one of 1, 2, 3, got 9"},
		{Field: "Parch", Problem: "required"},
		{Field: "pclass", Problem: `unknown field (this route takes it as "Pclass")`},
	}
	if r.code != 422 || !slices.Equal(got.Fields, wantErrs) {
		t.Fatalf("got %d %+v", r.code, got.Fields)
	}
}

// sleepy answers like inner after delay; with honour it gives up at its
// context's deadline instead.
type sleepy struct {
	inner  ruleModel
	delay  time.Duration
	honour bool
}

func (m sleepy) Info() model.Info { return m.inner.Info() }

func (m sleepy) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	t := time.NewTimer(m.delay)
	defer t.Stop()
	if m.honour {
		select {
		case <-t.C:
		case <-ctx.Done():
			return model.Prediction{}, ctx.Err()
		}
	} else {
		<-t.C
	}
	return m.inner.Predict(ctx, in)
}

// TestPredict_RecordsLateAndTimedOutMembersWithRealDeadlines is end to end
// with real clocks and short deadlines: HTTP in, the record read back from
// a SQLite file. A challenger that ignores its 20 ms deadline is recorded
// late with its prediction; one that honours it is recorded timeout.
func TestPredict_RecordsLateAndTimedOutMembersWithRealDeadlines(t *testing.T) {
	cfg := testConfig(t)
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "deadlines.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := record.NewRecorder(st, record.RecorderOptions{FlushInterval: time.Millisecond})
	members := []rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: ruleModel{name: "prod", prob: 0.9}, Deadline: 500 * time.Millisecond},
		{Name: "dev-late", Role: model.RoleChallenger, Model: sleepy{inner: ruleModel{name: "late", prob: 0.6}, delay: 60 * time.Millisecond}, Deadline: 20 * time.Millisecond},
		{Name: "dev-slow", Role: model.RoleChallenger, Model: sleepy{inner: ruleModel{name: "slow", prob: 0.6}, delay: time.Minute, honour: true}, Deadline: 20 * time.Millisecond},
	}
	h, gw := newHandler(t, cfg, members, rendezvous.Policy{Fallback: []string{}}, gateway.Params{Recorder: rec, Store: st})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, gw: gw, recorder: rec, store: st}
	r := f.post(t, "/v1/predict", `{"entity_id":"892","input":`+passenger+`}`, "X-Request-ID", "real-1")
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	got := f.byID(t)["real-1"]
	late, slow, prod := got.Models["dev-late"], got.Models["dev-slow"], got.Models["prod-gbt"]
	if prod.Status != record.StatusOK || got.Decision == nil || got.Decision.ServedBy != "prod-gbt" || got.Decision.DeadlineMS != 500 {
		t.Errorf("production %+v decision %+v", prod, got.Decision)
	}
	if late.Status != record.StatusLate || late.Prediction == nil || *late.Prediction != 1 || late.Label != "Survived" || late.LatencyUS < 60000 {
		t.Errorf("late member recorded %+v", late)
	}
	if slow.Status != record.StatusTimeout || slow.Prediction != nil || slow.LatencyUS < 20000 || slow.Error == "" {
		t.Errorf("timed-out member recorded %+v", slow)
	}
}

func TestPredict_EntityIDIsBoundedAtItsExactEdge(t *testing.T) {
	f := defaultFixture(t)
	limit := f.cfg.Schema.MaxEntityIDBytes
	at := strings.Repeat("e", limit)
	if r := f.post(t, "/v1/predict", `{"entity_id":"`+at+`","input":`+passenger+`}`); r.code != 200 {
		t.Errorf("entity_id of %d bytes: %d %s", limit, r.code, r.body)
	}
	r := f.post(t, "/v1/predict", `{"entity_id":"`+at+`e","input":`+passenger+`}`)
	if r.code != 422 || !strings.Contains(string(r.body), `"field":"entity_id"`) {
		t.Errorf("entity_id of %d bytes: %d %s", limit+1, r.code, r.body)
	}
	r = f.post(t, "/singletitanicpred/", `{"pclass":3,"sex":"male","sibsp":0,"parch":0,"passid":"`+at+`e"}`)
	if r.code != 422 || !strings.Contains(string(r.body), `"field":"passid"`) {
		t.Errorf("compat entity of %d bytes: %d %s", limit+1, r.code, r.body)
	}
}
