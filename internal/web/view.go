package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Limits that keep one page build bounded.
const (
	// maxBuckets is the most time buckets drawn; the bucket width is the
	// smallest of bucketWidths giving at most this many over the window.
	maxBuckets = 24
	// minBucketRows is the fewest requests a bucket needs for its drift to
	// be tested (fewer gives a gap, not a noisy share).
	minBucketRows = 20
	// DefaultRecent is the number of recent requests listed.
	DefaultRecent = 25
)

// bucketWidths are the candidate bucket widths, smallest first.
var bucketWidths = []time.Duration{
	5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour,
	6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour,
}

// bucketWidth returns the smallest candidate width that cuts span into at
// most maxBuckets buckets holding, with rows records in the span (fewer
// than maxBuckets×minBucketRows: counted all), minBucketRows on average.
func bucketWidth(span time.Duration, rows int) time.Duration {
	for _, w := range bucketWidths {
		if span > w*maxBuckets {
			continue
		}
		if rows < maxBuckets*minBucketRows && time.Duration(rows)*w < span*minBucketRows {
			continue
		}
		return w
	}
	return bucketWidths[len(bucketWidths)-1]
}

// view is everything one page (or report) shows.
type view struct {
	Title     string
	Static    bool
	Generated time.Time
	From, To  time.Time // the window drawn (From zero: no data)
	Range     string
	Refresh   int
	Ranges    []rangeOption
	Refreshes []refreshOption

	Requests    int64
	Labelled    int64
	Rejected    int64
	Fallbacks   int64
	Unavailable int64
	// DriftedColumns of TestedColumns of production's drift report (its
	// inputs and its predicted probability, as the dataset-drift rule
	// counts them); Insufficient more say insufficient_data.
	DriftedColumns int
	TestedColumns  int
	Insufficient   int
	MinSample      int
	DatasetDrift   bool

	Models      []modelRow
	DriftModel  string
	DriftRows   int
	RefRows     int
	Inputs      []driftCard
	Predictions []driftCard
	Bucket      time.Duration
	Timeline    []chart
	ModelNames  []string
	Recent      []recentRow
	Records     []recordView // static report: the recent requests in full
	// Events are the deployment changes in the window, newest first.
	Events   []eventRow
	Problems []string // non-fatal: a figure that could not be computed
}

type rangeOption struct {
	Key, Label string
	Dur        time.Duration
	Selected   bool
}

type refreshOption struct {
	Seconds  int
	Label    string
	Selected bool
}

// modelRow is one line of the Models table.
type modelRow struct {
	Name, Role, Version string
	Configured          bool
	Requests            int64
	Served              string
	Accuracy            string
	AccuracyN           int64
	Estimate            string // CBPE estimate, when there is one
	EstimateN           int64
	Agreement           string
	AgreementN          int64
	P50, P99            string
	ErrorRate           string
	TimeoutRate         string
	Verdict             string // analysis.Verdict, "" for production
	VerdictText         string
	VerdictDetail       string
}

// driftCard is one column's live-versus-reference picture and test.
type driftCard struct {
	ID        string
	Column    string
	Model     string
	Type      string
	Method    string
	MethodDoc string
	Statistic string
	PValue    string
	Threshold string
	Rule      string
	PSI       string
	Drifted   bool
	// Insufficient: fewer current values than the minimum, no verdict.
	Insufficient bool
	Chart        chart
}

// recentRow is one line of the Recent requests table.
type recentRow struct {
	ID, EntityID, Status string
	ReceivedAt           time.Time
	ServedBy, Reason     string
	Cells                []predictionCell
	byModel              map[string]predictionCell
}

type predictionCell struct {
	Present    bool
	Label      string
	Prediction string
	Prob       string
	Status     string
}

// recordView is one full record.
type recordView struct {
	ID, EntityID, Endpoint, Status string
	ReceivedAt                     time.Time
	Inputs                         []kv
	Raw                            string
	Problems                       []kv
	Decision                       *record.Decision
	Models                         []resultView
	Truth                          string
}

type kv struct{ Key, Value string }

type resultView struct {
	Name, Role, Version, Artifact  string
	Prediction, Label, Probability string
	Latency, Status, Error         string
	Features                       []kv
}

// builder computes a view.
type builder struct {
	d   *Dashboard
	ctx context.Context
	v   *view
	// full and truth are the recent records read in full (static report)
	// and their latest labels (nil: none).
	full  []record.Record
	truth []*int
	// evs are the newest deployment events; evErr why they could not be
	// read.
	evs   []store.DeploymentEvent
	evErr error
}

// window resolves the window actually drawn: [since, until) with the
// until end closed by now and the since end by the oldest record in the
// window, so the buckets fit the data's span (a fresh demo in the last
// day's window gets second-sized buckets, not one bar). rows counts the
// records in it, up to maxBuckets×minBucketRows (enough to know that
// buckets as fine as the span allows hold enough rows on average).
func (d *Dashboard) resolve(ctx context.Context, win monitor.Window, now time.Time) (from, to time.Time, rows int, err error) {
	from, to = win.Since, win.Until
	if to.IsZero() {
		to = now
		// Records may carry received_at after now (clock skew, tests):
		// extend to the newest one.
		err = d.store.ScanRecords(ctx, store.ScanParams{Since: win.Since, Descending: true, Limit: 1}, func(rec *record.Record) error {
			if !rec.ReceivedAt.Before(to) {
				to = rec.ReceivedAt.Add(time.Nanosecond)
			}
			return nil
		})
		if err != nil {
			return from, to, 0, fmt.Errorf("find the newest record: %w", err)
		}
	}
	err = d.store.ScanRecords(ctx, store.ScanParams{Since: win.Since, Until: win.Until, Limit: maxBuckets * minBucketRows}, func(rec *record.Record) error {
		if rows == 0 && rec.ReceivedAt.After(from) {
			from = rec.ReceivedAt
		}
		rows++
		return nil
	})
	if err != nil {
		return from, to, 0, fmt.Errorf("find the oldest record: %w", err)
	}
	return from, to, rows, nil
}

// build computes the whole view for win. The store is read by independent
// monitor calls run at most d.parallel at a time: metrics, one comparison
// per non-production model, one drift report per model, one per time
// bucket, and the outcome and recent-request scans. Errors of the store are
// returned; a figure that cannot be computed (a model without a reference
// sample) becomes a Problem on the page.
func (d *Dashboard) build(ctx context.Context, win monitor.Window, static bool) (*view, error) {
	now := d.now()
	v := &view{Title: d.title, Static: static, Generated: now}
	b := &builder{d: d, ctx: ctx, v: v}
	from, to, rows, err := d.resolve(ctx, win, now)
	if err != nil {
		return nil, err
	}
	if !from.IsZero() && to.After(from) {
		v.From, v.To = from, to
		v.Bucket = bucketWidth(to.Sub(from), rows)
	}
	ax := v.axis()
	models, prod := d.rankedModels()

	var (
		tg       = newTasks(d.parallel)
		out      *outcomeCounts
		mr       analysis.MetricsReport
		compares = make([]*analysis.Comparison, len(models))
		drifts   = make([]driftFetch, len(models))
		buckets  = make([]*monitor.DriftResult, len(ax.starts))
	)
	tg.run(func() (err error) { out, err = b.outcomes(win); return err })
	tg.run(func() (err error) {
		if mr, err = d.mon.Metrics(ctx, win, v.Bucket); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	})
	for i, m := range models {
		if m.Role != model.RoleProduction {
			tg.run(func() error {
				c, err := d.mon.Compare(ctx, m.Name, win)
				if errors.Is(err, monitor.ErrUnknownModel) || errors.Is(err, analysis.ErrUnknownModel) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("compare %s: %w", m.Name, err)
				}
				compares[i] = &c
				return nil
			})
		}
		tg.run(func() error {
			res, smp, err := d.mon.Drift(ctx, m.Name, win)
			drifts[i] = driftFetch{model: m, res: res, smp: smp, err: err}
			if err != nil && !errors.Is(err, monitor.ErrNoReference) {
				return fmt.Errorf("drift of %s: %w", m.Name, err)
			}
			return nil
		})
	}
	if prod != "" {
		b.bucketDrift(tg, win, prod, ax, buckets)
	}
	tg.run(func() error { return b.recent(win, static) })
	tg.run(b.events)
	if err := tg.wait(); err != nil {
		return nil, err
	}

	v.Requests, v.Labelled = mr.Requests, mr.Labelled
	compareOf := map[string]*analysis.Comparison{}
	for i, m := range models {
		compareOf[m.Name] = compares[i]
	}
	b.models(mr, out, compareOf)
	b.drift(drifts)
	b.timeline(ax, mr, out, buckets)
	b.markEvents(ax)
	b.eventPanel()
	b.recentColumns()
	b.records()
	return v, nil
}

// axis is the view's time buckets (none without a bucket width).
func (v *view) axis() timeAxis {
	ax := timeAxis{width: v.Bucket}
	if v.Bucket > 0 {
		for t := v.From.UTC().Truncate(v.Bucket); t.Before(v.To); t = t.Add(v.Bucket) {
			ax.starts = append(ax.starts, t)
		}
	}
	return ax
}

// rankedModels is the monitor's models by role (production first) and
// production's name ("" without one).
func (d *Dashboard) rankedModels() ([]monitor.Model, string) {
	models := d.mon.Models()
	slices.SortStableFunc(models, func(x, y monitor.Model) int { return cmp.Compare(x.Role.Rank(), y.Role.Rank()) })
	for _, m := range models {
		if m.Role == model.RoleProduction {
			return models, m.Name
		}
	}
	return models, ""
}

// bucketDrift runs on tg one drift report of production per time bucket
// of ax (clipped to win), into buckets.
func (b *builder) bucketDrift(tg *tasks, win monitor.Window, prod string, ax timeAxis, buckets []*monitor.DriftResult) {
	for i, t := range ax.starts {
		tg.run(func() error {
			w := monitor.Window{Since: t, Until: t.Add(ax.width)}
			if !win.Since.IsZero() && w.Since.Before(win.Since) {
				w.Since = win.Since
			}
			if !win.Until.IsZero() && w.Until.After(win.Until) {
				w.Until = win.Until
			}
			res, _, err := b.d.mon.Drift(b.ctx, prod, w)
			if errors.Is(err, monitor.ErrNoReference) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("drift of bucket %s: %w", t.Format(time.RFC3339), err)
			}
			buckets[i] = &res
			return nil
		})
	}
}

// driftFetch is one model's drift report (err: ErrNoReference or nil).
type driftFetch struct {
	model monitor.Model
	res   monitor.DriftResult
	smp   monitor.Samples
	err   error
}

// tasks runs functions concurrently, at most n at a time, and keeps the
// first error.
type tasks struct {
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func newTasks(n int) *tasks { return &tasks{sem: make(chan struct{}, max(n, 1))} }

func (t *tasks) run(fn func() error) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.sem <- struct{}{}
		defer func() { <-t.sem }()
		if err := fn(); err != nil {
			t.mu.Lock()
			if t.err == nil {
				t.err = err
			}
			t.mu.Unlock()
		}
	}()
}

func (t *tasks) wait() error {
	t.wg.Wait()
	return t.err
}

// outcomeCounts are what the monitor does not count: who served, and the
// request outcomes per bucket.
type outcomeCounts struct {
	served                           map[string]int64
	accepts                          int64
	rejected, fallbacks, unavailable int64
	bucket                           map[time.Time]*[4]float64 // preferred, fallback, unavailable, rejected
}

// outcomes reads the lean record summaries (store.ScanSummaries) of the
// window.
func (b *builder) outcomes(win monitor.Window) (*outcomeCounts, error) {
	oc := &outcomeCounts{served: map[string]int64{}, bucket: map[time.Time]*[4]float64{}}
	w := b.v.Bucket
	err := store.ScanSummaries(b.ctx, b.d.store, store.SummaryParams{ScanParams: store.ScanParams{Since: win.Since, Until: win.Until}}, func(rec *record.Summary) error {
		var k time.Time
		if w > 0 {
			k = rec.ReceivedAt.UTC().Truncate(w)
		}
		c := oc.bucket[k]
		if c == nil {
			c = new([4]float64)
			oc.bucket[k] = c
		}
		if rec.Status == record.RequestRejected {
			c[3]++
			oc.rejected++
			return nil
		}
		oc.accepts++
		switch {
		case rec.Status == record.RequestUnavailable || rec.ServedBy == "":
			c[2]++
			oc.unavailable++
		case rec.DecisionReason == "fallback":
			c[1]++
			oc.fallbacks++
		default:
			c[0]++
		}
		if rec.ServedBy != "" {
			oc.served[rec.ServedBy]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan records: %w", err)
	}
	return oc, nil
}

func ratio(n, d int64) string {
	if d <= 0 {
		return ""
	}
	return pct1(float64(n) / float64(d))
}

func ptrPct(p *float64) string {
	if p == nil {
		return ""
	}
	return pct1(*p)
}

func ms(p *float64) string {
	if p == nil {
		return ""
	}
	v := *p
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}

// models fills the Models table: every model seen in the window, then the
// configured ones without traffic.
func (b *builder) models(mr analysis.MetricsReport, oc *outcomeCounts, compares map[string]*analysis.Comparison) {
	b.v.Rejected, b.v.Fallbacks, b.v.Unavailable = oc.rejected, oc.fallbacks, oc.unavailable
	configured := map[string]monitor.Model{}
	for _, m := range b.d.mon.Models() {
		configured[m.Name] = m
	}
	seen := map[string]bool{}
	var rows []modelRow
	for _, mm := range mr.Models {
		seen[mm.Model] = true
		_, ok := configured[mm.Model]
		rows = append(rows, modelRow{
			Name: mm.Model, Role: string(mm.Role), Version: mm.Version, Configured: ok, Requests: mm.Requests,
			Served:      ratio(oc.served[mm.Model], oc.accepts),
			Accuracy:    ptrPct(mm.Labelled.Accuracy),
			AccuracyN:   mm.Labelled.N,
			Estimate:    ptrPct(mm.Estimated.Accuracy),
			EstimateN:   mm.Estimated.N,
			Agreement:   ptrPct(mm.Agreement),
			AgreementN:  mm.AgreementN,
			P50:         ms(mm.LatencyMS.P50),
			P99:         ms(mm.LatencyMS.P99),
			ErrorRate:   ratio(mm.Status.Error, mm.Requests),
			TimeoutRate: ratio(mm.Status.Timeout, mm.Requests),
		})
	}
	for _, m := range b.d.mon.Models() {
		if !seen[m.Name] {
			rows = append(rows, modelRow{Name: m.Name, Role: string(m.Role), Configured: true})
		}
	}
	for i := range rows {
		r := &rows[i]
		if c := compares[r.Name]; c != nil && r.Role != string(model.RoleProduction) {
			r.Verdict = string(c.Verdict)
			r.VerdictText, r.VerdictDetail = verdictText(*c)
		}
	}
	b.v.Models = rows
}

// verdictText says a comparison in words.
func verdictText(c analysis.Comparison) (text, detail string) {
	switch c.Verdict {
	case analysis.VerdictChallengerBetter:
		text = "better than production"
	case analysis.VerdictProductionBetter:
		text = "worse than production"
	case analysis.VerdictNoDifference:
		text = "no significant difference"
	default:
		text = "insufficient data"
	}
	if c.Verdict == analysis.VerdictInsufficientData || c.Difference == nil {
		return text, fmt.Sprintf("%d of %d labelled pairs needed", c.Pairs, c.MinPairs)
	}
	detail = fmt.Sprintf("Δ accuracy %s pts (95%% CI %s to %s), McNemar p = %s, %d pairs",
		signedPts(*c.Difference), signedPts(deref(c.CI95Low)), signedPts(deref(c.CI95High)), fmtP(c.McNemarPValue), c.Pairs)
	return text, detail
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func signedPts(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v*100, 'f', 1, 64)
}

func fmtP(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmtNum(*p)
}

// fmtNum prints a statistic with 3 significant digits.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.IsInf(v, 1):
		return "∞"
	case v != 0 && math.Abs(v) < 1e-3:
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fmtStat prints a test statistic or distance; below 1e-12 it is the
// rounding noise of an exact zero (identical samples) and prints as 0.
func fmtStat(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	return fmtNum(v)
}

var methodDocs = map[analysis.Method]string{
	analysis.MethodKS:            "Kolmogorov–Smirnov test",
	analysis.MethodChiSquare:     "chi-square test",
	analysis.MethodZ:             "two-proportion z-test",
	analysis.MethodWasserstein:   "Wasserstein distance / reference σ",
	analysis.MethodJensenShannon: "Jensen–Shannon distance",
	analysis.MethodPSI:           "population stability index",
}

// drift fills the Inputs and prediction cards: production's report gives
// the inputs and its prediction; every other model with a reference adds
// its prediction.
func (b *builder) drift(fetches []driftFetch) {
	for _, f := range fetches {
		m := f.model
		if f.err != nil { // no reference sample
			if m.Role == model.RoleProduction {
				b.v.Problems = append(b.v.Problems, fmt.Sprintf("Input drift needs the production model's reference sample; %s has none.", m.Name))
			}
			continue
		}
		prod := m.Role == model.RoleProduction && b.v.DriftModel == ""
		if prod {
			b.v.DriftModel, b.v.DriftRows, b.v.RefRows = m.Name, f.res.CurrentRows, f.res.ReferenceRows
			b.v.DatasetDrift = f.res.DatasetDrift
			b.v.DriftedColumns, b.v.TestedColumns = f.res.Counts()
			b.v.Insufficient = len(f.res.Columns) - b.v.TestedColumns
			b.v.MinSample = f.res.MinSample
		}
		for _, cd := range f.res.Columns {
			isProb := cd.Column == monitor.ProbabilityColumn
			if !isProb && !prod {
				continue
			}
			card := b.card(m.Name, cd, f.smp, isProb)
			if isProb {
				b.v.Predictions = append(b.v.Predictions, card)
				continue
			}
			b.v.Inputs = append(b.v.Inputs, card)
		}
	}
}

// card builds one drift card and its chart.
func (b *builder) card(modelName string, cd analysis.ColumnDrift, smp monitor.Samples, isProb bool) driftCard {
	c := driftCard{
		Column: cd.Column, Model: modelName, Type: string(cd.Type), Method: string(cd.Method), MethodDoc: methodDocs[cd.Method],
		Statistic: fmtStat(float64(cd.Statistic)), Threshold: fmtNum(cd.Threshold), PSI: fmtStat(float64(cd.PSI)), Drifted: cd.Drifted,
		Insufficient: cd.Verdict == analysis.DriftVerdictInsufficient,
	}
	if cd.PValue != nil {
		c.PValue = fmtNum(*cd.PValue)
	}
	if cd.Method.IsTest() {
		c.Rule = "drifted when p < " + fmtNum(cd.Threshold)
	} else {
		c.Rule = "drifted when ≥ " + fmtNum(cd.Threshold)
	}
	title, xLabel := cd.Column, cd.Column
	c.ID = "drift-" + cd.Column
	if isProb {
		title = "Predicted probability — " + modelName
		xLabel = "probability of the positive class"
		c.ID = "pred-" + modelName
	}
	rc, _ := smp.Reference.Column(cd.Column)
	cc, _ := smp.Current.Column(cd.Column)
	if cd.Type == analysis.TypeNumeric && rc.IsNumeric() && cc.IsNumeric() {
		lo, hi := 0.0, 0.0
		if isProb {
			lo, hi = 0, 1
		}
		c.Chart = histogramChart("c-"+c.ID, title, xLabel, finite(rc), finite(cc), lo, hi)
	} else {
		c.Chart = categoryChart("c-"+c.ID, title, xLabel, texts(rc), texts(cc))
	}
	c.Chart.HideCaption = true
	c.Chart.Note = fmt.Sprintf("%d reference and %d live values; missing: %d reference, %d live.",
		cd.ReferenceN, cd.CurrentN, cd.ReferenceMissing, cd.CurrentMissing)
	return c
}

// finite returns the non-missing numbers of a column with the rows each
// stands for (histogram columns keep their counts).
func finite(c analysis.Column) sample {
	var out sample
	if c.Counts != nil {
		out.w = []int64{}
	}
	for i, x := range c.Numbers {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out.v = append(out.v, x)
			if c.Counts != nil {
				out.w = append(out.w, c.Counts[i])
			}
		}
	}
	return out
}

// texts returns the non-missing values of a column as text (numbers
// formatted shortest-exact, as the drift engine compares them), with the
// rows each stands for.
func texts(c analysis.Column) textSample {
	var out textSample
	if c.Counts != nil {
		out.w = []int64{}
	}
	add := func(i int, s string) {
		out.v = append(out.v, s)
		if c.Counts != nil {
			out.w = append(out.w, c.Counts[i])
		}
	}
	if c.IsNumeric() {
		for i, x := range c.Numbers {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				add(i, strconv.FormatFloat(x, 'g', -1, 64))
			}
		}
		return out
	}
	for i, s := range c.Strings {
		if s != "" {
			add(i, s)
		}
	}
	return out
}

// timeline draws the over-time charts; drifts holds production's drift
// report of each bucket (nil: not computed).
func (b *builder) timeline(ax timeAxis, mr analysis.MetricsReport, oc *outcomeCounts, drifts []*monitor.DriftResult) {
	v := b.v
	idx := make(map[time.Time]int, len(ax.starts))
	for i, t := range ax.starts {
		idx[t] = i
	}
	n := len(ax.starts)
	vals := func() []*float64 { return make([]*float64, n) }

	// Requests by outcome.
	names := []string{"answered by production", "fallback", "unavailable (503)", "rejected (4xx)"}
	out := make([]series, 4)
	for i := range out {
		out[i] = series{Name: names[i], Values: vals()}
	}
	for k, c := range oc.bucket {
		i, ok := idx[k]
		if !ok {
			continue
		}
		for j := range 4 {
			x := c[j]
			out[j].Values[i] = &x
		}
	}
	reqChart := stackedChart("c-requests", "Requests by outcome", "requests per bucket", ax, out)

	// Accuracy and p99 latency per model.
	order := map[string]int{}
	var acc, est, lat []series
	for _, m := range mr.Models {
		order[m.Model] = len(acc)
		acc = append(acc, series{Name: m.Model, Values: vals()})
		est = append(est, series{Name: m.Model, Values: vals()})
		lat = append(lat, series{Name: m.Model, Values: vals()})
	}
	haveAcc := false
	for _, bk := range mr.Buckets {
		i, ok := idx[bk.Start]
		if !ok {
			continue
		}
		for _, m := range bk.Models {
			j, ok := order[m.Model]
			if !ok {
				continue
			}
			if m.Labelled.Accuracy != nil {
				acc[j].Values[i] = m.Labelled.Accuracy
				haveAcc = true
			}
			est[j].Values[i] = m.Estimated.Accuracy
			lat[j].Values[i] = m.LatencyMS.P99
		}
	}
	var accChart chart
	if haveAcc || len(mr.Models) == 0 {
		accChart = lineChart("c-accuracy", "Accuracy per model (labelled requests)", "accuracy", ax, acc, 1, pct, 0, "")
	} else {
		accChart = lineChart("c-accuracy", "Estimated accuracy per model (CBPE, no labels yet)", "estimated accuracy", ax, est, 1, pct, 0, "")
	}
	latChart := lineChart("c-latency", "p99 latency per model", "milliseconds", ax, lat, 0, fmtTick, 0, "")

	// Drift share per bucket, production's reference; buckets with few
	// requests are left out rather than drawn as noise.
	share := series{Name: "share of drifted columns", Values: vals()}
	skipped := 0
	for i, res := range drifts {
		switch {
		case res == nil || res.CurrentRows == 0:
		case res.CurrentRows < minBucketRows:
			skipped++
		default:
			x := res.DriftShare
			share.Values[i] = &x
		}
	}
	driftChart := lineChart("c-drift", "Drift share per bucket", "drifted columns", ax, []series{share}, 1, pct,
		analysis.DefaultDriftShare, "dataset drift")
	driftChart.Note = fmt.Sprintf("Columns: the inputs and %s's predicted probability against its training reference.", v.DriftModel)
	if skipped > 0 {
		driftChart.Note += fmt.Sprintf(" %d bucket(s) with fewer than %d requests not tested.", skipped, minBucketRows)
	}
	if v.DriftModel == "" {
		driftChart.Empty = "No reference sample to compare with."
	}
	v.Timeline = []chart{reqChart, accChart, driftChart, latChart}
}

// recent lists the newest requests of the window (and reads them in full
// for the static report). Cells are filled by recentColumns once the
// models are known.
func (b *builder) recent(win monitor.Window, full bool) error {
	v := b.v
	var ids []string
	err := b.d.store.ScanRecords(b.ctx, store.ScanParams{Since: win.Since, Until: win.Until, Descending: true, Limit: b.d.recentN}, func(rec *record.Record) error {
		r := recentRow{ID: rec.ID, EntityID: rec.EntityID, Status: rec.Status, ReceivedAt: rec.ReceivedAt, byModel: map[string]predictionCell{}}
		if rec.Decision != nil {
			r.ServedBy, r.Reason = rec.Decision.ServedBy, rec.Decision.Reason
		}
		for name, res := range rec.Models {
			c := predictionCell{Present: true, Status: string(res.Status), Label: res.Label}
			if res.Prediction != nil {
				c.Prediction = strconv.Itoa(*res.Prediction)
			}
			if res.Probability != nil {
				c.Prob = strconv.FormatFloat(*res.Probability, 'f', 2, 64)
			}
			r.byModel[name] = c
		}
		v.Recent = append(v.Recent, r)
		ids = append(ids, rec.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan recent records: %w", err)
	}
	if !full {
		return nil
	}
	labels, err := b.d.mon.Labels(b.ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec, err := b.d.store.GetRecord(b.ctx, id)
		if err != nil {
			return fmt.Errorf("read record %s: %w", id, err)
		}
		b.full = append(b.full, rec)
		if l, ok := labels[id]; ok {
			b.truth = append(b.truth, &l.Class)
		} else {
			b.truth = append(b.truth, nil)
		}
	}
	return nil
}

// records turns the records read in full into views. Without configured
// fields the inputs follow the drift report's column order (the monitor's
// fields); without label words a class is named by the word the models
// gave it.
func (b *builder) records() {
	fields := b.d.fields
	if fields == nil {
		for _, c := range b.v.Inputs {
			fields = append(fields, c.Column)
		}
	}
	for i := range b.full {
		rec := &b.full[i]
		rv := b.d.recordViewFields(rec, fields)
		if c := b.truth[i]; c != nil {
			rv.Truth = b.d.labelText(*c)
			if _, ok := b.d.labels[*c]; !ok {
				for _, r := range rec.Models {
					if r.Prediction != nil && *r.Prediction == *c && r.Label != "" {
						rv.Truth = fmt.Sprintf("%d (%s)", *c, r.Label)
						break
					}
				}
			}
		}
		b.v.Records = append(b.v.Records, rv)
	}
}

// recentColumns gives the recent requests one column per model of the
// Models table.
func (b *builder) recentColumns() {
	v := b.v
	for _, m := range v.Models {
		v.ModelNames = append(v.ModelNames, m.Name)
	}
	for i := range v.Recent {
		r := &v.Recent[i]
		for _, name := range v.ModelNames {
			r.Cells = append(r.Cells, r.byModel[name])
		}
	}
}

func (d *Dashboard) labelText(class int) string {
	if w, ok := d.labels[class]; ok {
		return fmt.Sprintf("%d (%s)", class, w)
	}
	return strconv.Itoa(class)
}

// recordView turns a record into display rows: inputs in the configured
// field order (unknown fields after, by name), models by role then name.
func (d *Dashboard) recordView(rec *record.Record) recordView {
	return d.recordViewFields(rec, d.fields)
}

// recordViewFields is recordView with the input fields in the given order.
func (d *Dashboard) recordViewFields(rec *record.Record, fields []string) recordView {
	rv := recordView{ID: rec.ID, EntityID: rec.EntityID, Endpoint: rec.Endpoint, Status: rec.Status, ReceivedAt: rec.ReceivedAt,
		Raw: rec.Raw, Decision: rec.Decision}
	keys := make([]string, 0, len(rec.Input))
	for k := range rec.Input {
		keys = append(keys, k)
	}
	pos := map[string]int{}
	for i, f := range fields {
		pos[f] = i + 1
	}
	slices.SortFunc(keys, func(a, b string) int {
		pa, pb := pos[a], pos[b]
		if pa == 0 {
			pa = math.MaxInt
		}
		if pb == 0 {
			pb = math.MaxInt
		}
		if c := cmp.Compare(pa, pb); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		rv.Inputs = append(rv.Inputs, kv{k, valueText(rec.Input[k])})
	}
	for _, p := range rec.Problems {
		rv.Problems = append(rv.Problems, kv{p.Field, p.Problem})
	}
	names := make([]string, 0, len(rec.Models))
	for n := range rec.Models {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(rec.Models[a].Role.Rank(), rec.Models[b].Role.Rank()); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		r := rec.Models[n]
		mv := resultView{Name: n, Role: string(r.Role), Version: r.Version, Artifact: r.Artifact, Label: r.Label,
			Status: string(r.Status), Error: r.Error, Latency: ms(ptrOf(float64(r.LatencyUS) / 1000))}
		if r.Prediction != nil {
			mv.Prediction = strconv.Itoa(*r.Prediction)
		}
		if r.Probability != nil {
			mv.Probability = strconv.FormatFloat(*r.Probability, 'g', 4, 64)
		}
		for i, name := range r.Features.Names {
			if i < len(r.Features.Values) {
				mv.Features = append(mv.Features, kv{name, strconv.FormatFloat(r.Features.Values[i], 'g', 6, 64)})
			}
		}
		rv.Models = append(rv.Models, mv)
	}
	return rv
}

func ptrOf(v float64) *float64 { return &v }

// valueText prints an input value as the client sent it (after
// validation): null for missing.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
