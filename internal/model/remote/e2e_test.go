package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func bundle(tb testing.TB, name string) *model.Bundle {
	tb.Helper()
	b, err := loadBundle(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func loadBundle(name string) (*model.Bundle, error) {
	data, err := titanic.FS.ReadFile("models/" + name + ".json")
	if err != nil {
		return nil, err
	}
	return model.LoadBytes(name, data)
}

var fields = []remote.Field{
	{Name: "pclass", Type: schema.TypeInteger}, {Name: "sex", Type: schema.TypeString},
	{Name: "age", Type: schema.TypeNumber}, {Name: "sibsp", Type: schema.TypeInteger},
	{Name: "parch", Type: schema.TypeInteger}, {Name: "fare", Type: schema.TypeNumber},
	{Name: "embarked", Type: schema.TypeString},
}

var labels = map[int]string{0: "Did Not Survive", 1: "Survived"}

// behaviour makes a test server slow or failing.
type behaviour struct {
	delay    time.Duration // sleep before answering (until the client goes)
	failEven bool          // answer 500 to every other request
}

// serveOIP serves b over OIP v2 REST: one tensor per field in, "predict"
// and "predict_proba" out. Written from the spec, apart from the client.
func serveOIP(tb testing.TB, b *model.Bundle, how behaviour) *httptest.Server {
	srv := httptest.NewServer(oipHandler(b, how))
	tb.Cleanup(srv.Close)
	return srv
}

func oipHandler(b *model.Bundle, how behaviour) http.Handler {
	var mu sync.Mutex
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Inputs []struct {
				Name string `json:"name"`
				Data []any  `json:"data"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad request"}`, 400)
			return
		}
		if !wait(r, how) {
			return
		}
		mu.Lock()
		n++
		fail := how.failEven && n%2 == 0
		mu.Unlock()
		if fail {
			http.Error(w, `{"error":"simulated"}`, 500)
			return
		}
		in := schema.Input{}
		for _, t := range req.Inputs {
			in[t.Name] = t.Data[0]
		}
		p, err := b.Predict(r.Context(), in)
		if err != nil {
			http.Error(w, `{"error":"predict"}`, 400)
			return
		}
		fmt.Fprintf(w, `{"model_name":%q,"outputs":[{"name":"predict","shape":[1],"datatype":"INT64","data":[%d]},`+
			`{"name":"predict_proba","shape":[1,2],"datatype":"FP64","data":[%s,%s]}]}`,
			b.Name, p.Class, strconv.FormatFloat(1-p.Probability, 'g', -1, 64), strconv.FormatFloat(p.Probability, 'g', -1, 64))
	})
}

// serveMLflow serves b like `mlflow models serve` for a classifier whose
// predict returns probabilities: dataframe_split in, {"predictions": [p]} out.
func serveMLflow(tb testing.TB, b *model.Bundle, how behaviour) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Split struct {
				Columns []string `json:"columns"`
				Data    [][]any  `json:"data"`
			} `json:"dataframe_split"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Split.Data) != 1 {
			http.Error(w, `{"error_code":"BAD_REQUEST"}`, 400)
			return
		}
		if !wait(r, how) {
			return
		}
		in := schema.Input{}
		for i, c := range req.Split.Columns {
			in[c] = req.Split.Data[0][i]
		}
		p, err := b.Predict(r.Context(), in)
		if err != nil {
			http.Error(w, `{"error_code":"BAD_REQUEST"}`, 400)
			return
		}
		fmt.Fprintf(w, `{"predictions": [%s]}`, strconv.FormatFloat(p.Probability, 'g', -1, 64))
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func wait(r *http.Request, how behaviour) bool {
	if how.delay <= 0 {
		return true
	}
	io.Copy(io.Discard, r.Body)
	select {
	case <-time.After(how.delay):
		return true
	case <-r.Context().Done():
		return false
	}
}

func newRemote(tb testing.TB, cfg remote.Config) *remote.Model {
	tb.Helper()
	cfg.Fields, cfg.Labels = fields, labels
	m, err := remote.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

func oipChallenger(tb testing.TB, name string, how behaviour) *remote.Model {
	b := bundle(tb, "dev-logreg")
	return newRemote(tb, remote.Config{Name: name, Protocol: remote.ProtocolOIPv2, URL: serveOIP(tb, b, how).URL,
		Model: b.Name, ClassOutput: "predict", ProbabilityOutput: "predict_proba"})
}

func mlflowChallenger(tb testing.TB, name string, how behaviour) *remote.Model {
	b := bundle(tb, "dev-logreg")
	return newRemote(tb, remote.Config{Name: name, Protocol: remote.ProtocolMLflow, URL: serveMLflow(tb, b, how).URL,
		ProbabilityOutput: "probability"})
}

var passenger = schema.Input{"pclass": 1.0, "sex": "female", "age": 38.0, "sibsp": 1.0, "parch": 0.0, "fare": 71.2833, "embarked": "C"}

// route runs one request and waits for its complete callback.
func route(t *testing.T, r *rendezvous.Router, in schema.Input) (rendezvous.Decision, []rendezvous.Result, error) {
	t.Helper()
	done := make(chan []rendezvous.Result, 1)
	dec, err := r.Route(context.Background(), in, func(_ rendezvous.Decision, res []rendezvous.Result) { done <- res })
	return dec, <-done, err
}

func TestEndToEnd_BuiltinProductionWithOIPAndMLflowChallengersAllRecorded(t *testing.T) {
	prod := bundle(t, "prod-gbt")
	r, err := rendezvous.New([]rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: prod, Deadline: 2 * time.Second},
		{Name: "dev-oip", Role: model.RoleChallenger, Model: oipChallenger(t, "dev-oip", behaviour{}), Deadline: 2 * time.Second},
		{Name: "dev-mlflow", Role: model.RoleChallenger, Model: mlflowChallenger(t, "dev-mlflow", behaviour{}), Deadline: 2 * time.Second},
	}, rendezvous.Policy{Fallback: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	dec, results, err := route(t, r, passenger)
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	want, _ := prod.Predict(context.Background(), passenger)
	if dec.ServedBy != "prod-gbt" || dec.Prediction.Class != want.Class {
		t.Errorf("decision = %+v", dec)
	}
	inProcess, _ := bundle(t, "dev-logreg").Predict(context.Background(), passenger)
	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	for _, res := range results {
		if res.Status != record.StatusOK {
			t.Errorf("%s: status %s (%v), want ok", res.Name, res.Status, res.Err)
			continue
		}
		if res.Name == "prod-gbt" {
			continue
		}
		p := res.Prediction
		if p.Class != inProcess.Class || math.Abs(p.Probability-inProcess.Probability) > 1e-12 || p.Label != inProcess.Label {
			t.Errorf("%s: %+v, want the logistic bundle's class %d probability %v", res.Name, p, inProcess.Class, inProcess.Probability)
		}
		if want := "remote:" + map[string]string{"dev-oip": "oip-v2", "dev-mlflow": "mlflow"}[res.Name]; res.Info.Algorithm != want {
			t.Errorf("%s: algorithm %q, want %q", res.Name, res.Info.Algorithm, want)
		}
	}
}

func TestEndToEnd_SleepingChallengerIsRecordedAsTimeoutAndDoesNotDelayTheAnswer(t *testing.T) {
	r, err := rendezvous.New([]rendezvous.Member{
		{Name: "prod-gbt", Role: model.RoleProduction, Model: bundle(t, "prod-gbt"), Deadline: time.Second},
		{Name: "dev-slow", Role: model.RoleChallenger, Model: oipChallenger(t, "dev-slow", behaviour{delay: time.Minute}), Deadline: 50 * time.Millisecond},
	}, rendezvous.Policy{Fallback: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dec, results, err := route(t, r, passenger)
	if err != nil || dec.ServedBy != "prod-gbt" {
		t.Fatalf("decision %+v, err %v", dec, err)
	}
	slow := results[1]
	// The challenger is cut at its 50 ms deadline; had Route waited for
	// it, the decision would come after that.
	if dec.Latency >= slow.Latency {
		t.Errorf("decision took %v, the challenger %v: the slow challenger delayed it", dec.Latency, slow.Latency)
	}
	if slow.Status != record.StatusTimeout || remote.KindOf(slow.Err) != remote.KindTimeout {
		t.Errorf("slow challenger: status %s err %v, want timeout", slow.Status, slow.Err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the request's recording took %v; the challenger was not cut at its 50ms deadline", d)
	}
}

func TestEndToEnd_SleepingRemoteProductionFallsBackToTheCanary(t *testing.T) {
	r, err := rendezvous.New([]rendezvous.Member{
		{Name: "prod-remote", Role: model.RoleProduction, Model: oipChallenger(t, "prod-remote", behaviour{delay: time.Minute}), Deadline: 50 * time.Millisecond},
		{Name: "canary-rule", Role: model.RoleCanary, Model: bundle(t, "canary-rule"), Deadline: 50 * time.Millisecond},
	}, rendezvous.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	dec, results, err := route(t, r, passenger)
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	if dec.ServedBy != "canary-rule" || !dec.Fallback {
		t.Errorf("decision = %+v, want a fallback to canary-rule", dec)
	}
	if dec.Latency > time.Second {
		t.Errorf("fallback took %v", dec.Latency)
	}
	if results[0].Status != record.StatusTimeout || remote.KindOf(results[0].Err) != remote.KindTimeout {
		t.Errorf("production: status %s err %v, want timeout", results[0].Status, results[0].Err)
	}
}
