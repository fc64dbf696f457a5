package sqlite

import (
	"container/heap"
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite/sumblock"
)

// Summary blocks: beside each write batch's records, WriteRecords stores the
// batch's record summaries (what analytics reads: no features, no raw body)
// as one sumblock-encoded row,
//
//	summary_blocks(seq INTEGER PRIMARY KEY AUTOINCREMENT, min_at INTEGER, max_at INTEGER, n INTEGER, data BLOB, inputs BLOB)
//
// so ScanSummaries reads one row per batch and decodes about a hundred
// bytes per record instead of the whole JSON document; inputs come last in
// the row so a scan without them stops reading at the end of data. Blocks of
// concurrent batches may overlap in time: the scan merges them by
// (received_at, id), the order of ScanRecords. A block holds exactly the
// records its batch inserted (ids already stored are left out).

// summaryBlocksV3SQL is migration 3 (blocks of format 1, superseded by
// migration 4 before any release; kept so version numbers stay true).
const summaryBlocksV3SQL = `
CREATE TABLE summary_blocks (
	seq    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	min_at INTEGER NOT NULL, -- earliest received_at in the block (µs since the epoch, UTC)
	max_at INTEGER NOT NULL, -- latest
	n      INTEGER NOT NULL, -- summaries in the block
	data   BLOB    NOT NULL  -- sumblock encoding
);
CREATE INDEX summary_blocks_min_at ON summary_blocks (min_at, seq);
`

// summaryBlocksSQL is migration 4: the blocks with their inputs apart
// (rebuilt from the records by backfillSummaries).
const summaryBlocksSQL = `
DROP TABLE summary_blocks;
CREATE TABLE summary_blocks (
	seq    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	min_at INTEGER NOT NULL, -- earliest received_at in the block (µs since the epoch, UTC)
	max_at INTEGER NOT NULL, -- latest
	n      INTEGER NOT NULL, -- summaries in the block
	data   BLOB    NOT NULL, -- sumblock data part
	inputs BLOB    NOT NULL  -- sumblock inputs part
);
CREATE INDEX summary_blocks_min_at ON summary_blocks (min_at, seq);
`

// summaryCountsSQL is migration 5: each block's input value counts
// (record.InputCounts, sumblock.AppendCounts), for drift. A table of their
// own, keyed by the block's seq, so a drift scan reads them without
// touching the blocks' data and inputs; backfillCounts counts the blocks
// already stored.
const summaryCountsSQL = `
CREATE TABLE summary_counts (
	seq    INTEGER NOT NULL PRIMARY KEY, -- summary_blocks.seq
	counts BLOB    NOT NULL              -- sumblock.AppendCounts encoding
);
`

// backfillBlock is how many existing records one backfilled block holds.
const backfillBlock = 1024

// backfillSummaries writes the summary blocks of the records stored before
// migration 3, in received_at order.
func backfillSummaries(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT doc FROM records ORDER BY received_at, id`)
	if err != nil {
		return fmt.Errorf("backfill summaries: %w", err)
	}
	defer rows.Close()
	var (
		recs         []record.Record
		data, inputs []byte
	)
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		var err error
		if data, inputs, _, err = appendSummaryBlock(data[:0], inputs[:0], nil, recs); err != nil {
			return err
		}
		// Migration 4 predates the counts (migration 5 adds them).
		if err := insertSummaryBlock(ctx, tx, recs, data, inputs, nil); err != nil {
			return err
		}
		recs = recs[:0]
		return nil
	}
	for rows.Next() {
		var doc sql.RawBytes
		if err := rows.Scan(&doc); err != nil {
			return fmt.Errorf("backfill summaries: %w", err)
		}
		var rec record.Record
		if err := decodeRecord(doc, &rec); err != nil {
			return fmt.Errorf("backfill summaries: %w", err)
		}
		recs = append(recs, rec)
		if len(recs) == backfillBlock {
			if err := flush(); err != nil {
				return fmt.Errorf("backfill summaries: %w", err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill summaries: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("backfill summaries: %w", err)
	}
	return nil
}

// appendSummaryBlock encodes the summaries of recs (stored timestamps)
// sorted by (received_at, id), and their input value counts when counts is
// not nil.
func appendSummaryBlock(data, inputs, counts []byte, recs []record.Record) (_, _, _ []byte, err error) {
	ss := make([]record.Summary, len(recs))
	for i := range recs {
		record.Summarize(&recs[i], &ss[i], true)
		ss[i].ReceivedAt = record.Timestamp(ss[i].ReceivedAt)
	}
	sumblock.Sort(ss)
	data, inputs, err = sumblock.Append(data, inputs, ss)
	if err != nil {
		return data, inputs, counts, fmt.Errorf("encode summaries: %w", err)
	}
	if counts != nil {
		c := record.CountInputs(ss)
		if counts, err = sumblock.AppendCounts(counts, &c); err != nil {
			return data, inputs, counts, fmt.Errorf("encode input counts: %w", err)
		}
	}
	return data, inputs, counts, nil
}

// insertSummaryBlock stores a block, and its counts when counts is not nil.
func insertSummaryBlock(ctx context.Context, tx *sql.Tx, recs []record.Record, data, inputs, counts []byte) error {
	lo, hi := micros(recs[0].ReceivedAt), micros(recs[0].ReceivedAt)
	for i := range recs {
		at := micros(recs[i].ReceivedAt)
		lo, hi = min(lo, at), max(hi, at)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO summary_blocks (min_at, max_at, n, data, inputs) VALUES (?, ?, ?, ?, ?)`,
		lo, hi, len(recs), data, inputs)
	if err != nil {
		return fmt.Errorf("insert summary block: %w", err)
	}
	if counts == nil {
		return nil
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert summary block: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO summary_counts (seq, counts) VALUES (?, ?)`, seq, counts); err != nil {
		return fmt.Errorf("insert summary counts: %w", err)
	}
	return nil
}

// summaryBatch is the encoded summary block of a write batch, prepared
// before the write transaction so concurrent writers encode in parallel.
type summaryBatch struct {
	recs                 []record.Record
	data, inputs, counts []byte
}

func prepareSummaries(recs []record.Record) (summaryBatch, error) {
	data, inputs, counts, err := appendSummaryBlock(make([]byte, 0, 128*len(recs)), make([]byte, 0, 64*len(recs)), make([]byte, 0, 1024), recs)
	return summaryBatch{recs: recs, data: data, inputs: inputs, counts: counts}, err
}

// size is the bytes the batch adds.
func (b summaryBatch) size() int { return len(b.data) + len(b.inputs) + len(b.counts) }

// summaryMark is the largest rowid of records before a batch is inserted:
// the batch's new records are those above it (rowids grow; records are
// never deleted).
func summaryMark(ctx context.Context, tx *sql.Tx) (int64, error) {
	var mark sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(rowid) FROM records`).Scan(&mark); err != nil {
		return 0, fmt.Errorf("find last record: %w", err)
	}
	return mark.Int64, nil
}

// writeSummaries stores the summary block of the records of b that the
// batch inserted (those above mark; ids already stored were ignored); it
// runs in the write transaction, after the inserts. b.recs has no duplicate
// ids. inserted is how many records the inserts reported adding (-1:
// unknown); when that is all of them, no query is needed to tell.
func writeSummaries(ctx context.Context, tx *sql.Tx, b summaryBatch, mark, inserted int64) error {
	recs := b.recs
	if mark == math.MaxInt64 {
		return fmt.Errorf("record rowids exhausted: summaries cannot tell new records")
	}
	added := int(inserted)
	if inserted != int64(len(recs)) {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE rowid > ?`, mark).Scan(&added); err != nil {
			return fmt.Errorf("count new records: %w", err)
		}
	}
	data, inputs, counts := b.data, b.inputs, b.counts
	if added != len(recs) { // a retried batch: summarize only what is new
		rows, err := tx.QueryContext(ctx, `SELECT id FROM records WHERE rowid > ?`, mark)
		if err != nil {
			return fmt.Errorf("find new records: %w", err)
		}
		fresh := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("find new records: %w", err)
			}
			fresh[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find new records: %w", err)
		}
		kept := make([]record.Record, 0, len(fresh))
		for _, r := range recs {
			if fresh[r.ID] {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			return nil
		}
		recs = kept
		if data, inputs, counts, err = appendSummaryBlock(nil, nil, []byte{}, recs); err != nil {
			return err
		}
	}
	return insertSummaryBlock(ctx, tx, recs, data, inputs, counts)
}

// ScanSummaries implements store.SummaryScanner from the summary blocks.
// Scans by entity or status, limited or descending scans go through the
// full records (analytics never asks for them).
func (s *Store) ScanSummaries(ctx context.Context, p store.SummaryParams, fn func(*record.Summary) error) error {
	if p.EntityID != "" || p.Status != "" || p.Limit > 0 || p.Descending {
		return store.ScanSummariesFromRecords(ctx, s, p, fn)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan summaries: %w", err)
	}
	lo, hi := windowMicros(p.ScanParams)
	q := `SELECT min_at, max_at, data FROM summary_blocks WHERE min_at < ? AND max_at >= ? ORDER BY min_at, seq`
	if p.Inputs {
		q = `SELECT min_at, max_at, data, inputs FROM summary_blocks WHERE min_at < ? AND max_at >= ? ORDER BY min_at, seq`
	}
	st, err := s.prepared(ctx, q)
	if err != nil {
		return fmt.Errorf("scan summaries: %w", err)
	}
	rows, err := st.QueryContext(ctx, hi, lo)
	if err != nil {
		return fmt.Errorf("scan summaries: %w", err)
	}
	defer rows.Close()
	m := merger{lo: lo, hi: hi, fn: fn}
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan summaries: %w", err)
		}
		var minAt, maxAt int64
		var data, inputs sql.RawBytes
		dst := []any{&minAt, &maxAt, &data}
		if p.Inputs {
			dst = append(dst, &inputs)
		}
		if err := rows.Scan(dst...); err != nil {
			return fmt.Errorf("scan summaries: %w", err)
		}
		if p.Inputs && inputs == nil {
			inputs = sql.RawBytes{}
		}
		// Every summary before minAt is complete: no later block holds one.
		if err := m.emitBefore(minAt, false); err != nil {
			return err
		}
		if err := m.add(data, inputs); err != nil {
			return fmt.Errorf("scan summaries: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan summaries: %w", err)
	}
	if err := m.emitBefore(0, true); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan summaries: %w", err)
	}
	return nil
}

// windowMicros is p's received_at window in stored µs: [lo, hi), unbounded
// sides as the extreme int64s.
func windowMicros(p store.ScanParams) (lo, hi int64) {
	lo, hi = int64(-1<<63), int64(1<<63-1)
	if !p.Since.IsZero() {
		lo = bound(p.Since)
	}
	if !p.Until.IsZero() {
		hi = bound(p.Until)
	}
	return lo, hi
}

// merger merges sorted blocks by (received_at, id), keeping only the
// summaries in [lo, hi) µs.
type merger struct {
	dec    sumblock.Decoder
	lo, hi int64
	fn     func(*record.Summary) error
	active cursors
	free   []*cursor
}

type cursor struct {
	blk sumblock.Block
	i   int
}

func (c *cursor) cur() *record.Summary { return &c.blk.Summaries[c.i] }

type cursors []*cursor

func (h cursors) Len() int { return len(h) }
func (h cursors) Less(i, j int) bool {
	a, b := h[i].cur(), h[j].cur()
	if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}
func (h cursors) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursors) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursors) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// add decodes a block (its inputs too when inputs is not nil).
func (m *merger) add(data, inputs []byte) error {
	var c *cursor
	if n := len(m.free); n > 0 {
		c, m.free = m.free[n-1], m.free[:n-1]
	} else {
		c = &cursor{}
	}
	if err := m.dec.Decode(data, inputs, &c.blk); err != nil {
		return err
	}
	c.i = 0
	if len(c.blk.Summaries) == 0 {
		m.free = append(m.free, c)
		return nil
	}
	heap.Push(&m.active, c)
	return nil
}

// emitBefore calls fn for the merged summaries received before µs at (all
// of them when all is set).
func (m *merger) emitBefore(at int64, all bool) error {
	limit := time.UnixMicro(at)
	for len(m.active) > 0 {
		c := m.active[0]
		if len(m.active) == 1 {
			// One block: stream it without heap operations.
			for ; c.i < len(c.blk.Summaries); c.i++ {
				s := c.cur()
				if !all && !s.ReceivedAt.Before(limit) {
					return nil
				}
				if err := m.emit(s); err != nil {
					return err
				}
			}
			m.active = m.active[:0]
			m.free = append(m.free, c)
			return nil
		}
		s := c.cur()
		if !all && !s.ReceivedAt.Before(limit) {
			return nil
		}
		if err := m.emit(s); err != nil {
			return err
		}
		c.i++
		if c.i == len(c.blk.Summaries) {
			heap.Pop(&m.active)
			m.free = append(m.free, c)
		} else {
			heap.Fix(&m.active, 0)
		}
	}
	return nil
}

func (m *merger) emit(s *record.Summary) error {
	us := s.ReceivedAt.UnixMicro()
	if us < m.lo || us >= m.hi {
		return nil
	}
	return m.fn(s)
}

// ScanFeedbackLog implements store.FeedbackLogScanner: the feedback table
// in seq (rowid) order from after, a sequential read without the
// received_at index. seq is AUTOINCREMENT (never reused) and writes are
// serialized, so a later commit always has greater seqs.
func (s *Store) ScanFeedbackLog(ctx context.Context, after int64, fn func(pos int64, fb record.Feedback) error) error {
	st, err := s.prepared(ctx, `SELECT seq, coalesce(id, ''), request_id, coalesce(entity_id, ''), label, received_at FROM feedback WHERE seq > ? ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("scan feedback log: %w", err)
	}
	rows, err := st.QueryContext(ctx, after)
	if err != nil {
		return fmt.Errorf("scan feedback log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f record.Feedback
		var seq, us int64
		if err := rows.Scan(&seq, &f.ID, &f.RequestID, &f.EntityID, &f.Label, &us); err != nil {
			return fmt.Errorf("scan feedback log: %w", err)
		}
		f.ReceivedAt = time.UnixMicro(us).UTC()
		if err := fn(seq, f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan feedback log: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan feedback log: %w", err)
	}
	return nil
}

// backfillCounts writes the input value counts of the blocks stored before
// migration 5.
func backfillCounts(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, data, inputs FROM summary_blocks ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("backfill input counts: %w", err)
	}
	defer rows.Close()
	var (
		dec    sumblock.Decoder
		blk    sumblock.Block
		counts []byte
	)
	for rows.Next() {
		var seq int64
		var data, inputs sql.RawBytes
		if err := rows.Scan(&seq, &data, &inputs); err != nil {
			return fmt.Errorf("backfill input counts: %w", err)
		}
		if inputs == nil {
			inputs = sql.RawBytes{}
		}
		if err := dec.Decode(data, inputs, &blk); err != nil {
			return fmt.Errorf("backfill input counts: block %d: %w", seq, err)
		}
		c := record.CountInputs(blk.Summaries)
		if counts, err = sumblock.AppendCounts(counts[:0], &c); err != nil {
			return fmt.Errorf("backfill input counts: block %d: %w", seq, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO summary_counts (seq, counts) VALUES (?, ?)`, seq, counts); err != nil {
			return fmt.Errorf("backfill input counts: block %d: %w", seq, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill input counts: %w", err)
	}
	return nil
}

// ScanInputCounts implements store.InputCountScanner: a block wholly inside
// the window gives its counts (summary_counts); a block the window cuts, or
// one without counts, gives the summaries of its records in the window.
func (s *Store) ScanInputCounts(ctx context.Context, p store.ScanParams, counts func(*record.InputCounts) error, summaries func(*record.Summary) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan input counts: %w", err)
	}
	lo, hi := windowMicros(p)
	st, err := s.prepared(ctx, `SELECT b.seq, b.min_at, b.max_at, c.counts FROM summary_blocks b LEFT JOIN summary_counts c ON c.seq = b.seq
WHERE b.min_at < ? AND b.max_at >= ? ORDER BY b.min_at, b.seq`)
	if err != nil {
		return fmt.Errorf("scan input counts: %w", err)
	}
	rows, err := st.QueryContext(ctx, hi, lo)
	if err != nil {
		return fmt.Errorf("scan input counts: %w", err)
	}
	defer rows.Close()
	var (
		dec     sumblock.Decoder
		c       record.InputCounts
		partial []int64 // blocks to read summary by summary
	)
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan input counts: %w", err)
		}
		var seq, minAt, maxAt int64
		var blob sql.RawBytes
		if err := rows.Scan(&seq, &minAt, &maxAt, &blob); err != nil {
			return fmt.Errorf("scan input counts: %w", err)
		}
		if blob == nil || minAt < lo || maxAt >= hi {
			partial = append(partial, seq)
			continue
		}
		if err := dec.DecodeCounts(blob, &c); err != nil {
			return fmt.Errorf("scan input counts: block %d: %w", seq, err)
		}
		if err := counts(&c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan input counts: %w", err)
	}
	rows.Close()
	if len(partial) == 0 {
		return nil
	}
	one, err := s.prepared(ctx, `SELECT data, inputs FROM summary_blocks WHERE seq = ?`)
	if err != nil {
		return fmt.Errorf("scan input counts: %w", err)
	}
	var blk sumblock.Block
	for _, seq := range partial {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan input counts: %w", err)
		}
		var data, inputs []byte
		if err := one.QueryRowContext(ctx, seq).Scan(&data, &inputs); err != nil {
			return fmt.Errorf("scan input counts: block %d: %w", seq, err)
		}
		if inputs == nil {
			inputs = []byte{}
		}
		if err := dec.Decode(data, inputs, &blk); err != nil {
			return fmt.Errorf("scan input counts: block %d: %w", seq, err)
		}
		for i := range blk.Summaries {
			sm := &blk.Summaries[i]
			if us := sm.ReceivedAt.UnixMicro(); us < lo || us >= hi {
				continue
			}
			if err := summaries(sm); err != nil {
				return err
			}
		}
	}
	return nil
}
