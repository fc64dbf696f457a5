package gateway

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Admission control sheds load before any work is done: a request is
// admitted only while fewer than the limit of predictions (a batch counts
// its instances) are in flight; a request that cannot be admitted within
// the queue wait is refused with ErrOverloaded, so what is admitted still
// meets its deadlines instead of every request missing them in a queue.

// ErrOverloaded is wrapped by Admit's error when the request is shed.
var ErrOverloaded = errors.New("overloaded")

// Reasons a request is shed (the label of rendezvous_admission_shed_total).
const (
	ShedQueueWait = "queue_wait" // no room within the queue wait
	ShedTooLarge  = "too_large"  // a batch larger than the whole limit
	ShedGone      = "client_gone"
)

// DefaultMaxInFlightPerCPU times GOMAXPROCS is the admission limit when
// Params.MaxInFlight is 0; DefaultMaxQueueWait is the queue wait when
// Params.MaxQueueWait is 0.
const (
	DefaultMaxInFlightPerCPU = 64
	DefaultMaxQueueWait      = 2 * time.Millisecond
)

// OverloadError is Admit's error: why the request was shed.
type OverloadError struct {
	Reason   string
	InFlight int64
	Limit    int64
}

func (e *OverloadError) Error() string {
	switch e.Reason {
	case ShedTooLarge:
		return fmt.Sprintf("overloaded: a request of this many instances can never be admitted (server.max_in_flight %d)", e.Limit)
	case ShedGone:
		return "overloaded: the client went away while waiting for admission"
	}
	return fmt.Sprintf("overloaded: %d of %d predictions in flight (server.max_in_flight); retry later", e.InFlight, e.Limit)
}

func (e *OverloadError) Unwrap() error { return ErrOverloaded }

// admission is the gateway's limiter; nil admits everything.
type admission struct {
	sem      *semaphore.Weighted
	limit    int64
	wait     time.Duration
	inFlight atomic.Int64
	lastShed atomic.Int64 // unix nanoseconds of the last shed request
	shed     func(reason string)
}

// refuse counts a shed request.
func (a *admission) refuse(reason string) {
	a.lastShed.Store(time.Now().UnixNano())
	a.shed(reason)
}

func newAdmission(limit int, wait time.Duration, shed func(string)) *admission {
	if limit < 0 {
		return nil
	}
	if limit == 0 {
		limit = DefaultMaxInFlightPerCPU * runtime.GOMAXPROCS(0)
	}
	if wait <= 0 {
		wait = DefaultMaxQueueWait
	}
	return &admission{sem: semaphore.NewWeighted(int64(limit)), limit: int64(limit), wait: wait, shed: shed}
}

// Admit reserves room for n predictions (the instances of one request),
// waiting at most the queue wait; release gives the room back when the
// answer has been written. The error is an *OverloadError wrapping
// ErrOverloaded (answer 503 with Retry-After). It is safe for concurrent
// use; with admission off (max_in_flight < 0) it always admits.
func (g *Gateway) Admit(ctx context.Context, n int) (release func(), err error) {
	a := g.admit
	if a == nil || n <= 0 {
		return func() {}, nil
	}
	w := int64(n)
	if w > a.limit {
		a.refuse(ShedTooLarge)
		return nil, &OverloadError{Reason: ShedTooLarge, Limit: a.limit}
	}
	if !a.sem.TryAcquire(w) {
		wctx, cancel := context.WithTimeout(ctx, a.wait)
		err := a.sem.Acquire(wctx, w)
		cancel()
		if err != nil {
			reason := ShedQueueWait
			if ctx.Err() != nil {
				reason = ShedGone
			}
			a.refuse(reason)
			return nil, &OverloadError{Reason: reason, InFlight: a.inFlight.Load(), Limit: a.limit}
		}
	}
	a.inFlight.Add(w)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			a.inFlight.Add(-w)
			a.sem.Release(w)
		}
	}, nil
}

// AdmissionState is the limiter's point-in-time view: predictions in
// flight and the limit (0 when admission is off).
func (g *Gateway) AdmissionState() (inFlight, limit int64) {
	if g.admit == nil {
		return 0, 0
	}
	return g.admit.inFlight.Load(), g.admit.limit
}

// ShedRecently reports whether a request was shed in the last second (the
// replica is saturated: /readyz says not ready so a balancer sends less).
func (g *Gateway) ShedRecently() bool {
	if g.admit == nil {
		return false
	}
	last := g.admit.lastShed.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < time.Second
}
