package gateway

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
	// Limit is the limit in force; Ceiling is server.max_in_flight (the
	// same unless the limit is adaptive).
	Limit, Ceiling int64
}

func (e *OverloadError) Error() string {
	switch e.Reason {
	case ShedTooLarge:
		return fmt.Sprintf("overloaded: a request of this many instances can never be admitted (server.max_in_flight %d)", e.Limit)
	case ShedGone:
		return "overloaded: the client went away while waiting for admission"
	}
	if e.Ceiling > e.Limit {
		return fmt.Sprintf("overloaded: %d of %d predictions in flight (adaptive limit, server.max_in_flight %d); retry later", e.InFlight, e.Limit, e.Ceiling)
	}
	return fmt.Sprintf("overloaded: %d of %d predictions in flight (server.max_in_flight); retry later", e.InFlight, e.Limit)
}

func (e *OverloadError) Unwrap() error { return ErrOverloaded }

// admission is the gateway's limiter; nil admits everything. Requests wait
// in arrival order (a large batch at the head is not overtaken); one that
// is larger than the current limit is admitted when nothing else is in
// flight, so an adaptive limit below a batch's size cannot starve it.
type admission struct {
	max      int64 // the ceiling: server.max_in_flight
	wait     time.Duration
	lastShed atomic.Int64 // unix nanoseconds of the last shed request
	shed     func(reason string)
	inFlight atomic.Int64 // mirrors held, for lock-free reads

	mu      sync.Mutex
	held    int64 // predictions admitted and not released
	limit   int64 // the current limit: max, or less when adaptive
	waiters list.List
	adapt   *adaptive // nil: the limit is fixed at max
}

// refuse counts a shed request.
func (a *admission) refuse(reason string) {
	a.lastShed.Store(time.Now().UnixNano())
	a.shed(reason)
}

// waiter is a request queued for admission; ready is closed once it is
// admitted.
type waiter struct {
	n     int64
	ready chan struct{}
}

// adaptive moves the limit with the service time of admitted requests
// (admission to answer written), in windows of twice the target: a window
// in which more than a tenth of requests took longer than the target cuts
// the limit by a quarter (not below floor); any other window with traffic
// raises it by an eighth (at least 1, not above the ceiling). Admitted
// requests thus keep meeting their deadlines when the CPU they were given
// shrinks (other processes, GC, a slower model), and the limit climbs back
// when it returns.
type adaptive struct {
	target, window time.Duration
	floor          int64
	start          time.Time
	n, slow        int
}

func newAdmission(limit int, wait, target time.Duration, shed func(string)) *admission {
	if limit < 0 {
		return nil
	}
	if limit == 0 {
		limit = DefaultMaxInFlightPerCPU * runtime.GOMAXPROCS(0)
	}
	if wait <= 0 {
		wait = DefaultMaxQueueWait
	}
	a := &admission{max: int64(limit), limit: int64(limit), wait: wait, shed: shed}
	if target > 0 {
		a.adapt = &adaptive{target: target, window: min(max(2*target, 20*time.Millisecond), time.Second),
			floor: min(int64(limit), int64(max(1, runtime.GOMAXPROCS(0)))), start: time.Now()}
	}
	return a
}

// fits reports whether n more predictions may be admitted now. Called with
// mu held.
func (a *admission) fits(n int64) bool {
	return a.held+n <= a.limit || a.held == 0
}

// tryAcquire admits n at once when nobody is queued and they fit.
func (a *admission) tryAcquire(n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiters.Len() > 0 || !a.fits(n) {
		return false
	}
	a.held += n
	a.inFlight.Store(a.held)
	return true
}

// acquire queues for n until admitted, the queue wait ends or ctx ends.
func (a *admission) acquire(ctx context.Context, n int64) error {
	a.mu.Lock()
	if a.waiters.Len() == 0 && a.fits(n) {
		a.held += n
		a.inFlight.Store(a.held)
		a.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	elem := a.waiters.PushBack(w)
	a.mu.Unlock()
	timer := time.NewTimer(a.wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-timer.C:
		err = context.DeadlineExceeded
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-w.ready: // admitted while giving up: keep it
		return nil
	default:
	}
	isFront := a.waiters.Front() == elem
	a.waiters.Remove(elem)
	if isFront {
		a.admitWaiters() // the next in line may fit where this one did not
	}
	return err
}

// release gives n back, learning from how long the request took.
func (a *admission) release(n int64, took time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held -= n
	if a.adapt != nil {
		a.learn(took, time.Now())
	}
	a.admitWaiters()
	a.inFlight.Store(a.held)
}

// admitWaiters admits queued requests in order while they fit. Called with
// mu held.
func (a *admission) admitWaiters() {
	for e := a.waiters.Front(); e != nil; e = a.waiters.Front() {
		w := e.Value.(*waiter)
		if !a.fits(w.n) {
			return
		}
		a.held += w.n
		a.waiters.Remove(e)
		close(w.ready)
	}
	a.inFlight.Store(a.held)
}

// learn adds one service time to the window and, when the window is over,
// moves the limit. Called with mu held.
func (a *admission) learn(took time.Duration, now time.Time) {
	ad := a.adapt
	ad.n++
	if took > ad.target {
		ad.slow++
	}
	if now.Sub(ad.start) < ad.window {
		return
	}
	switch {
	case ad.slow*10 > ad.n:
		a.limit = max(ad.floor, a.limit*3/4)
	case ad.n > 0:
		a.limit = min(a.max, a.limit+max(1, a.limit/8))
	}
	ad.start, ad.n, ad.slow = now, 0, 0
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
	if w > a.max {
		a.refuse(ShedTooLarge)
		return nil, &OverloadError{Reason: ShedTooLarge, Limit: a.max}
	}
	if !a.tryAcquire(w) {
		if err := a.acquire(ctx, w); err != nil {
			reason := ShedQueueWait
			if ctx.Err() != nil {
				reason = ShedGone
			}
			a.refuse(reason)
			_, limit := g.AdmissionState()
			return nil, &OverloadError{Reason: reason, InFlight: a.inFlight.Load(), Limit: limit, Ceiling: a.max}
		}
	}
	start := time.Now()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			a.release(w, time.Since(start))
		}
	}, nil
}

// AdmissionState is the limiter's point-in-time view: predictions in
// flight and the current limit (0 when admission is off).
func (g *Gateway) AdmissionState() (inFlight, limit int64) {
	a := g.admit
	if a == nil {
		return 0, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held, a.limit
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
