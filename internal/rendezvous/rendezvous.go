// Package rendezvous sends each request to every live model at once and
// decides which single answer the caller gets, without ever letting a model
// that is not serving delay that answer.
//
// # Primary and secondaries
//
// The production member is primary: the caller gets production's prediction
// whenever production answers without error before its own deadline.
//
// The fallback members (Policy.Fallback; by default the canary, then the
// challengers in member order) are secondary backstops, tried strictly in
// that order and only when production has failed. Every member, primary or
// not, is called for every request, so a backstop's answer is usually ready
// the moment production fails. Members that are not in the fallback list
// are shadows: they are called and recorded, and never serve.
//
// # What an error on each side does
//
//   - Production fails — returns an error, panics, is skipped because it is
//     at its in-flight cap, or has not answered by its deadline: the router
//     falls back. The caller gets the first fallback, in order, that
//     answered without error before its own deadline, with Decision.Fallback
//     set. Production's failure never reaches the caller as an error; it is
//     in production's Result.
//   - A fallback or shadow fails: the failure is recorded in that member's
//     Result and never reaches the caller. It only stops that member from
//     serving.
//   - Nothing qualifies — production and every fallback failed, or the
//     overall deadline passed: Route returns an error wrapping ErrNoAnswer
//     and a Decision with Reason "unavailable" (the API answers 503).
//
// # Timing
//
// Route returns as soon as the policy can decide: when production answers
// in time; when production has failed and the first fallback still in the
// running answers in time; when every candidate has failed; or at
// Policy.OverallDeadline, whichever comes first. It never waits for a
// member the decision does not depend on.
//
// Each member's context is cancelled at its deadline, so a remote call
// aborts there. A member that ignores its context and answers after its
// deadline is recorded as late (its prediction kept, never served). A member
// that has not returned by its deadline plus the grace period (WithGrace,
// default DefaultGrace) is cut off and recorded as timeout; its goroutine
// and its in-flight slot are released only when its Predict really returns,
// so a hung in-process model fills its in-flight cap and is then skipped,
// instead of piling up goroutines without bound.
//
// # Inline members
//
// A member whose model implements model.Inliner (an in-process bundle) is
// not given a goroutine: Route calls it on its own goroutine, after starting
// the others, production first, then the fallbacks, then the shadows. Such
// a call takes microseconds, less than starting a goroutine; on a busy
// server a spawned goroutine waits behind every other runnable one and
// could miss its deadline while the request's own goroutine, already
// running, computes the answer at once. An inline member's latency is still
// measured from the start of the request (so a shadow called after
// production includes production's microseconds) and judged against its
// deadline like any other; it cannot be cut off, so it must be bounded.
//
// A Result's status is judged by that member's own measured latency; the
// decision by what had arrived when it was made. In the rare race where an
// answer measured just inside its deadline arrives just after the router saw
// the deadline pass, the record shows ok for a member that did not serve.
//
// Member contexts carry the caller's values but not its cancellation: a
// client that goes away makes Route return at once with the context's error,
// yet every member still runs to its own deadline, so the record measures
// the models, not the client.
//
// # Recording
//
// Every request produces exactly one call of the complete callback given to
// Route, once every member has answered or been cut off: before Route
// returns, on the caller's goroutine, when every member had answered by the
// decision (all inline), else on a goroutine of its own. It receives the Decision Route returned and every member's
// Result in member order. Wait blocks until all callbacks have returned.
//
// The package knows nothing of HTTP or stores.
package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Defaults applied by New.
const (
	// DefaultDeadline is a member's deadline when Member.Deadline is 0.
	DefaultDeadline = 50 * time.Millisecond
	// DefaultMaxInFlight is a member's cap when Member.MaxInFlight is 0.
	DefaultMaxInFlight = 1024
	// InlineMax is the most an inline member's Predict may take, on
	// average, and stay inline (at most a tenth of its deadline): a heavier
	// one is called on a goroutine like any other, so it cannot hold up
	// the fallbacks behind it.
	InlineMax = time.Millisecond
	// DefaultGrace is how long after its deadline a member that has not
	// returned is still waited for (to record a late answer) before it is
	// cut off and recorded as timeout.
	DefaultGrace = time.Second
)

// Decision reasons.
const (
	ReasonPreferred   = "preferred"   // production answered in time
	ReasonFallback    = "fallback"    // a fallback member answered in time
	ReasonUnavailable = "unavailable" // nothing qualified (or the caller went away)
)

// Sentinel errors.
var (
	// ErrNoAnswer is wrapped by Route's error when no member qualified.
	ErrNoAnswer = errors.New("no model answered in time")
	// ErrInvalidConfig is wrapped by every error New returns.
	ErrInvalidConfig = errors.New("invalid rendezvous configuration")
	// ErrPanic is wrapped by Result.Err of a member whose Predict panicked.
	ErrPanic = errors.New("model panicked")
	// ErrInFlightCap is wrapped by Result.Err of a skipped member.
	ErrInFlightCap = errors.New("in-flight cap reached")
	// ErrCutOff is wrapped by Result.Err of a member that had not returned
	// by its deadline plus the grace period.
	ErrCutOff = errors.New("no answer by the hard cut-off")
	// ErrNotSampled is wrapped by Result.Err of a member skipped because
	// the request is outside its sample (Member.Skip).
	ErrNotSampled = errors.New("request not in the member's sample")
	// ErrPaused is wrapped by Result.Err of a paused member.
	ErrPaused = errors.New("member is paused")
)

// Option configures a Router.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	grace    time.Duration
	graceSet bool
}

// WithLogger sets the logger for panics and cut-offs (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithGrace sets how long after its deadline a member is still waited for
// before it is cut off (default DefaultGrace). 0 cuts members off at their
// deadline, so late answers are not recorded; negative is an error.
func WithGrace(d time.Duration) Option {
	return func(o *options) { o.grace, o.graceSet = d, true }
}

// Router fans requests out to its members and applies the policy. It is safe
// for concurrent use; its configuration is fixed at New.
type Router struct {
	members []*member
	// deadlines are the distinct member deadlines; members with the same
	// deadline share one context per request (member.group indexes it).
	deadlines []time.Duration
	// order is production's index followed by the fallbacks' indices.
	order []int
	// inlineOrder is the order inline members are called in: those of
	// order first (production, then the fallbacks), then the shadows in
	// member order, so production's answer is ready soonest.
	inlineOrder []int
	prod        int
	overall     time.Duration
	grace       time.Duration
	log         *slog.Logger

	mu          sync.Mutex
	outstanding int
	idle        chan struct{} // closed when outstanding drops to 0
}

type member struct {
	Member
	group int
	// inlineMax > 0: the model implements model.Inliner and asks to be
	// called on the request's goroutine (see inlineOrder), which it is
	// while its cost, a moving average of its own Predict time
	// (nanoseconds), stays under inlineMax. Every call updates it, inline
	// or on a goroutine, so a member moved to goroutines by a slow spell
	// comes back once its calls are fast again.
	inlineMax time.Duration
	cost      atomic.Int64
	inFlight  atomic.Int64
}

// observe adds one Predict time to an inline member's cost. A sample counts
// at most costClamp × inlineMax: a call whose goroutine was descheduled in
// the middle (behind thousands of runnable connections, or parked to
// assist the garbage collector) took that long in wall-clock time, not in
// work, and one such stall must not move a cheap member off the request's
// goroutine; a member whose every call is heavy still passes inlineMax
// within a few calls.
func (m *member) observe(d time.Duration) {
	if m.inlineMax <= 0 {
		return
	}
	d = min(d, costClamp*m.inlineMax)
	cost := m.cost.Load() // racing updates lose a sample, not the average
	m.cost.Store(cost + (int64(d)-cost)/8)
}

// costClamp bounds one sample of a member's cost, in units of its
// inlineMax: one stalled call raises the moving average by at most half
// of inlineMax, three in a row move the member to a goroutine.
const costClamp = 4

// New checks the members and policy, applies defaults and returns a
// Router. Every problem is reported at once; each names the member or
// policy field, and the error wraps ErrInvalidConfig.
//
// These are the router's own invariants — what it needs to route without
// panicking and to mean what its decision says — checked on typed input.
// Validating what a user wrote, with the YAML path and line of each
// problem, is config.Config.Validate's job: a validated configuration
// always satisfies these rules, so the gateway never reports them to a
// user; they stop a program that builds a Router by hand from building a
// broken one.
//
// Rules: at least one member; exactly one production and at most one
// canary; names non-empty and unique; models non-nil; roles known;
// Deadline and MaxInFlight >= 0 (0 selects DefaultDeadline,
// DefaultMaxInFlight); Policy.Fallback names existing members, not
// production, each once (empty selects the canary, then the challengers in
// member order); Policy.OverallDeadline >= 0 (0 selects the largest deadline
// among production and the fallbacks).
func New(members []Member, policy Policy, opts ...Option) (*Router, error) {
	o := options{grace: DefaultGrace}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	b := builder{r: &Router{prod: -1, grace: o.grace, log: o.logger}, canary: -1}
	if len(members) == 0 {
		b.bad("members: need at least one (a production model)")
	}
	if o.grace < 0 {
		b.bad("grace: must be >= 0, got %v", o.grace)
	}
	b.addMembers(members)
	b.order(members, policy.Fallback)
	b.overall(policy.OverallDeadline)
	if len(b.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(b.errs...))
	}
	r := b.r
	for _, m := range r.members {
		m.group = slices.Index(r.deadlines, m.Deadline)
		if m.group < 0 {
			m.group = len(r.deadlines)
			r.deadlines = append(r.deadlines, m.Deadline)
		}
		if in, ok := m.Model.(model.Inliner); ok && in.Inline() {
			m.inlineMax = min(InlineMax, m.Deadline/10)
		}
	}
	for _, i := range r.order {
		if r.members[i].inlineMax > 0 {
			r.inlineOrder = append(r.inlineOrder, i)
		}
	}
	for i, m := range r.members {
		if m.inlineMax > 0 && !slices.Contains(r.order, i) {
			r.inlineOrder = append(r.inlineOrder, i)
		}
	}
	return r, nil
}

// builder is the state of New: the Router being built and every problem
// found so far.
type builder struct {
	r      *Router
	index  map[string]int // member name → index + 1
	canary int
	errs   []error
}

func (b *builder) bad(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

// addMembers checks each member, applies its defaults and finds
// production and the canary.
func (b *builder) addMembers(members []Member) {
	r := b.r
	b.index = make(map[string]int, len(members))
	for i, m := range members {
		who := fmt.Sprintf("members[%d] %q", i, m.Name)
		switch {
		case m.Name == "":
			b.bad("members[%d]: name is empty", i)
		case b.index[m.Name] != 0:
			b.bad("%s: duplicate name (also members[%d])", who, b.index[m.Name]-1)
		default:
			b.index[m.Name] = i + 1
		}
		if m.Model == nil {
			b.bad("%s: model is nil", who)
		}
		switch {
		case m.Role == model.RoleProduction && r.prod >= 0:
			b.bad("%s: second production model (members[%d] %q is production); exactly one is allowed", who, r.prod, members[r.prod].Name)
		case m.Role == model.RoleProduction:
			r.prod = i
		case m.Role == model.RoleCanary && b.canary >= 0:
			b.bad("%s: second canary (members[%d] %q is the canary); at most one is allowed", who, b.canary, members[b.canary].Name)
		case m.Role == model.RoleCanary:
			b.canary = i
		case !m.Role.Valid():
			b.bad("%s: role %q: must be production, canary or challenger", who, m.Role)
		}
		if m.Deadline < 0 {
			b.bad("%s: deadline %v: must be >= 0", who, m.Deadline)
		} else if m.Deadline == 0 {
			m.Deadline = DefaultDeadline
		}
		if m.Skip < 0 || m.Skip > 1 || m.Skip != m.Skip {
			b.bad("%s: skip %v: must be in [0, 1]", who, m.Skip)
		}
		if m.Role == model.RoleProduction && (m.Skip != 0 || m.Paused) {
			b.bad("%s: the production model serves every request: it cannot be paused or sampled", who)
		}
		if m.MaxInFlight < 0 {
			b.bad("%s: max in-flight %d: must be >= 0", who, m.MaxInFlight)
		} else if m.MaxInFlight == 0 {
			m.MaxInFlight = DefaultMaxInFlight
		}
		r.members = append(r.members, &member{Member: m})
	}
	if len(members) > 0 && r.prod < 0 {
		b.bad("members: no production model; exactly one is required")
	}
}

// order sets Router.order: production, then the fallbacks (the canary and
// the challengers in member order when fallback is empty).
func (b *builder) order(members []Member, fallback []string) {
	r := b.r
	if r.prod >= 0 {
		r.order = append(r.order, r.prod)
	}
	if len(fallback) == 0 {
		if b.canary >= 0 {
			r.order = append(r.order, b.canary)
		}
		for i, m := range members {
			if m.Role == model.RoleChallenger {
				r.order = append(r.order, i)
			}
		}
	}
	seen := make(map[string]bool, len(fallback))
	for k, name := range fallback {
		i, ok := b.index[name]
		switch {
		case !ok:
			b.bad("policy.fallback[%d]: %q is not a member", k, name)
		case seen[name]:
			b.bad("policy.fallback[%d]: %q is listed twice", k, name)
		case i-1 == r.prod:
			b.bad("policy.fallback[%d]: %q is the production model; fallbacks back it up", k, name)
		default:
			r.order = append(r.order, i-1)
		}
		seen[name] = true
	}
}

// overall sets Router.overall: d, or the largest deadline among production
// and the fallbacks when d is 0.
func (b *builder) overall(d time.Duration) {
	r := b.r
	switch {
	case d < 0:
		b.bad("policy.overall_deadline %v: must be >= 0", d)
	case d > 0:
		r.overall = d
	default:
		for _, i := range r.order {
			r.overall = max(r.overall, r.members[i].Deadline)
		}
	}
}

// outcome is what a member goroutine reports.
type outcome struct {
	i        int
	pred     model.Prediction
	err      error
	panicked bool
	lat      time.Duration
}

// call is the state of one Route. Route's goroutine owns it until the
// decision, then hands it to the finishing goroutine.
type call struct {
	r       *Router
	start   time.Time
	results []Result
	final   []bool // results[i] will not change any more
	pending int    // members not final
	// ch receives the outcomes of members called on goroutines; nil when
	// every member called was inline.
	ch chan outcome
	// inline has bit i set for member i to be called inline (members
	// past the 64th never are).
	inline uint64
	timer  *time.Timer
	// ctxs[g] is the context of the members whose deadline is
	// r.deadlines[g]; cancelled by finish once every member is final.
	ctxs    []context.Context
	cancels []context.CancelFunc
	ctxBuf  [2]context.Context
	cancBuf [2]context.CancelFunc
	// resBuf and finBuf back results and final for up to inlineMembers
	// members, so a call is one allocation instead of three.
	resBuf [inlineMembers]Result
	finBuf [inlineMembers]bool
}

// inlineMembers is how many members a call holds without extra allocations.
const inlineMembers = 4

// Route sends in to every member concurrently and returns the policy's
// Decision as soon as it is made (see the package comment). It returns an
// error wrapping ErrNoAnswer when nothing qualified, or wrapping ctx's
// error when ctx is done first; in both cases Decision.Reason is
// "unavailable".
//
// complete, when non-nil, is called exactly once after every member has
// answered or been cut off, with the returned Decision and every member's
// Result in member order: before Route returns, on the caller's goroutine,
// when every member had answered by the decision (inline members, see the
// package comment); otherwise on a goroutine of its own. complete owns the slice. A panic in
// complete is recovered and logged. in must not be modified until complete
// has been called.
func (r *Router) Route(ctx context.Context, in schema.Input, complete func(Decision, []Result)) (Decision, error) {
	return r.RouteKey(ctx, "", in, complete)
}

// RouteKey is Route with a sampling key (the request id): a member with
// Skip > 0 is called only when SampleHash(key) >= Skip. An empty key draws
// a random value instead.
func (r *Router) RouteKey(ctx context.Context, key string, in schema.Input, complete func(Decision, []Result)) (Decision, error) {
	n := len(r.members)
	u := -1.0 // the key's hash, computed once when a member samples
	c := &call{
		r:     r,
		start: time.Now(),
	}
	if n <= inlineMembers {
		c.results, c.final = c.resBuf[:n], c.finBuf[:n]
	} else {
		c.results, c.final = make([]Result, n), make([]bool, n)
	}
	base := ctx
	if ctx.Done() != nil {
		base = context.WithoutCancel(ctx)
	}
	c.ctxs, c.cancels = c.ctxBuf[:0], c.cancBuf[:0]
	for range r.deadlines {
		c.ctxs, c.cancels = append(c.ctxs, nil), append(c.cancels, nil)
	}
	for i, m := range r.members {
		res := &c.results[i]
		res.Name, res.Role, res.Info = m.Name, m.Role, m.Model.Info()
		if m.Paused || m.Skip > 0 {
			if !m.Paused && u < 0 {
				u = sampleValue(key)
			}
			if m.Paused || u < m.Skip {
				res.Status = record.StatusSkipped
				if m.Paused {
					res.Err = ErrPaused
				} else {
					res.Err = fmt.Errorf("%w (sample %.4g)", ErrNotSampled, 1-m.Skip)
				}
				c.final[i] = true
				continue
			}
		}
		if m.inFlight.Add(1) > int64(m.MaxInFlight) {
			m.inFlight.Add(-1)
			res.Status = record.StatusSkipped
			res.Err = fmt.Errorf("%w (%d)", ErrInFlightCap, m.MaxInFlight)
			c.final[i] = true
			continue
		}
		c.pending++
		if i < 64 && time.Duration(m.cost.Load()) < m.inlineMax {
			c.inline |= 1 << i
			continue
		}
		if c.ch == nil {
			c.ch = make(chan outcome, n)
		}
		if c.ctxs[m.group] == nil {
			c.ctxs[m.group], c.cancels[m.group] = context.WithTimeout(base, m.Deadline)
		}
		go c.invoke(i, m, c.ctxs[m.group], in)
	}
	if c.inline != 0 {
		// After the goroutines are started, so remote calls are on their
		// way while the in-process models compute.
		for _, i := range r.inlineOrder {
			if c.inline&(1<<i) != 0 {
				c.callInline(i, r.members[i], base, in)
			}
		}
	}

	var (
		dec Decision
		err error
	)
	for {
		now := time.Since(c.start)
		idx, decided, wake := c.decide(now)
		if decided {
			dec = c.decision(idx, now)
			if idx < 0 {
				err = fmt.Errorf("route request: %w (%s)", ErrNoAnswer, c.summary())
			}
			break
		}
		deadlineC, timerC := c.wakeAt(wake, now)
		select {
		case o := <-c.ch:
			c.accept(o)
		case <-deadlineC:
		case <-timerC:
		case <-ctx.Done():
			dec = c.decision(-1, time.Since(c.start))
			err = fmt.Errorf("route request: %w", ctx.Err())
			if cause := context.Cause(ctx); cause != ctx.Err() {
				err = fmt.Errorf("route request: %w (%w)", ctx.Err(), cause)
			}
		}
		if err != nil {
			break
		}
		c.drain()
	}

	r.track()
	if c.pending == 0 {
		// Every member answered (all inline, typically): nothing is left
		// to wait for, and a goroutine per request would only queue
		// behind every runnable connection of a busy server.
		c.finish(dec, complete)
	} else {
		go c.finish(dec, complete)
	}
	return dec, err
}

// callInline runs inline member i's Predict on the request's goroutine
// and accepts its outcome.
func (c *call) callInline(i int, m *member, ctx context.Context, in schema.Input) {
	o := outcome{i: i}
	t0 := time.Now()
	o.pred, o.panicked, o.err = c.r.predict(ctx, m, in)
	now := time.Now()
	o.lat = now.Sub(c.start)
	m.observe(now.Sub(t0))
	m.inFlight.Add(-1)
	c.accept(o)
}

// invoke runs one member's Predict on its own goroutine.
func (c *call) invoke(i int, m *member, ctx context.Context, in schema.Input) {
	defer m.inFlight.Add(-1) // only when Predict really returned
	o := outcome{i: i}
	t0 := time.Now()
	o.pred, o.panicked, o.err = c.r.predict(ctx, m, in)
	now := time.Now()
	o.lat = now.Sub(c.start)
	// Its own time, not its wait for a CPU.
	m.observe(now.Sub(t0))
	c.ch <- o // buffered for every member: never blocks
}

// predict calls the model, turning a panic into an error.
func (r *Router) predict(ctx context.Context, m *member, in schema.Input) (p model.Prediction, panicked bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("model panicked", "model", m.Name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			p, panicked, err = model.Prediction{}, true, fmt.Errorf("%w: %v", ErrPanic, v)
		}
	}()
	p, err = m.Model.Predict(ctx, in)
	return p, false, err
}

// decide applies the policy at elapsed time now. It returns the serving
// member (-1 for none) when decided, else the elapsed time at which the
// decision could next change without a new answer.
func (c *call) decide(now time.Duration) (idx int, decided bool, wake time.Duration) {
	overall := c.r.overall
	for _, i := range c.r.order {
		if c.final[i] {
			if c.results[i].Status == record.StatusOK {
				return i, true, 0
			}
			continue // failed: try the next
		}
		if d := c.r.members[i].Deadline; now < d && now < overall {
			return -1, false, min(d, overall) // still in the running
		}
		// past its deadline (or the overall one) without an answer: failed
	}
	return -1, true, 0
}

// decision builds the Decision for the serving member idx (-1: none).
func (c *call) decision(idx int, now time.Duration) Decision {
	d := Decision{
		Reason:   ReasonUnavailable,
		Latency:  now,
		Deadline: c.r.members[c.r.prod].Deadline,
	}
	if idx < 0 {
		return d
	}
	res := &c.results[idx]
	d.ServedBy, d.Role, d.Info, d.Prediction = res.Name, res.Role, res.Info, res.Prediction
	if idx == c.r.prod {
		d.Reason = ReasonPreferred
	} else {
		d.Reason, d.Fallback = ReasonFallback, true
	}
	return d
}

// summary describes why nothing qualified, for the error message.
func (c *call) summary() string {
	var b strings.Builder
	for k, i := range c.r.order {
		if k > 0 {
			b.WriteString("; ")
		}
		res := &c.results[i]
		status := res.Status
		if !c.final[i] {
			status = record.StatusTimeout
		}
		fmt.Fprintf(&b, "%s %s: %s", res.Role, res.Name, status)
	}
	return b.String()
}

// accept records a member's outcome, unless it was already cut off.
func (c *call) accept(o outcome) {
	if c.final[o.i] {
		return
	}
	c.final[o.i] = true
	c.pending--
	res := &c.results[o.i]
	res.Latency = o.lat
	res.Err = o.err
	inTime := o.lat < c.r.members[o.i].Deadline
	switch {
	case o.panicked:
		res.Status = record.StatusError
	case errors.Is(o.err, model.ErrDeclined):
		// Not called (e.g. an open circuit): skipped, like the in-flight cap.
		res.Status = record.StatusSkipped
	case o.err != nil && inTime:
		res.Status = record.StatusError
	case o.err != nil:
		// Failing after the deadline (typically because its context was
		// cancelled there) means no answer by the deadline.
		res.Status = record.StatusTimeout
	case inTime:
		res.Status, res.Prediction = record.StatusOK, o.pred
	default:
		res.Status, res.Prediction = record.StatusLate, o.pred
	}
}

// drain accepts every outcome already delivered, without blocking.
func (c *call) drain() {
	for {
		select {
		case o := <-c.ch:
			c.accept(o)
		default:
			return
		}
	}
}

// wakeAt returns a channel that is ready at elapsed time wake (now is the
// current elapsed time). When wake is a member deadline, that deadline's
// context already is the timer (it fires no earlier than wake, since it was
// started after c.start); otherwise c.timer is armed. Exactly one of the
// results is non-nil.
func (c *call) wakeAt(wake, now time.Duration) (<-chan struct{}, <-chan time.Time) {
	for g, d := range c.r.deadlines {
		if d == wake && c.ctxs[g] != nil {
			return c.ctxs[g].Done(), nil
		}
	}
	c.arm(wake - now)
	return nil, c.timer.C
}

// arm makes c.timer fire after d.
func (c *call) arm(d time.Duration) {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
		return
	}
	c.timer.Reset(d)
}

// finish waits for every member to answer or be cut off, releases the
// member contexts, then calls complete (when non-nil).
func (c *call) finish(dec Decision, complete func(Decision, []Result)) {
	defer c.r.untrack()
	for {
		now := time.Since(c.start)
		next := time.Duration(-1)
		for i, m := range c.r.members {
			if c.final[i] {
				continue
			}
			cut := m.Deadline + c.r.grace
			if now >= cut {
				c.cutOff(i, now)
				continue
			}
			if next < 0 || cut < next {
				next = cut
			}
		}
		if c.pending == 0 {
			break
		}
		// While a pending member's deadline has not passed, its context is
		// an earlier wake-up than any cut-off: no timer is needed in the
		// common case where every member answers in time.
		var deadlineC <-chan struct{}
		var timerC <-chan time.Time
		for i, m := range c.r.members {
			if ctx := c.ctxs[m.group]; !c.final[i] && ctx.Err() == nil {
				deadlineC = ctx.Done()
				break
			}
		}
		if deadlineC == nil {
			c.arm(next - now)
			timerC = c.timer.C
		}
		select {
		case o := <-c.ch:
			c.accept(o)
		case <-deadlineC:
		case <-timerC:
		}
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	for _, cancel := range c.cancels {
		if cancel != nil {
			cancel()
		}
	}
	if complete != nil {
		defer func() {
			if v := recover(); v != nil {
				c.r.log.Error("recording callback panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}()
		complete(dec, c.results)
	}
}

// cutOff records member i as timed out at the hard cut-off.
func (c *call) cutOff(i int, now time.Duration) {
	m := c.r.members[i]
	c.final[i] = true
	c.pending--
	res := &c.results[i]
	res.Status, res.Latency = record.StatusTimeout, now
	res.Err = fmt.Errorf("%w: deadline %v + grace %v", ErrCutOff, m.Deadline, c.r.grace)
	c.r.log.Debug("model cut off", "model", m.Name, "deadline", m.Deadline, "grace", c.r.grace)
}

func (r *Router) track() {
	r.mu.Lock()
	if r.outstanding == 0 {
		r.idle = make(chan struct{})
	}
	r.outstanding++
	r.mu.Unlock()
}

func (r *Router) untrack() {
	r.mu.Lock()
	r.outstanding--
	if r.outstanding == 0 {
		close(r.idle)
	}
	r.mu.Unlock()
}

// Wait blocks until every complete callback of the Routes that have
// returned so far has returned, or ctx is done. Use it at shutdown, after the
// last Route, so late results reach the recorder before it is closed.
func (r *Router) Wait(ctx context.Context) error {
	r.mu.Lock()
	n, idle := r.outstanding, r.idle
	r.mu.Unlock()
	if n == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		n = r.outstanding
		r.mu.Unlock()
		return fmt.Errorf("wait for %d recording callbacks: %w", n, ctx.Err())
	}
}

// Members returns a point-in-time view of every member, in member order.
// State is the model's own State() when it has one, else "ready".
func (r *Router) Members() []MemberStats {
	out := make([]MemberStats, len(r.members))
	for i, m := range r.members {
		state := "ready"
		if s, ok := m.Model.(interface{ State() string }); ok {
			state = s.State()
		}
		out[i] = MemberStats{
			Name:        m.Name,
			Role:        m.Role,
			Info:        m.Model.Info(),
			Deadline:    m.Deadline,
			MaxInFlight: m.MaxInFlight,
			InFlight:    int(m.inFlight.Load()),
			State:       state,
			Skip:        m.Skip,
			Paused:      m.Paused,
		}
	}
	return out
}

// SampleHash maps a sampling key to [0, 1): FNV-1a over the key, then the
// SplitMix64 finaliser so that keys differing in one character (req-1,
// req-2 …) spread over the whole range. It is stable across versions and
// processes: a replayed request id sees the same members.
func SampleHash(key string) float64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53)
}

// sampleValue is SampleHash(key), or a random value for an empty key.
func sampleValue(key string) float64 {
	if key == "" {
		return rand.Float64()
	}
	return SampleHash(key)
}
