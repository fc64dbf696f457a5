package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Where a challenger report's answers come from.
const (
	// SourceLive: the challenger's answers recorded live, as a shadow.
	SourceLive = "live"
	// SourceReplay: the challenger's replay results (rendezvous replay),
	// used because the window holds no live answer of the challenger.
	SourceReplay = "replay"
)

// ReportDay is the width of a challenger report's segments.
const ReportDay = 24 * time.Hour

// ChallengerReport is the JSON body of GET /v1/compare and the end of
// `rendezvous replay`: the comparison of a challenger with production on
// the labelled requests both answered, and around it the challenger's
// agreement with production, its predicted positive rate, the drift of its
// predicted probability against its reference sample, and the same figures
// per UTC day.
//
// The figures are the same whatever the source: replay results are joined
// to their records and accumulated exactly as live answers are, so a
// replay of a candidate over traffic gives the report live shadowing of
// that candidate over the same traffic gives.
type ChallengerReport struct {
	analysis.Comparison
	// Source is SourceLive or SourceReplay; ReplayVersion is the replayed
	// version (replay only).
	Source        string `json:"source"`
	ReplayVersion string `json:"replay_version,omitempty"`
	// Agreement is the share of requests where the challenger's class
	// equals production's, over AgreementN requests both answered.
	Agreement  *float64 `json:"agreement"`
	AgreementN int64    `json:"agreement_n"`
	// Answered is how many requests the challenger answered in the window.
	Answered               int64    `json:"answered"`
	ChallengerPositiveRate *float64 `json:"challenger_positive_rate"`
	ProductionPositiveRate *float64 `json:"production_positive_rate"`
	// PredictionDrift compares the challenger's predicted probability with
	// the probabilities its bundle gives its own reference sample; null
	// when the monitor has no bundle of that name or nothing was answered.
	PredictionDrift *analysis.ColumnDrift `json:"prediction_drift"`
	// Days are the same figures per UTC day, oldest first.
	Days []ReportSegment `json:"days"`
	// TrainingOverlap says how many evaluated inputs each model was
	// trained on, and flags the verdict above OverlapThreshold; null when
	// no configured bundle has a training-row fingerprint.
	TrainingOverlap *TrainingOverlap `json:"training_overlap"`
}

// ReportSegment is one day of a ChallengerReport.
type ReportSegment struct {
	analysis.BucketComparison
	Agreement              *float64 `json:"agreement"`
	AgreementN             int64    `json:"agreement_n"`
	ChallengerPositiveRate *float64 `json:"challenger_positive_rate"`
}

// ReportParams selects a challenger report.
type ReportParams struct {
	Challenger string
	Window     Window
	// Source forces the source ("" : live when the window holds a live
	// answer of the challenger, else replay when the store has replay
	// results of that name).
	Source string
	// ReplayVersion picks the replayed version ("": the one replayed
	// last).
	ReplayVersion string
}

// ErrNoReplay: a report was asked from replay results and the store holds
// none for that challenger (or cannot hold any).
var ErrNoReplay = errors.New("no replay results")

// Report builds the challenger report (see ChallengerReport). A
// challenger neither configured, nor in a record of the window, nor
// replayed is ErrUnknownModel.
func (m *Monitor) Report(ctx context.Context, p ReportParams) (ChallengerReport, error) {
	if p.Source != "" && p.Source != SourceLive && p.Source != SourceReplay {
		return ChallengerReport{}, fmt.Errorf("source %q: want %s or %s", p.Source, SourceLive, SourceReplay)
	}
	var live ChallengerReport
	seen := false
	if p.Source != SourceReplay {
		var err error
		live, seen, err = m.report(ctx, p, nil)
		switch {
		case err != nil:
			return ChallengerReport{}, err
		case live.Answered > 0 || p.Source == SourceLive:
			if !seen && !m.known(p.Challenger) {
				return ChallengerReport{}, fmt.Errorf("%w %q", ErrUnknownModel, p.Challenger)
			}
			return live, nil
		}
	}
	rs, version, err := m.replayVersion(ctx, p)
	if err != nil {
		return ChallengerReport{}, err
	}
	if rs == nil {
		switch {
		case p.Source == SourceReplay:
			return ChallengerReport{}, fmt.Errorf("%w for %q", ErrNoReplay, p.Challenger)
		case !seen && !m.known(p.Challenger):
			return ChallengerReport{}, fmt.Errorf("%w %q", ErrUnknownModel, p.Challenger)
		}
		return live, nil // configured or seen, nothing answered live, nothing replayed
	}
	rep, _, err := m.report(ctx, p, &replayJoin{store: rs, version: version})
	rep.Source, rep.ReplayVersion = SourceReplay, version
	return rep, err
}

// replayVersion picks the replayed version a report reads (p.ReplayVersion,
// or the one replayed last); a nil store means there is none.
func (m *Monitor) replayVersion(ctx context.Context, p ReportParams) (store.ReplayStore, string, error) {
	rs, ok := m.store.(store.ReplayStore)
	if !ok {
		if p.Source == SourceReplay {
			return nil, "", fmt.Errorf("%w: the store keeps no replay results", ErrNoReplay)
		}
		return nil, "", nil
	}
	vs, err := rs.ReplayVersions(ctx, p.Challenger)
	if err != nil {
		return nil, "", fmt.Errorf("read replay results: %w", err)
	}
	for _, v := range vs {
		if p.ReplayVersion == "" || v.Version == p.ReplayVersion {
			return rs, v.Version, nil
		}
	}
	return nil, "", nil
}

// replayJoin streams one version of a challenger's replay results, in
// record order, beside the records' scan: a merge join on (received_at,
// request id), so memory holds a batch of results, not all of them.
type replayJoin struct {
	store   store.ReplayStore
	version string

	ch     chan []joinEntry
	errc   chan error
	cancel context.CancelFunc
	buf    []joinEntry
	i      int
	closed bool
}

type joinEntry struct {
	key   store.Cursor
	ms    record.ModelSummary
	class int
	prob  float64
}

// joinBatch is how many replay results travel to the join at a time.
const joinBatch = 1024

// start begins reading the results of challenger in w.
func (j *replayJoin) start(ctx context.Context, challenger string, w Window) {
	ctx, j.cancel = context.WithCancel(ctx)
	j.ch, j.errc = make(chan []joinEntry, 2), make(chan error, 1)
	go func() {
		defer close(j.ch)
		var batch []joinEntry
		send := func() error {
			select {
			case j.ch <- batch:
				batch = make([]joinEntry, 0, joinBatch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sp := store.ReplayScanParams{Candidate: challenger, Version: j.version, Since: w.Since, Until: w.Until}
		err := j.store.ScanReplayResults(ctx, sp, func(r *store.ReplayResult) error {
			e := joinEntry{key: store.Cursor{ReceivedAt: r.ReceivedAt, ID: r.RequestID}, ms: record.ModelSummary{
				Name: challenger, Role: r.Result.Role, Version: r.Version, Status: r.Result.Status, LatencyUS: r.Result.LatencyUS,
			}}
			if r.Result.Prediction != nil {
				e.class, e.ms.Prediction = *r.Result.Prediction, &e.class // re-aimed in find
			}
			if r.Result.Probability != nil {
				e.prob, e.ms.Probability = *r.Result.Probability, &e.prob
			}
			batch = append(batch, e)
			if len(batch) == joinBatch {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		j.errc <- err
	}()
}

// find returns the result of the record at key, if any. Keys must come in
// increasing order.
func (j *replayJoin) find(key store.Cursor) (record.ModelSummary, bool) {
	for {
		for ; j.i < len(j.buf); j.i++ {
			e := &j.buf[j.i]
			switch c := e.key.Compare(key); {
			case c > 0:
				return record.ModelSummary{}, false
			case c == 0:
				ms := e.ms
				if ms.Prediction != nil {
					ms.Prediction = &e.class
				}
				if ms.Probability != nil {
					ms.Probability = &e.prob
				}
				j.i++
				return ms, true
			}
		}
		if j.closed {
			return record.ModelSummary{}, false
		}
		b, ok := <-j.ch
		if !ok {
			j.closed = true
			return record.ModelSummary{}, false
		}
		j.buf, j.i = b, 0
	}
}

// stop ends the reading and returns its error.
func (j *replayJoin) stop() error {
	j.cancel()
	for range j.ch { // let the reader see the cancel
	}
	if err := <-j.errc; !errors.Is(err, context.Canceled) {
		return err
	}
	return nil // stopped by us (the caller's own cancel fails its scan)
}

// report accumulates the window by day, with the challenger's answers
// taken from join when it is not nil, and reports whether the challenger
// is in a record of the window (as a non-production model).
func (m *Monitor) report(ctx context.Context, p ReportParams, join *replayJoin) (ChallengerReport, bool, error) {
	labels, release, err := m.acquireLabels(ctx)
	if err != nil {
		return ChallengerReport{}, false, err
	}
	defer release()
	acc := analysis.NewMetricsAccumulator(analysis.MetricsOptions{Bucket: ReportDay})
	var probs analysis.NumberHistogram
	rows := 0
	var models []record.ModelSummary
	overlap := m.newOverlapCounter(p.Challenger)
	if join != nil {
		join.start(ctx, p.Challenger, p.Window)
	}
	hook := func(s *record.Summary, label int, labelled bool) {
		if join != nil {
			models = append(models[:0], s.Models...)
			for i := 0; i < len(models); i++ { // a live result of that name gives way
				if models[i].Name == p.Challenger {
					models = append(models[:i], models[i+1:]...)
					i--
				}
			}
			if r, ok := join.find(store.Cursor{ReceivedAt: s.ReceivedAt, ID: s.ID}); ok {
				models = append(models, r)
				for i := len(models) - 1; i > 0 && models[i].Name < models[i-1].Name; i-- {
					models[i], models[i-1] = models[i-1], models[i]
				}
			}
			s.Models = models
		}
		pr := math.NaN()
		for i := range s.Models {
			if r := &s.Models[i]; r.Name == p.Challenger && r.Probability != nil {
				pr = *r.Probability
			}
		}
		probs.Add(pr, 1)
		rows++
		if overlap != nil {
			overlap.add(s, label, labelled)
		}
	}
	err = m.scanMetricsWith(ctx, p.Window, labels, acc, overlap != nil, hook)
	if join != nil {
		if jerr := join.stop(); err == nil && jerr != nil {
			err = fmt.Errorf("read replay results: %w", jerr)
		}
	}
	if err != nil {
		return ChallengerReport{}, false, err
	}
	return m.reportFrom(acc, p, &probs, rows, overlap)
}

// reportFrom turns a report's accumulation into the report.
func (m *Monitor) reportFrom(acc *analysis.MetricsAccumulator, p ReportParams, probs *analysis.NumberHistogram, rows int, overlap *overlapCounter) (ChallengerReport, bool, error) {
	rep := ChallengerReport{Source: SourceLive, Days: []ReportSegment{}}
	c, err := acc.Compare(p.Challenger, m.minPairs)
	found := err == nil
	switch {
	case errors.Is(err, analysis.ErrUnknownModel):
		c = analysis.ComparePairs(m.production(), p.Challenger, analysis.PairedCounts{}, m.minPairs)
	case err != nil:
		return ChallengerReport{}, false, err
	}
	rep.Comparison = c
	if overlap != nil {
		rep.TrainingOverlap = overlap.result(c, m.minPairs)
	}
	res := acc.Result()
	for _, mm := range res.Models {
		switch {
		case mm.Model == p.Challenger:
			rep.Agreement, rep.AgreementN, rep.Answered, rep.ChallengerPositiveRate = mm.Agreement, mm.AgreementN, mm.Answered, mm.PositiveRate
		case mm.Model == c.Production:
			rep.ProductionPositiveRate = mm.PositiveRate
		}
	}
	days := acc.CompareBuckets(p.Challenger, m.minPairs)
	for i, d := range days {
		seg := ReportSegment{BucketComparison: d}
		for _, mm := range res.Buckets[i].Models {
			if mm.Model == p.Challenger {
				seg.Agreement, seg.AgreementN, seg.ChallengerPositiveRate = mm.Agreement, mm.AgreementN, mm.PositiveRate
			}
		}
		rep.Days = append(rep.Days, seg)
	}
	if rep.Answered > 0 {
		rep.PredictionDrift, err = m.predictionDrift(p.Challenger, probs, rows)
		if err != nil {
			return ChallengerReport{}, false, err
		}
	}
	return rep, found, nil
}

// predictionDrift compares the probabilities in cur (NaN: no answer) with
// the challenger's reference; nil without a reference.
func (m *Monitor) predictionDrift(name string, cur *analysis.NumberHistogram, rows int) (*analysis.ColumnDrift, error) {
	ref, ok := m.refs[name]
	if !ok {
		return nil, nil
	}
	col, ok := ref.Column(ProbabilityColumn)
	if !ok {
		return nil, nil
	}
	opts := m.drift
	opts.Columns = []string{ProbabilityColumn}
	rep, err := analysis.ComputeDrift(analysis.Table{Rows: col.Len(), Columns: []analysis.Column{col}},
		analysis.Table{Rows: rows, Columns: []analysis.Column{cur.Column(ProbabilityColumn)}}, opts)
	if err != nil {
		return nil, fmt.Errorf("prediction drift of %s: %w", name, err)
	}
	if len(rep.Columns) == 0 {
		return nil, nil
	}
	return &rep.Columns[0], nil
}
