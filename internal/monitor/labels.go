package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Label is the latest ground truth of a request: its class and when that
// label was received.
type Label struct {
	Class int
	At    time.Time
}

// LatestLabels reads every feedback row of src and returns the latest label
// of each labelled request, by the rule of the monitor's label index (see
// labelSet). The feedback scan is not limited to a record window: labels
// arrive days after their requests.
func LatestLabels(ctx context.Context, src store.Reader) (map[string]Label, error) {
	l, err := readLabels(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("read feedback: %w", err)
	}
	return l.all(), nil
}

// readLabels builds a label set from every feedback row of src.
func readLabels(ctx context.Context, src store.Reader) (*labelSet, error) {
	l := newLabelSet()
	err := src.ScanFeedback(ctx, store.FeedbackScanParams{}, func(fb record.Feedback) error {
		l.add(fb)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan feedback: %w", err)
	}
	l.sort()
	return l, nil
}

// labelSet is the latest label of each request — the one home of the rule:
// the latest ReceivedAt wins; among equal times the row added last. It is
// laid out for the scan's one lookup per record: an id in the gateway's
// canonical UUID form (36 lower-case hex characters and dashes) is keyed by
// its 16 bytes, so a lookup touches one map slot and no key string; other
// ids are keyed by their text. Memory: about 40 bytes per labelled UUID
// request. Not safe for concurrent use.
type labelSet struct {
	uuids map[[16]byte]labelAt
	other map[string]labelAt
	// wide holds the exact class of the requests whose latest label does
	// not fit labelAt.label (which then holds 2: neither class of the
	// metrics), for all.
	wide map[string]int
	// sorted holds uuids sorted by key, rebuilt by sort after changes: a
	// scan in received_at order looks up time-ordered UUIDv7 ids, so a
	// cursor moving forward through it reads memory in order instead of
	// one random map slot per record.
	sorted []uuidLabel
	stale  bool
}

type uuidLabel struct {
	key [16]byte
	v   labelAt
}

// labelAt is a label and its feedback's ReceivedAt (seconds, nanoseconds:
// exact for every time.Time).
type labelAt struct {
	sec   int64
	nsec  int32
	label int32
}

func newLabelSet() *labelSet {
	return &labelSet{uuids: map[[16]byte]labelAt{}, other: map[string]labelAt{}}
}

// add applies one feedback row, in insertion order.
func (l *labelSet) add(fb record.Feedback) {
	if fb.RequestID == "" {
		return
	}
	v := labelAt{sec: fb.ReceivedAt.Unix(), nsec: int32(fb.ReceivedAt.Nanosecond()), label: int32(fb.Label)}
	wide := int(v.label) != fb.Label
	if wide {
		v.label = 2 // out of int32: not 0 or 1, so unlabelled for the metrics
	}
	if k, ok := uuidKey(fb.RequestID); ok {
		if cur, ok := l.uuids[k]; ok && v.before(cur) {
			return
		}
		l.uuids[k] = v
		l.stale = true
	} else {
		if cur, ok := l.other[fb.RequestID]; ok && v.before(cur) {
			return
		}
		l.other[fb.RequestID] = v
	}
	switch {
	case wide && l.wide == nil:
		l.wide = map[string]int{fb.RequestID: fb.Label}
	case wide:
		l.wide[fb.RequestID] = fb.Label
	default:
		delete(l.wide, fb.RequestID)
	}
}

// all returns every labelled request's latest label, keyed by request id.
func (l *labelSet) all() map[string]Label {
	out := make(map[string]Label, l.len())
	for k, v := range l.uuids {
		out[uuidString(k)] = v.public()
	}
	for id, v := range l.other {
		out[id] = v.public()
	}
	for id, class := range l.wide {
		lb := out[id]
		lb.Class = class
		out[id] = lb
	}
	return out
}

func (v labelAt) public() Label {
	return Label{Class: int(v.label), At: time.Unix(v.sec, int64(v.nsec)).UTC()}
}

func (v labelAt) before(w labelAt) bool {
	return v.sec < w.sec || v.sec == w.sec && v.nsec < w.nsec
}

// sort rebuilds the sorted view after adds; call it before cursors.
func (l *labelSet) sort() {
	if !l.stale && l.sorted != nil {
		return
	}
	l.sorted = l.sorted[:0]
	for k, v := range l.uuids {
		l.sorted = append(l.sorted, uuidLabel{k, v})
	}
	slices.SortFunc(l.sorted, func(a, b uuidLabel) int { return bytes.Compare(a.key[:], b.key[:]) })
	l.stale = false
}

// get returns the latest label of a request (without a cursor: for
// tests and one-off lookups).
func (l *labelSet) get(id string) (int, bool) {
	var v labelAt
	var ok bool
	if k, isUUID := uuidKey(id); isUUID {
		v, ok = l.uuids[k]
	} else {
		v, ok = l.other[id]
	}
	return int(v.label), ok
}

// labelCursor looks labels up in a sorted labelSet, fastest when the ids
// come in increasing order. Not safe for concurrent use; the set must not
// change while the cursor is used.
type labelCursor struct {
	l *labelSet
	i int // the insertion point of the previous key
}

// cursor returns a cursor over l, which must be sorted (see sort).
func (l *labelSet) cursor() *labelCursor {
	return &labelCursor{l: l}
}

// get returns the latest label of a request.
func (c *labelCursor) get(id string) (int, bool) {
	k, isUUID := uuidKey(id)
	if !isUUID {
		v, ok := c.l.other[id]
		return int(v.label), ok
	}
	a := c.l.sorted
	less := func(i int) bool { return bytes.Compare(a[i].key[:], k[:]) < 0 }
	// Gallop forward from the previous position, or search the prefix.
	var lo, hi int
	if c.i < len(a) && !less(c.i) {
		hi = c.i + 1
		if c.i > 0 && less(c.i-1) {
			lo = c.i
		}
	} else {
		lo = c.i
		step := 1
		for lo+step < len(a) && less(lo+step) {
			lo += step
			step *= 2
		}
		hi = min(lo+step+1, len(a))
	}
	i := lo + sort.Search(hi-lo, func(j int) bool { return !less(lo + j) })
	c.i = i
	if i < len(a) && a[i].key == k {
		return int(a[i].v.label), true
	}
	return 0, false
}

// len is the number of labelled requests.
func (l *labelSet) len() int { return len(l.uuids) + len(l.other) }

// uuidKey parses a canonical lower-case UUID (8-4-4-4-12 hex digits).
func uuidKey(s string) (k [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return k, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := hexVal(s[i])
		lo, ok2 := hexVal(s[i+1])
		if !ok1 || !ok2 {
			return k, false
		}
		k[j] = hi<<4 | lo
		j++
		i += 2
	}
	return k, true
}

// uuidString is the canonical lower-case form of k, the inverse of uuidKey.
func uuidString(k [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], k[0:4])
	hex.Encode(b[9:13], k[4:6])
	hex.Encode(b[14:18], k[6:8])
	hex.Encode(b[19:23], k[8:10])
	hex.Encode(b[24:36], k[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

func hexVal(c byte) (byte, bool) {
	v := hexTable[c]
	return v & 0x0f, v != 0
}

// hexTable maps a lower-case hex digit to its value + 0x10, anything else
// to 0.
var hexTable = [256]byte{
	'0': 0x10, '1': 0x11, '2': 0x12, '3': 0x13, '4': 0x14, '5': 0x15, '6': 0x16, '7': 0x17, '8': 0x18, '9': 0x19,
	'a': 0x1a, 'b': 0x1b, 'c': 0x1c, 'd': 0x1d, 'e': 0x1e, 'f': 0x1f,
}
