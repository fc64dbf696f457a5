package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
)

var _ store.ReplayStore = (*Store)(nil)

// replayResultsSQL is the replay_results migration. doc is json, not
// jsonb, so the features keep their order.
const replayResultsSQL = `
CREATE TABLE replay_results (
	candidate   text COLLATE "C" NOT NULL,
	version     text COLLATE "C" NOT NULL,
	request_id  text COLLATE "C" NOT NULL,
	received_at timestamptz NOT NULL, -- the request's
	replayed_at timestamptz NOT NULL,
	doc         json NOT NULL,        -- the result, as under "models" in a record
	PRIMARY KEY (candidate, version, request_id)
);
CREATE INDEX replay_results_order ON replay_results (candidate, received_at, request_id, version);
`

const insertReplay = `INSERT INTO replay_results (candidate, version, request_id, received_at, replayed_at, doc)
SELECT c, v, i, r, p, d::json
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[]) AS u(c, v, i, r, p, d)
ON CONFLICT DO NOTHING`

// WriteReplayResults stores rs in one statement, skipping the results
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
	n := len(rs)
	cands, vers, ids, docs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, reps := make([]time.Time, n), make([]time.Time, n)
	var buf []byte
	for i := range rs {
		r := &rs[i]
		var err error
		if buf, err = docjson.AppendModelResult(buf[:0], &r.Result); err != nil {
			return 0, fmt.Errorf("write replay results: encode %q: %w", r.RequestID, err)
		}
		cands[i], vers[i], ids[i], docs[i] = pgText(r.Candidate), pgText(r.Version), pgText(r.RequestID), string(buf)
		ats[i], reps[i] = record.Timestamp(r.ReceivedAt), record.Timestamp(r.ReplayedAt)
	}
	tag, err := s.pool.Exec(ctx, insertReplay, cands, vers, ids, ats, reps, docs)
	if err != nil {
		return 0, fmt.Errorf("write %d replay results: %w", n, ctxErr(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

// ReplayVersions lists candidate's replayed versions, the one replayed
// last first.
func (s *Store) ReplayVersions(ctx context.Context, candidate string) ([]store.ReplayVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT version, count(*), max(replayed_at) FROM replay_results
WHERE candidate = $1 GROUP BY version ORDER BY max(replayed_at) DESC, version`, pgText(candidate))
	if err != nil {
		return nil, fmt.Errorf("replay versions of %q: %w", candidate, ctxErr(ctx, err))
	}
	defer rows.Close()
	var out []store.ReplayVersion
	for rows.Next() {
		var v store.ReplayVersion
		if err := rows.Scan(&v.Version, &v.Results, &v.LastReplayed); err != nil {
			return nil, fmt.Errorf("replay versions of %q: %w", candidate, err)
		}
		v.LastReplayed = v.LastReplayed.UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay versions of %q: %w", candidate, ctxErr(ctx, err))
	}
	return out, nil
}

// ScanReplayResults calls fn for each replay result p selects, in
// (ReceivedAt, RequestID, Version) order.
func (s *Store) ScanReplayResults(ctx context.Context, p store.ReplayScanParams, fn func(r *store.ReplayResult) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan replay results: %w", err)
	}
	args := []any{pgText(p.Candidate)}
	where := []string{"candidate = $1"}
	if p.Version != "" {
		args = append(args, pgText(p.Version))
		where = append(where, fmt.Sprintf("version = $%d", len(args)))
	}
	if !p.Since.IsZero() {
		args = append(args, bound(p.Since))
		where = append(where, fmt.Sprintf("received_at >= $%d", len(args)))
	}
	if !p.Until.IsZero() {
		args = append(args, bound(p.Until))
		where = append(where, fmt.Sprintf("received_at < $%d", len(args)))
	}
	q := "SELECT version, request_id, received_at, replayed_at, doc::text FROM replay_results WHERE " +
		strings.Join(where, " AND ") + " ORDER BY received_at, request_id, version"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("scan replay results: %w", ctxErr(ctx, err))
	}
	defer rows.Close()
	var dec docjson.Decoder
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan replay results: %w", err)
		}
		r := store.ReplayResult{Candidate: p.Candidate}
		var doc []byte
		if err := rows.Scan(&r.Version, &r.RequestID, &r.ReceivedAt, &r.ReplayedAt, &doc); err != nil {
			return fmt.Errorf("scan replay results: %w", err)
		}
		if err := dec.DecodeModelResult(doc, &r.Result, p.Candidate); err != nil {
			return fmt.Errorf("scan replay results: decode %q: %w", r.RequestID, err)
		}
		r.ReceivedAt, r.ReplayedAt = r.ReceivedAt.UTC(), r.ReplayedAt.UTC()
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan replay results: %w", ctxErr(ctx, err))
	}
	return ctx.Err()
}
