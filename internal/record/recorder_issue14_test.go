package record_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// A raw body of control characters is six times as large once encoded as
// JSON (\u0001): SizeHint counts it at that size, so the queue's and the
// batches' byte bounds hold for what is encoded, spooled and stored.
func TestSizeHint_CountsRawAtItsJSONEscapedLength(t *testing.T) {
	plain := record.Record{ID: "a", Raw: strings.Repeat("a", 64<<10)}
	ctl := record.Record{ID: "a", Raw: strings.Repeat("\x01", 64<<10)}
	if p, c := plain.SizeHint(), ctl.SizeHint(); c < 6*64<<10 || c-p != 5*64<<10 {
		t.Errorf("SizeHint: plain %d, control characters %d; want the latter 5 × 64 KiB larger", p, c)
	}
}

// Regression (issue 14, found by the real-process byte-bound test): a batch
// of BatchSize rejected records of 64 KiB of \x01 each was one 200 MB
// encoding, spool frame and replay (RSS +1.4 GB for 1,000 such requests).
// Batches close at BatchMaxBytes too.
func TestRecorder_BatchesAreBoundedInBytes(t *testing.T) {
	w := newBatchWriter()
	r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 512, BatchMaxBytes: 1 << 20,
		FlushInterval: 10 * time.Millisecond, Logger: quietLog})
	big := strings.Repeat("\x01", 64<<10) // 384 KiB as JSON: two fill a 1 MiB batch, the third closes it
	for i := range 30 {
		rr := rec(i)
		rr.Raw = big
		if !r.Enqueue(rr) {
			t.Fatalf("record %d dropped", i)
		}
	}
	closeOK(t, r)
	sizes := w.sizes()
	total := 0
	for _, n := range sizes {
		total += n
		if n > 3 {
			t.Errorf("a batch of %d records of 384 KiB (as JSON); want at most 3 under BatchMaxBytes 1 MiB: %v", n, sizes)
			break
		}
	}
	if total != 30 {
		t.Errorf("%d records written, want 30", total)
	}
}

// Regression (issue 14, found by the real-process kill/benchmark tests):
// EnqueueDurable waited for FlushInterval before its batch was written, so
// sync mode ran at concurrency / (flush_interval + write): 32 clients got
// ~500 requests/s against ~3,000 in async mode. A batch with a durable
// caller is written as soon as the batcher is free.
func TestRecorder_DurableCallersDoNotWaitForTheFlushInterval(t *testing.T) {
	w := newBatchWriter()
	r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 512, FlushInterval: 10 * time.Second, Logger: quietLog})
	defer closeOK(t, r)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.EnqueueDurable(ctx, rec(i)); err != nil {
				t.Errorf("EnqueueDurable %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("20 durable records took %s with FlushInterval 10s; want them written at once", took)
	}
	// Async records still wait for a full batch or the interval.
	r.Enqueue(rec(100))
	time.Sleep(100 * time.Millisecond)
	if n := len(w.ids()); n != 20 {
		t.Errorf("%d records written 100 ms after an async Enqueue; want the 20 durable ones only", n)
	}
}
