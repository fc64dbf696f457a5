package gateway

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// While the store is unreachable, a client-chosen request id cannot be
// checked against it. Availability wins: the gateway looks where it can —
// in flight (claims), the recorder's queue and spool (Lookup), and a
// bounded LRU of the ids it recently recorded (recent) — and when the id
// is in none of them it accepts the request as new, marks it unchecked, and
// verifies it once the store answers again (verifier): the store keeps the
// first record under an id (its insert is idempotent by id), so a request
// that reused an id the store already held is not stored, and the verifier
// counts and logs it.

// Bounds of the id check.
const (
	// idCheckTimeout bounds the store lookup of a client id; past it the
	// store counts as unreachable.
	idCheckTimeout = 2 * time.Second
	// recentIDs and recentBytes bound the LRU of recently recorded client
	// ids (compact records, see compact).
	recentIDs   = 10_000
	recentBytes = 8 << 20
	// maxUnchecked bounds the ids awaiting verification; beyond it an
	// unchecked id is accepted and counted but not verified.
	maxUnchecked = 100_000
	// verifyEvery is the verifier's pace; verifyMissing is how many passes
	// with the store answering its ping an id may be missing from both the
	// store and the recorder (or unreadable) before the verifier gives up
	// on it (its record was dropped).
	verifyEvery   = time.Second
	verifyMissing = 600
)

// errUnchecked is previous's error when the store could not answer and the
// id is nowhere else the gateway looks.
var errUnchecked = errors.New("the record store is unreachable")

// IDCheckStats counts what became of client ids checked while the store was
// unreachable (for /metrics).
type IDCheckStats struct {
	// Unchecked counts client ids accepted while the store could not say
	// whether they were used before.
	Unchecked uint64
	// Verified counts those the store later showed to hold this gateway's
	// record; Conflicts those it showed to hold an earlier record of a
	// different request (that request's record was not stored: the first
	// one wins); Retries those holding an earlier record of the same
	// request (answered anew rather than replayed; the first record kept).
	Verified, Conflicts, Retries uint64
	// Unverified counts ids given up on: over maxUnchecked, or never found
	// in the store (their record was dropped).
	Unverified uint64
}

// idCheck holds the LRU and the verifier of one gateway.
type idCheck struct {
	mu       sync.Mutex
	lru      *list.List // of *recentID, most recent first
	byID     map[string]*list.Element
	bytes    int
	pending  map[string]*uncheckedID
	running  bool
	counters struct {
		unchecked, verified, conflicts, retries, unverified atomic.Uint64
	}
}

type recentID struct {
	rec  record.Record // compact
	size int
}

type uncheckedID struct {
	mine    mark
	missing int
}

func newIDCheck() *idCheck {
	return &idCheck{lru: list.New(), byID: map[string]*list.Element{}, pending: map[string]*uncheckedID{}}
}

// compact returns rec as the LRU keeps it: enough to compare a retry with
// it (SameRequest, SameRejection) and to replay its answer, without the raw
// body (its SHA-256 instead) or the other models' results.
func compact(rec record.Record) record.Record {
	c := rec
	if rec.Raw != "" && rec.RawSHA256 == "" {
		sum := sha256.Sum256([]byte(rec.Raw))
		c.RawBytes, c.RawSHA256 = int64(len(rec.Raw)), hex.EncodeToString(sum[:])
	}
	c.Raw = ""
	c.Models = nil
	if rec.Decision != nil {
		if mr, ok := rec.Models[rec.Decision.ServedBy]; ok {
			c.Models = map[string]record.ModelResult{rec.Decision.ServedBy: mr}
		}
	}
	return c
}

// remember adds a client id's record to the LRU, evicting the oldest past
// its bounds.
func (ic *idCheck) remember(rec record.Record) {
	c := compact(rec)
	size := c.SizeHint() + len(c.ID) + 64
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if e, ok := ic.byID[c.ID]; ok {
		ic.bytes -= e.Value.(*recentID).size
		ic.lru.Remove(e)
	}
	ic.byID[c.ID] = ic.lru.PushFront(&recentID{rec: c, size: size})
	ic.bytes += size
	for ic.lru.Len() > recentIDs || ic.bytes > recentBytes {
		e := ic.lru.Back()
		r := e.Value.(*recentID)
		ic.lru.Remove(e)
		delete(ic.byID, r.rec.ID)
		ic.bytes -= r.size
	}
}

// recent returns the LRU's record of id.
func (ic *idCheck) recent(id string) (record.Record, bool) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	e, ok := ic.byID[id]
	if !ok {
		return record.Record{}, false
	}
	ic.lru.MoveToFront(e)
	return e.Value.(*recentID).rec, true
}

// mark is what tells two records under one id apart: when the request
// arrived, and what it was.
type mark struct {
	received time.Time
	same     string // endpoint, entity, status and input or raw body, as one string
}

func markOf(rec record.Record) mark {
	in, _ := json.Marshal(rec.Input)
	raw := rec.RawSHA256
	if raw == "" && rec.Raw != "" {
		sum := sha256.Sum256([]byte(rec.Raw))
		raw = hex.EncodeToString(sum[:])
	}
	return mark{received: record.Timestamp(rec.ReceivedAt),
		same: rec.Endpoint + "\x00" + rec.EntityID + "\x00" + string(rec.Status) + "\x00" + string(in) + "\x00" + raw}
}

// uncheckedRecord notes that rec, recorded under a client id accepted
// unchecked, must be verified once the store answers, and starts the
// verifier if it is not running.
func (g *Gateway) uncheckedRecord(rec record.Record) {
	ic := g.ids
	ic.mu.Lock()
	if len(ic.pending) >= maxUnchecked {
		ic.mu.Unlock()
		ic.counters.unverified.Add(1)
		return
	}
	ic.pending[rec.ID] = &uncheckedID{mine: markOf(rec)}
	start := !ic.running
	ic.running = true
	ic.mu.Unlock()
	if start {
		go g.verify()
	}
}

// verify is the verifier goroutine: while ids await verification it
// checks them, every verifyEvery, once the store answers; it exits when none
// is left.
func (g *Gateway) verify() {
	t := time.NewTicker(verifyEvery)
	defer t.Stop()
	for range t.C {
		if g.verifyPass() == 0 {
			return
		}
	}
}

// verifyPass checks every pending id whose record has left the recorder
// against the store and returns how many remain pending.
func (g *Gateway) verifyPass() int {
	ic := g.ids
	ctx, cancel := context.WithTimeout(context.Background(), idCheckTimeout)
	defer cancel()
	if g.store.Ping(ctx) != nil {
		return ic.pendingCount()
	}
	ic.mu.Lock()
	ids := make([]string, 0, len(ic.pending))
	for id := range ic.pending {
		ids = append(ids, id)
	}
	ic.mu.Unlock()
	for _, id := range ids {
		if l, ok := g.rec.(lookuper); ok {
			if _, inRecorder := l.Lookup(id); inRecorder {
				continue // not in the store yet
			}
		}
		lctx, lcancel := context.WithTimeout(context.Background(), idCheckTimeout)
		stored, err := g.store.GetRecord(lctx, id)
		lcancel()
		// An error other than not-found (unreachable again, or a record
		// the store cannot read) counts like a miss: verifyMissing of them
		// and the id is given up on, so the verifier always ends.
		g.settleUnchecked(id, stored, err == nil)
	}
	return ic.pendingCount()
}

// settleUnchecked compares the stored record of an unchecked id with the
// one this gateway recorded.
func (g *Gateway) settleUnchecked(id string, stored record.Record, found bool) {
	ic := g.ids
	ic.mu.Lock()
	u, ok := ic.pending[id]
	if !ok {
		ic.mu.Unlock()
		return
	}
	if !found {
		u.missing++
		if u.missing < verifyMissing {
			ic.mu.Unlock()
			return
		}
	}
	delete(ic.pending, id)
	ic.mu.Unlock()
	theirs := markOf(stored)
	switch {
	case !found:
		ic.counters.unverified.Add(1)
		g.log.Warn("request id accepted during a store outage never reached the store (its record was dropped?)", "request_id", id)
	case theirs.received.Equal(u.mine.received) && theirs.same == u.mine.same:
		ic.counters.verified.Add(1)
	case theirs.same == u.mine.same:
		ic.counters.retries.Add(1)
		g.log.Warn("request id reused during a store outage by a retry of the same request: it was answered anew, and the store kept the first record",
			"request_id", id, "first_received", theirs.received, "retry_received", u.mine.received)
	default:
		ic.counters.conflicts.Add(1)
		g.log.Error("request id reused during a store outage by a different request: it was answered, but the store kept the first request's record and not this one",
			"request_id", id, "first_received", theirs.received, "reused_received", u.mine.received)
	}
}

func (ic *idCheck) pendingCount() int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	n := len(ic.pending)
	if n == 0 {
		ic.running = false
	}
	return n
}

// IDCheckStats returns the counts of client ids checked during store
// outages, and how many await verification.
func (g *Gateway) IDCheckStats() (s IDCheckStats, pending int) {
	c := &g.ids.counters
	s = IDCheckStats{Unchecked: c.unchecked.Load(), Verified: c.verified.Load(), Conflicts: c.conflicts.Load(),
		Retries: c.retries.Load(), Unverified: c.unverified.Load()}
	g.ids.mu.Lock()
	pending = len(g.ids.pending)
	g.ids.mu.Unlock()
	return s, pending
}
