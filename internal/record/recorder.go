package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
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

// OutageClassifier is implemented by writers that can tell from a write's
// error that the store was not serving (it could not be reached, was
// starting up or shutting down, dropped the connection or timed out)
// rather than refusing the records. The Recorder never isolates or
// quarantines records over such an error, whatever a ping answers a moment
// later: a store restarting answers one connection's ping and refuses the
// next connection as "starting up". The errors Unavailable recognises for
// any writer (deadlines, network errors, refused or reset connections)
// count as outages already; a classifier adds its store's own.
type OutageClassifier interface {
	Unavailable(err error) bool
}

// Recorder defaults, used for zero (or negative) RecorderOptions fields.
const (
	DefaultQueueSize       = 100_000
	DefaultQueueMaxBytes   = 64 << 20
	DefaultBatchSize       = 512
	DefaultBatchMaxBytes   = 4 << 20
	DefaultFlushInterval   = 50 * time.Millisecond
	DefaultRetryInitial    = 100 * time.Millisecond
	DefaultRetryMax        = 5 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultIsolateAfter    = 3
	DefaultSpoolAfter      = 500 * time.Millisecond
	DefaultDropReportEvery = 10 * time.Second
)

// Drop reasons: the keys of RecorderStats.DroppedBy and of the drop log.
const (
	// DropQueueFull: Enqueue found QueueSize records queued and there is
	// no spool to spill them to.
	DropQueueFull = "queue_full"
	// DropQueueBytes: Enqueue found QueueMaxBytes queued and there is no
	// spool to spill them to.
	DropQueueBytes = "queue_bytes"
	// DropClosed: Enqueue after Close.
	DropClosed = "closed"
	// DropSpoolFull: the store did not take the batch and the spool had
	// no room for it (spool_max_bytes).
	DropSpoolFull = "spool_full"
	// DropSpoolError: the store did not take the batch and writing it to
	// the spool failed (e.g. a disk error).
	DropSpoolError = "spool_error"
)

// ErrDropped is wrapped by EnqueueDurable's error when the record was
// dropped (see DropError for the reason).
var ErrDropped = errors.New("record dropped")

// DropError is EnqueueDurable's error for a dropped record.
type DropError struct {
	// Reason is one of the Drop… constants.
	Reason string
}

func (e *DropError) Error() string { return "record dropped: " + e.Reason }

// Unwrap returns ErrDropped.
func (e *DropError) Unwrap() error { return ErrDropped }

// RecorderOptions configures a Recorder. Zero or negative values select the
// defaults (config validation rejects negative values before they get here).
type RecorderOptions struct {
	// QueueSize bounds the records accepted and not yet written (or
	// spooled), including the batch being written (default 100000).
	QueueSize int
	// QueueMaxBytes bounds the same records in bytes, as estimated by
	// Record.SizeHint (default 64 MiB). A record is accepted into an empty
	// queue whatever its size.
	QueueMaxBytes int64
	// BatchSize is the most records passed to one WriteRecords call
	// (default 512). A full batch is written at once.
	BatchSize int
	// BatchMaxBytes bounds a batch in bytes as well, as estimated by
	// Record.SizeHint (default 4 MiB, at most QueueMaxBytes): a batch
	// closes when it holds that much, so large records (rejected bodies)
	// are written, spooled and replayed in batches of a few MiB rather than
	// BatchSize of them at once. A batch always holds at least one record.
	BatchMaxBytes int64
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
	// Spool, when not nil, is where batches go when the store does not
	// take them within SpoolAfter (down, or behind): appended with one
	// fsync per batch and written to the store from there, in order, by a
	// goroutine of their own, as soon as it answers. Frames it holds when
	// NewRecorder is called (left by an earlier run) are written first.
	// The Recorder owns the spool from then on and closes it in Close.
	Spool *spool.Spool
	// SpoolAfter bounds a batch's first store write when there is a spool:
	// a write that fails, or makes no progress for SpoolAfter, is
	// cancelled and the batch spooled (default 500ms, at most
	// WriteTimeout). Progress is a call of the write context's Done or Err
	// method, which database/sql and the SQLite driver make at every
	// statement: a write that goes on taking statements is slow, not stuck
	// (on a saturated processor it gets a slice of CPU every so often),
	// and spooling it would only add work; it is bounded by WriteTimeout.
	// A hung store (a network write that never returns) makes no calls.
	SpoolAfter time.Duration
	// DropReportEvery is the least time between two drop log lines
	// (default 10s); each line gives the drops since the previous one, by
	// reason.
	DropReportEvery time.Duration
	// Quarantine receives each record the reachable store refused on its
	// own, with the error; the record is then counted as Quarantined and
	// not retried. The default logs the whole record as JSON at error
	// level, so nothing is lost silently.
	Quarantine func(rec Record, err error)
	// Logger receives write failures and recoveries (default slog.Default()).
	Logger *slog.Logger
}

// RecorderStats is a point-in-time view of a Recorder, for /metrics and
// /readyz. Counters only grow. At any time
//
//	Enqueued + Recovered = Written + Quarantined + Lost + QueueDepth + SpoolRecords
//	                       + DroppedBy[spool_full] + DroppedBy[spool_error]
type RecorderStats struct {
	// QueueDepth counts records accepted and not yet written or spooled
	// (including the batch being written); QueueCap is its bound.
	QueueDepth, QueueCap int
	// QueueBytes estimates the bytes of those records; QueueMaxBytes is
	// its bound.
	QueueBytes, QueueMaxBytes int64
	// Enqueued counts records accepted by Enqueue.
	Enqueued uint64
	// Written counts records the writer accepted; Batches the successful
	// WriteRecords calls.
	Written, Batches uint64
	// Dropped counts every record dropped, refused by Enqueue or dropped
	// later; DroppedBy splits it by reason (the Drop… constants).
	Dropped   uint64
	DroppedBy map[string]uint64
	// Lost counts accepted records abandoned because Close's context ended
	// before they could be written (never with a spool that has room).
	Lost uint64
	// Quarantined counts records the reachable store refused on their own
	// (e.g. a value it cannot encode); each went to RecorderOptions.Quarantine.
	Quarantined uint64
	// WriteErrors counts failed WriteRecords calls; LastError is the most
	// recent one's message ("" if none yet).
	WriteErrors uint64
	LastError   string
	// DurableSeq is the number (counting accepted records from 1) of the
	// last record made durable: written to the store or fsynced to the
	// spool. Records are made durable in order, so every accepted record
	// before it is durable too, or was dropped (and counted).
	DurableSeq uint64
	// Spooling is true while batches go to the spool rather than to the
	// store (the spool holds records not yet written).
	Spooling bool
	// SpoolRecords, SpoolFrames and SpoolBytes are what the spool holds
	// (bytes on disk, including written frames of segments not yet
	// deleted); SpoolMaxBytes is its bound (0: no spool).
	SpoolRecords, SpoolFrames int
	SpoolBytes, SpoolMaxBytes int64
	// Spooled counts records written to the spool, Replayed those then
	// written from it to the store (also counted in Written), Recovered
	// those found in the spool at start.
	Spooled, Replayed, Recovered uint64
	// Spilled counts records sent to the spool by Enqueue because the
	// queue was full (QueueSize or QueueMaxBytes): the record and every
	// record queued then. Those the spool took are counted in Spooled too,
	// the others as dropped (spool_full, spool_error).
	Spilled uint64
	// SpoolCorrupt counts torn or corrupt spool frames skipped at start.
	SpoolCorrupt uint64
	// FeedbackStored counts feedback rows EnqueueFeedback wrote to the
	// store, FeedbackSpooled those it spooled, FeedbackReplayed those then
	// written from the spool; FeedbackWriteErrors counts failed feedback
	// writes (their message is LastError too).
	FeedbackStored, FeedbackSpooled, FeedbackReplayed, FeedbackWriteErrors uint64
	// Degraded is true while the queue is over 80% full (in records or
	// bytes), the spool is over 80% full, or, without a spool, the last
	// write attempt failed.
	Degraded bool
}

// Recorder moves records from request handlers to a Writer without ever
// blocking them: Enqueue puts a record in a bounded in-memory queue, and one
// background goroutine, started by NewRecorder, writes the queue in batches
// (BatchSize records, or whatever is queued once the oldest record has
// waited FlushInterval), one WriteRecords call per batch, in the order
// records were accepted.
//
// Without a spool, when the writer fails (store down while running) the
// same batch is retried with exponential backoff, as long as it takes;
// records keep arriving into the queue meanwhile, and only a full queue
// drops them, counting each. With a spool, a batch the store does not take
// within SpoolAfter is appended to the spool instead, and so is every batch
// after it until a second goroutine has written the spool back to the store
// (retrying with backoff), so memory stays small and records are written in
// the order they were accepted. A queue that fills up all the same (the
// store hangs for SpoolAfter, or takes records slower than they come) is
// spilled to the spool by Enqueue; only when the spool is full too are
// records dropped. Retries cannot duplicate: WriteRecords is idempotent by
// record ID.
//
// EnqueueDurable is Enqueue for callers that need the record durable before
// they answer (recorder.durability: sync): it returns once the record's
// batch is committed to the store or fsynced to the spool. Lookup finds a
// record not yet in the store.
//
// A Recorder is safe for concurrent use. Close it to flush.
type Recorder struct {
	w    Writer
	opts RecorderOptions
	log  *slog.Logger
	sp   *spool.Spool // nil: no spool

	progress atomic.Pointer[func()] // NotifyProgress

	wake    chan struct{} // cap 1: a batch filled, or the queue became non-empty
	closing chan struct{} // closed by the first Close
	done    chan struct{} // closed when the batcher has exited
	ctx     context.Context
	abort   context.CancelFunc // cancels ctx: Close gave up

	// The replayer (with a spool) writes spooled batches to the store.
	kick         chan struct{} // cap 1: something was spooled
	replayDone   chan struct{}
	replayCtx    context.Context
	replayCancel context.CancelFunc

	// spoolMu orders the batcher's decision to spool against the
	// replayer's to stop spooling (the spool is empty): held while spooling
	// is read or written and across a spool append.
	spoolMu  sync.Mutex
	spooling bool

	mu sync.Mutex
	// chunks is the queue, oldest first: every chunk but the last is
	// full (BatchSize records, or BatchMaxBytes), and each chunk is
	// written as one batch.
	chunks  []*chunk
	spare   []*chunk // emptied chunks kept for reuse
	current *chunk   // the chunk the batcher is writing or spooling
	depth   int
	bytes   int64
	seq     uint64 // records accepted so far: the last one's number
	closed  bool
	stats   RecorderStats
	// failing is true while the last write attempt failed.
	failing bool
	// spooled indexes the ids of the records in the spool and not yet
	// written by frame (for Lookup); spoolRecs counts them (an id spooled
	// twice counts twice).
	spooled   *spoolIndex
	spoolRecs int
	// spilling holds the chunks a spill (full queue) took from the queue
	// and has not yet appended to the spool, for Lookup; spilledSeq is the
	// number of the last record a spill settled (see DurableSeq).
	spilling   []*chunk
	spilledSeq uint64
	// drops not yet logged, and the drop log's timer.
	dropsUnreported map[string]uint64
	dropTimer       *time.Timer
	lastDropReport  time.Time
}

// chunk is one batch in the making.
type chunk struct {
	recs    []Record
	bytes   int64
	lastSeq uint64       // the number of its last record
	waiters []chan error // EnqueueDurable callers, woken once it is durable
}

// maxSpareChunks bounds the emptied chunks kept for reuse.
const maxSpareChunks = 4

// NewRecorder returns a Recorder writing to w and starts its batcher
// goroutine (and, with a spool, its replayer); Close stops them. It panics
// if w is nil.
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
	if opts.QueueMaxBytes <= 0 {
		opts.QueueMaxBytes = DefaultQueueMaxBytes
	}
	if opts.BatchMaxBytes <= 0 {
		opts.BatchMaxBytes = DefaultBatchMaxBytes
	}
	opts.BatchMaxBytes = min(opts.BatchMaxBytes, opts.QueueMaxBytes)
	defDur(&opts.FlushInterval, DefaultFlushInterval)
	defDur(&opts.RetryInitial, DefaultRetryInitial)
	defDur(&opts.RetryMax, DefaultRetryMax)
	defDur(&opts.WriteTimeout, DefaultWriteTimeout)
	defDur(&opts.SpoolAfter, DefaultSpoolAfter)
	defDur(&opts.DropReportEvery, DefaultDropReportEvery)
	def(&opts.IsolateAfter, DefaultIsolateAfter)
	opts.RetryMax = max(opts.RetryMax, opts.RetryInitial)
	opts.SpoolAfter = min(opts.SpoolAfter, opts.WriteTimeout)
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
		w:               w,
		opts:            opts,
		log:             opts.Logger,
		sp:              opts.Spool,
		wake:            make(chan struct{}, 1),
		closing:         make(chan struct{}),
		done:            make(chan struct{}),
		ctx:             ctx,
		abort:           abort,
		dropsUnreported: map[string]uint64{},
	}
	r.stats.QueueCap = opts.QueueSize
	r.stats.QueueMaxBytes = opts.QueueMaxBytes
	r.stats.DroppedBy = map[string]uint64{}
	if r.sp != nil {
		r.kick = make(chan struct{}, 1)
		r.replayDone = make(chan struct{})
		r.replayCtx, r.replayCancel = context.WithCancel(context.Background())
		r.spooled = newSpoolIndex()
		r.recover()
		go r.replay()
	}
	go r.run()
	return r
}

// recover indexes the records a spool holds at start; they are written
// before anything else.
func (r *Recorder) recover() {
	err := r.sp.Scan(func(f spool.Frame) error {
		// A barrier: spoolBatch holds spoolMu from its append until its
		// books and index are updated, so the frame is settled after that.
		r.spoolMu.Lock()
		r.spoolMu.Unlock() //lint:ignore SA2001 an empty critical section is the point
		if f.Kind != spool.KindRecords {
			return nil
		}
		var ids []string
		err := scanBatch(f.Data, func(id string, _ []byte) bool {
			ids = append(ids, id)
			return true
		})
		r.spooled.add(f.Seq, ids)
		r.spoolRecs += len(ids)
		return err
	})
	if err != nil {
		// The replayer meets the same frame and deals with it.
		r.log.Error("recorder: cannot index the spool; Lookup will miss some spooled records", "spool", r.sp.Dir(), "err", err)
	}
	r.stats.Recovered = uint64(r.spoolRecs)
	r.spooling = r.sp.Len() > 0
	if r.spooling {
		r.log.Info("recorder: writing the records a previous run left in the spool first",
			"records", r.spoolRecs, "frames", r.sp.Len(), "spool", r.sp.Dir())
	}
}

// Enqueue queues rec for writing and reports whether it was accepted. It
// never blocks on the writer. When the queue is full (in records or bytes)
// and there is a spool, rec and everything queued are appended to the
// spool (see spill: the caller waits for the spool's fsync, not for the
// store) and rec is dropped only if the spool cannot take it; without a
// spool, a full queue drops rec. After Close it drops rec. A dropped rec is
// counted by reason and Enqueue returns false.
// The Recorder owns rec afterwards; the caller must not modify what it
// references.
func (r *Recorder) Enqueue(rec Record) bool { return r.enqueue(rec, nil) == "" }

// EnqueueDurable queues rec like Enqueue and returns once it is durable:
// its batch committed to the store, or fsynced to the spool. It returns an
// error wrapping ErrDropped (a *DropError naming the reason) when rec was
// dropped, or one wrapping ctx's error when ctx ended first; rec may still
// be written later then, but the caller must not promise it (the gateway
// answers 503). A batch holding a durable caller's record does not wait for
// FlushInterval: it is written as soon as the batcher is free, with every
// record queued by then, and records arriving during that write make the
// next batch; one commit or fsync makes a whole batch durable (group
// commit, with no added delay).
func (r *Recorder) EnqueueDurable(ctx context.Context, rec Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("record %s not durable: %w", rec.ID, err)
	}
	ch := make(chan error, 1)
	id := rec.ID
	if reason := r.enqueue(rec, ch); reason != "" {
		return &DropError{Reason: reason}
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("record %s not durable yet: %w", id, ctx.Err())
	}
}

// enqueue queues rec, with waiter (if not nil) to be told when its batch is
// durable, and returns "" or the reason it dropped rec. When the queue is
// full and there is a spool, rec and everything queued are spilled to the
// spool instead (see spill).
func (r *Recorder) enqueue(rec Record, waiter chan error) string {
	size := int64(rec.SizeHint())
	r.mu.Lock()
	reason := r.refusalLocked(size)
	if reason == "" {
		r.pushLocked(rec, size, waiter)
		return ""
	}
	if r.sp == nil || reason == DropClosed {
		r.dropLocked(reason, 1)
		r.mu.Unlock()
		return reason
	}
	r.mu.Unlock()
	return r.spill(rec, size, waiter)
}

// refusalLocked returns why a record of size bytes cannot be queued now,
// or "". r.mu is held.
func (r *Recorder) refusalLocked(size int64) string {
	switch {
	case r.closed:
		return DropClosed
	case r.depth >= r.opts.QueueSize:
		return DropQueueFull
	case r.depth > 0 && r.bytes+size > r.opts.QueueMaxBytes:
		return DropQueueBytes
	}
	return ""
}

// pushLocked appends rec to the queue and wakes the batcher when it has
// something to do; it unlocks r.mu.
func (r *Recorder) pushLocked(rec Record, size int64, waiter chan error) {
	n := len(r.chunks)
	if n == 0 || r.fullLocked(r.chunks[n-1]) {
		r.chunks = append(r.chunks, r.newChunk())
		n++
	}
	c := r.chunks[n-1]
	c.recs = append(c.recs, rec)
	c.bytes += size
	r.seq++
	c.lastSeq = r.seq
	if waiter != nil {
		c.waiters = append(c.waiters, waiter)
	}
	r.depth++
	r.bytes += size
	r.stats.Enqueued++
	// Wake the batcher for the first record (it arms the flush timer), a
	// full batch, and a durable caller: a batch with waiters is written as
	// soon as the batcher is free (group commit without a delay, like
	// PostgreSQL's default commit_delay 0; what arrives during a write is
	// the next batch).
	signal := r.depth == 1 || r.fullLocked(c) || waiter != nil
	r.mu.Unlock()
	if signal {
		select {
		case r.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// fullLocked reports whether chunk c is a whole batch: BatchSize records
// or BatchMaxBytes. r.mu is held.
func (r *Recorder) fullLocked(c *chunk) bool {
	return len(c.recs) >= r.opts.BatchSize || c.bytes >= r.opts.BatchMaxBytes
}

// newChunk returns an empty chunk with room for a batch. r.mu is held.
func (r *Recorder) newChunk() *chunk {
	if n := len(r.spare); n > 0 {
		c := r.spare[n-1]
		r.spare = r.spare[:n-1]
		return c
	}
	return &chunk{recs: make([]Record, 0, r.opts.BatchSize)}
}

// Lookup returns the record with that id if it is still in the recorder:
// queued, being written, or in the spool and not yet written to the store
// (read back from disk). The queue is searched linearly under the lock
// (about a millisecond for a full queue of 100,000); the spool through an
// index. A record Lookup does not find may have just been
// written: callers look in the store first and, when Lookup misses, in the
// store again.
func (r *Recorder) Lookup(id string) (Record, bool) {
	r.mu.Lock()
	if c := r.current; c != nil {
		for i := range c.recs {
			if c.recs[i].ID == id {
				rec := c.recs[i]
				r.mu.Unlock()
				return rec, true
			}
		}
	}
	for _, chunks := range [][]*chunk{r.chunks, r.spilling} {
		for j := len(chunks) - 1; j >= 0; j-- {
			c := chunks[j]
			for i := len(c.recs) - 1; i >= 0; i-- {
				if c.recs[i].ID == id {
					rec := c.recs[i]
					r.mu.Unlock()
					return rec, true
				}
			}
		}
	}
	var seqs []uint64
	if r.spooled != nil {
		seqs = r.spooled.candidates(id)
	}
	r.mu.Unlock()
	for _, seq := range seqs {
		f, err := r.sp.Read(seq)
		if err != nil {
			continue // written and acknowledged meanwhile, or the spool is closed
		}
		var (
			rec   Record
			found bool
		)
		scanBatch(f.Data, func(rid string, doc []byte) bool {
			if rid != id {
				return true
			}
			found = json.Unmarshal(doc, &rec) == nil
			return false
		})
		if found {
			return rec, true
		}
	}
	return Record{}, false
}

// Stats returns a point-in-time view of the Recorder.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	s := r.stats
	s.DroppedBy = maps.Clone(r.stats.DroppedBy)
	s.QueueDepth = r.depth
	s.QueueBytes = r.bytes
	s.SpoolRecords = r.spoolRecs
	failing := r.failing
	r.mu.Unlock()
	s.Degraded = s.QueueDepth*5 > s.QueueCap*4 || s.QueueBytes*5 > s.QueueMaxBytes*4
	if r.sp == nil {
		s.Degraded = s.Degraded || failing
		return s
	}
	r.spoolMu.Lock()
	s.Spooling = r.spooling
	r.spoolMu.Unlock()
	ss := r.sp.Stats()
	s.SpoolFrames, s.SpoolBytes, s.SpoolMaxBytes, s.SpoolCorrupt = ss.Frames, ss.Bytes, ss.MaxBytes, ss.Corrupt
	s.Degraded = s.Degraded || s.SpoolBytes*5 > s.SpoolMaxBytes*4
	return s
}

// Close stops accepting records (Enqueue returns false from now on) and
// writes everything queued: to the store, or with a spool, to the spool
// when the store does not take it. With a spool it then lets the replayer
// write what the spool holds while the store takes it and ctx lasts, and
// closes the spool: what is left there is written after the next start,
// not lost. Close returns nil once nothing accepted is lost. If ctx ends
// first, Close cancels the write in progress (with a spool, what is queued
// is spooled), abandons what could not be written or spooled, and returns
// an error wrapping ctx's error that says how many records were not
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
	// A barrier: a spill that began before closed was set holds spoolMu
	// until its records are in the spool, where the replayer finds them.
	r.spoolMu.Lock()
	r.spoolMu.Unlock() //lint:ignore SA2001 an empty critical section is the point
	var cause error
	select {
	case <-r.done:
	case <-ctx.Done():
		cause = ctx.Err()
		r.abort()
		<-r.done // the batcher stops at once: its write's context is cancelled
	}
	r.abort() // release the context
	if r.sp != nil {
		select {
		case <-r.replayDone:
		case <-ctx.Done():
		}
		r.replayCancel()
		<-r.replayDone
		if first {
			if n := r.sp.Len(); n > 0 {
				r.log.Info("recorder: records left in the spool are written after the next start",
					"frames", n, "spool", r.sp.Dir())
			}
			if err := r.sp.Close(); err != nil {
				r.log.Error("recorder: close spool", "err", err)
			}
		}
	}
	r.reportDrops()
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
		c, more := r.take(due || closing)
		if c != nil {
			if !r.dispatch(c) {
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

// take removes and returns the oldest chunk if it is a full batch, has
// EnqueueDurable callers waiting, or if partial is set and it holds
// anything, and makes it r.current. more reports whether records remain
// queued.
func (r *Recorder) take(partial bool) (c *chunk, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.chunks) == 0 {
		return nil, false
	}
	if head := r.chunks[0]; !partial && !r.fullLocked(head) && len(head.waiters) == 0 {
		return nil, true
	}
	c = r.chunks[0]
	r.chunks[0] = nil
	r.chunks = r.chunks[1:]
	if len(r.chunks) == 0 {
		r.chunks = nil // let the backing array go
	}
	r.current = c
	return c, len(r.chunks) > 0
}

// dispatch makes the taken chunk c durable — written to the store, or with
// a spool, spooled when the write fails or makes no progress for
// SpoolAfter (or dropped when the spool cannot take it either) — wakes its
// waiters and recycles it. It returns false when Close gave up on it (no spool).
func (r *Recorder) dispatch(c *chunk) bool {
	var werr error
	ok := true
	switch {
	case r.sp == nil:
		ok = r.writeBatch(r.ctx, c.recs, fromQueue)
		if !ok {
			werr = fmt.Errorf("record not written: %w", context.Canceled)
		}
	default:
		r.spoolMu.Lock()
		spooling := r.spooling
		r.spoolMu.Unlock()
		if spooling || !r.writeOnce(c.recs) {
			werr = r.spoolBatch(c.recs)
		}
	}
	r.mu.Lock()
	r.bytes -= c.bytes
	if werr == nil {
		r.stats.DurableSeq = max(r.stats.DurableSeq, c.lastSeq)
	}
	if r.spilledSeq > c.lastSeq { // spilled while c was being written
		r.stats.DurableSeq = max(r.stats.DurableSeq, r.spilledSeq)
	}
	r.current = nil
	waiters := c.waiters
	clear(c.recs)
	c.recs, c.bytes, c.waiters = c.recs[:0], 0, nil
	if len(r.spare) < maxSpareChunks && cap(c.recs) <= r.opts.BatchSize {
		r.spare = append(r.spare, c)
	}
	r.mu.Unlock()
	for _, w := range waiters {
		w <- werr
	}
	if f := r.progress.Load(); f != nil {
		(*f)()
	}
	return ok
}

// BehindBatches is how many batches (RecorderOptions.BatchSize records
// each, at most half the queue) may wait in the queue before Behind
// reports true.
const BehindBatches = 16

// Behind reports whether the recorder has fallen behind: BehindBatches
// batches or more wait in its queue (at most half the queue), so records
// come faster than the store takes them, or than the recorder gets CPU to
// write them. A gateway stops admitting requests while it is, which gives
// the recorder the processor back long before its queue is full (see
// NotifyProgress).
func (r *Recorder) Behind() bool {
	r.mu.Lock()
	d := r.depth
	r.mu.Unlock()
	return d >= min(BehindBatches*r.opts.BatchSize, max(1, r.opts.QueueSize/2))
}

// NotifyProgress sets f to be called, on the recorder's goroutine and with
// no lock held, each time a batch has left the queue (written, spooled or
// dropped), so a caller waiting for Behind to turn false can look again.
// f must not block; nil removes it.
func (r *Recorder) NotifyProgress(f func()) {
	if f == nil {
		r.progress.Store(nil)
		return
	}
	r.progress.Store(&f)
}

// writeOnce makes one attempt at writing recs (queued) to the store,
// cancelled after SpoolAfter without progress (watchStall) and bounded by
// WriteTimeout, and reports whether it succeeded.
func (r *Recorder) writeOnce(recs []Record) bool {
	base, cancelBase := context.WithTimeout(r.ctx, r.opts.WriteTimeout)
	ctx, cancel := context.WithCancelCause(base)
	y := r.yielding(ctx, len(recs))
	stop := watchStall(y, r.opts.SpoolAfter, func() {
		cancel(fmt.Errorf("%w: no progress for %v (recorder.spool_after)", errStalled, r.opts.SpoolAfter))
	})
	err := r.w.WriteRecords(y, recs)
	stop()
	if err != nil && errors.Is(context.Cause(ctx), errStalled) {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	cancel(nil)
	cancelBase()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.stats.WriteErrors++
		r.stats.LastError = err.Error()
		r.failing = true
		return false
	}
	r.settleLocked(len(recs), fromQueue, &r.stats.Written)
	r.stats.Batches++
	r.failing = false
	return true
}

// spoolBatch appends recs (queued) to the spool as one frame, with one
// fsync, and hands them to the replayer; or drops them, counted, when the
// spool cannot take them. A record that cannot even be encoded is
// quarantined. It returns nil once the records are spooled.
func (r *Recorder) spoolBatch(recs []Record) error {
	r.spoolMu.Lock()
	defer r.spoolMu.Unlock() // held until the books and the index are updated (see replay)
	return r.spoolLocked([][]Record{recs})
}

// spoolLocked appends batches (queued records, counted in the queue's
// depth) to the spool, one frame each, with one write and one fsync, and
// hands them to the replayer; or drops them, counted, when the spool cannot
// take them (the error is then a *DropError). A record that cannot be
// encoded is quarantined. r.spoolMu is held, and stays held until the books
// and the index are updated (see replay).
func (r *Recorder) spoolLocked(batches [][]Record) error {
	payloads := make([][]byte, 0, len(batches))
	framed := make([][]Record, 0, len(batches))
	refusedIDs := map[string]bool{}
	kept := 0
	for _, recs := range batches {
		payload, k, refused := encodeBatch(nil, recs)
		for _, rr := range refused {
			r.quarantine(rr.rec, rr.err, fromQueue)
			refusedIDs[rr.rec.ID] = true
		}
		if k > 0 {
			payloads = append(payloads, payload)
			framed = append(framed, recs)
			kept += k
		}
	}
	if kept == 0 {
		return nil
	}
	first, _, err := r.sp.Append(spool.KindRecords, payloads...)
	if err == nil && !r.spooling {
		r.spooling = true
		r.mu.Lock()
		last := r.stats.LastError
		r.mu.Unlock()
		r.log.Warn("recorder: the record store is down or behind; spooling batches to disk until it catches up",
			"spool", r.sp.Dir(), "last_error", last)
	}
	r.mu.Lock()
	r.depth -= kept
	if err != nil {
		reason := DropSpoolError
		if errors.Is(err, spool.ErrFull) {
			reason = DropSpoolFull
		}
		r.dropLocked(reason, kept)
		r.mu.Unlock()
		if reason == DropSpoolError {
			r.log.Error("recorder: cannot write to the spool", "err", err)
		}
		return &DropError{Reason: reason}
	}
	for j, recs := range framed {
		ids := make([]string, 0, len(recs))
		for i := range recs {
			if !refusedIDs[recs[i].ID] {
				ids = append(ids, recs[i].ID)
			}
		}
		r.spooled.add(first+uint64(j), ids)
	}
	r.spoolRecs += kept
	r.stats.Spooled += uint64(kept)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// replay is the replayer goroutine: it writes the spool's frames to the
// store, oldest first, each retried with backoff until the store takes it,
// and acknowledges them; when the spool is empty, batches go to the store
// directly again. It exits when Close has flushed the queue and the spool
// is empty or the store fails, or when Close cancels it.
func (r *Recorder) replay() {
	defer close(r.replayDone)
	for {
		f, ok, err := r.sp.Peek()
		if err != nil {
			r.log.Error("recorder: cannot read the spool; retrying", "spool", r.sp.Dir(), "err", err)
			select {
			case <-time.After(r.opts.RetryMax):
			case <-r.replayCtx.Done():
				return
			}
			continue
		}
		if !ok {
			if r.stopSpooling() {
				return
			}
			select {
			case <-r.kick:
			case <-r.done:
				// The queue is flushed: one more look at the spool.
			case <-r.replayCtx.Done():
				return
			}
			continue
		}
		// A barrier: spoolBatch holds spoolMu from its append until its
		// books and index are updated, so the frame is settled after that.
		r.spoolMu.Lock()
		r.spoolMu.Unlock() //lint:ignore SA2001 an empty critical section is the point
		switch f.Kind {
		case spool.KindRecords:
			if !r.replayFrame(f) {
				return
			}
		case spool.KindFeedback:
			if !r.replayFeedback(f) {
				return
			}
		default:
			r.log.Error("recorder: the spool holds a frame of a kind this version does not write; skipped (its bytes follow)",
				"seq", f.Seq, "kind", f.Kind, "payload", string(f.Data))
		}
		if err := r.sp.Ack(f.Seq); err != nil {
			r.log.Error("recorder: spool acknowledgement", "err", err)
		}
	}
}

// stopSpooling, called when the spool was found empty, sends batches to
// the store directly again unless something was spooled meanwhile; it
// reports whether the replayer should exit (the batcher is done).
func (r *Recorder) stopSpooling() bool {
	r.spoolMu.Lock()
	if r.spooling && r.sp.Len() == 0 {
		r.spooling = false
		r.log.Info("recorder: the spool is written; batches go to the record store directly again")
	}
	r.spoolMu.Unlock()
	select {
	case <-r.done:
		return r.sp.Len() == 0
	default:
		return false
	}
}

// replayFrame writes one spooled batch to the store and reports whether it
// did (false: Close stopped the replayer; the frame stays in the spool).
func (r *Recorder) replayFrame(f spool.Frame) bool {
	recs, err := decodeBatch(f.Data)
	if err != nil {
		// The frame's checksum matched, so this is not a torn write but
		// a batch this version cannot read: log it whole, never retry.
		r.log.Error("recorder: a spooled batch does not decode; skipped (its bytes follow)",
			"seq", f.Seq, "err", err, "payload", string(f.Data))
		r.forgetSpooled(f, len(recs))
		return true
	}
	if !r.writeBatch(r.replayCtx, recs, fromSpool) {
		return false
	}
	r.forgetSpooled(f, 0)
	return true
}

// forgetSpooled removes a written frame's records from the spool index;
// extra counts records that left the books otherwise.
func (r *Recorder) forgetSpooled(f spool.Frame, extra int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spooled.forget(f.Seq)
	r.spoolRecs -= extra
}

// origin says where a batch being written comes from, for the books.
type origin int

const (
	fromQueue origin = iota
	fromSpool
)

// settleLocked counts n records of origin o as having left the recorder
// into counter. r.mu is held.
func (r *Recorder) settleLocked(n int, o origin, counter *uint64) {
	*counter += uint64(n)
	if o == fromQueue {
		r.depth -= n
		return
	}
	r.spoolRecs -= n
	if counter == &r.stats.Written {
		r.stats.Replayed += uint64(n)
	}
}

// writeBatch writes batch, retrying with backoff until it succeeds (true)
// or base is cancelled (false: Close gave up; a queued batch is counted as
// lost, a spooled one stays in the spool). After IsolateAfter failed
// attempts, if the writer answers a ping, the store is up and refuses
// something in this batch: the batch is written in halves, recursively,
// and a single record the store still refuses is quarantined. A spooled
// batch is not retried once the queue is flushed at Close: it stays in the
// spool for the next start.
func (r *Recorder) writeBatch(base context.Context, batch []Record, o origin) bool {
	backoff := r.opts.RetryInitial
	var timer *time.Timer
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(base, r.opts.WriteTimeout)
		err := r.w.WriteRecords(r.yielding(ctx, len(batch)), batch)
		cancel()
		r.mu.Lock()
		if err == nil {
			r.settleLocked(len(batch), o, &r.stats.Written)
			r.stats.Batches++
			r.failing = false
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

		if base.Err() != nil || o == fromSpool && r.flushed() {
			r.lose(len(batch), o)
			return false
		}
		if attempt >= r.opts.IsolateAfter && !r.unavailable(err) && r.storeUp(base) {
			if len(batch) == 1 {
				r.quarantine(batch[0], err, o)
				return true
			}
			r.log.Warn("reachable record store refuses a batch; writing it in halves to isolate the refused records",
				"records", len(batch), "err", err)
			half := len(batch) / 2
			return r.writeBatch(base, batch[:half:half], o) && r.writeBatch(base, batch[half:], o)
		}
		r.log.Warn("record store write failed; retrying", "records", len(batch), "attempt", attempt, "backoff", backoff, "err", err)
		if timer == nil {
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		var flushed <-chan struct{} // at Close, a spooled batch is tried once more at once
		if o == fromSpool {
			flushed = r.done
		}
		select {
		case <-timer.C:
		case <-flushed:
			timer.Stop()
		case <-base.Done():
			timer.Stop()
			r.lose(len(batch), o)
			return false
		}
		backoff = min(2*backoff, r.opts.RetryMax)
	}
}

// flushed reports whether the batcher has exited (Close flushed the queue).
func (r *Recorder) flushed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// quarantine hands one refused record to the Quarantine hook and counts it.
func (r *Recorder) quarantine(rec Record, err error, o origin) {
	r.opts.Quarantine(rec, err)
	r.mu.Lock()
	r.settleLocked(1, o, &r.stats.Quarantined)
	r.failing = false
	r.mu.Unlock()
}

// lose counts n queued records as abandoned; spooled ones stay in the
// spool and are not lost.
func (r *Recorder) lose(n int, o origin) {
	if o == fromSpool {
		return
	}
	r.mu.Lock()
	r.depth -= n
	r.stats.Lost += uint64(n)
	r.mu.Unlock()
}

// abandon counts everything still queued as lost (Close gave up) and
// tells their waiters.
func (r *Recorder) abandon() {
	r.mu.Lock()
	r.stats.Lost += uint64(r.depth)
	r.depth, r.bytes = 0, 0
	var waiters []chan error
	for _, c := range r.chunks {
		waiters = append(waiters, c.waiters...)
	}
	r.chunks = nil
	lost := r.stats.Lost
	r.mu.Unlock()
	for _, w := range waiters {
		w <- fmt.Errorf("record not written: %w", context.Canceled)
	}
	r.log.Error("recorder closed before everything was written", "lost", lost)
}

// dropLocked counts n records dropped for reason and schedules a log line
// (at most one per DropReportEvery). r.mu is held.
func (r *Recorder) dropLocked(reason string, n int) {
	r.stats.Dropped += uint64(n)
	r.stats.DroppedBy[reason] += uint64(n)
	r.dropsUnreported[reason] += uint64(n)
	if r.dropTimer == nil {
		wait := r.opts.DropReportEvery - time.Since(r.lastDropReport)
		r.dropTimer = time.AfterFunc(max(wait, 0), r.reportDrops)
	}
}

// reportDrops logs the drops since the last report, if any.
func (r *Recorder) reportDrops() {
	r.mu.Lock()
	if r.dropTimer != nil {
		r.dropTimer.Stop()
		r.dropTimer = nil
	}
	var total uint64
	args := make([]any, 0, 2*len(r.dropsUnreported)+4)
	for _, reason := range slices.Sorted(maps.Keys(r.dropsUnreported)) {
		total += r.dropsUnreported[reason]
		args = append(args, reason, r.dropsUnreported[reason])
	}
	clear(r.dropsUnreported)
	if total > 0 {
		r.lastDropReport = time.Now()
	}
	dropped := r.stats.Dropped
	r.mu.Unlock()
	if total > 0 {
		args = append(args, "dropped_total", dropped)
		r.log.Error(fmt.Sprintf("recorder: dropped %d records since the last report", total), args...)
	}
}

// errStalled is the cause of a write cancelled by watchStall.
var errStalled = errors.New("store write stalled")

// watchStall calls stall once y's write has made no progress (no call of
// its Done or Err method) for d, and returns the function that stops the
// watch; stall is not called after it returns.
func watchStall(y *yieldCtx, d time.Duration, stall func()) (stop func()) {
	var (
		mu      sync.Mutex
		t       *time.Timer
		stopped bool
	)
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		idle := y.since() - time.Duration(y.seen.Load())
		if idle >= d {
			stopped = true
			stall()
			return
		}
		t.Reset(d - idle)
	}
	mu.Lock()
	t = time.AfterFunc(d, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// yieldEvery is how long a batch write runs, at most, between two offers of
// the processor to other goroutines (see yielding).
const yieldEvery = 100 * time.Microsecond

// yieldBudget is how long a batch write may spend yielding before it stops
// giving way, unless it has itself run longer (see yielding).
const yieldBudget = 5 * time.Millisecond

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
// It also stops once its yields have taken longer in all than yieldBudget
// and than the write itself has run: a yield lasts as long as the
// goroutines that run meanwhile, and with hundreds of them runnable (every
// connection of a saturated server) each one took tens of milliseconds, a
// batch a second or more, and the store looked too slow (SpoolAfter) to a
// recorder that was only starved of CPU.
func (r *Recorder) yielding(ctx context.Context, n int) *yieldCtx {
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
	yielded   atomic.Int64 // time spent in yield so far
	seen      atomic.Int64 // the since() of the last Done or Err call (progress)
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
	now := y.since()
	y.seen.Store(int64(now))
	if int64(now) < y.next.Load() {
		return
	}
	yielded := time.Duration(y.yielded.Load())
	if yielded > yieldBudget && yielded > now-yielded || !y.keepingUp() {
		return
	}
	y.yield()
	after := y.since()
	y.seen.Store(int64(after))
	y.yielded.Add(int64(after - now))
	y.next.Store(int64(after + yieldEvery))
}

// unavailable reports whether err says the store was not serving rather
// than refusing records: the writer's OutageClassifier says so, or err is a
// timeout, a network error, a connection cut short or refused.
func (r *Recorder) unavailable(err error) bool {
	if c, ok := r.w.(OutageClassifier); ok && c.Unavailable(err) {
		return true
	}
	return Unavailable(err)
}

// Unavailable reports whether err, from any store, is a sign of an outage
// rather than of a refused record: a context deadline or cancellation, a
// net.Error, an end of stream in the middle of an exchange, or a refused,
// reset, aborted or broken connection.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	_, isNet := errors.AsType[net.Error](err)
	return isNet
}

// storeUp reports whether the writer is a Pinger that answers.
func (r *Recorder) storeUp(base context.Context) bool {
	p, ok := r.w.(Pinger)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(base, r.opts.WriteTimeout)
	defer cancel()
	return p.Ping(ctx) == nil
}
