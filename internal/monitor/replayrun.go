package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/replay"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// ReplayOutcome is one candidate's replay: what it did and the report on it
// against production. Its JSON form is what `rendezvous replay --json`
// prints per candidate and what POST /v1/replay answers.
type ReplayOutcome struct {
	Replay replay.Stats     `json:"replay"`
	Report ChallengerReport `json:"report"`
}

// ReplayProgress is a running replay's progress: the statistics so far,
// the share of the window's time span read (records are read in time
// order, so it is the ETA's basis) and the records read per second.
type ReplayProgress struct {
	replay.Stats
	Fraction float64 `json:"fraction"`
	Rate     float64 `json:"rate"`
}

// ReplayAndReport runs the replay p over win (p.Since and p.Until are set
// from win) and then reports on the candidate as on a live challenger, its
// answers being the replay results of p.Candidate's version. m must know
// the candidate under p.Name (its bundle gives the prediction drift's
// reference and the training overlap). progress, when set, is called as
// replay.Params.Progress is, with the fraction of the window read.
//
// When nothing was scored the report is empty (the statistics say why);
// an error of the replay is returned with the statistics so far.
func (m *Monitor) ReplayAndReport(ctx context.Context, p replay.Params, win Window, progress func(ReplayProgress)) (ReplayOutcome, error) {
	p.Since, p.Until = win.Since, win.Until
	if progress != nil {
		first, last := replaySpan(ctx, p.Source, win)
		p.Progress = func(s replay.Stats) {
			frac := 0.0
			if span := last.Sub(first); span > 0 && !s.Position.IsZero() {
				frac = min(max(float64(s.Position.Sub(first))/float64(span), 0), 1)
			}
			progress(ReplayProgress{Stats: s, Fraction: frac, Rate: s.Rate()})
		}
	}
	st, err := replay.Run(ctx, p)
	if err != nil {
		return ReplayOutcome{Replay: st}, fmt.Errorf("replay %s: %w", p.Name, err)
	}
	if progress != nil {
		progress(ReplayProgress{Stats: st, Fraction: 1, Rate: st.Rate()})
	}
	rep, err := m.Report(ctx, ReportParams{Challenger: p.Name, Window: win, Source: SourceReplay, ReplayVersion: p.Candidate.Info().Version})
	if err != nil && st.Scored == 0 {
		// Nothing scored: the report has nothing to say, the statistics do.
		rep = ChallengerReport{Source: SourceReplay, Days: []ReportSegment{}}
	} else if err != nil {
		return ReplayOutcome{Replay: st}, fmt.Errorf("report on %s: %w", p.Name, err)
	}
	return ReplayOutcome{Replay: st, Report: rep}, nil
}

// replaySpan returns the received times of the first and last record in
// win (zero when it is empty).
func replaySpan(ctx context.Context, r store.RecordScanner, win Window) (first, last time.Time) {
	p := store.ScanParams{Since: win.Since, Until: win.Until, Limit: 1}
	_ = r.ScanRecords(ctx, p, func(rec *record.Record) error { first = rec.ReceivedAt; return nil })
	p.Descending = true
	_ = r.ScanRecords(ctx, p, func(rec *record.Record) error { last = rec.ReceivedAt; return nil })
	return first, last
}
