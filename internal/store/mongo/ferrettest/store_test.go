package ferrettest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/mongo"
	"github.com/rendezvous-gw/rendezvous/internal/store/mongo/ferrettest"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)

// opener returns a storetest open function: each call opens a store on a
// fresh database of the server at uri.
func opener(uri string) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		t.Helper()
		s, err := mongo.Open(t.Context(), ferrettest.StoreURL(t, uri))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// mongoURI returns RENDEZVOUS_TEST_MONGO_URI or skips.
func mongoURI(tb testing.TB) string {
	uri := os.Getenv("RENDEZVOUS_TEST_MONGO_URI")
	if uri == "" {
		tb.Skip("set RENDEZVOUS_TEST_MONGO_URI (e.g. mongodb://127.0.0.1:27017/) to run against a real MongoDB")
	}
	return uri
}

func TestStore_ContractOnFerretDBWithSQLite(t *testing.T) {
	storetest.Run(t, opener(ferrettest.Start(t, ferrettest.SQLite)))
}

func TestStore_ContractOnMongoDB(t *testing.T) {
	storetest.Run(t, opener(mongoURI(t)))
}

// FerretDB on PostgreSQL stores documents as jsonb, which cannot hold
// U+0000, so the contract's Unicode case cannot pass there (see
// docs/FERRETDB.md). These tests cover the rest of the behaviour on it and
// pin the limit down.

func TestStore_KeepsDeploymentEventsOnFerretDBWithPostgreSQL(t *testing.T) {
	storetest.RunEvents(t, opener(ferrettest.Start(t, ferrettest.PostgreSQL)))
}

func TestStore_WritesScansAndMatchesOnFerretDBWithPostgreSQL(t *testing.T) {
	s := opener(ferrettest.Start(t, ferrettest.PostgreSQL))(t)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	var recs []record.Record
	for i := range 50 {
		r := storetest.FullRecord(fmt.Sprintf("pg-%02d", i), t0.Add(time.Duration(50-i)*time.Millisecond))
		r.EntityID = fmt.Sprint("e", i%3)
		recs = append(recs, r)
	}
	if err := s.WriteRecords(ctx, recs); err != nil {
		t.Fatalf("WriteRecords: %v", err)
	}
	if err := s.WriteRecords(ctx, recs[:10]); err != nil {
		t.Fatalf("WriteRecords (retried batch): %v", err)
	}
	got, err := s.GetRecord(ctx, "pg-07")
	if err != nil {
		t.Fatalf("GetRecord: %v", err)
	}
	want := recs[7]
	want.ReceivedAt = record.Timestamp(want.ReceivedAt)
	if !got.ReceivedAt.Equal(want.ReceivedAt) || got.Models["prod-gbt"].Features.Names[0] != "pclass" || *got.Models["prod-gbt"].Probability != *want.Models["prod-gbt"].Probability {
		t.Errorf("GetRecord = %+v, want %+v", got, want)
	}
	var order []string
	err = s.ScanRecords(ctx, store.ScanParams{EntityID: "e1", Descending: true, Limit: 3}, func(r *record.Record) error {
		order = append(order, r.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanRecords: %v", err)
	}
	// Older ids are newer records: e1 holds pg-01, pg-04, …; newest first.
	if w := []string{"pg-01", "pg-04", "pg-07"}; !slices.Equal(order, w) {
		t.Errorf("ScanRecords(e1, newest 3) = %v, want %v", order, w)
	}
	m, err := s.Match(ctx, store.MatchParams{RequestIDs: []string{"pg-00", "nope"}, EntityIDs: []string{"e2"}})
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	if !m.Requests["pg-00"] || len(m.Requests) != 1 || len(m.Entities["e2"]) != 16 || m.Entities["e2"][0] != "pg-47" {
		t.Errorf("Match = %+v", m)
	}
	fb := []record.Feedback{{RequestID: "pg-00", Label: 1, ReceivedAt: t0}, {RequestID: "pg-00", Label: 0, ReceivedAt: t0}}
	if err := s.WriteFeedback(ctx, fb); err != nil {
		t.Fatalf("WriteFeedback: %v", err)
	}
	var labels []int
	if err := s.ScanFeedback(ctx, store.FeedbackScanParams{}, func(fb record.Feedback) error {
		labels = append(labels, fb.Label)
		return nil
	}); err != nil {
		t.Fatalf("ScanFeedback: %v", err)
	}
	if !slices.Equal(labels, []int{1, 0}) {
		t.Errorf("ScanFeedback labels = %v, want [1 0] (insertion order)", labels)
	}
}

func TestStore_FerretDBWithPostgreSQLRefusesNULInStrings(t *testing.T) {
	s := opener(ferrettest.Start(t, ferrettest.PostgreSQL))(t)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	bad := storetest.FullRecord("has-nul", t0)
	bad.Raw = "a\x00b"
	good := storetest.FullRecord("fine", t0)
	err := s.WriteRecords(ctx, []record.Record{good, bad})
	if err == nil || !strings.Contains(err.Error(), "unsupported Unicode escape sequence") {
		t.Fatalf("WriteRecords with U+0000 on FerretDB/PostgreSQL = %v, want PostgreSQL's jsonb error", err)
	}
	_, err = s.GetRecord(ctx, "fine")
	t.Logf("the valid record of the same batch: GetRecord error = %v", err)
	if _, err := s.GetRecord(ctx, "has-nul"); err == nil {
		t.Errorf("the record with U+0000 was stored")
	}
}

func TestOpen_CreatesIndexesAndUsesCollectionsFromURL(t *testing.T) {
	uri := ferrettest.Start(t, ferrettest.SQLite)
	storeURL := ferrettest.StoreURL(t, uri)
	db := storeURL[strings.LastIndexByte(storeURL, '/')+1:]
	s, err := mongo.Open(t.Context(), storeURL+"?records=req&feedback=labels&connect_timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WriteRecords(t.Context(), []record.Record{storetest.FullRecord("doc-1", t0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFeedback(t.Context(), []record.Feedback{{RequestID: "doc-1", EntityID: "892", Label: 1, ReceivedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	c, err := mongodrv.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(t.Context()) })
	names, err := c.Database(db).ListCollectionNames(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	// The replay results follow the records collection's name.
	if !slices.Equal(names, []string{"labels", "req", "req_replay"}) {
		t.Errorf("collections = %v, want [labels req req_replay]", names)
	}
	wantIdx := map[string][]string{
		"req":        {"_id_", "entity_id_1_received_us_1", "received_at_1", "received_us_1__id_1"},
		"labels":     {"_id_", "received_us_1_seq_1", "request_id_1"},
		"req_replay": {"_id_", "candidate_1_received_us_1_request_id_1"},
	}
	for coll, want := range wantIdx {
		specs, err := c.Database(db).Collection(coll).Indexes().ListSpecifications(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range specs {
			got = append(got, sp.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("indexes of %s = %v, want %v", coll, got, want)
		}
	}
	// The stored document has the documented shape.
	doc, err := c.Database(db).Collection("req").FindOne(t.Context(), bson.D{{Key: "_id", Value: "doc-1"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := doc.Lookup("received_at").TimeOK(); !ok || !at.Equal(t0.Truncate(time.Millisecond)) {
		t.Errorf("received_at = %v, want the BSON date %s", doc.Lookup("received_at"), t0.Truncate(time.Millisecond))
	}
	if us, ok := doc.Lookup("received_us").Int64OK(); !ok || us != t0.UnixMicro() {
		t.Errorf("received_us = %v, want int64 %d", doc.Lookup("received_us"), t0.UnixMicro())
	}
	elems, err := doc.Lookup("models", "prod-gbt", "features").Document().Elements()
	if err != nil {
		t.Fatal(err)
	}
	var feat []string
	for _, e := range elems {
		feat = append(feat, e.Key())
	}
	if w := []string{"pclass", "gender", "age", "sibsp", "parch", "fare", "embarked_q", "embarked_s"}; !slices.Equal(feat, w) {
		t.Errorf("features keys = %v, want %v in pipeline order", feat, w)
	}
	if p, ok := doc.Lookup("models", "prod-gbt", "prediction").Int32OK(); !ok || p != 0 {
		t.Errorf("prediction = %v, want int32 0", doc.Lookup("models", "prod-gbt", "prediction"))
	}
	if l, ok := doc.Lookup("models", "dev-logreg", "latency_us").Int32OK(); !ok || l != 50_000 {
		t.Errorf("latency_us = %v, want int32 50000 (a plain number in mongosh)", doc.Lookup("models", "dev-logreg", "latency_us"))
	}
}

func TestStoreall_OpensMongoDBURLsWithTheMongoStore(t *testing.T) {
	uri := ferrettest.Start(t, ferrettest.SQLite)
	for _, raw := range []string{ferrettest.StoreURL(t, uri), "MongoDB" + strings.TrimPrefix(ferrettest.StoreURL(t, uri), "mongodb")} {
		s, err := storeall.Open(t.Context(), raw)
		if err != nil {
			t.Fatalf("storeall.Open(%q): %v", raw, err)
		}
		if _, ok := s.(*mongo.Store); !ok {
			t.Errorf("storeall.Open(%q) = %T, want *mongo.Store", raw, s)
		}
		rec := storetest.FullRecord("via-storeall", t0)
		if err := s.WriteRecords(t.Context(), []record.Record{rec}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRecord(t.Context(), rec.ID); err != nil || got.ID != rec.ID {
			t.Errorf("GetRecord = %q, %v", got.ID, err)
		}
		s.Close()
	}
}

func BenchmarkWriteRecords_FerretDBWithSQLite(b *testing.B) {
	uri := ferrettest.Start(b, ferrettest.SQLite)
	storetest.Bench(b, benchOpener(uri))
}

func BenchmarkWriteRecords_FerretDBWithPostgreSQL(b *testing.B) {
	uri := ferrettest.Start(b, ferrettest.PostgreSQL)
	storetest.Bench(b, benchOpener(uri))
}

func BenchmarkWriteRecords_MongoDB(b *testing.B) {
	storetest.Bench(b, benchOpener(mongoURI(b)))
}

func benchOpener(uri string) func(b *testing.B) store.Store {
	return func(b *testing.B) store.Store {
		s, err := mongo.Open(b.Context(), ferrettest.StoreURL(b, uri))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
}

// BenchmarkScanRecords_FerretDBWithSQLite is storetest.BenchScan (a full
// ordered scan of 10,000 records; FerretDB v1 decodes and sorts every
// document in memory).
func BenchmarkScanRecords_FerretDBWithSQLite(b *testing.B) {
	storetest.BenchScan(b, benchOpener(ferrettest.Start(b, ferrettest.SQLite)))
}

func BenchmarkScanRecords_MongoDB(b *testing.B) {
	storetest.BenchScan(b, benchOpener(mongoURI(b)))
}

// startFerretDBAt runs FerretDB on SQLite in dir, listening on addr, until
// the returned stop is called.
func startFerretDBAt(t *testing.T, addr, dir string) (uri string, stop func()) {
	t.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start FerretDB on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return f.MongoDBURI(), stop
}

func TestStore_RecoversWhenTheServerComesBack(t *testing.T) {
	dir := t.TempDir()
	uri, stop := startFerretDBAt(t, "127.0.0.1:0", dir)
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	s, err := mongo.Open(t.Context(), "mongodb://"+addr+"/rdv?connect_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WriteRecords(t.Context(), []record.Record{storetest.FullRecord("before", t0)}); err != nil {
		t.Fatal(err)
	}

	stop() // the server goes away while the store is open
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.WriteRecords(ctx, []record.Record{storetest.FullRecord("during", t0)}); err == nil {
		t.Fatal("WriteRecords succeeded with the server down")
	} else if d := time.Since(start); d > 4*time.Second {
		t.Errorf("WriteRecords took %s to fail with the server down, want about the 2s server-selection timeout", d)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the server down")
	}

	startFerretDBAt(t, addr, dir) // back on the same address, same data
	// The driver reconnects on its own: the same Store works again.
	start = time.Now()
	defer func() { t.Logf("first write after the restart took %s", time.Since(start)) }()
	if err := s.WriteRecords(t.Context(), []record.Record{storetest.FullRecord("during", t0.Add(time.Second))}); err != nil {
		t.Fatalf("WriteRecords after the server came back: %v", err)
	}
	for _, id := range []string{"before", "during"} {
		if _, err := s.GetRecord(t.Context(), id); err != nil {
			t.Errorf("GetRecord(%q) after the restart: %v", id, err)
		}
	}
}

// TestStore_ReopensOnExistingDataAndIndexes restarts the store on a
// database that already holds records and indexes, as a restarted gateway
// (or `rendezvous report` after it) does. FerretDB v1 drops the connection
// when asked to create an index that exists, so Open must only create the
// missing ones.
func TestStore_ReopensOnExistingDataAndIndexes(t *testing.T) {
	url := ferrettest.StoreURL(t, ferrettest.Start(t, ferrettest.SQLite))
	ctx := context.Background()
	for i := range 3 {
		st, err := mongo.Open(ctx, url)
		if err != nil {
			t.Fatalf("open %d on existing data: %v", i+1, err)
		}
		if err := st.WriteRecords(ctx, []record.Record{storetest.FullRecord(fmt.Sprintf("r%d", i), time.Now())}); err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := st.ScanRecords(ctx, store.ScanParams{}, func(*record.Record) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Fatalf("open %d: %d records, want %d", i+1, n, i+1)
		}
		st.Close()
	}
}
