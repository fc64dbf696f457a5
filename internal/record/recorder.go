package record

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Writer is where a Recorder puts batches of records. A store.Store
// satisfies it.
//
// WriteRecords must write the batch atomically or not at all as far as it
// can, must be idempotent by Record.ID (the Recorder retries a failed batch
// as it is, so a batch that was committed before the error was reported
// must not be duplicated), must not retain recs after it returns, and must
// return promptly once ctx is cancelled.
//
// The Recorder's ctx also gives way to other goroutines: while the recorder
// keeps up, its Done method parks the write for a moment (so the scheduler
// runs waiting goroutines and polls the network) when the write has run
// 100µs since it last did. A writer that checks ctx.Err or ctx.Done (or
// uses database/sql, which does at every statement) between units of work,
// such as every few records it encodes, so lets requests run during a long
// batch even with one processor.
type Writer interface {
	WriteRecords(ctx context.Context, recs []Record) error
}

// Pinger is implemented by writers that can tell whether they are reachable
// (a store.Store can). The Recorder uses it to tell a store outage (retry
// for as long as it takes) from a batch the reachable store refuses
// (isolate the records it refuses).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Recorder defaults, used for zero (or negative) RecorderOptions fields.
const (
	DefaultQueueSize     = 100_000
	DefaultBatchSize     = 512
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultRetryInitial  = 100 * time.Millisecond
	DefaultRetryMax      = 5 * time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultIsolateAfter  = 3
)

// RecorderOptions configures a Recorder. Zero or negative values select the
// defaults (config validation rejects negative values before they get here).
type RecorderOptions struct {
	// QueueSize bounds the records accepted and not yet written, including
	// the batch being written (default 100000). It is the recorder's memory
	// bound: over it, Enqueue drops.
	QueueSize int
	// BatchSize is the most records passed to one WriteRecords call
	// (default 512). A full batch is written at once.
	BatchSize int
	// FlushInterval bounds how long a record waits for its batch to fill
	// (default 50ms).
	FlushInterval time.Duration
	// RetryInitial and RetryMax bound the exponential backoff between
	// attempts to write a batch the writer refused (defaults 100ms, 5s).
	RetryInitial, RetryMax time.Duration
	// WriteTimeout bounds one WriteRecords call; a call that times out is
	// retried like any failed one (default 10s).
	WriteTimeout time.Duration
	// IsolateAfter is the number of failed attempts at one batch after
	// which, if the writer is a Pinger and answers its ping, the batch is
	// split in halves to isolate the records the store refuses (default 3).
	IsolateAfter int
	// Quarantine receives each record the reachable store refused on its
	// own, with the error; the record is then counted as Quarantined and
	// not retried. The default logs the whole record as JSON at error
	// level, so nothing is lost silently.
	Quarantine func(rec Record, err error)
	// Logger receives write failures and recoveries (default slog.Default()).
	Logger *slog.Logger
}

// RecorderStats is a point-in-time view of a Recorder, for /metrics and
// /readyz. Counters only grow. At any time Enqueued = Written + Lost +
// Quarantined + QueueDepth.
type RecorderStats struct {
	// QueueDepth counts records accepted and not yet written (including the
	// batch being written); QueueCap is its bound.
	QueueDepth, QueueCap int
	// Enqueued counts records accepted by Enqueue.
	Enqueued uint64
	// Written counts records the writer accepted; Batches the successful
	// WriteRecords calls.
	Written, Batches uint64
	// Dropped counts records Enqueue refused: queue full, or recorder
	// closed.
	Dropped uint64
	// Lost counts accepted records abandoned because Close's context ended
	// before they could be written.
	Lost uint64
	// Quarantined counts records the reachable store refused on their own
	// (e.g. a value it cannot encode); each went to RecorderOptions.Quarantine.
	Quarantined uint64
	// WriteErrors counts failed WriteRecords calls; LastError is the most
	// recent one's message ("" if none yet).
	WriteErrors uint64
	LastError   string
	// Degraded is true while the queue is over 80% full or the last write
	// attempt failed.
	Degraded bool
}

// Recorder moves records from request handlers to a Writer without ever
// blocking them: Enqueue puts a record in a bounded in-memory queue, and one
// background goroutine, started by NewRecorder, writes the queue in batches
// (BatchSize records, or whatever is queued once the oldest record has
// waited FlushInterval), one WriteRecords call per batch, in the order
// records were accepted.
//
// When the writer fails (store down while running) the same batch is retried
// with exponential backoff, as long as it takes; records keep arriving into
// the queue meanwhile, and only a full queue drops them, counting each. So
// memory is bounded by QueueSize records whatever the store does, and
// nothing accepted is dropped except by a Close whose context ends first.
//
// A Recorder is safe for concurrent use. Close it to flush.
type Recorder struct {
	w    Writer
	opts RecorderOptions
	log  *slog.Logger

	wake    chan struct{} // cap 1: a batch filled, or the queue became non-empty
	closing chan struct{} // closed by the first Close
	done    chan struct{} // closed when the batcher has exited
	ctx     context.Context
	abort   context.CancelFunc // cancels ctx: Close gave up

	mu sync.Mutex
	// chunks is the queue, oldest first: every chunk but the last holds
	// exactly BatchSize records, and each chunk is written as one batch.
	chunks [][]Record
	spare  [][]Record // emptied chunks kept for reuse
	depth  int
	closed bool
	stats  RecorderStats
	// failing is true while the last write attempt failed.
	failing bool
}

// maxSpareChunks bounds the emptied chunks kept for reuse.
const maxSpareChunks = 4

// NewRecorder returns a Recorder writing to w and starts its batcher
// goroutine; Close stops it. It panics if w is nil.
func NewRecorder(w Writer, opts RecorderOptions) *Recorder {
	if w == nil {
		panic("record: NewRecorder with a nil Writer")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.QueueSize, DefaultQueueSize)
	def(&opts.BatchSize, DefaultBatchSize)
	defDur(&opts.FlushInterval, DefaultFlushInterval)
	defDur(&opts.RetryInitial, DefaultRetryInitial)
	defDur(&opts.RetryMax, DefaultRetryMax)
	defDur(&opts.WriteTimeout, DefaultWriteTimeout)
	def(&opts.IsolateAfter, DefaultIsolateAfter)
	opts.RetryMax = max(opts.RetryMax, opts.RetryInitial)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Quarantine == nil {
		log := opts.Logger
		opts.Quarantine = func(rec Record, err error) {
			doc, jerr := json.Marshal(rec)
			if jerr != nil {
				doc = []byte(fmt.Sprintf("%+v", rec))
			}
			log.Error("record store refuses a record; quarantined (its full JSON follows)",
				"request_id", rec.ID, "err", err, "record", string(doc))
		}
	}
	ctx, abort := context.WithCancel(context.Background())
	r := &Recorder{
		w:       w,
		opts:    opts,
		log:     opts.Logger,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		ctx:     ctx,
		abort:   abort,
	}
	r.stats.QueueCap = opts.QueueSize
	go r.run()
	return r
}

// Enqueue queues rec for writing and reports whether it was accepted. It
// never blocks on the writer: when the queue is full, or the Recorder is
// closed, it counts rec as dropped and returns false. The Recorder owns rec
// afterwards; the caller must not modify what it references.
func (r *Recorder) Enqueue(rec Record) bool {
	r.mu.Lock()
	if r.closed || r.depth >= r.opts.QueueSize {
		r.stats.Dropped++
		r.mu.Unlock()
		return false
	}
	n := len(r.chunks)
	if n == 0 || len(r.chunks[n-1]) == r.opts.BatchSize {
		r.chunks = append(r.chunks, r.newChunk())
		n++
	}
	r.chunks[n-1] = append(r.chunks[n-1], rec)
	r.depth++
	r.stats.Enqueued++
	signal := r.depth == 1 || len(r.chunks[n-1]) == r.opts.BatchSize
	r.mu.Unlock()
	if signal {
		select {
		case r.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return true
}

// newChunk returns an empty chunk with room for a batch. r.mu is held.
func (r *Recorder) newChunk() []Record {
	if n := len(r.spare); n > 0 {
		c := r.spare[n-1]
		r.spare = r.spare[:n-1]
		return c
	}
	return make([]Record, 0, r.opts.BatchSize)
}

// Stats returns a point-in-time view of the Recorder.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.QueueDepth = r.depth
	s.Degraded = r.failing || r.depth*5 > r.opts.QueueSize*4
	return s
}

// Close stops accepting records (Enqueue returns false from now on), writes
// everything queued, and returns nil once it is written. If ctx ends first,
// Close cancels the write in progress, abandons what is still queued, and
// returns an error wrapping ctx's error that says how many records were not
// written (also counted in RecorderStats.Lost). Close does not close the
// writer. Calling it again waits for the same shutdown.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	first := !r.closed
	r.closed = true
	r.mu.Unlock()
	if first {
		close(r.closing)
	}
	var cause error
	select {
	case <-r.done:
	case <-ctx.Done():
		cause = ctx.Err()
		r.abort()
		<-r.done // the batcher stops at once: its write's context is cancelled
	}
	r.abort() // release the context
	r.mu.Lock()
	lost := r.stats.Lost
	r.mu.Unlock()
	if lost > 0 {
		if cause == nil {
			cause = context.Canceled
		}
		return fmt.Errorf("close recorder: %d records not written: %w", lost, cause)
	}
	return nil
}

// run is the batcher goroutine.
func (r *Recorder) run() {
	defer close(r.done)
	var (
		timer   *time.Timer
		timerC  <-chan time.Time // non-nil while the flush timer is armed
		due     bool             // the flush interval passed: write partial batches
		closing bool
	)
	for {
		batch, more := r.take(due || closing)
		if batch != nil {
			if !r.write(batch) {
				r.abandon()
				return
			}
			continue
		}
		if !more {
			due = false
			if closing {
				return
			}
		} else if timerC == nil && !due {
			if timer == nil {
				timer = time.NewTimer(r.opts.FlushInterval)
			} else {
				timer.Reset(r.opts.FlushInterval)
			}
			timerC = timer.C
		}
		select {
		case <-r.wake:
		case <-timerC:
			timerC, due = nil, true
		case <-r.closing:
			closing = true
		}
	}
}

// take removes and returns the oldest chunk if it is a full batch, or if
// partial is set and it holds anything. more reports whether records remain
// queued.
func (r *Recorder) take(partial bool) (batch []Record, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.chunks) == 0 {
		return nil, false
	}
	if !partial && len(r.chunks[0]) < r.opts.BatchSize {
		return nil, true
	}
	batch = r.chunks[0]
	r.chunks[0] = nil
	r.chunks = r.chunks[1:]
	if len(r.chunks) == 0 {
		r.chunks = nil // let the backing array go
	}
	return batch, len(r.chunks) > 0
}

// write writes batch, retrying with backoff until it succeeds (true) or
// Close gives up (false, the batch counted as lost). After IsolateAfter
// failed attempts, if the writer answers a ping, the store is up and refuses
// something in this batch: the batch is written in halves, recursively, and
// a single record the store still refuses is quarantined. Only the whole
// queued chunk (whole true) is recycled, never a half of it.
func (r *Recorder) write(batch []Record) bool { return r.writeBatch(batch, true) }

func (r *Recorder) writeBatch(batch []Record, whole bool) bool {
	backoff := r.opts.RetryInitial
	var timer *time.Timer
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.WriteTimeout)
		err := r.w.WriteRecords(r.yielding(ctx, len(batch)), batch)
		cancel()
		r.mu.Lock()
		if err == nil {
			r.depth -= len(batch)
			r.stats.Written += uint64(len(batch))
			r.stats.Batches++
			r.failing = false
			if whole {
				clear(batch)
				if len(r.spare) < maxSpareChunks {
					r.spare = append(r.spare, batch[:0])
				}
			}
			r.mu.Unlock()
			if attempt > 1 {
				r.log.Info("record store writes recovered", "records", len(batch), "attempts", attempt)
			}
			return true
		}
		r.stats.WriteErrors++
		r.stats.LastError = err.Error()
		r.failing = true
		r.mu.Unlock()

		if r.ctx.Err() != nil {
			r.lose(len(batch))
			return false
		}
		if attempt >= r.opts.IsolateAfter && r.storeUp() {
			if len(batch) == 1 {
				r.quarantine(batch[0], err)
				return true
			}
			r.log.Warn("reachable record store refuses a batch; writing it in halves to isolate the refused records",
				"records", len(batch), "err", err)
			half := len(batch) / 2
			return r.writeBatch(batch[:half:half], false) && r.writeBatch(batch[half:], false)
		}
		r.log.Warn("record store write failed; retrying", "records", len(batch), "attempt", attempt, "backoff", backoff, "err", err)
		if timer == nil {
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-timer.C:
		case <-r.ctx.Done():
			timer.Stop()
			r.lose(len(batch))
			return false
		}
		backoff = min(2*backoff, r.opts.RetryMax)
	}
}

// yieldEvery is how long a batch write runs, at most, between two offers of
// the processor to other goroutines (see yielding).
const yieldEvery = 100 * time.Microsecond

// yieldPause is how long a write parks when it yields. Any pause will do: a
// parked goroutine leaves its processor to the scheduler, which then also
// polls the network, and a request that arrived meanwhile is served before
// the write goes on. (runtime.Gosched would not do: with one processor the
// scheduler picks the yielding goroutine again before it polls the
// network.) With nothing else to run, the pause may last up to about a
// millisecond (the poller's granularity); the write is not in a hurry then.
const yieldPause = time.Microsecond

func pause() { time.Sleep(yieldPause) }

// yielding returns the context a batch of n records is written with: ctx,
// whose Done method also yields the processor (parks for yieldPause) when
// the write has run yieldEvery since it last did, as long as the recorder
// keeps up, that is while fewer than BatchSize records wait behind the
// batch.
//
// Why: writing a batch to an embedded store is a millisecond or more of CPU
// in one goroutine, and Go preempts a running goroutine only after about
// 10 ms and polls the network meanwhile only every 10 ms. With one
// processor (GOMAXPROCS 1, e.g. a container limited to one CPU) every
// request that arrives meanwhile waits for the whole batch; that was most of
// the gateway's added p99 at a fixed moderate rate. database/sql and the
// SQLite driver call ctx.Done at every statement and at commit, so the write
// gives way to waiting requests there, without the store knowing. When
// records queue up behind the batch the recorder stops yielding: at
// saturation, write throughput is what keeps the queue from overflowing.
func (r *Recorder) yielding(ctx context.Context, n int) context.Context {
	start := time.Now()
	y := &yieldCtx{Context: ctx, since: func() time.Duration { return time.Since(start) }, yield: pause}
	y.keepingUp = func() bool {
		r.mu.Lock()
		behind := r.depth - n
		r.mu.Unlock()
		return behind < r.opts.BatchSize
	}
	return y
}

// yieldCtx is a context whose Done and Err methods yield the processor
// when called yieldEvery or more after the end of its last yield (the first
// call always yields), while keepingUp reports true; since is the monotonic
// time since the write started. Concurrent calls are safe. Everything else
// is the embedded context's, so cancellation and values are unchanged, and
// a context derived from it still shares its parent's cancellation without
// an extra goroutine.
type yieldCtx struct {
	context.Context
	since     func() time.Duration
	next      atomic.Int64 // the since() from which Done yields again
	yield     func()
	keepingUp func() bool
}

// Done returns the embedded context's Done channel, yielding first when
// one is due.
func (y *yieldCtx) Done() <-chan struct{} {
	y.maybeYield()
	return y.Context.Done()
}

// Err returns the embedded context's error, yielding first when one is
// due: a writer that checks ctx.Err() between records gives way there.
func (y *yieldCtx) Err() error {
	y.maybeYield()
	return y.Context.Err()
}

func (y *yieldCtx) maybeYield() {
	if int64(y.since()) >= y.next.Load() && y.keepingUp() {
		y.yield()
		y.next.Store(int64(y.since() + yieldEvery))
	}
}

// storeUp reports whether the writer is a Pinger that answers.
func (r *Recorder) storeUp() bool {
	p, ok := r.w.(Pinger)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.WriteTimeout)
	defer cancel()
	return p.Ping(ctx) == nil
}

// quarantine hands one refused record to the Quarantine hook and counts it.
func (r *Recorder) quarantine(rec Record, err error) {
	r.opts.Quarantine(rec, err)
	r.mu.Lock()
	r.depth--
	r.stats.Quarantined++
	r.failing = false
	r.mu.Unlock()
}

// lose counts n accepted records as abandoned.
func (r *Recorder) lose(n int) {
	r.mu.Lock()
	r.depth -= n
	r.stats.Lost += uint64(n)
	r.mu.Unlock()
}

// abandon counts everything still queued as lost (Close gave up).
func (r *Recorder) abandon() {
	r.mu.Lock()
	r.stats.Lost += uint64(r.depth)
	r.depth = 0
	r.chunks = nil
	lost := r.stats.Lost
	r.mu.Unlock()
	r.log.Error("recorder closed before everything was written", "lost", lost)
}
