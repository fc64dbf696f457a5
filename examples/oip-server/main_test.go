package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model/remote"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func newServer(t *testing.T, s *server) *httptest.Server {
	t.Helper()
	b, err := loadBundle("")
	if err != nil {
		t.Fatal(err)
	}
	s.bundle, s.name = b, b.Name
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	return srv
}

func remoteFor(t *testing.T, url string, fields []remote.Field) *remote.Model {
	t.Helper()
	m, err := remote.New(remote.Config{
		Name: "dev-remote", Protocol: remote.ProtocolOIPv2, URL: url, Model: "dev-logreg",
		Fields: fields, ClassOutput: "predict", ProbabilityOutput: "predict_proba",
		Labels: map[int]string{0: "Did Not Survive", 1: "Survived"}, BreakerFailures: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

var titanicFields = []remote.Field{
	{Name: "pclass", Type: schema.TypeInteger}, {Name: "sex", Type: schema.TypeString},
	{Name: "age", Type: schema.TypeNumber}, {Name: "sibsp", Type: schema.TypeInteger},
	{Name: "parch", Type: schema.TypeInteger}, {Name: "fare", Type: schema.TypeNumber},
	{Name: "embarked", Type: schema.TypeString},
}

func TestExampleServer_AnswersTheGatewaysClientLikeTheBundleInProcess(t *testing.T) {
	srv := newServer(t, &server{})
	m := remoteFor(t, srv.URL, titanicFields)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	b, _ := loadBundle("")
	for _, in := range []schema.Input{
		{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"},
		{"pclass": 1.0, "sex": "female", "age": 38.0, "sibsp": 1.0, "parch": 0.0, "fare": 71.2833, "embarked": "C"},
		{"pclass": 2.0, "sex": "female", "age": nil, "sibsp": 0.0, "parch": 0.0, "fare": nil, "embarked": nil},
	} {
		got, err := m.Predict(ctx, in)
		if err != nil {
			t.Fatalf("Predict(%v): %v", in, err)
		}
		want, err := b.Predict(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Class != want.Class || got.Label != want.Label || abs(got.Probability-want.Probability) > 1e-12 {
			t.Errorf("remote %+v, in-process class %d label %q probability %v", got, want.Class, want.Label, want.Probability)
		}
	}
}

func TestExampleServer_DelayPastTheDeadlineIsATimeout(t *testing.T) {
	srv := newServer(t, &server{delay: time.Minute})
	m := remoteFor(t, srv.URL, titanicFields)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := m.Predict(ctx, schema.Input{"pclass": 3.0, "sex": "male"})
	if remote.KindOf(err) != remote.KindTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestExampleServer_FailRateOneOpensTheBreaker(t *testing.T) {
	srv := newServer(t, &server{failRate: 1})
	m := remoteFor(t, srv.URL, titanicFields)
	for range 2 {
		_, err := m.Predict(context.Background(), schema.Input{"pclass": 3.0, "sex": "male"})
		if remote.KindOf(err) != remote.KindHTTP5xx {
			t.Fatalf("err = %v, want http_5xx", err)
		}
	}
	_, err := m.Predict(context.Background(), schema.Input{"pclass": 3.0, "sex": "male"})
	if remote.KindOf(err) != remote.KindCircuitOpen || m.State() != "open" {
		t.Fatalf("err = %v state %s, want circuit_open", err, m.State())
	}
}

func TestExampleServer_UnknownModelIs404(t *testing.T) {
	srv := newServer(t, &server{})
	m, err := remote.New(remote.Config{Name: "x", Protocol: remote.ProtocolOIPv2, URL: srv.URL, Model: "other", Fields: titanicFields})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Predict(context.Background(), schema.Input{"pclass": 3.0, "sex": "male"})
	if remote.KindOf(err) != remote.KindHTTP4xx || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want http_4xx 404", err)
	}
}

func TestRun_RejectsABadFailRate(t *testing.T) {
	if err := run([]string{"-fail-rate", "2"}); err == nil || !strings.Contains(err.Error(), "-fail-rate") {
		t.Fatalf("err = %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestExampleServer_SpeaksMLflowToo(t *testing.T) {
	b, _ := loadBundle("")
	in := schema.Input{"pclass": 1.0, "sex": "female", "age": 38.0, "sibsp": 1.0, "parch": 0.0, "fare": 71.2833, "embarked": "C"}
	want, _ := b.Predict(context.Background(), in)
	for _, tc := range []struct {
		out  string
		prob string // probability_output for the client
		p    float64
	}{
		{"class", "", float64(want.Class)},
		{"probability", "probability", want.Probability},
		{"both", "", want.Probability},
	} {
		t.Run(tc.out, func(t *testing.T) {
			srv := newServer(t, &server{mlflowOut: tc.out})
			m, err := remote.New(remote.Config{Name: "dev-mlflow", Protocol: remote.ProtocolMLflow, URL: srv.URL,
				Fields: titanicFields, ProbabilityOutput: tc.prob})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := m.Ready(ctx); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			got, err := m.Predict(ctx, in)
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			if got.Class != want.Class || abs(got.Probability-tc.p) > 1e-12 {
				t.Errorf("got class %d probability %v, want %d %v", got.Class, got.Probability, want.Class, tc.p)
			}
		})
	}
}
