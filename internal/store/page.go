package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Cursor is a position in the record order of a scan: the key
// (ReceivedAt, ID) of one record. ReceivedAt is compared at the stored
// precision (record.Timestamp: microseconds, UTC) and ID in byte order, the
// order every backend sorts by. The zero Cursor is "no position".
type Cursor struct {
	ReceivedAt time.Time
	ID         string
}

// CursorOf returns the key of rec.
func CursorOf(rec *record.Record) Cursor {
	return Cursor{ReceivedAt: record.Timestamp(rec.ReceivedAt), ID: rec.ID}
}

// IsZero reports whether c is the zero Cursor (no position).
func (c Cursor) IsZero() bool { return c.ReceivedAt.IsZero() && c.ID == "" }

// Compare orders two keys as an ascending scan does: -1 when c comes
// before d, 0 when they are the same key, +1 after.
func (c Cursor) Compare(d Cursor) int {
	cu, du := record.Timestamp(c.ReceivedAt).UnixMicro(), record.Timestamp(d.ReceivedAt).UnixMicro()
	switch {
	case cu < du:
		return -1
	case cu > du:
		return 1
	}
	return strings.Compare(c.ID, d.ID)
}

// DefaultPageSize is the page size of ScanPages when PageParams.Size is 0:
// a few hundred records (around a megabyte of documents) per query.
const DefaultPageSize = 256

// PageParams selects the records of a paged scan.
type PageParams struct {
	// ScanParams selects the records and their order; its Limit caps the
	// whole scan and its After starts it after a key.
	ScanParams
	// Size is the number of records per page (0: DefaultPageSize).
	Size int
	// Through, when set, ends the scan with the record at that key: records
	// past it in the scan's order are not returned. A reader that scans the
	// same range twice (export: once to plan the columns, once to write)
	// passes the last key of the first pass so the second does not run on
	// into records written since.
	Through Cursor
}

// ScanPages calls fn with the records p selects, in ScanRecords order, one
// page at a time. Each page is one ScanRecords call with a Limit of
// p.Size, resuming after the last key of the previous page (keyset
// paging), and is read completely — its query finished, its rows and read
// transaction released — before fn sees it. So fn may take as long as it
// likes (write to a slow client, wait for a deadline) without holding a
// database read transaction, which in SQLite would keep every later write
// in the WAL. Memory holds one page.
//
// A paged scan is not one snapshot: every record stored before the scan
// started and matching p is returned exactly once, in order; a record
// written during the scan is returned (once) when its key is after the
// page being read at that moment, and not otherwise. The page slice and its
// records are only valid until fn returns (the slice is reused); an error
// from fn stops the scan and is returned.
func ScanPages(ctx context.Context, src RecordScanner, p PageParams, fn func(page []record.Record) error) error {
	size := p.Size
	if size <= 0 {
		size = DefaultPageSize
	}
	remaining := p.Limit // 0: no cap
	sp := p.ScanParams
	var page []record.Record
	for {
		sp.Limit = size
		if remaining > 0 && remaining < size {
			sp.Limit = remaining
		}
		clear(page) // drop the previous page's references before reading
		page = page[:0]
		err := src.ScanRecords(ctx, sp, func(rec *record.Record) error {
			page = append(page, *rec)
			return nil
		})
		if err != nil {
			return err
		}
		full := len(page) == sp.Limit
		if len(page) > 0 {
			sp.After = CursorOf(&page[len(page)-1])
		}
		if !p.Through.IsZero() {
			n := len(page)
			for n > 0 && past(CursorOf(&page[n-1]), p.Through, p.Descending) {
				n--
			}
			if n < len(page) {
				page, full = page[:n], false
			}
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if remaining > 0 {
			remaining -= len(page)
			if remaining <= 0 {
				return nil
			}
		}
		if !full {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan records: %w", err)
		}
	}
}

// past reports whether key k comes after through in a scan's order.
func past(k, through Cursor, descending bool) bool {
	if descending {
		return k.Compare(through) < 0
	}
	return k.Compare(through) > 0
}
