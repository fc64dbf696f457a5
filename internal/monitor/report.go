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
	join, version, err := m.loadReplay(ctx, p)
	if err != nil {
		return ChallengerReport{}, err
	}
	if len(join) == 0 {
		switch {
		case p.Source == SourceReplay:
			return ChallengerReport{}, fmt.Errorf("%w for %q in the window", ErrNoReplay, p.Challenger)
		case !seen && !m.known(p.Challenger):
			return ChallengerReport{}, fmt.Errorf("%w %q", ErrUnknownModel, p.Challenger)
		}
		return live, nil // configured or seen, nothing answered live, nothing replayed
	}
	rep, _, err := m.report(ctx, p, join)
	rep.Source, rep.ReplayVersion = SourceReplay, version
	return rep, err
}

// loadReplay reads the challenger's replay results in the window into a
// join table by request id: one version's (p.ReplayVersion, or the one
// replayed last).
func (m *Monitor) loadReplay(ctx context.Context, p ReportParams) (map[string]record.ModelSummary, string, error) {
	rs, ok := m.store.(store.ReplayStore)
	if !ok {
		if p.Source == SourceReplay {
			return nil, "", fmt.Errorf("%w: the store keeps no replay results", ErrNoReplay)
		}
		return nil, "", nil
	}
	sp := store.ReplayScanParams{Candidate: p.Challenger, Version: p.ReplayVersion, Since: p.Window.Since, Until: p.Window.Until}
	byVersion := map[string]map[string]record.ModelSummary{}
	var latest string
	var latestAt time.Time
	err := rs.ScanReplayResults(ctx, sp, func(r *store.ReplayResult) error {
		j := byVersion[r.Version]
		if j == nil {
			j = map[string]record.ModelSummary{}
			byVersion[r.Version] = j
		}
		res := &r.Result
		j[r.RequestID] = record.ModelSummary{
			Name: p.Challenger, Role: res.Role, Version: r.Version, Status: res.Status,
			Prediction: res.Prediction, Probability: res.Probability, LatencyUS: res.LatencyUS,
		}
		if !r.ReplayedAt.Before(latestAt) {
			latest, latestAt = r.Version, r.ReplayedAt
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read replay results: %w", err)
	}
	return byVersion[latest], latest, nil
}

// report accumulates the window by day, with the challenger's answers
// taken from join when it is not nil, and reports whether the challenger
// is in a record of the window (as a non-production model).
func (m *Monitor) report(ctx context.Context, p ReportParams, join map[string]record.ModelSummary) (ChallengerReport, bool, error) {
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
	hook := func(s *record.Summary, label int, labelled bool) {
		if join != nil {
			models = append(models[:0], s.Models...)
			for i := 0; i < len(models); i++ { // a live result of that name gives way
				if models[i].Name == p.Challenger {
					models = append(models[:i], models[i+1:]...)
					i--
				}
			}
			if r, ok := join[s.ID]; ok {
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
	if err := m.scanMetricsWith(ctx, p.Window, labels, acc, overlap != nil, hook); err != nil {
		return ChallengerReport{}, false, err
	}
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
		rep.PredictionDrift, err = m.predictionDrift(p.Challenger, &probs, rows)
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
