package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/docjson"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

func openTemp(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(tb.TempDir(), "records.db"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore_PassesContractSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func BenchmarkStore_WriteRecords512(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openTemp(b) })
}

func BenchmarkStore_WriteRecords512RecurringEntities(b *testing.B) {
	storetest.BenchRecurringEntities(b, func(b *testing.B) store.Store { return openTemp(b) }, 1000)
}

func BenchmarkStore_ScanRecords(b *testing.B) {
	storetest.BenchScan(b, func(b *testing.B) store.Store { return openTemp(b) })
}

func TestParseURL_AcceptsDocumentedForms(t *testing.T) {
	tests := []struct {
		url  string
		path string
		busy time.Duration
	}{
		{"sqlite:///abs/path.db", "/abs/path.db", DefaultBusyTimeout},
		{"sqlite://./rel.db", "rel.db", DefaultBusyTimeout},
		{"sqlite://../up/rel.db", "../up/rel.db", DefaultBusyTimeout},
		{"sqlite:relative.db", "relative.db", DefaultBusyTimeout},
		{"sqlite:dir/relative.db", "dir/relative.db", DefaultBusyTimeout},
		{"sqlite://data/records.db", "data/records.db", DefaultBusyTimeout},
		{"SQLITE:///abs/with%20space%3F.db", "/abs/with space?.db", DefaultBusyTimeout},
		{"sqlite:///abs.db?busy_timeout=250ms", "/abs.db", 250 * time.Millisecond},
	}
	for _, tc := range tests {
		cfg, err := ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if cfg.Path != tc.path || cfg.BusyTimeout != tc.busy {
			t.Errorf("ParseURL(%q) = %+v, want path %q busy %v", tc.url, cfg, tc.path, tc.busy)
		}
	}
}

func TestParseURL_RejectsBadURLsNamingTheProblem(t *testing.T) {
	tests := []struct{ url, want string }{
		{"postgres:///x.db", `scheme is "postgres"`},
		{"sqlite://", "no file path"},
		{"sqlite:", "no file path"},
		{"sqlite::memory:", "in-memory"},
		{"sqlite:///x.db?mode=memory", "in-memory"},
		{"sqlite:///x.db?busy_timeout=soon", "busy_timeout"},
		{"sqlite:///x.db?journal=off", `unknown parameter "journal"`},
		{"sqlite:///x.db?synchronous=off", "synchronous: want normal or full"},
	}
	for _, tc := range tests {
		_, err := ParseURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) error = %v, want one containing %q", tc.url, err, tc.want)
		}
	}
}

func TestOpen_SynchronousIsNormalUnlessTheURLSaysFull(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		query string
		want  int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{"", 1}, {"?synchronous=normal", 1}, {"?synchronous=FULL", 2}} {
		s, err := Open(t.Context(), "sqlite://"+filepath.Join(dir, "s.db")+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil || got != tc.want {
			t.Errorf("%q: synchronous = %d (%v), want %d", tc.query, got, err, tc.want)
		}
		s.Close()
	}
}

// One huge record, then a large batch of small ones: the second batch's
// buffer is sized from its own records, not from the first batch's average
// (which reserved huge × count bytes).
func TestWriteRecords_EncoderBufferIsSizedFromTheBatchAtHand(t *testing.T) {
	s := openTemp(t)
	huge := record.Record{ID: "huge", ReceivedAt: time.Now(), Endpoint: "/v1/predict", Status: record.RequestRejected, Raw: strings.Repeat("\x01", 1<<20)}
	if err := s.WriteRecords(t.Context(), []record.Record{huge}); err != nil {
		t.Fatal(err)
	}
	small := make([]record.Record, 1000)
	for i := range small {
		small[i] = record.Record{ID: fmt.Sprint("small-", i), ReceivedAt: time.Now(), Endpoint: "/v1/predict", Status: record.RequestOK}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := s.WriteRecords(t.Context(), small); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
		t.Errorf("writing 1000 small records after a 1 MiB one allocated %d MiB", grown>>20)
	}
}

func TestOpen_CreatesFileAndDirectoryWhenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "records.db")
	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	}
	var mode string
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
}

func pageSizeOf(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpen_ANewFileGetsLargePagesAndAnExistingFileKeepsItsOwn(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), "sqlite://"+filepath.Join(dir, "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := pageSizeOf(t, s); got != pageSize {
		t.Errorf("new file: page size %d, want %d", got, pageSize)
	}

	// A file created with SQLite's default pages, as earlier versions did.
	path := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA page_size = 4096", "PRAGMA journal_mode = WAL", "CREATE TABLE unrelated (x)"} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	old, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open of a file with 4 KiB pages: %v", err)
	}
	defer old.Close()
	if got := pageSizeOf(t, old); got != 4096 {
		t.Errorf("existing file: page size %d, want it kept at 4096", got)
	}
	rec := storetest.FullRecord("in-old-file", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err := old.WriteRecords(t.Context(), []record.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got, err := old.GetRecord(t.Context(), rec.ID); err != nil || got.ID != rec.ID {
		t.Errorf("GetRecord from the 4 KiB file: %q, %v", got.ID, err)
	}
}

func TestOpen_PathWithURLSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir#1", "rec?ords%.db")
	u := "sqlite://" + (&url.URL{Path: path}).EscapedPath()
	s, err := Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open(%q): %v", u, err)
	}
	defer s.Close()
	if err := s.WriteRecords(t.Context(), []record.Record{storetest.FullRecord("x", time.Now())}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("file not at %q: %v", path, err)
	}
}

func TestOpen_RefusesAFileThatIsNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), "sqlite://"+path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a text file: %v, want an error naming it", err)
	}
}

func TestOpen_RelativePathIsRelativeToWorkingDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open(t.Context(), "sqlite:rel.db")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat("rel.db"); err != nil {
		t.Errorf("sqlite:rel.db did not create ./rel.db: %v", err)
	}
}

func TestOpen_FailsNamingTheURLWhenTheFileCannotBeCreated(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u := "sqlite://" + filepath.Join(blocker, "records.db") // parent is a file
	_, err := Open(t.Context(), u)
	if err == nil || !strings.Contains(err.Error(), u) {
		t.Errorf("Open(%q) error = %v, want one naming the URL", u, err)
	}
}

func versions(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), "SELECT version || ' ' || name || ' ' || applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestMigrate_UpgradesAVersion1DatabaseKeepingItsRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(t.Context(), Config{Path: path}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A record written by a version-1 binary.
	rec := storetest.FullRecord("from-v1", time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))
	doc, err := encodeRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.w.ExecContext(t.Context(), `INSERT INTO records (id, received_at, entity_id, status, doc) VALUES (?, ?, ?, ?, ?)`,
		rec.ID, micros(rec.ReceivedAt), rec.EntityID, rec.Status, doc); err != nil {
		t.Fatal(err)
	}
	if _, err := old.w.ExecContext(t.Context(), `SELECT 1 FROM feedback`); err == nil {
		t.Fatal("a version-1 database already has the feedback table")
	}
	old.Close()
	if v := versions(t, path); len(v) != 1 {
		t.Fatalf("old database has migrations %v, want only version 1", v)
	}

	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open of a version-1 database: %v", err)
	}
	defer s.Close()
	if v := versions(t, path); len(v) != len(migrations) {
		t.Fatalf("after Open the database has migrations %v, want %d", v, len(migrations))
	}
	if got, err := s.GetRecord(t.Context(), "from-v1"); err != nil || got.ID != "from-v1" {
		t.Errorf("record written at version 1: %+v, %v", got.ID, err)
	}
	if err := s.WriteFeedback(t.Context(), []record.Feedback{{RequestID: "from-v1", Label: 1, ReceivedAt: time.Now()}}); err != nil {
		t.Errorf("feedback after migration: %v", err)
	}
}

func TestMigrate_ReopeningIsANoOp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	for range 3 {
		s, err := Open(t.Context(), "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	first := versions(t, path)
	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	again := versions(t, path)
	if len(first) != len(migrations) || strings.Join(first, "|") != strings.Join(again, "|") {
		t.Errorf("re-opening changed schema_migrations:\n%v\n%v", first, again)
	}
}

func TestMigrate_RefusesADatabaseFromANewerBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations VALUES (99, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(t.Context(), "sqlite://"+path)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Open of a version-99 database: %v, want a 'newer than this binary' error", err)
	}
}

func TestStore_TwoStoresOnOneFileShareRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	errc := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		go func() {
			var recs []record.Record
			for j := range 200 {
				recs = append(recs, storetest.FullRecord(string(rune('a'+i))+time.Duration(j).String(), time.Now()))
			}
			var err error
			for k := 0; k < 5 && err == nil; k++ {
				err = s.WriteRecords(context.Background(), recs[k*40:(k+1)*40])
			}
			errc <- err
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Errorf("writer on a shared file: %v", err)
		}
	}
	n := 0
	if err := b.ScanRecords(t.Context(), store.ScanParams{}, func(*record.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 400 {
		t.Errorf("two processes' stores wrote %d records, want 400", n)
	}
}

func TestStore_ReadOnlyConnectionsCannotWrite(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	_, err := s.r.ExecContext(t.Context(), "DELETE FROM records")
	if err == nil {
		t.Fatal("DELETE on a reader connection succeeded")
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestStore_CheckpointsOffTheWriterAfterEnoughWrites(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	type result struct {
		walFrames, copied int
		err               error
	}
	done := make(chan result, 16)
	s.onCheckpoint = func(_ bool, walFrames, copied int, err error) {
		select {
		case done <- result{walFrames, copied, err}:
		default:
		}
	}
	var autockpt int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&autockpt); err != nil || autockpt != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d (%v), want 0 (checkpoints belong to the checkpointer)", autockpt, err)
	}
	// Write just over checkpointEvery bytes of documents.
	var written int64
	for i := 0; written <= checkpointEvery; i++ {
		recs := make([]record.Record, 256)
		for j := range recs {
			recs[j] = storetest.FullRecord(fmt.Sprintf("ck-%04d-%03d", i, j), time.Now())
			doc, _ := encodeRecord(&recs[j])
			written += int64(len(doc))
		}
		if err := s.WriteRecords(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-done:
		if r.err != nil || r.walFrames == 0 || r.copied == 0 {
			t.Errorf("checkpoint: %d WAL frames, %d copied, error %v; want frames copied", r.walFrames, r.copied, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no checkpoint within 30s of writing more than checkpointEvery bytes")
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

func TestWriteRecords_StoresEachRecordsOwnDocumentWhateverTheSizesInABatch(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Two batches: the second's documents are far longer than the first's,
	// past the room encodeRows reserves from the previous batch.
	for b, rawLen := range []int{0, 5000} {
		recs := make([]record.Record, 70)
		for i := range recs {
			recs[i] = storetest.FullRecord(fmt.Sprintf("b%d-%03d", b, i), at.Add(time.Duration(i)*time.Second))
			recs[i].Raw = strings.Repeat("x", rawLen+i*37)
		}
		if err := s.WriteRecords(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			want, err := encodeRecord(&recs[i])
			if err != nil {
				t.Fatal(err)
			}
			var got, typ, id string
			if err := s.r.QueryRowContext(t.Context(), `SELECT doc, typeof(doc), doc ->> '$._id' FROM records WHERE id = ?`, recs[i].ID).Scan(&got, &typ, &id); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("record %s: stored document differs from its encoding:\n got %.120s…\nwant %.120s…", recs[i].ID, got, want)
			}
			if typ != "text" || id != recs[i].ID {
				t.Fatalf("record %s: doc stored as %s, its _id read with ->> is %q; want text that SQLite's JSON functions read", recs[i].ID, typ, id)
			}
		}
	}
}
