package record_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

var quietLog = slog.New(slog.DiscardHandler)

// batchWriter is an in-test Writer: it keeps every batch it accepted, can
// refuse the next n calls, and can hold calls until released. Like a real
// store it ignores a record whose ID it already holds.
type batchWriter struct {
	mu       sync.Mutex
	batches  [][]string // IDs of each accepted batch, in order
	seen     map[string]int
	calls    []time.Time
	failNext int
	hold     chan struct{} // when non-nil, calls wait for it (or ctx)
}

func newBatchWriter() *batchWriter { return &batchWriter{seen: map[string]int{}} }

func (w *batchWriter) WriteRecords(ctx context.Context, recs []record.Record) error {
	w.mu.Lock()
	w.calls = append(w.calls, time.Now())
	hold := w.hold
	w.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return fmt.Errorf("write records: %w", ctx.Err())
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failNext > 0 {
		w.failNext--
		return errors.New("store unreachable")
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		w.seen[r.ID]++
		ids = append(ids, r.ID)
	}
	w.batches = append(w.batches, ids)
	return nil
}

func (w *batchWriter) sizes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, b := range w.batches {
		out = append(out, len(b))
	}
	return out
}

func (w *batchWriter) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, b := range w.batches {
		out = append(out, b...)
	}
	return out
}

func rec(i int) record.Record {
	return record.Record{
		ID:         fmt.Sprintf("req-%05d", i),
		ReceivedAt: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Endpoint:   "/v1/predict",
		Status:     record.RequestOK,
	}
}

func wantIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = rec(i).ID
	}
	return out
}

func enqueue(t *testing.T, r *record.Recorder, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if !r.Enqueue(rec(i)) {
			t.Fatalf("Enqueue(%d) refused", i)
		}
	}
}

func closeOK(t *testing.T, r *record.Recorder) {
	t.Helper()
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestRecorder_WritesFullBatchesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 4, FlushInterval: time.Hour, Logger: quietLog})
		start := time.Now()
		enqueue(t, r, 0, 9)
		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{4, 4}) {
			t.Errorf("batches = %v, want two full batches of 4 without waiting", got)
		}
		if time.Since(start) != 0 {
			t.Errorf("full batches waited %v", time.Since(start))
		}
		if s := r.Stats(); s.QueueDepth != 1 || s.Written != 8 || s.Batches != 2 || s.Enqueued != 9 {
			t.Errorf("stats = %+v, want depth 1, written 8 in 2 batches, enqueued 9", s)
		}
		closeOK(t, r)
		if got := w.ids(); !slices.Equal(got, wantIDs(9)) {
			t.Errorf("written ids = %v, want req-00000..req-00008 in order", got)
		}
	})
}

func TestRecorder_FlushesPartialBatchAfterFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 100, FlushInterval: 50 * time.Millisecond, Logger: quietLog})
		enqueue(t, r, 0, 3)
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if got := w.sizes(); len(got) != 0 {
			t.Fatalf("batches after 49ms = %v, want none yet", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{3}) {
			t.Fatalf("batches after 50ms = %v, want one of 3", got)
		}
		// The next record starts a new interval.
		time.Sleep(time.Second)
		enqueue(t, r, 3, 4)
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{3, 1}) {
			t.Errorf("batches = %v, want [3 1]", got)
		}
		closeOK(t, r)
	})
}

func TestRecorder_FullQueueDropsCountsAndNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.hold = make(chan struct{}) // the store hangs
		r := record.NewRecorder(w, record.RecorderOptions{QueueSize: 10, BatchSize: 4, FlushInterval: time.Millisecond, Logger: quietLog})
		accepted := 0
		start := time.Now()
		for i := range 15 {
			if r.Enqueue(rec(i)) {
				accepted++
			}
			synctest.Wait() // let the batcher take what it can
		}
		if time.Since(start) != 0 {
			t.Errorf("Enqueue blocked for %v", time.Since(start))
		}
		s := r.Stats()
		if accepted != 10 || s.Enqueued != 10 || s.Dropped != 5 || s.QueueDepth != 10 || s.QueueCap != 10 {
			t.Errorf("accepted %d; stats %+v; want 10 accepted, 5 dropped, depth 10 of 10", accepted, s)
		}
		if !s.Degraded {
			t.Error("a full queue is not reported degraded")
		}
		close(w.hold)
		closeOK(t, r)
		if got := w.ids(); !slices.Equal(got, wantIDs(10)) {
			t.Errorf("written = %v, want the 10 accepted records", got)
		}
		if s := r.Stats(); s.Written != 10 || s.Dropped != 5 || s.Degraded {
			t.Errorf("after flush stats = %+v", s)
		}
	})
}

func TestRecorder_StoreFailureThenRecoveryWritesEverythingExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.failNext = 4
		r := record.NewRecorder(w, record.RecorderOptions{
			BatchSize: 4, FlushInterval: 10 * time.Millisecond,
			RetryInitial: 100 * time.Millisecond, RetryMax: 250 * time.Millisecond, Logger: quietLog,
		})
		start := time.Now()
		enqueue(t, r, 0, 4)
		time.Sleep(200 * time.Millisecond)
		// While the store is down, records keep arriving and wait.
		enqueue(t, r, 4, 10)
		synctest.Wait()
		s := r.Stats()
		if s.WriteErrors < 2 || s.LastError != "store unreachable" || !s.Degraded || s.Written != 0 || s.QueueDepth != 10 {
			t.Errorf("during the outage stats = %+v; want errors counted, degraded, nothing written, 10 queued", s)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		s = r.Stats()
		if s.Written != 10 || s.QueueDepth != 0 || s.Degraded || s.WriteErrors != 4 || s.Dropped != 0 {
			t.Errorf("after recovery stats = %+v; want 10 written, nothing queued or dropped, not degraded, 4 errors", s)
		}
		for id, n := range w.seen {
			if n != 1 {
				t.Errorf("%s written %d times", id, n)
			}
		}
		if got := w.ids(); !slices.Equal(got, wantIDs(10)) {
			t.Errorf("written = %v, want all 10 in order", got)
		}
		// Backoff: attempts at 0, +100ms, +200ms, then capped at +250ms.
		var offsets []time.Duration
		for _, c := range w.calls[:5] {
			offsets = append(offsets, c.Sub(start))
		}
		want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 550 * time.Millisecond, 800 * time.Millisecond}
		if !slices.Equal(offsets, want) {
			t.Errorf("write attempts at %v, want %v (exponential, capped at RetryMax)", offsets, want)
		}
		closeOK(t, r)
	})
}

func TestRecorder_CloseFlushesEverythingQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 512, FlushInterval: time.Hour, Logger: quietLog})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() { enqueue(t, r, g*250, (g+1)*250) })
		}
		wg.Wait()
		start := time.Now()
		closeOK(t, r)
		if time.Since(start) != 0 {
			t.Errorf("Close waited %v for the flush interval", time.Since(start))
		}
		got := w.ids()
		slices.Sort(got)
		if !slices.Equal(got, wantIDs(1000)) {
			t.Errorf("after Close %d records written, want all 1000 exactly once", len(got))
		}
		if s := r.Stats(); s.Written != 1000 || s.Lost != 0 || s.QueueDepth != 0 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestRecorder_EnqueueAfterCloseIsRefusedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		r := record.NewRecorder(w, record.RecorderOptions{Logger: quietLog})
		enqueue(t, r, 0, 1)
		closeOK(t, r)
		if r.Enqueue(rec(1)) {
			t.Error("Enqueue after Close accepted a record")
		}
		if s := r.Stats(); s.Dropped != 1 || s.Enqueued != 1 || s.Written != 1 {
			t.Errorf("stats = %+v, want 1 written, 1 dropped", s)
		}
		closeOK(t, r) // a second Close is harmless
	})
}

func TestRecorder_CloseGivesUpAtItsDeadlineAndReportsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.failNext = 1 << 30 // the store never comes back
		r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 4, Logger: quietLog})
		enqueue(t, r, 0, 10)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		err := r.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "10 records not written") {
			t.Errorf("Close = %v, want deadline exceeded reporting 10 records not written", err)
		}
		if time.Since(start) != time.Second {
			t.Errorf("Close returned after %v, want at its 1s deadline", time.Since(start))
		}
		s := r.Stats()
		if s.Lost != 10 || s.QueueDepth != 0 || s.Enqueued != s.Written+s.Lost+uint64(s.QueueDepth) {
			t.Errorf("stats = %+v, want 10 lost and the books balanced", s)
		}
	})
}

func TestRecorder_HungWriteIsCancelledByWriteTimeoutAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.hold = make(chan struct{})
		r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 2, WriteTimeout: time.Second, RetryInitial: time.Second, Logger: quietLog})
		enqueue(t, r, 0, 2)
		time.Sleep(1500 * time.Millisecond)
		if s := r.Stats(); s.WriteErrors != 1 || !strings.Contains(s.LastError, "deadline exceeded") {
			t.Errorf("stats = %+v, want one timed-out write", s)
		}
		w.mu.Lock()
		w.hold = nil // the store answers again
		w.mu.Unlock()
		time.Sleep(time.Second)
		if s := r.Stats(); s.Written != 2 {
			t.Errorf("stats = %+v, want the batch written on retry", s)
		}
		closeOK(t, r)
	})
}

type discardWriter struct{}

func (discardWriter) WriteRecords(context.Context, []record.Record) error { return nil }

func BenchmarkRecorder_Enqueue(b *testing.B) {
	r := record.NewRecorder(discardWriter{}, record.RecorderOptions{Logger: quietLog})
	rr := rec(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Enqueue(rr)
		}
	})
	b.StopTimer()
	if err := r.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := r.Stats()
	b.ReportMetric(float64(s.Dropped)/float64(b.N), "dropped/op")
}

// pickyWriter is a reachable store (it answers Ping unless down) that
// refuses every batch holding a record whose ID is in poison.
type pickyWriter struct {
	*batchWriter
	poison map[string]bool
	down   atomic.Bool
}

func (w *pickyWriter) Ping(context.Context) error {
	if w.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func (w *pickyWriter) WriteRecords(ctx context.Context, recs []record.Record) error {
	if w.down.Load() {
		return errors.New("connection refused")
	}
	for _, r := range recs {
		if w.poison[r.ID] {
			return fmt.Errorf("cannot encode record %s", r.ID)
		}
	}
	return w.batchWriter.WriteRecords(ctx, recs)
}

func TestRecorder_ReachableStoreRefusingOneRecordQuarantinesOnlyThatRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &pickyWriter{batchWriter: newBatchWriter(), poison: map[string]bool{rec(5).ID: true, rec(13).ID: true}}
		var quarantined []string
		r := record.NewRecorder(w, record.RecorderOptions{
			BatchSize: 16, FlushInterval: 10 * time.Millisecond, RetryInitial: 10 * time.Millisecond, Logger: quietLog,
			Quarantine: func(rec record.Record, err error) {
				if !strings.Contains(err.Error(), rec.ID) {
					t.Errorf("quarantine of %s with unrelated error %v", rec.ID, err)
				}
				quarantined = append(quarantined, rec.ID)
			},
		})
		enqueue(t, r, 0, 20)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		s := r.Stats()
		if s.Written != 18 || s.Quarantined != 2 || s.QueueDepth != 0 || s.Enqueued != s.Written+s.Quarantined {
			t.Errorf("stats = %+v; want 18 written, 2 quarantined, nothing queued", s)
		}
		if !slices.Equal(quarantined, []string{rec(5).ID, rec(13).ID}) {
			t.Errorf("quarantined %v", quarantined)
		}
		for id, n := range w.seen {
			if n != 1 {
				t.Errorf("%s written %d times", id, n)
			}
		}
		closeOK(t, r)
	})
}

// restartingWriter is a store in the middle of a restart: its ping gets
// through, but every write fails with a "starting up" error until ready,
// and it classifies that error as an outage.
type restartingWriter struct {
	*batchWriter
	ready atomic.Bool
}

var errStartingUp = errors.New("the database system is starting up")

func (w *restartingWriter) Ping(context.Context) error { return nil }

func (w *restartingWriter) Unavailable(err error) bool { return errors.Is(err, errStartingUp) }

func (w *restartingWriter) WriteRecords(ctx context.Context, recs []record.Record) error {
	if !w.ready.Load() {
		return fmt.Errorf("copy: failed to connect: %w", errStartingUp)
	}
	return w.batchWriter.WriteRecords(ctx, recs)
}

func TestUnavailable_TellsAnOutageFromARefusal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"deadline", fmt.Errorf("write: %w", context.DeadlineExceeded), true},
		{"cancelled", context.Canceled, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"connection reset", fmt.Errorf("copy: %w", syscall.ECONNRESET), true},
		{"broken pipe", fmt.Errorf("copy: %w", syscall.EPIPE), true},
		{"cut short", fmt.Errorf("read reply: %w", io.ErrUnexpectedEOF), true},
		{"closed", fmt.Errorf("write: %w", net.ErrClosed), true},
		{"refused record", errors.New(`cannot encode record "r1"`), false},
		{"text that only looks like an outage", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := record.Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}

// A store outage is retried until the store is back, never quarantined:
// an unreachable store (its ping fails too), and a store restarting (its
// ping answers while its writes fail with an error it classifies as an
// outage; isolation would start after the first failure).
func TestRecorder_StoreOutageIsRetriedNeverQuarantined(t *testing.T) {
	tests := []struct {
		name         string
		isolateAfter int
		start        func() (w record.Writer, up func())
	}{
		{"unreachable", 0, func() (record.Writer, func()) {
			w := &pickyWriter{batchWriter: newBatchWriter()}
			w.down.Store(true)
			return w, func() { w.down.Store(false) }
		}},
		{"restarting, its ping answering", 1, func() (record.Writer, func()) {
			w := &restartingWriter{batchWriter: newBatchWriter()}
			return w, func() { w.ready.Store(true) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w, up := tt.start()
				r := record.NewRecorder(w, record.RecorderOptions{
					BatchSize: 4, FlushInterval: 10 * time.Millisecond, RetryInitial: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
					IsolateAfter: tt.isolateAfter, Logger: quietLog,
					Quarantine: func(rec record.Record, err error) { t.Errorf("quarantined %s during an outage: %v", rec.ID, err) },
				})
				enqueue(t, r, 0, 8)
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if s := r.Stats(); s.Written != 0 || s.QueueDepth != 8 || s.Quarantined != 0 {
					t.Errorf("during the outage stats = %+v; want 8 queued", s)
				}
				up()
				time.Sleep(time.Second)
				synctest.Wait()
				if s := r.Stats(); s.Written != 8 || s.QueueDepth != 0 || s.Quarantined != 0 {
					t.Errorf("after the outage stats = %+v; want 8 written", s)
				}
				closeOK(t, r)
			})
		})
	}
}
