package record

import "time"

// Timestamp is the form in which every backend stores a time: UTC, truncated
// to whole microseconds (the precision of PostgreSQL's timestamptz and of the
// integer columns of SQLite). Backends apply it to Record.ReceivedAt and
// Feedback.ReceivedAt before writing, so every backend returns the same value.
func Timestamp(t time.Time) time.Time {
	return t.Truncate(time.Microsecond).UTC()
}

// UniqueByID returns recs without the records whose ID already appeared
// earlier in recs: within one batch the first occurrence wins, as it does
// between batches. It returns recs itself when there is no duplicate.
func UniqueByID(recs []Record) []Record {
	if len(recs) < 2 {
		return recs
	}
	seen := make(map[string]struct{}, len(recs))
	dup := false
	for i := range recs {
		if _, ok := seen[recs[i].ID]; ok {
			dup = true
			break
		}
		seen[recs[i].ID] = struct{}{}
	}
	if !dup {
		return recs
	}
	clear(seen)
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if _, ok := seen[r.ID]; ok {
			continue
		}
		seen[r.ID] = struct{}{}
		out = append(out, r)
	}
	return out
}
