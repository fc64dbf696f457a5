package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Recorder takes records without blocking (*record.Recorder).
type Recorder interface {
	// Enqueue hands rec over; false means it was dropped (the recorder
	// counts drops).
	Enqueue(rec record.Record) bool
	// Stats is the recorder's point-in-time view.
	Stats() record.RecorderStats
}

// durableRecorder is a Recorder that can say when a record is durable
// (*record.Recorder).
type durableRecorder interface {
	EnqueueDurable(ctx context.Context, rec record.Record) error
}

// Reader is the store as the gateway reads it (store.Store).
type Reader interface {
	// GetRecord returns the stored record with that id, or an error
	// wrapping store.ErrNotFound.
	GetRecord(ctx context.Context, id string) (record.Record, error)
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
}

// Sentinel errors.
var (
	// ErrNoStore is returned by Record and Ping when no store is configured.
	ErrNoStore = errors.New("no record store configured")
	// ErrNotDurable is wrapped by Predict's error in sync durability when
	// the record could not be made durable in time (the answer is a 503).
	ErrNotDurable = errors.New("the record could not be made durable in time")
	// ErrSchemaChange is returned by Swap for a deployment whose schema is
	// not the running one's: front ends validate with Validator, which
	// never changes.
	ErrSchemaChange = errors.New("a deployment change cannot change the input schema")
)

// DefaultMaxRecordedBody is Params.MaxRecordedBody when zero.
const DefaultMaxRecordedBody = 64 << 10

// Params builds a Gateway. Deployment is required.
type Params struct {
	Deployment *Deployment
	// Recorder receives every record; nil turns recording off (records
	// are still built, then discarded).
	Recorder Recorder
	// Store answers Record and Ping (nil: ErrNoStore).
	Store Reader
	// Durable makes Predict return only once the request's record is
	// durable (recorder.durability: sync): committed to the store or
	// fsynced to the spool. It needs a Recorder with EnqueueDurable.
	Durable bool
	// DurableTimeout bounds the wait for durability after every model has
	// answered (default 5 s); past it Predict fails with ErrNotDurable.
	DurableTimeout time.Duration
	// MaxInFlight is the admission limit: predictions in flight at once
	// (a batch counts its instances); 0 selects DefaultMaxInFlightPerCPU ×
	// GOMAXPROCS, negative turns admission control off.
	MaxInFlight int
	// MaxQueueWait bounds how long a request waits for admission (0:
	// DefaultMaxQueueWait).
	MaxQueueWait time.Duration
	// AdmissionTarget makes the admission limit adaptive (see adaptive):
	// the service time most admitted requests should stay under. 0 keeps
	// the limit fixed at MaxInFlight.
	AdmissionTarget time.Duration
	// MaxRecordedBody caps the raw body a rejected record keeps (default
	// DefaultMaxRecordedBody).
	MaxRecordedBody int64
	Logger          *slog.Logger
	// Registry receives the model and recorder metrics (nil: not
	// registered).
	Registry prometheus.Registerer
	// Now is the clock for Request.Received when it is zero (default
	// time.Now).
	Now func() time.Time
	// Events stores the deployment events of runtime changes (nil: changes
	// are applied and logged, not stored).
	Events store.EventLog
	// Base is the configuration file's deployment and Loader loads a
	// member from its source: Rollback uses them to go back past a
	// restart, to a deployment rebuilt from Events (nil: it cannot).
	Base   *Deployment
	Loader Loader

	// Components are extra parts /readyz?verbose describes, by name (e.g.
	// "stream": the records stream); each returns a one-phrase state.
	Components map[string]func(context.Context) string
}

// Gateway is the prediction service. It is safe for concurrent use.
type Gateway struct {
	dep     atomic.Pointer[Deployment]
	val     *schema.Validator
	rec     Recorder
	store   Reader
	maxBody int64
	durable durableRecorder // nil in async mode
	timeout time.Duration
	claims  sync.Map // client-chosen request id → struct{} while served
	ids     *idCheck // recently recorded client ids; ids accepted unchecked
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	admit   *admission
	// handing counts records being handed to the recorder (hand), which
	// admission bounds (ShedRecorder).
	handing atomic.Int64

	mu      sync.Mutex
	retired []*rendezvous.Router // routers of swapped-out deployments, for Wait

	// changeMu serialises deployment changes (lifecycle.go); previous
	// holds the deployments before the last changes, for Rollback.
	changeMu sync.Mutex
	earlier  []*Deployment
	events   store.EventLog
	base     *Deployment
	loader   Loader
	// lastSeq is the highest Deployment.Seq served so far (changeMu).
	lastSeq int64

	components map[string]func(context.Context) string
}

// New returns a Gateway serving p.Deployment.
func New(p Params) (*Gateway, error) {
	if p.Deployment == nil {
		return nil, errors.New("gateway: a Deployment is required")
	}
	g := &Gateway{
		val:     p.Deployment.Validator,
		rec:     p.Recorder,
		store:   p.Store,
		maxBody: p.MaxRecordedBody,
		log:     p.Logger,
		now:     p.Now,
		events:  p.Events,
		base:    p.Base,
		loader:  p.Loader,
		ids:     newIDCheck(),
		lastSeq: p.Deployment.Seq,

		components: p.Components,
	}
	g.dep.Store(p.Deployment)
	if p.Durable {
		d, ok := p.Recorder.(durableRecorder)
		if !ok {
			return nil, errors.New("gateway: sync durability needs a recorder with EnqueueDurable")
		}
		g.durable, g.timeout = d, p.DurableTimeout
		if g.timeout <= 0 {
			g.timeout = 5 * time.Second
		}
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxRecordedBody
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	m, err := newMetrics(p.Registry, g)
	if err != nil {
		return nil, fmt.Errorf("gateway: register metrics: %w", err)
	}
	g.metrics = m
	g.admit = newAdmission(p.MaxInFlight, p.MaxQueueWait, p.AdmissionTarget, func(reason string) { m.shed.WithLabelValues(reason).Inc() })
	if rg, ok := p.Recorder.(recorderGate); ok && g.admit != nil {
		g.admit.behind = rg.Behind
		rg.NotifyProgress(g.admit.kick)
	}
	return g, nil
}

// Deployment returns the current deployment.
func (g *Gateway) Deployment() *Deployment { return g.dep.Load() }

// Validator returns the input schema's validator. It is the same for every
// deployment the gateway ever serves.
func (g *Gateway) Validator() *schema.Validator { return g.val }

// Swap makes d the current deployment and returns the previous one.
// Requests already started finish, and are recorded, with the deployment
// they started with. d must share the running schema (ErrSchemaChange).
func (g *Gateway) Swap(d *Deployment) (*Deployment, error) {
	if d == nil || d.Validator != g.val {
		return nil, ErrSchemaChange
	}
	old := g.dep.Swap(d)
	g.mu.Lock()
	if !slices.Contains(g.retired, old.Router) {
		g.retired = append(g.retired, old.Router)
	}
	g.mu.Unlock()
	return old, nil
}

// Request is one validated input to route.
type Request struct {
	// ID is the request id (one per instance: a batch's instances have
	// ids of their own). Endpoint is the path it came in on.
	ID, Endpoint string
	// EntityID names the entity; "" takes the schema's entity field.
	EntityID string
	// Received is when the request arrived (zero: now).
	Received time.Time
	// Input is the validated input.
	Input schema.Input
	// Claim, when the id is the client's, holds it until the record is
	// handed over (Gateway.Claim); a batch's instances share one.
	Claim *Claim
}

// Answer is what the caller gets for one routed input.
type Answer struct {
	RequestID, EntityID string
	// Decision is the rendezvous's: who served, the prediction, whether it
	// was a fallback.
	Decision rendezvous.Decision
	// Label is the served prediction's label word.
	Label string
}

// Predict routes req through the current deployment and returns the answer
// the policy chose; its record follows (see the package doc). A non-nil
// error wraps rendezvous.ErrNoAnswer or is ctx's error.
func (g *Gateway) Predict(ctx context.Context, req Request) (Answer, error) {
	if req.Received.IsZero() {
		req.Received = g.now().UTC()
	}
	if req.Claim != nil {
		req.Claim.expect(1)
	}
	return g.route(ctx, g.dep.Load(), req)
}

// BatchError is PredictBatch's error: instance Index got no answer.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("instance %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// batchWorkers is how many instances of one batch are routed at once.
const batchWorkers = 8

// PredictBatch routes every request through one deployment, a few at a
// time, and returns the answers in order. Every instance is routed and
// recorded; when any got no answer the error is a *BatchError naming the
// first such instance.
func (g *Gateway) PredictBatch(ctx context.Context, reqs []Request) ([]Answer, error) {
	dep := g.dep.Load()
	now := g.now().UTC()
	if len(reqs) == 1 { // the common case: no slices, no closure
		if reqs[0].Received.IsZero() {
			reqs[0].Received = now
		}
		if reqs[0].Claim != nil {
			reqs[0].Claim.expect(1)
		}
		a, err := g.route(ctx, dep, reqs[0])
		if err != nil {
			return []Answer{a}, &BatchError{Index: 0, Err: err}
		}
		return []Answer{a}, nil
	}
	out := make([]Answer, len(reqs))
	errs := make([]error, len(reqs))
	if len(reqs) > 0 && reqs[0].Claim != nil {
		reqs[0].Claim.expect(len(reqs))
	}
	one := func(i int) {
		if reqs[i].Received.IsZero() {
			reqs[i].Received = now
		}
		out[i], errs[i] = g.route(ctx, dep, reqs[i])
	}
	Parallel(len(reqs), one)
	for i, err := range errs {
		if err != nil {
			return out, &BatchError{Index: i, Err: err}
		}
	}
	return out, nil
}

// Parallel runs fn(0..n-1) on at most 8 goroutines and returns when all
// have returned.
func Parallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(batchWorkers, n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// route sends one request through dep; the completion callback builds the
// record with dep and hands it over. In sync durability it waits until the
// record is durable before answering.
func (g *Gateway) route(ctx context.Context, dep *Deployment, req Request) (Answer, error) {
	if req.EntityID == "" {
		req.EntityID = dep.entityOf(req.Input)
	}
	var durable chan error
	if g.durable != nil {
		durable = make(chan error, 1)
	}
	dec, err := dep.Router.RouteKey(ctx, req.ID, req.Input, func(dec rendezvous.Decision, results []rendezvous.Result) {
		rec := dep.BuildRecord(req, dec, results)
		g.metrics.observe(dec, results)
		if durable != nil {
			dctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			durable <- g.durable.EnqueueDurable(dctx, rec)
			cancel()
		} else {
			g.hand(rec)
		}
		if req.Claim != nil {
			req.Claim.recorded(rec)
			req.Claim.handed()
		}
	})
	ans := Answer{RequestID: req.ID, EntityID: req.EntityID, Decision: dec}
	if err != nil {
		return ans, err
	}
	ans.Label = dep.Label(dec.Prediction.Class, dec.Prediction.Label)
	if durable != nil {
		if derr := <-durable; derr != nil {
			g.log.Warn("answer withheld: record not durable", "request_id", req.ID, "err", derr)
			return ans, fmt.Errorf("%w: %w", ErrNotDurable, derr)
		}
	}
	return ans, nil
}

// PredictMember calls one member alone, outside the rendezvous, with its
// own deadline; nothing is recorded (the OIP v2 route for a model that is
// not production). The error is the model's, or a deadline error when it
// answered too late.
func (g *Gateway) PredictMember(ctx context.Context, m rendezvous.Member, in schema.Input) (Answer, error) {
	deadline := m.Deadline
	if deadline <= 0 {
		deadline = rendezvous.DefaultDeadline
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	p, err := m.Model.Predict(ctx, in)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("answered after its %v deadline", deadline)
	}
	dec := rendezvous.Decision{ServedBy: m.Name, Role: m.Role, Info: m.Model.Info(), Reason: rendezvous.ReasonPreferred, Prediction: p}
	return Answer{Decision: dec, Label: g.dep.Load().Label(p.Class, p.Label)}, err
}

// Rejected is a request refused before any model was called.
type Rejected struct {
	ID, Endpoint string
	// Received is when it arrived (zero: now).
	Received time.Time
	// Raw is the body as received; the record keeps at most
	// Params.MaxRecordedBody bytes of it, with the whole body's length and
	// SHA-256 when it is cut.
	Raw []byte
	// Problems says why it was refused (at least one).
	Problems []schema.FieldError
	// Claim, when the id is the client's, is released once the record is
	// handed over.
	Claim *Claim
}

// Reject archives a refused request as a record with status rejected (the
// decoy keeps everything that arrives). It never blocks.
func (g *Gateway) Reject(_ context.Context, r Rejected) {
	if r.Received.IsZero() {
		r.Received = g.now().UTC()
	}
	rec := record.Record{
		ID:         r.ID,
		ReceivedAt: r.Received,
		Endpoint:   r.Endpoint,
		Status:     record.RequestRejected,
		Problems:   r.Problems,
	}
	if int64(len(r.Raw)) > g.maxBody {
		sum := sha256.Sum256(r.Raw)
		rec.Raw = string(r.Raw[:g.maxBody]) // copies only what is kept
		rec.RawBytes, rec.RawSHA256 = int64(len(r.Raw)), hex.EncodeToString(sum[:])
	} else {
		rec.Raw = string(r.Raw)
	}
	g.hand(rec)
	r.Claim.recorded(rec)
	r.Claim.Done()
}

// Record returns the record of request id: from the store, or, when it
// has not reached the store yet, from the recorder's queue or spool (read
// your writes: a client never gets "not found" for a request it was just
// answered). stored is false for a record found in the recorder. An id
// found nowhere is an error wrapping store.ErrNotFound; ErrNoStore without
// a store.
func (g *Gateway) Record(ctx context.Context, id string) (rec record.Record, stored bool, err error) {
	if g.store == nil {
		return rec, false, ErrNoStore
	}
	rec, err = g.store.GetRecord(ctx, id)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			err = fmt.Errorf("read record %q: %w", id, err)
		}
		return rec, err == nil, err
	}
	if l, ok := g.rec.(lookuper); ok {
		if rec, found := l.Lookup(id); found {
			return rec, false, nil
		}
	}
	rec, err = g.store.GetRecord(ctx, id) // it may have moved meanwhile
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("read record %q: %w", id, err)
	}
	return rec, err == nil, err
}

// Ping checks the store (ErrNoStore without one).
func (g *Gateway) Ping(ctx context.Context) error {
	if g.store == nil {
		return ErrNoStore
	}
	return g.store.Ping(ctx)
}

// Components returns the state of each of Params.Components.
func (g *Gateway) Components(ctx context.Context) map[string]string {
	out := make(map[string]string, len(g.components))
	for name, state := range g.components {
		out[name] = state(ctx)
	}
	return out
}

// Models describes the current deployment's members.
func (g *Gateway) Models() []rendezvous.MemberStats { return g.dep.Load().Router.Members() }

// RecorderStats is the recorder's view; ok is false when recording is off.
func (g *Gateway) RecorderStats() (s record.RecorderStats, ok bool) {
	if g.rec == nil {
		return s, false
	}
	return g.rec.Stats(), true
}

// Wait blocks until every record of every request started so far, on the
// current deployment and on any swapped out, has been handed to the
// recorder, or ctx ends.
func (g *Gateway) Wait(ctx context.Context) error {
	g.mu.Lock()
	routers := append([]*rendezvous.Router{g.dep.Load().Router}, g.retired...)
	g.mu.Unlock()
	for _, r := range routers {
		if err := r.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Now is the gateway's clock in UTC (Params.Now).
func (g *Gateway) Now() time.Time { return g.now().UTC() }

// hand gives rec to the recorder (recording off: discards it).
func (g *Gateway) hand(rec record.Record) {
	if g.rec != nil {
		g.handing.Add(1)   // Enqueue may wait for a spill: admission counts them
		g.rec.Enqueue(rec) // a drop is counted by the recorder
		g.handing.Add(-1)
	}
}
