package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/store"
)

var _ store.EventLog = (*Store)(nil)

// AppendEvent stores ev in deployment_events (seq from an identity column)
// and returns it with Seq set and Time in UTC to the microsecond.
func (s *Store) AppendEvent(ctx context.Context, ev store.DeploymentEvent) (store.DeploymentEvent, error) {
	if err := ctx.Err(); err != nil {
		return ev, fmt.Errorf("append deployment event: %w", err)
	}
	ev, doc, err := store.EncodeEvent(ev)
	if err != nil {
		return ev, fmt.Errorf("append deployment event: %w", err)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO deployment_events (at, kind, doc) VALUES ($1, $2, $3::json) RETURNING seq`,
		ev.Time, pgText(ev.Kind), string(doc)).Scan(&ev.Seq)
	if err != nil {
		return ev, fmt.Errorf("append deployment event %s: %w", ev.Kind, ctxErr(ctx, err))
	}
	return ev, nil
}

// ListEvents returns the stored events oldest first; limit > 0 keeps the
// newest limit of them.
func (s *Store) ListEvents(ctx context.Context, limit int) ([]store.DeploymentEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list deployment events: %w", err)
	}
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, at, doc::text FROM deployment_events ORDER BY seq DESC LIMIT $1`, lim)
	if err != nil {
		return nil, fmt.Errorf("list deployment events: %w", ctxErr(ctx, err))
	}
	defer rows.Close()
	out := []store.DeploymentEvent{}
	for rows.Next() {
		var (
			seq int64
			at  time.Time
			doc string
		)
		if err := rows.Scan(&seq, &at, &doc); err != nil {
			return nil, fmt.Errorf("list deployment events: %w", ctxErr(ctx, err))
		}
		ev, err := store.DecodeEvent(seq, at, []byte(doc))
		if err != nil {
			return nil, fmt.Errorf("list deployment events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployment events: %w", ctxErr(ctx, err))
	}
	slices.Reverse(out)
	return out, nil
}
