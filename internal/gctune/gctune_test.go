package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent_IsHeadroomOverTheBaseWithinItsBounds(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		base     uint64
		headroom int64
		max      int
		want     int
	}{
		{"an empty heap gets the cap", 0, 48 * mib, 400, 400},
		{"a small heap is capped", 4 * mib, 48 * mib, 400, 400},
		{"at the cap exactly", 12 * mib, 48 * mib, 400, 400},
		{"just under the cap", 12*mib + 1, 48 * mib, 400, 399},
		{"in between", 24 * mib, 48 * mib, 400, 200},
		{"headroom equal to the base is Go's default", 48 * mib, 48 * mib, 400, 100},
		{"a large heap never goes under Go's default", 480 * mib, 48 * mib, 400, 100},
		{"another cap", 1 * mib, 48 * mib, 250, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percent(tt.base, tt.headroom, tt.max); got != tt.want {
				t.Errorf("Percent(%d, %d, %d) = %d; want %d", tt.base, tt.headroom, tt.max, got, tt.want)
			}
		})
	}
}

// gogc reads the runtime's current GC percentage.
func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// collectUntilTuned runs collections until the Tuner has seen one (its
// hook runs on the cleanup goroutine after a collection), at most 100.
func collectUntilTuned(t *testing.T, tu *Tuner) {
	t.Helper()
	seen := tu.Collections()
	for range 100 {
		runtime.GC()
		runtime.Gosched()
		if tu.Collections() > seen+1 { // one full cycle after the last retune
			return
		}
	}
	t.Fatalf("the tuner saw %d collections after 100 runtime.GC calls", tu.Collections()-seen)
}

func TestTuner_SetsThePercentAfterEachCollectionAndStopRestoresIt(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	// A small heap and a large headroom: the cap.
	tu := Start(Options{Headroom: 1 << 30, MaxPercent: 300})
	collectUntilTuned(t, tu)
	if got := gogc(t); got != 300 || tu.Percent() != 300 {
		t.Errorf("with a small heap: GOGC %d, Percent() %d; want 300", got, tu.Percent())
	}

	// 64 MiB kept live and a 16 MiB headroom: never under Go's default.
	tu.Stop()
	tu = Start(Options{Headroom: 16 << 20, MaxPercent: 300})
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	collectUntilTuned(t, tu)
	if got := gogc(t); got != MinPercent {
		t.Errorf("with a 64 MiB heap and 16 MiB of headroom: GOGC %d; want %d", got, MinPercent)
	}
	runtime.KeepAlive(live)

	debug.SetGCPercent(150)
	tu.Stop() // restores what Start found: 100
	if got := gogc(t); got != 100 {
		t.Errorf("after Stop GOGC = %d; want the 100 Start found", got)
	}
	n := tu.Collections()
	runtime.GC()
	runtime.GC()
	if got := gogc(t); got != 100 || tu.Collections() > n+1 {
		t.Errorf("after Stop the tuner still runs: GOGC %d, collections %d → %d", got, n, tu.Collections())
	}
}
