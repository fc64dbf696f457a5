package analysis

import (
	"math"
	"testing"
)

// Reference bounds: scipy's documented example binomtest(7, 50).proportion_ci()
// = (0.05819170033997342, 0.26739600249700846); the others solved to 50
// digits with mpmath by testdata/gen_clopper_pearson.py (scipy's beta.ppf
// agrees with them to ~1e-12).
func TestClopperPearson_KnownValues(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{7, 50, 0.058191700340372085, 0.26739600249700844},
		{0, 10, 0, 0.30849710781876082},
		{10, 10, 0.69150289218123918, 1},
		{14, 31, 0.27316498600373506, 0.6396576728391835},
		{30, 40, 0.5880380198485701, 0.873085201067155},
		{1, 2, 0.012579117093425049, 0.98742088290657495},
		{9, 28, 0.15877603788615384, 0.52351640670961855},
	} {
		lo, hi := ClopperPearson(tc.k, tc.n, 0.95)
		if math.Abs(lo-tc.lo) > 1e-9 || math.Abs(hi-tc.hi) > 1e-9 {
			t.Errorf("ClopperPearson(%d, %d) = (%.17g, %.17g), want (%.17g, %.17g)", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

// TestPairedAccuracyDiffExact_AgreesWithMcNemar: for every discordant
// split up to 80 pairs (and some concordant ones), the interval excludes 0
// exactly when McNemar's exact p < 0.05, and the sign of the excluded side
// is the sign of the difference. The Wald interval fails this (b=2, c=9:
// Wald excludes 0, p = 0.065).
func TestPairedAccuracyDiffExact_AgreesWithMcNemar(t *testing.T) {
	for m := 0; m <= 80; m++ {
		for c := 0; c <= m; c++ {
			b := m - c
			pc := PairedCounts{BothRight: 300, OnlyA: int64(b), OnlyB: int64(c), BothWrong: 40}
			d, lo, hi := PairedAccuracyDiffExact(pc)
			p := McNemarExact(b, c).PValue
			excludes := lo > 0 || hi < 0
			if excludes != (p < 0.05) {
				t.Fatalf("b=%d c=%d: interval (%.5f, %.5f), McNemar p=%.5f", b, c, lo, hi, p)
			}
			if !(lo <= d && d <= hi) {
				t.Fatalf("b=%d c=%d: %v outside (%v, %v)", b, c, d, lo, hi)
			}
			if excludes && (lo > 0) != (d > 0) {
				t.Fatalf("b=%d c=%d: excluded side disagrees with the difference %v", b, c, d)
			}
		}
	}
	pc := PairedCounts{BothRight: 300, OnlyA: 9, OnlyB: 2, BothWrong: 40}
	_, wlo, whi := PairedAccuracyDiff(pc)
	if p := McNemarExact(9, 2).PValue; !(whi < 0 && p > 0.05) {
		t.Errorf("Wald (%v, %v) with p %v: expected the contradiction the exact interval removes", wlo, whi, p)
	}
	if _, lo, hi := PairedAccuracyDiffExact(pc); !(lo < 0 && hi > 0) {
		t.Errorf("exact conditional interval (%v, %v) should contain 0 for b=9 c=2", lo, hi)
	}
	if d, lo, hi := PairedAccuracyDiffExact(PairedCounts{BothRight: 5}); d != 0 || lo != 0 || hi != 0 {
		t.Errorf("no discordant pair: %v (%v, %v)", d, lo, hi)
	}
}
