package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/testenv/natstest"
)

// working is a worker's model: the real bundle, taking at least work per
// call (the cost of a heavier model), counting its calls.
type working struct {
	model.Model
	work  time.Duration
	calls atomic.Int64
	// entered receives, when it has room, each call as it starts.
	entered chan struct{}
}

func (w *working) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	w.calls.Add(1)
	select {
	case w.entered <- struct{}{}:
	default:
	}
	time.Sleep(w.work)
	return w.Model.Predict(ctx, in)
}

// natsWorker serves the example's prod-gbt bundle as "prod-gbt" on its own
// connection, which the returned function closes abruptly (a killed worker).
func natsWorker(t *testing.T, url string, work time.Duration, concurrency int) (*working, func()) {
	t.Helper()
	b, err := model.Load("../../examples/titanic/models/prod-gbt.json")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w := &working{Model: b, work: work, entered: make(chan struct{}, 1)}
	if _, err := natsmodel.Serve(nc, natsmodel.WorkerOptions{Name: "prod-gbt", Model: w, Concurrency: concurrency,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	return w, nc.Close
}

// natsGateway is the Titanic example with production served over NATS
// (deadline prodDeadline) and the canary and challenger in process
// (deadline 1s).
func natsGateway(t *testing.T, url string, prodDeadline time.Duration) (*gateway.Gateway, *memory) {
	t.Helper()
	data, err := os.ReadFile("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := "bus: " + url + "\n" + string(data)
	for old, repl := range map[string]string{
		"    bundle: models/prod-gbt.json\n    deadline: 50ms": "    nats: prod-gbt\n    deadline: " + prodDeadline.String(),
		"overall_deadline: 100ms":                              "overall_deadline: 5s",
	} {
		if !strings.Contains(yaml, old) {
			t.Fatalf("the example configuration no longer holds %q", old)
		}
		yaml = strings.Replace(yaml, old, repl, 1)
	}
	// In-process members get room for a loaded machine under -race.
	yaml = strings.ReplaceAll(yaml, "deadline: 50ms", "deadline: 1s")
	cfg, err := config.LoadBytes([]byte(yaml), "../../examples/titanic")
	if err != nil {
		t.Fatal(err)
	}
	dep, err := gateway.FromConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range dep.Members {
			if c, ok := m.Model.(interface{ Close() }); ok {
				c.Close()
			}
		}
	})
	rec := &memory{}
	g, err := gateway.New(gateway.Params{Deployment: dep, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return g, rec
}

var passenger = schema.Input{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"}

// load sends n requests from c goroutines and returns each answer (or
// error) and latency by request id; after is called once, when half of
// them have returned.
type outcome struct {
	answer  gateway.Answer
	err     error
	latency time.Duration
}

func load(g *gateway.Gateway, n, c int, after func()) map[string]outcome {
	var (
		mu   sync.Mutex
		out  = make(map[string]outcome, n)
		next atomic.Int64
		once sync.Once
		wg   sync.WaitGroup
	)
	for range c {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("req-%05d", i)
				start := time.Now()
				a, err := g.Predict(context.Background(), gateway.Request{ID: id, Endpoint: "/v1/predict", Input: passenger})
				mu.Lock()
				out[id] = outcome{a, err, time.Since(start)}
				done := len(out)
				mu.Unlock()
				if done == n/2 && after != nil {
					once.Do(after)
				}
			}
		})
	}
	wg.Wait()
	return out
}

func TestNATSMember_TwoWorkersShareProductionsLoad(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := natsWorker(t, srv.URL, time.Millisecond, 2)
	b, _ := natsWorker(t, srv.URL, time.Millisecond, 2)
	g, rec := natsGateway(t, srv.URL, 2*time.Second)

	const n = 400
	out := load(g, n, 8, nil)
	g.Wait(context.Background())
	for id, o := range out {
		if o.err != nil || o.answer.Decision.ServedBy != "prod-gbt" || o.answer.Decision.Fallback {
			t.Fatalf("%s: %+v, %v; want production's answer over NATS", id, o.answer.Decision, o.err)
		}
		r := rec.get(id)
		if got := r.Models["prod-gbt"]; got.Status != record.StatusOK || len(got.Features.Names) == 0 || len(r.Models) != 3 {
			t.Fatalf("%s: record %+v; want three models, production ok with the worker's features", id, r.Models)
		}
	}
	if a.calls.Load()+b.calls.Load() != n || a.calls.Load() < n/5 || b.calls.Load() < n/5 {
		t.Errorf("worker calls %d and %d; want %d shared, each at least %d", a.calls.Load(), b.calls.Load(), n, n/5)
	}
}

func TestNATSMember_KilledWorkerFallsBackWithinOneDeadlineAndTheOtherTakesTheLoad(t *testing.T) {
	srv := natstest.Start(t)
	const deadline = 300 * time.Millisecond
	a, kill := natsWorker(t, srv.URL, 10*time.Millisecond, 2)
	b, _ := natsWorker(t, srv.URL, 10*time.Millisecond, 2)
	g, rec := natsGateway(t, srv.URL, deadline)

	const n = 400
	var aAtKill, bAtKill int64
	out := load(g, n, 8, func() {
		// Kill the worker in the middle of a call, so it dies holding one.
		select {
		case <-a.entered: // an old call's signal
		default:
		}
		select {
		case <-a.entered:
		case <-time.After(10 * time.Second):
			t.Error("worker a started no call in 10 s")
		}
		kill()
		aAtKill, bAtKill = a.calls.Load(), b.calls.Load()
	})
	g.Wait(context.Background())
	var fellBack int
	for id, o := range out {
		if o.err != nil {
			t.Fatalf("%s: %v; want an answer for every request", id, o.err)
		}
		if o.latency > deadline+250*time.Millisecond {
			t.Errorf("%s answered after %v; want within one %v deadline (+ scheduling slack)", id, o.latency, deadline)
		}
		r := rec.get(id)
		if r.ID == "" {
			t.Fatalf("%s: no record", id)
		}
		prod := r.Models["prod-gbt"]
		if o.answer.Decision.Fallback {
			fellBack++
			if o.answer.Decision.ServedBy != "canary-rule" || (prod.Status != record.StatusTimeout && prod.Status != record.StatusError) {
				t.Errorf("%s fell back to %s with production %s (%s); want the canary after production's timeout", id, o.answer.Decision.ServedBy, prod.Status, prod.Error)
			}
		}
	}
	t.Logf("%d of %d requests fell back to the canary; worker calls at the kill %d/%d, after %d/%d", fellBack, n, aAtKill, bAtKill, a.calls.Load(), b.calls.Load())
	if fellBack == 0 {
		t.Error("no request fell back; the killed worker held none in flight?")
	}
	if fellBack > 20 {
		t.Errorf("%d requests fell back; want only those the killed worker held (a few)", fellBack)
	}
	if got := a.calls.Load(); got != aAtKill {
		t.Errorf("the killed worker took %d calls after its kill", got-aAtKill)
	}
	if after := b.calls.Load() - bAtKill; after < n/2-int64(fellBack)-8 {
		t.Errorf("the surviving worker took %d calls after the kill; want the rest of the load (~%d)", after, n/2)
	}
	if len(rec.recs) != n {
		t.Errorf("%d records for %d requests", len(rec.recs), n)
	}
}

func TestNATSMember_NoLiveWorkerIsSkippedAtOnce(t *testing.T) {
	srv := natstest.Start(t)
	g, rec := natsGateway(t, srv.URL, 2*time.Second)
	start := time.Now()
	a, err := g.Predict(context.Background(), gateway.Request{ID: "r1", Endpoint: "/v1/predict", Input: passenger})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("answered after %v; want the fallback at once, not production's 2s deadline", el)
	}
	g.Wait(context.Background())
	prod := rec.get("r1").Models["prod-gbt"]
	if a.Decision.ServedBy != "canary-rule" || prod.Status != record.StatusSkipped || !strings.Contains(prod.Error, "no_responders") {
		t.Errorf("served by %s, production %s (%q); want canary-rule with production skipped: no_responders", a.Decision.ServedBy, prod.Status, prod.Error)
	}
}

func TestLoadSource_NATSMemberNamesTheFieldAtFault(t *testing.T) {
	cfg, err := config.LoadBytes([]byte(mustRead(t, "../../examples/titanic/rendezvous.yaml")), "../../examples/titanic")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src   gateway.Source
		field string
	}{
		{gateway.Source{NATS: &gateway.NATSSpec{}}, "nats.worker"},
		{gateway.Source{NATS: &gateway.NATSSpec{Worker: "a.b", Bus: "nats://127.0.0.1:4222"}}, "nats.worker"},
		{gateway.Source{NATS: &gateway.NATSSpec{Worker: "prod", Bus: "http://x"}}, "nats.bus"},
		{gateway.Source{NATS: &gateway.NATSSpec{Worker: "prod"}}, "nats.bus"}, // no top-level bus either
		{gateway.Source{Bundle: "models/x.json", NATS: &gateway.NATSSpec{Worker: "prod"}}, "bundle"},
	}
	for _, tt := range tests {
		_, err := gateway.LoadSource(cfg, "dev-nats", tt.src, nil)
		var fe *gateway.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("LoadSource(%+v) = %v; want a field error on %s", tt.src.NATS, err, tt.field)
		}
	}
	srv := natstest.Start(t)
	m, err := gateway.LoadSource(cfg, "dev-nats", gateway.Source{NATS: &gateway.NATSSpec{Worker: "prod-gbt", Bus: srv.URL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.(*natsmodel.Model).Close()
	if m.Info().Artifact != "nats:rendezvous.model.prod-gbt" {
		t.Errorf("Info = %+v", m.Info())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestBusOptions_ConnectWithTheCredentialsFileBesideTheConfig: with
// bus_credentials, every gateway connection to NATS presents the file
// (relative to the configuration's directory); a file that holds no
// credentials fails the connection instead of connecting without them.
func TestBusOptions_ConnectWithTheCredentialsFileBesideTheConfig(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gateway.creds"), []byte("not a credentials file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Dir: dir}
	if opts := gateway.BusOptions(cfg); opts != nil {
		t.Fatalf("no bus_credentials: %d options, want none", len(opts))
	}
	nc, err := nats.Connect(srv.URL, gateway.BusOptions(cfg)...)
	if err != nil {
		t.Fatalf("without credentials: %v", err)
	}
	nc.Close()
	cfg.BusCredentials = "gateway.creds"
	if nc, err := nats.Connect(srv.URL, gateway.BusOptions(cfg)...); err == nil {
		nc.Close()
		t.Fatal("connected although the credentials file holds none: the option was not applied")
	}
}
