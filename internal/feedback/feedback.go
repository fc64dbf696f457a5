// Package feedback accepts ground-truth labels that arrive after the
// prediction, validates them against the configured classes, resolves them to
// stored requests (by request id, or every request of an entity) and appends
// them to the store. Feedback never rewrites a record; the latest label for a
// request is the one analysis uses.
package feedback

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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

// Result reports what Submit did. Accepted counts the items that matched at
// least one stored request; Labelled counts the requests that received a
// label (an entity item labels all of that entity's requests). Unmatched
// lists the request or entity ids of items that matched nothing.
type Result struct {
	Accepted  int      `json:"accepted"`
	Labelled  int      `json:"labelled"`
	Unmatched []string `json:"unmatched"`
}

// Store is what the service needs from a record store.
type Store interface {
	Match(ctx context.Context, p store.MatchParams) (store.MatchResult, error)
	WriteFeedback(ctx context.Context, fb []record.Feedback) error
}

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
	words  map[string]int
	words2 map[int]string
	now    func() time.Time
}

// New returns a Service accepting the classes in labels (class → word).
// now may be nil (time.Now).
func New(s Store, labels map[int]string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	svc := &Service{store: s, words: map[string]int{}, words2: labels, now: now}
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
	m, err := s.store.Match(ctx, p)
	if err != nil {
		return Result{}, fmt.Errorf("match feedback to requests: %w", err)
	}
	now := s.now().UTC()
	res := Result{Unmatched: []string{}}
	var rows []record.Feedback
	for i, it := range items {
		var ids []string
		if it.RequestID != "" {
			if m.Requests[it.RequestID] {
				ids = []string{it.RequestID}
			}
		} else {
			ids = m.Entities[it.EntityID]
		}
		if len(ids) == 0 {
			res.Unmatched = append(res.Unmatched, cmp.Or(it.RequestID, it.EntityID))
			continue
		}
		res.Accepted++
		for _, id := range ids {
			rows = append(rows, record.Feedback{RequestID: id, EntityID: it.EntityID, Label: labels[i], ReceivedAt: now})
		}
	}
	res.Labelled = len(rows)
	if len(rows) == 0 {
		return res, nil
	}
	if err := s.store.WriteFeedback(ctx, rows); err != nil {
		return Result{}, fmt.Errorf("write feedback: %w", err)
	}
	return res, nil
}

// IsValidation reports whether err is a *ValidationError and returns it.
func IsValidation(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}
