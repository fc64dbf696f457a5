package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
)

// BenchmarkMetrics100k writes 100,000 records (the 891 scored training rows
// repeated with new ids and times, every other one labelled) to each
// backend, then times GET /v1/metrics's work: monitor.Metrics over all of
// them. RENDEZVOUS_BENCH_RECORDS changes the count. Run with
//
//	go test ./internal/e2e -run '^$' -bench Metrics100k -benchtime 3x
func BenchmarkMetrics100k(b *testing.B) {
	n := 100_000
	if v := os.Getenv("RENDEZVOUS_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("RENDEZVOUS_BENCH_RECORDS=%q: want a positive integer", v)
		}
	}
	cfg, err := titanic.Config()
	if err != nil {
		b.Fatal(err)
	}
	models := exampleModels(b, cfg)
	base, baseFB := trainingRecords(b, cfg, models)
	base = base[:len(base)-1] // drop the rejected one
	recs := make([]record.Record, 0, n)
	var fbs []record.Feedback
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	labels := map[string]int{}
	for _, fb := range baseFB {
		labels[fb.RequestID] = fb.Label
	}
	for i := range n {
		r := base[i%len(base)]
		l, labelled := labels[r.ID]
		r.ID = fmt.Sprintf("bench-%07d", i)
		r.ReceivedAt = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		recs = append(recs, r)
		if labelled {
			fbs = append(fbs, record.Feedback{RequestID: r.ID, Label: l, ReceivedAt: r.ReceivedAt.Add(time.Hour)})
		}
	}
	fields := make([]string, len(cfg.Schema.Fields))
	for i, f := range cfg.Schema.Fields {
		fields[i] = f.Name
	}
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			st, err := storeall.Open(ctx, be.url)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			start := time.Now()
			for i := 0; i < len(recs); i += 512 {
				if err := st.WriteRecords(ctx, recs[i:min(i+512, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < len(fbs); i += 10_000 {
				if err := st.WriteFeedback(ctx, fbs[i:min(i+10_000, len(fbs))]); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("%s: wrote %d records and %d labels in %v", be.name, len(recs), len(fbs), time.Since(start).Round(time.Millisecond))
			b.ResetTimer()
			for range b.N {
				// A fresh monitor each time: no label index carried over.
				mon, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: fields})
				if err != nil {
					b.Fatal(err)
				}
				rep, err := mon.Metrics(ctx, monitor.Window{}, 0)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Requests != int64(n) {
					b.Fatalf("metrics over %d requests, want %d", rep.Requests, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/metrics")
		})
	}
}
