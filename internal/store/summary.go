package store

import (
	"context"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// SummaryParams selects the summaries of a scan: the records ScanParams
// selects, with their inputs when Inputs is set.
type SummaryParams struct {
	ScanParams
	// Inputs asks for Summary.Input (drift); without it Input is nil, which
	// saves decoding them (metrics).
	Inputs bool
}

// SummaryScanner is an optional Store capability: a lean scan of the record
// projection analytics reads (record.Summary), typically from a compact copy
// kept beside each record at write time. A backend that lacks it is scanned
// through ScanRecords and record.Summarize by ScanSummaries.
//
// ScanSummaries must call fn with exactly the summaries record.Summarize
// gives for the records ScanRecords(p.ScanParams) returns, in the same
// order. fn must not retain s (nor its Models, Input, Prediction or
// Probability) after it returns; an error from fn stops the scan and is
// returned. Implementations are safe for concurrent use.
type SummaryScanner interface {
	ScanSummaries(ctx context.Context, p SummaryParams, fn func(s *record.Summary) error) error
}

// RecordScanner is the part of Store that ScanSummaries falls back on.
type RecordScanner interface {
	// ScanRecords calls fn for each matching record in (ReceivedAt, ID)
	// order (reversed when p.Descending), resuming after p.After when set.
	// Each call gets a record of its own, decoded afresh and shared with
	// nothing, so fn may keep a copy of *rec (ScanPages does); the pointer
	// itself is only valid until fn returns. An error from fn stops the
	// scan and is returned. A backend may hold a read transaction (and its
	// rows) open across fn calls: a caller whose fn can block on something
	// slow reads in pages with ScanPages.
	ScanRecords(ctx context.Context, p ScanParams, fn func(rec *record.Record) error) error
}

// ScanSummaries scans the summaries p selects from src: through
// src.ScanSummaries when src is a SummaryScanner, otherwise by decoding full
// records. The contract of SummaryScanner.ScanSummaries applies.
func ScanSummaries(ctx context.Context, src RecordScanner, p SummaryParams, fn func(s *record.Summary) error) error {
	if ss, ok := src.(SummaryScanner); ok {
		return ss.ScanSummaries(ctx, p, fn)
	}
	return ScanSummariesFromRecords(ctx, src, p, fn)
}

// ScanSummariesFromRecords is the generic SummaryScanner: it scans full
// records and summarizes each. Backends use it for scans their compact form
// cannot serve.
func ScanSummariesFromRecords(ctx context.Context, src RecordScanner, p SummaryParams, fn func(s *record.Summary) error) error {
	var s record.Summary
	return src.ScanRecords(ctx, p.ScanParams, func(rec *record.Record) error {
		record.Summarize(rec, &s, p.Inputs)
		return fn(&s)
	})
}

// FeedbackLogScanner is an optional Store capability: the feedback rows in
// insertion order, each with its position in the log — cheaper than
// ScanFeedback's ReceivedAt order where the reader only keeps the latest
// label of each request (the latest ReceivedAt wins, ties going to the row
// added last, which an insertion-order reader resolves by letting equal
// times replace), and resumable: feedback is append-only, so a reader that
// keeps its index reads only what was added since.
//
// ScanFeedbackLog calls fn for every row at a position after the given one
// (0: from the start), positions increasing; a row committed later always
// gets a greater position than every row visible now. EntityID may be left
// empty. fn's error stops the scan and is returned.
type FeedbackLogScanner interface {
	ScanFeedbackLog(ctx context.Context, after int64, fn func(pos int64, fb record.Feedback) error) error
}

// InputCountScanner is an optional Store capability for drift: the input
// value counts (record.InputCounts) a backend keeps per write batch, so a
// drift scan reads one small aggregate per batch instead of every input.
//
// ScanInputCounts must deliver every record that ScanSummaries(p, with
// inputs) would give exactly once: either inside one counts call (a batch
// wholly within p's window; its rejected and input-less records are not
// counted, as record.InputCounter leaves them out) or as a summaries call
// (with its input). The order of calls is unspecified. Neither callback
// may retain its argument after it returns; an error from one stops the
// scan and is returned.
type InputCountScanner interface {
	ScanInputCounts(ctx context.Context, p ScanParams, counts func(c *record.InputCounts) error, summaries func(s *record.Summary) error) error
}

// ScanInputCounts scans the input counts and summaries p selects from src:
// through src.ScanInputCounts when src is an InputCountScanner and p
// selects by time only, otherwise as summaries with inputs (see
// InputCountScanner for the contract).
func ScanInputCounts(ctx context.Context, src RecordScanner, p ScanParams, counts func(c *record.InputCounts) error, summaries func(s *record.Summary) error) error {
	if cs, ok := src.(InputCountScanner); ok && p.EntityID == "" && p.Status == "" && p.Limit == 0 && !p.Descending {
		return cs.ScanInputCounts(ctx, p, counts, summaries)
	}
	return ScanSummaries(ctx, src, SummaryParams{ScanParams: p, Inputs: true}, summaries)
}
