package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
)

// FeedbackWriter is implemented by writers that store feedback (a
// store.Store does). WriteFeedback must be idempotent by Feedback.ID: the
// Recorder writes a spooled batch again when its acknowledgement was lost.
type FeedbackWriter interface {
	WriteFeedback(ctx context.Context, fb []Feedback) error
}

// Where EnqueueFeedback put a batch.
const (
	// FeedbackStored: committed to the store.
	FeedbackStored = "stored"
	// FeedbackSpooled: fsynced to the spool; the replayer writes it to
	// the store when the store takes it, in spool order.
	FeedbackSpooled = "spooled"
)

// ErrNoFeedbackWriter is EnqueueFeedback's error when the Recorder's
// Writer does not store feedback.
var ErrNoFeedbackWriter = errors.New("record: the writer does not store feedback")

// A KindFeedback spool frame's payload is one batch of feedback rows as a
// JSON array of Feedback (each with its ID, so a replay is idempotent).

// EnqueueFeedback makes a batch of feedback durable before it returns and
// says where: FeedbackStored once the store committed it, or, with a spool,
// FeedbackSpooled once it is fsynced to the spool as one KindFeedback frame
// because the store did not take it within SpoolAfter (or records are being
// spooled already: the store is down or behind, and the batch goes straight
// to the spool). The replayer writes spooled feedback to the store in spool
// order with records, retrying with backoff; a batch the reachable store
// refuses IsolateAfter times is logged whole at error level and skipped.
//
// Unlike Enqueue it does not queue: feedback is rare next to records and
// its caller waits for the answer. It returns an error when the batch is
// durable nowhere: the store refused it and there is no spool, the spool is
// full (a *DropError with DropSpoolFull) or failed, the Recorder is closed
// (DropClosed), or ctx ended. fb must not be modified while it runs.
func (r *Recorder) EnqueueFeedback(ctx context.Context, fb []Feedback) (string, error) {
	fw, ok := r.w.(FeedbackWriter)
	if !ok {
		return "", ErrNoFeedbackWriter
	}
	if len(fb) == 0 {
		return FeedbackStored, nil
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return "", &DropError{Reason: DropClosed}
	}
	if r.sp == nil {
		wctx, cancel := context.WithTimeout(ctx, r.opts.WriteTimeout)
		err := fw.WriteFeedback(wctx, fb)
		cancel()
		if err != nil {
			r.feedbackFailed(err)
			return "", fmt.Errorf("write %d feedback rows: %w", len(fb), err)
		}
		r.countFeedback(&r.stats.FeedbackStored, len(fb))
		return FeedbackStored, nil
	}
	r.spoolMu.Lock()
	spooling := r.spooling
	r.spoolMu.Unlock()
	if !spooling {
		wctx, cancel := context.WithTimeout(ctx, r.opts.SpoolAfter)
		err := fw.WriteFeedback(wctx, fb)
		cancel()
		if err == nil {
			r.countFeedback(&r.stats.FeedbackStored, len(fb))
			return FeedbackStored, nil
		}
		r.feedbackFailed(err)
		if ctx.Err() != nil {
			return "", fmt.Errorf("write %d feedback rows: %w", len(fb), ctx.Err())
		}
	}
	if err := r.spoolFeedback(fb); err != nil {
		return "", err
	}
	return FeedbackSpooled, nil
}

func (r *Recorder) countFeedback(counter *uint64, n int) {
	r.mu.Lock()
	*counter += uint64(n)
	r.mu.Unlock()
}

func (r *Recorder) feedbackFailed(err error) {
	r.mu.Lock()
	r.stats.FeedbackWriteErrors++
	r.stats.LastError = err.Error()
	r.mu.Unlock()
}

// spoolFeedback appends fb to the spool as one KindFeedback frame (one
// fsync) and wakes the replayer.
func (r *Recorder) spoolFeedback(fb []Feedback) error {
	payload, err := json.Marshal(fb)
	if err != nil {
		return fmt.Errorf("encode %d feedback rows for the spool: %w", len(fb), err)
	}
	r.spoolMu.Lock()
	_, _, err = r.sp.Append(spool.KindFeedback, payload)
	started := err == nil && !r.spooling
	if started {
		r.spooling = true
	}
	r.spoolMu.Unlock()
	if err != nil {
		if errors.Is(err, spool.ErrFull) {
			r.log.Error("recorder: the spool is full; feedback refused", "rows", len(fb))
			return fmt.Errorf("spool %d feedback rows: %w", len(fb), &DropError{Reason: DropSpoolFull})
		}
		r.log.Error("recorder: cannot write feedback to the spool", "rows", len(fb), "err", err)
		return fmt.Errorf("spool %d feedback rows: %w", len(fb), &DropError{Reason: DropSpoolError})
	}
	if started {
		r.log.Warn("recorder: the store is down or behind; spooling to disk until it catches up", "spool", r.sp.Dir())
	}
	r.countFeedback(&r.stats.FeedbackSpooled, len(fb))
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// replayFeedback writes one spooled feedback batch to the store, retrying
// with backoff, and reports whether the frame is done with (false: Close
// stopped the replayer, or the queue is flushed and the store still fails;
// the frame stays in the spool for the next start).
func (r *Recorder) replayFeedback(f spool.Frame) bool {
	var fb []Feedback
	if err := json.Unmarshal(f.Data, &fb); err != nil {
		r.log.Error("recorder: a spooled feedback batch does not decode; skipped (its bytes follow)",
			"seq", f.Seq, "err", err, "payload", string(f.Data))
		return true
	}
	fw, ok := r.w.(FeedbackWriter)
	if !ok {
		// Spooled by a run whose writer stored feedback; this one cannot.
		r.log.Error("recorder: the writer does not store feedback; a spooled feedback batch is skipped (its bytes follow)",
			"seq", f.Seq, "payload", string(f.Data))
		return true
	}
	backoff := r.opts.RetryInitial
	var timer *time.Timer
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.replayCtx, r.opts.WriteTimeout)
		err := fw.WriteFeedback(ctx, fb)
		cancel()
		if err == nil {
			r.countFeedback(&r.stats.FeedbackReplayed, len(fb))
			return true
		}
		r.feedbackFailed(err)
		if r.replayCtx.Err() != nil || r.flushed() {
			return false
		}
		if attempt >= r.opts.IsolateAfter && !r.unavailable(err) && r.storeUp(r.replayCtx) {
			r.log.Error("recorder: the reachable store refuses a spooled feedback batch; skipped (its rows follow)",
				"seq", f.Seq, "rows", len(fb), "err", err, "payload", string(f.Data))
			return true
		}
		r.log.Warn("feedback write from the spool failed; retrying", "rows", len(fb), "attempt", attempt, "backoff", backoff, "err", err)
		if timer == nil {
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-timer.C:
		case <-r.done:
			timer.Stop()
		case <-r.replayCtx.Done():
			timer.Stop()
			return false
		}
		backoff = min(2*backoff, r.opts.RetryMax)
	}
}
