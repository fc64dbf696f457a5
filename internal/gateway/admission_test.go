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
				if err := a.acquire(t.Context(), n); err != nil {
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
		a.release(3, 0)
		if first := <-order; first != 4 {
			t.Errorf("first admitted: %d, want the batch of 4 (the head of the queue)", first)
		}
		a.release(4, 0)
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
		go func() { big <- a.acquire(t.Context(), 3) }()
		synctest.Wait()
		small := make(chan error, 1)
		start := time.Now()
		go func() { small <- a.acquire(t.Context(), 1) }()
		if err := <-big; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("batch of 3 with 2 of 4 held: %v, want the queue wait to end", err)
		}
		if err := <-small; err != nil {
			t.Errorf("the single behind it: %v", err)
		}
		if took := time.Since(start); took != 10*time.Millisecond {
			t.Errorf("the single waited %v, want exactly the head's queue wait", took)
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
// a tenth of requests exceed the target cut the limit by a quarter down to
// the floor; good windows raise it by an eighth up to the ceiling. Table:
// the share of slow requests per window and the limit after it.
func TestAdmission_AdaptiveLimitFollowsServiceTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ceiling = 64
		target := 10 * time.Millisecond
		a := newAdmission(ceiling, time.Millisecond, target, discardShed)
		floor := int64(min(ceiling, max(1, runtime.GOMAXPROCS(0))))
		if a.adapt.floor != floor || a.adapt.window != 20*time.Millisecond {
			t.Fatalf("floor %d window %v", a.adapt.floor, a.adapt.window)
		}
		window := func(slow, n int) int64 {
			for i := range n {
				took := target // not slower than the target
				if i < slow {
					took = target + time.Microsecond
				}
				a.tryAcquire(1)
				a.release(1, took)
			}
			time.Sleep(a.adapt.window)
			a.tryAcquire(1)
			a.release(1, 0) // closes the window
			return a.limit
		}
		for _, tc := range []struct {
			name    string
			slow, n int
			want    int64
		}{
			{"a tenth slow is still good: at the ceiling", 1, 9, 64},
			{"over a tenth slow: cut by a quarter", 2, 9, 48},
			{"all slow", 10, 10, 36},
			{"all slow", 10, 10, 27},
			{"good again: up an eighth", 0, 10, 30},
			{"good", 0, 10, 33},
		} {
			if got := window(tc.slow, tc.n); got != tc.want {
				t.Errorf("%s (%d of %d+1 slow): limit %d, want %d", tc.name, tc.slow, tc.n, got, tc.want)
			}
		}
		for range 40 {
			window(10, 10)
		}
		if a.limit != floor {
			t.Errorf("after long overload: limit %d, want the floor %d", a.limit, floor)
		}
		for range 60 {
			window(0, 10)
		}
		if a.limit != ceiling {
			t.Errorf("after long good service: limit %d, want the ceiling %d", a.limit, ceiling)
		}
	})
}
