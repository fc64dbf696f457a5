package replay_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/replay"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// BenchmarkReplay_1MRecordsThroughGBTOnSQLite replays N archived records
// (RENDEZVOUS_REPLAY_BENCH_N, default 1,000,000) from a SQLite store
// through the example's GBT bundle as a new candidate, writing every
// result back to the same store, and reports records/s end to end and the
// peak live heap. The store is generated first (production's GBT really
// scored on training rows with jittered fares, one record every 0.6 s);
// RENDEZVOUS_REPLAY_BENCH_DB keeps and reuses it. Each iteration replays
// under a fresh candidate name, so it writes N new results.
func BenchmarkReplay_1MRecordsThroughGBTOnSQLite(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("RENDEZVOUS_REPLAY_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("RENDEZVOUS_REPLAY_BENCH_N: %v", err)
		}
	}
	path := os.Getenv("RENDEZVOUS_REPLAY_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "replay.db")
	}
	_, statErr := os.Stat(path)
	st, err := sqlite.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	gbt := loadExample(b, "prod-gbt")
	if os.IsNotExist(statErr) {
		start := time.Now()
		generateRecords(b, st, gbt, n)
		b.Logf("generated %d records in %s", n, time.Since(start).Round(time.Second))
	}
	b.ResetTimer()
	var rate, cpuPerRecord float64
	var peak uint64
	for i := range b.N {
		base := heapBytes()
		var top atomic.Uint64
		st0, cpu0 := time.Now(), processCPU(b)
		s, err := replay.Run(context.Background(), replay.Params{
			Source: st, Sink: st, Candidate: gbt, Name: fmt.Sprintf("gbt-next-%d-%d", time.Now().UnixNano(), i),
			Inputs: gbt.Pipeline.Inputs, Concurrency: 2,
			Progress: func(replay.Stats) {
				if h := heapBytes(); h > top.Load() {
					top.Store(h)
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(st0)
		cpuPerRecord = (processCPU(b) - cpu0).Seconds() / float64(n)
		if s.Scored != int64(n) || s.Written != int64(n) {
			b.Fatalf("scored %d, wrote %d, want %d", s.Scored, s.Written, n)
		}
		rate = float64(n) / el.Seconds()
		if top.Load() > base {
			peak = max(peak, top.Load()-base)
		}
	}
	b.ReportMetric(rate, "records/s")
	// CPU per record does not depend on what else the machine runs: 1 /
	// cpu-µs/record is the rate one free core would give.
	b.ReportMetric(cpuPerRecord*1e6, "cpu-µs/record")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// processCPU is the process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func loadExample(b *testing.B, name string) *model.Bundle {
	b.Helper()
	data, err := titanic.FS.ReadFile("models/" + name + ".json")
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.LoadBytes(name, data)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// generateRecords writes n records as the gateway would have: the input
// (a reference row, fare jittered) and production's scored result.
func generateRecords(b *testing.B, st *sqlite.Store, prod *model.Bundle, n int) {
	rows := prod.Profile.ReferenceSample.Rows
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	batch := make([]record.Record, 0, 1024)
	for i := range n {
		in := schema.Input{}
		for k, v := range rows[rng.IntN(len(rows))] {
			in[k] = v
		}
		if f, ok := in["fare"].(float64); ok {
			in["fare"] = f * (0.9 + 0.2*rng.Float64())
		}
		pr, err := prod.Predict(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		class, p := pr.Class, pr.Probability
		at := t0.Add(time.Duration(i) * 600 * time.Millisecond)
		batch = append(batch, record.Record{
			ID: fmt.Sprintf("%016x-%08d", at.UnixMicro(), i), ReceivedAt: at, Endpoint: "/v1/predict", Input: in, Status: record.RequestOK,
			Models: map[string]record.ModelResult{"prod-gbt": {
				Role: model.RoleProduction, Version: prod.Version, Artifact: prod.Artifact(), Features: pr.Features,
				Prediction: &class, Label: pr.Label, Probability: &p, LatencyUS: 150 + int64(rng.IntN(100)), Status: record.StatusOK,
			}},
			Decision: &record.Decision{ServedBy: "prod-gbt", Reason: "preferred", DeadlineMS: 50, LatencyUS: 200},
		})
		if len(batch) == cap(batch) || i == n-1 {
			if err := st.WriteRecords(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}
