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

// labelLinger is the least time between two feedback posts, so a steady
// stream of labels goes out in batches rather than one POST per label.
const labelLinger = 100 * time.Millisecond

// pendingLabel is one label waiting for its delay to pass.
type pendingLabel struct {
	due       time.Time
	requestID string
	label     int
}

// labeler sends ground truth to /v1/feedback a fixed delay after each
// answer, in batches of up to MaxFeedbackBatch. add is safe for concurrent
// use; run is called once.
type labeler struct {
	client *http.Client
	url    string
	delay  time.Duration

	mu       sync.Mutex
	queue    []pendingLabel // due times non-decreasing: stamped under mu
	wake     chan struct{}
	sent     int64
	failed   int64
	unsent   int64
	firstErr string
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

func (l *labeler) counts() (sent, failed, unsent int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.failed, l.unsent
}

// abandon counts every label still queued as unsent. Call it after run has
// returned and no more adds can happen.
func (l *labeler) abandon() {
	l.mu.Lock()
	l.unsent += int64(len(l.queue))
	l.queue = nil
	l.mu.Unlock()
}

// firstError returns the first feedback error, if any.
func (l *labeler) firstError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstErr
}

// run posts labels as they fall due until producersDone is closed and the
// queue is empty, or ctx is cancelled (then call abandon).
func (l *labeler) run(ctx context.Context, producersDone <-chan struct{}) {
	var last time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	done := false
	for {
		l.mu.Lock()
		now := time.Now()
		n := 0
		for n < len(l.queue) && n < MaxFeedbackBatch && !l.queue[n].due.After(now) {
			n++
		}
		full := n == MaxFeedbackBatch
		var batch []pendingLabel
		if n > 0 && (full || now.Sub(last) >= labelLinger) {
			batch = append(batch, l.queue[:n]...)
			l.queue = l.queue[n:]
		}
		var next time.Time
		if len(l.queue) > 0 {
			next = l.queue[0].due
			if n > 0 && len(batch) == 0 {
				next = last.Add(labelLinger)
			}
		}
		empty := len(l.queue) == 0
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

// post sends one batch of feedback.
func (l *labeler) post(ctx context.Context, batch []pendingLabel) {
	type item struct {
		RequestID string `json:"request_id"`
		Label     int    `json:"label"`
	}
	items := make([]item, len(batch))
	for i, p := range batch {
		items[i] = item{p.requestID, p.label}
	}
	err := l.send(ctx, items)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed += int64(len(batch))
		if l.firstErr == "" { // keep the first
			l.firstErr = err.Error()
		}
		return
	}
	l.sent += int64(len(batch))
}

func (l *labeler) send(ctx context.Context, items any) error {
	body, err := json.Marshal(map[string]any{"feedback": items})
	if err != nil {
		return fmt.Errorf("encode feedback: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send feedback: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("send feedback: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("send feedback: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
