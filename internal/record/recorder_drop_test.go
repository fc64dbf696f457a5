package record_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

func TestRecorder_SpooledBatchesAreWrittenInOrderExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.failNext = 4 // the first direct write and three replays fail
		r := record.NewRecorder(w, record.RecorderOptions{
			BatchSize: 4, FlushInterval: time.Millisecond, RetryInitial: 10 * time.Millisecond,
			Spool: openSpool(t, t.TempDir(), 0), Logger: quietLog,
		})
		for i := range 40 {
			enqueue(t, r, i, i+1)
			if i%3 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		synctest.Wait()
		if s := r.Stats(); s.Spooled == 0 {
			t.Errorf("stats = %+v; want batches spooled during the failures", s)
		}
		time.Sleep(time.Second)
		closeOK(t, r)
		if got := w.ids(); !slices.Equal(got, wantIDs(40)) {
			t.Errorf("written %v, want req-00000..req-00039 once each, in order", got)
		}
		if s := r.Stats(); s.Written != 40 || s.Spooling || s.SpoolRecords != 0 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestRecorder_QueueIsBoundedInBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.hold = make(chan struct{}) // the store hangs
		r := record.NewRecorder(w, record.RecorderOptions{QueueMaxBytes: 1 << 20, BatchSize: 4, Logger: quietLog})
		big := rec(0)
		big.Raw = strings.Repeat("x", 300<<10)
		accepted := 0
		for range 10 {
			if r.Enqueue(big) {
				accepted++
			}
		}
		// A small record still fits where a big one does not.
		small := r.Enqueue(rec(1))
		s := r.Stats()
		if accepted != 3 || !small || s.DroppedBy[record.DropQueueBytes] != 7 || s.QueueBytes > 1<<20 || !s.Degraded {
			t.Errorf("accepted %d big records, small accepted %v; stats %+v; want 3 (3 × 300 KiB under 1 MiB), 7 dropped for queue_bytes", accepted, small, s)
		}
		close(w.hold)
		closeOK(t, r)
		if s := r.Stats(); s.QueueBytes != 0 || s.Written != 4 {
			t.Errorf("after Close stats = %+v", s)
		}
	})
}

func TestRecorder_DropsAreLoggedAtMostOncePerIntervalWithTheirCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBatchWriter()
		w.hold = make(chan struct{})
		var logs logBuffer
		r := record.NewRecorder(w, record.RecorderOptions{
			QueueSize: 4, BatchSize: 4, DropReportEvery: 10 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		lines := func() []string {
			var out []string
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(l, "since the last report") {
					out = append(out, l[strings.Index(l, "msg="):])
				}
			}
			return out
		}
		enqueue(t, r, 0, 4)
		for i := 4; i < 10; i++ {
			r.Enqueue(rec(i)) // 6 drops; the first is reported at once
		}
		synctest.Wait()
		// The first report runs on its own goroutine as soon as the first
		// drop is counted, so it holds that drop and whichever of the next
		// five the loop had counted by then; the rest wait for the next.
		first := lines()
		if len(first) != 1 {
			t.Fatalf("after the first drops: %q, want one report at once", first)
		}
		var k int
		if _, err := fmt.Sscanf(first[0], `msg="recorder: dropped %d records`, &k); err != nil || k < 1 || k > 6 {
			t.Fatalf("first report %q: want 1 to 6 drops", first[0])
		}
		time.Sleep(time.Second)
		for i := 10; i < 15; i++ {
			r.Enqueue(rec(i)) // 5 more, reported 10 s after the first report
		}
		time.Sleep(8 * time.Second)
		synctest.Wait()
		if got := lines(); len(got) != 1 {
			t.Fatalf("after 9 s: %q, want still one report", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		want := []string{
			fmt.Sprintf(`msg="recorder: dropped %d records since the last report" queue_full=%d dropped_total=%d`, k, k, k),
			fmt.Sprintf(`msg="recorder: dropped %d records since the last report" queue_full=%d dropped_total=11`, 11-k, 11-k),
		}
		if got := lines(); !slices.Equal(got, want) {
			t.Errorf("drop log:\n%q\nwant\n%q", got, want)
		}
		close(w.hold)
		closeOK(t, r)
	})
}

// BenchmarkRecorder_EnqueueFull enqueues gateway-shaped records (inputs and
// three model results), so Record.SizeHint's cost is in the figure.
func BenchmarkRecorder_EnqueueFull(b *testing.B) {
	r := record.NewRecorder(discardWriter{}, record.RecorderOptions{Logger: quietLog})
	rr := fullRec(1)
	rr.Input = map[string]any{"age": 22.0, "sex": "male", "pclass": 3.0, "fare": 7.25, "embarked": "S", "sibsp": 1.0, "parch": 0.0}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Enqueue(rr)
		}
	})
	b.StopTimer()
	if err := r.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
}
