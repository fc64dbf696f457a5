// Package store defines the record store the gateway writes to and the
// analysis reads from. Backends live in sub-packages (sqlite, postgres, mongo)
// and import this package; this package never imports them. Package
// store/storeall maps a URL scheme to a backend.
//
// Narrow methods take …Params structs so adding a filter breaks no backend.
// Every backend must pass the contract suite in store/storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Sentinel errors.
var (
	// ErrNotFound: no record with that id.
	ErrNotFound = errors.New("not found")
	// ErrUnsupportedScheme: the store URL names no known backend.
	ErrUnsupportedScheme = errors.New("unsupported store URL scheme")
)

// ScanParams filters a record scan. Zero values mean "no filter".
type ScanParams struct {
	// Since is inclusive, Until exclusive, on ReceivedAt.
	Since, Until time.Time
	EntityID     string
	Status       string
	// Limit caps the number of records (0: no cap).
	Limit int
	// Descending scans newest first (default oldest first). Ties on
	// ReceivedAt are broken by ID.
	Descending bool
	// After, when set, resumes a scan: only records strictly after that
	// key in the scan's order are returned ((ReceivedAt, ID) greater, or
	// smaller when Descending). Keyset paging (ScanPages) passes the key of
	// the last record of the previous page.
	After Cursor
}

// FeedbackScanParams filters a feedback scan on the feedback's ReceivedAt.
type FeedbackScanParams struct {
	Since, Until time.Time
}

// MatchParams asks which request ids exist, and which requests belong to
// the given entities.
type MatchParams struct {
	RequestIDs []string
	EntityIDs  []string
}

// MatchResult answers MatchParams. Requests maps each found request id to
// itself; Entities maps each entity id to its request ids (absent when none).
type MatchResult struct {
	Requests map[string]bool
	Entities map[string][]string
}

// Store is a record store. Implementations are safe for concurrent use.
type Store interface {
	Reader
	// WriteRecords writes a batch in one transaction (or the backend's
	// nearest equivalent). It is idempotent by record ID: a record whose ID
	// is already stored is left as it is and is not an error, so a retried
	// batch never duplicates.
	WriteRecords(ctx context.Context, recs []record.Record) error
	// WriteFeedback appends labels; it never modifies records.
	WriteFeedback(ctx context.Context, fb []record.Feedback) error
	// Match resolves request ids and entity ids to stored requests.
	Match(ctx context.Context, p MatchParams) (MatchResult, error)
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store. It does not flush anything: callers flush
	// their own buffers first.
	Close() error
}

// Matcher resolves request ids and entity ids to stored requests. Every
// Store is one; readers that need it (the monitor's pending labels) assert
// it on their store.Reader.
type Matcher interface {
	Match(ctx context.Context, p MatchParams) (MatchResult, error)
}

// Reader is the read side of a Store: the one interface the readers of
// records and labels (monitor, export, web) take. Every Store is a Reader.
type Reader interface {
	RecordScanner
	// GetRecord returns the record with that id, or an error wrapping
	// ErrNotFound.
	GetRecord(ctx context.Context, id string) (record.Record, error)
	// ScanFeedback calls fn for every stored feedback row in ReceivedAt
	// order (insertion order for ties).
	ScanFeedback(ctx context.Context, p FeedbackScanParams, fn func(fb record.Feedback) error) error
}
