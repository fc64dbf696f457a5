package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/store"
)

var _ store.EventLog = (*Store)(nil)

// AppendEvent stores ev in deployment_events (seq from AUTOINCREMENT, so
// never reused) and returns it with Seq set and Time in UTC to the
// microsecond.
func (s *Store) AppendEvent(ctx context.Context, ev store.DeploymentEvent) (store.DeploymentEvent, error) {
	if err := ctx.Err(); err != nil {
		return ev, fmt.Errorf("append deployment event: %w", err)
	}
	ev, doc, err := store.EncodeEvent(ev)
	if err != nil {
		return ev, fmt.Errorf("append deployment event: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO deployment_events (at, kind, doc) VALUES (?, ?, ?) RETURNING seq`,
			ev.Time.UnixMicro(), ev.Kind, string(doc)).Scan(&ev.Seq)
	})
	if err != nil {
		return ev, fmt.Errorf("append deployment event %s: %w", ev.Kind, err)
	}
	return ev, nil
}

// ListEvents returns the stored events oldest first; limit > 0 keeps the
// newest limit of them.
func (s *Store) ListEvents(ctx context.Context, limit int) ([]store.DeploymentEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, doc FROM deployment_events ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	defer rows.Close()
	out := []store.DeploymentEvent{}
	for rows.Next() {
		var (
			seq, at int64
			doc     string
		)
		if err := rows.Scan(&seq, &at, &doc); err != nil {
			return nil, fmt.Errorf("list deployment events: %w", err)
		}
		ev, err := store.DecodeEvent(seq, time.UnixMicro(at), []byte(doc))
		if err != nil {
			return nil, fmt.Errorf("list deployment events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}
