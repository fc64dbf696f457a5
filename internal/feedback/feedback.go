// Package feedback accepts ground-truth labels that arrive after the
// prediction, validates them against the configured classes and appends
// them to the store — through the recorder, so they go to its disk spool
// while the store is down. A label by request id is kept whether or not its
// record is stored yet: analytics join labels to records when they read, so
// a label that arrives before its record counts once the record is written,
// and one whose record never arrives stays pending. A label by entity id
// labels every request of the entity stored when it arrives (one row per
// request); later requests of the entity are not labelled by it. Feedback
// never rewrites a record; the latest label for a request is the one
// analysis uses.
package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// MaxBatch is the most items one Submit accepts.
const MaxBatch = 10_000

// ErrTooMany is returned when a batch exceeds MaxBatch.
var ErrTooMany = fmt.Errorf("too many feedback items (at most %d per call)", MaxBatch)

// Item is one label as a client sends it: exactly one of RequestID and
// EntityID, and a label that is a class number (1) or its word ("Survived").
type Item struct {
	RequestID string          `json:"request_id,omitempty"`
	EntityID  string          `json:"entity_id,omitempty"`
	Label     json.RawMessage `json:"label"`
}

// Result reports what Submit did. Every valid item is kept: a label whose
// request is not stored yet is appended all the same and joined when
// analytics read, once the record is stored.
//
// Accepted counts the items kept (every item of a valid call). Labelled
// counts the stored requests that received a label now (an entity item
// labels every stored request of its entity). Pending lists the ids whose
// labels label nothing yet: request ids whose record is not in the store
// (still queued or spooled by the recorder, or never sent: the label waits
// for it, listed by GET /v1/feedback/pending), and entity ids with no stored
// request (kept, pending for good: see Entities). Entities reports, per
// entity item, how many requests it labelled; an entity label applies to
// the requests of the entity stored when it arrives, and never to requests
// of the entity recorded later. StoredIn says where the labels went:
// "store", or "spool" when the store was down or behind (the recorder
// writes them to the store when it answers).
type Result struct {
	Accepted int            `json:"accepted"`
	Labelled int            `json:"labelled"`
	Pending  []string       `json:"pending"`
	Entities []EntityResult `json:"entities,omitempty"`
	StoredIn string         `json:"stored_in"`
}

// EntityResult is what one entity item did.
type EntityResult struct {
	EntityID string `json:"entity_id"`
	// Requests is the number of the entity's stored requests it labelled
	// (0: none stored; the label is kept, pending, and labels nothing).
	Requests int `json:"requests"`
}

// Where Result.StoredIn says the labels went.
const (
	StoredInStore = "store"
	StoredInSpool = "spool"
)

// EntityRule is the entity-label rule, as the API states it.
const EntityRule = "an entity label applies to the entity's requests stored when it arrives; requests of the entity recorded later are not labelled by it"

// Store is what the service needs from a record store.
type Store interface {
	Match(ctx context.Context, p store.MatchParams) (store.MatchResult, error)
	WriteFeedback(ctx context.Context, fb []record.Feedback) error
}

// Sink makes a batch of feedback rows durable and says where (a
// *record.Recorder: record.FeedbackStored or record.FeedbackSpooled).
type Sink interface {
	EnqueueFeedback(ctx context.Context, fb []record.Feedback) (string, error)
}

// ErrUnavailable is wrapped by Submit's error when the labels could not be
// made durable anywhere (the store is down and there is no spool, or the
// spool is full), or when entity items could not be resolved because the
// store is down. Nothing was written; the client should retry.
var ErrUnavailable = errors.New("feedback store unavailable")

// MatchTimeout bounds the store lookup that tells stored requests from
// pending ones; past it the store counts as down.
const MatchTimeout = 2 * time.Second

// ValidationError lists every invalid item; nothing was written.
type ValidationError struct{ Fields []schema.FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid feedback: " + strings.Join(parts, "; ")
}

// Service validates and stores feedback. It is safe for concurrent use.
type Service struct {
	// MaxIDBytes caps a request_id or entity_id in bytes (0: the default,
	// schema.DefaultMaxEntityIDBytes; set it to the configuration's
	// schema.max_entity_id_bytes before use).
	MaxIDBytes int

	store  Store
	sink   Sink
	words  map[string]int
	words2 map[int]string
	now    func() time.Time
}

// New returns a Service accepting the classes in labels (class → word),
// resolving items against s and writing rows through sink (nil: straight
// to s). now may be nil (time.Now).
func New(s Store, sink Sink, labels map[int]string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if sink == nil {
		sink = storeSink{s}
	}
	svc := &Service{store: s, sink: sink, words: map[string]int{}, words2: labels, now: now}
	for c, w := range labels {
		svc.words[w] = c
	}
	return svc
}

// Decode parses a request body: one item, or {"feedback":[…]} (batch true,
// so Submit prefixes field paths with "feedback[i].").
func Decode(body []byte) (items []Item, batch bool, err error) {
	var probe struct {
		Feedback json.RawMessage `json:"feedback"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, false, fmt.Errorf("malformed JSON: %w", err)
	}
	if err := schema.CheckStrict(body); err != nil {
		return nil, false, err // a repeated key (which label counts?) or invalid UTF-8
	}
	dec := func(data []byte, v any) error {
		d := json.NewDecoder(bytes.NewReader(data))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	if probe.Feedback != nil {
		var all struct {
			Feedback []Item `json:"feedback"`
		}
		if err := dec(body, &all); err != nil {
			return nil, true, fmt.Errorf("decode feedback batch: %w", err)
		}
		return all.Feedback, true, nil
	}
	var one Item
	if err := dec(body, &one); err != nil {
		return nil, false, fmt.Errorf("decode feedback: %w", err)
	}
	return []Item{one}, false, nil
}

// parseLabel accepts a class number or a configured word.
func (s *Service) parseLabel(raw json.RawMessage) (int, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, "required"
	}
	var word string
	if err := json.Unmarshal(raw, &word); err == nil {
		if c, ok := s.words[word]; ok {
			return c, ""
		}
		if c, err := strconv.Atoi(word); err == nil {
			if _, ok := s.words2[c]; ok {
				return c, ""
			}
		}
		return 0, fmt.Sprintf("must be one of %s, got %q", s.allowed(), word)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		c := int(f)
		if float64(c) == f {
			if _, ok := s.words2[c]; ok {
				return c, ""
			}
		}
		return 0, fmt.Sprintf("must be one of %s, got %s", s.allowed(), raw)
	}
	return 0, fmt.Sprintf("must be a class number or word, got %s", raw)
}

func (s *Service) allowed() string {
	classes := make([]int, 0, len(s.words2))
	for c := range s.words2 {
		classes = append(classes, c)
	}
	sort.Ints(classes)
	parts := make([]string, 0, 2*len(classes))
	for _, c := range classes {
		parts = append(parts, strconv.Itoa(c), strconv.Quote(s.words2[c]))
	}
	return strings.Join(parts, ", ")
}

// Submit validates every item (all problems at once, as a *ValidationError,
// writing nothing), resolves them against the store and appends one
// feedback row per labelled request. batch tells whether field paths are
// prefixed with "feedback[i].".
func (s *Service) Submit(ctx context.Context, items []Item, batch bool) (Result, error) {
	if len(items) > MaxBatch {
		return Result{}, ErrTooMany
	}
	if len(items) == 0 {
		return Result{}, &ValidationError{Fields: []schema.FieldError{{Field: "feedback", Problem: "must hold at least one item"}}}
	}
	prefix := func(i int, f string) string {
		if batch {
			return fmt.Sprintf("feedback[%d].%s", i, f)
		}
		return f
	}
	var problems []schema.FieldError
	labels := make([]int, len(items))
	var p store.MatchParams
	for i, it := range items {
		switch {
		case it.RequestID == "" && it.EntityID == "":
			problems = append(problems, schema.FieldError{Field: prefix(i, "request_id"), Problem: "one of request_id or entity_id is required"})
		case it.RequestID != "" && it.EntityID != "":
			problems = append(problems, schema.FieldError{Field: prefix(i, "request_id"), Problem: "give request_id or entity_id, not both"})
		case it.RequestID != "":
			p.RequestIDs = append(p.RequestIDs, it.RequestID)
		default:
			p.EntityIDs = append(p.EntityIDs, it.EntityID)
		}
		for _, id := range []struct{ field, value string }{{"request_id", it.RequestID}, {"entity_id", it.EntityID}} {
			if fe := schema.CheckEntityID(id.value, s.MaxIDBytes); fe != nil {
				problems = append(problems, schema.FieldError{Field: prefix(i, id.field), Problem: fe.Problem})
			}
		}
		c, problem := s.parseLabel(it.Label)
		if problem != "" {
			problems = append(problems, schema.FieldError{Field: prefix(i, "label"), Problem: problem})
		}
		labels[i] = c
	}
	if len(problems) > 0 {
		return Result{}, &ValidationError{Fields: problems}
	}
	mctx, cancel := context.WithTimeout(ctx, MatchTimeout)
	m, err := s.store.Match(mctx, p)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("match feedback to requests: %w", ctx.Err())
		}
		if len(p.EntityIDs) > 0 {
			// An entity label is resolved to the entity's stored requests
			// when it arrives; with the store down it cannot be.
			return Result{}, fmt.Errorf("%w: entity labels need the store to resolve them: %w", ErrUnavailable, err)
		}
		// Request-id labels need no store to be kept: all count as
		// pending, and go to the spool if the store is down.
		m = store.MatchResult{}
	}
	now := s.now().UTC()
	res := Result{Accepted: len(items), Pending: []string{}}
	var rows []record.Feedback
	for i, it := range items {
		if it.RequestID != "" {
			rows = append(rows, record.Feedback{ID: newID(), RequestID: it.RequestID, Label: labels[i], ReceivedAt: now})
			if m.Requests[it.RequestID] {
				res.Labelled++
			} else {
				res.Pending = append(res.Pending, it.RequestID)
			}
			continue
		}
		ids := m.Entities[it.EntityID]
		res.Entities = append(res.Entities, EntityResult{EntityID: it.EntityID, Requests: len(ids)})
		if len(ids) == 0 {
			// Kept, so no label is thrown away; it labels nothing.
			rows = append(rows, record.Feedback{ID: newID(), EntityID: it.EntityID, Label: labels[i], ReceivedAt: now})
			res.Pending = append(res.Pending, it.EntityID)
			continue
		}
		res.Labelled += len(ids)
		for _, id := range ids {
			rows = append(rows, record.Feedback{ID: newID(), RequestID: id, EntityID: it.EntityID, Label: labels[i], ReceivedAt: now})
		}
	}
	where, err := s.sink.EnqueueFeedback(ctx, rows)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("write feedback: %w", ctx.Err())
		}
		return Result{}, fmt.Errorf("%w: write feedback: %w", ErrUnavailable, err)
	}
	res.StoredIn = StoredInStore
	if where == record.FeedbackSpooled {
		res.StoredIn = StoredInSpool
	}
	return res, nil
}

// newID names a feedback row (a UUIDv7: time-ordered), so writing it again
// stores it once.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// storeSink writes rows straight to a store.
type storeSink struct{ s Store }

func (k storeSink) EnqueueFeedback(ctx context.Context, fb []record.Feedback) (string, error) {
	if err := k.s.WriteFeedback(ctx, fb); err != nil {
		return "", err
	}
	return record.FeedbackStored, nil
}

// IsValidation reports whether err is a *ValidationError and returns it.
func IsValidation(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}
