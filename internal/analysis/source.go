package analysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Source is the part of store.Store the analysis reads; every store.Store
// satisfies it.
type Source interface {
	ScanRecords(ctx context.Context, p store.ScanParams, fn func(rec *record.Record) error) error
	ScanFeedback(ctx context.Context, p store.FeedbackScanParams, fn func(fb record.Feedback) error) error
}

// Labels holds the latest ground-truth label of each request id from a
// feedback stream: the label with the latest ReceivedAt wins, and among equal
// times the one added last (stores scan feedback in insertion order for
// ties). Memory is one entry per labelled request. The zero value is not
// usable; call NewLabels. Not safe for concurrent use.
type Labels struct {
	m map[string]labelAt
}

type labelAt struct {
	label int
	at    time.Time
}

// NewLabels returns an empty label index.
func NewLabels() *Labels { return &Labels{m: map[string]labelAt{}} }

// Add records one feedback row (keyed by its RequestID; entity feedback is
// expanded into request ids when it is stored).
func (l *Labels) Add(fb record.Feedback) {
	if fb.RequestID == "" {
		return
	}
	if cur, ok := l.m[fb.RequestID]; ok && fb.ReceivedAt.Before(cur.at) {
		return
	}
	l.m[fb.RequestID] = labelAt{label: fb.Label, at: fb.ReceivedAt}
}

// Get returns the latest label of a request, or nil.
func (l *Labels) Get(requestID string) *int {
	v, ok := l.m[requestID]
	if !ok {
		return nil
	}
	label := v.label
	return &label
}

// Len is the number of labelled requests.
func (l *Labels) Len() int { return len(l.m) }

// LoadLabels reads every feedback row of src. The feedback scan is not
// limited to a record window: labels arrive days after their requests.
func LoadLabels(ctx context.Context, src Source) (*Labels, error) {
	l := NewLabels()
	err := src.ScanFeedback(ctx, store.FeedbackScanParams{}, func(fb record.Feedback) error {
		l.Add(fb)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan feedback: %w", err)
	}
	return l, nil
}

// ScanMetrics accumulates the records p selects, each with its latest label,
// into a new MetricsAccumulator (GET /v1/metrics and /v1/compare). Records
// that are not "ok" requests (rejected, unavailable) still count in their
// models' status figures when they carry model results.
func ScanMetrics(ctx context.Context, src Source, p store.ScanParams, opts MetricsOptions) (*MetricsAccumulator, error) {
	labels, err := LoadLabels(ctx, src)
	if err != nil {
		return nil, err
	}
	acc := NewMetricsAccumulator(opts)
	err = src.ScanRecords(ctx, p, func(rec *record.Record) error {
		acc.Add(rec, labels.Get(rec.ID))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan records: %w", err)
	}
	return acc, nil
}

// ScanInputs builds the current-sample Table for drift from the validated
// inputs of the "ok" requests p selects (rejected requests are not model
// inputs). fields selects and orders the columns (nil: every field seen,
// sorted). When probabilityOf names a model, a numeric column
// "<model>.probability" with its answered probabilities (missing where it
// gave none) is added, for drift of the model's output.
func ScanInputs(ctx context.Context, src Source, p store.ScanParams, fields []string, probabilityOf string) (Table, error) {
	b := NewTableBuilder(fields)
	var probs []float64
	err := src.ScanRecords(ctx, p, func(rec *record.Record) error {
		if rec.Status != record.RequestOK {
			return nil
		}
		b.Add(rec.Input)
		if probabilityOf != "" {
			v := math.NaN()
			if r, ok := rec.Models[probabilityOf]; ok && r.Probability != nil {
				v = *r.Probability
			}
			probs = append(probs, v)
		}
		return nil
	})
	if err != nil {
		return Table{}, fmt.Errorf("scan records: %w", err)
	}
	t := b.Table()
	if probabilityOf != "" {
		if probs == nil {
			probs = []float64{}
		}
		t.Columns = append(t.Columns, NumericColumn(ProbabilityColumn(probabilityOf), probs))
	}
	return t, nil
}

// ProbabilityColumn is the name of the predicted-probability column of a
// model in drift tables.
func ProbabilityColumn(model string) string { return model + ".probability" }
