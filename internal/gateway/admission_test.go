package gateway

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

func discardShed(string) {}

// tryAcquire admits n at once when nobody is queued and they fit.
func (a *admission) tryAcquire(n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.admitNow(n, 0)
}

// TestAdmission_QueuesInArrivalOrderAndBigBatchesAreNotOvertaken: with a
// limit of 4 and 3 held, a batch of 4 queues first and a single behind it
// waits too, although it would fit: arrival order is kept, so a large
// batch cannot starve behind a stream of small requests.
func TestAdmission_QueuesInArrivalOrderAndBigBatchesAreNotOvertaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(4, time.Second, 0, discardShed)
		if !a.tryAcquire(3) {
			t.Fatal("3 of 4 not admitted")
		}
		order := make(chan int64, 2)
		for _, n := range []int64{4, 1} {
			go func() {
				if err := a.acquire(t.Context(), n, 0); err != nil {
					t.Errorf("acquire(%d): %v", n, err)
					return
				}
				order <- n
			}()
			synctest.Wait() // queued in this order
		}
		if len(order) != 0 {
			t.Fatalf("admitted past the head of the queue: %d", <-order)
		}
		a.release(3, 0, false)
		if first := <-order; first != 4 {
			t.Errorf("first admitted: %d, want the batch of 4 (the head of the queue)", first)
		}
		a.release(4, 0, false)
		if second := <-order; second != 1 {
			t.Errorf("second admitted: %d", second)
		}
	})
}

// TestAdmission_ShedsAfterTheQueueWaitAndLetsTheNextInLine: a request that
// cannot be admitted within the queue wait gets an error, and the one
// queued behind it, which fits, is admitted at that moment.
func TestAdmission_ShedsAfterTheQueueWaitAndLetsTheNextInLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(4, 10*time.Millisecond, 0, discardShed)
		a.tryAcquire(2)
		big := make(chan error, 1)
		go func() { big <- a.acquire(t.Context(), 3, 0) }()
		synctest.Wait()
		time.Sleep(time.Millisecond) // the single arrives 1 ms later
		small := make(chan error, 1)
		start := time.Now()
		go func() { small <- a.acquire(t.Context(), 1, 0) }()
		if err := <-big; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("batch of 3 with 2 of 4 held: %v, want the queue wait to end", err)
		}
		if err := <-small; err != nil {
			t.Errorf("the single behind it: %v", err)
		}
		if took := time.Since(start); took != 9*time.Millisecond {
			t.Errorf("the single waited %v, want until the head gave up (9 ms)", took)
		}
	})
}

// TestAdmission_AdmitsABatchLargerThanTheLimitWhenIdle: an adaptive limit
// may fall below a batch the ceiling allows; such a batch is admitted once
// nothing else is in flight instead of waiting forever.
func TestAdmission_AdmitsABatchLargerThanTheLimitWhenIdle(t *testing.T) {
	a := newAdmission(8, time.Millisecond, 0, discardShed)
	a.limit = 2
	if !a.tryAcquire(5) {
		t.Error("a batch of 5 over a limit of 2, nothing in flight: not admitted")
	}
	if a.tryAcquire(1) {
		t.Error("admitted beside a batch that already exceeds the limit")
	}
}

// TestAdmission_AdaptiveLimitFollowsServiceTime: windows in which more than
// a tenth of single predictions exceed the target while half the limit is
// in use cut the limit by a quarter down to the floor; other windows raise
// it by an eighth up to the ceiling. Table: the share of slow requests per
// window, whether half the limit was busy, and the limit after it.
func TestAdmission_AdaptiveLimitFollowsServiceTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ceiling = 256
		target := 10 * time.Millisecond
		a := newAdmission(ceiling, time.Millisecond, target, discardShed)
		floor := int64(min(ceiling, 8*runtime.GOMAXPROCS(0)))
		if a.adapt.floor != floor || a.adapt.window != 20*time.Millisecond {
			t.Fatalf("floor %d window %v", a.adapt.floor, a.adapt.window)
		}
		// window runs n single predictions, slow of them past the target,
		// beside a batch holding half the limit when busy, then closes the
		// window with one more (fast) single.
		window := func(slow, n int, busy bool) int64 {
			var batch int64
			if busy {
				batch = a.limit / 2
				if !a.tryAcquire(batch) {
					t.Fatalf("batch of %d not admitted", batch)
				}
			}
			for i := range n {
				took := target // not slower than the target
				if i < slow {
					took = target + time.Microsecond
				}
				a.tryAcquire(1)
				a.release(1, took, true)
			}
			if busy {
				a.release(batch, time.Hour, false) // a batch's time teaches nothing
			}
			time.Sleep(a.adapt.window)
			a.tryAcquire(1)
			a.release(1, 0, true)
			return a.limit
		}
		for _, tc := range []struct {
			name    string
			slow, n int
			busy    bool
			want    int64
		}{
			{"a tenth slow is still good: at the ceiling", 1, 9, true, 256},
			{"over a tenth slow, half the limit busy: cut by a quarter", 2, 9, true, 192},
			{"all slow", 10, 10, true, 144},
			{"all slow but hardly any concurrency: not the limit's fault, up an eighth", 10, 10, false, 162},
			{"all slow", 10, 10, true, 121},
			{"good again: up an eighth", 0, 10, false, 136},
			{"good", 0, 10, true, 153},
		} {
			if got := window(tc.slow, tc.n, tc.busy); got != tc.want {
				t.Errorf("%s (%d of %d+1 slow): limit %d, want %d", tc.name, tc.slow, tc.n, got, tc.want)
			}
		}
		for range 40 {
			window(10, 10, true)
		}
		if a.limit != floor {
			t.Errorf("after long overload: limit %d, want the floor %d", a.limit, floor)
		}
		for range 60 {
			window(0, 10, false)
		}
		if a.limit != ceiling {
			t.Errorf("after long good service: limit %d, want the ceiling %d", a.limit, ceiling)
		}
	})
}

// TestAdmission_ABatchGrowsPastAnAdaptiveLimitWhenAloneAndTeachesNothing: a
// batch admitted as one prediction grows to its size once decoded; with
// nothing else in flight it may exceed a limit the adaptive control has
// cut (never the ceiling), others wait meanwhile, and its service time
// does not count as a single prediction's.
func TestAdmission_ABatchGrowsPastAnAdaptiveLimitWhenAloneAndTeachesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(8, time.Millisecond, 10*time.Millisecond, discardShed)
		a.limit = 2
		g := &Gateway{admit: a}
		batch, err := g.Admit(t.Context(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Grow(t.Context(), batch, 5); err != nil {
			t.Fatalf("a batch of 6 alone over a limit of 2: %v", err)
		}
		if _, err := g.Admit(t.Context(), 1); !errors.Is(err, ErrOverloaded) {
			t.Errorf("a single beside the batch: %v, want shed", err)
		}
		time.Sleep(time.Hour)
		batch.Release()
		batch.Release() // twice is harmless
		if inFlight, limit := g.AdmissionState(); inFlight != 0 || limit != 2 || a.adapt.n != 0 {
			t.Errorf("after the batch: %d in flight, limit %d, %d service times learned; want 0, 2 (the window not closed), 0", inFlight, limit, a.adapt.n)
		}
		other, _ := g.Admit(t.Context(), 1)
		var oe *OverloadError
		if err := g.Grow(t.Context(), other, 8); !errors.As(err, &oe) || oe.Reason != ShedTooLarge {
			t.Errorf("growing to 9 over a ceiling of 8: %v, want too_large", err)
		}
		other.Release()
		if _, limit := g.AdmissionState(); limit != 3 {
			t.Errorf("a single's release closed the hour-long window: limit %d, want 3 (up by one)", limit)
		}
	})
}
