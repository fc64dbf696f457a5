package natsrecord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Store is where Consume writes (a store.Store is one). Both writes must be
// idempotent by id: a message whose ack was lost is delivered again.
type Store interface {
	WriteRecords(ctx context.Context, recs []record.Record) error
	WriteFeedback(ctx context.Context, fb []record.Feedback) error
	Ping(ctx context.Context) error
}

// ConsumerOptions configures Consume. Zero values select the defaults.
type ConsumerOptions struct {
	// Batch is the most messages fetched and written at once (default 512).
	Batch int
	// MaxWait is how long a fetch waits for Batch messages (default 200ms).
	MaxWait time.Duration
	// AckWait is how long a delivered message may stay unacknowledged
	// before the stream gives it to another recorder (default 30s; a
	// recorder that keeps retrying a write extends it).
	AckWait time.Duration
	// RetryInitial and RetryMax bound the backoff between failed writes
	// (defaults 100ms and 5s); after IsolateAfter (3) failures against a
	// store that answers Ping, the batch is written one record at a time
	// and a record the store still refuses is logged whole and dropped
	// from the stream (quarantined).
	RetryInitial, RetryMax time.Duration
	// Stream's limits, applied when Consume creates the stream.
	Stream StreamOptions
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// OnBatch, when set, is called after each batch was committed and
	// acknowledged, with its record and feedback counts (tests, metrics).
	OnBatch func(records, feedback int)
}

func (o *ConsumerOptions) defaults() {
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 200 * time.Millisecond
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Consume writes the stream's records and feedback to st until ctx ends,
// sharing the durable consumer "rendezvous-recorder" with every other
// recorder: each fetched batch is written (records, then feedback) and its
// messages acknowledged only after the store committed them. It creates
// the stream and the consumer when they do not exist. It returns nil when
// ctx ends (unacknowledged messages go to another recorder after AckWait),
// or an error when the stream cannot be set up.
func Consume(ctx context.Context, js jetstream.JetStream, st Store, o ConsumerOptions) error {
	o.defaults()
	if err := createStreamIfMissing(ctx, js, o.Stream); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "rendezvous recorder: writes records and feedback to the store",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxAckPending: 64 * o.Batch,
		MaxDeliver:    -1,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("create or update consumer %s on %s: %w", ConsumerName, StreamName, err)
	}
	c := &consumer{st: st, o: o, log: o.Logger}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(o.Batch, jetstream.FetchMaxWait(o.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("recorder fetch failed; retrying", "error", err)
			c.sleep(ctx, o.RetryInitial)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			c.log.Warn("recorder fetch ended early", "error", err)
		}
		if len(msgs) > 0 {
			c.handle(ctx, msgs)
		}
	}
	return nil
}

// createStreamIfMissing creates the stream unless it exists: the gateways'
// configuration owns its limits.
func createStreamIfMissing(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	_, err := js.Stream(ctx, StreamName)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up stream %s: %w", StreamName, err)
	}
	if _, err := js.CreateStream(ctx, o.config()); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	return nil
}

type consumer struct {
	st  Store
	o   ConsumerOptions
	log *slog.Logger
}

// handle decodes msgs, writes them and acknowledges them. A message that
// does not decode is terminated (logged, never redelivered). When ctx ends
// during the write, nothing more is acknowledged.
func (c *consumer) handle(ctx context.Context, msgs []jetstream.Msg) {
	var (
		recs    []record.Record
		recMsgs []jetstream.Msg
		fb      []record.Feedback
		fbMsgs  []jetstream.Msg
	)
	for _, m := range msgs {
		switch m.Subject() {
		case SubjectRecord:
			var r record.Record
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				c.poison(m, err)
				continue
			}
			recs, recMsgs = append(recs, r), append(recMsgs, m)
		case SubjectFeedback:
			var f record.Feedback
			if err := json.Unmarshal(m.Data(), &f); err != nil {
				c.poison(m, err)
				continue
			}
			fb, fbMsgs = append(fb, f), append(fbMsgs, m)
		default:
			c.poison(m, fmt.Errorf("unexpected subject %q", m.Subject()))
		}
	}
	if len(recs) > 0 {
		if !c.writeRecords(ctx, recs, recMsgs) {
			nakAll(recMsgs, fbMsgs) // stopping: hand them to another recorder now
			return
		}
		ackAll(recMsgs)
	}
	if len(fb) > 0 {
		if !c.retry(ctx, fbMsgs, "feedback", func(wctx context.Context) error { return c.st.WriteFeedback(wctx, fb) }) {
			if ctx.Err() != nil {
				nakAll(fbMsgs)
				return
			}
			c.log.Error("record store refuses a feedback batch; quarantined (dropped from the stream)", "rows", len(fb))
			for _, m := range fbMsgs {
				c.log.Error("quarantined feedback", "feedback", string(m.Data()))
				m.Term()
			}
		} else {
			ackAll(fbMsgs)
		}
	}
	if c.o.OnBatch != nil {
		c.o.OnBatch(len(recs), len(fb))
	}
}

// writeRecords writes recs, isolating and quarantining the records a
// reachable store refuses; it reports false when ctx ended first.
func (c *consumer) writeRecords(ctx context.Context, recs []record.Record, msgs []jetstream.Msg) bool {
	if c.retry(ctx, msgs, "records", func(wctx context.Context) error { return c.st.WriteRecords(wctx, recs) }) {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	// The store is up and refuses the batch: one record at a time.
	for i := range recs {
		one := recs[i : i+1 : i+1]
		if c.retry(ctx, msgs[i:i+1], "records", func(wctx context.Context) error { return c.st.WriteRecords(wctx, one) }) {
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		doc, _ := json.Marshal(&recs[i])
		c.log.Error("record store refuses a record; quarantined (dropped from the stream)", "id", recs[i].ID, "record", string(doc))
		msgs[i].Term()
	}
	return true
}

// retry calls write until it succeeds (true), ctx ends (false), or it has
// failed 3 times while the store answers Ping (false: the store refuses
// the batch). While it retries it tells the stream the messages are in
// progress, so they are not given to another recorder.
func (c *consumer) retry(ctx context.Context, msgs []jetstream.Msg, what string, write func(context.Context) error) bool {
	backoff := c.o.RetryInitial
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := write(wctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				c.log.Info("record store writes recovered", "what", what, "messages", len(msgs), "attempts", attempt)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt >= 3 && len(msgs) > 0 {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			up := c.st.Ping(pctx) == nil
			pcancel()
			if up {
				c.log.Warn("reachable record store refuses a batch", "what", what, "messages", len(msgs), "error", err)
				return false
			}
		}
		c.log.Warn("record store write failed; retrying", "what", what, "messages", len(msgs), "attempt", attempt, "backoff", backoff, "error", err)
		for _, m := range msgs {
			m.InProgress()
		}
		c.sleep(ctx, backoff)
		backoff = min(2*backoff, c.o.RetryMax)
	}
}

func (c *consumer) poison(m jetstream.Msg, err error) {
	c.log.Error("undecodable message in the records stream; terminated", "subject", m.Subject(), "error", err, "data", string(m.Data()))
	m.Term()
}

func (c *consumer) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func nakAll(lists ...[]jetstream.Msg) {
	for _, msgs := range lists {
		for _, m := range msgs {
			m.Nak()
		}
	}
}

func ackAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		m.Ack()
	}
}
