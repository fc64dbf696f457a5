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
		y := r.yielding(context.Background(), tc.batch).(*yieldCtx)
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
