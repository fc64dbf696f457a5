// Package monitor answers the questions the team asks of live traffic — how
// is each model doing, is the challenger better, have the inputs drifted — by
// scanning a record store and feeding the pure functions of package analysis.
//
// Every backend gives identical answers because nothing is computed in the
// database: the monitor streams records and feedback through Go.
//
// # Scale
//
// Metrics and comparisons read record summaries (store.ScanSummaries: the
// store's compact per-batch projection where it has one, full records
// otherwise) on one goroutine and accumulate them on another, in scan
// order, so the figures are exactly those of a sequential scan of full
// records. The label index (one entry per labelled request) is kept between
// calls when the store has a feedback log (store.FeedbackLogScanner) and
// only new feedback is read. Drift reads the value counts a store keeps per
// write batch where it has them (store.InputCountScanner) and the inputs of
// the other records, and holds the current sample as histograms (one entry
// per distinct value: analysis.HistogramBuilder): exact, since no drift
// figure depends on row order, and memory bounded by the distinct values,
// not the rows. See docs/ANALYSIS.md, section Scale.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Sentinel errors.
var (
	// ErrUnknownModel: a model name that is not configured.
	ErrUnknownModel = errors.New("unknown model")
	// ErrNoReference: the model has no reference sample to compare with.
	ErrNoReference = errors.New("model has no reference sample")
)

// Model is a configured model as the monitor sees it.
type Model struct {
	Name string
	Role model.Role
	// Bundle, when not nil, provides the reference sample for drift and
	// scores it to get the reference distribution of predicted probability.
	Bundle *model.Bundle
}

// Monitor computes live figures from a store. It is safe for concurrent
// use; each call scans the store afresh.
type Monitor struct {
	store    store.Reader
	models   []Model
	fields   []string
	minPairs int
	drift    analysis.DriftOptions
	// refs caches each model's reference table (sample + probabilities).
	refs map[string]analysis.Table
	// labels is the label index kept between calls (see labelIndex).
	labels labelIndex
	// confirmed holds, for a store without a feedback log, the labelled
	// request ids known to be stored (see PendingLabels).
	confirmedMu sync.Mutex
	confirmed   map[string]struct{}
}

// Params configures New.
type Params struct {
	Store  store.Reader
	Models []Model
	// Fields are the input fields compared for drift, in order.
	Fields []string
	// MinLabelledPairs before Compare gives a verdict (0: the default 200).
	MinLabelledPairs int
	Drift            analysis.DriftOptions
}

// ProbabilityColumn is the drift column of a model's predicted probability.
const ProbabilityColumn = "prediction_probability"

// New builds a Monitor. It scores every bundle's reference sample once so
// prediction drift can be measured against the model's own output on its
// training rows.
func New(p Params) (*Monitor, error) {
	m := &Monitor{store: p.Store, models: p.Models, fields: p.Fields, minPairs: p.MinLabelledPairs, drift: p.Drift, refs: map[string]analysis.Table{}}
	if m.minPairs <= 0 {
		m.minPairs = analysis.DefaultMinPairs
	}
	for _, md := range p.Models {
		if md.Bundle == nil || len(md.Bundle.Profile.ReferenceSample.Rows) == 0 {
			continue
		}
		rows := md.Bundle.Profile.ReferenceSample.Rows
		probs := make([]float64, len(rows))
		for i, in := range rows {
			pr, err := md.Bundle.Predict(context.Background(), in)
			if err != nil {
				return nil, fmt.Errorf("score reference sample of %s row %d: %w", md.Name, i, err)
			}
			probs[i] = pr.Probability
		}
		t := analysis.TableFromInputs(rows, p.Fields)
		t.Columns = append(t.Columns, analysis.NumericColumn(ProbabilityColumn, probs))
		m.refs[md.Name] = t
	}
	return m, nil
}

// Models returns the configured models.
func (m *Monitor) Models() []Model { return m.models }

// Window selects records by received_at: Since inclusive, Until exclusive;
// zero means unbounded.
type Window struct {
	Since, Until time.Time
}

func (w Window) scan() store.ScanParams { return store.ScanParams{Since: w.Since, Until: w.Until} }

// WarmLabels builds the label index ahead of the first call that needs it
// (see labelIndex), so a server that calls it at start answers its first
// /v1/metrics without reading the whole feedback log then. Calls made
// meanwhile wait for it and then read only newer feedback. A store without
// a feedback log keeps no index: there is nothing to warm.
func (m *Monitor) WarmLabels(ctx context.Context) error {
	if _, ok := m.store.(store.FeedbackLogScanner); !ok {
		return nil
	}
	_, release, err := m.acquireLabels(ctx)
	if err != nil {
		return err
	}
	release()
	return nil
}

// Labels returns the latest label of every labelled request, from the
// label index.
func (m *Monitor) Labels(ctx context.Context) (map[string]Label, error) {
	l, release, err := m.acquireLabels(ctx)
	if err != nil {
		return nil, fmt.Errorf("read feedback: %w", err)
	}
	defer release()
	return l.all(), nil
}

// accumulate scans the window into a fresh accumulator: the summaries of
// every non-rejected record (store.ScanSummaries: a backend's lean
// projection when it has one, else decoded full records), each with its
// latest label.
func (m *Monitor) accumulate(ctx context.Context, w Window, bucket time.Duration) (*analysis.MetricsAccumulator, error) {
	labels, release, err := m.acquireLabels(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	acc := analysis.NewMetricsAccumulator(analysis.MetricsOptions{Bucket: bucket})
	if err := m.scanMetrics(ctx, w, labels, acc); err != nil {
		return nil, err
	}
	return acc, nil
}

// Metrics returns every model's live figures over w, per bucket as well when
// bucket > 0.
func (m *Monitor) Metrics(ctx context.Context, w Window, bucket time.Duration) (analysis.MetricsReport, error) {
	acc, err := m.accumulate(ctx, w, bucket)
	if err != nil {
		return analysis.MetricsReport{}, err
	}
	return acc.Result(), nil
}

// Compare compares challenger with production on requests labelled and
// answered by both within w.
func (m *Monitor) Compare(ctx context.Context, challenger string, w Window) (analysis.Comparison, error) {
	acc, err := m.accumulate(ctx, w, 0)
	if err != nil {
		return analysis.Comparison{}, err
	}
	c, err := acc.Compare(challenger, m.minPairs)
	if errors.Is(err, analysis.ErrUnknownModel) {
		if !m.known(challenger) {
			// Neither configured nor in any record of the window (a model
			// added at runtime is known by its records).
			return analysis.Comparison{}, fmt.Errorf("%w %q", ErrUnknownModel, challenger)
		}
		// Configured but absent from every record in the window.
		return analysis.ComparePairs(m.production(), challenger, analysis.PairedCounts{}, m.minPairs), nil
	}
	return c, err
}

func (m *Monitor) known(name string) bool {
	for _, md := range m.models {
		if md.Name == name {
			return true
		}
	}
	return false
}

func (m *Monitor) production() string {
	for _, md := range m.models {
		if md.Role == model.RoleProduction {
			return md.Name
		}
	}
	return ""
}

// DriftResult is the JSON body of GET /v1/drift: the drift report of one
// model's live inputs and predicted probability against its reference.
type DriftResult struct {
	Model string `json:"model"`
	analysis.DriftReport
}

// Drift compares the live inputs of accepted requests in w (and the model's
// live predicted probabilities) with the model's reference sample. An empty
// modelName means production.
func (m *Monitor) Drift(ctx context.Context, modelName string, w Window) (DriftResult, Samples, error) {
	if modelName == "" {
		modelName = m.production()
	}
	if !m.known(modelName) {
		return DriftResult{}, Samples{}, fmt.Errorf("%w %q", ErrUnknownModel, modelName)
	}
	ref, ok := m.refs[modelName]
	if !ok {
		return DriftResult{}, Samples{}, fmt.Errorf("%s: %w", modelName, ErrNoReference)
	}
	// The current sample as histograms: memory grows with distinct values,
	// not rows, and drift gives the report of the rows themselves.
	b := analysis.NewHistogramBuilder(m.fields)
	var probs analysis.NumberHistogram
	err := store.ScanInputCounts(ctx, m.store, w.scan(), func(c *record.InputCounts) error {
		b.AddCounts(c)
		n := 0
		for _, pc := range c.Probabilities {
			if pc.Model != modelName {
				continue
			}
			for _, v := range pc.Values {
				probs.Add(v.Value, int64(v.N))
				n += v.N
			}
		}
		if c.Rows > n {
			probs.Add(math.NaN(), int64(c.Rows-n))
		}
		return nil
	}, func(s *record.Summary) error {
		if s.Status == record.RequestRejected || s.Input == nil {
			return nil
		}
		b.Add(s.Input)
		p := math.NaN()
		for i := range s.Models {
			if r := &s.Models[i]; r.Name == modelName && r.Probability != nil {
				p = *r.Probability
			}
		}
		probs.Add(p, 1)
		return nil
	})
	if err != nil {
		return DriftResult{}, Samples{}, fmt.Errorf("scan records: %w", err)
	}
	cur := b.Table()
	cur.Columns = append(cur.Columns, probs.Column(ProbabilityColumn))
	if b.Rows() == 0 {
		return DriftResult{Model: modelName, DriftReport: analysis.DriftReport{ReferenceRows: ref.Columns[0].Len(), Columns: []analysis.ColumnDrift{}}},
			Samples{Reference: ref, Current: cur}, nil
	}
	rep, err := analysis.ComputeDrift(ref, cur, m.drift)
	if err != nil {
		return DriftResult{}, Samples{}, fmt.Errorf("drift of %s: %w", modelName, err)
	}
	return DriftResult{Model: modelName, DriftReport: rep}, Samples{Reference: ref, Current: cur}, nil
}

// Samples are the two tables a drift report compared, for charts. Current
// holds histogram columns (analysis.Column.Counts).
type Samples struct {
	Reference, Current analysis.Table
}

// PromotionGate applies rule to the live comparison of challenger with
// production over every stored record (pairs use each record's own
// production model) and to the challenger's live p99 latency. A model in
// no record yet has no pairs: insufficient data. With rule.CountReplay, a
// challenger with no live answer is judged on its replay results instead
// (GateResult.CountedReplay); its latency is then unknown.
func (m *Monitor) PromotionGate(ctx context.Context, challenger string, rule analysis.GateRule) (analysis.GateResult, error) {
	acc, err := m.accumulate(ctx, Window{}, 0)
	if err != nil {
		return analysis.GateResult{}, err
	}
	c, err := acc.Compare(challenger, m.minPairs)
	if errors.Is(err, analysis.ErrUnknownModel) {
		c = analysis.ComparePairs(m.production(), challenger, analysis.PairedCounts{}, m.minPairs)
	} else if err != nil {
		return analysis.GateResult{}, err
	}
	var p99 *float64
	answered := int64(0)
	for _, mm := range acc.Result().Models {
		if mm.Model == challenger {
			p99, answered = mm.LatencyMS.P99, mm.Answered
		}
	}
	if rule.CountReplay && answered == 0 {
		rep, err := m.Report(ctx, ReportParams{Challenger: challenger, Source: SourceReplay})
		switch {
		case err == nil:
			g := analysis.Gate(rep.Comparison, nil, rule)
			g.CountedReplay = true
			return g, nil
		case !errors.Is(err, ErrNoReplay):
			return analysis.GateResult{}, err
		}
	}
	return analysis.Gate(c, p99, rule), nil
}
