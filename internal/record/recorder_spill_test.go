package record_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// heapWatch samples the recorder's queue bytes and the heap in use until
// stopped; it returns the highest of each.
func heapWatch(r *record.Recorder) (stop func() (maxQueue int64, maxHeap uint64)) {
	var (
		done     = make(chan struct{})
		wg       sync.WaitGroup
		maxQ     int64
		maxH     uint64
		ms       runtime.MemStats
		lastHeap time.Time
	)
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			maxQ = max(maxQ, r.Stats().QueueBytes)
			if time.Since(lastHeap) > 20*time.Millisecond {
				runtime.ReadMemStats(&ms)
				maxH = max(maxH, ms.HeapInuse)
				lastHeap = time.Now()
			}
			runtime.Gosched()
		}
	})
	return func() (int64, uint64) {
		close(done)
		wg.Wait()
		return maxQ, maxH
	}
}

// Issue 14: "only when the spool is full too are records dropped". A store
// that hangs holds the batcher's first write for SpoolAfter; meanwhile a
// 64 KiB queue fills at once. Before, every record past it was dropped
// (queue_bytes); now the queue is spilled to the spool and none is.
func TestRecorder_SQLite_FullQueueSpillsToTheSpoolInsteadOfDropping(t *testing.T) {
	s := openSQLite(t)
	w := &gated{Store: s, open: make(chan struct{})}
	const queueMax = 64 << 10
	r := record.NewRecorder(w, record.RecorderOptions{
		BatchSize: 64, FlushInterval: time.Millisecond, QueueMaxBytes: queueMax,
		SpoolAfter: 3 * time.Second, WriteTimeout: 5 * time.Second,
		RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond,
		Spool: openSpool(t, t.TempDir(), 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := heapWatch(r)
	start := time.Now()
	const n, producers = 5_000, 8
	var refused atomic.Int64
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := g; i < n; i += producers {
				if !r.Enqueue(fullRec(i)) {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	maxQueue, maxHeap := stop()
	st := r.Stats()
	t.Logf("store hung: %d records enqueued in %s, %d refused, stats %+v; queue at most %d bytes, heap in use at most %d MiB (%d MiB before)",
		n, time.Since(start).Round(time.Millisecond), refused.Load(), st, maxQueue, maxHeap>>20, before.HeapInuse>>20)
	if refused.Load() != 0 || st.Dropped != 0 {
		t.Errorf("%d records refused, %d dropped %v while the store hung with a spool; want none", refused.Load(), st.Dropped, st.DroppedBy)
	}
	if st.Spilled == 0 || !st.Spooling {
		t.Errorf("stats %+v; want the full queue spilled and the recorder spooling", st)
	}
	if maxQueue > queueMax {
		t.Errorf("queue held %d bytes, over its %d bound", maxQueue, queueMax)
	}
	if grown := int64(maxHeap) - int64(before.HeapInuse); grown > 32<<20 {
		t.Errorf("heap in use grew by %d MiB while the store hung; want it bounded (< 32 MiB)", grown>>20)
	}
	close(w.open)
	start = time.Now()
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("store released: Close wrote the spool in %s", time.Since(start).Round(time.Millisecond))
	wantStoredOnce(t, s, n)
	if st := r.Stats(); st.Lost != 0 || st.SpoolRecords != 0 || st.Written != n {
		t.Errorf("after recovery stats %+v; want all %d written, the spool drained", st, n)
	}
}

// gated wraps a real store: writes wait until open is closed (or their
// context ends), like a store that hangs until it is released.
type gated struct {
	store.Store
	open chan struct{}
}

func (g *gated) WriteRecords(ctx context.Context, recs []record.Record) error {
	select {
	case <-g.open:
		return g.Store.WriteRecords(ctx, recs)
	case <-ctx.Done():
		return fmt.Errorf("write records: %w", ctx.Err())
	}
}

// In sync mode a record that goes to the spool because the queue is full
// is durable once fsynced: EnqueueDurable returns nil, and the record is in
// the spool's files, while the store still hangs.
func TestRecorder_SQLite_SyncRecordSpilledFromAFullQueueIsDurableOnceFsynced(t *testing.T) {
	s := openSQLite(t)
	w := &gated{Store: s, open: make(chan struct{})}
	dir := t.TempDir()
	r := record.NewRecorder(w, record.RecorderOptions{
		QueueSize: 4, BatchSize: 4, FlushInterval: time.Millisecond,
		SpoolAfter: time.Minute, WriteTimeout: time.Minute,
		Spool: openSpool(t, dir, 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	// The batcher's first write hangs, holding one batch (at most 4
	// records); 4 more fill the queue; the rest must spill.
	const n, held = 64, 8
	type result struct {
		i   int
		err error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			results <- result{i, r.EnqueueDurable(t.Context(), fullRec(i))}
		}()
	}
	for range n - held {
		res := <-results
		if res.err != nil {
			t.Fatalf("record %d: %v while the store hangs; want it spilled and durable", res.i, res.err)
		}
		if id := rec(res.i).ID; !spoolFilesHold(t, dir, id) {
			t.Errorf("EnqueueDurable(%s) returned nil but the spool's files do not hold it", id)
		}
	}
	if st := r.Stats(); st.Spilled < n-held || st.Dropped != 0 {
		t.Errorf("stats %+v; want at least %d records spilled, none dropped", st, n-held)
	}
	close(w.open)
	for range held {
		if res := <-results; res.err != nil {
			t.Errorf("record %d: %v", res.i, res.err)
		}
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantStoredOnce(t, s, n)
}
