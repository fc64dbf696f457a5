package record_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
)

// downWriter is a store that is down: every write fails at once.
type downWriter struct{}

func (downWriter) WriteRecords(context.Context, []record.Record) error {
	return errors.New("dial tcp: connection refused")
}

// The spool's write rate as the recorder drives it during a store outage:
// gateway-shaped records (three models, like the example) queued, encoded,
// appended as one frame per batch with one fsync each. Reports records/s,
// MB/s (segment bytes) and fsyncs/s; batch 512 is an async outage's batch,
// 32 a sync group at 32 concurrent callers (bench/durability.sh quotes
// both). Run: go test -run '^$' -bench BenchmarkRecorder_SpoolWriteRate -benchtime 20000x ./internal/record
func BenchmarkRecorder_SpoolWriteRate(b *testing.B) {
	for _, batch := range []int{512, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			recs := make([]record.Record, b.N)
			for i := range recs {
				recs[i] = fullRec(i)
			}
			sp, err := spool.Open(b.TempDir(), spool.Options{Logger: quietLog})
			if err != nil {
				b.Fatal(err)
			}
			r := record.NewRecorder(downWriter{}, record.RecorderOptions{BatchSize: batch, FlushInterval: time.Millisecond,
				QueueSize: b.N + 1, QueueMaxBytes: 1 << 40, Spool: sp, Logger: quietLog,
				RetryInitial: time.Hour, RetryMax: time.Hour})
			defer func() {
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // do not wait for the down store
				_ = r.Close(ctx)
			}()
			b.ResetTimer()
			start := time.Now()
			for i := range recs {
				if !r.Enqueue(recs[i]) {
					b.Fatalf("record %d dropped", i)
				}
			}
			var st record.RecorderStats
			for {
				st = r.Stats()
				if st.Spooled+st.Written+st.Quarantined >= uint64(b.N) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			secs := time.Since(start).Seconds()
			b.StopTimer()
			b.ReportMetric(float64(st.Spooled)/secs, "records/s")
			b.ReportMetric(float64(st.SpoolBytes)/secs/1e6, "MB/s")
			b.ReportMetric(float64(st.SpoolFrames)/secs, "fsyncs/s")
			b.ReportMetric(float64(st.SpoolBytes)/float64(max(st.Spooled, 1)), "B/record")
		})
	}
}
