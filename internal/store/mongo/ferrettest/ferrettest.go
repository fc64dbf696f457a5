// Package ferrettest starts FerretDB v1 (github.com/FerretDB/FerretDB/ferretdb,
// the embeddable package) inside a test process, so the MongoDB record store
// can be tested against a real MongoDB-protocol server where no MongoDB
// server package is available.
//
// It is its own package because FerretDB is a large dependency: its first
// test build takes minutes, and no other package's tests should wait for it.
//
// FerretDB stores its data in SQLite (files in a temporary directory) or in
// PostgreSQL (a database created for the test and dropped after it). The
// PostgreSQL server is RENDEZVOUS_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/test; when it cannot be reached the
// test is skipped, or fails when CI=true.
package ferrettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Backend is the storage FerretDB runs on.
type Backend string

// The FerretDB backends.
const (
	SQLite     Backend = "sqlite"
	PostgreSQL Backend = "postgresql"
)

// DefaultPostgresURL is the PostgreSQL server used when
// RENDEZVOUS_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test"

// startTimeout bounds FerretDB's start and the PostgreSQL set-up.
const startTimeout = 30 * time.Second

// Start starts FerretDB on a random 127.0.0.1 port with the given backend
// and returns its MongoDB URI ("mongodb://127.0.0.1:PORT/"). FerretDB stops,
// and its storage is removed, when tb's test ends. Set
// RENDEZVOUS_TEST_FERRETDB_LOG=1 to see FerretDB's log on stderr.
func Start(tb testing.TB, b Backend) string {
	tb.Helper()
	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:  string(b),
		Logger:   slog.New(slog.DiscardHandler),
	}
	if os.Getenv("RENDEZVOUS_TEST_FERRETDB_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	switch b {
	case SQLite:
		cfg.SQLiteURL = "file:" + tb.TempDir() + "/"
	case PostgreSQL:
		cfg.PostgreSQLURL = postgresDatabase(tb)
	default:
		tb.Fatalf("ferrettest: unknown backend %q", b)
	}
	f, err := ferretdb.New(cfg)
	if err != nil {
		tb.Fatalf("ferrettest: start FerretDB (%s): %v", b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// Registered after postgresDatabase's clean-up, so it runs before it:
	// FerretDB lets go of the database before the database is dropped.
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ferrettest: FerretDB stopped with: %v", err)
		}
	})
	uri := f.MongoDBURI()
	// MongoDBURI waits for the listener; a ping proves the handler answers.
	pctx, pcancel := context.WithTimeout(context.Background(), startTimeout)
	defer pcancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		tb.Fatalf("ferrettest: connect to FerretDB at %s: %v", uri, err)
	}
	defer c.Disconnect(pctx)
	if err := c.Ping(pctx, nil); err != nil {
		tb.Fatalf("ferrettest: ping FerretDB at %s: %v", uri, err)
	}
	return uri
}

// postgresDatabase creates a database of its own on the test PostgreSQL
// server and returns its URL; the database is dropped when tb's test ends.
func postgresDatabase(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("RENDEZVOUS_TEST_POSTGRES_URL")
	if admin == "" {
		admin = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := fmt.Sprintf("ferrettest: PostgreSQL at %s is not reachable (%v); start it with "+
			"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set RENDEZVOUS_TEST_POSTGRES_URL", redact(admin), err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	defer conn.Close(ctx)
	name := "rdv_ferret_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("ferrettest: create PostgreSQL database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("ferrettest: drop PostgreSQL database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("ferrettest: drop PostgreSQL database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("ferrettest: RENDEZVOUS_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Database returns a database name not used before in this process, for a
// store that must start empty.
func Database(prefix string) string {
	return prefix + "_" + randomHex(6)
}

// StoreURL returns a store URL on the server at uri (as Start returns it)
// naming a fresh database, and drops that database, with its own client,
// when tb's test ends (after clean-ups registered later, such as the
// store's Close).
func StoreURL(tb testing.TB, uri string) string {
	tb.Helper()
	db := Database("rdv")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			tb.Errorf("ferrettest: drop database %s: %v", db, err)
			return
		}
		defer c.Disconnect(ctx)
		if err := c.Database(db).Drop(ctx); err != nil {
			tb.Errorf("ferrettest: drop database %s: %v", db, err)
		}
	})
	base, query, _ := strings.Cut(uri, "?")
	base = strings.TrimSuffix(base, "/")
	if i := strings.Index(base, "://"); i >= 0 {
		if j := strings.IndexByte(base[i+3:], '/'); j >= 0 { // drop a database already in uri
			base = base[:i+3+j]
		}
	}
	out := base + "/" + db
	if query != "" {
		out += "?" + query
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redact hides the password of a PostgreSQL URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
