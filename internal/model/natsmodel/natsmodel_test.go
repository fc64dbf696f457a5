package natsmodel_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/testenv/natstest"
)

// stubModel scores x >= 0.5 as class 1 with probability x; gate, when set,
// holds every prediction until it is closed; fail makes Predict fail.
type stubModel struct {
	gate    chan struct{}
	started chan struct{} // when set, receives once per call before the gate
	fail    error
	calls   atomic.Int64
}

func (s *stubModel) Info() model.Info {
	return model.Info{Name: "stub", Version: "v7", Algorithm: "rule", Artifact: "sha256:abc"}
}

func (s *stubModel) Predict(_ context.Context, in schema.Input) (model.Prediction, error) {
	s.calls.Add(1)
	if s.started != nil {
		s.started <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	if s.fail != nil {
		return model.Prediction{}, s.fail
	}
	x, _ := in.Float("x")
	c := 0
	if x >= 0.5 {
		c = 1
	}
	return model.Prediction{Class: c, Label: "word", Probability: x,
		Features: model.Features{Names: []string{"x", "x2"}, Values: []float64{x, x * x}}}, nil
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func serve(t *testing.T, url, name string, m model.Model, concurrency int) *natsmodel.Worker {
	t.Helper()
	w, err := natsmodel.Serve(connect(t, url), natsmodel.WorkerOptions{Name: name, Model: m, Concurrency: concurrency})
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return w
}

func newModel(t *testing.T, cfg natsmodel.Config) *natsmodel.Model {
	t.Helper()
	m, err := natsmodel.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestModel_ReturnsTheWorkersPredictionWithFeatures(t *testing.T) {
	srv := natstest.Start(t)
	serve(t, srv.URL, "prod", &stubModel{}, 1)
	m := newModel(t, natsmodel.Config{Name: "production", Worker: "prod", URL: srv.URL, Labels: map[int]string{1: "Survived"}})

	p, err := m.Predict(deadline(t, 5*time.Second), schema.Input{"x": 0.75, "s": "a", "missing": nil})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if p.Class != 1 || p.Probability != 0.75 || p.Label != "Survived" {
		t.Errorf("prediction = %+v, want class 1, probability 0.75, label Survived (the gateway's word)", p)
	}
	if strings.Join(p.Features.Names, ",") != "x,x2" || p.Features.Values[1] != 0.5625 {
		t.Errorf("features = %+v, want x=0.75, x2=0.5625", p.Features)
	}
	p2, _ := m.Predict(deadline(t, 5*time.Second), schema.Input{"x": 0.1})
	if &p2.Features.Names[0] != &p.Features.Names[0] {
		t.Error("two replies of one pipeline do not share their feature names slice")
	}
	if info := m.Info(); info.Name != "production" || info.Artifact != "nats:rendezvous.model.prod" {
		t.Errorf("Info = %+v", info)
	}
}

func TestModel_NoWorkerIsDeclinedAtOnceNotATimeout(t *testing.T) {
	srv := natstest.Start(t)
	m := newModel(t, natsmodel.Config{Name: "ghost", URL: srv.URL})
	start := time.Now()
	_, err := m.Predict(deadline(t, 5*time.Second), schema.Input{"x": 1.0})
	if natsmodel.KindOf(err) != natsmodel.KindNoResponders || !errors.Is(err, model.ErrDeclined) {
		t.Fatalf("err = %v, want no_responders matching model.ErrDeclined", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("no-responders took %v, want well under the 5s deadline", el)
	}
	if m.State() != "closed" {
		t.Errorf("breaker %s after no-responders, want closed (no worker is not a slow worker)", m.State())
	}
}

func TestModel_SlowWorkerTimesOutAtTheDeadlineAndOpensTheBreaker(t *testing.T) {
	srv := natstest.Start(t)
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) })
	serve(t, srv.URL, "slow", &stubModel{gate: gate}, 8)
	m := newModel(t, natsmodel.Config{Name: "slow", URL: srv.URL, BreakerFailures: 2, BreakerCooldown: time.Hour})
	for i := range 2 {
		start := time.Now()
		_, err := m.Predict(deadline(t, 50*time.Millisecond), schema.Input{"x": 1.0})
		if natsmodel.KindOf(err) != natsmodel.KindTimeout || errors.Is(err, model.ErrDeclined) {
			t.Fatalf("call %d: err = %v, want timeout (not declined)", i, err)
		}
		if el := time.Since(start); el < 50*time.Millisecond || el > time.Second {
			t.Errorf("call %d returned after %v, want at its 50ms deadline", i, el)
		}
	}
	_, err := m.Predict(deadline(t, 50*time.Millisecond), schema.Input{"x": 1.0})
	if natsmodel.KindOf(err) != natsmodel.KindCircuitOpen || !errors.Is(err, model.ErrDeclined) || m.State() != "open" {
		t.Fatalf("third call: err = %v, state %s; want circuit_open after two timeouts", err, m.State())
	}
}

func TestModel_WorkerModelErrorIsAWorkerError(t *testing.T) {
	srv := natstest.Start(t)
	serve(t, srv.URL, "broken", &stubModel{fail: errors.New("pipeline: age is NaN")}, 1)
	m := newModel(t, natsmodel.Config{Name: "broken", URL: srv.URL})
	_, err := m.Predict(deadline(t, 5*time.Second), schema.Input{"x": 1.0})
	if natsmodel.KindOf(err) != natsmodel.KindWorker || !strings.Contains(err.Error(), "age is NaN") {
		t.Fatalf("err = %v, want worker_error naming the model's failure", err)
	}
}

func TestModel_FailsFastWhileTheServerIsDown(t *testing.T) {
	srv := natstest.Start(t)
	m := newModel(t, natsmodel.Config{Name: "m", URL: srv.URL})
	srv.Shutdown()
	srv.WaitForShutdown()
	// The client notices the closed socket asynchronously.
	for end := time.Now().Add(10 * time.Second); m.Conn().IsConnected() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_, err := m.Predict(deadline(t, 2*time.Second), schema.Input{"x": 1.0})
	if natsmodel.KindOf(err) != natsmodel.KindConnection {
		t.Fatalf("err = %v, want connection", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v while disconnected, want an immediate failure", el)
	}
}

func TestNew_RefusesBadNamesAndURLs(t *testing.T) {
	tests := []struct {
		cfg  natsmodel.Config
		want string
	}{
		{natsmodel.Config{Name: "a.b", URL: "nats://127.0.0.1:1"}, `"a.b"`},
		{natsmodel.Config{Name: "m", URL: ""}, "bus: required"},
		{natsmodel.Config{Name: "m", URL: "http://x:4222"}, `scheme "http"`},
		{natsmodel.Config{Name: "m", URL: "nats://"}, "with a host"},
	}
	for _, tt := range tests {
		_, err := natsmodel.New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestWorkers_OfOneModelShareItsLoad(t *testing.T) {
	srv := natstest.Start(t)
	a, b := &stubModel{}, &stubModel{}
	serve(t, srv.URL, "prod", a, 2)
	serve(t, srv.URL, "prod", b, 2)
	m := newModel(t, natsmodel.Config{Name: "prod", URL: srv.URL})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if _, err := m.Predict(deadline(t, 5*time.Second), schema.Input{"x": 0.2}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if a.calls.Load()+b.calls.Load() != 200 || a.calls.Load() < 40 || b.calls.Load() < 40 {
		t.Errorf("worker calls = %d and %d, want 200 shared (each at least 40)", a.calls.Load(), b.calls.Load())
	}
}

func TestWorker_DrainAnswersWhatItReceivedThenLeaves(t *testing.T) {
	srv := natstest.Start(t)
	gate := make(chan struct{})
	stub := &stubModel{gate: gate, started: make(chan struct{}, 1)}
	w := serve(t, srv.URL, "prod", stub, 1)
	m := newModel(t, natsmodel.Config{Name: "prod", URL: srv.URL})

	answered := make(chan error, 1)
	go func() {
		_, err := m.Predict(deadline(t, 10*time.Second), schema.Input{"x": 0.9})
		answered <- err
	}()
	<-stub.started
	drained := make(chan error, 1)
	go func() { drained <- w.Drain(deadline(t, 10*time.Second)) }()
	close(gate)
	if err := <-answered; err != nil {
		t.Fatalf("the request in flight at drain: %v, want its answer", err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	_, err := m.Predict(deadline(t, 5*time.Second), schema.Input{"x": 0.9})
	if natsmodel.KindOf(err) != natsmodel.KindNoResponders {
		t.Fatalf("after drain: err = %v, want no_responders", err)
	}
}

func TestWorker_AnnouncesItselfWithTheServiceAPI(t *testing.T) {
	srv := natstest.Start(t)
	w := serve(t, srv.URL, "prod", &stubModel{}, 3)
	info := w.Service().Info()
	if info.Name != "rendezvous-model-prod" || info.Metadata["artifact"] != "sha256:abc" || info.Metadata["version"] != "v7" {
		t.Errorf("info = %+v", info)
	}
	if len(info.Endpoints) != 3 || info.Endpoints[0].Subject != "rendezvous.model.prod" || info.Endpoints[0].QueueGroup != natsmodel.QueueGroup {
		t.Errorf("endpoints = %+v, want 3 on rendezvous.model.prod in the workers' queue group", info.Endpoints)
	}
}
