package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migration is one step of the schema. Versions are consecutive from 1 and a
// released migration is never edited: a change is a new migration.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the schema history, oldest first. Text keys use the "C"
// collation so ORDER BY id is byte order, as in every other backend.
var migrations = []migration{
	{1, "records", `
CREATE TABLE records (
	id            text COLLATE "C" PRIMARY KEY,
	received_at   timestamptz NOT NULL,
	entity_id     text COLLATE "C",   -- NULL when the request named no entity
	status        text COLLATE "C" NOT NULL,
	doc           jsonb NOT NULL,     -- the whole record
	feature_order json,               -- {"model": ["feature", …]} where jsonb would reorder the features
	doc_exact     json                -- the exact record when jsonb cannot hold it (U+0000, repeated feature names)
);
CREATE INDEX records_received_at ON records (received_at, id);
CREATE INDEX records_entity_id ON records (entity_id, received_at, id);
CREATE INDEX records_status ON records (status, received_at, id);
`},
	{2, "feedback", `
CREATE TABLE feedback (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_id  text COLLATE "C" NOT NULL,
	entity_id   text COLLATE "C",
	label       integer NOT NULL,
	received_at timestamptz NOT NULL
);
CREATE INDEX feedback_received_at ON feedback (received_at, seq);
CREATE INDEX feedback_request_id ON feedback (request_id);
`},
	{3, "feedback_ids", `
ALTER TABLE feedback ADD COLUMN id text COLLATE "C"; -- NULL for rows written before feedback had ids
CREATE UNIQUE INDEX feedback_id ON feedback (id);
`},
	{4, "deployment_events", `
CREATE TABLE deployment_events (
	seq  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at   timestamptz NOT NULL,
	kind text COLLATE "C" NOT NULL,
	doc  json NOT NULL -- the whole store.DeploymentEvent (json, not jsonb: exact text, U+0000 escapes kept)
);
`},

	// replay_results: `rendezvous replay`'s results beside the records
	// (issue 17). A step of its own: renumber it, never merge it into
	// another, when a concurrent branch adds a migration.
	{5, "replay_results", replayResultsSQL},
}

// migrate applies, in one transaction, every migration up to and including
// version upTo that the schema lacks, creating the schema itself when one is
// named. A transaction-scoped advisory lock keyed by the schema name makes
// replicas that start together take turns. A schema newer than this binary
// is an error.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, upTo int) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('rendezvous.migrate.' || coalesce(nullif($1, ''), current_schema(), '')))`, schema); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return fmt.Errorf("create schema %s: %w", schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if latest := migrations[len(migrations)-1].version; v > latest {
			return fmt.Errorf("database schema version %d is newer than this binary's %d: upgrade rendezvous", v, latest)
		}
		for _, m := range migrations {
			if m.version <= v || m.version > upTo {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("migration %d (%s): record version: %w", m.version, m.name, err)
			}
		}
		return nil
	})
}
