// Package testenv locates what tests need outside the repository — the shared
// data folder beside the checkout, the local PostgreSQL — and applies the
// project's rule: under CI (CI=true) a missing dependency fails the test; on
// a developer's machine it skips with a message naming what to provide.
package testenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails the test in CI and skips it elsewhere, with msg saying what
// is missing and how to provide it.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skip(msg)
}

// RepoRoot returns the directory holding go.mod, walking up from the
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SharedDir returns the shared folder: $RENDEZVOUS_SHARED, else ../shared
// beside the repository.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RENDEZVOUS_SHARED")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
	}
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "the shared folder is missing ("+err.Error()+"); set RENDEZVOUS_SHARED or put shared/ beside the repository")
	}
	return dir
}

// SharedFile returns the path of a file under the shared folder.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared file "+rel+" is missing: "+err.Error())
	}
	return p
}

// TrainingCSV returns the path of the Kaggle Titanic training CSV.
func TrainingCSV(t testing.TB) string {
	t.Helper()
	return SharedFile(t, "data/titanic_train.csv")
}

// PostgresURL returns the URL of the test PostgreSQL
// ($RENDEZVOUS_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)
// after checking it answers; missing → fail in CI, skip elsewhere.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RENDEZVOUS_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		Missing(t, "PostgreSQL is not reachable at "+u+" ("+err.Error()+"); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
	}
	return u
}

// NATSURL returns the URL of the machine's NATS server
// ($RENDEZVOUS_TEST_NATS_URL, default nats://127.0.0.1:4222) after checking
// that it accepts a TCP connection; missing → fail in CI, skip elsewhere.
// Tests that only need some NATS server start an embedded one with
// internal/testenv/natstest.
func NATSURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RENDEZVOUS_TEST_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	host := strings.TrimPrefix(u, "nats://")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		Missing(t, "NATS is not reachable at "+u+" ("+err.Error()+"); start it with: nats-server -js (or set RENDEZVOUS_TEST_NATS_URL)")
		return ""
	}
	conn.Close()
	return u
}
