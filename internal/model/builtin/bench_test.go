package builtin

import (
	"runtime"
	"testing"
)

// BenchmarkGBTProb compares the inference layouts of 200 trees of depth 3:
// fixed-size complete trees (used up to depth 4), flat complete trees (up to
// depth 8) and the node form (deeper).
func BenchmarkGBTProb(b *testing.B) {
	X, y := xor(2000, 9)
	for i := range X {
		X[i] = append(X[i], X[i][0]*2, X[i][1]-1, float64(i%7), float64(i%3), float64(i%11))
	}
	m, err := FitGBT(GBTParams{Trees: 200, Depth: 3, LearningRate: 0.05, MinLeaf: 1, Subsample: 0.8, Seed: 1},
		[]string{"a", "b", "c", "d", "e", "f", "g"}, X, y)
	if err != nil {
		b.Fatal(err)
	}
	plain := *m
	plain.cFeat, plain.small = nil, nil
	flat := *m
	flat.small = nil
	// Rotating over many rows keeps the branch predictor from memorising
	// one path, as live traffic does.
	for _, c := range []struct {
		name string
		m    *GBT
	}{{"small", m}, {"flat", &flat}, {"nodes", &plain}} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			i := 0
			cpu0 := threadCPU()
			for b.Loop() {
				_ = c.m.Prob(X[i])
				if i++; i == len(X) {
					i = 0
				}
			}
			if cpu := threadCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
