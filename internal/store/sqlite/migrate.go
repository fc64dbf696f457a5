package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one step of the schema. Versions are consecutive from 1 and a
// released migration is never edited: a change is a new migration.
type migration struct {
	version int
	name    string
	sql     string
	// fn, when set, runs after sql in the same transaction (data
	// migrations written in Go).
	fn func(ctx context.Context, tx *sql.Tx) error
}

// migrations is the schema history, oldest first.
var migrations = []migration{
	{1, "records", `
CREATE TABLE records (
	id          TEXT    NOT NULL PRIMARY KEY,
	received_at INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
	entity_id   TEXT,             -- NULL when the request named no entity
	status      TEXT    NOT NULL,
	doc         TEXT    NOT NULL  -- the whole record as JSON
);
CREATE INDEX records_received_at ON records (received_at, id);
CREATE INDEX records_entity_id ON records (entity_id, received_at, id);
CREATE INDEX records_status ON records (status, received_at, id);
`, nil},
	{2, "feedback", `
CREATE TABLE feedback (
	seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	request_id  TEXT    NOT NULL,
	entity_id   TEXT,
	label       INTEGER NOT NULL,
	received_at INTEGER NOT NULL  -- microseconds since the Unix epoch, UTC
);
CREATE INDEX feedback_received_at ON feedback (received_at, seq);
CREATE INDEX feedback_request_id ON feedback (request_id);
`, nil},
	{3, "summary_blocks", summaryBlocksV3SQL, nil},
	{4, "summary_blocks_inputs_apart", summaryBlocksSQL, backfillSummaries},
	{5, "summary_counts", summaryCountsSQL, backfillCounts},
	{6, "feedback_ids", `
ALTER TABLE feedback ADD COLUMN id TEXT; -- NULL for rows written before feedback had ids
CREATE UNIQUE INDEX feedback_id ON feedback (id);
`, nil},
	{7, "deployment_events", `
CREATE TABLE deployment_events (
	seq  INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, -- never reused, so strictly increasing
	at   INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
	kind TEXT    NOT NULL,
	doc  TEXT    NOT NULL  -- the whole store.DeploymentEvent as JSON
);
`, nil},

	// replay_results: `rendezvous replay`'s results beside the records
	// (issue 17). A step of its own: renumber it, never merge it into
	// another, when a concurrent branch adds a migration.
	{8, "replay_results", replayResultsSQL, nil},
}

// schemaVersion returns the highest applied version (0 for a new database).
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate applies every migration up to and including version upTo that the
// database lacks, each in its own transaction together with its row in
// schema_migrations. db must open transactions with BEGIN IMMEDIATE, so two
// processes migrating the same file take turns. A database newer than this
// binary is an error.
func migrate(ctx context.Context, db *sql.DB, upTo int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at TEXT    NOT NULL
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	latest := migrations[len(migrations)-1].version
	for _, m := range migrations {
		if m.version > upTo {
			break
		}
		if err := applyOne(ctx, db, m, latest); err != nil {
			return err
		}
	}
	return nil
}

func applyOne(ctx context.Context, db *sql.DB, m migration, latest int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d (%s): begin: %w", m.version, m.name, err)
	}
	defer tx.Rollback()
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v > latest {
		return fmt.Errorf("database schema version %d is newer than this binary's %d: upgrade rendezvous", v, latest)
	}
	if v >= m.version {
		return nil // applied already, possibly by another process meanwhile
	}
	if v != m.version-1 {
		return fmt.Errorf("migration %d (%s): database is at version %d, want %d", m.version, m.name, v, m.version-1)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
	}
	if m.fn != nil {
		if err := m.fn(ctx, tx); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("migration %d (%s): record version: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d (%s): commit: %w", m.version, m.name, err)
	}
	return nil
}
