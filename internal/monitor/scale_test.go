package monitor_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// BenchmarkScale measures Metrics, Compare and Drift over a SQLite store of
// RENDEZVOUS_SCALE_RECORDS generated records (default 1,000,000). It runs
// only with -bench; the store is generated once per run (about a minute per
// million records), or reused from RENDEZVOUS_SCALE_DB when that file
// exists (it is created there otherwise), e.g.
//
//	RENDEZVOUS_SCALE_DB=/tmp/scale.db go test ./internal/monitor -run '^$' -bench Scale -benchtime 3x
//
// Reported per operation: wall time, peak-heap-MB (the most the Go heap's
// live objects grew above the level before the call, sampled every
// millisecond), alloc-MB and cpu-ms (process CPU time, all threads).
func BenchmarkScale(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("RENDEZVOUS_SCALE_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("RENDEZVOUS_SCALE_RECORDS=%q: want a positive integer", v)
		}
	}
	models := genModels(b)
	st := scaleStore(b, models, n)
	mon, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: genFields})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.Run("MetricsFirstCall", func(b *testing.B) {
		// A fresh monitor each time: the label index is built from the
		// whole feedback log (later calls read only new feedback).
		measure(b, func() error {
			fresh, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: genFields})
			if err != nil {
				return err
			}
			_, err = fresh.Metrics(ctx, monitor.Window{}, 0)
			return err
		})
	})
	b.Run("Metrics", func(b *testing.B) {
		measure(b, func() error {
			rep, err := mon.Metrics(ctx, monitor.Window{}, 0)
			if err == nil && rep.Requests == 0 {
				b.Fatal("no requests")
			}
			return err
		})
	})
	b.Run("MetricsHourly", func(b *testing.B) {
		measure(b, func() error {
			_, err := mon.Metrics(ctx, monitor.Window{}, time.Hour)
			return err
		})
	})
	b.Run("MetricsLastDay", func(b *testing.B) {
		since := genT0.Add(29 * 24 * time.Hour)
		measure(b, func() error {
			_, err := mon.Metrics(ctx, monitor.Window{Since: since}, 0)
			return err
		})
	})
	b.Run("Compare", func(b *testing.B) {
		measure(b, func() error {
			_, err := mon.Compare(ctx, "dev-logreg", monitor.Window{})
			return err
		})
	})
	b.Run("Drift", func(b *testing.B) {
		measure(b, func() error {
			_, _, err := mon.Drift(ctx, "prod-gbt", monitor.Window{})
			return err
		})
	})
	b.Run("DriftLastDay", func(b *testing.B) {
		since := genT0.Add(29 * 24 * time.Hour)
		measure(b, func() error {
			_, _, err := mon.Drift(ctx, "prod-gbt", monitor.Window{Since: since})
			return err
		})
	})
}

// scaleStore opens the benchmark's store, generating n records into it when
// it is new.
func scaleStore(b *testing.B, models []monitor.Model, n int) store.Store {
	path := os.Getenv("RENDEZVOUS_SCALE_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "scale.db")
	}
	_, statErr := os.Stat(path)
	start := time.Now()
	st, err := sqlite.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if statErr == nil {
		// Opening a database from an older binary migrates it (summary
		// blocks backfilled from the records).
		b.Logf("reusing %s (opened and migrated in %v)", path, time.Since(start).Round(time.Millisecond))
		return st
	}
	start = time.Now()
	if err := fill(context.Background(), st, models, n); err != nil {
		b.Fatalf("generate %d records: %v", n, err)
	}
	fi, _ := os.Stat(path)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	b.Logf("generated %d records into %s in %v (%d MB)", n, path, time.Since(start).Round(time.Second), size>>20)
	return st
}

// measure runs fn b.N times and reports its peak heap growth and
// allocations.
func measure(b *testing.B, fn func() error) {
	runtime.GC()
	base := heapLive()
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if h := heapLive(); h > base {
					mu.Lock()
					peak = max(peak, h-base)
					mu.Unlock()
				}
			}
		}
	}()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&ms1)
	close(stop)
	<-done
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB/op")
}

// processCPU is the user+system CPU time the process has used (all
// threads: on a shared machine wall time also counts waiting for a core).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapLive is the bytes of heap objects (live and not yet swept).
func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
