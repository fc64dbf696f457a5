package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// KSMode selects how KS2Samp computes its p-value (scipy's `method`).
type KSMode string

// The KS p-value modes.
const (
	// KSAuto is exact when both samples have at most KSMaxExactN values,
	// asymptotic otherwise (scipy's method="auto").
	KSAuto KSMode = "auto"
	// KSExact counts lattice paths exactly; it falls back to KSAsymp only
	// where scipy does (a floating-point failure).
	KSExact KSMode = "exact"
	// KSAsymp uses kstwo.sf(D, round(n·m/(n+m))).
	KSAsymp KSMode = "asymp"
)

// KSMaxExactN is the largest sample size for which KSAuto is exact.
const KSMaxExactN = 10000

// KSResult is the outcome of a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	// Statistic is D = sup |F_ref − F_cur|.
	Statistic float64
	// PValue is the two-sided p-value.
	PValue float64
	// Mode is the method actually used (KSExact or KSAsymp).
	Mode KSMode
}

// KS2Samp runs the two-sided two-sample Kolmogorov–Smirnov test with the
// semantics of scipy.stats.ks_2samp(ref, cur, alternative="two-sided",
// method=mode) (scipy 1.10). NaN values must have been removed by the caller;
// an empty sample is an error. The inputs are not modified.
func KS2Samp(ref, cur []float64, mode KSMode) (KSResult, error) {
	return ks2SampWeighted(ref, cur, nil, mode)
}

// ks2SampWeighted is KS2Samp with cur weighted by curW (integer row counts;
// nil: one row each): the test of the expanded sample, without expanding.
func ks2SampWeighted(ref, cur, curW []float64, mode KSMode) (KSResult, error) {
	if len(ref) == 0 || len(cur) == 0 {
		return KSResult{}, fmt.Errorf("ks test: %w", ErrEmptySample)
	}
	for _, s := range [][]float64{ref, cur} {
		for _, v := range s {
			if math.IsNaN(v) {
				return KSResult{}, fmt.Errorf("ks test: %w", ErrNaN)
			}
		}
	}
	a := slices.Clone(ref)
	slices.Sort(a)
	b, bw := sortWeighted(cur, curW)
	n1 := len(a)
	var total2 int64
	for _, w := range bw {
		total2 += w
	}
	if total2 <= 0 {
		return KSResult{}, fmt.Errorf("ks test: %w", ErrEmptySample)
	}
	n2 := int(total2)

	// Walk the merged values; at each distinct value v the ECDF difference
	// is (c1·n2 − c2·n1)/(n1·n2) with c = #{≤ v}. Integer arithmetic keeps
	// D exact: h = |c1·n2 − c2·n1| / g counts D in units of 1/lcm.
	var maxDiff, minDiff int64
	i, j := 0, 0
	var c2 int64
	N1, N2 := int64(n1), total2
	for i < n1 || j < len(b) {
		var v float64
		switch {
		case i >= n1:
			v = b[j]
		case j >= len(b):
			v = a[i]
		default:
			v = math.Min(a[i], b[j])
		}
		for i < n1 && a[i] <= v {
			i++
		}
		for j < len(b) && b[j] <= v {
			c2 += bw[j]
			j++
		}
		diff := int64(i)*N2 - c2*N1
		maxDiff = max(maxDiff, diff)
		minDiff = min(minDiff, diff)
	}
	g := gcd(N1, N2)
	num := max(maxDiff, -minDiff) // D·n1·n2
	lcm := (N1 / g) * N2
	h := num / g
	d := float64(h) / float64(lcm)

	if mode == "" {
		mode = KSAuto
	}
	switch mode {
	case KSAuto:
		if max(n1, n2) <= KSMaxExactN {
			mode = KSExact
		} else {
			mode = KSAsymp
		}
	case KSExact:
		if N1/g >= math.MaxInt32/(N2/g) {
			mode = KSAsymp
		}
	case KSAsymp:
	default:
		return KSResult{}, fmt.Errorf("ks test: %w: mode %q", ErrUnknownMethod, mode)
	}
	if mode == KSExact {
		if p, ok := ksExactTwoSided(n1, n2, int(g), int(h)); ok {
			return KSResult{Statistic: d, PValue: p, Mode: KSExact}, nil
		}
		mode = KSAsymp
	}
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	en := math.RoundToEven(m * n / (m + n))
	p := clip01(KolmogorovSF(d, int(en)))
	return KSResult{Statistic: d, PValue: p, Mode: KSAsymp}, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ksExactTwoSided returns Pr(D ≥ h/lcm) for samples of sizes n1, n2 with
// gcd g, and false where scipy would give up on the exact computation.
func ksExactTwoSided(n1, n2, g, h int) (float64, bool) {
	if h == 0 {
		return 1, true
	}
	var p float64
	if n1 == n2 {
		p = probOutsideSquare(n1, h)
	} else {
		p = outerProbInsideMethod(n1, n2, g, h)
	}
	if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > 1 {
		return p, false
	}
	return p, true
}

// probOutsideSquare returns Pr(D_{n,n} ≥ h/n) for equal sample sizes by the
// alternating reflection sum 2·Σ_k (−1)^(k−1) C(2n, n−kh)/C(2n, n),
// evaluated in Horner form to avoid cancellation.
func probOutsideSquare(n, h int) float64 {
	var P float64
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		P = p1 * (1 - P)
	}
	return 2 * P
}

// outerProbInsideMethod returns the proportion of monotone lattice paths from
// (0,0) to (m,n) that leave the band |x/m − y/n| < h/lcm(m,n): Hodges'
// inside method with Viehmann's recursion for 1−p (scipy's
// _compute_outer_prob_inside_method), keeping one sliding column.
func outerProbInsideMethod(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg := m / g
	ng := n / g
	minj, maxj := 0, min(ceilDiv(h, mg), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	A := make([]float64, lenA)
	for i := range A {
		A[i] = 1
	}
	for i := minj; i < maxj && i < lenA; i++ {
		A[i] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(floorDiv(ng*i-h, mg)+1, 0)
		minj = min(minj, n)
		maxj = min(ceilDiv(ng*i+h, mg), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		fi := float64(i)
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			val = (A[jj+minj-lastminj]*fi + val*float64(j)) / (fi + float64(j))
			A[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for q := maxj - minj; q < maxj-minj+(lastlen-curlen) && q < lenA; q++ {
				A[q] = 1
			}
		}
	}
	return A[maxj-minj-1]
}

// floorDiv and ceilDiv divide integers rounding toward −∞ and +∞ (Python's
// floor((a)/b) and ceil(a/b) for b > 0).
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int) int { return -floorDiv(-a, b) }

// sortWeighted returns vals sorted with their integer weights (w nil: one
// each).
func sortWeighted(vals, w []float64) ([]float64, []int64) {
	if w == nil {
		sv := slices.Clone(vals)
		slices.Sort(sv)
		sw := make([]int64, len(sv))
		for i := range sw {
			sw[i] = 1
		}
		return sv, sw
	}
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(vals[x], vals[y]) })
	sv := make([]float64, len(vals))
	sw := make([]int64, len(vals))
	for k, i := range idx {
		sv[k] = vals[i]
		sw[k] = int64(weightAt(w, i))
	}
	return sv, sw
}
