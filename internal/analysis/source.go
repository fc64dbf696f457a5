package analysis

import (
	"context"
	"fmt"
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

// Range calls fn for every labelled request with its latest label and
// when that label was received, in no particular order.
func (l *Labels) Range(fn func(requestID string, label int, at time.Time)) {
	for id, v := range l.m {
		fn(id, v.label, v.at)
	}
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
