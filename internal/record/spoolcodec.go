package record

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// A KindRecords spool frame's payload is a batch of records:
//
//	uvarint n
//	n × ( uvarint len(id) · id · uvarint len(doc) · doc )
//
// where doc is the record as JSON (encoding/json). The ids come first so
// the recorder's index of spooled ids is rebuilt at start without decoding
// documents, and Lookup decodes only the record it looks for.

// errBadPayload reports a spooled batch that does not decode.
var errBadPayload = errors.New("record: bad spooled batch")

// encodeBatch encodes recs as a spool payload in dst's spare room (after
// len(dst)) and returns the payload alone, a subslice of the grown dst
// (dst's own bytes are not part of it). A record that cannot be encoded
// (e.g. a NaN feature) is left out and returned in refused with its error,
// so the rest can still be spooled.
func encodeBatch(dst []byte, recs []Record) (payload []byte, kept int, refused []refusedRecord) {
	// The count comes first but is known only at the end (a record that
	// cannot be encoded is left out): room for the longest uvarint is kept
	// in front and the count is written right-aligned into it, so each
	// document is copied once, into dst, and none is held beside it.
	start := len(dst)
	dst = append(dst, make([]byte, binary.MaxVarintLen64)...)
	for i := range recs {
		doc, err := json.Marshal(&recs[i])
		if err != nil {
			refused = append(refused, refusedRecord{rec: recs[i], err: fmt.Errorf("encode record %q for the spool: %w", recs[i].ID, err)})
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(len(recs[i].ID)))
		dst = append(dst, recs[i].ID...)
		dst = binary.AppendUvarint(dst, uint64(len(doc)))
		dst = append(dst, doc...)
		kept++
	}
	var count [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(count[:], uint64(kept))
	at := start + binary.MaxVarintLen64 - n
	copy(dst[at:], count[:n])
	return dst[at:], kept, refused
}

type refusedRecord struct {
	rec Record
	err error
}

// scanBatch calls fn with each record's id and JSON document in a spool
// payload, in order; fn returning false stops the scan.
func scanBatch(p []byte, fn func(id string, doc []byte) bool) error {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return fmt.Errorf("%w: record count", errBadPayload)
	}
	p = p[k:]
	field := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		b := p[k : k+int(l)]
		p = p[k+int(l):]
		return b, true
	}
	for i := range n {
		id, ok1 := field()
		doc, ok2 := field()
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: record %d of %d is cut short", errBadPayload, i, n)
		}
		if !fn(string(id), doc) {
			return nil
		}
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes after the last record", errBadPayload, len(p))
	}
	return nil
}

// decodeBatch decodes a whole spool payload.
func decodeBatch(p []byte) ([]Record, error) {
	var recs []Record
	var derr error
	err := scanBatch(p, func(id string, doc []byte) bool {
		var rec Record
		if derr = json.Unmarshal(doc, &rec); derr != nil {
			derr = fmt.Errorf("%w: record %q: %w", errBadPayload, id, derr)
			return false
		}
		recs = append(recs, rec)
		return true
	})
	if err == nil {
		err = derr
	}
	return recs, err
}

// jsonLen is the length of s as a JSON string's contents: a control
// character takes six bytes (\u0001), a quote or backslash two. Raw bodies
// are what the client sent, so a body of control characters is six times
// as large in a batch being encoded, in the spool and in the store.
func jsonLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20:
			n += 5
		case c == '"' || c == '\\':
			n++
		}
	}
	return n
}

// SizeHint is a cheap estimate of the bytes rec holds in memory (its
// strings, input, model results, problems), used to bound the recorder's
// queue and its batches in bytes. It counts what a record can hold in bulk,
// not exactly; the raw body counts at its JSON-escaped length, the size it
// takes once encoded.
func (rec *Record) SizeHint() int {
	const overhead = 160 // the struct, map headers, times
	n := overhead + len(rec.ID) + len(rec.Endpoint) + len(rec.EntityID) + jsonLen(rec.Raw) + len(rec.Status)
	for k, v := range rec.Input {
		n += len(k) + 24
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	for _, p := range rec.Problems {
		n += len(p.Field) + len(p.Problem) + 32
	}
	for name, m := range rec.Models {
		n += len(name) + 128 + len(m.Version) + len(m.Artifact) + len(m.Label) + len(m.Error) + 8*len(m.Features.Values)
		// Feature names are usually shared by every record of a
		// pipeline: count the slice, not the strings.
		n += 16 * len(m.Features.Names)
	}
	if rec.Decision != nil {
		n += 48 + len(rec.Decision.ServedBy) + len(rec.Decision.Reason)
	}
	return n
}
