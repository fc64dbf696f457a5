package record_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// flakyFeedback is flaky for feedback too: while down, feedback writes
// fail at once; with ackLost, the next one commits and then reports a
// failure (the acknowledgement was lost).
type flakyFeedback struct {
	*flaky
	ackLost atomic.Bool
}

func (f *flakyFeedback) WriteFeedback(ctx context.Context, fb []record.Feedback) error {
	if f.hung.Load() {
		<-ctx.Done()
		return fmt.Errorf("write feedback: %w", ctx.Err())
	}
	if f.down.Load() {
		return errors.New("dial tcp: connection refused")
	}
	if err := f.Store.WriteFeedback(ctx, fb); err != nil {
		return err
	}
	if f.ackLost.CompareAndSwap(true, false) {
		return errors.New("read tcp: connection reset by peer")
	}
	return nil
}

func labelBatch(from, n int) []record.Feedback {
	fb := make([]record.Feedback, n)
	for i := range fb {
		fb[i] = record.Feedback{ID: fmt.Sprintf("fb-%05d", from+i), RequestID: rec(from + i).ID, Label: (from + i) % 2,
			ReceivedAt: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	}
	return fb
}

func storedFeedback(t *testing.T, s store.Store) map[string]int {
	t.Helper()
	got := map[string]int{}
	if err := s.ScanFeedback(t.Context(), store.FeedbackScanParams{}, func(fb record.Feedback) error {
		got[fb.ID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRecorder_SQLite_FeedbackDuringAnOutageIsSpooledAndReachesTheStoreOnce(t *testing.T) {
	s := openSQLite(t)
	w := &flakyFeedback{flaky: &flaky{Store: s}}
	dir := t.TempDir()
	r := record.NewRecorder(w, record.RecorderOptions{
		BatchSize: 64, FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond,
		SpoolAfter: 50 * time.Millisecond, Spool: openSpool(t, dir, 0), Logger: quietLog,
	})
	t.Cleanup(func() { r.Close(context.Background()) })

	// Store up: stored at once.
	if where, err := r.EnqueueFeedback(t.Context(), labelBatch(0, 10)); err != nil || where != record.FeedbackStored {
		t.Fatalf("EnqueueFeedback with the store up = %q, %v; want stored", where, err)
	}
	// A commit whose acknowledgement is lost: spooled, replayed later,
	// stored once.
	w.ackLost.Store(true)
	if where, err := r.EnqueueFeedback(t.Context(), labelBatch(10, 10)); err != nil || where != record.FeedbackSpooled {
		t.Fatalf("EnqueueFeedback with a lost acknowledgement = %q, %v; want spooled", where, err)
	}
	w.down.Store(true)
	// Outage: records and labels from several goroutines, all durable.
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for g := range 20 {
		wg.Go(func() {
			where, err := r.EnqueueFeedback(t.Context(), labelBatch(100+50*g, 50))
			if err == nil && where != record.FeedbackSpooled {
				err = fmt.Errorf("went to %q during the outage", where)
			}
			errs[g] = err
		})
	}
	noErrors(t, durably(t, r, 0, 500, fullRec))
	wg.Wait()
	noErrors(t, errs)
	if n := len(storedFeedback(t, s)); n > 20 {
		t.Fatalf("%d feedback rows in the store during the outage, want at most the 20 before it", n)
	}
	st := r.Stats()
	if st.FeedbackStored != 10 || st.FeedbackSpooled != 10+20*50 || !st.Spooling {
		t.Errorf("during the outage stats = %+v", st)
	}
	w.down.Store(false)
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := storedFeedback(t, s)
	if len(got) != 20+20*50 {
		t.Errorf("%d feedback rows stored, want %d", len(got), 20+20*50)
	}
	for id, c := range got {
		if c != 1 {
			t.Errorf("feedback %s stored %d times", id, c)
		}
	}
	wantStoredOnce(t, s, 500)
	if st := r.Stats(); st.FeedbackReplayed != 10+20*50 || st.SpoolFrames != 0 {
		t.Errorf("after recovery stats = %+v", st)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) > 1 {
		t.Errorf("segments left after draining: %v", segs)
	}
}

func TestRecorder_SQLite_FeedbackLeftInTheSpoolIsWrittenAfterARestart(t *testing.T) {
	s := openSQLite(t)
	w := &flakyFeedback{flaky: &flaky{Store: s}}
	w.down.Store(true)
	dir := t.TempDir()
	opts := record.RecorderOptions{RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond,
		SpoolAfter: 20 * time.Millisecond, Logger: quietLog}
	opts.Spool = openSpool(t, dir, 0)
	r := record.NewRecorder(w, opts)
	if where, err := r.EnqueueFeedback(t.Context(), labelBatch(0, 7)); err != nil || where != record.FeedbackSpooled {
		t.Fatalf("EnqueueFeedback = %q, %v; want spooled", where, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	r.Close(ctx) // the store is down: the frame stays in the spool
	cancel()
	if _, err := r.EnqueueFeedback(t.Context(), labelBatch(7, 1)); !errors.Is(err, record.ErrDropped) {
		t.Errorf("EnqueueFeedback after Close = %v, want a drop (closed)", err)
	}
	if n := len(storedFeedback(t, s)); n != 0 {
		t.Fatalf("%d rows stored while the store was down", n)
	}
	w.down.Store(false)
	opts.Spool = openSpool(t, dir, 0)
	r2 := record.NewRecorder(w, opts)
	if err := r2.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := storedFeedback(t, s); len(got) != 7 {
		t.Errorf("after the restart %d rows stored, want 7: %v", len(got), got)
	}
}

func TestRecorder_FeedbackWithoutASpoolFailsWhenTheStoreIsDown(t *testing.T) {
	s := openSQLite(t)
	w := &flakyFeedback{flaky: &flaky{Store: s}}
	r := record.NewRecorder(w, record.RecorderOptions{Logger: quietLog})
	t.Cleanup(func() { r.Close(context.Background()) })
	w.down.Store(true)
	if _, err := r.EnqueueFeedback(t.Context(), labelBatch(0, 3)); err == nil {
		t.Fatal("EnqueueFeedback without a spool succeeded while the store was down")
	}
	w.down.Store(false)
	if where, err := r.EnqueueFeedback(t.Context(), labelBatch(0, 3)); err != nil || where != record.FeedbackStored {
		t.Fatalf("EnqueueFeedback = %q, %v", where, err)
	}
}
