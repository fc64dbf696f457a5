package record

import (
	"context"
	"testing"
	"time"
)

func TestYieldCtx_FirstDoneYieldsThenWaitsYieldEvery(t *testing.T) {
	var now time.Duration // the write's clock, moved by hand
	yields := 0
	y := &yieldCtx{Context: context.Background(), since: func() time.Duration { return now },
		yield: func() { yields++; now += 5 * time.Microsecond }, keepingUp: func() bool { return true }}
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{
		{0, 1},                             // the first call yields
		{0, 1},                             // at once: not again
		{yieldEvery - time.Microsecond, 1}, // just before it is due (counted from the end of the yield)
		{time.Microsecond, 2},
		{3 * yieldEvery, 3}, // a long stretch yields once
		{0, 3},
	} {
		now += step.advance
		y.Done()
		if yields != step.want {
			t.Fatalf("at %v: %d yields, want %d", now, yields, step.want)
		}
	}
}

func TestYieldCtx_NoYieldWhileTheRecorderFallsBehind(t *testing.T) {
	yields := 0
	y := &yieldCtx{Context: context.Background(), since: func() time.Duration { return time.Hour },
		yield: func() { yields++ }, keepingUp: func() bool { return false }}
	y.Done()
	if yields != 0 {
		t.Fatalf("Done while behind: %d yields, want 0", yields)
	}
}

func TestYieldCtx_KeepsCancellationAndValues(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	r := &Recorder{opts: RecorderOptions{BatchSize: 4}}
	ctx := r.yielding(parent, 1)
	child, stop := context.WithCancel(ctx)
	defer stop()
	if ctx.Value(key{}) != "v" {
		t.Fatalf("Value = %v, want the parent's", ctx.Value(key{}))
	}
	cancel()
	<-ctx.Done()
	<-child.Done()
	if ctx.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Fatalf("Err = %v / child %v, want context.Canceled", ctx.Err(), child.Err())
	}
}

func TestRecorder_YieldsOnlyWhileLessThanABatchWaitsBehindTheWrite(t *testing.T) {
	r := &Recorder{opts: RecorderOptions{BatchSize: 4}}
	for _, tc := range []struct {
		depth, batch int
		want         bool
	}{
		{depth: 4, batch: 4, want: true},  // nothing behind
		{depth: 7, batch: 4, want: true},  // 3 behind
		{depth: 8, batch: 4, want: false}, // a full batch behind
		{depth: 9, batch: 1, want: false},
	} {
		r.depth = tc.depth
		y := r.yielding(context.Background(), tc.batch)
		if got := y.keepingUp(); got != tc.want {
			t.Errorf("depth %d, batch %d: keepingUp = %v, want %v", tc.depth, tc.batch, got, tc.want)
		}
	}
}

func TestYieldCtx_ErrYieldsLikeDone(t *testing.T) {
	yields := 0
	var now time.Duration
	y := &yieldCtx{Context: context.Background(), since: func() time.Duration { return now },
		yield: func() { yields++ }, keepingUp: func() bool { return true }}
	if err := y.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
	now += yieldEvery
	y.Err()
	if yields != 2 {
		t.Fatalf("%d yields from two due Err calls, want 2", yields)
	}
}

func TestYieldCtx_StopsOnceYieldsTookLongerThanTheBudgetAndTheWrite(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pause, run time.Duration // one yield's length; the write's own run between two calls
		calls      int
		want       int // yields; -1: check only that the write kept half the time
	}{
		// A quiet server: yields are short, the write keeps giving way.
		{"short yields", 10 * time.Microsecond, yieldEvery, 1000, 1000},
		// Saturated: the first yield takes 80 ms (every runnable connection
		// ran meanwhile), past the budget and the write's own time; a batch
		// write (here 10 ms) ends before it may yield again.
		{"one long yield", 80 * time.Millisecond, yieldEvery, 100, 1},
		// Yields as long as the run: it keeps giving way, half the time.
		{"even split", yieldEvery, yieldEvery, 1000, 1000},
		// Yields three times the run: past the budget, it yields only
		// while it has run at least as long as it yielded.
		{"yields three times the run", 3 * yieldEvery, yieldEvery, 1000, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var now, ran time.Duration
			yields := 0
			y := &yieldCtx{Context: context.Background(), since: func() time.Duration { return now },
				yield: func() { yields++; now += tc.pause }, keepingUp: func() bool { return true }}
			for range tc.calls {
				y.Done()
				now += tc.run
				ran += tc.run
			}
			yielded := time.Duration(yields) * tc.pause
			if tc.want >= 0 && yields != tc.want {
				t.Fatalf("%d yields over %d due calls, want %d", yields, tc.calls, tc.want)
			}
			if limit := max(yieldBudget, ran) + tc.pause; yielded > limit {
				t.Fatalf("yielded %v while the write ran %v: want at most %v", yielded, ran, limit)
			}
			if tc.want < 0 && yielded < ran/2 {
				t.Fatalf("yielded %v while the write ran %v: it stopped giving way too early", yielded, ran)
			}
		})
	}
}

func TestWatchStall_OnlyAWriteWithoutProgressForTheWholeSpanIsStalled(t *testing.T) {
	const d = 300 * time.Millisecond
	for _, tc := range []struct {
		name    string
		every   time.Duration // a Done call this often; 0: none
		run     time.Duration
		stalled bool
	}{
		{"a hung write (no call)", 0, 3 * d, true},
		{"a slow write that keeps taking statements", d / 20, 3 * d, false},
		{"a write that calls less often than the span", 2 * d, 3 * d, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			y := &yieldCtx{Context: context.Background(), since: func() time.Duration { return time.Since(start) },
				yield: func() {}, keepingUp: func() bool { return false }}
			stalled := make(chan struct{})
			stop := watchStall(y, d, func() { close(stalled) })
			defer stop()
			var tick <-chan time.Time
			if tc.every > 0 {
				ticker := time.NewTicker(tc.every)
				defer ticker.Stop()
				tick = ticker.C
			}
			end := time.After(tc.run)
			for {
				select {
				case <-tick:
					y.Done()
					continue
				case <-stalled:
					if !tc.stalled {
						t.Fatalf("stalled after %v although Done was called every %v", time.Since(start), tc.every)
					}
					if el := time.Since(start); el < d {
						t.Fatalf("stalled after %v, before the %v without progress", el, d)
					}
					return
				case <-end:
					if tc.stalled {
						t.Fatalf("not stalled after %v without progress for %v at a time", tc.run, tc.every)
					}
					return
				}
			}
		})
	}
}
