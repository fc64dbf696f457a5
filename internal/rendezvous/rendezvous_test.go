package rendezvous_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

var quiet = rendezvous.WithLogger(slog.New(slog.DiscardHandler))

// funcModel is a Model whose Predict is a function: the test double for
// policy tests.
type funcModel struct {
	name    string
	predict func(ctx context.Context, in schema.Input) (model.Prediction, error)
}

func (f funcModel) Info() model.Info { return model.Info{Name: f.name, Version: "v-" + f.name} }
func (f funcModel) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	return f.predict(ctx, in)
}

type behaviour func(ctx context.Context, in schema.Input) (model.Prediction, error)

// answers class after d, ignoring ctx (an in-process model).
func answers(class int, d time.Duration) behaviour {
	return func(context.Context, schema.Input) (model.Prediction, error) {
		time.Sleep(d)
		return model.Prediction{Class: class, Label: "class", Probability: float64(class)}, nil
	}
}

// fails with an error after d.
func fails(d time.Duration) behaviour {
	return func(context.Context, schema.Input) (model.Prediction, error) {
		time.Sleep(d)
		return model.Prediction{}, errors.New("model exploded")
	}
}

// panics after d.
func panics(d time.Duration) behaviour {
	return func(context.Context, schema.Input) (model.Prediction, error) {
		time.Sleep(d)
		panic("boom in predict")
	}
}

// honoursCtx answers after d unless its context is cancelled first (a
// remote model).
func honoursCtx(class int, d time.Duration) behaviour {
	return func(ctx context.Context, _ schema.Input) (model.Prediction, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return model.Prediction{Class: class}, nil
		case <-ctx.Done():
			return model.Prediction{}, ctx.Err()
		}
	}
}

func member(name string, role model.Role, b behaviour) rendezvous.Member {
	return rendezvous.Member{Name: name, Role: role, Model: funcModel{name: name, predict: b}}
}

// completion captures complete callbacks.
type completion struct {
	calls   atomic.Int32
	ch      chan []rendezvous.Result
	decided chan rendezvous.Decision
}

func newCompletion() *completion {
	return &completion{ch: make(chan []rendezvous.Result, 4), decided: make(chan rendezvous.Decision, 4)}
}

func (c *completion) complete(d rendezvous.Decision, res []rendezvous.Result) {
	c.calls.Add(1)
	c.decided <- d
	c.ch <- res
}

const (
	prodName   = "prod"
	canaryName = "canary"
	chalName   = "chal"
)

func TestRouter_Policy(t *testing.T) {
	type want struct {
		servedBy string
		reason   string
		noAnswer bool
		latency  time.Duration // Decision.Latency and Route's own duration
		status   [3]record.Status
		class    int // served class
	}
	cases := []struct {
		name                 string
		prod, canary, chal   behaviour
		policy               rendezvous.Policy
		want                 want
		wantLateClass        map[int]int // member index → class recorded though late
		wantLatencyOfMembers map[int]time.Duration
	}{
		{
			name:   "production in time is served",
			prod:   answers(1, 10*time.Millisecond),
			canary: answers(0, 5*time.Millisecond),
			chal:   answers(0, 20*time.Millisecond),
			want:   want{servedBy: prodName, reason: "preferred", latency: 10 * time.Millisecond, class: 1, status: [3]record.Status{"ok", "ok", "ok"}},
		},
		{
			name:   "production errors: canary serves as soon as it answers",
			prod:   fails(5 * time.Millisecond),
			canary: answers(0, 10*time.Millisecond),
			chal:   answers(1, 1*time.Millisecond),
			want:   want{servedBy: canaryName, reason: "fallback", latency: 10 * time.Millisecond, class: 0, status: [3]record.Status{"error", "ok", "ok"}},
		},
		{
			name:   "production errors after canary answered: canary serves at once",
			prod:   fails(20 * time.Millisecond),
			canary: answers(0, 3*time.Millisecond),
			chal:   answers(1, 1*time.Millisecond),
			want:   want{servedBy: canaryName, reason: "fallback", latency: 20 * time.Millisecond, class: 0, status: [3]record.Status{"error", "ok", "ok"}},
		},
		{
			name:   "production panics: recovered, recorded as error, canary serves",
			prod:   panics(1 * time.Millisecond),
			canary: answers(0, 3*time.Millisecond),
			chal:   answers(1, 2*time.Millisecond),
			want:   want{servedBy: canaryName, reason: "fallback", latency: 3 * time.Millisecond, class: 0, status: [3]record.Status{"error", "ok", "ok"}},
		},
		{
			name:                 "production late: canary serves at production's deadline, late answer recorded",
			prod:                 answers(1, 80*time.Millisecond),
			canary:               answers(0, 10*time.Millisecond),
			chal:                 answers(1, 5*time.Millisecond),
			want:                 want{servedBy: canaryName, reason: "fallback", latency: 50 * time.Millisecond, class: 0, status: [3]record.Status{"late", "ok", "ok"}},
			wantLateClass:        map[int]int{0: 1},
			wantLatencyOfMembers: map[int]time.Duration{0: 80 * time.Millisecond, 1: 10 * time.Millisecond},
		},
		{
			name:                 "production honours its cancelled context: timeout, canary serves",
			prod:                 honoursCtx(1, time.Second),
			canary:               answers(0, 10*time.Millisecond),
			chal:                 answers(1, 5*time.Millisecond),
			want:                 want{servedBy: canaryName, reason: "fallback", latency: 50 * time.Millisecond, class: 0, status: [3]record.Status{"timeout", "ok", "ok"}},
			wantLatencyOfMembers: map[int]time.Duration{0: 50 * time.Millisecond},
		},
		{
			name:   "production and canary late, challenger late: no answer at the deadline",
			prod:   answers(1, 80*time.Millisecond),
			canary: answers(0, 70*time.Millisecond),
			chal:   answers(1, 60*time.Millisecond),
			want:   want{reason: "unavailable", noAnswer: true, latency: 50 * time.Millisecond, status: [3]record.Status{"late", "late", "late"}},
		},
		{
			name:   "production and canary late, challenger not a listed fallback: no answer",
			prod:   answers(1, 80*time.Millisecond),
			canary: answers(0, 70*time.Millisecond),
			chal:   answers(1, 1*time.Millisecond),
			policy: rendezvous.Policy{Fallback: []string{canaryName}},
			want:   want{reason: "unavailable", noAnswer: true, latency: 50 * time.Millisecond, status: [3]record.Status{"late", "late", "ok"}},
		},
		{
			name:   "production and canary fail: default order falls through to the challenger",
			prod:   fails(1 * time.Millisecond),
			canary: fails(2 * time.Millisecond),
			chal:   answers(1, 4*time.Millisecond),
			want:   want{servedBy: chalName, reason: "fallback", latency: 4 * time.Millisecond, class: 1, status: [3]record.Status{"error", "error", "ok"}},
		},
		{
			name:   "everything fails fast: no answer without waiting for the deadline",
			prod:   fails(1 * time.Millisecond),
			canary: panics(2 * time.Millisecond),
			chal:   fails(3 * time.Millisecond),
			want:   want{reason: "unavailable", noAnswer: true, latency: 3 * time.Millisecond, status: [3]record.Status{"error", "error", "error"}},
		},
		{
			name:   "configured fallback order is strict: challenger before canary",
			prod:   fails(1 * time.Millisecond),
			canary: answers(0, 2*time.Millisecond),
			chal:   answers(1, 30*time.Millisecond),
			policy: rendezvous.Policy{Fallback: []string{chalName, canaryName}},
			want:   want{servedBy: chalName, reason: "fallback", latency: 30 * time.Millisecond, class: 1, status: [3]record.Status{"error", "ok", "ok"}},
		},
		{
			name:   "overall deadline caps the wait for production",
			prod:   answers(1, 90*time.Millisecond),
			canary: answers(0, 10*time.Millisecond),
			chal:   answers(1, 5*time.Millisecond),
			policy: rendezvous.Policy{OverallDeadline: 30 * time.Millisecond},
			want:   want{servedBy: canaryName, reason: "fallback", latency: 30 * time.Millisecond, class: 0, status: [3]record.Status{"late", "ok", "ok"}},
		},
		{
			name:                 "a challenger that sleeps does not change the response time",
			prod:                 answers(1, 10*time.Millisecond),
			canary:               answers(0, 5*time.Millisecond),
			chal:                 answers(0, 10*time.Second),
			want:                 want{servedBy: prodName, reason: "preferred", latency: 10 * time.Millisecond, class: 1, status: [3]record.Status{"ok", "ok", "timeout"}},
			wantLatencyOfMembers: map[int]time.Duration{2: 50*time.Millisecond + rendezvous.DefaultGrace},
		},
		{
			name:                 "a late challenger is recorded with its prediction",
			prod:                 answers(0, 10*time.Millisecond),
			canary:               answers(0, 5*time.Millisecond),
			chal:                 answers(1, 70*time.Millisecond),
			want:                 want{servedBy: prodName, reason: "preferred", latency: 10 * time.Millisecond, class: 0, status: [3]record.Status{"ok", "ok", "late"}},
			wantLateClass:        map[int]int{2: 1},
			wantLatencyOfMembers: map[int]time.Duration{2: 70 * time.Millisecond},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r, err := rendezvous.New([]rendezvous.Member{
					member(prodName, model.RoleProduction, tc.prod),
					member(canaryName, model.RoleCanary, tc.canary),
					member(chalName, model.RoleChallenger, tc.chal),
				}, tc.policy, quiet)
				if err != nil {
					t.Fatal(err)
				}
				c := newCompletion()
				start := time.Now()
				dec, err := r.Route(t.Context(), schema.Input{"x": 1.0}, c.complete)
				elapsed := time.Since(start)

				if tc.want.noAnswer {
					if !errors.Is(err, rendezvous.ErrNoAnswer) {
						t.Fatalf("Route error = %v, want ErrNoAnswer", err)
					}
				} else if err != nil {
					t.Fatalf("Route: %v", err)
				}
				if dec.ServedBy != tc.want.servedBy || dec.Reason != tc.want.reason {
					t.Errorf("decision = served by %q (%s), want %q (%s)", dec.ServedBy, dec.Reason, tc.want.servedBy, tc.want.reason)
				}
				if dec.Fallback != (tc.want.reason == "fallback") {
					t.Errorf("Fallback = %v for reason %s", dec.Fallback, dec.Reason)
				}
				if !tc.want.noAnswer && dec.Prediction.Class != tc.want.class {
					t.Errorf("served class = %d, want %d", dec.Prediction.Class, tc.want.class)
				}
				if !tc.want.noAnswer && dec.Info.Name != tc.want.servedBy {
					t.Errorf("Decision.Info.Name = %q, want %q", dec.Info.Name, tc.want.servedBy)
				}
				if dec.Latency != tc.want.latency || elapsed != tc.want.latency {
					t.Errorf("decided after %v, Route returned after %v; want both %v", dec.Latency, elapsed, tc.want.latency)
				}
				if dec.Deadline != rendezvous.DefaultDeadline {
					t.Errorf("Decision.Deadline = %v, want %v", dec.Deadline, rendezvous.DefaultDeadline)
				}

				results := <-c.ch
				if got := <-c.decided; got.ServedBy != dec.ServedBy || got.Reason != dec.Reason || got.Latency != dec.Latency {
					t.Errorf("complete got decision %+v, Route returned %+v", got, dec)
				}
				if len(results) != 3 {
					t.Fatalf("complete got %d results, want 3", len(results))
				}
				for i, name := range []string{prodName, canaryName, chalName} {
					res := results[i]
					if res.Name != name || res.Info.Name != name {
						t.Errorf("results[%d] is %q (info %q), want %q in member order", i, res.Name, res.Info.Name, name)
					}
					if res.Status != tc.want.status[i] {
						t.Errorf("%s status = %s, want %s (err %v)", name, res.Status, tc.want.status[i], res.Err)
					}
					if (res.Status == record.StatusOK) != (res.Err == nil) && res.Status != record.StatusLate {
						t.Errorf("%s status %s with err %v", name, res.Status, res.Err)
					}
					if class, ok := tc.wantLateClass[i]; ok && res.Prediction.Class != class {
						t.Errorf("%s late prediction class = %d, want %d", name, res.Prediction.Class, class)
					}
					if lat, ok := tc.wantLatencyOfMembers[i]; ok && res.Latency != lat {
						t.Errorf("%s latency = %v, want %v", name, res.Latency, lat)
					}
					if res.Status == record.StatusError && strings.Contains(tc.name, "panics") && i == 0 {
						if !errors.Is(res.Err, rendezvous.ErrPanic) || !strings.Contains(res.Err.Error(), "boom in predict") {
							t.Errorf("panic recorded as %v, want ErrPanic with the panic message", res.Err)
						}
					}
				}
				if err := r.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute) // let sleeping models return before the bubble ends
				if n := c.calls.Load(); n != 1 {
					t.Errorf("complete called %d times, want exactly 1", n)
				}
			})
		})
	}
}

func TestRouter_CancelsMemberContextAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sawDeadline atomic.Int64
		prod := func(ctx context.Context, _ schema.Input) (model.Prediction, error) {
			d, _ := ctx.Deadline()
			sawDeadline.Store(int64(time.Until(d)))
			<-ctx.Done()
			return model.Prediction{}, ctx.Err()
		}
		r, err := rendezvous.New([]rendezvous.Member{
			{Name: prodName, Role: model.RoleProduction, Model: funcModel{prodName, prod}, Deadline: 20 * time.Millisecond},
			member(canaryName, model.RoleCanary, answers(0, time.Millisecond)),
		}, rendezvous.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		c := newCompletion()
		dec, err := r.Route(t.Context(), nil, c.complete)
		if err != nil || dec.ServedBy != canaryName || dec.Latency != 20*time.Millisecond {
			t.Fatalf("Route = %+v, %v; want canary at 20ms", dec, err)
		}
		res := <-c.ch
		if time.Duration(sawDeadline.Load()) != 20*time.Millisecond {
			t.Errorf("member context deadline in %v, want 20ms", time.Duration(sawDeadline.Load()))
		}
		if res[0].Status != record.StatusTimeout || !errors.Is(res[0].Err, context.DeadlineExceeded) {
			t.Errorf("production = %s (%v), want timeout wrapping context.DeadlineExceeded", res[0].Status, res[0].Err)
		}
	})
}

func TestRouter_HungModelIsCutOffAndKeepsItsSlotUntilItReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		hung := func(context.Context, schema.Input) (model.Prediction, error) {
			calls.Add(1)
			<-release
			return model.Prediction{Class: 1}, nil
		}
		r, err := rendezvous.New([]rendezvous.Member{
			{Name: prodName, Role: model.RoleProduction, Model: funcModel{prodName, hung}, MaxInFlight: 1},
			member(canaryName, model.RoleCanary, answers(0, 2*time.Millisecond)),
		}, rendezvous.Policy{}, rendezvous.WithGrace(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}

		// First request: production hangs; canary serves at production's deadline.
		c := newCompletion()
		dec, err := r.Route(t.Context(), nil, c.complete)
		if err != nil || dec.ServedBy != canaryName || dec.Latency != 50*time.Millisecond {
			t.Fatalf("first Route = %+v, %v; want canary at 50ms", dec, err)
		}
		res := <-c.ch
		if res[0].Status != record.StatusTimeout || !errors.Is(res[0].Err, rendezvous.ErrCutOff) || res[0].Latency != 150*time.Millisecond {
			t.Errorf("hung production = %s after %v (%v), want timeout at cut-off 150ms", res[0].Status, res[0].Latency, res[0].Err)
		}
		if got := r.Members()[0].InFlight; got != 1 {
			t.Errorf("after cut-off production in-flight = %d, want 1 (slot held until Predict returns)", got)
		}

		// Second request: production is at its cap, skipped, never queued;
		// the canary serves as soon as it answers.
		start := time.Now()
		dec, err = r.Route(t.Context(), nil, c.complete)
		if err != nil || dec.ServedBy != canaryName || time.Since(start) != 2*time.Millisecond {
			t.Fatalf("second Route = %+v, %v after %v; want canary at 2ms", dec, err, time.Since(start))
		}
		res = <-c.ch
		if res[0].Status != record.StatusSkipped || !errors.Is(res[0].Err, rendezvous.ErrInFlightCap) {
			t.Errorf("capped production = %s (%v), want skipped with ErrInFlightCap", res[0].Status, res[0].Err)
		}

		close(release)
		synctest.Wait()
		if got := r.Members()[0].InFlight; got != 0 {
			t.Errorf("after the hung call returned in-flight = %d, want 0", got)
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("production Predict called %d times, want 1 (the skipped request never reaches it)", got)
		}
		if n := c.calls.Load(); n != 2 {
			t.Errorf("complete called %d times for 2 requests", n)
		}
	})
}

func TestRouter_InFlightCapSkipsConcurrentRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := rendezvous.New([]rendezvous.Member{
			{Name: prodName, Role: model.RoleProduction, Model: funcModel{prodName, answers(1, 10*time.Millisecond)}, MaxInFlight: 2},
			member(canaryName, model.RoleCanary, answers(0, 20*time.Millisecond)),
		}, rendezvous.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		const n = 5
		var (
			mu       sync.Mutex
			statuses = map[record.Status]int{}
			served   = map[string]int{}
			wg       sync.WaitGroup
		)
		for range n {
			wg.Go(func() {
				dec, err := r.Route(t.Context(), nil, func(_ rendezvous.Decision, res []rendezvous.Result) {
					mu.Lock()
					statuses[res[0].Status]++
					mu.Unlock()
				})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				served[dec.ServedBy]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if err := r.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if statuses[record.StatusOK] != 2 || statuses[record.StatusSkipped] != 3 {
			t.Errorf("production statuses = %v, want 2 ok and 3 skipped", statuses)
		}
		if served[prodName] != 2 || served[canaryName] != 3 {
			t.Errorf("served = %v, want prod 2, canary 3", served)
		}
	})
}

func TestRouter_CallerCancellationReturnsAtOnceButMembersRunOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var prodCtxErr atomic.Value
		prod := func(ctx context.Context, _ schema.Input) (model.Prediction, error) {
			time.Sleep(40 * time.Millisecond)
			prodCtxErr.Store(errString(ctx.Err()))
			return model.Prediction{Class: 1}, nil
		}
		type key struct{}
		var sawValue atomic.Bool
		canary := func(ctx context.Context, _ schema.Input) (model.Prediction, error) {
			sawValue.Store(ctx.Value(key{}) == "v")
			time.Sleep(45 * time.Millisecond)
			return model.Prediction{}, nil
		}
		r, err := rendezvous.New([]rendezvous.Member{
			{Name: prodName, Role: model.RoleProduction, Model: funcModel{prodName, prod}},
			{Name: canaryName, Role: model.RoleCanary, Model: funcModel{canaryName, canary}},
		}, rendezvous.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
		time.AfterFunc(10*time.Millisecond, cancel)
		c := newCompletion()
		dec, err := r.Route(ctx, nil, c.complete)
		if !errors.Is(err, context.Canceled) || errors.Is(err, rendezvous.ErrNoAnswer) {
			t.Errorf("Route error = %v, want context.Canceled", err)
		}
		if dec.Reason != "unavailable" || dec.ServedBy != "" || dec.Latency != 10*time.Millisecond {
			t.Errorf("decision = %+v, want unavailable at 10ms", dec)
		}
		res := <-c.ch
		if res[0].Status != record.StatusOK || res[1].Status != record.StatusOK {
			t.Errorf("statuses = %s, %s; want both ok (members do not inherit the caller's cancellation)", res[0].Status, res[1].Status)
		}
		if got := prodCtxErr.Load(); got != "<nil>" {
			t.Errorf("production's context error at 40ms = %v, want nil", got)
		}
		if !sawValue.Load() {
			t.Error("member context lost the caller's values")
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestRouter_ProductionSkippedFallsBackWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := make(chan struct{})
		r, err := rendezvous.New([]rendezvous.Member{
			{Name: prodName, Role: model.RoleProduction, MaxInFlight: 1, Model: funcModel{prodName, func(context.Context, schema.Input) (model.Prediction, error) {
				<-block
				return model.Prediction{}, nil
			}}},
			member(canaryName, model.RoleCanary, answers(0, time.Millisecond)),
		}, rendezvous.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		go r.Route(t.Context(), nil, nil) //nolint:errcheck // occupies production's only slot
		synctest.Wait()
		start := time.Now()
		dec, err := r.Route(t.Context(), nil, nil)
		if err != nil || dec.ServedBy != canaryName || time.Since(start) != time.Millisecond {
			t.Errorf("Route = %+v, %v after %v; want canary after 1ms", dec, err, time.Since(start))
		}
		close(block)
	})
}

func TestRouter_DeclinedCallIsRecordedAsSkippedAndFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := rendezvous.New([]rendezvous.Member{
			member(prodName, model.RoleProduction, func(context.Context, schema.Input) (model.Prediction, error) {
				return model.Prediction{}, fmt.Errorf("circuit open: %w", model.ErrDeclined)
			}),
			member(canaryName, model.RoleCanary, answers(0, time.Millisecond)),
		}, rendezvous.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		c := newCompletion()
		dec, err := r.Route(t.Context(), nil, c.complete)
		if err != nil || dec.ServedBy != canaryName {
			t.Fatalf("Route = %+v, %v; want the canary", dec, err)
		}
		res := <-c.ch
		if got := res[0].Status; got != record.StatusSkipped {
			t.Errorf("declined production recorded as %q, want skipped", got)
		}
	})
}

func TestRouter_WaitBlocksUntilEveryCallbackReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := rendezvous.New([]rendezvous.Member{
			member(prodName, model.RoleProduction, answers(1, time.Millisecond)),
			member(chalName, model.RoleChallenger, answers(1, 200*time.Millisecond)),
		}, rendezvous.Policy{Fallback: []string{}}, rendezvous.WithGrace(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Wait(t.Context()); err != nil {
			t.Fatalf("Wait with nothing outstanding: %v", err)
		}
		var done atomic.Int32
		for range 3 {
			if _, err := r.Route(t.Context(), nil, func(rendezvous.Decision, []rendezvous.Result) { done.Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
		short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 recording callbacks") {
			t.Errorf("Wait(100ms) = %v, want deadline exceeded naming 3 callbacks", err)
		}
		if err := r.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if done.Load() != 3 {
			t.Errorf("after Wait %d callbacks returned, want 3", done.Load())
		}
	})
}

type statefulModel struct {
	funcModel
	state string
}

func (s statefulModel) State() string { return s.state }

func TestRouter_MembersReportsDefaultsAndState(t *testing.T) {
	r, err := rendezvous.New([]rendezvous.Member{
		member(prodName, model.RoleProduction, answers(1, 0)),
		{Name: "remote", Role: model.RoleChallenger, Deadline: 200 * time.Millisecond, MaxInFlight: 8,
			Model: statefulModel{funcModel{"remote", answers(1, 0)}, "open"}},
	}, rendezvous.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Members()
	want := []rendezvous.MemberStats{
		{Name: prodName, Role: model.RoleProduction, Info: model.Info{Name: prodName, Version: "v-prod"}, Deadline: 50 * time.Millisecond, MaxInFlight: 1024, State: "ready"},
		{Name: "remote", Role: model.RoleChallenger, Info: model.Info{Name: "remote", Version: "v-remote"}, Deadline: 200 * time.Millisecond, MaxInFlight: 8, State: "open"},
	}
	if len(got) != len(want) {
		t.Fatalf("Members() = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Members()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestNew_RejectsInvalidConfigNamingTheMember(t *testing.T) {
	ok := func(name string, role model.Role) rendezvous.Member { return member(name, role, answers(0, 0)) }
	cases := []struct {
		name    string
		members []rendezvous.Member
		policy  rendezvous.Policy
		opts    []rendezvous.Option
		want    []string
	}{
		{"no members", nil, rendezvous.Policy{}, nil, []string{"need at least one"}},
		{"no production", []rendezvous.Member{ok("c", model.RoleCanary)}, rendezvous.Policy{}, nil, []string{"no production model"}},
		{"two productions", []rendezvous.Member{ok("a", model.RoleProduction), ok("b", model.RoleProduction)}, rendezvous.Policy{}, nil,
			[]string{`members[1] "b": second production model (members[0] "a" is production)`}},
		{"two canaries", []rendezvous.Member{ok("p", model.RoleProduction), ok("c1", model.RoleCanary), ok("c2", model.RoleCanary)}, rendezvous.Policy{}, nil,
			[]string{`members[2] "c2": second canary`}},
		{"duplicate names", []rendezvous.Member{ok("p", model.RoleProduction), ok("x", model.RoleChallenger), ok("x", model.RoleChallenger)}, rendezvous.Policy{}, nil,
			[]string{`members[2] "x": duplicate name (also members[1])`}},
		{"empty name", []rendezvous.Member{ok("", model.RoleProduction)}, rendezvous.Policy{}, nil, []string{"members[0]: name is empty"}},
		{"nil model", []rendezvous.Member{{Name: "p", Role: model.RoleProduction}}, rendezvous.Policy{}, nil, []string{`members[0] "p": model is nil`}},
		{"unknown role", []rendezvous.Member{ok("p", model.RoleProduction), ok("s", "shadow")}, rendezvous.Policy{}, nil, []string{`members[1] "s": role "shadow"`}},
		{"negative deadline and cap", []rendezvous.Member{{Name: "p", Role: model.RoleProduction, Model: funcModel{"p", answers(0, 0)}, Deadline: -time.Second, MaxInFlight: -1}},
			rendezvous.Policy{}, nil, []string{`members[0] "p": deadline -1s: must be >= 0`, `members[0] "p": max in-flight -1: must be >= 0`}},
		{"unknown fallback", []rendezvous.Member{ok("p", model.RoleProduction)}, rendezvous.Policy{Fallback: []string{"ghost"}}, nil,
			[]string{`policy.fallback[0]: "ghost" is not a member`}},
		{"production as fallback", []rendezvous.Member{ok("p", model.RoleProduction)}, rendezvous.Policy{Fallback: []string{"p"}}, nil,
			[]string{`policy.fallback[0]: "p" is the production model`}},
		{"fallback twice", []rendezvous.Member{ok("p", model.RoleProduction), ok("c", model.RoleCanary)}, rendezvous.Policy{Fallback: []string{"c", "c"}}, nil,
			[]string{`policy.fallback[1]: "c" is listed twice`}},
		{"negative overall deadline", []rendezvous.Member{ok("p", model.RoleProduction)}, rendezvous.Policy{OverallDeadline: -1}, nil,
			[]string{"policy.overall_deadline -1ns: must be >= 0"}},
		{"negative grace", []rendezvous.Member{ok("p", model.RoleProduction)}, rendezvous.Policy{}, []rendezvous.Option{rendezvous.WithGrace(-1)},
			[]string{"grace: must be >= 0"}},
		{"every problem at once", []rendezvous.Member{ok("c", model.RoleCanary), ok("c", model.RoleCanary)}, rendezvous.Policy{Fallback: []string{"nope"}}, nil,
			[]string{"duplicate name", "second canary", "no production model", `"nope" is not a member`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rendezvous.New(tc.members, tc.policy, tc.opts...)
			if err == nil {
				t.Fatalf("New succeeded (%v), want an error", r)
			}
			if !errors.Is(err, rendezvous.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func BenchmarkRoute_ThreeInProcessModels(b *testing.B) {
	trivial := func(_ context.Context, in schema.Input) (model.Prediction, error) {
		v, _ := in.Float("x")
		return model.Prediction{Class: int(v), Probability: 0.5}, nil
	}
	r, err := rendezvous.New([]rendezvous.Member{
		member(prodName, model.RoleProduction, trivial),
		member(canaryName, model.RoleCanary, trivial),
		member(chalName, model.RoleChallenger, trivial),
	}, rendezvous.Policy{})
	if err != nil {
		b.Fatal(err)
	}
	in := schema.Input{"x": 1.0}
	var completed atomic.Int64
	complete := func(rendezvous.Decision, []rendezvous.Result) { completed.Add(1) }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(ctx, in, complete); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Wait(ctx); err != nil {
		b.Fatal(err)
	}
}

func TestRouter_PanickingCallbackDoesNotCrashOrLeakWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := rendezvous.New([]rendezvous.Member{member(prodName, model.RoleProduction, answers(1, time.Millisecond))}, rendezvous.Policy{}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Route(t.Context(), nil, func(rendezvous.Decision, []rendezvous.Result) { panic("record builder bug") }); err != nil {
			t.Fatal(err)
		}
		if err := r.Wait(t.Context()); err != nil {
			t.Fatalf("Wait after a panicking callback: %v", err)
		}
	})
}

func TestRouter_CallerCancellationCauseIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := rendezvous.New([]rendezvous.Member{member(prodName, model.RoleProduction, answers(1, 10*time.Millisecond))}, rendezvous.Policy{}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		gone := errors.New("client went away")
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(gone)
		_, err = r.Route(ctx, nil, nil)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, gone) {
			t.Errorf("Route error = %v, want context.Canceled and the cause", err)
		}
		if err := r.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
