package analysis

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Wasserstein1 returns the first Wasserstein (earth mover's) distance between
// the empirical distributions of u and v (scipy.stats.wasserstein_distance
// without weights).
func Wasserstein1(u, v []float64) (float64, error) {
	return Wasserstein1Weighted(u, v, nil, nil)
}

// Wasserstein1Weighted is Wasserstein1 with per-value weights (nil means all
// ones): ∫|U(x) − V(x)| dx over the weighted ECDFs, as scipy computes it.
func Wasserstein1Weighted(u, v, uWeights, vWeights []float64) (float64, error) {
	if len(u) == 0 || len(v) == 0 {
		return 0, fmt.Errorf("wasserstein: %w", ErrEmptySample)
	}
	uc, uw, err := sortedWithCumWeights(u, uWeights)
	if err != nil {
		return 0, fmt.Errorf("wasserstein: u: %w", err)
	}
	vc, vw, err := sortedWithCumWeights(v, vWeights)
	if err != nil {
		return 0, fmt.Errorf("wasserstein: v: %w", err)
	}
	all := make([]float64, 0, len(uc)+len(vc))
	all = append(all, uc...)
	all = append(all, vc...)
	slices.Sort(all)
	uTotal, vTotal := uw[len(uw)-1], vw[len(vw)-1]
	var dist float64
	iu, iv := 0, 0
	for k := 0; k+1 < len(all); k++ {
		x := all[k]
		for iu < len(uc) && uc[iu] <= x {
			iu++
		}
		for iv < len(vc) && vc[iv] <= x {
			iv++
		}
		delta := all[k+1] - x
		if delta == 0 {
			continue
		}
		dist += math.Abs(uw[iu]/uTotal-vw[iv]/vTotal) * delta
	}
	return dist, nil
}

// sortedWithCumWeights sorts values (with their weights) and returns the
// sorted values and cumulative weights prefixed by 0.
func sortedWithCumWeights(vals, weights []float64) ([]float64, []float64, error) {
	if weights != nil && len(weights) != len(vals) {
		return nil, nil, fmt.Errorf("%w: %d values, %d weights", ErrLengthMismatch, len(vals), len(weights))
	}
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
		if math.IsNaN(vals[i]) {
			return nil, nil, ErrNaN
		}
		if weights != nil && (weights[i] < 0 || math.IsNaN(weights[i]) || math.IsInf(weights[i], 0)) {
			return nil, nil, fmt.Errorf("%w: weight %d is negative or not finite", ErrInvalidInput, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] < vals[idx[b]] })
	sorted := make([]float64, len(vals))
	cum := make([]float64, len(vals)+1)
	for k, i := range idx {
		sorted[k] = vals[i]
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		cum[k+1] = cum[k] + w
	}
	if cum[len(vals)] <= 0 {
		return nil, nil, fmt.Errorf("%w: weights sum to zero", ErrInvalidInput)
	}
	return sorted, cum, nil
}

// MinNormStd is the floor of the reference standard deviation that divides
// the normed Wasserstein distance.
const MinNormStd = 0.001

// WassersteinNormed returns W1(ref, cur) / max(std(ref), MinNormStd) with the
// population standard deviation (ddof 0) of the reference — Evidently's
// "wasserstein" drift statistic.
func WassersteinNormed(ref, cur []float64) (float64, error) {
	return wassersteinNormedWeighted(ref, cur, nil)
}

// wassersteinNormedWeighted is WassersteinNormed with cur weighted by curW
// (nil: one row each). Integer weights give exactly the figure of the
// expanded sample: equal values only add zero-width steps.
func wassersteinNormedWeighted(ref, cur, curW []float64) (float64, error) {
	w, err := Wasserstein1Weighted(ref, cur, nil, curW)
	if err != nil {
		return 0, err
	}
	return w / math.Max(populationStd(ref), MinNormStd), nil
}

func populationStd(x []float64) float64 {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(len(x)))
}

// normalize returns p / Σp, checking that entries are non-negative.
func normalize(p []float64) ([]float64, error) {
	var s float64
	for i, v := range p {
		if v < 0 || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: entry %d is negative or NaN", ErrInvalidInput, i)
		}
		s += v
	}
	if s <= 0 {
		return nil, fmt.Errorf("%w: entries sum to zero", ErrInvalidInput)
	}
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = v / s
	}
	return out, nil
}

func pairDists(name string, p, q []float64) ([]float64, []float64, error) {
	if len(p) != len(q) {
		return nil, nil, fmt.Errorf("%s: %w: %d vs %d", name, ErrLengthMismatch, len(p), len(q))
	}
	if len(p) == 0 {
		return nil, nil, fmt.Errorf("%s: %w", name, ErrEmptySample)
	}
	pn, err := normalize(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: p: %w", name, err)
	}
	qn, err := normalize(q)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: q: %w", name, err)
	}
	return pn, qn, nil
}

// relEntr is scipy.special.rel_entr: x·ln(x/y), 0 at x = 0, +Inf for y = 0 < x.
func relEntr(x, y float64) float64 {
	switch {
	case x == 0 && y >= 0:
		return 0
	case x > 0 && y > 0:
		return x * math.Log(x/y)
	default:
		return math.Inf(1)
	}
}

// JensenShannon returns the Jensen–Shannon distance (the square root of the
// divergence) between distributions p and q, normalised to sum 1 first, as
// scipy.spatial.distance.jensenshannon. base ≤ 0 means the natural log.
func JensenShannon(p, q []float64, base float64) (float64, error) {
	pn, qn, err := pairDists("jensen-shannon", p, q)
	if err != nil {
		return 0, err
	}
	var left, right float64
	for i := range pn {
		m := (pn[i] + qn[i]) / 2
		left += relEntr(pn[i], m)
		right += relEntr(qn[i], m)
	}
	js := (left + right) / 2
	if base > 0 {
		js /= math.Log(base)
	}
	return math.Sqrt(math.Max(js, 0)), nil
}

// KLDivergence returns Σ p·ln(p/q) after normalising both to sum 1
// (scipy.stats.entropy(p, q)); +Inf when q is 0 where p is not.
func KLDivergence(p, q []float64) (float64, error) {
	pn, qn, err := pairDists("kl divergence", p, q)
	if err != nil {
		return 0, err
	}
	var s float64
	for i := range pn {
		s += relEntr(pn[i], qn[i])
	}
	return s, nil
}

// Hellinger returns the Hellinger distance (1/√2)·‖√p − √q‖₂ between p and
// q, normalised to sum 1 first; it lies in [0, 1].
func Hellinger(p, q []float64) (float64, error) {
	pn, qn, err := pairDists("hellinger", p, q)
	if err != nil {
		return 0, err
	}
	var s float64
	for i := range pn {
		d := math.Sqrt(pn[i]) - math.Sqrt(qn[i])
		s += d * d
	}
	return math.Sqrt(s) / math.Sqrt2, nil
}

// PSIEmptyBin replaces an empty bin's proportion in PSI.
const PSIEmptyBin = 0.0001

// PSIBins is the number of quantile bins of the numeric PSI.
const PSIBins = 10

// PSI returns the population stability index Σ (cur − ref)·ln(cur/ref) of two
// aligned proportion (or count) vectors. Each side is normalised to sum 1 and
// zero proportions are replaced by PSIEmptyBin (Evidently's convention).
// Bands: < 0.1 insignificant, 0.1–0.25 moderate, > 0.25 significant.
func PSI(ref, cur []float64) (float64, error) {
	rn, cn, err := pairDists("psi", ref, cur)
	if err != nil {
		return 0, err
	}
	var s float64
	for i := range rn {
		r, c := rn[i], cn[i]
		if r == 0 {
			r = PSIEmptyBin
		}
		if c == 0 {
			c = PSIEmptyBin
		}
		s += (c - r) * math.Log(c/r)
	}
	return s, nil
}

// PSINumeric bins both samples at the reference deciles and returns the PSI
// of the bin proportions (see QuantileEdges for the bins). NaNs must have
// been removed.
func PSINumeric(ref, cur []float64) (float64, error) {
	return psiNumericWeighted(ref, cur, nil)
}

// psiNumericWeighted is PSINumeric with cur weighted by curW (nil: one row
// each).
func psiNumericWeighted(ref, cur, curW []float64) (float64, error) {
	if len(ref) == 0 || len(cur) == 0 {
		return 0, fmt.Errorf("psi: %w", ErrEmptySample)
	}
	edges := QuantileEdges(ref, PSIBins)
	return PSI(binCounts(ref, nil, edges), binCounts(cur, curW, edges))
}

// QuantileEdges returns the distinct interior cut points of x at the
// quantiles 1/bins … (bins−1)/bins (numpy's default linear interpolation).
// The bins are (−∞, e₀), [e₀, e₁), …, [e_last, +∞): every value of either
// sample falls in exactly one bin, and repeated quantiles (discrete data)
// merge their bins.
func QuantileEdges(x []float64, bins int) []float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	edges := make([]float64, 0, bins-1)
	for i := 1; i < bins; i++ {
		q := quantileSorted(s, float64(i)/float64(bins))
		if len(edges) == 0 || q > edges[len(edges)-1] {
			edges = append(edges, q)
		}
	}
	return edges
}

// binCounts counts x, weighted by w (nil: one row each), into the bins
// defined by edges (see QuantileEdges).
func binCounts(x, w, edges []float64) []float64 {
	counts := make([]float64, len(edges)+1)
	for k, v := range x {
		counts[sort.Search(len(edges), func(i int) bool { return edges[i] > v })] += weightAt(w, k)
	}
	return counts
}

// quantileSorted is numpy.quantile(method="linear") on sorted data.
func quantileSorted(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	frac := pos - float64(lo)
	return s[lo] + frac*(s[lo+1]-s[lo])
}
