package monitor

import (
	"context"
	"fmt"
	"sync"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// labelIndex is the monitor's index of the latest label of every request.
// With a store.FeedbackLogScanner it is kept between calls and only the
// feedback appended since the last call is read (feedback is append-only,
// so the index equals a fresh one); otherwise it is rebuilt per call from
// ScanFeedback.
type labelIndex struct {
	mu     sync.RWMutex // write: refresh; read: while a scan uses labels
	labels *labelSet
	pos    int64 // feedback log position read so far
	// pending are the labels read from the log not yet matched to a
	// stored request (see PendingLabels).
	pending pendingState
}

// acquireLabels brings the index up to date and returns it read-locked;
// call release when done with it.
func (m *Monitor) acquireLabels(ctx context.Context) (_ *labelSet, release func(), _ error) {
	if _, ok := m.store.(store.FeedbackLogScanner); !ok {
		l, err := readLabels(ctx, m.store)
		if err != nil {
			return nil, nil, err
		}
		return l, func() {}, nil
	}
	x := &m.labels
	x.mu.Lock()
	err := m.refreshLocked(ctx)
	x.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	x.mu.RLock()
	return x.labels, x.mu.RUnlock, nil
}

// refreshLocked reads the feedback appended to the log since the last
// call into the index (and its rows into the pending candidates). The
// index's write lock is held; the store is a store.FeedbackLogScanner.
func (m *Monitor) refreshLocked(ctx context.Context) error {
	x := &m.labels
	if x.labels == nil {
		x.labels = newLabelSet()
	}
	err := m.store.(store.FeedbackLogScanner).ScanFeedbackLog(ctx, x.pos, func(pos int64, fb record.Feedback) error {
		x.labels.add(fb)
		x.pending.note(fb)
		x.pos = pos
		return nil
	})
	x.labels.sort()
	if err != nil {
		// What was read is applied and x.pos says how far: the next call
		// resumes from there.
		return fmt.Errorf("scan feedback: %w", err)
	}
	return nil
}

// pipelineBatch is how many summaries the scanning goroutine hands to the
// accumulating one at a time.
const pipelineBatch = 512

// summaryBatch holds copies of summaries (with their labels) that outlive
// the store's callback.
type summaryBatch struct {
	ss       []record.Summary
	labels   []int
	labelled []bool
	models   []record.ModelSummary
	preds    []int
	probs    []float64
	counts   []int
}

func (b *summaryBatch) reset() {
	b.ss, b.labels, b.labelled = b.ss[:0], b.labels[:0], b.labelled[:0]
	b.models, b.preds, b.probs, b.counts = b.models[:0], b.preds[:0], b.probs[:0], b.counts[:0]
}

// add copies s (inputs excluded) and its label.
func (b *summaryBatch) add(s *record.Summary, label int, labelled bool) {
	c := *s
	c.Input = nil
	c.Models = nil
	b.ss = append(b.ss, c)
	b.labels = append(b.labels, label)
	b.labelled = append(b.labelled, labelled)
	for _, m := range s.Models {
		if m.Prediction != nil {
			b.preds = append(b.preds, *m.Prediction)
		}
		if m.Probability != nil {
			b.probs = append(b.probs, *m.Probability)
		}
		b.models = append(b.models, m) // pointers re-aimed in seal
	}
	b.counts = append(b.counts, len(s.Models))
}

// seal points the copies' models, predictions and probabilities at the
// batch's own arrays (appends may have moved them).
func (b *summaryBatch) seal() {
	pi, qi := 0, 0
	for i := range b.models {
		m := &b.models[i]
		if m.Prediction != nil {
			m.Prediction = &b.preds[pi]
			pi++
		}
		if m.Probability != nil {
			m.Probability = &b.probs[qi]
			qi++
		}
	}
	from := 0
	for i, n := range b.counts {
		if n > 0 {
			b.ss[i].Models = b.models[from : from+n : from+n]
		}
		from += n
	}
}

// scanMetrics streams the summaries of the non-rejected records in w into
// acc with their labels. Decoding (in the store's scan) and accumulation run
// on two goroutines connected by batches, in scan order, so the figures are
// exactly those of a sequential scan.
func (m *Monitor) scanMetrics(ctx context.Context, w Window, labels *labelSet, acc *analysis.MetricsAccumulator) error {
	return m.scanMetricsWith(ctx, w, labels, acc, false, nil)
}

// scanMetricsWith is scanMetrics with a hook: each non-rejected summary
// passes through hook (on the scanning goroutine), with its label, before
// it is accumulated; hook may replace s.Models (the replay join does).
// inputs asks for the summaries' inputs (the hook reads them).
func (m *Monitor) scanMetricsWith(ctx context.Context, w Window, labels *labelSet, acc *analysis.MetricsAccumulator, inputs bool, hook func(s *record.Summary, label int, labelled bool)) error {
	full := make(chan *summaryBatch, 4)
	free := make(chan *summaryBatch, 6)
	for range cap(free) {
		free <- &summaryBatch{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			for i := range b.ss {
				var label *int
				if b.labelled[i] {
					label = &b.labels[i]
				}
				acc.AddSummary(&b.ss[i], label)
			}
			b.reset()
			free <- b
		}
	}()
	cur := <-free
	lc := labels.cursor()
	err := store.ScanSummaries(ctx, m.store, store.SummaryParams{ScanParams: w.scan(), Inputs: inputs}, func(s *record.Summary) error {
		if s.Status == record.RequestRejected {
			return nil
		}
		label, ok := lc.get(s.ID)
		if hook != nil {
			hook(s, label, ok)
		}
		cur.add(s, label, ok)
		if len(cur.ss) == pipelineBatch {
			cur.seal()
			full <- cur
			select {
			case cur = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err == nil && len(cur.ss) > 0 {
		cur.seal()
		full <- cur
	}
	close(full)
	<-done
	if err != nil {
		return fmt.Errorf("scan records: %w", err)
	}
	return nil
}
