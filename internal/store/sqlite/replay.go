package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
)

var _ store.ReplayStore = (*Store)(nil)

// replayResultsSQL is the replay_results migration: one row per (candidate,
// version, request), the candidate's result as JSON (a record's model
// result document). WITHOUT ROWID: the primary key is the table.
const replayResultsSQL = `
CREATE TABLE replay_results (
	candidate   TEXT    NOT NULL,
	version     TEXT    NOT NULL,
	request_id  TEXT    NOT NULL,
	received_at INTEGER NOT NULL, -- the request's, microseconds since the Unix epoch, UTC
	replayed_at INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
	doc         TEXT    NOT NULL, -- the result, as under "models" in a record
	PRIMARY KEY (candidate, version, request_id)
) WITHOUT ROWID;
CREATE INDEX replay_results_order ON replay_results (candidate, received_at, request_id, version);
`

// replayRowArgs is the number of bound values per replay_results row.
const replayRowArgs = 6

func insertReplaySQL(n int) string {
	return "INSERT OR IGNORE INTO replay_results (candidate, version, request_id, received_at, replayed_at, doc) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, CAST(? AS TEXT)), ", n), ", ")
}

// WriteReplayResults stores rs in one transaction, skipping the results
// whose (RequestID, Candidate, Version) is stored already or appeared
// earlier in rs; it returns how many rows were inserted.
func (s *Store) WriteReplayResults(ctx context.Context, rs []store.ReplayResult) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("write replay results: %w", err)
	}
	rs = store.UniqueReplay(rs)
	if len(rs) == 0 {
		return 0, nil
	}
	var buf []byte
	ends := make([]int, len(rs))
	for i := range rs {
		var err error
		if buf, err = docjson.AppendModelResult(buf, &rs[i].Result); err != nil {
			return 0, fmt.Errorf("write replay results: encode %q: %w", rs[i].RequestID, err)
		}
		ends[i] = len(buf)
	}
	many, err := s.replayInsert(ctx)
	if err != nil {
		return 0, fmt.Errorf("write replay results: %w", err)
	}
	var inserted int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		full := tx.StmtContext(ctx, many)
		args := make([]any, 0, replayRowArgs*multiRow)
		start := 0
		for i := 0; i < len(rs); {
			n := min(multiRow, len(rs)-i)
			args = args[:0]
			for _, r := range rs[i : i+n] {
				args = append(args, r.Candidate, r.Version, r.RequestID, micros(r.ReceivedAt), micros(r.ReplayedAt), buf[start:ends[i]])
				start = ends[i]
				i++
			}
			var res sql.Result
			var err error
			if n == multiRow {
				res, err = full.ExecContext(ctx, args...)
			} else {
				res, err = tx.ExecContext(ctx, insertReplaySQL(n), args...)
			}
			if err != nil {
				return fmt.Errorf("insert replay result %q: %w", rs[i-n].RequestID, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("rows affected: %w", err)
			}
			inserted += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("write %d replay results: %w", len(rs), err)
	}
	s.wrote(int64(len(buf)))
	return int(inserted), nil
}

// replayInsert returns the prepared multiRow-row replay INSERT of the
// writer connection, preparing it on first use.
func (s *Store) replayInsert(ctx context.Context) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.insertReplay == nil {
		st, err := s.w.PrepareContext(ctx, insertReplaySQL(multiRow))
		if err != nil {
			return nil, fmt.Errorf("prepare replay insert: %w", err)
		}
		s.insertReplay = st
	}
	return s.insertReplay, nil
}

// ReplayVersions lists candidate's replayed versions, the one replayed
// last first.
func (s *Store) ReplayVersions(ctx context.Context, candidate string) ([]store.ReplayVersion, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version, count(*), max(replayed_at) FROM replay_results
WHERE candidate = ? GROUP BY version ORDER BY max(replayed_at) DESC, version`, candidate)
	if err != nil {
		return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
	}
	defer rows.Close()
	var out []store.ReplayVersion
	for rows.Next() {
		var v store.ReplayVersion
		var last int64
		if err := rows.Scan(&v.Version, &v.Results, &last); err != nil {
			return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
		}
		v.LastReplayed = time.UnixMicro(last).UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
	}
	return out, nil
}

// ScanReplayResults calls fn for each replay result p selects, in
// (ReceivedAt, RequestID, Version) order.
func (s *Store) ScanReplayResults(ctx context.Context, p store.ReplayScanParams, fn func(r *store.ReplayResult) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan replay results: %w", err)
	}
	where := []string{"candidate = ?"}
	args := []any{p.Candidate}
	if p.Version != "" {
		where = append(where, "version = ?")
		args = append(args, p.Version)
	}
	if !p.Since.IsZero() {
		where = append(where, "received_at >= ?")
		args = append(args, bound(p.Since))
	}
	if !p.Until.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, bound(p.Until))
	}
	q := "SELECT version, request_id, received_at, replayed_at, doc FROM replay_results WHERE " +
		strings.Join(where, " AND ") + " ORDER BY received_at, request_id, version"
	st, err := s.prepared(ctx, q)
	if err != nil {
		return fmt.Errorf("scan replay results: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("scan replay results: %w", err)
	}
	defer rows.Close()
	var dec docjson.Decoder
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan replay results: %w", err)
		}
		r := store.ReplayResult{Candidate: p.Candidate}
		var at, replayed int64
		var doc sql.RawBytes
		if err := rows.Scan(&r.Version, &r.RequestID, &at, &replayed, &doc); err != nil {
			return fmt.Errorf("scan replay results: %w", err)
		}
		if err := dec.DecodeModelResult(doc, &r.Result, p.Candidate); err != nil {
			return fmt.Errorf("scan replay results: decode %q: %w", r.RequestID, err)
		}
		r.ReceivedAt, r.ReplayedAt = time.UnixMicro(at).UTC(), time.UnixMicro(replayed).UTC()
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan replay results: %w", err)
	}
	return ctx.Err()
}
