// Package breaker is a consecutive-failure circuit breaker.
//
// A Breaker starts closed. After Failures consecutive failed calls it opens:
// Allow refuses every call with ErrOpen until Cooldown has passed, then the
// breaker is half-open and Allow lets exactly one probe call through. The
// probe's success closes the breaker; its failure opens it again for another
// Cooldown. A call whose outcome says nothing about the remote's health (the
// caller gave up) is reported with Ignore, which frees the probe slot.
//
// Failures of overlapping calls count once: a failure counts towards the
// streak only if its call was admitted after the previous counted failure
// was reported. When every call in flight fails together (the caller's
// process stalled past their deadlines, or one burst of errors), that is one
// event, not Failures of them; a remote that keeps failing still opens the
// breaker after Failures rounds of calls. Calls made one after another, as
// in the tests, count one by one.
//
// Outcomes are matched to the state they were allowed in by a generation
// number carried in the Ticket, so a slow call admitted while the breaker was
// closed cannot close a breaker that has since opened, and cannot count as a
// second failure of a half-open probe.
package breaker

import (
	"errors"
	"sync"
	"time"
)

// ErrOpen is returned by Allow while the breaker is open, or half-open with
// its probe already in flight.
var ErrOpen = errors.New("circuit breaker open")

// State is the breaker's state.
type State int

// The states.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Outcome is how an allowed call ended.
type Outcome int

// The outcomes.
const (
	// Success: the remote answered; resets the failure count, closes a
	// half-open breaker.
	Success Outcome = iota
	// Failure: the remote failed (timeout, refused, 5xx, bad payload).
	Failure
	// Ignore: the call ended without telling anything about the remote
	// (the caller cancelled it); frees a half-open probe slot.
	Ignore
)

// Defaults for a zero Config.
const (
	DefaultFailures = 5
	DefaultCooldown = 10 * time.Second
)

// Config configures a Breaker. The zero value is usable.
type Config struct {
	// Failures is the number of consecutive failures that opens the
	// breaker (default 5).
	Failures int
	// Cooldown is how long the breaker stays open before it lets one probe
	// through (default 10s).
	Cooldown time.Duration
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// OnChange, when set, is called after every state change, outside the
	// breaker's lock (it may call State), on the goroutine that caused the
	// change. Calls for concurrent changes may arrive out of order.
	OnChange func(from, to State)
}

// Ticket identifies one allowed call; pass it back to Done.
type Ticket struct {
	gen   uint64
	seq   uint64 // admission order
	probe bool
}

// Breaker is a circuit breaker. It is safe for concurrent use; create it with
// New.
type Breaker struct {
	failures int
	cooldown time.Duration
	now      func() time.Time
	onChange func(from, to State)

	mu          sync.Mutex
	state       State
	gen         uint64 // incremented on every state change
	consecutive int
	seq         uint64 // calls admitted so far
	// counted is the last admission number at the time the latest counted
	// failure was reported: failures of calls admitted up to it overlapped
	// that failure and do not count again.
	counted  uint64
	openedAt time.Time
	probing  bool // a half-open probe is in flight
	// pending holds state changes made under mu, reported by unlock.
	pending []change
}

type change struct{ from, to State }

// New returns a closed breaker.
func New(cfg Config) *Breaker {
	b := &Breaker{failures: cfg.Failures, cooldown: cfg.Cooldown, now: cfg.Now, onChange: cfg.OnChange}
	if b.failures <= 0 {
		b.failures = DefaultFailures
	}
	if b.cooldown <= 0 {
		b.cooldown = DefaultCooldown
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// Allow reports whether a call may go ahead. On success the caller must pass
// the Ticket to Done exactly once when the call ends. While the breaker is
// open, or half-open with the probe in flight, it returns ErrOpen at once.
func (b *Breaker) Allow() (Ticket, error) {
	b.mu.Lock()
	defer b.unlock()
	b.advanceLocked()
	switch b.state {
	case Open:
		return Ticket{}, ErrOpen
	case HalfOpen:
		if b.probing {
			return Ticket{}, ErrOpen
		}
		b.probing = true
		b.seq++
		return Ticket{gen: b.gen, seq: b.seq, probe: true}, nil
	}
	b.seq++
	return Ticket{gen: b.gen, seq: b.seq}, nil
}

// Done records the outcome of the call t was issued for. Outcomes of calls
// admitted in an earlier state are ignored.
func (b *Breaker) Done(t Ticket, o Outcome) {
	b.mu.Lock()
	defer b.unlock()
	if t.gen != b.gen {
		return
	}
	if t.probe {
		b.probing = false
		switch o {
		case Success:
			b.setLocked(Closed)
		case Failure:
			b.setLocked(Open)
		}
		return
	}
	switch o {
	case Success:
		b.consecutive, b.counted = 0, 0
	case Failure:
		if t.seq <= b.counted {
			return // overlapped the last counted failure
		}
		b.consecutive++
		b.counted = b.seq
		if b.consecutive >= b.failures {
			b.setLocked(Open)
		}
	}
}

// State returns the current state (open turns half-open once the cooldown has
// passed, even before the next Allow).
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.unlock()
	b.advanceLocked()
	return b.state
}

// unlock releases mu and reports the state changes made while it was held.
func (b *Breaker) unlock() {
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	if b.onChange == nil {
		return
	}
	for _, c := range pending {
		b.onChange(c.from, c.to)
	}
}

func (b *Breaker) advanceLocked() {
	if b.state == Open && !b.now().Before(b.openedAt.Add(b.cooldown)) {
		b.setLocked(HalfOpen)
	}
}

func (b *Breaker) setLocked(s State) {
	if b.onChange != nil && s != b.state {
		b.pending = append(b.pending, change{b.state, s})
	}
	b.state = s
	b.gen++
	b.consecutive, b.counted = 0, 0
	b.probing = false
	if s == Open {
		b.openedAt = b.now()
	}
}
