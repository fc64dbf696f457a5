package oip

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// sexRule predicts survival for women (and, when flip is set, for men): a
// real in-process model for the router.
type sexRule struct {
	name string
	flip bool
	err  error
}

func (m sexRule) Info() model.Info {
	return model.Info{Name: m.name, Version: "1", Algorithm: "rule", Artifact: "sha256:test-" + m.name}
}

func (m sexRule) Predict(_ context.Context, in schema.Input) (model.Prediction, error) {
	if m.err != nil {
		return model.Prediction{}, m.err
	}
	sex, _ := in.String("sex")
	survived := (sex == "female") != m.flip
	if survived {
		return model.Prediction{Class: 1, Label: "Survived", Probability: 0.74}, nil
	}
	return model.Prediction{Class: 0, Label: "Did Not Survive", Probability: 0.19}, nil
}

func fptr(f float64) *float64 { return &f }

func validator(t testing.TB) *schema.Validator {
	t.Helper()
	v, err := schema.New(schema.Options{Fields: []schema.Field{
		{Name: "pclass", Type: schema.TypeInteger, Required: true, Allowed: []any{1, 2, 3}},
		{Name: "sex", Type: schema.TypeString, Required: true, Allowed: []any{"male", "female"}},
		{Name: "age", Type: schema.TypeNumber, Min: fptr(0), Max: fptr(120), Missing: []any{-1}},
		{Name: "alone", Type: schema.TypeBoolean},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// captured is a recorder that keeps every record in memory.
type captured struct {
	mu   sync.Mutex
	recs []record.Record
}

func (c *captured) Enqueue(rec record.Record) bool {
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	return true
}

func (c *captured) Stats() record.RecorderStats { return record.RecorderStats{} }

// byStatus returns the captured records whose status is (or is not, with
// not) st.
func (c *captured) byStatus(st string, not bool) []record.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []record.Record
	for _, r := range c.recs {
		if (r.Status == st) != not {
			out = append(out, r)
		}
	}
	return out
}

type fixture struct {
	srv *httptest.Server
	gw  *gateway.Gateway
	rec *captured
}

// newGateway is a real gateway over members whose records go to rec.
func newGateway(t testing.TB, members []rendezvous.Member, rec gateway.Recorder) *gateway.Gateway {
	t.Helper()
	dep, err := gateway.NewDeployment(gateway.DeploymentParams{Members: members, Validator: validator(t)})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Params{Deployment: dep, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func newFixture(t *testing.T, members []rendezvous.Member, mutate ...func(*Params)) *fixture {
	t.Helper()
	c := &captured{}
	g := newGateway(t, members, c)
	p := Params{Gateway: g, ServerVersion: "test"}
	for _, f := range mutate {
		f(&p)
	}
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, gw: g, rec: c}
}

// records waits for every routed request's record and returns them (the
// rejected ones left out).
func (f *fixture) records(t *testing.T) []record.Record {
	t.Helper()
	if err := f.gw.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f.rec.byStatus(record.RequestRejected, true)
}

func threeModels() []rendezvous.Member {
	return []rendezvous.Member{
		{Name: "prod-rule", Role: model.RoleProduction, Model: sexRule{name: "prod-rule"}, Deadline: time.Second},
		{Name: "canary-rule", Role: model.RoleCanary, Model: sexRule{name: "canary-rule"}, Deadline: time.Second},
		{Name: "dev-flip", Role: model.RoleChallenger, Model: sexRule{name: "dev-flip", flip: true}, Deadline: time.Second},
	}
}

// Client side: requests and responses as the OIP v2 REST spec writes them,
// decoded independently of the server's own types.

type specTensor struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type specInferResponse struct {
	ModelName    string       `json:"model_name"`
	ModelVersion string       `json:"model_version"`
	ID           string       `json:"id"`
	Outputs      []specTensor `json:"outputs"`
}

type specError struct {
	Error string `json:"error"`
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, b
}

func (f *fixture) infer(t *testing.T, path, body string) specInferResponse {
	t.Helper()
	code, b := f.do(t, "POST", path, body)
	if code != 200 {
		t.Fatalf("POST %s: status %d: %s", path, code, b)
	}
	var r specInferResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return r
}

func outputOf(t *testing.T, r specInferResponse, name string) (specTensor, string) {
	t.Helper()
	for _, o := range r.Outputs {
		if o.Name == name {
			return o, string(o.Data)
		}
	}
	t.Fatalf("response has no output %q: %+v", name, r.Outputs)
	return specTensor{}, ""
}

const onePassenger = `{"id": "req-42", "inputs": [
	{"name": "pclass", "shape": [1], "datatype": "INT64", "data": [3]},
	{"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["female"]},
	{"name": "age", "shape": [1, 1], "datatype": "FP32", "data": [[-1]]},
	{"name": "alone", "shape": [1], "datatype": "BOOL", "data": [true]}]}`

func TestServer_InferOnTheProductionNameGoesThroughTheRendezvousAndIsRecorded(t *testing.T) {
	f := newFixture(t, threeModels())
	r := f.infer(t, "/v2/models/prod-rule/infer", onePassenger)

	if r.ModelName != "prod-rule" || r.ModelVersion != "1" || r.ID != "req-42" {
		t.Errorf("model_name, model_version, id = %q, %q, %q", r.ModelName, r.ModelVersion, r.ID)
	}
	for name, want := range map[string]string{"class": "[1]", "probability": "[0.74]", "label": `["Survived"]`, "served_by": `["prod-rule"]`} {
		o, data := outputOf(t, r, name)
		if data != want || !reflect.DeepEqual(o.Shape, []int64{1}) || o.Datatype != outputTypes[name] {
			t.Errorf("output %s = %s %v %s, want %s [1] %s", name, data, o.Shape, o.Datatype, want, outputTypes[name])
		}
	}
	recs := f.records(t)
	if len(recs) != 1 {
		t.Fatalf("gateway routed %d requests, want 1", len(recs))
	}
	rec := recs[0]
	if rec.Endpoint != "/v2/models/prod-rule/infer" {
		t.Errorf("endpoint = %q", rec.Endpoint)
	}
	_, ids := outputOf(t, r, "request_id")
	if ids != `["`+rec.ID+`"]` || rec.ID == "" {
		t.Errorf("request_id output %s, recorded id %q", ids, rec.ID)
	}
	wantIn := schema.Input{"pclass": 3.0, "sex": "female", "age": nil, "alone": true}
	if !reflect.DeepEqual(rec.Input, wantIn) {
		t.Errorf("routed input = %v, want %v (age -1 is the missing sentinel)", rec.Input, wantIn)
	}
	if len(rec.Models) != 3 {
		t.Errorf("recorded %d model results, want 3", len(rec.Models))
	}
}

func TestServer_InferFallsBackToTheCanaryWhenProductionFails(t *testing.T) {
	members := threeModels()
	members[0].Model = sexRule{name: "prod-rule", err: errors.New("broken")}
	f := newFixture(t, members)
	r := f.infer(t, "/v2/models/prod-rule/infer", onePassenger)
	if _, got := outputOf(t, r, "served_by"); got != `["canary-rule"]` {
		t.Errorf("served_by = %s, want canary-rule", got)
	}
}

func TestServer_InferOnAChallengerNameCallsThatModelAlone(t *testing.T) {
	f := newFixture(t, threeModels())
	r := f.infer(t, "/v2/models/dev-flip/infer", onePassenger)
	if r.ModelName != "dev-flip" {
		t.Errorf("model_name = %q", r.ModelName)
	}
	if _, got := outputOf(t, r, "class"); got != "[0]" {
		t.Errorf("class = %s, want the flipped rule's 0", got)
	}
	if _, got := outputOf(t, r, "served_by"); got != `["dev-flip"]` {
		t.Errorf("served_by = %s", got)
	}
	if n := len(f.records(t)); n != 0 {
		t.Errorf("a single-model call went through the rendezvous (%d records)", n)
	}
}

func TestServer_InferOnAVersionedPath(t *testing.T) {
	f := newFixture(t, threeModels())
	f.infer(t, "/v2/models/prod-rule/versions/1/infer", onePassenger)
	code, b := f.do(t, "POST", "/v2/models/prod-rule/versions/9/infer", onePassenger)
	if code != 404 || !strings.Contains(string(b), `no version \"9\"`) {
		t.Errorf("unknown version: %d %s", code, b)
	}
}

func TestServer_InferOnABatchAnswersEveryRowInOrder(t *testing.T) {
	f := newFixture(t, threeModels())
	r := f.infer(t, "/v2/models/prod-rule/infer", `{"inputs": [
		{"name": "pclass", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]},
		{"name": "sex", "shape": [3, 1], "datatype": "BYTES", "data": [["male"], ["female"], ["male"]]}],
		"outputs": [{"name": "class"}, {"name": "request_id"}]}`)
	if len(r.Outputs) != 2 {
		t.Fatalf("outputs = %+v, want only class and request_id", r.Outputs)
	}
	o, classes := outputOf(t, r, "class")
	if classes != "[0,1,0]" || !reflect.DeepEqual(o.Shape, []int64{3}) {
		t.Errorf("class = %s %v, want [0,1,0] [3]", classes, o.Shape)
	}
	var ids []string
	_, raw := outputOf(t, r, "request_id")
	json.Unmarshal([]byte(raw), &ids)
	if len(ids) != 3 || !strings.HasSuffix(ids[0], ".0") || !strings.HasSuffix(ids[2], ".2") {
		t.Errorf("request ids = %v", ids)
	}
	if n := len(f.records(t)); n != 3 {
		t.Errorf("recorded %d requests, want 3 (one per row)", n)
	}
}

func TestServer_BadRequestsAre400WithTheProblemNamed(t *testing.T) {
	f := newFixture(t, threeModels(), func(p *Params) { p.MaxBatch = 2 })
	sex := `{"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]}`
	pclass := `{"name": "pclass", "shape": [1], "datatype": "INT64", "data": [1]}`
	for _, tc := range []struct{ name, body, want string }{
		{"malformed JSON", `{"inputs": [`, "not an inference request"},
		{"inputs not a list", `{"inputs": {}}`, "not an inference request"},
		{"no inputs", `{"inputs": []}`, "inputs: at least one input tensor"},
		{"unnamed tensor", `{"inputs": [{"shape": [1], "datatype": "INT64", "data": [1]}]}`, "inputs[0].name: required"},
		{"duplicate tensor", `{"inputs": [` + sex + `,` + sex + `]}`, `inputs[1].name: tensor "sex" given twice`},
		{"matrix shape", `{"inputs": [{"name": "pclass", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}`, "want [N] or [N, 1]"},
		{"zero rows", `{"inputs": [{"name": "pclass", "shape": [0], "datatype": "INT64", "data": []}]}`, "has 0 rows"},
		{"batch too large", `{"inputs": [{"name": "pclass", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]}`, "want 1 to 2"},
		{"rows disagree", `{"inputs": [` + pclass + `, {"name": "sex", "shape": [2], "datatype": "BYTES", "data": ["male", "male"]}]}`, "earlier tensors have 1"},
		{"unknown datatype", `{"inputs": [{"name": "pclass", "shape": [1], "datatype": "INT128", "data": [1]}]}`, `unknown datatype "INT128"`},
		{"data disagrees with shape", `{"inputs": [{"name": "pclass", "shape": [2], "datatype": "INT64", "data": [1]}]}`, "1 elements for shape [2]"},
		{"string in a numeric tensor", `{"inputs": [{"name": "pclass", "shape": [1], "datatype": "INT64", "data": ["1"]}]}`, `inputs[0].data[0]: string "1" is not a INT64 element`},
		{"number in a BYTES tensor", `{"inputs": [{"name": "sex", "shape": [1], "datatype": "BYTES", "data": [1]}]}`, "is not a BYTES element"},
		{"missing required field", `{"inputs": [` + pclass + `]}`, "sex: required"},
		{"value not allowed", `{"inputs": [` + pclass + `, {"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}`, "sex:"},
		{"unknown field", `{"inputs": [` + pclass + `,` + sex + `, {"name": "deck", "shape": [1], "datatype": "BYTES", "data": ["C"]}]}`, "deck: unknown field"},
		{"batch row problem", `{"inputs": [{"name": "pclass", "shape": [2], "datatype": "INT64", "data": [1, 7]}, {"name": "sex", "shape": [2], "datatype": "BYTES", "data": ["male", "male"]}]}`, "row[1].pclass"},
		{"unknown output", `{"inputs": [` + pclass + `,` + sex + `], "outputs": [{"name": "logits"}]}`, `outputs[0].name: unknown output "logits"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := f.do(t, "POST", "/v2/models/prod-rule/infer", tc.body)
			var e specError
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Fatalf("body %s is not {\"error\": ...}", b)
			}
			if code != 400 || !strings.Contains(e.Error, tc.want) {
				t.Errorf("status %d error %q, want 400 mentioning %q", code, e.Error, tc.want)
			}
		})
	}
	n := len(f.rec.byStatus(record.RequestRejected, false))
	if n != 18 {
		t.Errorf("gateway archived %d rejected requests, want 18", n)
	}
	if n := len(f.records(t)); n != 0 {
		t.Errorf("%d bad requests were routed", n)
	}
}

func TestServer_BodyOverTheLimitIs413(t *testing.T) {
	f := newFixture(t, threeModels(), func(p *Params) { p.MaxBodyBytes = 64 })
	code, _ := f.do(t, "POST", "/v2/models/prod-rule/infer", onePassenger)
	if code != 413 {
		t.Errorf("status = %d, want 413", code)
	}
}

func TestServer_NoAnswerIs503(t *testing.T) {
	members := threeModels()
	for i := range members {
		members[i].Model = sexRule{name: members[i].Name, err: errors.New("down")}
	}
	f := newFixture(t, members)
	for _, path := range []string{"/v2/models/prod-rule/infer", "/v2/models/dev-flip/infer"} {
		code, b := f.do(t, "POST", path, onePassenger)
		if code != 503 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("POST %s: %d %s, want 503 with an error", path, code, b)
		}
	}
}

func TestServer_UnknownModelIs404OnEveryModelRoute(t *testing.T) {
	f := newFixture(t, threeModels())
	for _, rt := range []struct{ method, path string }{
		{"POST", "/v2/models/nope/infer"}, {"GET", "/v2/models/nope"}, {"GET", "/v2/models/nope/ready"},
		{"GET", "/v2/models/prod-rule/versions/2"}, {"GET", "/v2/models/prod-rule/versions/2/ready"},
	} {
		body := ""
		if rt.method == "POST" {
			body = onePassenger
		}
		code, b := f.do(t, rt.method, rt.path, body)
		if code != 404 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s %s: %d %s, want 404 with an error", rt.method, rt.path, code, b)
		}
	}
}

func TestServer_ModelMetadataDescribesTheSchemaAndOutputs(t *testing.T) {
	f := newFixture(t, threeModels())
	code, b := f.do(t, "GET", "/v2/models/dev-flip", "")
	if code != 200 {
		t.Fatalf("status %d: %s", code, b)
	}
	var md struct {
		Name     string       `json:"name"`
		Versions []string     `json:"versions"`
		Platform string       `json:"platform"`
		Inputs   []specTensor `json:"inputs"`
		Outputs  []specTensor `json:"outputs"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	if md.Name != "dev-flip" || !reflect.DeepEqual(md.Versions, []string{"1"}) || md.Platform != "rendezvous:rule" {
		t.Errorf("metadata = %s", b)
	}
	var ins []string
	for _, in := range md.Inputs {
		ins = append(ins, in.Name+":"+in.Datatype)
	}
	if want := []string{"pclass:INT64", "sex:BYTES", "age:FP64", "alone:BOOL"}; !reflect.DeepEqual(ins, want) {
		t.Errorf("inputs = %v, want %v", ins, want)
	}
	if len(md.Outputs) != 5 || md.Outputs[0].Name != "class" {
		t.Errorf("outputs = %+v", md.Outputs)
	}
	code, b = f.do(t, "GET", "/v2", "")
	if code != 200 || !strings.Contains(string(b), `"name":"rendezvous"`) || !strings.Contains(string(b), `"version":"test"`) {
		t.Errorf("GET /v2: %d %s", code, b)
	}
}

func TestServer_HealthAndReadiness(t *testing.T) {
	// The challenger is a remote model whose server is gone: after one
	// refused call its breaker is open and it is not ready.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	rm, err := remote.New(remote.Config{Name: "dev-remote", Protocol: remote.ProtocolOIPv2, URL: gone.URL,
		Fields: []remote.Field{{Name: "sex"}}, BreakerFailures: 1})
	if err != nil {
		t.Fatal(err)
	}
	members := append(threeModels(), rendezvous.Member{Name: "dev-remote", Role: model.RoleChallenger, Model: rm})
	var storeDown atomic.Bool
	f := newFixture(t, members, func(p *Params) {
		p.Ready = func(context.Context) error {
			if storeDown.Load() {
				return errors.New("store unreachable")
			}
			return nil
		}
	})
	check := func(path string, want int) {
		t.Helper()
		if code, b := f.do(t, "GET", path, ""); code != want {
			t.Errorf("GET %s = %d %s, want %d", path, code, b, want)
		}
	}
	check("/v2/health/live", 200)
	check("/v2/health/ready", 200)
	check("/v2/models/prod-rule/ready", 200)
	check("/v2/models/prod-rule/versions/1/ready", 200)
	check("/v2/models/dev-remote/ready", 400) // refused
	rm.Predict(context.Background(), schema.Input{"sex": "male"})
	if rm.State() != "open" {
		t.Fatalf("breaker state = %s", rm.State())
	}
	check("/v2/models/dev-remote/ready", 400)
	storeDown.Store(true)
	check("/v2/health/ready", 400)
	check("/v2/health/live", 200)
}

func TestServer_RemoteClientRoundTrip(t *testing.T) {
	// The gateway's own OIP v2 client, pointed at the gateway's OIP v2
	// server: the two sides agree on the protocol.
	f := newFixture(t, threeModels())
	rm, err := remote.New(remote.Config{Name: "via-oip", Protocol: remote.ProtocolOIPv2, URL: f.srv.URL, Model: "prod-rule",
		Fields:      []remote.Field{{Name: "pclass", Type: schema.TypeInteger}, {Name: "sex", Type: schema.TypeString}, {Name: "age", Type: schema.TypeNumber}},
		ClassOutput: "class", ProbabilityOutput: "probability", Labels: map[int]string{0: "Did Not Survive", 1: "Survived"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := rm.Predict(ctx, schema.Input{"pclass": 1.0, "sex": "female", "age": nil})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if p.Class != 1 || p.Probability != 0.74 || p.Label != "Survived" {
		t.Errorf("prediction = %+v", p)
	}
	if err := rm.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestNew_RequiresAGatewayWithAProductionMember(t *testing.T) {
	if _, err := New(Params{}); err == nil || !strings.Contains(err.Error(), "Gateway is required") {
		t.Errorf("err = %v", err)
	}
	_, err := gateway.NewDeployment(gateway.DeploymentParams{Members: threeModels()[1:], Validator: validator(t)})
	if err == nil || !strings.Contains(err.Error(), "no production model") {
		t.Errorf("err = %v", err)
	}
}

func TestServer_RoutesDocumentThemselvesInTheOpenAPIDocument(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Params{Gateway: newGateway(t, threeModels(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := api.OpenAPI(cfg, s.Routes()...)
	if err != nil {
		t.Fatalf("OpenAPI: %v", err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Parameters  []struct{ Name, In string } `json:"parameters"`
			RequestBody map[string]any              `json:"requestBody"`
			Responses   map[string]any              `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	infer := d.Paths["/v2/models/{name}/versions/{version}/infer"]["post"]
	if len(infer.Parameters) != 2 || infer.RequestBody == nil || infer.Responses["503"] == nil {
		t.Errorf("versioned infer operation = %+v", infer)
	}
	for _, p := range []string{"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready", "/v2/models/{name}/infer"} {
		if len(d.Paths[p]) == 0 {
			t.Errorf("path %s missing from the OpenAPI document", p)
		}
	}
}
