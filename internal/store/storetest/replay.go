package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// ReplayResult returns a replay result of candidate version for the
// request id received at at, with features, prediction and probability.
func ReplayResult(id string, at time.Time, candidate, version string, pred int, prob float64) store.ReplayResult {
	return store.ReplayResult{
		RequestID: id, ReceivedAt: at, Candidate: candidate, Version: version,
		Result: record.ModelResult{
			Role: model.Role(store.ReplayRole), Version: version, Artifact: "sha256:" + version,
			Features:   model.Features{Names: []string{"z_last", "a_first", "m"}, Values: []float64{1.5, -2, 0.1}},
			Prediction: &pred, Label: "word", Probability: &prob, LatencyUS: 12, Status: record.StatusOK,
		},
		ReplayedAt: t0.Add(time.Hour + 789*time.Nanosecond),
	}
}

func replayStore(t *testing.T, s store.Store) store.ReplayStore {
	t.Helper()
	rs, ok := s.(store.ReplayStore)
	if !ok {
		t.Fatalf("%T is not a store.ReplayStore", s)
	}
	return rs
}

func writeReplay(t *testing.T, s store.ReplayStore, rs ...store.ReplayResult) int {
	t.Helper()
	n, err := s.WriteReplayResults(t.Context(), rs)
	if err != nil {
		t.Fatalf("WriteReplayResults: %v", err)
	}
	return n
}

func scanReplay(t *testing.T, s store.ReplayStore, p store.ReplayScanParams) []store.ReplayResult {
	t.Helper()
	var out []store.ReplayResult
	err := s.ScanReplayResults(t.Context(), p, func(r *store.ReplayResult) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanReplayResults: %v", err)
	}
	return out
}

// wantReplay is r as a store returns it: times in stored form.
func wantReplay(r store.ReplayResult) store.ReplayResult {
	r.ReceivedAt, r.ReplayedAt = record.Timestamp(r.ReceivedAt), record.Timestamp(r.ReplayedAt)
	return r
}

func testReplayRoundTrip(t *testing.T, open func(t *testing.T) store.Store) {
	s := replayStore(t, open(t))
	b := ReplayResult("b", t0, "cand", "v1", 1, 0.75)
	a := ReplayResult("a", t0, "cand", "v1", 0, 0.25)
	early := ReplayResult("z", t0.Add(-time.Second), "cand", "v1", 1, 0.5)
	noAnswer := ReplayResult("y", t0.Add(time.Second), "cand", "v1", 0, 0)
	noAnswer.Result.Prediction, noAnswer.Result.Probability, noAnswer.Result.Label = nil, nil, ""
	noAnswer.Result.Features = model.Features{}
	noAnswer.Result.Status, noAnswer.Result.Error = record.StatusError, "field \"x\": missing"
	if n := writeReplay(t, s, b, a, early, noAnswer); n != 4 {
		t.Fatalf("WriteReplayResults = %d new, want 4", n)
	}
	got := scanReplay(t, s, store.ReplayScanParams{Candidate: "cand"})
	want := []store.ReplayResult{wantReplay(early), wantReplay(a), wantReplay(b), wantReplay(noAnswer)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scan:\n got %+v\nwant %+v", got, want)
	}
}

func testReplayIdempotent(t *testing.T, open func(t *testing.T) store.Store) {
	s := replayStore(t, open(t))
	first := ReplayResult("r1", t0, "cand", "v1", 1, 0.9)
	again := ReplayResult("r1", t0, "cand", "v1", 0, 0.1) // same key, other answer
	otherVersion := ReplayResult("r1", t0, "cand", "v2", 0, 0.1)
	otherCandidate := ReplayResult("r1", t0, "other", "v1", 0, 0.1)
	if n := writeReplay(t, s, first, again); n != 1 {
		t.Fatalf("first write = %d new, want 1 (duplicate within the batch skipped)", n)
	}
	if n := writeReplay(t, s, again, otherVersion, otherCandidate); n != 2 {
		t.Fatalf("second write = %d new, want 2", n)
	}
	if n := writeReplay(t, s); n != 0 {
		t.Fatalf("empty write = %d new, want 0", n)
	}
	got := scanReplay(t, s, store.ReplayScanParams{Candidate: "cand", Version: "v1"})
	if len(got) != 1 || *got[0].Result.Prediction != 1 {
		t.Fatalf("cand v1 = %+v, want the first write's result only", got)
	}
	if got := scanReplay(t, s, store.ReplayScanParams{Candidate: "cand"}); len(got) != 2 || got[0].Version != "v1" || got[1].Version != "v2" {
		t.Fatalf("cand = %+v, want v1 then v2", got)
	}
}

func testReplayFilters(t *testing.T, open func(t *testing.T) store.Store) {
	s := replayStore(t, open(t))
	var rs []store.ReplayResult
	for i, id := range []string{"r0", "r1", "r2", "r3"} {
		rs = append(rs, ReplayResult(id, t0.Add(time.Duration(i)*time.Minute), "cand", "v1", i%2, 0.5))
	}
	rs = append(rs, ReplayResult("r1", t0.Add(time.Minute), "other", "v1", 1, 0.5))
	writeReplay(t, s, rs...)
	got := scanReplay(t, s, store.ReplayScanParams{Candidate: "cand", Since: record.Timestamp(t0.Add(time.Minute)), Until: record.Timestamp(t0.Add(3 * time.Minute))})
	var ids []string
	for _, r := range got {
		ids = append(ids, r.RequestID)
	}
	if !reflect.DeepEqual(ids, []string{"r1", "r2"}) {
		t.Fatalf("window scan = %v, want [r1 r2]", ids)
	}
	if got := scanReplay(t, s, store.ReplayScanParams{Candidate: "nobody"}); len(got) != 0 {
		t.Fatalf("unknown candidate = %+v, want nothing", got)
	}
}

func testReplayLeavesRecords(t *testing.T, open func(t *testing.T) store.Store) {
	st := open(t)
	rec := FullRecord("orig", t0)
	write(t, st, rec)
	writeReplay(t, replayStore(t, st), ReplayResult("orig", t0, "cand", "v1", 1, 0.5))
	equalRecord(t, get(t, st, "orig"), want(rec))
	if recs := scanAll(t, st, store.ScanParams{}); len(recs) != 1 {
		t.Fatalf("records after a replay write = %d, want 1", len(recs))
	}
}

func testReplayVersions(t *testing.T, open func(t *testing.T) store.Store) {
	s := replayStore(t, open(t))
	if vs, err := s.ReplayVersions(t.Context(), "cand"); err != nil || len(vs) != 0 {
		t.Fatalf("no results: versions %+v, %v; want none", vs, err)
	}
	old := ReplayResult("r1", t0, "cand", "v1", 1, 0.5)
	old2 := ReplayResult("r2", t0, "cand", "v1", 1, 0.5)
	newer := ReplayResult("r1", t0, "cand", "v2", 1, 0.5)
	newer.ReplayedAt = old.ReplayedAt.Add(time.Minute)
	other := ReplayResult("r1", t0, "other", "v9", 1, 0.5)
	writeReplay(t, s, old, old2, newer, other)
	vs, err := s.ReplayVersions(t.Context(), "cand")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ReplayVersion{
		{Version: "v2", Results: 1, LastReplayed: record.Timestamp(newer.ReplayedAt)},
		{Version: "v1", Results: 2, LastReplayed: record.Timestamp(old.ReplayedAt)},
	}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("versions = %+v, want %+v", vs, want)
	}
}
