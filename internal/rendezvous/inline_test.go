package rendezvous_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// inlineModel is a funcModel that asks to be called inline (model.Inliner),
// like an in-process bundle.
type inlineModel struct{ funcModel }

func (inlineModel) Inline() bool { return true }

func inlineMember(name string, role model.Role, b behaviour) rendezvous.Member {
	return rendezvous.Member{Name: name, Role: role, Model: inlineModel{funcModel{name: name, predict: b}}}
}

// goid is the calling goroutine's id, read from its stack header.
func goid() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	buf = bytes.TrimPrefix(buf, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(buf[:bytes.IndexByte(buf, ' ')]), 10, 64)
	return id
}

// calls notes which member ran, in order, on which goroutine.
type calls struct {
	mu    sync.Mutex
	names []string
	gids  []uint64
}

func (c *calls) note(name string, b behaviour) behaviour {
	return func(ctx context.Context, in schema.Input) (model.Prediction, error) {
		c.mu.Lock()
		c.names, c.gids = append(c.names, name), append(c.gids, goid())
		c.mu.Unlock()
		return b(ctx, in)
	}
}

func TestRouter_InlineMembersRunOnTheCallersGoroutine_ProductionFirst(t *testing.T) {
	var c calls
	// Member order puts production last; the calls must not follow it.
	r, err := rendezvous.New([]rendezvous.Member{
		inlineMember(chalName, model.RoleChallenger, c.note(chalName, answers(0, 0))),
		inlineMember(canaryName, model.RoleCanary, c.note(canaryName, answers(0, 0))),
		inlineMember(prodName, model.RoleProduction, c.note(prodName, answers(1, 0))),
	}, rendezvous.Policy{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	done := newCompletion()
	dec, err := r.Route(context.Background(), nil, done.complete)
	if err != nil {
		t.Fatal(err)
	}
	if dec.ServedBy != prodName || dec.Prediction.Class != 1 {
		t.Fatalf("decision %+v, want production's class 1", dec)
	}
	me := goid()
	if want := []string{prodName, canaryName, chalName}; !slicesEqual(c.names, want) {
		t.Errorf("called %v, want %v (production, then the fallback order, then shadows)", c.names, want)
	}
	for i, id := range c.gids {
		if id != me {
			t.Errorf("%s ran on goroutine %d, want the caller's (%d)", c.names[i], id, me)
		}
	}
	for _, res := range <-done.ch {
		if res.Status != record.StatusOK {
			t.Errorf("%s: status %s, want ok", res.Name, res.Status)
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRouter_InlineMembersKeepThePolicy(t *testing.T) {
	const deadline = 50 * time.Millisecond
	for _, tc := range []struct {
		name             string
		prod, canary     behaviour
		prodInline       bool
		servedBy         string
		prodSt, canarySt record.Status
	}{
		{"inline production in time", answers(1, time.Millisecond), answers(0, 0), true, prodName, record.StatusOK, record.StatusOK},
		// Computing past its deadline (a descheduled thread, a heavy
		// model): judged late like any member; the canary serves.
		{"inline production past its deadline", answers(1, 2*deadline), answers(0, 0), true, canaryName, record.StatusLate, record.StatusOK},
		{"inline production fails", fails(0), answers(0, 0), true, canaryName, record.StatusError, record.StatusOK},
		{"inline production panics", panics(0), answers(0, 0), true, canaryName, record.StatusError, record.StatusOK},
		// A remote production past its deadline, an inline canary: the
		// canary's answer, computed while production was awaited, serves.
		{"remote production times out, inline canary", honoursCtx(1, 2*deadline), answers(0, 0), false, canaryName, record.StatusTimeout, record.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				prod := member(prodName, model.RoleProduction, tc.prod)
				if tc.prodInline {
					prod = inlineMember(prodName, model.RoleProduction, tc.prod)
				}
				prod.Deadline, prod.MaxInFlight = deadline, 1
				canary := inlineMember(canaryName, model.RoleCanary, tc.canary)
				canary.Deadline = 3 * deadline
				r, err := rendezvous.New([]rendezvous.Member{prod, canary}, rendezvous.Policy{}, quiet)
				if err != nil {
					t.Fatal(err)
				}
				// Twice: an inline member gives its in-flight slot back
				// (cap 1), even after a panic.
				for range 2 {
					done := newCompletion()
					dec, err := r.Route(context.Background(), nil, done.complete)
					if err != nil {
						t.Fatal(err)
					}
					if dec.ServedBy != tc.servedBy {
						t.Errorf("served by %q, want %q", dec.ServedBy, tc.servedBy)
					}
					res := <-done.ch
					if res[0].Status != tc.prodSt || res[1].Status != tc.canarySt {
						t.Errorf("statuses %s, %s; want %s, %s (%v)", res[0].Status, res[1].Status, tc.prodSt, tc.canarySt, res[0].Err)
					}
				}
			})
		})
	}
}

func TestRouter_AnInlineMemberThatTakesLongerThanInlineMaxMovesToAGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c calls
		prod := inlineMember(prodName, model.RoleProduction, c.note(prodName, answers(1, 5*rendezvous.InlineMax)))
		prod.Deadline = time.Second
		r, err := rendezvous.New([]rendezvous.Member{prod}, rendezvous.Policy{}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		me := goid()
		var where []bool // called inline, per request
		for range 5 {
			if _, err := r.Route(context.Background(), nil, nil); err != nil {
				t.Fatal(err)
			}
			where = append(where, c.gids[len(c.gids)-1] == me)
		}
		// Its average cost (an eighth of each call's 5 ms counted as at most
		// 4 ms, moving: 0.5, 0.94, 1.32 ms) passes 1 ms after three calls.
		if want := []bool{true, true, true, false, false}; fmt.Sprint(where) != fmt.Sprint(want) {
			t.Fatalf("inline per request: %v, want %v", where, want)
		}
	})
}

// A cheap member whose calls stalled for a while (its goroutine
// descheduled, in wall-clock time) moves to a goroutine, and comes back
// inline once its calls are fast again: the calls on goroutines keep its
// cost up to date.
func TestRouter_AnInlineMemberMovedByASlowSpellComesBackInline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c calls
		var n int
		slowFirst := func(ctx context.Context, in schema.Input) (model.Prediction, error) {
			n++
			if n <= 4 {
				time.Sleep(200 * time.Millisecond) // a stall
			}
			return model.Prediction{Class: 1, Label: "class", Probability: 1}, nil
		}
		prod := inlineMember(prodName, model.RoleProduction, c.note(prodName, slowFirst))
		prod.Deadline = time.Second
		r, err := rendezvous.New([]rendezvous.Member{prod}, rendezvous.Policy{}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		me := goid()
		var where []bool
		for range 10 {
			if _, err := r.Route(context.Background(), nil, nil); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the request's completion has run
			where = append(where, c.gids[len(c.gids)-1] == me)
		}
		// One stall counts 4 ms (4 × InlineMax) in the average: after the
		// first three (inline) it is 0.5, 0.94, 1.32 ms; the fourth stall
		// runs on a goroutine (1.65 ms), then fast calls on goroutines bring
		// the average down (1.44, 1.26, 1.10, 0.97 ms) and the ninth call is
		// inline again.
		if want := []bool{true, true, true, false, false, false, false, false, true, true}; fmt.Sprint(where) != fmt.Sprint(want) {
			t.Fatalf("inline per request: %v, want %v", where, want)
		}
	})
}
