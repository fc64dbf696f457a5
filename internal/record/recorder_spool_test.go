package record_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// flaky wraps a real store: while down, writes fail at once; while hung,
// they wait for their context (a store that does not answer).
type flaky struct {
	store.Store
	down, hung atomic.Bool
	calls      atomic.Int64
}

func (f *flaky) WriteRecords(ctx context.Context, recs []record.Record) error {
	f.calls.Add(1)
	if f.hung.Load() {
		<-ctx.Done()
		return fmt.Errorf("write records: %w", ctx.Err())
	}
	if f.down.Load() {
		return errors.New("dial tcp: connection refused")
	}
	return f.Store.WriteRecords(ctx, recs)
}

func (f *flaky) Ping(ctx context.Context) error {
	if f.down.Load() || f.hung.Load() {
		return errors.New("dial tcp: connection refused")
	}
	return f.Store.Ping(ctx)
}

func openSpool(t *testing.T, dir string, maxBytes int64) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{MaxBytes: maxBytes, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// durably enqueues records [from, to) with EnqueueDurable from several
// goroutines and returns the errors by record index (nil: durable).
func durably(t *testing.T, r *record.Recorder, from, to int, mk func(int) record.Record) []error {
	t.Helper()
	errs := make([]error, to-from)
	var wg sync.WaitGroup
	const writers = 8
	for g := range writers {
		wg.Go(func() {
			for i := from + g; i < to; i += writers {
				errs[i-from] = r.EnqueueDurable(t.Context(), mk(i))
			}
		})
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func wantStoredOnce(t *testing.T, s store.Store, n int) {
	t.Helper()
	got := storedIDs(t, s)
	if len(got) != n {
		t.Errorf("%d records stored, want %d", len(got), n)
	}
	for i := range n {
		if c := got[rec(i).ID]; c != 1 {
			t.Fatalf("%s stored %d times", rec(i).ID, c)
		}
	}
}

// spoolFilesHold reports whether the spool's segment files hold id.
func spoolFilesHold(t *testing.T, dir, id string) bool {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"_id":"`+id+`"`)) {
			return true
		}
	}
	return false
}

func TestRecorder_SQLite_StoreDownSpoolsThenRecoveryDrainsEverything(t *testing.T) {
	s := openSQLite(t)
	w := &flaky{Store: s}
	w.down.Store(true)
	dir := t.TempDir()
	r := record.NewRecorder(w, record.RecorderOptions{
		BatchSize: 64, FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond,
		QueueMaxBytes: 256 << 10, Spool: openSpool(t, dir, 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	const n = 4000
	noErrors(t, durably(t, r, 0, n, fullRec))
	st := r.Stats()
	if !st.Spooling || st.Spooled != n || st.QueueDepth != 0 || st.Dropped != 0 || st.DurableSeq != n {
		t.Errorf("during the outage stats = %+v; want all %d spooled, nothing queued or dropped", st, n)
	}
	if got := storedIDs(t, s); len(got) != 0 {
		t.Fatalf("%d records reached the store while it was down", len(got))
	}
	// Read your writes while nothing is in the store.
	if got, ok := r.Lookup(rec(1234).ID); !ok || got.ID != rec(1234).ID || len(got.Models) != 3 {
		t.Errorf("Lookup(%s) = %+v, %v; want the spooled record", rec(1234).ID, got, ok)
	}
	if _, ok := r.Lookup("never-sent"); ok {
		t.Error("Lookup found a record never sent")
	}
	w.down.Store(false)
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantStoredOnce(t, s, n)
	st = r.Stats()
	if st.Written != n || st.Replayed != n || st.SpoolRecords != 0 || st.SpoolFrames != 0 || st.Lost != 0 {
		t.Errorf("after recovery stats = %+v", st)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 1 {
		t.Errorf("segments left after draining: %v, want one empty one", segs)
	}
}

func TestRecorder_SQLite_MemoryStaysBoundedInBytesWhileTheStoreIsDown(t *testing.T) {
	s := openSQLite(t)
	w := &flaky{Store: s}
	w.down.Store(true)
	r := record.NewRecorder(w, record.RecorderOptions{
		BatchSize: 16, FlushInterval: time.Millisecond, QueueMaxBytes: 1 << 20,
		Spool: openSpool(t, t.TempDir(), 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	body := strings.Repeat("x", 64<<10) // rejected 64 KiB bodies
	mk := func(i int) record.Record {
		rr := rec(i)
		rr.Status, rr.Raw = record.RequestRejected, body
		return rr
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	maxQueued := atomic.Int64{}
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b := r.Stats().QueueBytes; b > maxQueued.Load() {
				maxQueued.Store(b)
			}
			runtime.Gosched()
		}
	})
	const n = 800 // 50 MiB of bodies
	noErrors(t, durably(t, r, 0, n, mk))
	close(stop)
	watcher.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if m := maxQueued.Load(); m > 1<<20 {
		t.Errorf("queue held %d bytes, over its 1 MiB bound", m)
	}
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 16<<20 {
		t.Errorf("heap grew by %d MiB while 50 MiB went through to the spool", grown>>20)
	}
	w.down.Store(false)
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := storedIDs0(t, s); got != n {
		t.Errorf("%d records stored, want %d", got, n)
	}
}

// storedIDs0 counts stored records (of any shape).
func storedIDs0(t *testing.T, s store.Store) int {
	t.Helper()
	n := 0
	if err := s.ScanRecords(t.Context(), store.ScanParams{}, func(*record.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// logBuffer is a slog handler target safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRecorder_SQLite_FullSpoolDropsAreCountedByReasonAndLogged(t *testing.T) {
	s := openSQLite(t)
	w := &flaky{Store: s}
	w.down.Store(true)
	var logs logBuffer
	r := record.NewRecorder(w, record.RecorderOptions{
		BatchSize: 8, FlushInterval: time.Millisecond, Spool: openSpool(t, t.TempDir(), 64<<10),
		DropReportEvery: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	t.Cleanup(func() { r.Close(context.Background()) })
	errs := durably(t, r, 0, 2000, fullRec)
	spooled, dropped := 0, 0
	for _, err := range errs {
		var de *record.DropError
		switch {
		case err == nil:
			spooled++
		case errors.As(err, &de) && de.Reason == record.DropSpoolFull && errors.Is(err, record.ErrDropped):
			dropped++
		default:
			t.Fatalf("EnqueueDurable: %v", err)
		}
	}
	st := r.Stats()
	if dropped == 0 || spooled == 0 || st.DroppedBy[record.DropSpoolFull] != uint64(dropped) || st.Dropped != uint64(dropped) || st.Spooled != uint64(spooled) {
		t.Fatalf("%d spooled, %d dropped; stats %+v", spooled, dropped, st)
	}
	if st.SpoolBytes > 64<<10 {
		t.Errorf("spool holds %d bytes, over its bound", st.SpoolBytes)
	}
	w.down.Store(false)
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := storedIDs0(t, s); n != spooled {
		t.Errorf("%d records stored, want the %d spooled", n, spooled)
	}
	// The first drop is reported at once, the rest (DropReportEvery is an
	// hour) by Close: every drop is in the log with its reason.
	var total int
	for _, line := range strings.Split(logs.String(), "\n") {
		var k int
		if _, err := fmt.Sscanf(line[strings.Index(line+"dropped", "dropped"):], "dropped %d records since the last report", &k); err == nil {
			if !strings.Contains(line, "spool_full=") {
				t.Errorf("drop line without its reason: %s", line)
			}
			total += k
		}
	}
	if total != dropped {
		t.Errorf("log reports %d drops, want %d:\n%s", total, dropped, logs.String())
	}
}

func TestRecorder_SQLite_RestartReplaysTheSpoolFirstAndLosesNothing(t *testing.T) {
	s := openSQLite(t)
	w := &flaky{Store: s}
	w.down.Store(true)
	dir := t.TempDir()
	opts := record.RecorderOptions{BatchSize: 32, FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, Logger: quietLog}
	o1 := opts
	o1.Spool = openSpool(t, dir, 0)
	r := record.NewRecorder(w, o1)
	t.Cleanup(func() { r.Close(context.Background()) })
	noErrors(t, durably(t, r, 0, 1000, fullRec))
	for i := 1000; i < 1100; i++ { // accepted, not yet durable
		r.Enqueue(fullRec(i))
	}
	// Stop without flushing to the store: Close with an ended context.
	// What is queued goes to the spool; nothing is written, nothing lost.
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Close(ended); err != nil {
		t.Fatalf("Close with the store down and a spool: %v", err)
	}
	if st := r.Stats(); st.Lost != 0 || st.Written != 0 || st.SpoolRecords != 1100 {
		t.Fatalf("after stopping stats = %+v; want all 1100 in the spool", st)
	}
	// A crash mid-append leaves a torn frame at the end of the last segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 1, 0})
	f.Close()

	w.down.Store(false)
	o2 := opts
	o2.Spool = openSpool(t, dir, 0)
	r2 := record.NewRecorder(w, o2)
	t.Cleanup(func() { r2.Close(context.Background()) })
	noErrors(t, durably(t, r2, 1100, 1200, fullRec))
	if err := r2.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantStoredOnce(t, s, 1200)
	st := r2.Stats()
	if st.Recovered != 1100 || st.SpoolCorrupt != 1 || st.Written != 1200 || st.SpoolRecords != 0 {
		t.Errorf("after the restart stats = %+v; want 1100 recovered, the torn frame counted, 1200 written", st)
	}
}

func TestRecorder_SQLite_SyncModeReturnsOnlyOnceCommittedOrFsynced(t *testing.T) {
	s := openSQLite(t)
	w := &flaky{Store: s}
	dir := t.TempDir()
	r := record.NewRecorder(w, record.RecorderOptions{
		BatchSize: 16, FlushInterval: time.Millisecond, SpoolAfter: 20 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		RetryInitial: time.Millisecond, Spool: openSpool(t, dir, 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) }) // also when the test fails early
	// Store up: committed when EnqueueDurable returns (or, if the store was
	// slower than SpoolAfter on this busy machine, fsynced to the spool).
	for i := range 20 {
		if err := r.EnqueueDurable(t.Context(), fullRec(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRecord(t.Context(), rec(i).ID); err != nil && !spoolFilesHold(t, dir, rec(i).ID) {
			t.Fatalf("right after EnqueueDurable(%d) neither in the store (%v) nor in the spool", i, err)
		}
	}
	// Store hung: the batch goes to the spool after SpoolAfter and is on
	// disk when EnqueueDurable returns.
	w.hung.Store(true)
	for i := 20; i < 30; i++ {
		if err := r.EnqueueDurable(t.Context(), fullRec(i)); err != nil {
			t.Fatal(err)
		}
		if !spoolFilesHold(t, dir, rec(i).ID) {
			t.Fatalf("right after EnqueueDurable(%d) with the store hung, the record is not in the spool files", i)
		}
		if _, ok := r.Lookup(rec(i).ID); !ok {
			t.Errorf("Lookup(%s) misses a spooled record", rec(i).ID)
		}
	}
	// A caller whose deadline passes first is told so.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.EnqueueDurable(ctx, fullRec(99)); !errors.Is(err, context.Canceled) {
		t.Errorf("EnqueueDurable with an ended context = %v", err)
	}
	w.hung.Store(false)
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	// What the replayer had not written by Close stays in the spool and is
	// written after the next start.
	if st := r.Stats(); storedIDs0(t, s)+st.SpoolRecords != 30 {
		t.Errorf("stored %d + spooled %d, want 30", storedIDs0(t, s), st.SpoolRecords)
	}
	r2 := record.NewRecorder(w, record.RecorderOptions{Spool: openSpool(t, dir, 0), Logger: quietLog})
	if err := r2.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := storedIDs0(t, s); n != 30 {
		t.Errorf("%d stored, want 30", n)
	}
}
