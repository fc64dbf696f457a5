package analysis

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ColumnType is the inferred statistical type of a column.
type ColumnType string

// The column types.
const (
	TypeNumeric     ColumnType = "numeric"
	TypeCategorical ColumnType = "categorical"
	TypeBinary      ColumnType = "binary"
)

// Method is a drift test or distance.
type Method string

// The drift methods. KS, chi-square and z are tests (drift when the p-value
// is below the threshold); the others are distances (drift when the
// statistic is at or above the threshold).
const (
	MethodKS            Method = "ks"
	MethodChiSquare     Method = "chisquare"
	MethodZ             Method = "z"
	MethodWasserstein   Method = "wasserstein"
	MethodJensenShannon Method = "jensenshannon"
	MethodPSI           Method = "psi"
)

// ParseMethod returns the Method named s.
func ParseMethod(s string) (Method, error) {
	m := Method(strings.ToLower(strings.TrimSpace(s)))
	switch m {
	case MethodKS, MethodChiSquare, MethodZ, MethodWasserstein, MethodJensenShannon, MethodPSI:
		return m, nil
	}
	return "", fmt.Errorf("%w %q (want ks, chisquare, z, wasserstein, jensenshannon or psi)", ErrUnknownMethod, s)
}

// IsTest reports whether m yields a p-value.
func (m Method) IsTest() bool { return m == MethodKS || m == MethodChiSquare || m == MethodZ }

// Defaults of the drift engine (Evidently's).
const (
	// DefaultLargeReference: a reference column with more non-missing values
	// than this uses distances instead of tests.
	DefaultLargeReference = 1000
	// DefaultPValueThreshold: a test drifts when p < 0.05.
	DefaultPValueThreshold = 0.05
	// DefaultDistanceThreshold: a distance (and PSI as a method) drifts
	// when ≥ 0.1.
	DefaultDistanceThreshold = 0.1
	// DefaultDriftShare: the dataset drifts when at least this share of its
	// columns drift.
	DefaultDriftShare = 0.5
	// DefaultMinSample: a column with fewer non-missing current values
	// gets the verdict insufficient_data instead of drift or no_drift (a
	// handful of rows gives extreme PSI and meaningless tests).
	DefaultMinSample = 30
	// MaxCategoricalDistinct: a numeric column with at most this many
	// distinct values is categorical.
	MaxCategoricalDistinct = 5
	// jsNumericBins: equal-width bins of a numeric Jensen–Shannon override.
	jsNumericBins = 30
)

// DriftOptions tunes ComputeDrift. The zero value gives Evidently's defaults
// on every reference column.
type DriftOptions struct {
	// Columns selects and orders the columns; nil means every reference
	// column.
	Columns []string
	// Methods overrides the method of some columns.
	Methods map[string]Method
	// Thresholds overrides the threshold of some columns.
	Thresholds map[string]float64
	// LargeReference overrides DefaultLargeReference when > 0.
	LargeReference int
	// DriftShare overrides DefaultDriftShare when > 0.
	DriftShare float64
	// MinSample overrides DefaultMinSample when > 0; negative: no minimum.
	MinSample int
}

// Drift verdicts of one column (insufficient_data as in comparisons).
const (
	DriftVerdictDrift        = "drift"
	DriftVerdictNoDrift      = "no_drift"
	DriftVerdictInsufficient = string(VerdictInsufficientData)
)

// Number is a float64 that encodes NaN and ±Inf as JSON null.
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// DriftReport is the drift of a current sample against a reference sample.
// Its JSON form is the one the CLI and GET /v1/drift return.
type DriftReport struct {
	ReferenceRows int           `json:"reference_rows"`
	CurrentRows   int           `json:"current_rows"`
	Columns       []ColumnDrift `json:"columns"`
	// DriftedColumns of TestedColumns drifted; TestedColumns counts the
	// columns with a verdict (not insufficient_data). Every view (text,
	// dashboard, HTML report) shows these two numbers.
	DriftedColumns int `json:"drifted_columns"`
	TestedColumns  int `json:"tested_columns"`
	// MinSample is the minimum of non-missing current values for a verdict.
	MinSample int `json:"min_sample"`
	// DriftShare is DriftedColumns / TestedColumns (0 without any).
	DriftShare   float64 `json:"drift_share"`
	DatasetDrift bool    `json:"dataset_drift"`
}

// ColumnDrift is the drift of one column.
type ColumnDrift struct {
	Column string     `json:"column"`
	Type   ColumnType `json:"type"`
	Method Method     `json:"method"`
	// Statistic is D (ks), χ² (chisquare), z (z), W1/σ_ref (wasserstein),
	// the JS distance (jensenshannon) or the PSI (psi). null in JSON when
	// not finite: a category unseen in the reference makes χ² infinite,
	// and a column without values on one side has no statistic.
	Statistic Number `json:"statistic"`
	// PValue is nil for distances and for an empty side.
	PValue    *float64 `json:"p_value"`
	Threshold float64  `json:"threshold"`
	Drifted   bool     `json:"drifted"`
	// Verdict is drift, no_drift, or insufficient_data when the current
	// sample has fewer than the minimum of non-missing values (Drifted is
	// then false whatever the statistic says).
	Verdict string `json:"verdict"`
	// PSI is computed for every column (categories, or reference deciles).
	PSI Number `json:"psi"`
	// Missing counts (NaN/±Inf, empty text) are dropped before testing;
	// reported in the text table, not in the JSON shape.
	ReferenceMissing int `json:"-"`
	CurrentMissing   int `json:"-"`
	// ReferenceN and CurrentN are the non-missing values tested.
	ReferenceN int `json:"-"`
	CurrentN   int `json:"-"`
}

// ComputeDrift compares every selected column of cur with the same column of
// ref. Column types are inferred over both samples together: text with two
// distinct values is binary, other text categorical; numbers with two
// distinct values are binary, with at most MaxCategoricalDistinct
// categorical, otherwise numeric. A column numeric on one side and text on
// the other is compared as text.
//
// Default methods (Evidently): when the reference column has at most
// LargeReference non-missing values, numeric → ks, categorical → chisquare,
// binary → z, drifted when p < 0.05; otherwise numeric → wasserstein (normed),
// categorical and binary → jensenshannon, drifted when ≥ 0.1. The dataset
// drifts when the drifted share of columns is ≥ DriftShare. A column with
// fewer than MinSample non-missing current values (default 30) gets the
// verdict insufficient_data and counts neither as drifted nor as tested.
//
// Errors: a selected column missing from either table (ErrUnknownColumn), a
// method override for a column not compared or not applicable to its type.
func ComputeDrift(ref, cur Table, opts DriftOptions) (DriftReport, error) {
	names := opts.Columns
	if names == nil {
		names = ref.Names()
	}
	selected := make(map[string]bool, len(names))
	for _, n := range names {
		selected[n] = true
	}
	for col, m := range opts.Methods {
		if !selected[col] {
			return DriftReport{}, fmt.Errorf("method %s for column %q: %w (not among the compared columns)", m, col, ErrUnknownColumn)
		}
	}
	large := opts.LargeReference
	if large <= 0 {
		large = DefaultLargeReference
	}
	share := opts.DriftShare
	if share <= 0 {
		share = DefaultDriftShare
	}
	minSample := opts.MinSample
	switch {
	case minSample == 0:
		minSample = DefaultMinSample
	case minSample < 0:
		minSample = 0
	}
	rep := DriftReport{ReferenceRows: ref.Rows, CurrentRows: cur.Rows, MinSample: minSample, Columns: make([]ColumnDrift, 0, len(names))}
	for _, name := range names {
		rc, ok := ref.Column(name)
		if !ok {
			return DriftReport{}, fmt.Errorf("column %q: %w in the reference", name, ErrUnknownColumn)
		}
		cc, ok := cur.Column(name)
		if !ok {
			return DriftReport{}, fmt.Errorf("column %q: %w in the current sample", name, ErrUnknownColumn)
		}
		cd, err := columnDrift(rc, cc, opts.Methods[name], opts.Thresholds, large)
		if err != nil {
			return DriftReport{}, fmt.Errorf("column %q: %w", name, err)
		}
		switch {
		case cd.CurrentN < minSample || cd.CurrentN == 0 || cd.ReferenceN == 0:
			cd.Drifted, cd.Verdict = false, DriftVerdictInsufficient
		case cd.Drifted:
			cd.Verdict = DriftVerdictDrift
			rep.DriftedColumns++
			rep.TestedColumns++
		default:
			cd.Verdict = DriftVerdictNoDrift
			rep.TestedColumns++
		}
		rep.Columns = append(rep.Columns, cd)
	}
	if rep.TestedColumns > 0 {
		rep.DriftShare = float64(rep.DriftedColumns) / float64(rep.TestedColumns)
	}
	rep.DatasetDrift = rep.TestedColumns > 0 && rep.DriftShare >= share
	return rep, nil
}

// prepared is one column with missing values dropped, on both sides. The
// reference is one value per row; the current sample may be a histogram
// (curW: the rows each of curNums stands for; nil: one each). For
// categorical and binary columns refCounts/curCounts count the rows per
// category (categories sorted, numerically for numbers).
type prepared struct {
	numeric    bool
	refNums    []float64
	curNums    []float64
	curW       []float64
	refN, curN int
	categories []string
	refCounts  []float64
	curCounts  []float64
	typ        ColumnType
}

func prepare(rc, cc Column) (prepared, int, int) {
	var p prepared
	rc = rc.Expand() // references are samples, small enough to hold
	if rc.IsNumeric() != cc.IsNumeric() {
		rc, cc = rc.asText(), cc.asText()
	}
	var refMiss, curMiss int
	if rc.IsNumeric() {
		p.numeric = true
		p.refNums, _, p.refN, refMiss = dropMissing(rc.Numbers, nil, isMissingNumber)
		p.curNums, p.curW, p.curN, curMiss = dropMissing(cc.Numbers, cc.Counts, isMissingNumber)
		distinct := map[float64]bool{}
	scan:
		for _, s := range [][]float64{p.refNums, p.curNums} {
			for _, v := range s {
				distinct[v] = true
				if len(distinct) > MaxCategoricalDistinct {
					break scan
				}
			}
		}
		switch d := len(distinct); {
		case d == 2:
			p.typ = TypeBinary
		case d <= MaxCategoricalDistinct && d > 0:
			p.typ = TypeCategorical
		default:
			p.typ = TypeNumeric
		}
		if p.typ != TypeNumeric {
			p.categories, p.refCounts, p.curCounts = countNumbers(p.refNums, p.curNums, p.curW)
		}
		return p, refMiss, curMiss
	}
	isEmpty := func(s string) bool { return s == "" }
	refStrs, _, refN, refMiss := dropMissing(rc.Strings, nil, isEmpty)
	curStrs, curW, curN, curMiss := dropMissing(cc.Strings, cc.Counts, isEmpty)
	p.refN, p.curN = refN, curN
	p.categories, p.refCounts, p.curCounts = countStrings(refStrs, curStrs, curW)
	p.typ = TypeCategorical
	if len(p.categories) == 2 {
		p.typ = TypeBinary
	}
	return p, refMiss, curMiss
}

// countNumbers returns the distinct values of both samples (sorted, as
// text) and each sample's row count per value; curW weighs cur (nil: one
// row each).
func countNumbers(ref, cur, curW []float64) ([]string, []float64, []float64) {
	idx := map[float64]int{}
	for _, s := range [][]float64{ref, cur} {
		for _, v := range s {
			idx[v] = 0
		}
	}
	vals := make([]float64, 0, len(idx))
	for v := range idx {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	names := make([]string, len(vals))
	for i, v := range vals {
		idx[v] = i
		names[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	count := func(s, w []float64) []float64 {
		c := make([]float64, len(vals))
		for i, v := range s {
			c[idx[v]] += weightAt(w, i)
		}
		return c
	}
	return names, count(ref, nil), count(cur, curW)
}

// countStrings is countNumbers for text.
func countStrings(ref, cur []string, curW []float64) ([]string, []float64, []float64) {
	idx := map[string]int{}
	for _, s := range [][]string{ref, cur} {
		for _, v := range s {
			idx[v] = 0
		}
	}
	names := make([]string, 0, len(idx))
	for v := range idx {
		names = append(names, v)
	}
	slices.Sort(names)
	for i, v := range names {
		idx[v] = i
	}
	count := func(s []string, w []float64) []float64 {
		c := make([]float64, len(names))
		for i, v := range s {
			c[idx[v]] += weightAt(w, i)
		}
		return c
	}
	return names, count(ref, nil), count(cur, curW)
}

// weightAt is w[i], or 1 when w is nil.
func weightAt(w []float64, i int) float64 {
	if w == nil {
		return 1
	}
	return w[i]
}

// dropMissing drops the missing entries of vals, whose entry i stands for
// counts[i] rows (counts nil: one row each). It returns the others with
// their row counts as weights (nil when counts is nil), and the rows kept
// and dropped.
func dropMissing[T any](vals []T, counts []int64, missing func(T) bool) (kept []T, w []float64, nKept, nDropped int) {
	kept = make([]T, 0, len(vals))
	if counts != nil {
		w = make([]float64, 0, len(vals))
	}
	for i, x := range vals {
		n := 1
		if counts != nil {
			n = int(counts[i])
		}
		if missing(x) {
			nDropped += n
			continue
		}
		kept = append(kept, x)
		if w != nil {
			w = append(w, float64(n))
		}
		nKept += n
	}
	return kept, w, nKept, nDropped
}

func defaultMethod(typ ColumnType, refN, large int) Method {
	small := refN <= large
	switch {
	case typ == TypeNumeric && small:
		return MethodKS
	case typ == TypeNumeric:
		return MethodWasserstein
	case typ == TypeBinary && small:
		return MethodZ
	case small:
		return MethodChiSquare
	default:
		return MethodJensenShannon
	}
}

func columnDrift(rc, cc Column, override Method, thresholds map[string]float64, large int) (ColumnDrift, error) {
	p, refMiss, curMiss := prepare(rc, cc)
	cd := ColumnDrift{
		Column:           rc.Name,
		Type:             p.typ,
		ReferenceMissing: refMiss,
		CurrentMissing:   curMiss,
	}
	refN, curN := p.refN, p.curN
	cd.ReferenceN, cd.CurrentN = refN, curN
	method := override
	if method == "" {
		method = defaultMethod(p.typ, refN, large)
	} else if _, err := ParseMethod(string(method)); err != nil {
		return cd, err
	}
	cd.Method = method
	cd.Threshold = DefaultDistanceThreshold
	if method.IsTest() {
		cd.Threshold = DefaultPValueThreshold
	}
	if t, ok := thresholds[rc.Name]; ok {
		cd.Threshold = t
	}
	// Applicability does not depend on the data being present.
	numericOnly := p.typ == TypeNumeric
	switch method {
	case MethodKS, MethodWasserstein:
		if !p.numeric {
			return cd, fmt.Errorf("%w: %s needs numbers, column is text", ErrMethodNotApplicable, method)
		}
	case MethodZ:
		if numericOnly {
			return cd, fmt.Errorf("%w: z needs at most two distinct values, column has more than %d", ErrMethodNotApplicable, MaxCategoricalDistinct)
		}
		if len(p.categories) > 2 {
			return cd, fmt.Errorf("%w: z needs at most two distinct values, column has %d", ErrMethodNotApplicable, len(p.categories))
		}
	}
	if refN == 0 || curN == 0 {
		cd.Statistic = Number(math.NaN())
		cd.PSI = Number(math.NaN())
		return cd, nil // no values on one side: nothing to test, not drifted
	}

	// PSI for every column.
	var psi float64
	var err error
	if p.typ == TypeNumeric {
		psi, err = psiNumericWeighted(p.refNums, p.curNums, p.curW)
	} else {
		psi, err = PSI(p.refCounts, p.curCounts)
	}
	if err != nil {
		return cd, err
	}
	cd.PSI = Number(psi)

	var stat float64
	var pval *float64
	switch method {
	case MethodKS:
		r, err := ks2SampWeighted(p.refNums, p.curNums, p.curW, KSAuto)
		if err != nil {
			return cd, err
		}
		stat, pval = r.Statistic, &r.PValue
	case MethodWasserstein:
		stat, err = wassersteinNormedWeighted(p.refNums, p.curNums, p.curW)
	case MethodChiSquare:
		refCounts, curCounts := p.refCounts, p.curCounts
		if p.typ == TypeNumeric { // numbers as categories
			_, refCounts, curCounts = countNumbers(p.refNums, p.curNums, p.curW)
		}
		var r TestResult
		r, err = DriftChiSquare(refCounts, curCounts)
		stat, pval = r.Statistic, &r.PValue
	case MethodZ:
		// Success is the second category in sorted order; with a single
		// category there is no variation (z = 0, p = 1).
		var rs, cs float64
		if len(p.categories) == 2 {
			rs, cs = p.refCounts[1], p.curCounts[1]
		}
		var r TestResult
		r, err = ZTestProportions(rs, float64(refN), cs, float64(curN))
		stat, pval = r.Statistic, &r.PValue
	case MethodJensenShannon:
		if p.typ == TypeNumeric {
			rb, cb := histogramPair(p.refNums, p.curNums, p.curW, jsNumericBins)
			stat, err = JensenShannon(rb, cb, 0)
		} else {
			stat, err = JensenShannon(p.refCounts, p.curCounts, 0)
		}
	case MethodPSI:
		stat = psi
	}
	if err != nil {
		return cd, err
	}
	cd.Statistic = Number(stat)
	cd.PValue = pval
	if pval != nil {
		cd.Drifted = *pval < cd.Threshold
	} else {
		cd.Drifted = stat >= cd.Threshold
	}
	return cd, nil
}

// histogramPair counts both samples into `bins` equal-width bins over their
// combined range (numpy.histogram_bin_edges of the union; last bin closed);
// bW weighs b (nil: one row each).
func histogramPair(a, b, bW []float64, bins int) ([]float64, []float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float64{a, b} {
		for _, v := range s {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	count := func(s, sw []float64) []float64 {
		out := make([]float64, bins)
		w := (hi - lo) / float64(bins)
		for k, v := range s {
			i := int((v - lo) / w)
			if i >= bins {
				i = bins - 1
			}
			out[i] += weightAt(sw, k)
		}
		return out
	}
	return count(a, nil), count(b, bW)
}
