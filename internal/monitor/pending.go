package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// ErrCannotMatch: the store cannot tell which requests exist (it is no
// store.Matcher), so pending labels cannot be told from joined ones.
var ErrCannotMatch = errors.New("store cannot match labels to requests")

// PendingLabel is a stored label that labels no stored request (yet): its
// request id is not in the store — the record may still be on its way
// (queued, spooled) or may never arrive — or it is an entity label that
// matched no stored request when it arrived (RequestID empty; entity labels
// are resolved to requests when they arrive, see package feedback). A
// request-id label is joined as soon as its record is stored: it then
// counts in the metrics and is no longer pending.
type PendingLabel struct {
	RequestID  string    `json:"request_id,omitempty"`
	EntityID   string    `json:"entity_id,omitempty"`
	Label      int       `json:"label"`
	ReceivedAt time.Time `json:"received_at"`
}

// PendingPage is a page of pending labels: Total counts them all; Labels
// holds at most the asked limit from the asked offset, oldest label first
// (ties by request id, then entity id).
type PendingPage struct {
	Total  int            `json:"total"`
	Offset int            `json:"offset"`
	Labels []PendingLabel `json:"labels"`
}

// pendingState is kept with the label index: the latest label of each
// request id not known to be stored, and the entity-only rows.
type pendingState struct {
	// byID holds, for a store with a feedback log, every request id read
	// from the log and not yet matched to a stored record (the latest
	// label of each); for other stores it is rebuilt at each call.
	byID map[string]record.Feedback
	// entityOnly are the rows without a request id, in log order (log
	// stores; others rebuild them).
	entityOnly []record.Feedback
	// confirmed holds, for a store without a feedback log, the request
	// ids known to be stored (records are never deleted), so each is
	// matched once.
	confirmed map[string]struct{}
}

// note records a feedback row read from the log as a pending candidate.
// The label index's lock is held.
func (p *pendingState) note(fb record.Feedback) {
	if fb.RequestID == "" {
		p.entityOnly = append(p.entityOnly, fb)
		return
	}
	if p.byID == nil {
		p.byID = map[string]record.Feedback{}
	}
	if cur, ok := p.byID[fb.RequestID]; ok && fb.ReceivedAt.Before(cur.ReceivedAt) {
		return
	}
	p.byID[fb.RequestID] = fb
}

// PendingLabels returns the labels no stored request carries (see
// PendingLabel): their count, and the page of at most limit of them from
// offset (limit 0: none, the count only). Each call asks the store which of
// the request ids still pending exist now (store.Matcher, in chunks), so a
// label whose record was written since the last call is joined and leaves
// the list; its cost grows with the pending labels, not the stored ones
// (with a feedback log; otherwise every labelled id not yet seen stored is
// asked once).
func (m *Monitor) PendingLabels(ctx context.Context, offset, limit int) (PendingPage, error) {
	mt, ok := m.store.(store.Matcher)
	if !ok {
		return PendingPage{}, ErrCannotMatch
	}
	var all []PendingLabel
	if _, isLog := m.store.(store.FeedbackLogScanner); isLog {
		x := &m.labels
		x.mu.Lock()
		err := m.refreshLocked(ctx)
		if err == nil {
			err = x.pending.resolve(ctx, mt, slices.Collect(maps.Keys(x.pending.byID)), nil)
		}
		if err == nil {
			all = x.pending.list()
		}
		x.mu.Unlock()
		if err != nil {
			return PendingPage{}, err
		}
	} else {
		var p pendingState
		err := m.store.ScanFeedback(ctx, store.FeedbackScanParams{}, func(fb record.Feedback) error {
			p.note(fb)
			return nil
		})
		if err != nil {
			return PendingPage{}, fmt.Errorf("scan feedback: %w", err)
		}
		m.confirmedMu.Lock()
		if m.confirmed == nil {
			m.confirmed = map[string]struct{}{}
		}
		p.confirmed = m.confirmed
		var ids []string
		for id := range p.byID {
			if _, ok := p.confirmed[id]; ok {
				delete(p.byID, id)
			} else {
				ids = append(ids, id)
			}
		}
		err = p.resolve(ctx, mt, ids, p.confirmed)
		m.confirmedMu.Unlock()
		if err != nil {
			return PendingPage{}, err
		}
		all = p.list()
	}
	page := PendingPage{Total: len(all), Offset: offset, Labels: []PendingLabel{}}
	if offset < len(all) && limit > 0 {
		page.Labels = all[offset:min(len(all), offset+limit)]
	}
	return page, nil
}

// resolve asks the store which of ids exist and removes those from byID
// (adding them to confirmed when it is not nil).
func (p *pendingState) resolve(ctx context.Context, mt store.Matcher, ids []string, confirmed map[string]struct{}) error {
	const chunk = 10_000
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		res, err := mt.Match(ctx, store.MatchParams{RequestIDs: ids[:n]})
		if err != nil {
			return fmt.Errorf("match pending labels: %w", err)
		}
		for id := range res.Requests {
			delete(p.byID, id)
			if confirmed != nil {
				confirmed[id] = struct{}{}
			}
		}
		ids = ids[n:]
	}
	return nil
}

// list returns the pending labels, oldest first.
func (p *pendingState) list() []PendingLabel {
	out := make([]PendingLabel, 0, len(p.byID)+len(p.entityOnly))
	for _, fb := range p.byID {
		out = append(out, PendingLabel{RequestID: fb.RequestID, EntityID: fb.EntityID, Label: fb.Label, ReceivedAt: fb.ReceivedAt})
	}
	for _, fb := range p.entityOnly {
		out = append(out, PendingLabel{EntityID: fb.EntityID, Label: fb.Label, ReceivedAt: fb.ReceivedAt})
	}
	slices.SortStableFunc(out, func(a, b PendingLabel) int {
		return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.RequestID, b.RequestID), cmp.Compare(a.EntityID, b.EntityID))
	})
	return out
}
