package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Client-chosen request ids (X-Request-ID) are idempotency keys: a retry of
// the same request under the same id gets the first answer again and no
// second record; another request under an id already used is a conflict.

// ErrIDInUse is wrapped by Claim's error when another request under the
// same id is still being served.
var ErrIDInUse = errors.New("request id in use by a request still being served")

// lookuper is implemented by recorders that can find a record they have not
// written yet (*record.Recorder).
type lookuper interface {
	Lookup(id string) (record.Record, bool)
}

// Claim holds a client-chosen request id while its request is served, so
// that a concurrent request under the same id is refused, and carries the
// record an earlier request left under it (Previous). Release it with Done
// when the request is not routed; a routed request releases it once its
// record has been handed to the recorder.
type Claim struct {
	g  *Gateway
	id string
	// Previous is the record an earlier request left under the id (or the
	// id of its first batch instance), nil when the id is new.
	Previous *record.Record
	// Unchecked is true when the store could not be asked (unreachable)
	// and the id was found nowhere else the gateway looks: the request is
	// served as new, and its record is verified against the store once the
	// store answers (see idcheck.go).
	Unchecked bool
	mu        sync.Mutex
	pending   int // records still to hand over before the id is released
	released  bool
}

// Claim reserves a client-chosen id and looks up what an earlier request
// left under it: in flight, in the store, in the recorder's queue or spool.
// When the store cannot answer (within idCheckTimeout), availability wins:
// the id is also looked up among the ids this gateway recorded recently,
// and when it is not there either the claim is Unchecked (the request is
// served as new). The only error is ErrIDInUse.
func (g *Gateway) Claim(ctx context.Context, id string) (*Claim, error) {
	if _, busy := g.claims.LoadOrStore(id, struct{}{}); busy {
		return nil, fmt.Errorf("request id %q: %w", id, ErrIDInUse)
	}
	c := &Claim{g: g, id: id}
	unchecked := false
	for _, key := range []string{id, id + ".0"} {
		prev, ok, err := g.previous(ctx, key)
		if err != nil {
			unchecked = true
			continue
		}
		if ok {
			c.Previous = &prev
			break
		}
	}
	if c.Previous == nil && unchecked {
		c.Unchecked = true
		g.ids.counters.unchecked.Add(1)
	}
	return c, nil
}

// recorded is called with each record handed over under the claim: it is
// remembered (for the id check while the store is unreachable) and, when
// the claim is Unchecked, verified once the store answers.
func (c *Claim) recorded(rec record.Record) {
	if c == nil {
		return
	}
	c.g.ids.remember(rec)
	if c.Unchecked {
		c.g.uncheckedRecord(rec)
	}
}

// previous finds the record kept under id anywhere the gateway's records
// go: the store, the recorder, the store again (a record may move from the
// recorder to the store between the two looks). When the store cannot
// answer, it looks in the recorder and among the ids recorded recently, and
// returns an error wrapping errUnchecked when the id is in neither.
func (g *Gateway) previous(ctx context.Context, id string) (record.Record, bool, error) {
	if g.store == nil && g.rec == nil {
		return record.Record{}, false, nil
	}
	look := func() (record.Record, bool, error) {
		if g.store == nil {
			return record.Record{}, false, nil
		}
		ctx, cancel := context.WithTimeout(ctx, idCheckTimeout)
		defer cancel()
		rec, err := g.store.GetRecord(ctx, id)
		switch {
		case err == nil:
			return rec, true, nil
		case errors.Is(err, store.ErrNotFound):
			return rec, false, nil
		}
		return rec, false, fmt.Errorf("look up request id %q: %w: %w", id, errUnchecked, err)
	}
	rec, ok, storeErr := look()
	if ok {
		return rec, true, nil
	}
	if l, ok := g.rec.(lookuper); ok {
		if rec, found := l.Lookup(id); found {
			return rec, true, nil
		}
	}
	if storeErr != nil {
		if rec, found := g.ids.recent(id); found {
			return rec, true, nil
		}
		return rec, false, storeErr
	}
	rec, ok, err := look()
	if err != nil { // unreachable since the first look: the recorder had no record
		return rec, false, nil
	}
	return rec, ok, nil
}

// expect says n records will be handed over under this claim.
func (c *Claim) expect(n int) {
	c.mu.Lock()
	c.pending += n
	c.mu.Unlock()
}

// handed is called once per record handed over; the last one releases.
func (c *Claim) handed() {
	c.mu.Lock()
	c.pending--
	last := c.pending <= 0
	c.mu.Unlock()
	if last {
		c.Done()
	}
}

// Done releases the id. It is safe to call more than once.
func (c *Claim) Done() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.released = true
		c.g.claims.Delete(c.id)
	}
}

// SameRequest reports whether reqs (one request, or a batch's instances in
// order) are what the Previous record holds: the same endpoint, entity and
// validated input (compared as canonical JSON). For a batch only the first
// instance's record is compared, with the ids telling instances apart.
func (c *Claim) SameRequest(reqs []Request) bool {
	p := c.Previous
	if p == nil || len(reqs) == 0 || p.Status == record.RequestRejected {
		return false
	}
	r := reqs[0]
	return p.ID == r.ID && p.Endpoint == r.Endpoint && p.EntityID == r.EntityID && sameJSON(p.Input, r.Input)
}

// SameRejection reports whether the Previous record is a rejection of
// exactly raw (a retry of the same bad body). A record that keeps only
// part of its body, or none (remembered ids), is compared by the whole
// body's length and SHA-256.
func (c *Claim) SameRejection(endpoint string, raw []byte) bool {
	p := c.Previous
	if p == nil || p.Status != record.RequestRejected || p.Endpoint != endpoint {
		return false
	}
	if p.RawSHA256 != "" {
		sum := sha256.Sum256(raw)
		return p.RawBytes == int64(len(raw)) && p.RawSHA256 == hex.EncodeToString(sum[:])
	}
	return p.Raw == string(raw)
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Replay is the answer the Previous record holds for one request: what
// the model that served it said. ok is false when it served nobody (the
// earlier request got 503) or is not there.
func Replay(rec *record.Record) (a Answer, ok bool) {
	if rec == nil || rec.Decision == nil || rec.Decision.ServedBy == "" {
		return a, false
	}
	mr, found := rec.Models[rec.Decision.ServedBy]
	if !found || mr.Prediction == nil || mr.Probability == nil {
		return a, false
	}
	a = Answer{RequestID: rec.ID, EntityID: rec.EntityID, Label: mr.Label}
	a.Decision.ServedBy = rec.Decision.ServedBy
	a.Decision.Role = mr.Role
	a.Decision.Info.Version = mr.Version
	a.Decision.Info.Artifact = mr.Artifact
	a.Decision.Reason = rec.Decision.Reason
	a.Decision.Fallback = rec.Decision.Reason == "fallback"
	a.Decision.Prediction.Class = *mr.Prediction
	a.Decision.Prediction.Probability = *mr.Probability
	a.Decision.Prediction.Label = mr.Label
	return a, true
}

// InstanceSuffix reports whether id ends like a batch instance's id
// (".<digits>"), which client ids may not, so the two never collide.
func InstanceSuffix(id string) bool {
	i := strings.LastIndexByte(id, '.')
	if i < 0 || i == len(id)-1 {
		return false
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Instance returns the record of instance i of the earlier batch sent under
// the claimed id (nil when there is none).
func (c *Claim) Instance(ctx context.Context, i int) (*record.Record, error) {
	rec, ok, err := c.g.previous(ctx, fmt.Sprintf("%s.%d", c.id, i))
	if err != nil || !ok {
		return nil, err
	}
	return &rec, nil
}
