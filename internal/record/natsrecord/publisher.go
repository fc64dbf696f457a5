// Package natsrecord carries records and feedback through a NATS JetStream
// stream: gateways publish them (Publisher, a record.Writer the gateway's
// Recorder writes to instead of the store) and any number of recorder
// processes sharing one durable pull consumer write them to the store
// (Consume), acknowledging each message after the store committed it.
//
// # Stream and subjects
//
// The stream RENDEZVOUS_RECORDS (file storage, work-queue retention: a
// message leaves the stream once a recorder acknowledged it; discard new:
// a full stream refuses records rather than dropping unstored ones) holds
// the subjects rendezvous.records.record (one record per message, its JSON
// as the spool writes it) and rendezvous.records.feedback (one feedback row
// per message). Every message carries Nats-Msg-Id "r:<request id>" or
// "f:<feedback id>", so a batch published again after a lost ack is
// de-duplicated by the stream within its duplicate window, and the store's
// idempotent writes absorb anything later.
//
// # What each failure does
//
// Publisher.WriteRecords returns once the stream acknowledged every record
// of the batch, or an error. The Recorder then does what it does when a
// store fails: retries, and with a spool moves the batch to its local
// spool after SpoolAfter and replays it to the stream when the stream takes
// it again; /readyz?verbose shows spooling and the last error. Ping fails
// while the stream is unreachable or full, so the Recorder never mistakes a
// full stream for refused records.
package natsrecord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Stream, subjects and consumer names.
const (
	StreamName      = "RENDEZVOUS_RECORDS"
	SubjectRecord   = "rendezvous.records.record"
	SubjectFeedback = "rendezvous.records.feedback"
	ConsumerName    = "rendezvous-recorder"
)

// StreamOptions are the stream's limits. Zero values select the defaults.
type StreamOptions struct {
	// MaxBytes bounds the stream's storage (default 1 GiB); a full stream
	// refuses new records (the gateways spool them).
	MaxBytes int64
	// MaxAge drops records older than it (default 0: kept until stored).
	MaxAge time.Duration
	// Replicas is the number of copies in a NATS cluster (default 1).
	Replicas int
	// Duplicates is the de-duplication window by message id (default 2m).
	Duplicates time.Duration
}

// DefaultStreamMaxBytes is StreamOptions.MaxBytes when unset.
const DefaultStreamMaxBytes = 1 << 30

func (o StreamOptions) config() jetstream.StreamConfig {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultStreamMaxBytes
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Rendezvous records and feedback on their way to the store",
		Subjects:    []string{SubjectRecord, SubjectFeedback},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    o.MaxBytes,
		MaxAge:      o.MaxAge,
		Replicas:    o.Replicas,
		Duplicates:  o.Duplicates,
	}
}

// EnsureStream creates the stream, or updates its limits when it exists.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, o.config())
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", StreamName, err)
	}
	return s, nil
}

// ErrStreamFull is Ping's error when the stream holds its MaxBytes (or
// more than 99 % of it).
var ErrStreamFull = errors.New("records stream is full")

// Publisher publishes records and feedback to the stream. It implements
// record.Writer, record.FeedbackWriter and record.Pinger, so a Recorder
// writes to it as to a store. It is safe for concurrent use.
type Publisher struct {
	js   jetstream.JetStream
	opts StreamOptions

	mu     sync.Mutex
	stream jetstream.Stream // nil until the stream is ensured
}

// NewPublisher returns a Publisher on nc. The stream is created (or its
// limits updated) on the first write that reaches the server, so a gateway
// starts while NATS is down.
func NewPublisher(nc *nats.Conn, o StreamOptions) (*Publisher, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Publisher{js: js, opts: o}, nil
}

func (p *Publisher) ensure(ctx context.Context) (jetstream.Stream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream != nil {
		return p.stream, nil
	}
	s, err := EnsureStream(ctx, p.js, p.opts)
	if err != nil {
		return nil, err
	}
	p.stream = s
	return s, nil
}

// WriteRecords publishes every record of recs (asynchronously, all at
// once) and returns when the stream acknowledged all of them, or the first
// error. Records published before an error are not withdrawn: a retry
// publishes them again under the same message ids.
func (p *Publisher) WriteRecords(ctx context.Context, recs []record.Record) error {
	msgs := make([]*nats.Msg, 0, len(recs))
	for i := range recs {
		data, err := json.Marshal(&recs[i])
		if err != nil {
			return fmt.Errorf("encode record %q: %w", recs[i].ID, err)
		}
		msgs = append(msgs, newMsg(SubjectRecord, "r:"+recs[i].ID, data))
	}
	if err := p.publish(ctx, msgs); err != nil {
		return fmt.Errorf("publish %d records to stream %s: %w", len(recs), StreamName, err)
	}
	return nil
}

// WriteFeedback publishes feedback rows like WriteRecords.
func (p *Publisher) WriteFeedback(ctx context.Context, fb []record.Feedback) error {
	msgs := make([]*nats.Msg, 0, len(fb))
	for i := range fb {
		data, err := json.Marshal(&fb[i])
		if err != nil {
			return fmt.Errorf("encode feedback %q: %w", fb[i].ID, err)
		}
		id := ""
		if fb[i].ID != "" {
			id = "f:" + fb[i].ID
		}
		msgs = append(msgs, newMsg(SubjectFeedback, id, data))
	}
	if err := p.publish(ctx, msgs); err != nil {
		return fmt.Errorf("publish %d feedback rows to stream %s: %w", len(fb), StreamName, err)
	}
	return nil
}

func newMsg(subject, id string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	if id != "" {
		m.Header.Set(jetstream.MsgIDHeader, id)
	}
	return m
}

func (p *Publisher) publish(ctx context.Context, msgs []*nats.Msg) error {
	if _, err := p.ensure(ctx); err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(StreamName))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

var _ record.OutageClassifier = (*Publisher)(nil)

// Unavailable reports whether err, from a write, says the stream could not
// take messages at that moment rather than refusing them: NATS
// disconnected, reconnecting, closed or draining, no responders, too many
// publishes in flight, a timeout. It makes the Publisher a
// record.OutageClassifier.
func (p *Publisher) Unavailable(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
		nats.ErrDisconnected, nats.ErrNoServers, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, jetstream.ErrTooManyStalledMsgs, jetstream.ErrAsyncPublishTimeout,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Ping reports whether the stream takes records: reachable, and not full.
func (p *Publisher) Ping(ctx context.Context) error {
	s, err := p.ensure(ctx)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", StreamName, err)
	}
	if max := info.Config.MaxBytes; max > 0 && info.State.Bytes >= uint64(max)/100*99 {
		return fmt.Errorf("%w: %d of %d bytes", ErrStreamFull, info.State.Bytes, max)
	}
	return nil
}

// State describes the stream for /readyz?verbose in one phrase: "ok",
// "full: records go to the local spool" or "unreachable: records go to the
// local spool" (the error's text, which may name hosts, is not included).
func (p *Publisher) State(ctx context.Context) string {
	switch err := p.Ping(ctx); {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrStreamFull):
		return "full: records go to the local spool"
	default:
		return "unreachable: records go to the local spool"
	}
}
