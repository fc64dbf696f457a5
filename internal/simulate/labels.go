package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	// labelLinger is the least time between two feedback posts, so a
	// steady stream of labels goes out in batches rather than one POST per
	// label.
	labelLinger = 100 * time.Millisecond
	// unmatchedRetry is how long a label an older gateway reported as
	// unmatched (and discarded: it arrived before its request was stored)
	// waits before it is sent again. A current gateway keeps such labels
	// (pending, joined once the record is stored) and reports no
	// unmatched ids, so nothing is resent.
	unmatchedRetry = 500 * time.Millisecond
	// maxLabelTries bounds the sends of one label.
	maxLabelTries = 6
)

// pendingLabel is one label waiting for its due time.
type pendingLabel struct {
	due       time.Time
	requestID string
	label     int
	tries     int
}

// labelQueue is a FIFO of labels whose due times never decrease (each is
// stamped now + a constant delay under the labeler's lock).
type labelQueue []pendingLabel

// takeDue removes and returns up to limit labels due at now.
func (q *labelQueue) takeDue(now time.Time, limit int) []pendingLabel {
	n := 0
	for n < len(*q) && n < limit && !(*q)[n].due.After(now) {
		n++
	}
	out := (*q)[:n:n]
	*q = (*q)[n:]
	return out
}

// labeler sends ground truth to /v1/feedback a fixed delay after each
// answer, in batches of up to MaxFeedbackBatch, and sends again (after
// unmatchedRetry, up to maxLabelTries in all) the labels the gateway
// reports as unmatched. add is safe for concurrent use; run is called once.
type labeler struct {
	client *http.Client
	url    string
	delay  time.Duration

	mu        sync.Mutex
	queue     labelQueue // new labels, due delay after the answer
	retry     labelQueue // unmatched labels, due unmatchedRetry after the reply
	wake      chan struct{}
	sent      int64
	failed    int64
	unsent    int64
	unmatched int64
	firstErr  string
}

func newLabeler(client *http.Client, url string, delay time.Duration) *labeler {
	return &labeler{client: client, url: url, delay: delay, wake: make(chan struct{}, 1)}
}

// add queues a label for the request, due delay from now. A request with no
// known id cannot be labelled and counts as unsent.
func (l *labeler) add(requestID string, label int) {
	l.mu.Lock()
	if requestID == "" {
		l.unsent++
		l.mu.Unlock()
		return
	}
	l.queue = append(l.queue, pendingLabel{due: time.Now().Add(l.delay), requestID: requestID, label: label})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// labelCounts are the labeler's totals.
type labelCounts struct {
	sent, failed, unsent, unmatched int64
	firstErr                        string
}

func (l *labeler) counts() labelCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return labelCounts{l.sent, l.failed, l.unsent, l.unmatched, l.firstErr}
}

// abandon counts every label still queued as unsent. Call it after run has
// returned and no more adds can happen.
func (l *labeler) abandon() {
	l.mu.Lock()
	l.unsent += int64(len(l.queue) + len(l.retry))
	l.queue, l.retry = nil, nil
	l.mu.Unlock()
}

// run posts labels as they fall due until producersDone is closed and both
// queues are empty, or ctx is cancelled (then call abandon).
func (l *labeler) run(ctx context.Context, producersDone <-chan struct{}) {
	var last time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	done := false
	for {
		l.mu.Lock()
		now := time.Now()
		var batch []pendingLabel
		ready := now.Sub(last) >= labelLinger
		if ready {
			batch = l.retry.takeDue(now, MaxFeedbackBatch)
			batch = append(batch, l.queue.takeDue(now, MaxFeedbackBatch-len(batch))...)
		}
		// Wake at the earliest due label, but not before the linger.
		var next time.Time
		for _, q := range []labelQueue{l.queue, l.retry} {
			if len(q) > 0 && (next.IsZero() || q[0].due.Before(next)) {
				next = q[0].due
			}
		}
		if !next.IsZero() && !ready {
			next = maxTime(next, last.Add(labelLinger))
		}
		empty := len(l.queue) == 0 && len(l.retry) == 0
		l.mu.Unlock()

		if len(batch) > 0 {
			last = now
			l.post(ctx, batch)
			continue
		}
		if empty && done {
			return
		}
		// Since Go 1.23 Reset discards any stale expiry: no draining.
		var timerC <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			timerC = timer.C
		}
		select {
		case <-l.wake:
		case <-timerC:
		case <-producersDone:
			done, producersDone = true, nil
		case <-ctx.Done():
			return
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// post sends one batch of feedback and re-queues what the gateway could
// not match yet.
func (l *labeler) post(ctx context.Context, batch []pendingLabel) {
	type item struct {
		RequestID string `json:"request_id"`
		Label     int    `json:"label"`
	}
	items := make([]item, len(batch))
	for i, p := range batch {
		items[i] = item{p.requestID, p.label}
	}
	unmatched, err := l.send(ctx, items)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed += int64(len(batch))
		if l.firstErr == "" {
			l.firstErr = err.Error()
		}
		return
	}
	l.sent += int64(len(batch) - len(unmatched))
	if len(unmatched) == 0 {
		return
	}
	due := time.Now().Add(unmatchedRetry)
	for _, p := range batch {
		if !unmatched[p.requestID] {
			continue
		}
		if p.tries+1 >= maxLabelTries {
			l.unmatched++
			continue
		}
		p.tries++
		p.due = due
		l.retry = append(l.retry, p)
	}
}

// send posts items and returns the request ids the gateway did not match.
func (l *labeler) send(ctx context.Context, items any) (map[string]bool, error) {
	body, err := json.Marshal(map[string]any{"feedback": items})
	if err != nil {
		return nil, fmt.Errorf("encode feedback: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("send feedback: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("send feedback: %w", err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("send feedback: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return nil, fmt.Errorf("send feedback: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	var res struct {
		Unmatched []string `json:"unmatched"`
	}
	if len(bytes.TrimSpace(msg)) > 0 {
		if err := json.Unmarshal(msg, &res); err != nil {
			return nil, fmt.Errorf("send feedback: decode answer: %w", err)
		}
	}
	if len(res.Unmatched) == 0 {
		return nil, nil
	}
	out := make(map[string]bool, len(res.Unmatched))
	for _, id := range res.Unmatched {
		out[id] = true
	}
	return out, nil
}
