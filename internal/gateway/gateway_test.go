package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// scripted is an in-process model whose behaviour each test sets: it waits
// delay (or until release is closed, when set), then answers class with
// probability p (and its own label word, when set), or fails with err. With
// honour it returns its context's error when the deadline passes first.
type scripted struct {
	name    string
	delay   time.Duration
	release chan struct{}
	honour  bool
	class   int
	p       float64
	word    string
	err     error
}

func (m *scripted) Info() model.Info {
	return model.Info{Name: m.name, Version: "v-" + m.name, Algorithm: "scripted", Artifact: "sha256:" + m.name}
}

func (m *scripted) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	var wait <-chan time.Time
	if m.delay > 0 {
		t := time.NewTimer(m.delay)
		defer t.Stop()
		wait = t.C
	}
	switch {
	case m.release != nil:
		<-m.release
	case m.honour:
		select {
		case <-wait:
		case <-ctx.Done():
			return model.Prediction{}, ctx.Err()
		}
	case wait != nil:
		<-wait
	}
	if m.err != nil {
		return model.Prediction{}, m.err
	}
	age, _ := in.Float("age")
	return model.Prediction{Class: m.class, Probability: m.p, Label: m.word,
		Features: model.Features{Names: []string{"age"}, Values: []float64{age}}}, nil
}

// memory is a recorder that keeps every record.
type memory struct {
	mu   sync.Mutex
	recs map[string]record.Record
}

func (m *memory) Enqueue(rec record.Record) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]record.Record{}
	}
	m.recs[rec.ID] = rec
	return true
}

func (m *memory) Stats() record.RecorderStats { return record.RecorderStats{} }

func (m *memory) get(id string) record.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recs[id]
}

func validator(t testing.TB) *schema.Validator {
	t.Helper()
	v, err := schema.New(schema.Options{Fields: []schema.Field{
		{Name: "passenger", Type: schema.TypeString},
		{Name: "age", Type: schema.TypeNumber},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var words = map[int]string{0: "No", 1: "Yes"}

func newGateway(t testing.TB, val *schema.Validator, members []rendezvous.Member, policy rendezvous.Policy, gp gateway.Params) *gateway.Gateway {
	t.Helper()
	dep, err := gateway.NewDeployment(gateway.DeploymentParams{Members: members, Policy: policy, Validator: val,
		Words: words, EntityField: "passenger"})
	if err != nil {
		t.Fatal(err)
	}
	gp.Deployment = dep
	g, err := gateway.New(gp)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func input(t testing.TB, val *schema.Validator, js string) schema.Input {
	t.Helper()
	in, errs := val.ValidateJSON([]byte(js))
	if errs != nil {
		t.Fatal(errs)
	}
	return in
}

func ip(v int) *int         { return &v }
func fp(v float64) *float64 { return &v }
func ageFeatures(age float64) model.Features {
	return model.Features{Names: []string{"age"}, Values: []float64{age}}
}

// TestGateway_RecordHoldsEveryFieldOfEveryMember builds the record of one
// request whose members answer in time, late, time out, fail and are
// skipped, and compares every field (the clock is synctest's, so latencies
// are exact).
func TestGateway_RecordHoldsEveryFieldOfEveryMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		val := validator(t)
		hold := make(chan struct{})
		members := []rendezvous.Member{
			{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", delay: 10 * time.Millisecond, class: 1, p: 0.8}, Deadline: 50 * time.Millisecond},
			{Name: "canary", Role: model.RoleCanary, Model: &scripted{name: "canary", class: 0, p: 0.3, word: "Canary says no"}, Deadline: 50 * time.Millisecond},
			{Name: "late", Role: model.RoleChallenger, Model: &scripted{name: "late", delay: 80 * time.Millisecond, class: 1, p: 0.6}, Deadline: 50 * time.Millisecond},
			{Name: "slow", Role: model.RoleChallenger, Model: &scripted{name: "slow", delay: time.Hour, honour: true}, Deadline: 30 * time.Millisecond},
			{Name: "broken", Role: model.RoleChallenger, Model: &scripted{name: "broken", err: errors.New("feature store down")}, Deadline: 50 * time.Millisecond},
			{Name: "busy", Role: model.RoleChallenger, Model: &scripted{name: "busy", release: hold}, Deadline: 50 * time.Millisecond, MaxInFlight: 1},
		}
		mem := &memory{}
		received := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
		g := newGateway(t, val, members, rendezvous.Policy{Fallback: []string{"canary"}}, gateway.Params{Recorder: mem})

		// A first request holds busy's only in-flight slot.
		go func() {
			_, _ = g.Predict(context.Background(), gateway.Request{ID: "first", Endpoint: "/v1/predict", Received: received, Input: input(t, val, `{"age":1}`)})
		}()
		synctest.Wait()

		in := input(t, val, `{"passenger":"892","age":34.5}`)
		ans, err := g.Predict(context.Background(), gateway.Request{ID: "r-1", Endpoint: "/v1/predict", Received: received, Input: in})
		if err != nil {
			t.Fatal(err)
		}
		wantAns := gateway.Answer{RequestID: "r-1", EntityID: "892", Label: "Yes", Decision: rendezvous.Decision{
			ServedBy: "prod", Role: model.RoleProduction, Info: members[0].Model.Info(), Reason: rendezvous.ReasonPreferred,
			Prediction: model.Prediction{Class: 1, Probability: 0.8, Features: ageFeatures(34.5)},
			Latency:    10 * time.Millisecond, Deadline: 50 * time.Millisecond}}
		if !reflect.DeepEqual(ans, wantAns) {
			t.Errorf("answer\n got %+v\nwant %+v", ans, wantAns)
		}
		close(hold)
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := record.Record{
			ID: "r-1", ReceivedAt: received, Endpoint: "/v1/predict", EntityID: "892", Input: in, Status: record.RequestOK,
			Models: map[string]record.ModelResult{
				"prod": {Role: model.RoleProduction, Version: "v-prod", Artifact: "sha256:prod", Features: ageFeatures(34.5),
					Prediction: ip(1), Label: "Yes", Probability: fp(0.8), LatencyUS: 10000, Status: record.StatusOK},
				"canary": {Role: model.RoleCanary, Version: "v-canary", Artifact: "sha256:canary", Features: ageFeatures(34.5),
					Prediction: ip(0), Label: "Canary says no", Probability: fp(0.3), LatencyUS: 0, Status: record.StatusOK},
				"late": {Role: model.RoleChallenger, Version: "v-late", Artifact: "sha256:late", Features: ageFeatures(34.5),
					Prediction: ip(1), Label: "Yes", Probability: fp(0.6), LatencyUS: 80000, Status: record.StatusLate},
				"slow": {Role: model.RoleChallenger, Version: "v-slow", Artifact: "sha256:slow", LatencyUS: 30000,
					Status: record.StatusTimeout, Error: context.DeadlineExceeded.Error()},
				"broken": {Role: model.RoleChallenger, Version: "v-broken", Artifact: "sha256:broken", LatencyUS: 0,
					Status: record.StatusError, Error: "feature store down"},
				"busy": {Role: model.RoleChallenger, Version: "v-busy", Artifact: "sha256:busy", LatencyUS: 0,
					Status: record.StatusSkipped, Error: rendezvous.ErrInFlightCap.Error() + " (1)"},
			},
			Decision: &record.Decision{ServedBy: "prod", Reason: rendezvous.ReasonPreferred, DeadlineMS: 50, LatencyUS: 10000},
		}
		got := mem.get("r-1")
		for name, w := range want.Models {
			if gm := got.Models[name]; !reflect.DeepEqual(gm, w) {
				t.Errorf("models[%s]\n got %s\nwant %s", name, show(gm), show(w))
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record\n got %+v\nwant %+v", got, want)
		}
	})
}

// show prints a model result with its pointers followed.
func show(m record.ModelResult) string {
	s := fmt.Sprintf("%+v", m)
	if m.Prediction != nil {
		s += fmt.Sprintf(" prediction=%d", *m.Prediction)
	}
	if m.Probability != nil {
		s += fmt.Sprintf(" probability=%g", *m.Probability)
	}
	return s
}

func TestGateway_NothingInTimeIsAnErrorAndAnUnavailableRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		val := validator(t)
		members := []rendezvous.Member{
			{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", err: errors.New("boom")}, Deadline: 20 * time.Millisecond},
			{Name: "canary", Role: model.RoleCanary, Model: &scripted{name: "canary", delay: time.Hour, honour: true}, Deadline: 20 * time.Millisecond},
		}
		mem := &memory{}
		g := newGateway(t, val, members, rendezvous.Policy{}, gateway.Params{Recorder: mem})
		_, err := g.Predict(context.Background(), gateway.Request{ID: "u-1", Input: input(t, val, `{"age":3}`)})
		if !errors.Is(err, rendezvous.ErrNoAnswer) {
			t.Fatalf("err = %v, want ErrNoAnswer", err)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec := mem.get("u-1")
		if rec.Status != record.RequestUnavailable || rec.Decision == nil || rec.Decision.ServedBy != "" ||
			rec.Decision.Reason != rendezvous.ReasonUnavailable || rec.Decision.DeadlineMS != 20 || rec.Decision.LatencyUS != 20000 ||
			rec.Models["prod"].Status != record.StatusError || rec.Models["canary"].Status != record.StatusTimeout {
			t.Fatalf("record %+v decision %+v", rec, rec.Decision)
		}
		if rec.ReceivedAt.IsZero() {
			t.Error("received_at not set from the gateway's clock")
		}
	})
}

func TestGateway_PredictAndRejectRecordRequestsFromAnyFrontEnd(t *testing.T) {
	val := validator(t)
	mem := &memory{}
	g := newGateway(t, val, []rendezvous.Member{
		{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", class: 1, p: 0.9}, Deadline: time.Second},
		{Name: "canary", Role: model.RoleCanary, Model: &scripted{name: "canary", p: 0.2}, Deadline: time.Second},
		{Name: "dev", Role: model.RoleChallenger, Model: &scripted{name: "dev", p: 0.1}, Deadline: time.Second},
	}, rendezvous.Policy{}, gateway.Params{Recorder: mem, MaxRecordedBody: 4})
	ans, err := g.Predict(context.Background(), gateway.Request{ID: "oip-1", Endpoint: "/v2/models/prod/infer", Input: input(t, val, `{"age":30}`)})
	if err != nil || ans.Decision.ServedBy != "prod" || ans.Decision.Prediction.Class != 1 || ans.Label != "Yes" {
		t.Fatalf("%+v %v", ans, err)
	}
	g.Reject(context.Background(), gateway.Rejected{ID: "oip-2", Endpoint: "/v2/models/prod/infer", Raw: []byte("{bad json"),
		Problems: []schema.FieldError{{Field: "inputs", Problem: "required"}}})
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := mem.get("oip-1"); r.Endpoint != "/v2/models/prod/infer" || r.Status != record.RequestOK || len(r.Models) != 3 {
		t.Errorf("predict record %+v", r)
	}
	r := mem.get("oip-2")
	if r.Status != record.RequestRejected || r.Raw != "{bad" || r.RawBytes != 9 ||
		r.RawSHA256 != sha256hex("{bad json") ||
		len(r.Problems) != 1 || r.ReceivedAt.IsZero() || r.Endpoint != "/v2/models/prod/infer" {
		t.Errorf("reject record %+v (raw kept up to MaxRecordedBody = 4 bytes, with the whole body's length and SHA-256)", r)
	}
}

func TestGateway_BatchNamesTheFirstInstanceWithoutAnAnswerAndRecordsEvery(t *testing.T) {
	val := validator(t)
	mem := &memory{}
	g := newGateway(t, val, []rendezvous.Member{
		{Name: "prod", Role: model.RoleProduction, Model: ageGate{}, Deadline: time.Second},
	}, rendezvous.Policy{}, gateway.Params{Recorder: mem})
	var reqs []gateway.Request
	for i, age := range []string{"1", "2", "99", "4", "99"} {
		reqs = append(reqs, gateway.Request{ID: fmt.Sprintf("b.%d", i), Input: input(t, val, `{"age":`+age+`}`)})
	}
	answers, err := g.PredictBatch(context.Background(), reqs)
	var be *gateway.BatchError
	if !errors.As(err, &be) || be.Index != 2 || !errors.Is(err, rendezvous.ErrNoAnswer) || len(answers) != 5 {
		t.Fatalf("err = %v, answers %d", err, len(answers))
	}
	if answers[3].RequestID != "b.3" || answers[3].Decision.ServedBy != "prod" {
		t.Errorf("answer 3 = %+v", answers[3])
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if r := mem.get(fmt.Sprintf("b.%d", i)); r.ID == "" || r.ReceivedAt.IsZero() {
			t.Errorf("instance %d not recorded: %+v", i, r)
		}
	}
}

// ageGate fails for age 99.
type ageGate struct{}

func (ageGate) Info() model.Info { return model.Info{Name: "gate", Version: "1"} }
func (ageGate) Predict(_ context.Context, in schema.Input) (model.Prediction, error) {
	if a, _ := in.Float("age"); a == 99 {
		return model.Prediction{}, errors.New("too old")
	}
	return model.Prediction{Class: 1, Probability: 0.9}, nil
}

// TestGateway_RequestKeepsItsDeploymentAcrossASwap swaps the deployment
// while a request waits on a model, and checks that its record names the
// roles of the deployment it started with, while the next request uses the
// new one.
func TestGateway_RequestKeepsItsDeploymentAcrossASwap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		val := validator(t)
		hold := make(chan struct{})
		a := &scripted{name: "a", release: hold, class: 1, p: 0.9}
		b := &scripted{name: "b", class: 0, p: 0.4}
		mem := &memory{}
		g := newGateway(t, val, []rendezvous.Member{
			{Name: "a", Role: model.RoleProduction, Model: a, Deadline: time.Second},
			{Name: "b", Role: model.RoleChallenger, Model: b, Deadline: time.Second},
		}, rendezvous.Policy{}, gateway.Params{Recorder: mem})
		done := make(chan gateway.Answer)
		go func() {
			ans, _ := g.Predict(context.Background(), gateway.Request{ID: "before", Input: input(t, val, `{"age":5}`)})
			done <- ans
		}()
		synctest.Wait() // "before" waits on a

		next, err := gateway.NewDeployment(gateway.DeploymentParams{Validator: val, Words: words, Members: []rendezvous.Member{
			{Name: "a", Role: model.RoleChallenger, Model: a, Deadline: time.Second},
			{Name: "b", Role: model.RoleProduction, Model: b, Deadline: time.Second},
		}})
		if err != nil {
			t.Fatal(err)
		}
		old, err := g.Swap(next)
		if err != nil || old.Production().Name != "a" || g.Deployment().Production().Name != "b" {
			t.Fatalf("swap: %v", err)
		}
		close(hold)
		if ans := <-done; ans.Decision.ServedBy != "a" || ans.Decision.Role != model.RoleProduction {
			t.Errorf("in-flight request answered by %+v", ans.Decision)
		}
		after, err := g.Predict(context.Background(), gateway.Request{ID: "after", Input: input(t, val, `{"age":6}`)})
		if err != nil || after.Decision.ServedBy != "b" {
			t.Fatalf("after the swap: %+v %v", after.Decision, err)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := mem.get("before"); r.Models["a"].Role != model.RoleProduction || r.Models["b"].Role != model.RoleChallenger || r.Decision.ServedBy != "a" {
			t.Errorf("record of the in-flight request: %+v", r.Models)
		}
		if r := mem.get("after"); r.Models["a"].Role != model.RoleChallenger || r.Models["b"].Role != model.RoleProduction {
			t.Errorf("record after the swap: %+v", r.Models)
		}
		other, _ := schema.New(schema.Options{Fields: []schema.Field{{Name: "x", Type: schema.TypeNumber}}})
		bad, err := gateway.NewDeployment(gateway.DeploymentParams{Validator: other, Members: []rendezvous.Member{
			{Name: "a", Role: model.RoleProduction, Model: a}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Swap(bad); !errors.Is(err, gateway.ErrSchemaChange) {
			t.Errorf("swap to another schema: %v", err)
		}
	})
}

// TestGateway_MetricsCountTheSameWithRecordingOnOrOff: one code path.
func TestGateway_MetricsCountTheSameWithRecordingOnOrOff(t *testing.T) {
	for _, recording := range []bool{true, false} {
		t.Run(fmt.Sprint("recording=", recording), func(t *testing.T) {
			val := validator(t)
			reg := prometheus.NewRegistry()
			gp := gateway.Params{Registry: reg}
			if recording {
				gp.Recorder = &memory{}
			}
			g := newGateway(t, val, []rendezvous.Member{
				{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", err: errors.New("down")}, Deadline: time.Second},
				{Name: "canary", Role: model.RoleCanary, Model: &scripted{name: "canary", p: 0.2}, Deadline: time.Second},
			}, rendezvous.Policy{}, gp)
			for i := range 3 {
				if _, err := g.Predict(context.Background(), gateway.Request{ID: fmt.Sprint(i), Input: input(t, val, `{"age":1}`)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := g.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if v := counter(t, reg, "rendezvous_fallbacks_total", "canary"); v != 3 {
				t.Errorf("fallbacks to canary = %v, want 3", v)
			}
			if v := counter(t, reg, "rendezvous_model_errors_total", "error", "prod"); v != 3 {
				t.Errorf("prod errors = %v, want 3", v)
			}
			if n := counter(t, reg, "rendezvous_recorder_enqueued_total"); (n >= 0) != recording {
				t.Errorf("recorder series = %v with recording %v", n, recording)
			}
		})
	}
}

// counter returns the value of the series name whose label values are
// labels (in label-name order), or -1 when there is none.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			if reflect.DeepEqual(vals, labels) || len(vals) == 0 && len(labels) == 0 {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func TestGateway_RecordWithoutStoreSaysSo(t *testing.T) {
	val := validator(t)
	g := newGateway(t, val, []rendezvous.Member{{Name: "p", Role: model.RoleProduction, Model: &scripted{name: "p"}}}, rendezvous.Policy{}, gateway.Params{})
	if _, _, err := g.Record(context.Background(), "x"); !errors.Is(err, gateway.ErrNoStore) {
		t.Errorf("Record: %v", err)
	}
	if err := g.Ping(context.Background()); !errors.Is(err, gateway.ErrNoStore) {
		t.Errorf("Ping: %v", err)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// held is a recorder that keeps records unwritten, with Lookup (read your
// writes), in front of a store that has none of them.
type held struct{ memory }

func (h *held) Lookup(id string) (record.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.recs[id]
	return rec, ok
}

type emptyStore struct{}

func (emptyStore) GetRecord(context.Context, string) (record.Record, error) {
	return record.Record{}, store.ErrNotFound
}
func (emptyStore) Ping(context.Context) error { return nil }

func TestGateway_RecordReadsYourWritesFromTheRecorderBeforeTheStore(t *testing.T) {
	val := validator(t)
	rec := &held{}
	g := newGateway(t, val, []rendezvous.Member{{Name: "p", Role: model.RoleProduction, Model: &scripted{name: "p", class: 1, p: 0.7}}},
		rendezvous.Policy{}, gateway.Params{Recorder: rec, Store: emptyStore{}})
	if _, err := g.Predict(context.Background(), gateway.Request{ID: "rw-1", Input: input(t, val, `{"age":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, stored, err := g.Record(context.Background(), "rw-1")
	if err != nil || stored || got.ID != "rw-1" || got.Models["p"].Status != record.StatusOK {
		t.Fatalf("Record = %+v stored=%v err=%v, want the recorder's copy, not stored", got, stored, err)
	}
	if _, _, err := g.Record(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}
