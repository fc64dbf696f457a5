package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

// baseURL is the test server: RENDEZVOUS_TEST_POSTGRES_URL or the local
// trust-auth PostgreSQL.
func baseURL() string {
	if u := os.Getenv("RENDEZVOUS_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// needPostgres skips the test (or fails it when CI=true) when the test
// server does not answer.
func needPostgres(tb testing.TB) {
	tb.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL())
		if err != nil {
			reachErr = err
			return
		}
		reachErr = conn.Close(ctx)
	})
	if reachErr == nil {
		return
	}
	msg := "PostgreSQL not reachable at " + store.RedactURL(baseURL()) + " (" + reachErr.Error() + "); start it with: " +
		"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or set RENDEZVOUS_TEST_POSTGRES_URL)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// withParam adds a query parameter to a URL.
func withParam(u, kv string) string {
	if strings.Contains(u, "?") {
		return u + "&" + kv
	}
	return u + "?" + kv
}

// tempSchema returns a fresh schema name, dropped with everything in it
// when the test ends.
func tempSchema(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "rdv_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL())
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTemp opens a store in a schema of its own.
func openTemp(tb testing.TB) *Store {
	tb.Helper()
	needPostgres(tb)
	schema := tempSchema(tb)
	s, err := Open(context.Background(), withParam(baseURL(), "schema="+schema+"&application_name="+schema))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore_PassesContractSuite(t *testing.T) {
	needPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// BenchmarkStore_WriteRecords512 reports, besides storetest.Bench's
// metrics, the CPU the PostgreSQL server processes spent per record (read
// from /proc, so only for a server on this machine).
func BenchmarkStore_WriteRecords512(b *testing.B) { benchServer(b, 0) }

func BenchmarkStore_WriteRecords512RecurringEntities(b *testing.B) { benchServer(b, 1000) }

func benchServer(b *testing.B, entities int) {
	var s *Store
	var before time.Duration
	open := func(b *testing.B) store.Store {
		s = openTemp(b)
		before = serverCPU(b, s)
		return s
	}
	if entities > 0 {
		storetest.BenchRecurringEntities(b, open, entities)
	} else {
		storetest.Bench(b, open)
	}
	if cpu := serverCPU(b, s) - before; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*512), "server-cpu-µs/record")
	}
}

// serverCPU sums the user+system CPU time of the server processes serving
// s's pool (found by the pool's unique application_name); 0 when /proc
// does not show them.
func serverCPU(tb testing.TB, s *Store) time.Duration {
	tb.Helper()
	rows, err := s.pool.Query(tb.Context(), `SELECT pid FROM pg_stat_activity WHERE application_name = current_setting('application_name')`)
	if err != nil {
		tb.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// Fields after "(comm) ": state is [0], utime [11], stime [12], in clock ticks (100/s on Linux).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

func TestOpen_UnreachableServerFailsWithinConnectTimeoutNamingRedactedURL(t *testing.T) {
	// A listener that accepts and never answers: the startup message gets
	// no reply, so only the timeout can end the attempt.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	u := "postgres://gw:s3cr3t-pw@" + ln.Addr().String() + "/db?connect_timeout=1&sslmode=disable"
	start := time.Now()
	_, err = Open(t.Context(), u)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Open of a server that never answers succeeded")
	}
	if elapsed > 5*time.Second {
		t.Errorf("Open took %s with connect_timeout=1", elapsed)
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cr3t-pw") {
		t.Errorf("error reveals the password: %s", msg)
	}
	if !strings.Contains(msg, "postgres://gw:xxxxx@"+ln.Addr().String()+"/db") {
		t.Errorf("error does not name the redacted URL: %s", msg)
	}
	if !strings.Contains(msg, "connect_timeout 1s") {
		t.Errorf("error does not name the bound that applied: %s", msg)
	}
	// A caller's deadline sooner than connect_timeout is the bound named.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = Open(ctx, "postgres://gw:s3cr3t-pw@"+ln.Addr().String()+"/db?sslmode=disable")
	if err == nil || !strings.Contains(err.Error(), "deadline 300ms") || time.Since(start) > 3*time.Second {
		t.Errorf("Open with a 300ms deadline: %v after %s", err, time.Since(start))
	}
}

func TestOpen_RefusedConnectionFailsFastNamingRedactedURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = Open(t.Context(), "postgresql://gw:hunter2@"+addr+"/db?sslmode=disable")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "gw:xxxxx@"+addr) {
		t.Errorf("Open of a closed port: %v", err)
	}
}

func BenchmarkStore_ScanRecords(b *testing.B) {
	storetest.BenchScan(b, func(b *testing.B) store.Store { return openTemp(b) })
}

func TestParseURL_SchemaParameter(t *testing.T) {
	cfg, schema, err := parseURL("postgres://u:p@h:5433/d?schema=tenant_1&sslmode=disable&application_name=rdv")
	if err != nil {
		t.Fatal(err)
	}
	if schema != "tenant_1" || cfg.ConnConfig.RuntimeParams["search_path"] != "tenant_1" {
		t.Errorf("schema %q, search_path %q; want tenant_1", schema, cfg.ConnConfig.RuntimeParams["search_path"])
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["schema"]; ok {
		t.Error("schema was passed to the server as a runtime parameter")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] != "rdv" || cfg.ConnConfig.Port != 5433 {
		t.Errorf("other parameters lost: %+v", cfg.ConnConfig.RuntimeParams)
	}
	if cfg.ConnConfig.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("ConnectTimeout = %s, want the default %s", cfg.ConnConfig.ConnectTimeout, DefaultConnectTimeout)
	}
	cfg, _, _ = parseURL("postgres://h/d?connect_timeout=3")
	if cfg.ConnConfig.ConnectTimeout != 3*time.Second {
		t.Errorf("connect_timeout=3 gave %s", cfg.ConnConfig.ConnectTimeout)
	}
	for _, bad := range []string{"Tenant", "1abc", "a-b", "pg_catalog", "a;drop", strings.Repeat("a", 64), ""} {
		_, _, err := parseURL("postgres://h/d?schema=" + bad)
		if err == nil || !strings.Contains(err.Error(), "schema") && !strings.Contains(err.Error(), "query") {
			t.Errorf("schema=%q accepted (err %v)", bad, err)
		}
	}
	if _, _, err := parseURL("mysql://h/d"); err == nil {
		t.Error("mysql:// accepted")
	}
	_, _, err = parseURL("postgres://u:pa ss@h:notaport/d")
	if err == nil || strings.Contains(err.Error(), "pa ss") {
		t.Errorf("bad URL error %v (must not reveal the password)", err)
	}
}

func migrations_(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT version::text || ' ' || name || ' ' || applied_at::text FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrate_UpgradesAVersion1SchemaKeepingItsRecords(t *testing.T) {
	needPostgres(t)
	u := withParam(baseURL(), "schema="+tempSchema(t))
	old, err := open(t.Context(), u, 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := storetest.FullRecord("from-v1", time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))
	if err := old.WriteRecords(t.Context(), []record.Record{rec}); err != nil {
		t.Fatalf("write at version 1: %v", err)
	}
	if v := migrations_(t, old); len(v) != 1 {
		t.Fatalf("old schema has migrations %v, want only version 1", v)
	}
	if err := old.WriteFeedback(t.Context(), []record.Feedback{{RequestID: "x", ReceivedAt: time.Now()}}); err == nil {
		t.Fatal("a version-1 schema already has the feedback table")
	}
	old.Close()

	s, err := Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open of a version-1 schema: %v", err)
	}
	defer s.Close()
	if v := migrations_(t, s); len(v) != len(migrations) {
		t.Fatalf("after Open: migrations %v, want %d", v, len(migrations))
	}
	if got, err := s.GetRecord(t.Context(), "from-v1"); err != nil || got.ID != "from-v1" {
		t.Errorf("record written at version 1: %q, %v", got.ID, err)
	}
	if err := s.WriteFeedback(t.Context(), []record.Feedback{{RequestID: "from-v1", Label: 1, ReceivedAt: time.Now()}}); err != nil {
		t.Errorf("feedback after migration: %v", err)
	}
}

func TestMigrate_ReopeningIsANoOpAndConcurrentOpensAgree(t *testing.T) {
	needPostgres(t)
	u := withParam(baseURL(), "schema="+tempSchema(t))
	// Replicas starting together on a new schema.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := Open(context.Background(), u)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	s, err := Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	first := migrations_(t, s)
	s.Close()
	s, err = Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again := migrations_(t, s)
	if len(first) != len(migrations) || strings.Join(first, "|") != strings.Join(again, "|") {
		t.Errorf("re-opening changed schema_migrations:\n%v\n%v", first, again)
	}
}

func TestMigrate_RefusesASchemaFromANewerBinary(t *testing.T) {
	s := openTemp(t)
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (99, 'future')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(t.Context(), withParam(baseURL(), "schema="+s.Schema()))
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Open of a version-99 schema: %v", err)
	}
}

func TestStore_SchemasIsolateStores(t *testing.T) {
	a, b := openTemp(t), openTemp(t)
	defer a.Close()
	defer b.Close()
	if err := a.WriteRecords(t.Context(), []record.Record{storetest.FullRecord("only-in-a", time.Now())}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetRecord(t.Context(), "only-in-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("schema b sees schema a's record: %v", err)
	}
}

func TestStore_DocIsQueryableJSONB(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	rec := storetest.FullRecord("q1", time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	if err := s.WriteRecords(t.Context(), []record.Record{rec}); err != nil {
		t.Fatal(err)
	}
	var age float64
	var pred int
	err := s.pool.QueryRow(t.Context(), `SELECT (doc->'input'->>'age')::float8, (doc->'models'->'prod-gbt'->>'prediction')::int FROM records WHERE id = 'q1'`).Scan(&age, &pred)
	if err != nil || age != 34.5 || pred != 0 {
		t.Errorf("jsonb query: age %v prediction %v err %v", age, pred, err)
	}
	var order []byte
	if err := s.pool.QueryRow(t.Context(), `SELECT feature_order FROM records WHERE id = 'q1'`).Scan(&order); err != nil || !strings.Contains(string(order), `"pclass","gender"`) {
		t.Errorf("feature_order = %s (%v), want the pipeline order of prod-gbt", order, err)
	}
}

func TestWriteRecords_UnencodableRecordFailsTheBatchWritingNothing(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	good := storetest.FullRecord("good", time.Now())
	bad := storetest.FullRecord("bad", time.Now())
	m := bad.Models["prod-gbt"]
	m.Probability = new(math.NaN())
	bad.Models["prod-gbt"] = m
	err := s.WriteRecords(t.Context(), []record.Record{good, bad})
	if !errors.Is(err, docjson.ErrUnsupportedValue) || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("WriteRecords with a NaN probability: %v, want an error naming the record and wrapping docjson.ErrUnsupportedValue", err)
	}
	if _, err := s.GetRecord(t.Context(), "good"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the batch was partly written: GetRecord(good) error = %v", err)
	}
}

func TestUnavailable_TellsAnOutageFromARefusedRecord(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, connectErr := pgx.Connect(t.Context(), "postgres://gw@"+addr+"/db?sslmode=disable")
	bad := storetest.FullRecord("bad", time.Now())
	m := bad.Models["prod-gbt"]
	m.Probability = new(math.NaN())
	bad.Models["prod-gbt"] = m
	refusal := s.WriteRecords(t.Context(), []record.Record{bad})
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a refused connection", connectErr, true},
		{"starting up (57P03)", fmt.Errorf("copy: %w", &pgconn.PgError{Code: "57P03"}), true},
		{"shutting down (57P01)", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure (08006)", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections (53300)", &pgconn.PgError{Code: "53300"}, true},
		{"an I/O error (58030)", &pgconn.PgError{Code: "58030"}, true},
		{"a record the store cannot encode", refusal, false},
		{"invalid text (22P02)", &pgconn.PgError{Code: "22P02"}, false},
		{"a row too large (54000)", &pgconn.PgError{Code: "54000"}, false},
		{"a duplicate key (23505)", &pgconn.PgError{Code: "23505"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("the error to classify is nil")
			}
			if got := s.Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}
