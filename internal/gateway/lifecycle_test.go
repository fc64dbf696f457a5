package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// eventLog is an in-memory store.EventLog.
type eventLog struct {
	mu  sync.Mutex
	evs []store.DeploymentEvent
}

func (l *eventLog) AppendEvent(_ context.Context, ev store.DeploymentEvent) (store.DeploymentEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Seq = int64(len(l.evs) + 1)
	l.evs = append(l.evs, ev)
	return ev, nil
}

func (l *eventLog) ListEvents(_ context.Context, limit int) ([]store.DeploymentEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]store.DeploymentEvent(nil), l.evs...)
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func roles(d *gateway.Deployment) string {
	s := ""
	for _, m := range d.Members {
		s += fmt.Sprintf("%s=%s ", m.Name, m.Role)
	}
	return s
}

func TestLifecycle_AddPatchPromoteRemoveRollback(t *testing.T) {
	val := validator(t)
	log := &eventLog{}
	prod := &scripted{name: "prod", class: 1, p: 0.9}
	g := newGateway(t, val, []rendezvous.Member{{Name: "prod", Role: model.RoleProduction, Model: prod}},
		rendezvous.Policy{}, gateway.Params{Events: log})
	ctx := context.Background()
	ch := &scripted{name: "ch", class: 0, p: 0.2}

	// Refusals name the field or say what conflicts, and change nothing.
	var fe *gateway.FieldError
	if _, err := g.AddMember(ctx, gateway.MemberSpec{Name: "ch", Role: model.RoleProduction}, ch, gateway.Change{}); !errors.As(err, &fe) || fe.Field != "role" {
		t.Errorf("add as production: %v", err)
	}
	if _, err := g.AddMember(ctx, gateway.MemberSpec{Name: "ch", Role: model.RoleChallenger, Sample: fp(1.5)}, ch, gateway.Change{}); !errors.As(err, &fe) || fe.Field != "sample" {
		t.Errorf("add with sample 1.5: %v", err)
	}
	if _, err := g.AddMember(ctx, gateway.MemberSpec{Name: "prod", Role: model.RoleChallenger}, ch, gateway.Change{}); !errors.Is(err, gateway.ErrConflict) {
		t.Errorf("add a duplicate name: %v", err)
	}
	if _, err := g.RemoveMember(ctx, "prod", gateway.Change{}); !errors.Is(err, gateway.ErrConflict) {
		t.Errorf("remove production: %v", err)
	}
	if _, err := g.PatchMember(ctx, "nobody", gateway.Patch{}, gateway.Change{}); !errors.Is(err, gateway.ErrUnknownMember) {
		t.Errorf("patch an unknown model: %v", err)
	}
	if _, err := g.Rollback(ctx, gateway.Change{}); !errors.Is(err, gateway.ErrNoPrevious) {
		t.Errorf("rollback with no change: %v", err)
	}
	if len(log.evs) != 0 {
		t.Fatalf("refused changes were logged: %+v", log.evs)
	}

	ev, err := g.AddMember(ctx, gateway.MemberSpec{Name: "ch", Role: model.RoleChallenger, Deadline: gateway.Duration(80 * time.Millisecond),
		Sample: fp(0.5), Source: gateway.Source{Bundle: "ch.json"}}, ch, gateway.Change{Reason: "try it"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != "add" || ev.Actor != "local" || ev.Model != "ch" || len(ev.Before) != 1 || len(ev.After) != 2 || ev.Reason != "try it" || ev.Seq != 1 {
		t.Errorf("add event: %+v", ev)
	}
	if _, err := g.PatchMember(ctx, "ch", gateway.Patch{Sample: fp(1), Paused: bp(true)}, gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	m, _ := g.Deployment().Member("ch")
	if !m.Paused || m.Skip != 0 || m.Deadline != 80*time.Millisecond {
		t.Errorf("patched member: %+v", m)
	}
	if _, err := g.PatchMember(ctx, "prod", gateway.Patch{Paused: bp(true)}, gateway.Change{}); !errors.As(err, &fe) || fe.Field != "paused" {
		t.Errorf("pause production: %v", err)
	}

	ev, err = g.Promote(ctx, "ch", gateway.Change{Forced: true, Reason: "urgent", Gate: map[string]any{"pairs": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := roles(g.Deployment()); got != "prod=challenger ch=production " {
		t.Errorf("after promote: %s", got)
	}
	if m, _ := g.Deployment().Member("ch"); m.Paused {
		t.Error("a promoted model must not stay paused")
	}
	if !ev.Forced || string(ev.Gate) != `{"pairs":3}` || ev.After[1].Role != "production" || ev.Before[1].Role != "challenger" {
		t.Errorf("promote event: %+v", ev)
	}
	var st gateway.State
	if err := json.Unmarshal(ev.State, &st); err != nil || len(st.Members) != 2 || st.Members[1].Bundle != "ch.json" {
		t.Errorf("promote event state: %s %v", ev.State, err)
	}

	if _, err := g.Rollback(ctx, gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	if got := roles(g.Deployment()); got != "prod=production ch=challenger " {
		t.Errorf("after rollback: %s", got)
	}
	if _, err := g.RemoveMember(ctx, "ch", gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	if got := roles(g.Deployment()); got != "prod=production " {
		t.Errorf("after remove: %s", got)
	}
	evs, _ := g.Events(ctx, 0)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != "[add patch promote rollback remove]" {
		t.Errorf("events: %v", kinds)
	}
}

func TestLifecycle_FallbackOrderFollowsPatchAndPromote(t *testing.T) {
	val := validator(t)
	mk := func(n string) *scripted { return &scripted{name: n} }
	g := newGateway(t, val, []rendezvous.Member{
		{Name: "p", Role: model.RoleProduction, Model: mk("p")},
		{Name: "c", Role: model.RoleCanary, Model: mk("c")},
		{Name: "x", Role: model.RoleChallenger, Model: mk("x")},
	}, rendezvous.Policy{}, gateway.Params{})
	ctx := context.Background()
	if _, err := g.PatchMember(ctx, "x", gateway.Patch{Fallback: ip(0)}, gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(g.Deployment().Policy.Fallback); got != "[x c]" {
		t.Errorf("fallback after moving x first: %s", got)
	}
	if _, err := g.Promote(ctx, "x", gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(g.Deployment().Policy.Fallback); got != "[p c]" {
		t.Errorf("fallback after promoting x: %s (the old production takes its place)", got)
	}
	var fe *gateway.FieldError
	if _, err := g.PatchMember(ctx, "c", gateway.Patch{Fallback: ip(7)}, gateway.Change{}); !errors.As(err, &fe) || fe.Field != "fallback" {
		t.Errorf("fallback position 7: %v", err)
	}
}

// TestLifecycle_SampleIsAStableShareOfRequestIDs: a challenger with sample
// 0.1 sees 10 % ± 1 % of 20,000 requests, and the same ones on a rerun.
func TestLifecycle_SampleIsAStableShareOfRequestIDs(t *testing.T) {
	val := validator(t)
	mem := &memory{}
	g := newGateway(t, val, []rendezvous.Member{{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod"}, Deadline: time.Minute}},
		rendezvous.Policy{}, gateway.Params{Recorder: mem})
	ctx := context.Background()
	if _, err := g.AddMember(ctx, gateway.MemberSpec{Name: "ch", Role: model.RoleChallenger, Sample: fp(0.1), Deadline: gateway.Duration(time.Minute)}, &scripted{name: "ch"}, gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	in := input(t, val, `{"age":30}`)
	run := func(prefix string) map[string]bool {
		gateway.Parallel(n, func(i int) {
			id := fmt.Sprintf("%sreq-%d", prefix, i)
			if _, err := g.Predict(ctx, gateway.Request{ID: id, Input: in}); err != nil {
				t.Error(err)
			}
		})
		if err := g.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i := range n {
			id := fmt.Sprintf("%sreq-%d", prefix, i)
			r := mem.get(id)
			switch st := r.Models["ch"].Status; st {
			case record.StatusOK:
				seen[id] = true
			case record.StatusSkipped:
				if !strings.HasPrefix(r.Models["ch"].Error, rendezvous.ErrNotSampled.Error()) {
					t.Fatalf("%s: skipped without a reason", id)
				}
			default:
				t.Fatalf("%s: challenger status %s", id, st)
			}
		}
		return seen
	}
	first := run("")
	if share := float64(len(first)) / n; share < 0.09 || share > 0.11 {
		t.Errorf("challenger saw %.4f of the requests, want 0.10 ± 0.01", share)
	}
	mem.mu.Lock()
	mem.recs = nil
	mem.mu.Unlock()
	second := run("")
	if len(second) != len(first) {
		t.Fatalf("rerun: %d sampled, first run %d", len(second), len(first))
	}
	for id := range first {
		if !second[id] {
			t.Fatalf("%s sampled on the first run only", id)
		}
	}
}

// TestLifecycle_NoFailedRequestWhileTheDeploymentChanges: requests run
// while a challenger is added, promoted, rolled back, patched and removed;
// every one is answered, and every record has exactly one production
// member: the one of the deployment it started with.
func TestLifecycle_NoFailedRequestWhileTheDeploymentChanges(t *testing.T) {
	val := validator(t)
	mem := &memory{}
	g := newGateway(t, val, []rendezvous.Member{{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", class: 1}, Deadline: time.Minute}},
		rendezvous.Policy{}, gateway.Params{Recorder: mem, MaxInFlight: -1})
	ctx := context.Background()
	in := input(t, val, `{"age":30}`)
	stop := make(chan struct{})
	var served, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := g.Predict(ctx, gateway.Request{ID: fmt.Sprintf("w%d-%d", w, i), Input: in}); err != nil {
					failed.Add(1)
				}
				served.Add(1)
			}
		})
	}
	ch := &scripted{name: "ch", class: 0}
	for round := range 30 {
		steps := []func() error{
			func() error {
				_, err := g.AddMember(ctx, gateway.MemberSpec{Name: "ch", Role: model.RoleChallenger, Deadline: gateway.Duration(time.Minute)}, ch, gateway.Change{})
				return err
			},
			func() error { _, err := g.Promote(ctx, "ch", gateway.Change{}); return err },
			func() error { _, err := g.Rollback(ctx, gateway.Change{}); return err },
			func() error {
				_, err := g.PatchMember(ctx, "ch", gateway.Patch{Sample: fp(0.5)}, gateway.Change{})
				return err
			},
			func() error { _, err := g.RemoveMember(ctx, "ch", gateway.Change{}); return err },
		}
		for k, step := range steps {
			// Let the workers serve a few requests on this deployment
			// first, so changes and requests really interleave.
			for target := served.Load() + 4; served.Load() < target; {
				runtime.Gosched()
			}
			if err := step(); err != nil {
				t.Fatalf("round %d step %d: %v", round, k, err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 || served.Load() == 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), served.Load())
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if int64(len(mem.recs)) != served.Load() {
		t.Errorf("%d records for %d requests", len(mem.recs), served.Load())
	}
	for id, r := range mem.recs {
		prods := 0
		for _, mr := range r.Models {
			if mr.Role == model.RoleProduction {
				prods++
			}
		}
		if prods != 1 || r.Status != record.RequestOK || r.Models[r.Decision.ServedBy].Role != model.RoleProduction {
			t.Fatalf("record %s: %+v", id, r)
		}
	}
}

func TestLifecycle_StateRoundTrip(t *testing.T) {
	val := validator(t)
	prod := &scripted{name: "prod"}
	g := newGateway(t, val, []rendezvous.Member{{Name: "prod", Role: model.RoleProduction, Model: prod}},
		rendezvous.Policy{}, gateway.Params{})
	base := g.Deployment()
	ctx := context.Background()
	if _, err := g.AddMember(ctx, gateway.MemberSpec{Name: "ch", Role: model.RoleChallenger, Sample: fp(0.25), Source: gateway.Source{Bundle: "ch.json"}},
		&scripted{name: "ch"}, gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Promote(ctx, "ch", gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(g.Deployment().State())
	if err != nil {
		t.Fatal(err)
	}
	var st gateway.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var loaded []string
	d, err := base.LoadState(st, func(name string, src gateway.Source) (model.Model, error) {
		loaded = append(loaded, name+":"+src.Bundle)
		return &scripted{name: name}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := roles(d); got != "prod=challenger ch=production " || fmt.Sprint(loaded) != "[ch:ch.json]" {
		t.Errorf("restored %s, loaded %v", got, loaded)
	}
	if _, err := base.LoadState(gateway.State{Members: []gateway.MemberSpec{{Name: "x", Role: model.RoleChallenger}}},
		func(string, gateway.Source) (model.Model, error) { return nil, errors.New("gone") }); err == nil {
		t.Error("a state whose model cannot load must be refused")
	}
}

func bp(v bool) *bool { return &v }
