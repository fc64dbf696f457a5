package monitor

import "github.com/rendezvous-gw/rendezvous/internal/record"

// labelSet is the latest label of each request, with analysis.Labels'
// rule (the latest ReceivedAt wins; among equal times the row added last),
// laid out for the scan's one lookup per record: an id in the gateway's
// canonical UUID form (36 lower-case hex characters and dashes) is keyed by
// its 16 bytes, so a lookup touches one map slot and no key string; other
// ids are keyed by their text. Memory: about 40 bytes per labelled UUID
// request. Not safe for concurrent use.
type labelSet struct {
	uuids map[[16]byte]labelAt
	other map[string]labelAt
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
	if int(v.label) != fb.Label {
		v.label = 2 // out of int32: not 0 or 1, so unlabelled for the metrics
	}
	if k, ok := uuidKey(fb.RequestID); ok {
		if cur, ok := l.uuids[k]; !ok || !v.before(cur) {
			l.uuids[k] = v
		}
		return
	}
	if cur, ok := l.other[fb.RequestID]; !ok || !v.before(cur) {
		l.other[fb.RequestID] = v
	}
}

func (v labelAt) before(w labelAt) bool {
	return v.sec < w.sec || v.sec == w.sec && v.nsec < w.nsec
}

// get returns the latest label of a request.
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

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
