package storeall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

func roundTrip(t *testing.T, s store.Store) {
	t.Helper()
	rec := storetest.FullRecord("via-storeall", time.Now())
	if err := s.WriteRecords(t.Context(), []record.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRecord(t.Context(), rec.ID); err != nil || got.ID != rec.ID {
		t.Fatalf("GetRecord: %q, %v", got.ID, err)
	}
}

func TestOpen_SQLiteSchemeOpensSQLiteStore(t *testing.T) {
	for _, u := range []string{"sqlite://" + filepath.Join(t.TempDir(), "a.db"), "SQLite:" + filepath.Join(t.TempDir(), "b.db")} {
		s, err := Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, ok := s.(*sqlite.Store); !ok {
			t.Errorf("Open(%q) = %T, want *sqlite.Store", u, s)
		}
		roundTrip(t, s)
		s.Close()
	}
}

func TestOpen_PostgresSchemesOpenPostgresStore(t *testing.T) {
	base := os.Getenv("RENDEZVOUS_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	conn, err := pgx.Connect(ctx, base)
	cancel()
	if err != nil {
		msg := "PostgreSQL not reachable (" + err.Error() + "); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer conn.Close(context.Background())
	schema := "rdv_storeall_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_")
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for _, scheme := range []string{"postgres", "postgresql"} {
		u := scheme + strings.TrimPrefix(base, strings.SplitN(base, ":", 2)[0]) + sep + "schema=" + schema
		s, err := Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, ok := s.(*postgres.Store); !ok {
			t.Errorf("Open(%q) = %T, want *postgres.Store", u, s)
		}
		roundTrip(t, s)
		s.Close()
	}
}

func TestOpen_UnknownSchemeWrapsErrUnsupportedSchemeNamingSchemeAndSupported(t *testing.T) {
	for _, u := range []string{"redis://u:topsecret@h/0", "mysql://h/db", "none", "./records.db", ""} {
		s, err := Open(t.Context(), u)
		if s != nil {
			t.Errorf("Open(%q) returned a store with the error", u)
		}
		if !errors.Is(err, store.ErrUnsupportedScheme) {
			t.Errorf("Open(%q) error = %v, want one wrapping store.ErrUnsupportedScheme", u, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "topsecret") {
			t.Errorf("error reveals the password: %s", msg)
		}
		if !strings.Contains(msg, "supported: "+strings.Join(Schemes(), ", ")) {
			t.Errorf("error %q does not list the supported schemes", msg)
		}
	}
	_, err := Open(t.Context(), "redis://h/0")
	if !strings.Contains(err.Error(), `"redis"`) {
		t.Errorf("error %q does not name the scheme", err)
	}
}

func TestOpen_BackendErrorIsReturnedWithNilStore(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:")
	if err == nil || s != nil {
		t.Fatalf("Open(sqlite:) = %v, %v; want a nil store and an error", s, err)
	}
	if errors.Is(err, store.ErrUnsupportedScheme) {
		t.Errorf("a bad sqlite URL reported as an unsupported scheme: %v", err)
	}
}

func TestSchemes_ListsEveryBackendOnce(t *testing.T) {
	got := Schemes()
	for _, want := range []string{"postgres", "postgresql", "sqlite"} {
		if !slices.Contains(got, want) {
			t.Errorf("Schemes() = %v, missing %q", got, want)
		}
	}
	if c := slices.Compact(slices.Clone(got)); len(c) != len(got) {
		t.Errorf("Schemes() = %v has duplicates", got)
	}
}
