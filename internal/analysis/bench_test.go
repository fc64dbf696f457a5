package analysis

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// cpuPerOp reports the process CPU time (user + system) per operation as
// "cpu-ns/op": on a machine shared with other builds, wall time per op
// mostly measures the neighbours. Call the returned func after the loop.
func cpuPerOp(b *testing.B) func() {
	b.Helper()
	cpu := func() int64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}

func BenchmarkKS2Samp_Exact1000x1000(b *testing.B) {
	ref, cur := normals(1, 1000, 0, 1), normals(2, 1000, 0.1, 1)
	stop := cpuPerOp(b)
	for b.Loop() {
		if _, err := KS2Samp(ref, cur, KSAuto); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

func BenchmarkKS2Samp_Exact1000x999(b *testing.B) {
	ref, cur := normals(1, 1000, 0, 1), normals(2, 999, 0.1, 1)
	stop := cpuPerOp(b)
	for b.Loop() {
		if _, err := KS2Samp(ref, cur, KSAuto); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

func BenchmarkKS2Samp_Asymp1000x100000(b *testing.B) {
	ref, cur := normals(1, 1000, 0, 1), normals(2, 100000, 0.05, 1)
	stop := cpuPerOp(b)
	for b.Loop() {
		if _, err := KS2Samp(ref, cur, KSAuto); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// benchRecords returns n records of three models with varied latencies and
// probabilities, every third one labelled.
func benchRecords(n int) []labelled {
	out := make([]labelled, n)
	for i := range out {
		p := float64(i%997) / 997
		pred := 0
		if p >= 0.5 {
			pred = 1
		}
		var label *int
		if i%3 == 0 {
			label = lbl(i % 2)
		}
		out[i] = labelled{label: label, rec: &record.Record{
			ID: fmt.Sprint(i), ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond),
			Models: map[string]record.ModelResult{
				"prod":   res(model.RoleProduction, record.StatusOK, pred, p, int64(500+i%4000)),
				"canary": res(model.RoleCanary, record.StatusOK, 1-pred, 1-p, int64(100+i%300)),
				"dev":    res(model.RoleChallenger, record.StatusOK, pred, p*0.9, int64(800+i%9000)),
			},
		}}
	}
	return out
}

func BenchmarkMetricsAccumulator_AddPerRecord(b *testing.B) {
	recs := benchRecords(4096)
	acc := NewMetricsAccumulator(MetricsOptions{})
	i := 0
	stop := cpuPerOp(b)
	for b.Loop() {
		r := recs[i%len(recs)]
		acc.Add(r.rec, r.label)
		i++
	}
	stop()
}

func BenchmarkMetricsAccumulator_AddPerRecordHourlyBuckets(b *testing.B) {
	recs := benchRecords(4096)
	acc := NewMetricsAccumulator(MetricsOptions{Bucket: time.Hour})
	i := 0
	stop := cpuPerOp(b)
	for b.Loop() {
		r := recs[i%len(recs)]
		acc.Add(r.rec, r.label)
		i++
	}
	stop()
}

func BenchmarkComputeDrift_Titanic7ColumnsVs100k(b *testing.B) {
	n := 100000
	ref := Table{Rows: 891, Columns: []Column{
		NumericColumn("age", normals(1, 891, 30, 14)),
		NumericColumn("fare", normals(2, 891, 32, 50)),
		NumericColumn("sibsp", seq(891, func(i int) float64 { return float64(i % 7) })),
		NumericColumn("parch", seq(891, func(i int) float64 { return float64(i % 6) })),
		NumericColumn("pclass", seq(891, func(i int) float64 { return float64(1 + i%3) })),
		TextColumn("sex", repeatStrings(891, "male", "female", "male")),
		TextColumn("embarked", repeatStrings(891, "S", "S", "C", "Q")),
	}}
	cur := Table{Rows: n, Columns: []Column{
		NumericColumn("age", normals(3, n, 33, 14)),
		NumericColumn("fare", normals(4, n, 32, 50)),
		NumericColumn("sibsp", seq(n, func(i int) float64 { return float64(i % 7) })),
		NumericColumn("parch", seq(n, func(i int) float64 { return float64(i % 6) })),
		NumericColumn("pclass", seq(n, func(i int) float64 { return float64(1 + i%3) })),
		TextColumn("sex", repeatStrings(n, "male", "female")),
		TextColumn("embarked", repeatStrings(n, "S", "C", "Q")),
	}}
	stop := cpuPerOp(b)
	for b.Loop() {
		if _, err := ComputeDrift(ref, cur, DriftOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}
