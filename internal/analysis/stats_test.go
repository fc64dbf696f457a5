package analysis

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

// exactMcNemarP computes min(1, 2·Σ_{k≤min(b,c)} C(b+c, k)/2^(b+c)) with
// rational arithmetic.
func exactMcNemarP(b, c int) float64 {
	n, s := b+c, min(b, c)
	sum := new(big.Int)
	for k := 0; k <= s; k++ {
		sum.Add(sum, new(big.Int).Binomial(int64(n), int64(k)))
	}
	r := new(big.Rat).SetFrac(new(big.Int).Mul(sum, big.NewInt(2)), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	f, _ := r.Float64()
	return math.Min(f, 1)
}

func TestMcNemarExact_KnownValues(t *testing.T) {
	for _, tc := range []struct {
		b, c int
		p    float64
	}{
		{0, 0, 1},
		{1, 0, 1},
		{5, 5, 1},
		{10, 2, 158.0 / 4096},           // 2·(1+12+66)/2^12
		{2, 10, 158.0 / 4096},           // symmetric
		{0, 6, 2.0 / 64},                // 2·(1/2^6)
		{25, 40, exactMcNemarP(25, 40)}, // exact rational sum
		{400, 480, exactMcNemarP(400, 480)},
	} {
		r := McNemarExact(tc.b, tc.c)
		relClose(t, "p", r.PValue, tc.p, 1e-12)
		if r.Statistic != float64(min(tc.b, tc.c)) {
			t.Errorf("b=%d c=%d: statistic %v", tc.b, tc.c, r.Statistic)
		}
	}
}

func TestCBPE_HandComputedCase(t *testing.T) {
	// predicted 1 with p̂ .9 and .6; predicted 0 with p̂ .2 and .4:
	// TP = 1.5, FP = 0.5, FN = 0.6, TN = 1.4.
	var c CBPE
	for _, r := range []struct {
		pred int
		p    float64
	}{{1, 0.9}, {1, 0.6}, {0, 0.2}, {0, 0.4}} {
		c.Add(r.pred, r.p)
	}
	assertClose(t, "TP", c.TP, 1.5, 1e-15)
	assertClose(t, "FP", c.FP, 0.5, 1e-15)
	assertClose(t, "FN", c.FN, 0.6, 1e-15)
	assertClose(t, "TN", c.TN, 1.4, 1e-15)
	assertClose(t, "accuracy", c.Accuracy(), 2.9/4, 1e-15)
	assertClose(t, "precision", c.Precision(), 0.75, 1e-15)
	assertClose(t, "recall", c.Recall(), 1.5/2.1, 1e-15)
	assertClose(t, "f1", c.F1(), 3/4.1, 1e-15)
	var empty CBPE
	if !math.IsNaN(empty.Accuracy()) || empty.Precision() != 0 {
		t.Errorf("empty CBPE: accuracy %v precision %v", empty.Accuracy(), empty.Precision())
	}
}

func TestPairedAccuracyDiff_WaldInterval(t *testing.T) {
	pc := PairedCounts{BothRight: 50, OnlyA: 10, OnlyB: 20, BothWrong: 20}
	d, lo, hi := PairedAccuracyDiff(pc)
	se := math.Sqrt(30-100.0/100) / 100
	assertClose(t, "diff", d, 0.1, 1e-15)
	assertClose(t, "lo", lo, 0.1-Z95*se, 1e-15)
	assertClose(t, "hi", hi, 0.1+Z95*se, 1e-15)
	if d, _, _ := PairedAccuracyDiff(PairedCounts{}); !math.IsNaN(d) {
		t.Errorf("empty diff = %v, want NaN", d)
	}
}

func TestClassify_HandCasesAndZeroDivision(t *testing.T) {
	eps := LogLossEps // a float64 variable: 1−(1−eps) must round as at run time
	for _, tc := range []struct {
		name                string
		y                   []int
		s                   []float64
		acc, prec, rec, f1  float64
		auc                 float64 // NaN: undefined
		wantLogLoss, wantBr float64
	}{
		{"perfect", []int{0, 1}, []float64{0.2, 0.8}, 1, 1, 1, 1, 1, -(math.Log(0.8) + math.Log(0.8)) / 2, 0.04},
		{"nothing predicted positive", []int{0, 1, 1}, []float64{0.1, 0.3, 0.3}, 1.0 / 3, 0, 0, 0, 1, -(math.Log(0.9) + 2*math.Log(0.3)) / 3, (0.01 + 0.49 + 0.49) / 3},
		{"all ties", []int{0, 1, 0, 1}, []float64{0.5, 0.5, 0.5, 0.5}, 0.5, 0.5, 1, 2.0 / 3, 0.5, math.Log(2), 0.25},
		{"one class", []int{1, 1}, []float64{0.7, 0.9}, 1, 1, 1, 1, math.NaN(), -(math.Log(0.7) + math.Log(0.9)) / 2, (0.09 + 0.01) / 2},
		{"clipped certainty", []int{0, 1}, []float64{1, 0}, 0, 0, 0, 0, 0, (-math.Log(1-(1-eps)) - math.Log(eps)) / 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Classify(tc.y, tc.s, 0.5)
			mustOK(t, err)
			assertClose(t, "accuracy", m.Accuracy, tc.acc, 1e-15)
			assertClose(t, "precision", m.Precision, tc.prec, 1e-15)
			assertClose(t, "recall", m.Recall, tc.rec, 1e-15)
			assertClose(t, "f1", m.F1, tc.f1, 1e-15)
			if math.IsNaN(tc.auc) != math.IsNaN(m.ROCAUC) || (!math.IsNaN(tc.auc) && math.Abs(m.ROCAUC-tc.auc) > 1e-15) {
				t.Errorf("roc_auc = %v, want %v", m.ROCAUC, tc.auc)
			}
			assertClose(t, "log_loss", m.LogLoss, tc.wantLogLoss, 1e-12)
			assertClose(t, "brier", m.Brier, tc.wantBr, 1e-15)
		})
	}
	if _, err := Classify([]int{0, 2}, []float64{0.1, 0.2}, 0.5); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("label 2: err = %v, want ErrInvalidInput", err)
	}
	if _, err := Classify([]int{0}, []float64{1.5}, 0.5); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("score 1.5: err = %v, want ErrInvalidInput", err)
	}
	if _, err := Classify([]int{0}, []float64{0.1, 0.2}, 0.5); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("lengths: err = %v, want ErrLengthMismatch", err)
	}
}

func TestKS2Samp_HandCases(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5}
	b := []float64{3, 4, 5, 6, 7, 8}
	ab, err := KS2Samp(a, b, KSAuto)
	mustOK(t, err)
	ba, err := KS2Samp(b, a, KSAuto)
	mustOK(t, err)
	if ab != ba {
		t.Errorf("not symmetric: %+v vs %+v", ab, ba)
	}
	same, err := KS2Samp(a, a, KSAuto)
	mustOK(t, err)
	if same.Statistic != 0 || same.PValue != 1 {
		t.Errorf("identical samples: %+v", same)
	}
	// Completely separated samples of 3 and 3: D = 1, p = 2/C(6,3) = 0.1.
	sep, err := KS2Samp([]float64{1, 2, 3}, []float64{4, 5, 6}, KSExact)
	mustOK(t, err)
	assertClose(t, "separated D", sep.Statistic, 1, 0)
	assertClose(t, "separated p", sep.PValue, 0.1, 1e-15)
	// Unequal sizes, separated: 2/C(5,2) = 0.2.
	sep2, err := KS2Samp([]float64{1, 2}, []float64{4, 5, 6}, KSExact)
	mustOK(t, err)
	assertClose(t, "separated unequal p", sep2.PValue, 0.2, 1e-15)
	if _, err := KS2Samp(nil, b, KSAuto); !errors.Is(err, ErrEmptySample) {
		t.Errorf("empty: %v", err)
	}
	if _, err := KS2Samp([]float64{math.NaN()}, b, KSAuto); !errors.Is(err, ErrNaN) {
		t.Errorf("NaN: %v", err)
	}
	if _, err := KS2Samp(a, b, "magic"); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("mode: %v", err)
	}
}

func TestKolmogorovSF_Limits(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		n    int
		want float64
	}{
		{0, 10, 1}, {-1, 10, 1}, {1, 10, 0}, {0.04, 10, 1}, // x ≤ 1/(2n): D ≥ x surely
		{0.99, 10, 2 * math.Pow(0.01, 10)}, // Ruben–Gambino upper end
	} {
		assertClose(t, "kstwo.sf", KolmogorovSF(tc.x, tc.n), tc.want, 1e-15)
	}
	if !math.IsNaN(KolmogorovSF(0.5, 0)) {
		t.Error("n = 0 must be NaN")
	}
}

func TestChiSquare_UnseenCategoryIsInfiniteAndZeroP(t *testing.T) {
	r, err := DriftChiSquare([]float64{10, 10, 0}, []float64{5, 5, 3})
	mustOK(t, err)
	if !math.IsInf(r.Statistic, 1) || r.PValue != 0 {
		t.Errorf("got %+v, want +Inf and p 0", r)
	}
	one, err := ChiSquare([]float64{7}, nil)
	mustOK(t, err)
	if one.PValue != 1 || one.DOF != 0 {
		t.Errorf("single category: %+v", one)
	}
	if _, err := ChiSquare([]float64{1, -1}, nil); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("negative: %v", err)
	}
}

func TestChi2Contingency_YatesOn2x2(t *testing.T) {
	// Hand computation: table [[10, 20], [30, 40]], expected [[12, 18], [28, 42]],
	// |o − e| = 2 → corrected 1.5; χ² = 1.5²(1/12 + 1/18 + 1/28 + 1/42).
	r, err := Chi2Contingency([][]float64{{10, 20}, {30, 40}}, true)
	mustOK(t, err)
	want := 2.25 * (1.0/12 + 1.0/18 + 1.0/28 + 1.0/42)
	relClose(t, "yates", r.Statistic, want, 1e-14)
	relClose(t, "p", r.PValue, ChiSquareSF(want, 1), 1e-14)
	plain, err := Chi2Contingency([][]float64{{10, 20}, {30, 40}}, false)
	mustOK(t, err)
	relClose(t, "uncorrected", plain.Statistic, 4*(1.0/12+1.0/18+1.0/28+1.0/42), 1e-14)
	if _, err := Chi2Contingency([][]float64{{0, 0}, {1, 2}}, true); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("zero row: %v", err)
	}
}

func TestNormalTwoSidedP_RelativeAccuracyInTheTail(t *testing.T) {
	// 2·Φ(−z) for z = 8 and 10 (Wolfram: 1.2441921148543482e-15, 1.5239706048321e-23).
	relClose(t, "z=8", NormalTwoSidedP(8), 1.2441921148543482e-15, 1e-12)
	relClose(t, "z=-10", NormalTwoSidedP(-10), 1.5239706048320995e-23, 1e-12)
	relClose(t, "z=1.959963984540054", NormalTwoSidedP(Z95), 0.05, 1e-14)
}

func TestChiSquareSF_RelativeAccuracy(t *testing.T) {
	// χ²(2) survival is exp(−x/2) exactly.
	for _, x := range []float64{0.1, 1, 10, 100, 1000} {
		relClose(t, "chi2(2)", ChiSquareSF(x, 2), math.Exp(-x/2), 1e-13)
	}
	// χ²(1) survival is erfc(√(x/2)).
	for _, x := range []float64{0.5, 3.84, 30, 200} {
		relClose(t, "chi2(1)", ChiSquareSF(x, 1), math.Erfc(math.Sqrt(x/2)), 1e-12)
	}
}

func TestZTestProportions_DegenerateAndErrors(t *testing.T) {
	r, err := ZTestProportions(0, 10, 0, 20)
	mustOK(t, err)
	if r.Statistic != 0 || r.PValue != 1 {
		t.Errorf("no variation: %+v", r)
	}
	if _, err := ZTestProportions(11, 10, 0, 20); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("x > n: %v", err)
	}
	if _, err := ZTestProportions(0, 0, 0, 20); !errors.Is(err, ErrEmptySample) {
		t.Errorf("n = 0: %v", err)
	}
}

func TestPSINumeric_DecileBinsHandCase(t *testing.T) {
	ref := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9} // one value per decile bin
	same, err := PSINumeric(ref, ref)
	mustOK(t, err)
	assertClose(t, "same", same, 0, 1e-15)
	cur := []float64{0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 0} // half in the first bin, half in the last
	got, err := PSINumeric(ref, cur)
	mustOK(t, err)
	want := 2*(0.5-0.1)*math.Log(0.5/0.1) + 8*(PSIEmptyBin-0.1)*math.Log(PSIEmptyBin/0.1)
	assertClose(t, "psi", got, want, 1e-12)
	// Values beyond the reference range land in the outer bins.
	far, err := PSINumeric(ref, []float64{-100, 100})
	mustOK(t, err)
	assertClose(t, "outer bins", far, want, 1e-12)
	edges := QuantileEdges([]float64{1, 1, 1, 1, 2}, 10)
	// quantiles .1–.7 are all 1; .8 → 1.2, .9 → 1.6 (linear interpolation).
	if len(edges) != 3 || edges[0] != 1 || math.Abs(edges[1]-1.2) > 1e-15 || math.Abs(edges[2]-1.6) > 1e-15 {
		t.Errorf("repeated quantiles merge: edges %v", edges)
	}
}

func TestDistances_HandCases(t *testing.T) {
	w, err := Wasserstein1([]float64{0}, []float64{3})
	mustOK(t, err)
	assertClose(t, "w1 point masses", w, 3, 0)
	if _, err := Wasserstein1Weighted([]float64{1, 2}, []float64{1}, []float64{1}, nil); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("weights: %v", err)
	}
	wn, err := WassersteinNormed([]float64{5, 5, 5}, []float64{5, 5, 6})
	mustOK(t, err)
	assertClose(t, "std floor", wn, (1.0/3)/MinNormStd, 1e-9)
	js, err := JensenShannon([]float64{1, 0}, []float64{1, 0}, 0)
	mustOK(t, err)
	assertClose(t, "js identical", js, 0, 0)
	js2, err := JensenShannon([]float64{1, 0}, []float64{0, 1}, 2)
	mustOK(t, err)
	assertClose(t, "js disjoint base 2", js2, 1, 1e-15)
	h, err := Hellinger([]float64{1, 0}, []float64{0, 1})
	mustOK(t, err)
	assertClose(t, "hellinger disjoint", h, 1, 1e-15)
	kl, err := KLDivergence([]float64{1, 1}, []float64{1, 0})
	mustOK(t, err)
	if !math.IsInf(kl, 1) {
		t.Errorf("kl with q = 0 where p > 0: %v, want +Inf", kl)
	}
	if _, err := PSI([]float64{1}, []float64{1, 2}); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("psi lengths: %v", err)
	}
}
