package remote

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/breaker"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

var titanicFields = []Field{
	{Name: "pclass", Type: schema.TypeInteger},
	{Name: "sex", Type: schema.TypeString},
	{Name: "age", Type: schema.TypeNumber},
	{Name: "alone", Type: schema.TypeBoolean},
}

var words = map[int]string{0: "Did Not Survive", 1: "Survived"}

func passenger() schema.Input {
	return schema.Input{"pclass": 3.0, "sex": "male", "age": 34.5, "alone": true}
}

// sexTransformer is a tiny real pipeline: pclass as is, sex one-hot, age
// imputed with 30.
type sexTransformer struct{}

var sexFeatureNames = []string{"pclass", "male", "age"}

func (sexTransformer) Transform(in schema.Input) (model.Features, error) {
	pclass, ok := in.Float("pclass")
	if !ok {
		return model.Features{}, errors.New("pclass: missing")
	}
	male := 0.0
	if s, _ := in.String("sex"); s == "male" {
		male = 1
	}
	age, ok := in.Float("age")
	if !ok {
		age = 30
	}
	return model.Features{Names: sexFeatureNames, Values: []float64{pclass, male, age}}, nil
}

// oipTestRequest is the request as an OIP v2 server reads it.
type oipTestRequest struct {
	ID     string `json:"id"`
	Inputs []struct {
		Name     string          `json:"name"`
		Shape    []int           `json:"shape"`
		Datatype string          `json:"datatype"`
		Data     json.RawMessage `json:"data"`
	} `json:"inputs"`
}

// captured is what a test server saw.
type captured struct {
	mu     sync.Mutex
	path   string
	header http.Header
	body   []byte
	calls  int
}

func (c *captured) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.path, c.header, c.body = r.URL.Path, r.Header.Clone(), b
	c.calls++
	c.mu.Unlock()
}

func (c *captured) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// serveJSON starts a server answering every request with status and body.
func serveJSON(t *testing.T, status int, body string) (*httptest.Server, *captured) {
	t.Helper()
	c := &captured{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.record(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

func newModel(t *testing.T, cfg Config) *Model {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "dev-remote"
	}
	if cfg.Protocol == "" {
		cfg.Protocol = ProtocolOIPv2
	}
	if cfg.Fields == nil && cfg.Transformer == nil {
		cfg.Fields = titanicFields
	}
	if cfg.Labels == nil {
		cfg.Labels = words
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

func wantKind(t *testing.T, err error, k Kind) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want a %s error", k)
	}
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *remote.Error", err, err)
	}
	if re.Kind != k {
		t.Fatalf("kind = %s, want %s (err: %v)", re.Kind, k, err)
	}
	if !strings.Contains(err.Error(), string(k)) {
		t.Fatalf("error text %q does not name its kind %s", err, k)
	}
	return re
}

func TestModel_OIPv2SendsOneTensorPerFieldAndReadsClassAndProbability(t *testing.T) {
	srv, got := serveJSON(t, 200, `{"model_name":"titanic","model_version":"3","outputs":[
		{"name":"predict","shape":[1],"datatype":"INT64","data":[1]},
		{"name":"predict_proba","shape":[1,2],"datatype":"FP64","data":[0.2,0.8]}]}`)
	m := newModel(t, Config{URL: srv.URL, Model: "titanic", ClassOutput: "predict", ProbabilityOutput: "predict_proba"})

	p, err := m.Predict(context.Background(), passenger())
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if p.Class != 1 || p.Probability != 0.8 || p.Label != "Survived" {
		t.Errorf("prediction = %+v, want class 1, probability 0.8, label Survived", p)
	}
	if p.Features.Len() != 0 {
		t.Errorf("raw input model returned features %v", p.Features)
	}
	if got.path != "/v2/models/titanic/infer" {
		t.Errorf("path = %q", got.path)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var req oipTestRequest
	if err := json.Unmarshal(got.body, &req); err != nil {
		t.Fatalf("request body %s: %v", got.body, err)
	}
	type tensor struct{ name, datatype, data string }
	want := []tensor{{"pclass", "INT64", "[3]"}, {"sex", "BYTES", `["male"]`}, {"age", "FP64", "[34.5]"}, {"alone", "BOOL", "[true]"}}
	if len(req.Inputs) != len(want) {
		t.Fatalf("inputs = %s, want %d tensors", got.body, len(want))
	}
	for i, w := range want {
		in := req.Inputs[i]
		if in.Name != w.name || in.Datatype != w.datatype || string(in.Data) != w.data || !reflect.DeepEqual(in.Shape, []int{1}) {
			t.Errorf("inputs[%d] = {%s %v %s %s}, want {%s [1] %s %s}", i, in.Name, in.Shape, in.Datatype, in.Data, w.name, w.datatype, w.data)
		}
	}
}

func TestModel_OIPv2WithPipelineSendsOneFeatureTensorAndReturnsTheFeatures(t *testing.T) {
	srv, got := serveJSON(t, 200, `{"outputs":[{"name":"output-0","shape":[1,1],"datatype":"FP32","data":[[0.25]]}]}`)
	m := newModel(t, Config{URL: srv.URL, Model: "lr", Version: "7", Transformer: sexTransformer{}, TensorDatatype: "FP32"})

	p, err := m.Predict(context.Background(), schema.Input{"pclass": 1.0, "sex": "female", "age": nil})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if p.Class != 0 || p.Probability != 0.25 || p.Label != "Did Not Survive" {
		t.Errorf("prediction = %+v, want class 0 (0.25 < 0.5), probability 0.25", p)
	}
	if !reflect.DeepEqual(p.Features.Map(), map[string]float64{"pclass": 1, "male": 0, "age": 30}) {
		t.Errorf("features = %v", p.Features.Map())
	}
	if got.path != "/v2/models/lr/versions/7/infer" {
		t.Errorf("path = %q", got.path)
	}
	const wantBody = `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[1,0,30]}]}`
	if string(got.body) != wantBody {
		t.Errorf("body = %s\nwant   %s", got.body, wantBody)
	}
}

func TestModel_OIPv2ReadsOutputs(t *testing.T) {
	for _, tc := range []struct {
		name        string
		class, prob string // configured output names
		outputs     string
		wantClass   int
		wantProb    float64
		wantErr     string // substring of a bad_payload error
	}{
		{name: "first output integer is a class", outputs: `[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}]`, wantClass: 1, wantProb: 1},
		{name: "first output float is a probability", outputs: `[{"name":"o","shape":[1],"datatype":"FP64","data":[0.7]}]`, wantClass: 1, wantProb: 0.7},
		{name: "two-class probabilities [1,2]", outputs: `[{"name":"o","shape":[1,2],"datatype":"FP32","data":[0.9,0.1]}]`, wantClass: 0, wantProb: 0.1},
		{name: "two-class probabilities nested", outputs: `[{"name":"o","shape":[1,2],"datatype":"FP64","data":[[0.4,0.6]]}]`, wantClass: 1, wantProb: 0.6},
		{name: "two-class probabilities [2]", outputs: `[{"name":"o","shape":[2],"datatype":"FP64","data":[0.4,0.6]}]`, wantClass: 1, wantProb: 0.6},
		{name: "class as label word", class: "label", outputs: `[{"name":"label","shape":[1],"datatype":"BYTES","data":["Survived"]}]`, wantClass: 1, wantProb: 1},
		{name: "class as numeric string", class: "label", outputs: `[{"name":"label","shape":[1,1],"datatype":"BYTES","data":["0"]}]`, wantClass: 0, wantProb: 0},
		{name: "class as bool", class: "c", outputs: `[{"name":"c","shape":[1],"datatype":"BOOL","data":[true]}]`, wantClass: 1, wantProb: 1},
		{name: "named outputs in any order", class: "c", prob: "p", outputs: `[{"name":"p","shape":[1],"datatype":"FP64","data":[0.45]},{"name":"c","shape":[1],"datatype":"INT32","data":[1]}]`, wantClass: 1, wantProb: 0.45},
		{name: "missing named output", prob: "proba", outputs: `[{"name":"o","shape":[1],"datatype":"FP64","data":[0.7]}]`, wantErr: `no output "proba"`},
		{name: "batch of two rows", outputs: `[{"name":"o","shape":[2,1],"datatype":"INT64","data":[1,0]}]`, wantErr: "shape [2 1]"},
		{name: "shape disagrees with data", outputs: `[{"name":"o","shape":[1],"datatype":"INT64","data":[1,0]}]`, wantErr: "but 2 data elements"},
		{name: "three probabilities", outputs: `[{"name":"o","shape":[1,3],"datatype":"FP64","data":[0.2,0.3,0.5]}]`, wantErr: "got 3 values"},
		{name: "probability out of range", outputs: `[{"name":"o","shape":[1],"datatype":"FP64","data":[1.5]}]`, wantErr: "not in [0, 1]"},
		{name: "fractional class", class: "c", outputs: `[{"name":"c","shape":[1],"datatype":"FP64","data":[0.5]}]`, wantErr: "neither an integer"},
		{name: "no outputs", outputs: `[]`, wantErr: "no outputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serveJSON(t, 200, `{"model_name":"m","outputs":`+tc.outputs+`}`)
			m := newModel(t, Config{URL: srv.URL, ClassOutput: tc.class, ProbabilityOutput: tc.prob})
			p, err := m.Predict(context.Background(), passenger())
			if tc.wantErr != "" {
				wantKind(t, err, KindBadPayload)
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			if p.Class != tc.wantClass || p.Probability != tc.wantProb {
				t.Errorf("class, probability = %d, %v; want %d, %v", p.Class, p.Probability, tc.wantClass, tc.wantProb)
			}
			if p.Label != words[p.Class] {
				t.Errorf("label = %q, want %q", p.Label, words[p.Class])
			}
		})
	}
}

func TestModel_MLflowSendsDataframeSplitAndReadsPredictions(t *testing.T) {
	srv, got := serveJSON(t, 200, `{"predictions": [1]}`)
	m := newModel(t, Config{Protocol: ProtocolMLflow, URL: srv.URL + "/"})

	p, err := m.Predict(context.Background(), schema.Input{"pclass": 1.0, "sex": "female", "age": nil, "alone": false})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if p.Class != 1 || p.Label != "Survived" {
		t.Errorf("prediction = %+v", p)
	}
	if got.path != "/invocations" {
		t.Errorf("path = %q, want /invocations", got.path)
	}
	const wantBody = `{"dataframe_split":{"columns":["pclass","sex","age","alone"],"data":[[1,"female",null,false]]}}`
	if string(got.body) != wantBody {
		t.Errorf("body = %s\nwant   %s", got.body, wantBody)
	}
}

func TestModel_MLflowReadsPredictionForms(t *testing.T) {
	for _, tc := range []struct {
		name        string
		class, prob string
		body        string
		wantClass   int
		wantProb    float64
		wantErr     string
	}{
		{name: "class list", body: `{"predictions":[0]}`, wantClass: 0, wantProb: 0},
		{name: "fraction is a probability", body: `{"predictions":[0.62]}`, wantClass: 1, wantProb: 0.62},
		{name: "configured probability list", prob: "p", body: `{"predictions":[0]}`, wantClass: 0, wantProb: 0},
		{name: "list of [p0,p1]", body: `{"predictions":[[0.3,0.7]]}`, wantClass: 1, wantProb: 0.7},
		{name: "bare list (MLflow 1.x)", body: `[1]`, wantClass: 1, wantProb: 1},
		{name: "list of dicts default keys", body: `{"predictions":[{"prediction":1,"probability":0.9}]}`, wantClass: 1, wantProb: 0.9},
		{name: "list of dicts configured keys", class: "survived", prob: "proba", body: `{"predictions":[{"survived":"Did Not Survive","proba":[0.8,0.2]}]}`, wantClass: 0, wantProb: 0.2},
		{name: "dict probability only", prob: "score", body: `{"predictions":[{"score":0.55}]}`, wantClass: 1, wantProb: 0.55},
		{name: "dict missing configured key", class: "c", body: `{"predictions":[{"prediction":1}]}`, wantErr: `no key "c"`},
		{name: "dict without known keys", body: `{"predictions":[{"x":1}]}`, wantErr: "neither"},
		{name: "no predictions key", body: `{"outputs":[1]}`, wantErr: `no "predictions"`},
		{name: "predictions not a list", body: `{"predictions":1}`, wantErr: "want a list"},
		{name: "two rows", body: `{"predictions":[1,0]}`, wantErr: "want 1 row"},
		{name: "malformed JSON", body: `{"predictions":[1`, wantErr: "decode invocations response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serveJSON(t, 200, tc.body)
			m := newModel(t, Config{Protocol: ProtocolMLflow, URL: srv.URL, ClassOutput: tc.class, ProbabilityOutput: tc.prob})
			p, err := m.Predict(context.Background(), passenger())
			if tc.wantErr != "" {
				wantKind(t, err, KindBadPayload)
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			if p.Class != tc.wantClass || p.Probability != tc.wantProb {
				t.Errorf("class, probability = %d, %v; want %d, %v", p.Class, p.Probability, tc.wantClass, tc.wantProb)
			}
		})
	}
}

func TestModel_RemoteSleepingPastTheDeadlineIsATimeoutAtTheDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := newModel(t, Config{URL: srv.URL})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Predict(ctx, passenger())
	elapsed := time.Since(start)
	wantKind(t, err, KindTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
	}
	if elapsed > time.Second {
		t.Errorf("Predict returned after %v, want about the 50ms deadline", elapsed)
	}
}

func TestModel_AbandonedRequestClosesItsConnectionAndNeverStallsTheNext(t *testing.T) {
	var n atomic.Int32
	firstGone := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a closed connection only once the body is read
		if n.Add(1) == 1 {
			// Request 1 sleeps past its deadline. It ends only when the
			// client closes its connection (or the test ends).
			select {
			case <-r.Context().Done():
				close(firstGone)
			case <-release:
			}
			return
		}
		io.WriteString(w, `{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}]}`)
	}))
	defer srv.Close()
	defer close(release)
	// One idle connection at most: if request 1's connection were kept,
	// request 2 would be queued behind it.
	m := newModel(t, Config{URL: srv.URL, MaxIdleConnsPerHost: 1})

	ctx1, cancel1 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel1()
	_, err := m.Predict(ctx1, passenger())
	wantKind(t, err, KindTimeout)

	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	start := time.Now()
	p, err := m.Predict(ctx2, passenger())
	if err != nil {
		t.Fatalf("request 2: %v", err)
	}
	if p.Class != 1 {
		t.Errorf("request 2 class = %d", p.Class)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("request 2 took %v: it waited for request 1", d)
	}
	select {
	case <-firstGone:
	case <-ctx2.Done():
		t.Fatal("the abandoned request's connection was not closed: its handler never saw the client go")
	}
}

func TestModel_ClassifiesFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name    string
		url     func(t *testing.T) string
		kind    Kind
		status  int
		outcome breaker.Outcome
	}{
		{name: "500", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 500, `{"error":"model crashed"}`)
			return s.URL
		}, kind: KindHTTP5xx, status: 500, outcome: breaker.Failure},
		{name: "503", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 503, ``)
			return s.URL
		}, kind: KindHTTP5xx, status: 503, outcome: breaker.Failure},
		{name: "400", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 400, `{"error":"bad input"}`)
			return s.URL
		}, kind: KindHTTP4xx, status: 400, outcome: breaker.Success},
		{name: "429", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 429, ``)
			return s.URL
		}, kind: KindHTTP4xx, status: 429, outcome: breaker.Failure},
		{name: "redirect", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 307, ``)
			return s.URL
		}, kind: KindBadPayload, status: 307, outcome: breaker.Failure},
		{name: "malformed JSON", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 200, `{"outputs":[{"name":`)
			return s.URL
		}, kind: KindBadPayload, status: 200, outcome: breaker.Failure},
		{name: "HTML instead of JSON", url: func(t *testing.T) string {
			s, _ := serveJSON(t, 200, `<html>gateway</html>`)
			return s.URL
		}, kind: KindBadPayload, status: 200, outcome: breaker.Failure},
		{name: "connection refused", url: func(t *testing.T) string { return closedURL }, kind: KindRefused, outcome: breaker.Failure},
		{name: "connection closed before the response", url: func(t *testing.T) string {
			return hijacker(t, "")
		}, kind: KindConnection, outcome: breaker.Failure},
		{name: "connection closed mid-response", url: func(t *testing.T) string {
			return hijacker(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"outputs\":[")
		}, kind: KindConnection, outcome: breaker.Failure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, Config{URL: tc.url(t)})
			_, err := m.Predict(context.Background(), passenger())
			re := wantKind(t, err, tc.kind)
			if re.StatusCode != tc.status {
				t.Errorf("StatusCode = %d, want %d", re.StatusCode, tc.status)
			}
			if got := breakerOutcome(re); got != tc.outcome {
				t.Errorf("breaker outcome = %d, want %d", got, tc.outcome)
			}
		})
	}
}

// hijacker starts a server that writes partial (raw) and closes the
// connection.
func hijacker(t *testing.T, partial string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		buf.WriteString(partial)
		buf.Flush()
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestModel_HeadersFromTheEnvironmentAreSentAndRedactedFromErrors(t *testing.T) {
	const secret = "Bearer s3cret-token-value"
	t.Setenv("RENDEZVOUS_TEST_TOKEN", secret)
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("X-Team"))
		// A badly behaved server echoes the credentials in its error.
		w.WriteHeader(401)
		_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		io.WriteString(w, `{"error":"header `+r.Header.Get("Authorization")+` rejected, token `+token+` expired"}`)
	}))
	defer srv.Close()
	m := newModel(t, Config{URL: srv.URL, Headers: map[string]string{"Authorization": "env:RENDEZVOUS_TEST_TOKEN", "X-Team": "fraud"}})

	_, err := m.Predict(context.Background(), passenger())
	wantKind(t, err, KindHTTP4xx)
	if got := seen.Load(); got != secret+"|fraud" {
		t.Errorf("server saw headers %q", got)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the header value: %v", err)
	}
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error %q lost the rest of the server's message", err)
	}
	if strings.Contains(m.Info().Artifact, "s3cret") {
		t.Errorf("artifact leaks the header value")
	}
}

func TestNew_RejectsBadConfigNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Protocol: ProtocolOIPv2, URL: "http://x", Fields: titanicFields}, "name: required"},
		{"unknown protocol", Config{Name: "m", Protocol: "grpc", URL: "http://x", Fields: titanicFields}, `protocol: "grpc"`},
		{"no url", Config{Name: "m", Protocol: ProtocolMLflow, Fields: titanicFields}, "url: required"},
		{"bad url", Config{Name: "m", Protocol: ProtocolMLflow, URL: "ftp://x", Fields: titanicFields}, "url: want an http"},
		{"no fields and no pipeline", Config{Name: "m", Protocol: ProtocolOIPv2, URL: "http://x"}, "fields: required"},
		{"duplicate field", Config{Name: "m", Protocol: ProtocolOIPv2, URL: "http://x", Fields: []Field{{Name: "a"}, {Name: "a"}}}, `fields[1].name: duplicate "a"`},
		{"string in tensor", Config{Name: "m", Protocol: ProtocolOIPv2, URL: "http://x", Fields: titanicFields, Layout: LayoutTensor}, `string field "sex"`},
		{"bad datatype", Config{Name: "m", Protocol: ProtocolOIPv2, URL: "http://x", Fields: titanicFields, TensorDatatype: "INT8"}, "tensor_datatype"},
		{"bad threshold", Config{Name: "m", Protocol: ProtocolOIPv2, URL: "http://x", Fields: titanicFields, Threshold: 2}, "threshold"},
		{"unset env header", Config{Name: "m", Protocol: ProtocolOIPv2, URL: "http://x", Fields: titanicFields, Headers: map[string]string{"Authorization": "env:RENDEZVOUS_TEST_UNSET_VAR"}}, "headers.Authorization: environment variable RENDEZVOUS_TEST_UNSET_VAR is unset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestModel_MissingValueInANumericTensorIsBadInputAndNotSent(t *testing.T) {
	srv, got := serveJSON(t, 200, `{}`)
	m := newModel(t, Config{URL: srv.URL, Layout: LayoutTensor, Fields: []Field{{Name: "age", Type: schema.TypeNumber}}})
	_, err := m.Predict(context.Background(), schema.Input{"age": nil})
	wantKind(t, err, KindBadInput)
	if got.Calls() != 0 {
		t.Errorf("the remote was called %d times", got.Calls())
	}
}

func TestModel_PipelineErrorIsBadInput(t *testing.T) {
	srv, got := serveJSON(t, 200, `{}`)
	m := newModel(t, Config{URL: srv.URL, Transformer: sexTransformer{}})
	_, err := m.Predict(context.Background(), schema.Input{"sex": "male"})
	wantKind(t, err, KindBadInput)
	if got.Calls() != 0 {
		t.Errorf("the remote was called %d times", got.Calls())
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestModel_BreakerOpensAfterConsecutiveFailuresAndClosesAfterAProbe(t *testing.T) {
	var healthy atomic.Bool
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, `{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[0]}]}`)
	}))
	defer srv.Close()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := newModel(t, Config{URL: srv.URL, BreakerFailures: 3, BreakerCooldown: 30 * time.Second, Now: clk.Now})
	ctx := context.Background()

	for i := range 3 {
		if got := m.State(); got != "closed" {
			t.Fatalf("before failure %d state = %q, want closed", i+1, got)
		}
		_, err := m.Predict(ctx, passenger())
		wantKind(t, err, KindHTTP5xx)
	}
	if got := m.State(); got != "open" {
		t.Fatalf("after 3 failures state = %q, want open", got)
	}
	_, err := m.Predict(ctx, passenger())
	wantKind(t, err, KindCircuitOpen)
	if !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("errors.Is(err, breaker.ErrOpen) = false")
	}
	if !errors.Is(err, model.ErrDeclined) {
		t.Errorf("errors.Is(err, model.ErrDeclined) = false: the router would record an error, not skipped")
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("remote called %d times, want 3 (not while open)", got)
	}

	clk.Advance(30 * time.Second)
	if got := m.State(); got != "half-open" {
		t.Fatalf("after cooldown state = %q, want half-open", got)
	}
	_, err = m.Predict(ctx, passenger()) // the probe fails: open again
	wantKind(t, err, KindHTTP5xx)
	if got := m.State(); got != "open" {
		t.Fatalf("after failed probe state = %q, want open", got)
	}

	clk.Advance(30 * time.Second)
	healthy.Store(true)
	if _, err := m.Predict(ctx, passenger()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := m.State(); got != "closed" {
		t.Fatalf("after successful probe state = %q, want closed", got)
	}
	if got := calls.Load(); got != 5 {
		t.Errorf("remote called %d times, want 5", got)
	}
}

func TestModel_TimeoutsOpenTheBreaker(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := newModel(t, Config{URL: srv.URL, BreakerFailures: 2})
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := m.Predict(ctx, passenger())
		cancel()
		wantKind(t, err, KindTimeout)
	}
	start := time.Now()
	_, err := m.Predict(context.Background(), passenger())
	wantKind(t, err, KindCircuitOpen)
	if d := time.Since(start); d > time.Second {
		t.Errorf("circuit_open took %v, want immediate (no call, no wait)", d)
	}
}

func TestModel_CallerCancellationIsNotAFailure(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a closed connection only once the body is read
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	m := newModel(t, Config{URL: srv.URL, BreakerFailures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := m.Predict(ctx, passenger())
	wantKind(t, err, KindCanceled)
	if got := m.State(); got != "closed" {
		t.Errorf("state = %q after a cancelled call, want closed", got)
	}
}

func TestModel_Ready(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.Method + " " + r.URL.Path)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	ctx := context.Background()

	oip := newModel(t, Config{URL: srv.URL, Model: "titanic", Version: "2"})
	if err := oip.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := path.Load(); got != "GET /v2/models/titanic/versions/2/ready" {
		t.Errorf("ready request = %q", got)
	}
	status.Store(503)
	wantKind(t, oip.Ready(ctx), KindHTTP5xx)

	status.Store(200)
	mlf := newModel(t, Config{Protocol: ProtocolMLflow, URL: srv.URL})
	if err := mlf.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := path.Load(); got != "GET /ping" {
		t.Errorf("ready request = %q", got)
	}
}

func TestModel_InfoNamesProtocolAndEndpointWithoutCredentials(t *testing.T) {
	m := newModel(t, Config{URL: "http://user:pw@127.0.0.1:9/base?key=k", Model: "m/1"})
	info := m.Info()
	want := model.Info{Name: "dev-remote", Version: "remote", Algorithm: "remote:oip-v2", Artifact: "oip-v2:http://127.0.0.1:9/base/v2/models/m%2F1/infer"}
	if info != want {
		t.Errorf("Info = %+v\nwant   %+v", info, want)
	}
}

func TestModel_ResponseBodyIsBounded(t *testing.T) {
	big := `{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}],"pad":"` + strings.Repeat("x", 2048) + `"}`
	srv, _ := serveJSON(t, 200, big)
	m := newModel(t, Config{URL: srv.URL, MaxResponseBytes: 1024})
	_, err := m.Predict(context.Background(), passenger())
	wantKind(t, err, KindBadPayload)
}

// Compile-time checks: a Model is a model.Model with a state.
var (
	_ model.Model                 = (*Model)(nil)
	_ interface{ State() string } = (*Model)(nil)
)

func TestModel_SequentialCallsReuseOneKeptAliveConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Padding past the client's first read, so reuse depends on the
		// client reading the body to the end.
		io.WriteString(w, `{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}],"pad":"`+strings.Repeat("x", 8192)+`"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	m := newModel(t, Config{URL: srv.URL})
	for i := range 10 {
		if _, err := m.Predict(context.Background(), passenger()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("10 sequential calls opened %d connections, want 1", got)
	}
}

func TestModel_EveryAbandonedCallClosesItsConnection(t *testing.T) {
	var opened, closed atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	allClosed := make(chan struct{})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			if closed.Add(1) == 5 {
				close(allClosed)
			}
		}
	}
	srv.Start()
	defer srv.Close()
	defer close(release)
	m := newModel(t, Config{URL: srv.URL, BreakerFailures: 100})
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := m.Predict(ctx, passenger())
		cancel()
		wantKind(t, err, KindTimeout)
	}
	select {
	case <-allClosed:
	case <-time.After(10 * time.Second): // a bound on a wait for events, not a synchronisation sleep
		t.Fatalf("%d of 5 abandoned connections closed", closed.Load())
	}
	if got := opened.Load(); got != 5 {
		t.Errorf("5 abandoned calls opened %d connections, want 5 (none reused)", got)
	}
}

func TestModel_ASecretCutByTheErrorExcerptDoesNotLeakInPart(t *testing.T) {
	const token = "tok-0123456789abcdef"
	t.Setenv("RENDEZVOUS_TEST_TOKEN", token)
	// The token straddles byte 200 of the body, where the excerpt is cut.
	srv, _ := serveJSON(t, 500, strings.Repeat("x", 190)+token+strings.Repeat("y", 50))
	m := newModel(t, Config{URL: srv.URL, Headers: map[string]string{"X-Api-Key": "env:RENDEZVOUS_TEST_TOKEN"}})
	_, err := m.Predict(context.Background(), passenger())
	wantKind(t, err, KindHTTP5xx)
	if strings.Contains(err.Error(), "tok-0123") {
		t.Errorf("error leaks part of the header value: %v", err)
	}
}
