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
	// ShedRecorder: the recorder is behind — its queue holds several
	// batches (record.Recorder.Behind) for the whole queue wait, or as many
	// records as the limit wait for a full queue's spill to the spool — so
	// answering more would only add records it cannot write.
	ShedRecorder = "recorder_behind"
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
	case ShedRecorder:
		return "overloaded: the recorder is behind (records come faster than the store takes them); retry later"
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

	mu      sync.Mutex
	held    int64 // predictions admitted and not released
	limit   int64 // the current limit: max, or less when adaptive
	waiters list.List
	adapt   *adaptive // nil: the limit is fixed at max
	// behind, when set, reports that the recorder has fallen behind:
	// nothing is admitted meanwhile (see recorderGate).
	behind func() bool
}

// recorderGate is the recorder as admission watches it
// (*record.Recorder): while it is behind, requests wait in the queue
// instead of being admitted, and each batch it writes lets the queue look
// again. Waiting requests are parked goroutines, so the processor goes to
// the recorder (and to requests already admitted): on a saturated server
// with thousands of connections the recorder would otherwise get one turn
// in thousands, fall further behind and end up spilling to disk.
type recorderGate interface {
	Behind() bool
	NotifyProgress(f func())
}

// kick admits queued requests that fit now (the recorder made progress).
func (a *admission) kick() {
	a.mu.Lock()
	a.admitWaiters()
	a.mu.Unlock()
}

// refuse counts a shed request.
func (a *admission) refuse(reason string) {
	a.lastShed.Store(time.Now().UnixNano())
	a.shed(reason)
}

// waiter is a request queued for admission; ready is closed once it is
// admitted.
type waiter struct {
	n, own int64
	ready  chan struct{}
}

// adaptive moves the limit with the service time of admitted single
// predictions (admission to answer written; a batch's time grows with its
// size, so batches do not teach it), in windows of twice the target: a
// window in which more than a tenth of them took longer than the target
// while at least half the limit was in use cuts the limit by a quarter
// (not below floor, 8 × GOMAXPROCS); any other window with traffic raises
// it by an eighth (at least 1, not above the ceiling). Admitted requests
// thus keep meeting their deadlines when the CPU they were given shrinks
// (other processes, GC) and concurrency is what makes them wait, and the
// limit climbs back when the CPU returns. Slowness at low concurrency
// (a slow test machine, one heavy request) is not the limit's to fix and
// leaves it alone.
type adaptive struct {
	target, window time.Duration
	floor          int64
	start          time.Time
	n, slow        int
	peak           int64 // most predictions in flight during the window
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
			floor: min(int64(limit), int64(8*runtime.GOMAXPROCS(0))), start: time.Now()}
	}
	return a
}

// fits reports whether n more predictions may be admitted now for a
// request already holding own of them. Called with mu held.
func (a *admission) fits(n, own int64) bool {
	return (a.held+n <= a.limit || a.held == own) && (a.behind == nil || !a.behind())
}

// admitNow admits n for a request holding own when nobody is queued and
// they fit. Called with mu held.
func (a *admission) admitNow(n, own int64) bool {
	if a.waiters.Len() > 0 || !a.fits(n, own) {
		return false
	}
	a.hold(n)
	return true
}

// hold counts n more predictions in flight. Called with mu held.
func (a *admission) hold(n int64) {
	a.held += n
	if a.adapt != nil {
		a.adapt.peak = max(a.adapt.peak, a.held)
	}
}

// acquire queues for n until admitted, the queue wait ends or ctx ends;
// own is what the request already holds.
func (a *admission) acquire(ctx context.Context, n, own int64) error {
	a.mu.Lock()
	if a.admitNow(n, own) {
		a.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, own: own, ready: make(chan struct{})}
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

// release gives n back; learn: the request was a single prediction, whose
// service time took teaches the adaptive limit.
func (a *admission) release(n int64, took time.Duration, learn bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held -= n
	if a.adapt != nil && learn {
		a.learn(took, time.Now())
	}
	a.admitWaiters()
}

// admitWaiters admits queued requests in order while they fit. Called with
// mu held.
func (a *admission) admitWaiters() {
	for e := a.waiters.Front(); e != nil; e = a.waiters.Front() {
		w := e.Value.(*waiter)
		if !a.fits(w.n, w.own) {
			return
		}
		a.hold(w.n)
		a.waiters.Remove(e)
		close(w.ready)
	}
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
	case ad.slow*10 > ad.n && ad.peak*2 >= a.limit:
		a.limit = max(ad.floor, a.limit*3/4)
	case ad.n > 0:
		a.limit = min(a.max, a.limit+max(1, a.limit/8))
	}
	ad.start, ad.n, ad.slow, ad.peak = now, 0, 0, a.held
}

// Ticket is one request's admission. Release gives its room back once the
// answer is written; it may be called more than once, and on a nil Ticket
// (admission off).
type Ticket struct {
	a     *admission
	n     int64
	start time.Time
	batch bool
	done  atomic.Bool
}

// Release gives the ticket's room back.
func (t *Ticket) Release() {
	if t == nil || t.a == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.a.release(t.n, time.Since(t.start), t.n == 1 && !t.batch)
}

// Admit reserves room for n predictions (the instances of one request),
// waiting at most the queue wait. The error is an *OverloadError wrapping
// ErrOverloaded (answer 503 with Retry-After). It is safe for concurrent
// use; with admission off (max_in_flight < 0) it always admits.
func (g *Gateway) Admit(ctx context.Context, n int) (*Ticket, error) {
	a := g.admit
	if a == nil || n <= 0 {
		return &Ticket{}, nil
	}
	w := int64(n)
	if err := g.reserve(ctx, w, 0); err != nil {
		return nil, err
	}
	return &Ticket{a: a, n: w, start: time.Now()}, nil
}

// Grow reserves k more predictions for t's request (a batch whose size is
// known once its body is decoded), waiting at most the queue wait; while it
// waits, the request's own room counts as idle, so a batch larger than an
// adaptive limit is admitted when it alone is in flight. The request is
// then a batch, which does not teach the adaptive limit. On error t keeps
// what it held.
func (g *Gateway) Grow(ctx context.Context, t *Ticket, k int) error {
	if t == nil || t.a == nil || k <= 0 {
		return nil
	}
	if err := g.reserve(ctx, int64(k), t.n); err != nil {
		return err
	}
	t.n += int64(k)
	t.batch = true
	return nil
}

// reserve admits n predictions for a request holding own, or says why not.
func (g *Gateway) reserve(ctx context.Context, n, own int64) error {
	a := g.admit
	if n+own > a.max {
		a.refuse(ShedTooLarge)
		return &OverloadError{Reason: ShedTooLarge, Limit: a.max}
	}
	// Records are handed to the recorder after the answer has left and
	// the request's room is given back; while the recorder's queue is full
	// they wait for its spill to the spool. Admitting more requests than
	// the limit's worth of waiting records would let them pile up in
	// memory without bound.
	if waiting := g.handing.Load(); waiting >= a.max {
		a.refuse(ShedRecorder)
		return &OverloadError{Reason: ShedRecorder, InFlight: waiting, Limit: a.max}
	}
	if err := a.acquire(ctx, n, own); err != nil {
		reason := ShedQueueWait
		switch {
		case ctx.Err() != nil:
			reason = ShedGone
		case a.behind != nil && a.behind():
			a.refuse(ShedRecorder)
			return &OverloadError{Reason: ShedRecorder, Limit: a.max}
		}
		a.refuse(reason)
		inFlight, limit := g.AdmissionState()
		return &OverloadError{Reason: reason, InFlight: inFlight, Limit: limit, Ceiling: a.max}
	}
	return nil
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
