// Package storetest is the contract suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a new, empty
// store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// open is called once per subtest and must return a store that holds nothing
// (its own schema, database or file). Run closes each store it opens; any
// other clean-up (dropping a schema) belongs in a t.Cleanup registered by
// open, which runs after that Close.
//
// The contract, beyond the doc comments of store.Store:
//   - Times (Record.ReceivedAt, Feedback.ReceivedAt) come back as
//     store.Timestamp made them: UTC, truncated to the microsecond.
//   - Every string of a record round-trips exactly, U+0000 and non-BMP runes
//     included; invalid UTF-8 is written without error and comes back valid.
//   - Features keep their order.
//   - Within one WriteRecords batch the first record of an ID wins, exactly
//     as an earlier batch wins over a later one.
//   - Feedback is append-only and ScanFeedback returns every row, in
//     ReceivedAt order and insertion order for ties: a reader that keeps the
//     last label it sees per request gets "latest wins" (monitor.LatestLabels).
//   - Match ignores empty ids, returns non-nil maps, and lists an entity's
//     requests in ReceivedAt order (ID for ties).
//   - A cancelled context fails the call with an error wrapping the
//     context's error, and a cancelled WriteRecords writes nothing.
//   - Every backend keeps deployment events (store.EventLog); the event
//     log's own contract is in events.go.
//   - The store is a store.ReplayStore: replay results round-trip (times
//     to the microsecond, features in order), are idempotent by (request,
//     candidate, version), scan in (ReceivedAt, RequestID, Version) order
//     and never change a record.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// t0 is the base time of the generated records (has nanoseconds on purpose).
var t0 = time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)

// Run runs the whole contract suite against the backend that open opens.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	o := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"PingSucceedsOnOpenStore", testPing},
		{"RoundTripsFullRecord", testRoundTripFull},
		{"RoundTripsRejectedRecordWithRawBodyAndProblems", testRoundTripRejected},
		{"RoundTripsNilPointersAndEmptyFeatures", testRoundTripNils},
		{"RoundTripsUnicodeAndControlCharacters", testRoundTripUnicode},
		{"StoresInvalidUTF8AsValidText", testInvalidUTF8},
		{"StoresTimesAsMicrosecondsInUTC", testTimestamps},
		{"WriteRecordsIsIdempotentByID", testIdempotent},
		{"WriteRecordsKeepsFirstOfDuplicatesWithinABatch", testDuplicatesInBatch},
		{"WriteRecordsAcceptsEmptyBatch", testEmptyBatch},
		{"GetRecordOfUnknownIDWrapsErrNotFound", testNotFound},
		{"ScanRecordsOrdersAndFilters", testScan},
		{"ScanRecordsStopsAtCallbackError", testScanStops},
		{"ScanRecordsGivesEachRecordFreshState", testScanFreshState},
		{"ScanRecordsResumesAfterACursor", testScanAfter},
		{"ScanPagesReturnsEveryRecordOnceInOrder", testScanPages},
		{"ScanPagesSeesWritesAfterItsCursorOnly", testScanPagesConcurrentWrites},
		{"FeedbackIsAppendOnlyAndLatestWins", testFeedback},
		{"ScanFeedbackOrdersByTimeThenInsertion", testFeedbackOrder},
		{"ScanFeedbackStopsAtCallbackError", testFeedbackStops},
		{"WriteFeedbackIsIdempotentByID", testFeedbackIdempotent},
		{"MatchResolvesRequestAndEntityIDs", testMatch},
		{"MatchHandlesManyIDs", testMatchMany},
		{"ConcurrentWritersNeitherLoseNorDuplicate", testConcurrent},
		{"WritesLargeBatch", testLargeBatch},
		{"CancelledContextFailsCalls", testCancel},
		{"CancelledContextStopsScan", testCancelScan},
		{"ReplayResultsRoundTripInRecordOrder", testReplayRoundTrip},
		{"WriteReplayResultsIsIdempotentByRequestCandidateVersion", testReplayIdempotent},
		{"ScanReplayResultsFiltersByCandidateVersionAndTime", testReplayFilters},
		{"ReplayResultsLeaveRecordsUnchanged", testReplayLeavesRecords},
		{"ReplayVersionsListsTheLastReplayedFirst", testReplayVersions},
	}
	tests = append(tests, eventTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, o) })
	}
}

// latestLabels is the latest label of every request as the monitor's
// label index reads it from s (monitor.LatestLabels: ScanFeedback, latest
// ReceivedAt wins, ties go to the row scanned last).
func latestLabels(t *testing.T, s store.Store) map[string]int {
	t.Helper()
	labels, err := monitor.LatestLabels(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]int, len(labels))
	for id, l := range labels {
		m[id] = l.Class
	}
	return m
}

// Bench measures WriteRecords throughput with batches of 512 realistic
// records (three models, eight features each), every one a new request of a
// new entity, ids increasing as UUIDv7 request ids do. It reports records/s
// and this process's CPU per record (user+system, every goroutine: the
// client side of a server backend, everything for an embedded one; less
// sensitive to other load than records/s). Each b.N iteration writes one
// batch. The store is closed in a b.Cleanup, so the caller may still inspect
// it (e.g. a server's CPU) after Bench returns.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	bench(b, open, 0)
}

// BenchRecurringEntities is Bench with entity ids drawn from a fixed set of
// entities (each batch touches min(512, entities) of them), the harder case
// for an entity index: new entries land all over it instead of at its end.
func BenchRecurringEntities(b *testing.B, open func(b *testing.B) store.Store, entities int) {
	bench(b, open, entities)
}

func bench(b *testing.B, open func(b *testing.B) store.Store, entities int) {
	const batch = 512
	s := open(b)
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	ctx := context.Background()
	// The records differ only in ID, EntityID and ReceivedAt, set cheaply in
	// the timed loop: the timer never stops, so background work of the
	// store (a checkpointer) cannot hide in untimed gaps.
	recs := make([]record.Record, batch)
	for j := range recs {
		recs[j] = FullRecord("", t0)
	}
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	before := processCPU()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			k := i*batch + j
			buf = fmt.Appendf(buf[:0], "bench-%012d", k)
			recs[j].ID = string(buf)
			if entities > 0 {
				buf = strconv.AppendInt(append(buf[:0], 'e'), int64(k%entities), 10)
			} else {
				buf = fmt.Appendf(buf[:0], "e%012d", k)
			}
			recs[j].EntityID = string(buf)
			recs[j].ReceivedAt = t0.Add(time.Duration(k) * time.Millisecond)
		}
		if err := s.WriteRecords(ctx, recs); err != nil {
			b.Fatalf("WriteRecords: %v", err)
		}
	}
	b.StopTimer()
	cpu := processCPU() - before
	n := float64(b.N * batch)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/record")
}

// BenchScan measures ScanRecords over a store holding 10,000 records (as an
// analysis pass reads them) and reports records/s and CPU per record.
// Each b.N iteration scans all of them.
func BenchScan(b *testing.B, open func(b *testing.B) store.Store) {
	const n, batch = 10000, 500
	s := open(b)
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	recs := make([]record.Record, batch)
	for i := 0; i < n; i += batch {
		for j := range recs {
			recs[j] = FullRecord(fmt.Sprintf("scan-%012d", i+j), t0.Add(time.Duration(i+j)*time.Millisecond))
		}
		if err := s.WriteRecords(b.Context(), recs); err != nil {
			b.Fatalf("WriteRecords: %v", err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	before := processCPU()
	for i := 0; i < b.N; i++ {
		count := 0
		err := s.ScanRecords(b.Context(), store.ScanParams{}, func(*record.Record) error { count++; return nil })
		if err != nil || count != n {
			b.Fatalf("ScanRecords: %d records, %v", count, err)
		}
	}
	b.StopTimer()
	cpu := processCPU() - before
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/record")
}

// processCPU returns the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FullRecord returns a record with every field set: three models (one that
// timed out, with nil Prediction and Probability), ordered features whose
// names are not in sorted order, and a decision.
func FullRecord(id string, at time.Time) record.Record {
	names := []string{"pclass", "gender", "age", "sibsp", "parch", "fare", "embarked_q", "embarked_s"}
	feat := func(base float64) model.Features {
		v := make([]float64, len(names))
		for i := range v {
			v[i] = base + float64(i)*0.125
		}
		return model.Features{Names: names, Values: v}
	}
	return record.Record{
		ID:         id,
		ReceivedAt: at,
		Endpoint:   "/v1/predict",
		EntityID:   "892",
		Input: schema.Input{
			"pclass": 3.0, "sex": "male", "age": 34.5, "sibsp": 0.0, "parch": 0.0,
			"fare": 7.8292, "embarked": "Q", "cabin": nil, "vip": false,
		},
		Status: record.RequestOK,
		Models: map[string]record.ModelResult{
			"prod-gbt": {
				Role: model.RoleProduction, Version: "2026-11-01", Artifact: "sha256:0a1b",
				Features: feat(1), Prediction: new(0), Label: "Did Not Survive",
				Probability: new(0.1099999999999999), LatencyUS: 38, Status: record.StatusOK,
			},
			"canary-rule": {
				Role: model.RoleCanary, Version: "1", Artifact: "sha256:ffee",
				Features: feat(-2), Prediction: new(1), Label: "Survived",
				Probability: new(1.0), LatencyUS: 3, Status: record.StatusOK,
			},
			"dev-logreg": {
				Role: model.RoleChallenger, Version: "3", Artifact: "sha256:77",
				LatencyUS: 50_000, Status: record.StatusTimeout, Error: "deadline exceeded",
			},
		},
		Decision: &record.Decision{ServedBy: "prod-gbt", Reason: "preferred", DeadlineMS: 50, LatencyUS: 95, Deployment: 7},
	}
}

// want returns rec as a store must return it.
func want(rec record.Record) record.Record {
	rec.ReceivedAt = record.Timestamp(rec.ReceivedAt)
	return rec
}

// equalRecord reports a difference between got and want (times compared as
// instants, and got's must be in UTC).
func equalRecord(t *testing.T, got, want record.Record) {
	t.Helper()
	if !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Errorf("record %q: ReceivedAt = %s, want %s", want.ID, got.ReceivedAt.Format(time.RFC3339Nano), want.ReceivedAt.Format(time.RFC3339Nano))
	}
	if got.ReceivedAt.Location() != time.UTC {
		t.Errorf("record %q: ReceivedAt location = %v, want UTC", want.ID, got.ReceivedAt.Location())
	}
	got.ReceivedAt, want.ReceivedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("record %q differs:\n got %#v\nwant %#v", want.ID, got, want)
	}
}

func write(t *testing.T, s store.Store, recs ...record.Record) {
	t.Helper()
	if err := s.WriteRecords(t.Context(), recs); err != nil {
		t.Fatalf("WriteRecords(%d records): %v", len(recs), err)
	}
}

func get(t *testing.T, s store.Store, id string) record.Record {
	t.Helper()
	rec, err := s.GetRecord(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRecord(%q): %v", id, err)
	}
	return rec
}

func scanAll(t *testing.T, s store.Store, p store.ScanParams) []record.Record {
	t.Helper()
	var out []record.Record
	err := s.ScanRecords(t.Context(), p, func(rec *record.Record) error {
		out = append(out, *rec)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanRecords(%+v): %v", p, err)
	}
	return out
}

func ids(recs []record.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func testPing(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testRoundTripFull(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	rec := FullRecord("req-full", t0)
	write(t, s, rec)
	got := get(t, s, "req-full")
	equalRecord(t, got, want(rec))
	for name, m := range got.Models {
		if !slices.Equal(m.Features.Names, rec.Models[name].Features.Names) {
			t.Errorf("model %s: feature order = %v, want %v", name, m.Features.Names, rec.Models[name].Features.Names)
		}
	}
}

func testRoundTripRejected(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	rec := record.Record{
		ID: "req-rejected", ReceivedAt: t0, Endpoint: "/singletitanicpred/",
		Raw:      `{"pclass": "first", "age": -7, "sex": "m\"ale"` + "\n\t}",
		RawBytes: 1 << 20, RawSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Status: record.RequestRejected,
		Problems: []schema.FieldError{
			{Field: "pclass", Problem: `must be an integer, got "first"`},
			{Field: "age", Problem: "must be a number between 0 and 120, got -7"},
			{Field: "instances[3].sex", Problem: `must be one of "male", "female"`},
		},
	}
	write(t, s, rec)
	equalRecord(t, get(t, s, rec.ID), want(rec))
}

func testRoundTripNils(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	rec := record.Record{
		ID: "req-nils", ReceivedAt: t0, Endpoint: "/v1/predict", Status: record.RequestUnavailable,
		Input: schema.Input{"age": nil, "fare": 0.0},
		Models: map[string]record.ModelResult{
			"prod": {Role: model.RoleProduction, Status: record.StatusError, Error: "panic: boom"},
			"zero": {Role: model.RoleChallenger, Status: record.StatusOK, Prediction: new(0), Probability: new(0.0)},
		},
		Decision: &record.Decision{Reason: "unavailable", DeadlineMS: 50, LatencyUS: 50_123},
	}
	write(t, s, rec)
	got := get(t, s, rec.ID)
	equalRecord(t, got, want(rec))
	if got.Models["prod"].Prediction != nil || got.Models["prod"].Probability != nil {
		t.Errorf("nil Prediction/Probability came back non-nil: %+v", got.Models["prod"])
	}
	if p := got.Models["zero"].Prediction; p == nil || *p != 0 {
		t.Errorf("zero Prediction came back as %v, want pointer to 0", p)
	}
}

func testRoundTripUnicode(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	weird := "Zoë 🚢 日本語 \u0000nul \u2028 <b>&amp;</b> \\u0000 \"q\" '; DROP TABLE records; --"
	rec := record.Record{
		ID: "req-ünï-🚢", ReceivedAt: t0, Endpoint: "/v1/predict", EntityID: "entité-\u0000-🚢",
		Input:  schema.Input{"name": weird, "ключ": "значение", "": "empty key"},
		Raw:    weird,
		Status: record.RequestRejected,
		Problems: []schema.FieldError{
			{Field: "name", Problem: weird},
		},
		Models: map[string]record.ModelResult{
			"modèle-ü": {Role: model.RoleChallenger, Status: record.StatusError, Error: weird,
				Features: model.Features{Names: []string{"ß", "a", "日"}, Values: []float64{1, math.MaxFloat64, math.SmallestNonzeroFloat64}}},
		},
	}
	write(t, s, rec)
	equalRecord(t, get(t, s, rec.ID), want(rec))
	got := scanAll(t, s, store.ScanParams{EntityID: rec.EntityID})
	if len(got) != 1 || got[0].ID != rec.ID {
		t.Errorf("ScanRecords by entity %q = %v, want [%s]", rec.EntityID, ids(got), rec.ID)
	}
}

func testInvalidUTF8(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	rec := record.Record{ID: "req-bad-utf8", ReceivedAt: t0, Endpoint: "/v1/predict",
		Raw: "head\xff\xfe\xc3tail", Status: record.RequestRejected}
	write(t, s, rec)
	got := get(t, s, rec.ID)
	if !utf8.ValidString(got.Raw) || !strings.HasPrefix(got.Raw, "head") || !strings.HasSuffix(got.Raw, "tail") ||
		!strings.Contains(got.Raw, "\uFFFD") {
		t.Errorf("Raw = %q, want valid UTF-8 \"head…tail\" with U+FFFD in place of the invalid bytes", got.Raw)
	}
}

func testTimestamps(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	paris := time.FixedZone("CET", 3600)
	cases := []time.Time{
		time.Date(2026, 11, 24, 13, 0, 0, 123456789, paris), // ns dropped, zone converted
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 0, 1000, time.UTC), // exactly 1 µs
		time.Now(), // carries a monotonic reading
	}
	for i, at := range cases {
		rec := record.Record{ID: fmt.Sprintf("req-ts-%d", i), ReceivedAt: at, Endpoint: "/v1/predict", Status: record.RequestOK}
		write(t, s, rec)
		got := get(t, s, rec.ID)
		w := at.Truncate(time.Microsecond).UTC()
		if !got.ReceivedAt.Equal(w) || got.ReceivedAt.Location() != time.UTC || got.ReceivedAt.Nanosecond()%1000 != 0 {
			t.Errorf("ReceivedAt %s came back %s (%v), want %s UTC", at, got.ReceivedAt, got.ReceivedAt.Location(), w)
		}
	}
	fbAt := time.Date(2026, 11, 24, 13, 0, 0, 987654321, paris)
	if err := s.WriteFeedback(t.Context(), []record.Feedback{{RequestID: "req-ts-0", Label: 1, ReceivedAt: fbAt}}); err != nil {
		t.Fatalf("WriteFeedback: %v", err)
	}
	fbs := scanFeedback(t, s, store.FeedbackScanParams{})
	if len(fbs) != 1 || !fbs[0].ReceivedAt.Equal(fbAt.Truncate(time.Microsecond)) || fbs[0].ReceivedAt.Location() != time.UTC {
		t.Errorf("feedback ReceivedAt = %v, want %s UTC", fbs, fbAt.Truncate(time.Microsecond).UTC())
	}
	// The truncated time is what the filters see: a Since one nanosecond
	// after the stored microsecond excludes the record.
	got := scanAll(t, s, store.ScanParams{Since: time.Date(2030, 1, 1, 0, 0, 0, 1001, time.UTC)})
	for _, r := range got {
		if r.ID == "req-ts-2" {
			t.Errorf("Since 1.001µs included a record stored at 1µs")
		}
	}
}

func testIdempotent(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	var batch []record.Record
	for i := range 20 {
		batch = append(batch, FullRecord(fmt.Sprintf("req-%02d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	write(t, s, batch...)
	write(t, s, batch...) // a retried batch
	changed := slices.Clone(batch)
	for i := range changed {
		changed[i].Status = record.RequestUnavailable
		changed[i].EntityID = "other"
	}
	changed = append(changed, FullRecord("req-new", t0.Add(time.Hour)))
	write(t, s, changed...) // same ids, different content, plus one new
	got := scanAll(t, s, store.ScanParams{})
	if len(got) != 21 {
		t.Fatalf("after three writes of 20 ids (+1 new) the store holds %d records, want 21: %v", len(got), ids(got))
	}
	for i, r := range got[:20] {
		equalRecord(t, r, want(batch[i]))
	}
	if n := len(scanAll(t, s, store.ScanParams{EntityID: "other"})); n != 0 {
		t.Errorf("re-written records changed the entity index: %d records under the new entity", n)
	}
}

func testDuplicatesInBatch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	first := FullRecord("dup", t0)
	second := FullRecord("dup", t0.Add(time.Minute))
	second.Status = record.RequestRejected
	other := FullRecord("other", t0.Add(time.Second))
	write(t, s, first, other, second, first)
	got := scanAll(t, s, store.ScanParams{})
	if len(got) != 2 {
		t.Fatalf("store holds %v, want [dup other]", ids(got))
	}
	equalRecord(t, get(t, s, "dup"), want(first))
}

func testEmptyBatch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	if err := s.WriteRecords(t.Context(), nil); err != nil {
		t.Errorf("WriteRecords(nil): %v", err)
	}
	if err := s.WriteFeedback(t.Context(), nil); err != nil {
		t.Errorf("WriteFeedback(nil): %v", err)
	}
	if got := scanAll(t, s, store.ScanParams{}); len(got) != 0 {
		t.Errorf("store holds %v after empty writes", ids(got))
	}
}

func testNotFound(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	write(t, s, FullRecord("present", t0))
	for _, id := range []string{"absent", "", "PRESENT", "present "} {
		_, err := s.GetRecord(t.Context(), id)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRecord(%q) error = %v, want one wrapping store.ErrNotFound", id, err)
		}
	}
}

// scanFixture writes 10 records: one per second from t0, except r03 and
// r04b/r04a which share a timestamp (ties broken by ID); entities cycle
// through e0..e2, statuses alternate.
func scanFixture(t *testing.T, s store.Store) []record.Record {
	t.Helper()
	spec := []struct {
		id     string
		sec    int
		entity string
		status string
	}{
		{"r00", 0, "e0", record.RequestOK},
		{"r01", 1, "e1", record.RequestRejected},
		{"r02", 2, "e2", record.RequestOK},
		{"r04b", 3, "e0", record.RequestOK},
		{"r03", 3, "e1", record.RequestRejected},
		{"r04a", 3, "e2", record.RequestOK},
		{"r05", 5, "e0", record.RequestUnavailable},
		{"r06", 6, "", record.RequestOK},
		{"r07", 7, "e1", record.RequestOK},
		{"r08", 8, "e2", record.RequestRejected},
	}
	var recs []record.Record
	for _, sp := range spec {
		r := FullRecord(sp.id, t0.Add(time.Duration(sp.sec)*time.Second))
		r.EntityID, r.Status = sp.entity, sp.status
		recs = append(recs, r)
	}
	// Written out of order, in two batches.
	write(t, s, recs[5], recs[9], recs[0], recs[7])
	write(t, s, recs[3], recs[1], recs[8], recs[2], recs[6], recs[4])
	return recs
}

func testScan(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	recs := scanFixture(t, s)
	at := func(sec int) time.Time { return record.Timestamp(t0.Add(time.Duration(sec) * time.Second)) }
	all := []string{"r00", "r01", "r02", "r03", "r04a", "r04b", "r05", "r06", "r07", "r08"}
	tests := []struct {
		name string
		p    store.ScanParams
		want []string
	}{
		{"all ascending, ties by id", store.ScanParams{}, all},
		{"since is inclusive", store.ScanParams{Since: at(3)}, all[3:]},
		{"until is exclusive", store.ScanParams{Until: at(3)}, all[:3]},
		{"since and until", store.ScanParams{Since: at(1), Until: at(5)}, []string{"r01", "r02", "r03", "r04a", "r04b"}},
		{"since one microsecond after a tie excludes it", store.ScanParams{Since: at(3).Add(time.Microsecond)}, all[6:]},
		{"empty range", store.ScanParams{Since: at(5), Until: at(5)}, nil},
		{"entity", store.ScanParams{EntityID: "e1"}, []string{"r01", "r03", "r07"}},
		{"unknown entity", store.ScanParams{EntityID: "e9"}, nil},
		{"status", store.ScanParams{Status: record.RequestRejected}, []string{"r01", "r03", "r08"}},
		{"entity and status", store.ScanParams{EntityID: "e2", Status: record.RequestOK}, []string{"r02", "r04a"}},
		{"entity, status and range", store.ScanParams{EntityID: "e0", Status: record.RequestOK, Since: at(1)}, []string{"r04b"}},
		{"limit", store.ScanParams{Limit: 4}, all[:4]},
		{"limit above count", store.ScanParams{Limit: 100}, all},
		{"descending", store.ScanParams{Descending: true}, reversed(all)},
		{"descending with limit gives the newest", store.ScanParams{Descending: true, Limit: 3}, []string{"r08", "r07", "r06"}},
		{"descending with range and filter", store.ScanParams{Descending: true, Since: at(2), Until: at(8), Status: record.RequestOK}, []string{"r07", "r06", "r04b", "r04a", "r02"}},
	}
	byID := map[string]record.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanAll(t, s, tc.p)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("ScanRecords(%+v) = %v, want %v", tc.p, ids(got), tc.want)
			}
			for _, r := range got {
				equalRecord(t, r, want(byID[r.ID]))
			}
		})
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func testScanAfter(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	recs := scanFixture(t, s)
	byID := map[string]record.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	after := func(id string) store.Cursor { r := byID[id]; return store.CursorOf(&r) }
	at := func(sec int) time.Time { return record.Timestamp(t0.Add(time.Duration(sec) * time.Second)) }
	all := []string{"r00", "r01", "r02", "r03", "r04a", "r04b", "r05", "r06", "r07", "r08"}
	tests := []struct {
		name string
		p    store.ScanParams
		want []string
	}{
		{"after a record", store.ScanParams{After: after("r02")}, all[3:]},
		{"after the first of a tie", store.ScanParams{After: after("r03")}, all[4:]},
		{"after the middle of a tie", store.ScanParams{After: after("r04a")}, all[5:]},
		{"after the last of a tie", store.ScanParams{After: after("r04b")}, all[6:]},
		{"after a key no record has, inside a tie", store.ScanParams{After: store.Cursor{ReceivedAt: at(3), ID: "r04"}}, all[4:]},
		{"a cursor's nanoseconds are ignored", store.ScanParams{After: store.Cursor{ReceivedAt: at(3).Add(999), ID: "r03"}}, all[4:]},
		{"after an empty id takes the whole tie", store.ScanParams{After: store.Cursor{ReceivedAt: at(3)}}, all[3:]},
		{"after the last", store.ScanParams{After: after("r08")}, nil},
		{"after with limit", store.ScanParams{After: after("r03"), Limit: 3}, []string{"r04a", "r04b", "r05"}},
		{"after with since later than the cursor", store.ScanParams{After: after("r01"), Since: at(5)}, all[6:]},
		{"after with until", store.ScanParams{After: after("r01"), Until: at(5)}, []string{"r02", "r03", "r04a", "r04b"}},
		{"after with entity and status", store.ScanParams{After: after("r00"), EntityID: "e0", Status: record.RequestOK}, []string{"r04b"}},
		{"descending after the middle of a tie", store.ScanParams{Descending: true, After: after("r04a")}, []string{"r03", "r02", "r01", "r00"}},
		{"descending after the last of a tie", store.ScanParams{Descending: true, After: after("r03")}, []string{"r02", "r01", "r00"}},
		{"descending after with limit", store.ScanParams{Descending: true, After: after("r06"), Limit: 2}, []string{"r05", "r04b"}},
		{"descending after the first", store.ScanParams{Descending: true, After: after("r00")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanAll(t, s, tc.p)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("ScanRecords(%+v) = %v, want %v", tc.p, ids(got), tc.want)
			}
			for _, r := range got {
				equalRecord(t, r, want(byID[r.ID]))
			}
		})
	}
}

// scanPages runs store.ScanPages and returns the records and page sizes.
func scanPages(t *testing.T, s store.Store, p store.PageParams) ([]record.Record, []int) {
	t.Helper()
	var out []record.Record
	var sizes []int
	err := store.ScanPages(t.Context(), s, p, func(page []record.Record) error {
		out = append(out, page...)
		sizes = append(sizes, len(page))
		return nil
	})
	if err != nil {
		t.Fatalf("ScanPages(%+v): %v", p, err)
	}
	return out, sizes
}

func testScanPages(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	recs := scanFixture(t, s)
	// Many records on one time, so ties straddle every page boundary.
	var tie []record.Record
	for i := range 23 {
		tie = append(tie, FullRecord(fmt.Sprintf("t%02d", (i*7)%23), t0.Add(4*time.Second)))
	}
	write(t, s, tie...)
	recs = append(recs, tie...)
	byID := map[string]record.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	all := ids(scanAll(t, s, store.ScanParams{}))
	if len(all) != len(recs) {
		t.Fatalf("ScanRecords returned %d records, want %d", len(all), len(recs))
	}
	var tieIDs []string
	for _, id := range all {
		if strings.HasPrefix(id, "t") {
			tieIDs = append(tieIDs, id)
		}
	}
	if !slices.IsSorted(tieIDs) || len(tieIDs) != 23 {
		t.Fatalf("tied records %v, want 23 in id order", tieIDs)
	}
	i04b := slices.Index(all, "r04b")
	r04b := byID["r04b"]
	tests := []struct {
		name string
		p    store.PageParams
		want []string
	}{
		{"page of 1", store.PageParams{Size: 1}, all},
		{"page of 2", store.PageParams{Size: 2}, all},
		{"page of 5", store.PageParams{Size: 5}, all},
		{"exact multiple", store.PageParams{Size: len(all) / 3}, all},
		{"one page", store.PageParams{Size: 1000}, all},
		{"default size", store.PageParams{}, all},
		{"limit across pages", store.PageParams{Size: 4, ScanParams: store.ScanParams{Limit: 10}}, all[:10]},
		{"limit inside a page", store.PageParams{Size: 4, ScanParams: store.ScanParams{Limit: 3}}, all[:3]},
		{"filtered", store.PageParams{Size: 2, ScanParams: store.ScanParams{EntityID: "e1"}}, []string{"r01", "r03", "r07"}},
		{"descending", store.PageParams{Size: 3, ScanParams: store.ScanParams{Descending: true}}, reversed(all)},
		{"through", store.PageParams{Size: 3, Through: store.CursorOf(&r04b)}, all[:i04b+1]},
		{"descending through", store.PageParams{Size: 3, Through: store.CursorOf(&r04b), ScanParams: store.ScanParams{Descending: true}}, reversed(all[i04b:])},
		{"after and through", store.PageParams{Size: 2, Through: store.CursorOf(&r04b), ScanParams: store.ScanParams{After: store.CursorOf(&r04b)}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, sizes := scanPages(t, s, tc.p)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("ScanPages(%+v) = %v, want %v", tc.p, ids(got), tc.want)
			}
			size := tc.p.Size
			if size == 0 {
				size = store.DefaultPageSize
			}
			for _, n := range sizes {
				if n > size {
					t.Fatalf("page of %d records, size %d", n, size)
				}
			}
			for _, r := range got {
				equalRecord(t, r, want(byID[r.ID]))
			}
		})
	}
	stop := errors.New("enough")
	pages := 0
	err := store.ScanPages(t.Context(), s, store.PageParams{Size: 2}, func([]record.Record) error {
		pages++
		return stop
	})
	if !errors.Is(err, stop) || pages != 1 {
		t.Errorf("ScanPages after fn's error: err %v after %d pages, want fn's error after 1", err, pages)
	}
}

// testScanPagesConcurrentWrites: a paged scan is not a snapshot. A record
// written during the scan is returned when its key is after the page being
// read, and not when it is before; nothing is returned twice.
func testScanPagesConcurrentWrites(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	scanFixture(t, s)
	var got []string
	err := store.ScanPages(t.Context(), s, store.PageParams{Size: 3}, func(page []record.Record) error {
		for _, r := range page {
			got = append(got, r.ID)
		}
		if len(got) == 3 {
			// Behind the cursor (r02), inside the next page, and at the end.
			write(t, s, FullRecord("late-behind", t0.Add(time.Second)), FullRecord("r03x", t0.Add(3*time.Second)), FullRecord("late-end", t0.Add(time.Hour)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"r00", "r01", "r02", "r03", "r03x", "r04a", "r04b", "r05", "r06", "r07", "r08", "late-end"}
	if !slices.Equal(got, want) {
		t.Fatalf("ScanPages with writes during the scan = %v, want %v", got, want)
	}
}

func testScanStops(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	scanFixture(t, s)
	stop := errors.New("enough")
	calls := 0
	err := s.ScanRecords(t.Context(), store.ScanParams{}, func(rec *record.Record) error {
		calls++
		if calls == 3 {
			return fmt.Errorf("at %s: %w", rec.ID, stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("ScanRecords error = %v, want the callback's error", err)
	}
	if calls != 3 {
		t.Errorf("callback called %d times after returning an error on call 3", calls)
	}
	// The store is still usable (no leaked transaction or connection).
	write(t, s, FullRecord("after-stop", t0.Add(time.Hour)))
	get(t, s, "after-stop")
}

func testScanFreshState(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	a := record.Record{ID: "a", ReceivedAt: t0, Endpoint: "/a", EntityID: "ea", Status: record.RequestOK,
		Input:    schema.Input{"x": 1.0},
		Models:   map[string]record.ModelResult{"m1": {Role: model.RoleProduction, Status: record.StatusOK, Prediction: new(1)}},
		Decision: &record.Decision{ServedBy: "m1", Reason: "preferred"}, Problems: []schema.FieldError{{Field: "f", Problem: "p"}}}
	b := record.Record{ID: "b", ReceivedAt: t0.Add(time.Second), Endpoint: "/b", Status: record.RequestOK,
		Input:  schema.Input{"y": 2.0},
		Models: map[string]record.ModelResult{"m2": {Role: model.RoleCanary, Status: record.StatusTimeout}}}
	write(t, s, a, b)
	got := scanAll(t, s, store.ScanParams{})
	if len(got) != 2 {
		t.Fatalf("scan = %v, want [a b]", ids(got))
	}
	equalRecord(t, got[0], want(a))
	equalRecord(t, got[1], want(b)) // no field of a may leak into b
}

func writeFeedback(t *testing.T, s store.Store, fbs ...record.Feedback) {
	t.Helper()
	if err := s.WriteFeedback(t.Context(), fbs); err != nil {
		t.Fatalf("WriteFeedback: %v", err)
	}
}

func scanFeedback(t *testing.T, s store.Store, p store.FeedbackScanParams) []record.Feedback {
	t.Helper()
	var out []record.Feedback
	if err := s.ScanFeedback(t.Context(), p, func(fb record.Feedback) error {
		out = append(out, fb)
		return nil
	}); err != nil {
		t.Fatalf("ScanFeedback: %v", err)
	}
	return out
}

func testFeedback(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	rec := FullRecord("req-1", t0)
	write(t, s, rec)
	writeFeedback(t, s, record.Feedback{RequestID: "req-1", EntityID: "892", Label: 0, ReceivedAt: t0.Add(time.Hour)})
	writeFeedback(t, s, record.Feedback{RequestID: "req-1", EntityID: "892", Label: 1, ReceivedAt: t0.Add(2 * time.Hour)})
	// Feedback for a request the store does not know is kept too (the label
	// may arrive before the record is flushed).
	writeFeedback(t, s, record.Feedback{RequestID: "req-unknown", Label: 1, ReceivedAt: t0.Add(3 * time.Hour)})
	fbs := scanFeedback(t, s, store.FeedbackScanParams{})
	if len(fbs) != 3 {
		t.Fatalf("ScanFeedback returned %d rows, want all 3 (append-only): %+v", len(fbs), fbs)
	}
	wantFb := []record.Feedback{
		{RequestID: "req-1", EntityID: "892", Label: 0, ReceivedAt: record.Timestamp(t0.Add(time.Hour))},
		{RequestID: "req-1", EntityID: "892", Label: 1, ReceivedAt: record.Timestamp(t0.Add(2 * time.Hour))},
		{RequestID: "req-unknown", Label: 1, ReceivedAt: record.Timestamp(t0.Add(3 * time.Hour))},
	}
	if !reflect.DeepEqual(fbs, wantFb) {
		t.Errorf("ScanFeedback = %+v, want %+v", fbs, wantFb)
	}
	if got := latestLabels(t, s); got["req-1"] != 1 {
		t.Errorf("latest label of req-1 = %d, want 1 (the later one)", got["req-1"])
	}
	// Feedback never rewrites the record.
	equalRecord(t, get(t, s, "req-1"), want(rec))
	// Range filter: Since inclusive, Until exclusive.
	got := scanFeedback(t, s, store.FeedbackScanParams{Since: record.Timestamp(t0.Add(2 * time.Hour)), Until: record.Timestamp(t0.Add(3 * time.Hour))})
	if len(got) != 1 || got[0].Label != 1 || got[0].RequestID != "req-1" {
		t.Errorf("ScanFeedback [2h, 3h) = %+v, want the second label of req-1", got)
	}
}

// testFeedbackIdempotent: a feedback batch written again (a retry after a
// commit whose acknowledgement was lost, or the recorder's spool replaying
// a frame) adds no rows; rows without an ID are always appended; an entity
// label with no request id is kept and comes back as written.
func testFeedbackIdempotent(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	batch := []record.Feedback{
		{ID: "fb-1", RequestID: "req-1", Label: 1, ReceivedAt: t0},
		{ID: "fb-2", RequestID: "req-2", EntityID: "892", Label: 0, ReceivedAt: t0},
		{ID: "fb-3", EntityID: "893", Label: 1, ReceivedAt: t0.Add(time.Second)},
	}
	writeFeedback(t, s, batch...)
	writeFeedback(t, s, batch...)
	// A batch that repeats a stored row and one of its own, beside a new one.
	writeFeedback(t, s,
		record.Feedback{ID: "fb-2", RequestID: "req-2", EntityID: "892", Label: 0, ReceivedAt: t0},
		record.Feedback{ID: "fb-4", RequestID: "req-1", Label: 0, ReceivedAt: t0.Add(2 * time.Second)},
		record.Feedback{ID: "fb-4", RequestID: "req-1", Label: 0, ReceivedAt: t0.Add(2 * time.Second)},
	)
	// Rows without an ID are appended every time.
	anon := record.Feedback{RequestID: "req-9", Label: 1, ReceivedAt: t0.Add(3 * time.Second)}
	writeFeedback(t, s, anon)
	writeFeedback(t, s, anon)
	fbs := scanFeedback(t, s, store.FeedbackScanParams{})
	want := []record.Feedback{
		{ID: "fb-1", RequestID: "req-1", Label: 1, ReceivedAt: record.Timestamp(t0)},
		{ID: "fb-2", RequestID: "req-2", EntityID: "892", Label: 0, ReceivedAt: record.Timestamp(t0)},
		{ID: "fb-3", EntityID: "893", Label: 1, ReceivedAt: record.Timestamp(t0.Add(time.Second))},
		{ID: "fb-4", RequestID: "req-1", Label: 0, ReceivedAt: record.Timestamp(t0.Add(2 * time.Second))},
		{RequestID: "req-9", Label: 1, ReceivedAt: record.Timestamp(t0.Add(3 * time.Second))},
		{RequestID: "req-9", Label: 1, ReceivedAt: record.Timestamp(t0.Add(3 * time.Second))},
	}
	if !reflect.DeepEqual(fbs, want) {
		t.Errorf("ScanFeedback after rewrites =\n%+v\nwant\n%+v", fbs, want)
	}
	if got := latestLabels(t, s); got["req-1"] != 0 || len(got) != 3 {
		t.Errorf("latest labels = %v, want req-1=0 (fb-4), req-2, req-9; the entity-only row labels no request", got)
	}
	if fl, ok := s.(store.FeedbackLogScanner); ok {
		var log []record.Feedback
		if err := fl.ScanFeedbackLog(t.Context(), 0, func(_ int64, fb record.Feedback) error {
			log = append(log, fb)
			return nil
		}); err != nil {
			t.Fatalf("ScanFeedbackLog: %v", err)
		}
		if !reflect.DeepEqual(log, want) {
			t.Errorf("ScanFeedbackLog =\n%+v\nwant\n%+v", log, want)
		}
	}
}

func testFeedbackOrder(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	same := t0.Add(time.Minute)
	// Later ReceivedAt written first; then ties written in two calls.
	writeFeedback(t, s, record.Feedback{RequestID: "late", Label: 1, ReceivedAt: t0.Add(time.Hour)})
	writeFeedback(t, s,
		record.Feedback{RequestID: "r", Label: 0, ReceivedAt: same},
		record.Feedback{RequestID: "r", Label: 1, ReceivedAt: same},
		record.Feedback{RequestID: "a", Label: 1, ReceivedAt: same},
	)
	writeFeedback(t, s, record.Feedback{RequestID: "r", Label: 0, ReceivedAt: same})
	writeFeedback(t, s, record.Feedback{RequestID: "early", Label: 0, ReceivedAt: t0})
	fbs := scanFeedback(t, s, store.FeedbackScanParams{})
	var got []string
	for _, fb := range fbs {
		got = append(got, fmt.Sprintf("%s=%d", fb.RequestID, fb.Label))
	}
	wantOrder := []string{"early=0", "r=0", "r=1", "a=1", "r=0", "late=1"}
	if !slices.Equal(got, wantOrder) {
		t.Errorf("ScanFeedback order = %v, want %v", got, wantOrder)
	}
	if l := latestLabels(t, s)["r"]; l != 0 {
		t.Errorf("latest label of r = %d, want 0 (written last at the same time)", l)
	}
}

func testFeedbackStops(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	for i := range 5 {
		writeFeedback(t, s, record.Feedback{RequestID: fmt.Sprint(i), Label: 1, ReceivedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	stop := errors.New("stop")
	calls := 0
	err := s.ScanFeedback(t.Context(), store.FeedbackScanParams{}, func(record.Feedback) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("ScanFeedback = %v after %d calls, want the callback's error after 2", err, calls)
	}
}

func testMatch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	scanFixture(t, s)
	res, err := s.Match(t.Context(), store.MatchParams{
		RequestIDs: []string{"r00", "r05", "nope", "r05", ""},
		EntityIDs:  []string{"e1", "e2", "e9", ""},
	})
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	wantReq := map[string]bool{"r00": true, "r05": true}
	if !reflect.DeepEqual(res.Requests, wantReq) {
		t.Errorf("Match.Requests = %v, want %v", res.Requests, wantReq)
	}
	wantEnt := map[string][]string{"e1": {"r01", "r03", "r07"}, "e2": {"r02", "r04a", "r08"}}
	if !reflect.DeepEqual(res.Entities, wantEnt) {
		t.Errorf("Match.Entities = %v, want %v", res.Entities, wantEnt)
	}
	empty, err := s.Match(t.Context(), store.MatchParams{})
	if err != nil {
		t.Fatalf("Match(empty): %v", err)
	}
	if empty.Requests == nil || empty.Entities == nil || len(empty.Requests)+len(empty.Entities) != 0 {
		t.Errorf("Match(empty) = %+v, want two empty non-nil maps", empty)
	}
}

func testMatchMany(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const n = 2500
	var recs []record.Record
	var reqIDs, entIDs []string
	for i := range n {
		r := record.Record{ID: fmt.Sprintf("m%05d", i), ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond),
			Endpoint: "/v1/predict", EntityID: fmt.Sprintf("ent%04d", i/2), Status: record.RequestOK}
		recs = append(recs, r)
		reqIDs = append(reqIDs, r.ID, "x"+r.ID)
		if i%2 == 0 {
			entIDs = append(entIDs, r.EntityID, "x"+r.EntityID)
		}
	}
	write(t, s, recs...)
	res, err := s.Match(t.Context(), store.MatchParams{RequestIDs: reqIDs, EntityIDs: entIDs})
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	if len(res.Requests) != n || len(res.Entities) != n/2 {
		t.Fatalf("Match found %d requests and %d entities, want %d and %d", len(res.Requests), len(res.Entities), n, n/2)
	}
	for i := 0; i < n; i += 2 {
		e := recs[i].EntityID
		if w := []string{recs[i].ID, recs[i+1].ID}; !slices.Equal(res.Entities[e], w) {
			t.Fatalf("Match.Entities[%s] = %v, want %v", e, res.Entities[e], w)
		}
	}
}

func testConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const writers, batches, size = 8, 6, 40
	const half = size / 2
	// In batch b writer w writes ids c-b-k for k in [w*half, w*half+size):
	// half of its ids are also written, at the same time, by writer w+1.
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]record.Record, size)
				for i := range recs {
					k := w*half + i
					recs[i] = FullRecord(fmt.Sprintf("c-%d-%03d", b, k), t0.Add(time.Duration(b*1000+k)*time.Millisecond))
				}
				if err := s.WriteRecords(context.Background(), recs); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
					return
				}
			}
		})
		// A concurrent reader must not fail either.
		wg.Go(func() {
			err := s.ScanRecords(context.Background(), store.ScanParams{}, func(*record.Record) error { return nil })
			if err != nil {
				errs <- fmt.Errorf("reader %d: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := scanAll(t, s, store.ScanParams{})
	seen := map[string]int{}
	for _, r := range got {
		seen[r.ID]++
	}
	wantN := batches * ((writers-1)*half + size)
	if len(got) != wantN || len(seen) != wantN {
		t.Errorf("after concurrent writes the store holds %d records (%d distinct), want %d", len(got), len(seen), wantN)
	}
}

func testLargeBatch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const n = 5000
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = FullRecord(fmt.Sprintf("big-%05d", i), t0.Add(time.Duration(n-i)*time.Millisecond))
	}
	write(t, s, recs...)
	count := 0
	var prev time.Time
	err := s.ScanRecords(t.Context(), store.ScanParams{}, func(rec *record.Record) error {
		if rec.ReceivedAt.Before(prev) {
			return fmt.Errorf("record %s at %s after one at %s", rec.ID, rec.ReceivedAt, prev)
		}
		prev = rec.ReceivedAt
		count++
		return nil
	})
	if err != nil {
		t.Fatalf("ScanRecords: %v", err)
	}
	if count != n {
		t.Errorf("scanned %d records after writing %d in one batch", count, n)
	}
	equalRecord(t, get(t, s, "big-04321"), want(recs[4321]))
}

func testCancel(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	write(t, s, FullRecord("existing", t0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.WriteRecords(ctx, []record.Record{FullRecord("cancelled", t0)}); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteRecords(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if _, err := s.GetRecord(t.Context(), "cancelled"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a cancelled WriteRecords wrote its record (GetRecord error = %v)", err)
	}
	if _, err := s.GetRecord(ctx, "existing"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetRecord(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if err := s.ScanRecords(ctx, store.ScanParams{}, func(*record.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("ScanRecords(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if err := s.WriteFeedback(ctx, []record.Feedback{{RequestID: "existing", Label: 1, ReceivedAt: t0}}); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteFeedback(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if err := s.ScanFeedback(ctx, store.FeedbackScanParams{}, func(record.Feedback) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("ScanFeedback(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if _, err := s.Match(ctx, store.MatchParams{RequestIDs: []string{"existing"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Match(cancelled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	if n := len(scanFeedback(t, s, store.FeedbackScanParams{})); n != 0 {
		t.Errorf("a cancelled WriteFeedback wrote %d rows", n)
	}
}

func testCancelScan(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	var recs []record.Record
	for i := range 300 {
		recs = append(recs, FullRecord(fmt.Sprintf("s%03d", i), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	write(t, s, recs...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := s.ScanRecords(ctx, store.ScanParams{}, func(*record.Record) error {
		calls++
		if calls == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ScanRecords cancelled mid-scan = %v, want an error wrapping context.Canceled", err)
	}
	if calls != 10 {
		t.Errorf("callback called %d times, want the scan to stop right after the cancel on call 10", calls)
	}
	write(t, s, FullRecord("after-cancel", t0.Add(time.Hour)))
	get(t, s, "after-cancel")
}
