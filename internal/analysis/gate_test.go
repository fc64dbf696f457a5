package analysis

import (
	"testing"
	"time"
)

// TestGate is the gate table: insufficient data and production better are
// refused; not worse and challenger better pass.
func TestGate(t *testing.T) {
	cmp := func(b, c int64) Comparison {
		return ComparePairs("prod", "ch", PairedCounts{BothRight: 300, OnlyA: b, OnlyB: c, BothWrong: 40}, 200)
	}
	few := ComparePairs("prod", "ch", PairedCounts{BothRight: 50, OnlyA: 1, OnlyB: 9}, 200)
	p99 := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name string
		c    Comparison
		p99  *float64
		rule GateRule
		pass bool
	}{
		{"insufficient data", few, nil, GateRule{}, false},
		{"production better", cmp(30, 5), nil, GateRule{}, false},
		{"no difference passes the default", cmp(10, 8), nil, GateRule{}, true},
		{"challenger better", cmp(5, 30), nil, GateRule{}, true},
		{"challenger better, required", cmp(5, 30), nil, GateRule{Require: RequireChallengerBetter}, true},
		{"no difference, challenger_better required", cmp(10, 8), nil, GateRule{Require: RequireChallengerBetter}, false},
		{"not worse within a 5-point margin", cmp(10, 8), nil, GateRule{Require: RequireNotWorse, Margin: 0.05}, true},
		{"not shown not worse within 0.1 point", cmp(10, 8), nil, GateRule{Require: RequireNotWorse, Margin: 0.001}, false},
		{"latency under the ceiling", cmp(5, 30), p99(20), GateRule{MaxP99Latency: 25 * time.Millisecond}, true},
		{"latency over the ceiling", cmp(5, 30), p99(30), GateRule{MaxP99Latency: 25 * time.Millisecond}, false},
		{"latency unknown", cmp(5, 30), nil, GateRule{MaxP99Latency: 25 * time.Millisecond}, false},
	} {
		g := Gate(tc.c, tc.p99, tc.rule)
		if g.Pass != tc.pass || g.Pass != (len(g.Refusals) == 0) {
			t.Errorf("%s: pass %v, want %v (%v; %+v)", tc.name, g.Pass, tc.pass, g.Refusals, tc.c)
		}
	}
}
