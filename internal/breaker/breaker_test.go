package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)} }

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

func call(t *testing.T, b *Breaker, o Outcome) {
	t.Helper()
	tk, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow: %v (state %s)", err, b.State())
	}
	b.Done(tk, o)
}

func TestBreaker_OpensAfterConsecutiveFailures(t *testing.T) {
	clk := newFakeClock()
	b := New(Config{Failures: 3, Cooldown: time.Second, Now: clk.Now})
	call(t, b, Failure)
	call(t, b, Failure)
	if got := b.State(); got != Closed {
		t.Fatalf("after 2 failures state = %s, want closed", got)
	}
	call(t, b, Failure)
	if got := b.State(); got != Open {
		t.Fatalf("after 3 failures state = %s, want open", got)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("Allow while open: err = %v, want ErrOpen", err)
	}
}

func TestBreaker_SuccessResetsTheFailureCount(t *testing.T) {
	b := New(Config{Failures: 3})
	call(t, b, Failure)
	call(t, b, Failure)
	call(t, b, Success)
	call(t, b, Failure)
	call(t, b, Failure)
	if got := b.State(); got != Closed {
		t.Fatalf("state = %s, want closed (failures were not consecutive)", got)
	}
}

func TestBreaker_HalfOpenLetsOneProbeThroughAndClosesOnSuccess(t *testing.T) {
	clk := newFakeClock()
	b := New(Config{Failures: 1, Cooldown: 10 * time.Second, Now: clk.Now})
	call(t, b, Failure)
	clk.Advance(9 * time.Second)
	if got := b.State(); got != Open {
		t.Fatalf("before cooldown state = %s, want open", got)
	}
	clk.Advance(time.Second)
	if got := b.State(); got != HalfOpen {
		t.Fatalf("after cooldown state = %s, want half-open", got)
	}
	probe, err := b.Allow()
	if err != nil {
		t.Fatalf("probe Allow: %v", err)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("second Allow while probe in flight: err = %v, want ErrOpen", err)
	}
	b.Done(probe, Success)
	if got := b.State(); got != Closed {
		t.Fatalf("after successful probe state = %s, want closed", got)
	}
}

func TestBreaker_FailedProbeReopensForAnotherCooldown(t *testing.T) {
	clk := newFakeClock()
	b := New(Config{Failures: 1, Cooldown: 10 * time.Second, Now: clk.Now})
	call(t, b, Failure)
	clk.Advance(10 * time.Second)
	call(t, b, Failure) // the probe
	if got := b.State(); got != Open {
		t.Fatalf("after failed probe state = %s, want open", got)
	}
	clk.Advance(9 * time.Second)
	if got := b.State(); got != Open {
		t.Fatalf("9s into second cooldown state = %s, want open", got)
	}
	clk.Advance(time.Second)
	if got := b.State(); got != HalfOpen {
		t.Fatalf("after second cooldown state = %s, want half-open", got)
	}
}

func TestBreaker_IgnoredProbeFreesTheSlot(t *testing.T) {
	clk := newFakeClock()
	b := New(Config{Failures: 1, Cooldown: time.Second, Now: clk.Now})
	call(t, b, Failure)
	clk.Advance(time.Second)
	call(t, b, Ignore)
	if got := b.State(); got != HalfOpen {
		t.Fatalf("state = %s, want half-open", got)
	}
	call(t, b, Success)
	if got := b.State(); got != Closed {
		t.Fatalf("state = %s, want closed", got)
	}
}

func TestBreaker_StaleOutcomesDoNotChangeANewerState(t *testing.T) {
	clk := newFakeClock()
	b := New(Config{Failures: 2, Cooldown: time.Second, Now: clk.Now})
	slow, _ := b.Allow() // admitted while closed, answers much later
	call(t, b, Failure)
	call(t, b, Failure)
	if got := b.State(); got != Open {
		t.Fatalf("state = %s, want open", got)
	}
	b.Done(slow, Success)
	if got := b.State(); got != Open {
		t.Fatalf("a stale success changed the state to %s", got)
	}
}

func TestBreaker_ZeroConfigUsesDefaults(t *testing.T) {
	b := New(Config{})
	for range DefaultFailures - 1 {
		call(t, b, Failure)
	}
	if got := b.State(); got != Closed {
		t.Fatalf("state = %s, want closed", got)
	}
	call(t, b, Failure)
	if got := b.State(); got != Open {
		t.Fatalf("state = %s, want open", got)
	}
}

func TestState_String(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open", State(9): "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestBreaker_OnChangeReportsEveryTransitionInOrder(t *testing.T) {
	clk := newFakeClock()
	var got []string
	var b *Breaker
	b = New(Config{Failures: 1, Cooldown: time.Second, Now: clk.Now, OnChange: func(from, to State) {
		_ = b.State() // must not deadlock: called outside the lock
		got = append(got, from.String()+"->"+to.String())
	}})
	call(t, b, Failure)
	clk.Advance(time.Second)
	call(t, b, Failure)
	clk.Advance(time.Second)
	call(t, b, Success)
	want := []string{"closed->open", "open->half-open", "half-open->open", "open->half-open", "half-open->closed"}
	if len(got) != len(want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("transitions = %v, want %v", got, want)
		}
	}
}

func TestBreaker_FailuresOfOverlappingCallsCountOnce(t *testing.T) {
	b := New(Config{Failures: 3})
	// Ten calls in flight together all fail (a stall past their deadline):
	// one event.
	var burst []Ticket
	for range 10 {
		tk, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		burst = append(burst, tk)
	}
	for _, tk := range burst {
		b.Done(tk, Failure)
	}
	if got := b.State(); got != Closed {
		t.Fatalf("after one burst state = %s, want closed", got)
	}
	// Calls admitted after it that fail too are new events.
	call(t, b, Failure)
	if got := b.State(); got != Closed {
		t.Fatalf("after 2 counted failures state = %s, want closed", got)
	}
	call(t, b, Failure)
	if got := b.State(); got != Open {
		t.Fatalf("after 3 counted failures state = %s, want open", got)
	}
}

func TestBreaker_ACallAdmittedDuringAStreakStillCountsAfterTheNextFailure(t *testing.T) {
	b := New(Config{Failures: 2})
	a, _ := b.Allow()
	c, _ := b.Allow()
	b.Done(a, Failure) // counted: 1; c overlapped it
	d, _ := b.Allow()  // admitted after a's failure
	b.Done(c, Failure) // overlapped a: not counted
	if got := b.State(); got != Closed {
		t.Fatalf("state = %s, want closed", got)
	}
	b.Done(d, Failure) // counted: 2
	if got := b.State(); got != Open {
		t.Fatalf("state = %s, want open", got)
	}
}
