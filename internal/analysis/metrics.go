package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// MetricsOptions configures a MetricsAccumulator.
type MetricsOptions struct {
	// Bucket, when positive, also accumulates the same figures per time
	// bucket of this width (received_at truncated to a multiple of Bucket
	// since the zero time, i.e. UTC-aligned for widths that divide a day).
	Bucket time.Duration
}

// MetricsAccumulator turns records (and their latest labels) into live
// per-model metrics and challenger comparisons, one record at a time.
//
// Memory: every figure is a running sum or count except the latency
// percentiles (one counter per distinct latency in µs) and ROC AUC (one
// counter per distinct probability); both are exact and bounded by the
// number of distinct values, not by the number of records. With buckets the
// same state is kept once per bucket.
//
// The zero value is not usable; call NewMetricsAccumulator. Not safe for
// concurrent use; use one per goroutine and Merge them.
type MetricsAccumulator struct {
	opts       MetricsOptions
	all        *window
	buckets    map[time.Time]*window
	lastKey    time.Time // bucket of the previous record, and its window
	lastBucket *window
	pairs      map[string]*PairedCounts // non-production model → vs that record's production
	lastProd   string
	lastProdAt time.Time
}

// window is the state of one time range: per-model accumulators.
type window struct {
	requests  int64
	labelled  int64
	fallbacks int64
	first     time.Time
	last      time.Time
	models    map[string]*modelAcc
	// pairs are the paired counts of a bucket (non-production model → vs
	// that record's production); the whole range keeps them in
	// MetricsAccumulator.pairs.
	pairs map[string]*PairedCounts
}

type modelAcc struct {
	role     model.Role
	version  string
	seenAt   time.Time
	requests int64
	served   int64
	status   StatusCounts
	latency  map[int64]int64 // latency_us → count, answered results only
	answered int64
	positive int64
	agreeN   int64
	agreeEq  int64
	// labelled
	conf    Confusion
	probN   int64
	logLoss float64
	brier   float64
	auc     AUCCounter
	// unlabelled, with a probability
	cbpe CBPE
}

// NewMetricsAccumulator returns an empty accumulator.
func NewMetricsAccumulator(opts MetricsOptions) *MetricsAccumulator {
	return &MetricsAccumulator{
		opts:    opts,
		all:     newWindow(),
		buckets: map[time.Time]*window{},
		pairs:   map[string]*PairedCounts{},
	}
}

func newWindow() *window { return &window{models: map[string]*modelAcc{}} }

// addPairs counts one labelled record's pairs into pairs.
func addPairs(pairs map[string]*PairedCounts, entries []modelEntry, prodIdx int, label int) {
	prodRight := *entries[prodIdx].res.prediction == label
	for i, e := range entries {
		if i == prodIdx || e.res.prediction == nil {
			continue
		}
		pc := pairs[e.name]
		if pc == nil {
			pc = &PairedCounts{}
			pairs[e.name] = pc
		}
		// A = production, B = the other model.
		pc.Add(prodRight, *e.res.prediction == label)
	}
}

func mergePairs(dst, src map[string]*PairedCounts) {
	for name, pc := range src {
		if dst[name] == nil {
			dst[name] = &PairedCounts{}
		}
		x := dst[name]
		x.BothRight += pc.BothRight
		x.OnlyA += pc.OnlyA
		x.OnlyB += pc.OnlyB
		x.BothWrong += pc.BothWrong
	}
}

// Add accumulates one record. label is the latest ground-truth label of the
// request (nil when unlabelled); labels other than 0 and 1 are treated as
// unlabelled. A nil record is ignored.
func (a *MetricsAccumulator) Add(rec *record.Record, label *int) {
	if rec == nil {
		return
	}
	if label != nil && *label != 0 && *label != 1 {
		label = nil
	}
	// One pass over the map: copy the results out and find production
	// (the smallest name if several claim the role).
	var buf [8]modelEntry
	entries := buf[:0]
	prodIdx := -1
	servedBy, fallback := "", false
	if rec.Decision != nil {
		servedBy, fallback = rec.Decision.ServedBy, rec.Decision.Reason == "fallback"
	}
	for name, r := range rec.Models {
		entries = append(entries, modelEntry{name: name, res: modelFields{
			role: r.Role, version: r.Version, status: r.Status,
			prediction: r.Prediction, probability: r.Probability, latencyUS: r.LatencyUS,
			served: name == servedBy,
		}})
		if r.Role == model.RoleProduction && (prodIdx < 0 || name < entries[prodIdx].name) {
			prodIdx = len(entries) - 1
		}
	}
	a.addEntries(rec.ReceivedAt, entries, prodIdx, label, fallback)
}

// addEntries accumulates one record's model results (Add, AddSummary);
// prodIdx is the index of its production model (-1: none).
func (a *MetricsAccumulator) addEntries(at time.Time, entries []modelEntry, prodIdx int, label *int, fallback bool) {
	a.all.add(at, entries, prodIdx, label, fallback)
	var bucket *window
	if a.opts.Bucket > 0 {
		key := at.UTC().Truncate(a.opts.Bucket)
		w := a.lastBucket
		if w == nil || !key.Equal(a.lastKey) { // records mostly arrive in time order
			w = a.buckets[key]
			if w == nil {
				w = newWindow()
				a.buckets[key] = w
			}
			a.lastKey, a.lastBucket = key, w
		}
		w.add(at, entries, prodIdx, label, fallback)
		bucket = w
	}
	if prodIdx < 0 {
		return
	}
	prod := entries[prodIdx]
	if !at.Before(a.lastProdAt) {
		a.lastProd, a.lastProdAt = prod.name, at
	}
	if label == nil || prod.res.prediction == nil {
		return
	}
	addPairs(a.pairs, entries, prodIdx, *label)
	if bucket != nil {
		if bucket.pairs == nil {
			bucket.pairs = map[string]*PairedCounts{}
		}
		addPairs(bucket.pairs, entries, prodIdx, *label)
	}
}

// modelEntry is the part of one model's result the metrics read, copied out
// of a record (a whole ModelResult is several times larger).
type modelEntry struct {
	name string
	res  modelFields
}

type modelFields struct {
	role        model.Role
	version     string
	status      record.Status
	prediction  *int
	probability *float64
	latencyUS   int64
	served      bool
}

func (w *window) add(at time.Time, entries []modelEntry, prodIdx int, label *int, fallback bool) {
	w.requests++
	if fallback {
		w.fallbacks++
	}
	if label != nil {
		w.labelled++
	}
	if w.first.IsZero() || at.Before(w.first) {
		w.first = at
	}
	if at.After(w.last) {
		w.last = at
	}
	var prodPred *int
	if prodIdx >= 0 {
		prodPred = entries[prodIdx].res.prediction
	}
	for i := range entries {
		e := &entries[i]
		m := w.models[e.name]
		if m == nil {
			m = &modelAcc{latency: map[int64]int64{}}
			w.models[e.name] = m
		}
		m.addResult(at, &e.res, label)
		if i != prodIdx && prodPred != nil && e.res.prediction != nil {
			m.agreeN++
			if *e.res.prediction == *prodPred {
				m.agreeEq++
			}
		}
	}
}

func (m *modelAcc) addResult(at time.Time, r *modelFields, label *int) {
	if m.seenAt.IsZero() || !at.Before(m.seenAt) {
		m.role, m.version, m.seenAt = r.role, r.version, at
	}
	m.requests++
	if r.served {
		m.served++
	}
	switch r.status {
	case record.StatusOK:
		m.status.OK++
	case record.StatusError:
		m.status.Error++
	case record.StatusTimeout:
		m.status.Timeout++
	case record.StatusSkipped:
		m.status.Skipped++
	case record.StatusLate:
		m.status.Late++
	}
	if r.prediction == nil {
		return
	}
	pred := *r.prediction
	m.answered++
	m.latency[r.latencyUS]++
	if pred == 1 {
		m.positive++
	}
	var prob float64
	hasProb := r.probability != nil && *r.probability >= 0 && *r.probability <= 1
	if hasProb {
		prob = *r.probability
	}
	if label == nil {
		if hasProb {
			m.cbpe.Add(pred, prob)
		}
		return
	}
	m.conf.Add(*label, pred)
	if hasProb {
		m.probN++
		m.logLoss += LogLossTerm(*label, prob)
		m.brier += (prob - float64(*label)) * (prob - float64(*label))
		m.auc.Add(prob, *label)
	}
}

// Merge adds everything b accumulated into a (for parallel scans). Both
// must use the same bucket width.
func (a *MetricsAccumulator) Merge(b *MetricsAccumulator) error {
	if a.opts.Bucket != b.opts.Bucket {
		return fmt.Errorf("merge metrics: bucket widths differ (%v vs %v)", a.opts.Bucket, b.opts.Bucket)
	}
	a.all.merge(b.all)
	for k, w := range b.buckets {
		if a.buckets[k] == nil {
			a.buckets[k] = newWindow()
		}
		a.buckets[k].merge(w)
	}
	mergePairs(a.pairs, b.pairs)
	if b.lastProd != "" && !b.lastProdAt.Before(a.lastProdAt) {
		a.lastProd, a.lastProdAt = b.lastProd, b.lastProdAt
	}
	return nil
}

func (w *window) merge(b *window) {
	w.requests += b.requests
	w.labelled += b.labelled
	w.fallbacks += b.fallbacks
	if w.first.IsZero() || (!b.first.IsZero() && b.first.Before(w.first)) {
		w.first = b.first
	}
	if b.last.After(w.last) {
		w.last = b.last
	}
	if len(b.pairs) > 0 {
		if w.pairs == nil {
			w.pairs = map[string]*PairedCounts{}
		}
		mergePairs(w.pairs, b.pairs)
	}
	for name, bm := range b.models {
		m := w.models[name]
		if m == nil {
			m = &modelAcc{latency: map[int64]int64{}}
			w.models[name] = m
		}
		if m.seenAt.IsZero() || !bm.seenAt.Before(m.seenAt) {
			m.role, m.version, m.seenAt = bm.role, bm.version, bm.seenAt
		}
		m.requests += bm.requests
		m.served += bm.served
		m.status.OK += bm.status.OK
		m.status.Error += bm.status.Error
		m.status.Timeout += bm.status.Timeout
		m.status.Skipped += bm.status.Skipped
		m.status.Late += bm.status.Late
		for k, v := range bm.latency {
			m.latency[k] += v
		}
		m.answered += bm.answered
		m.positive += bm.positive
		m.agreeN += bm.agreeN
		m.agreeEq += bm.agreeEq
		m.conf.TN += bm.conf.TN
		m.conf.FP += bm.conf.FP
		m.conf.FN += bm.conf.FN
		m.conf.TP += bm.conf.TP
		m.probN += bm.probN
		m.logLoss += bm.logLoss
		m.brier += bm.brier
		m.auc.Merge(&bm.auc)
		m.cbpe.TP += bm.cbpe.TP
		m.cbpe.FP += bm.cbpe.FP
		m.cbpe.FN += bm.cbpe.FN
		m.cbpe.TN += bm.cbpe.TN
		m.cbpe.N += bm.cbpe.N
	}
}

// MetricsReport is the JSON body of GET /v1/metrics.
type MetricsReport struct {
	// Requests and Labelled count records (not model results).
	Requests int64 `json:"requests"`
	Labelled int64 `json:"labelled"`
	// Fallbacks counts requests answered by a fallback model.
	Fallbacks int64 `json:"fallbacks"`
	// From and To are the earliest and latest received_at seen (null when
	// empty).
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
	// Models are ordered production, canary, challengers, then by name.
	Models []ModelMetrics `json:"models"`
	// BucketSeconds is the bucket width (0 without buckets).
	BucketSeconds float64 `json:"bucket_seconds,omitempty"`
	// Buckets are in time order; empty buckets are absent.
	Buckets []BucketMetrics `json:"buckets,omitempty"`
}

// BucketMetrics are the figures of one time bucket [start, start+width).
type BucketMetrics struct {
	Start    time.Time `json:"start"`
	Requests int64     `json:"requests"`
	Labelled int64     `json:"labelled"`
	// Fallbacks counts requests answered by a fallback model.
	Fallbacks int64          `json:"fallbacks"`
	Models    []ModelMetrics `json:"models"`
}

// StatusCounts counts a model's results by status.
type StatusCounts struct {
	OK      int64 `json:"ok"`
	Error   int64 `json:"error"`
	Timeout int64 `json:"timeout"`
	Skipped int64 `json:"skipped"`
	Late    int64 `json:"late"`
}

// Latency holds latency percentiles in milliseconds over answered results
// (status ok or late); null when there are none. Exact: numpy's linear
// interpolation between order statistics.
type Latency struct {
	P50 *float64 `json:"p50"`
	P95 *float64 `json:"p95"`
	P99 *float64 `json:"p99"`
}

// ModelMetrics are one model's live figures. Ratios are null when undefined
// (no answered, labelled or unlabelled results).
type ModelMetrics struct {
	Model    string     `json:"model"`
	Role     model.Role `json:"role"`
	Version  string     `json:"version"`
	Requests int64      `json:"requests"`
	// Served counts the requests this model's answer was returned for.
	Served int64        `json:"served"`
	Status StatusCounts `json:"status"`
	// Answered counts results with a prediction (ok or late).
	Answered  int64   `json:"answered"`
	LatencyMS Latency `json:"latency_ms"`
	// PositiveRate is the share of answered results predicting class 1.
	PositiveRate *float64 `json:"positive_rate"`
	// Agreement is the share of requests answered by both this model and
	// that request's production model (another model) where both predicted
	// the same class; null when there is none (production all along).
	// AgreementN is that number of requests.
	Agreement  *float64 `json:"agreement"`
	AgreementN int64    `json:"agreement_n"`
	// Labelled holds metrics on answered results with a label.
	Labelled LabelledMetrics `json:"labelled"`
	// Estimated holds CBPE estimates on answered unlabelled results with a
	// probability.
	Estimated EstimatedMetrics `json:"estimated"`
}

// LabelledMetrics are scikit-learn's metrics on labelled results. ROC AUC,
// log-loss and Brier use the results that carry a probability
// (ProbabilityN of them).
type LabelledMetrics struct {
	N            int64    `json:"n"`
	Accuracy     *float64 `json:"accuracy"`
	Precision    *float64 `json:"precision"`
	Recall       *float64 `json:"recall"`
	F1           *float64 `json:"f1"`
	ProbabilityN int64    `json:"probability_n"`
	ROCAUC       *float64 `json:"roc_auc"`
	LogLoss      *float64 `json:"log_loss"`
	Brier        *float64 `json:"brier"`
	// Confusion is [[tn, fp], [fn, tp]] (scikit-learn's layout).
	Confusion [2][2]int64 `json:"confusion_matrix"`
}

// EstimatedMetrics are CBPE label-free estimates.
type EstimatedMetrics struct {
	N         int64    `json:"n"`
	Accuracy  *float64 `json:"accuracy"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	F1        *float64 `json:"f1"`
}

// ptr returns &v, or nil when v is not finite.
func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Result returns the figures accumulated so far. It does not reset the
// accumulator; Add may continue afterwards.
func (a *MetricsAccumulator) Result() MetricsReport {
	rep := MetricsReport{
		Requests:  a.all.requests,
		Labelled:  a.all.labelled,
		Fallbacks: a.all.fallbacks,
		Models:    a.all.result(),
	}
	if !a.all.first.IsZero() {
		f, l := a.all.first, a.all.last
		rep.From, rep.To = &f, &l
	}
	if a.opts.Bucket > 0 {
		rep.BucketSeconds = a.opts.Bucket.Seconds()
		keys := make([]time.Time, 0, len(a.buckets))
		for k := range a.buckets {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y time.Time) int { return x.Compare(y) })
		for _, k := range keys {
			w := a.buckets[k]
			rep.Buckets = append(rep.Buckets, BucketMetrics{Start: k, Requests: w.requests, Labelled: w.labelled, Fallbacks: w.fallbacks, Models: w.result()})
		}
	}
	return rep
}

func (w *window) result() []ModelMetrics {
	out := make([]ModelMetrics, 0, len(w.models))
	for name, m := range w.models {
		out = append(out, m.result(name))
	}
	slices.SortFunc(out, func(x, y ModelMetrics) int {
		if c := x.Role.Rank() - y.Role.Rank(); c != 0 {
			return c
		}
		return strings.Compare(x.Model, y.Model)
	})
	return out
}

func (m *modelAcc) result(name string) ModelMetrics {
	mm := ModelMetrics{
		Model:    name,
		Role:     m.role,
		Version:  m.version,
		Requests: m.requests,
		Served:   m.served,
		Status:   m.status,
		Answered: m.answered,
	}
	if m.answered > 0 {
		mm.PositiveRate = ptr(float64(m.positive) / float64(m.answered))
		p := latencyPercentiles(m.latency, []float64{50, 95, 99})
		mm.LatencyMS = Latency{P50: ptr(p[0]), P95: ptr(p[1]), P99: ptr(p[2])}
	}
	// agreeN counts only the requests this model was not production for,
	// so a model promoted within the window has its agreement from before.
	if m.agreeN > 0 {
		mm.Agreement = ptr(float64(m.agreeEq) / float64(m.agreeN))
	}
	mm.AgreementN = m.agreeN
	l := &mm.Labelled
	l.N = m.conf.N()
	l.Confusion = m.conf.Matrix()
	if l.N > 0 {
		l.Accuracy = ptr(m.conf.Accuracy())
		l.Precision = ptr(m.conf.Precision())
		l.Recall = ptr(m.conf.Recall())
		l.F1 = ptr(m.conf.F1())
	}
	l.ProbabilityN = m.probN
	if m.probN > 0 {
		l.ROCAUC = ptr(m.auc.AUC())
		l.LogLoss = ptr(m.logLoss / float64(m.probN))
		l.Brier = ptr(m.brier / float64(m.probN))
	}
	e := &mm.Estimated
	e.N = m.cbpe.N
	if e.N > 0 {
		e.Accuracy = ptr(m.cbpe.Accuracy())
		e.Precision = ptr(m.cbpe.Precision())
		e.Recall = ptr(m.cbpe.Recall())
		e.F1 = ptr(m.cbpe.F1())
	}
	return mm
}

// latencyPercentiles returns the percentiles (0–100) of the latencies held
// as µs → count, in milliseconds, with numpy's linear interpolation.
func latencyPercentiles(counts map[int64]int64, ps []float64) []float64 {
	keys := make([]int64, 0, len(counts))
	var n int64
	for k, c := range counts {
		keys = append(keys, k)
		n += c
	}
	slices.Sort(keys)
	// at returns the i-th order statistic (0-based).
	at := func(i int64) float64 {
		var cum int64
		for _, k := range keys {
			cum += counts[k]
			if i < cum {
				return float64(k)
			}
		}
		return float64(keys[len(keys)-1])
	}
	out := make([]float64, len(ps))
	for j, p := range ps {
		pos := p / 100 * float64(n-1)
		lo := int64(math.Floor(pos))
		frac := pos - float64(lo)
		v := at(lo)
		if frac > 0 && lo+1 < n {
			v += frac * (at(lo+1) - v)
		}
		out[j] = v / 1000
	}
	return out
}

// Verdict is the outcome of a challenger comparison.
type Verdict string

// The verdicts.
const (
	VerdictChallengerBetter Verdict = "challenger_better"
	VerdictNoDifference     Verdict = "no_difference"
	VerdictProductionBetter Verdict = "production_better"
	VerdictInsufficientData Verdict = "insufficient_data"
)

// DefaultMinPairs is the default minimum of labelled pairs for a verdict.
const DefaultMinPairs = 200

// CompareAlpha is the significance level of the McNemar test in Compare.
const CompareAlpha = 0.05

// Comparison is the JSON body of GET /v1/compare: production against one
// challenger on the requests labelled and answered by both.
type Comparison struct {
	// Production is the latest production model seen (pairs always use each
	// record's own production model).
	Production string `json:"production"`
	Challenger string `json:"challenger"`
	Pairs      int64  `json:"pairs"`
	MinPairs   int    `json:"min_pairs"`
	// Accuracies on the pairs; null without pairs.
	ProductionAccuracy *float64 `json:"production_accuracy"`
	ChallengerAccuracy *float64 `json:"challenger_accuracy"`
	// Difference is challenger − production accuracy with its exact
	// conditional 95 % interval (PairedAccuracyDiffExact): it excludes 0
	// exactly when McNemarPValue < 0.05, so it always agrees with Verdict.
	Difference *float64 `json:"difference"`
	CI95Low    *float64 `json:"ci95_low"`
	CI95High   *float64 `json:"ci95_high"`
	// Discordant pairs: only production right, only the challenger right.
	ProductionOnlyRight int64 `json:"production_only_right"`
	ChallengerOnlyRight int64 `json:"challenger_only_right"`
	// McNemarPValue is McNemar's exact two-sided p-value (null without
	// pairs).
	McNemarPValue *float64 `json:"mcnemar_p_value"`
	// Verdict: insufficient_data below MinPairs pairs; otherwise
	// challenger_better or production_better when p < 0.05 (by the sign of
	// the difference), else no_difference.
	Verdict Verdict `json:"verdict"`
}

// Compare compares challenger with production on the labelled requests both
// answered. minPairs ≤ 0 means DefaultMinPairs. It fails with
// ErrUnknownModel when challenger was never seen or is only ever
// production.
func (a *MetricsAccumulator) Compare(challenger string, minPairs int) (Comparison, error) {
	if minPairs <= 0 {
		minPairs = DefaultMinPairs
	}
	if _, ok := a.all.models[challenger]; !ok {
		return Comparison{}, fmt.Errorf("compare %q: %w", challenger, ErrUnknownModel)
	}
	if challenger == a.lastProd {
		return Comparison{}, fmt.Errorf("compare %q: %w: it is the production model", challenger, ErrUnknownModel)
	}
	var pc PairedCounts
	if p := a.pairs[challenger]; p != nil {
		pc = *p
	}
	return ComparePairs(a.lastProd, challenger, pc, minPairs), nil
}

// BucketComparison is a challenger comparison on the records of one time
// bucket (MetricsOptions.Bucket).
type BucketComparison struct {
	Start time.Time `json:"start"`
	Comparison
}

// CompareBuckets compares challenger with production in every bucket
// (oldest first), each on its own pairs and with its own verdict; empty
// without buckets. The production named is the latest of the whole range.
func (a *MetricsAccumulator) CompareBuckets(challenger string, minPairs int) []BucketComparison {
	if minPairs <= 0 {
		minPairs = DefaultMinPairs
	}
	keys := make([]time.Time, 0, len(a.buckets))
	for k := range a.buckets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y time.Time) int { return x.Compare(y) })
	out := make([]BucketComparison, 0, len(keys))
	for _, k := range keys {
		var pc PairedCounts
		if p := a.buckets[k].pairs[challenger]; p != nil {
			pc = *p
		}
		out = append(out, BucketComparison{Start: k, Comparison: ComparePairs(a.lastProd, challenger, pc, minPairs)})
	}
	return out
}

// ComparePairs builds a Comparison from paired counts (A = production,
// B = challenger).
func ComparePairs(production, challenger string, pc PairedCounts, minPairs int) Comparison {
	c := Comparison{
		Production:          production,
		Challenger:          challenger,
		Pairs:               pc.N(),
		MinPairs:            minPairs,
		ProductionOnlyRight: pc.OnlyA,
		ChallengerOnlyRight: pc.OnlyB,
		Verdict:             VerdictInsufficientData,
	}
	if c.Pairs == 0 {
		return c
	}
	n := float64(c.Pairs)
	c.ProductionAccuracy = ptr(float64(pc.BothRight+pc.OnlyA) / n)
	c.ChallengerAccuracy = ptr(float64(pc.BothRight+pc.OnlyB) / n)
	d, lo, hi := PairedAccuracyDiffExact(pc)
	c.Difference, c.CI95Low, c.CI95High = ptr(d), ptr(lo), ptr(hi)
	mc := McNemarExact(int(pc.OnlyA), int(pc.OnlyB))
	c.McNemarPValue = ptr(mc.PValue)
	if c.Pairs < int64(minPairs) {
		return c
	}
	switch {
	case mc.PValue < CompareAlpha && d > 0:
		c.Verdict = VerdictChallengerBetter
	case mc.PValue < CompareAlpha && d < 0:
		c.Verdict = VerdictProductionBetter
	default:
		c.Verdict = VerdictNoDifference
	}
	return c
}
