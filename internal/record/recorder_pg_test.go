package record_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// PostgreSQL stopped for 10 s under load, then started again: every record
// EnqueueDurable accepted is in the store afterwards (the outage went to the
// spool), none twice.
func TestRecorder_PrivatePostgresOutageUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a 15-second outage test")
	}
	url, ctl := testenv.PrivatePostgres(t)
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the recorder's Close (cleanups run last first)
	r := record.NewRecorder(s, record.RecorderOptions{
		BatchSize: 256, FlushInterval: 10 * time.Millisecond, SpoolAfter: 200 * time.Millisecond,
		WriteTimeout: time.Second, RetryInitial: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		Spool: openSpool(t, t.TempDir(), 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	var (
		mu      sync.Mutex
		durable []string
		failed  atomic.Int64
		next    atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1))
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				err := r.EnqueueDurable(ctx, fullRec(i))
				cancel()
				if err != nil {
					failed.Add(1) // the gateway would answer 503
					continue
				}
				mu.Lock()
				durable = append(durable, rec(i).ID)
				mu.Unlock()
			}
		})
	}
	phase := func(d time.Duration) { time.Sleep(d) } // load runs meanwhile
	phase(2 * time.Second)
	ctl("stop")
	phase(10 * time.Second)
	ctl("start")
	phase(2 * time.Second)
	close(stop)
	wg.Wait()
	// Close drains the spool while the store answers; the load above
	// spools as fast as the producers go (over 100,000 records in a loaded
	// CI run, written back at about 2,000 a second), so give it time.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := r.Stats()
	got := map[string]int{}
	if err := s.ScanRecords(t.Context(), store.ScanParams{}, func(rr *record.Record) error { got[rr.ID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, id := range durable {
		if got[id] != 1 {
			missing++
		}
	}
	t.Logf("%d durable answers, %d not durable in time, %d stored, %d spooled, stats %+v", len(durable), failed.Load(), len(got), st.Spooled, st)
	if missing > 0 || len(durable) == 0 {
		t.Errorf("%d of %d records acknowledged as durable are not stored exactly once", missing, len(durable))
	}
	if st.Spooled == 0 || st.Lost != 0 || st.SpoolRecords != 0 {
		t.Errorf("stats = %+v; want the outage spooled, nothing lost, the spool drained", st)
	}
}

// Issue 14, "only when the spool is full too are records dropped": the
// private PostgreSQL stopped for 6 s under async load with a queue of
// 32 KiB (about 50 records) and a spool. Before the queue spilled to the
// spool, every record arriving while the batcher's write waited for the
// stopped store was dropped (queue_bytes); now none is, every accepted
// record is stored once after recovery, and the heap stays flat.
func TestRecorder_PrivatePostgresOutageWithATinyQueueSpillsAndDropsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10-second outage test")
	}
	url, ctl := testenv.PrivatePostgres(t)
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const queueMax = 32 << 10
	r := record.NewRecorder(s, record.RecorderOptions{
		BatchSize: 256, FlushInterval: 10 * time.Millisecond, QueueMaxBytes: queueMax,
		SpoolAfter: 200 * time.Millisecond, WriteTimeout: time.Second,
		RetryInitial: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		Spool: openSpool(t, t.TempDir(), 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	watch := heapWatch(r)
	var (
		accepted, refused atomic.Int64
		next              atomic.Int64
		stop              = make(chan struct{})
		wg                sync.WaitGroup
	)
	for range 8 { // 8 × 5 records every 20 ms: 2,000 records/s in bursts
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for range 5 {
					if r.Enqueue(fullRec(int(next.Add(1)))) {
						accepted.Add(1)
					} else {
						refused.Add(1)
					}
				}
			}
		})
	}
	phase := func(d time.Duration) { time.Sleep(d) } // load runs meanwhile
	phase(2 * time.Second)
	ctl("stop")
	phase(6 * time.Second)
	ctl("start")
	phase(2 * time.Second)
	close(stop)
	wg.Wait()
	maxQueue, maxHeap := watch()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := r.Stats()
	got := map[string]int{}
	if err := s.ScanRecords(t.Context(), store.ScanParams{}, func(rr *record.Record) error { got[rr.ID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	twice := 0
	for _, c := range got {
		if c != 1 {
			twice++
		}
	}
	t.Logf("%d accepted, %d refused, %d stored (%d more than once); queue at most %d bytes, heap in use at most %d MiB (%d MiB before); stats %+v",
		accepted.Load(), refused.Load(), len(got), twice, maxQueue, maxHeap>>20, before.HeapInuse>>20, st)
	if refused.Load() != 0 || st.Dropped != 0 || int64(len(got)) != accepted.Load() || twice != 0 {
		t.Errorf("%d refused, %d dropped %v, %d of %d accepted stored; want none dropped and every record stored once",
			refused.Load(), st.Dropped, st.DroppedBy, len(got), accepted.Load())
	}
	if maxQueue > queueMax || st.Lost != 0 || st.SpoolRecords != 0 {
		t.Errorf("queue at most %d bytes (bound %d); stats %+v; want the queue bounded, nothing lost, the spool drained", maxQueue, queueMax, st)
	}
	if grown := int64(maxHeap) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("heap in use grew by %d MiB during the outage; want it bounded (< 64 MiB)", grown>>20)
	}
}
