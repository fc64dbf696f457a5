package analysis

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// TestResult is a test statistic with its p-value.
type TestResult struct {
	Statistic float64
	PValue    float64
	// DOF is the degrees of freedom of a chi-square statistic (0 otherwise).
	DOF int
}

// ChiSquareSF returns Pr(X ≥ x) for X ~ χ²(dof), via gonum's regularized
// upper incomplete gamma function (relative accuracy ~1e-14).
func ChiSquareSF(x float64, dof float64) float64 {
	return distuv.ChiSquared{K: dof}.Survival(x)
}

// NormalTwoSidedP returns 2·Pr(Z ≥ |z|) for a standard normal Z, computed as
// erfc(|z|/√2) so that tiny tails keep full relative precision.
func NormalTwoSidedP(z float64) float64 {
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

// ChiSquare is Pearson's goodness-of-fit test of observed counts against
// expected counts (scipy.stats.chisquare(obs, exp), ddof 0). A nil expected
// means uniform. Expected zero where observed is positive gives +Inf and p 0
// (scipy 1.10 refuses when the totals differ; see DriftChiSquare).
func ChiSquare(observed, expected []float64) (TestResult, error) {
	k := len(observed)
	if k == 0 {
		return TestResult{}, fmt.Errorf("chi-square: %w", ErrEmptySample)
	}
	if expected == nil {
		var total float64
		for _, o := range observed {
			total += o
		}
		expected = make([]float64, k)
		for i := range expected {
			expected[i] = total / float64(k)
		}
	}
	if len(expected) != k {
		return TestResult{}, fmt.Errorf("chi-square: %w: %d observed, %d expected", ErrLengthMismatch, k, len(expected))
	}
	var stat float64
	for i, o := range observed {
		e := expected[i]
		if o < 0 || e < 0 || math.IsNaN(o) || math.IsNaN(e) {
			return TestResult{}, fmt.Errorf("chi-square: %w: negative or NaN count at %d", ErrInvalidInput, i)
		}
		switch {
		case e > 0:
			stat += (o - e) * (o - e) / e
		case o > 0:
			stat = math.Inf(1)
		}
	}
	dof := k - 1
	if dof <= 0 {
		return TestResult{Statistic: stat, PValue: 1, DOF: 0}, nil
	}
	p := 0.0
	if !math.IsInf(stat, 1) {
		p = ChiSquareSF(stat, float64(dof))
	}
	return TestResult{Statistic: stat, PValue: p, DOF: dof}, nil
}

// DriftChiSquare is the drift goodness-of-fit test Evidently uses: the
// current counts against the reference proportions scaled to the current
// total. The two count slices are aligned by category. A category absent
// from the reference but present in the current sample makes the statistic
// +Inf and the p-value 0 (the current sample cannot come from the reference).
func DriftChiSquare(refCounts, curCounts []float64) (TestResult, error) {
	if len(refCounts) != len(curCounts) {
		return TestResult{}, fmt.Errorf("chi-square: %w: %d reference categories, %d current", ErrLengthMismatch, len(refCounts), len(curCounts))
	}
	var refTotal, curTotal float64
	for i := range refCounts {
		refTotal += refCounts[i]
		curTotal += curCounts[i]
	}
	if refTotal <= 0 || curTotal <= 0 {
		return TestResult{}, fmt.Errorf("chi-square: %w", ErrEmptySample)
	}
	exp := make([]float64, len(refCounts))
	for i, r := range refCounts {
		exp[i] = r / refTotal * curTotal
	}
	return ChiSquare(curCounts, exp)
}

// Chi2Contingency is Pearson's test of independence on an r×c table
// (scipy.stats.chi2_contingency with lambda_=None). With one degree of
// freedom and correction true, Yates' continuity correction is applied, as
// scipy does by default. A zero row or column total is an error.
func Chi2Contingency(table [][]float64, correction bool) (TestResult, error) {
	r := len(table)
	if r == 0 || len(table[0]) == 0 {
		return TestResult{}, fmt.Errorf("chi2 contingency: %w", ErrEmptySample)
	}
	c := len(table[0])
	rows := make([]float64, r)
	cols := make([]float64, c)
	var total float64
	for i, row := range table {
		if len(row) != c {
			return TestResult{}, fmt.Errorf("chi2 contingency: %w: row %d has %d cells, want %d", ErrLengthMismatch, i, len(row), c)
		}
		for j, v := range row {
			if v < 0 || math.IsNaN(v) {
				return TestResult{}, fmt.Errorf("chi2 contingency: %w: negative or NaN cell (%d,%d)", ErrInvalidInput, i, j)
			}
			rows[i] += v
			cols[j] += v
			total += v
		}
	}
	for i, v := range rows {
		if v == 0 {
			return TestResult{}, fmt.Errorf("chi2 contingency: %w: row %d is all zero", ErrInvalidInput, i)
		}
	}
	for j, v := range cols {
		if v == 0 {
			return TestResult{}, fmt.Errorf("chi2 contingency: %w: column %d is all zero", ErrInvalidInput, j)
		}
	}
	dof := r*c - r - c + 1
	if dof == 0 {
		return TestResult{Statistic: 0, PValue: 1, DOF: 0}, nil
	}
	var stat float64
	for i, row := range table {
		for j, o := range row {
			e := rows[i] * cols[j] / total
			if dof == 1 && correction {
				diff := e - o
				o += math.Copysign(math.Min(0.5, math.Abs(diff)), diff)
			}
			stat += (o - e) * (o - e) / e
		}
	}
	return TestResult{Statistic: stat, PValue: ChiSquareSF(stat, float64(dof)), DOF: dof}, nil
}

// ZTestProportions is the pooled two-proportion z-test, two-sided: x1 of n1
// against x2 of n2, z = (p1 − p2)/√(P(1−P)(1/n1 + 1/n2)) with P the pooled
// proportion. When P is 0 or 1 (no variation at all) z is 0 and p is 1.
func ZTestProportions(x1, n1, x2, n2 float64) (TestResult, error) {
	if n1 <= 0 || n2 <= 0 {
		return TestResult{}, fmt.Errorf("z-test: %w", ErrEmptySample)
	}
	if x1 < 0 || x2 < 0 || x1 > n1 || x2 > n2 {
		return TestResult{}, fmt.Errorf("z-test: %w: successes outside [0, n]", ErrInvalidInput)
	}
	p1, p2 := x1/n1, x2/n2
	pooled := (p1*n1 + p2*n2) / (n1 + n2)
	se := math.Sqrt(pooled * (1 - pooled) * (1/n1 + 1/n2))
	if se == 0 {
		return TestResult{Statistic: 0, PValue: 1}, nil
	}
	z := (p1 - p2) / se
	return TestResult{Statistic: z, PValue: NormalTwoSidedP(z)}, nil
}

// McNemarExact is McNemar's exact test on the discordant pairs b and c
// (statsmodels mcnemar(exact=True)): the statistic is min(b, c) and the
// p-value min(1, 2·BinomCDF(min(b,c); b+c, ½)). b+c = 0 gives p = 1.
func McNemarExact(b, c int) TestResult {
	s := min(b, c)
	n := b + c
	if n == 0 {
		return TestResult{Statistic: 0, PValue: 1}
	}
	p := 2 * binomHalfCDF(s, n)
	return TestResult{Statistic: float64(s), PValue: math.Min(p, 1)}
}

// binomHalfCDF returns Pr(X ≤ k) for X ~ Binomial(n, ½) through the
// regularized incomplete beta function (cephes bdtr, as scipy's binom.cdf).
func binomHalfCDF(k, n int) float64 {
	return distuv.Binomial{N: float64(n), P: 0.5}.CDF(float64(k))
}

// ClopperPearson is the exact (Clopper–Pearson) two-sided interval for a
// binomial proportion, k successes of n, at confidence level conf
// (scipy.stats.binomtest(k, n).proportion_ci(conf, method="exact")): the
// lower bound solves Pr(X ≥ k | p) = α/2, the upper Pr(X ≤ k | p) = α/2,
// through the beta quantile. It is the inversion of the exact binomial test
// with twice the smaller tail, so it excludes p0 exactly when that test
// rejects p0 at α = 1 − conf. n = 0 gives (0, 1).
func ClopperPearson(k, n int, conf float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	alpha := 1 - conf
	lo, hi = 0, 1
	if k > 0 {
		lo = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha / 2)
	}
	if k < n {
		hi = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - alpha/2)
	}
	return lo, hi
}
