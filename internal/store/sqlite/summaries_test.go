package sqlite

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

var _ store.SummaryScanner = (*Store)(nil)

// variedRecords returns n records around t0 in shuffled order with equal
// timestamps, nil inputs, rejected requests, odd input values and models
// without answers.
func variedRecords(rng *rand.Rand, t0 time.Time, n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		at := t0.Add(time.Duration(rng.IntN(n/2+1)) * time.Millisecond).Add(time.Duration(rng.IntN(3)) * 1500 * time.Nanosecond)
		r := storetest.FullRecord(fmt.Sprintf("r-%05d-%x", i, rng.IntN(1<<20)), at)
		switch rng.IntN(6) {
		case 0:
			r.Status, r.Input, r.Models, r.Decision, r.Raw = record.RequestRejected, nil, nil, nil, "{bad"
		case 1:
			r.Input = schema.Input{"age": nil, "sex": "fémale \"q\"", "n": float64(rng.IntN(5)), "list": []any{1.0, "x"}, "neg": math.Copysign(0, -1)}
		case 2:
			p := rng.Float64()
			m := r.Models["prod-gbt"]
			m.Probability, m.Prediction, m.LatencyUS = &p, new(rng.IntN(2)), int64(rng.IntN(1000))
			r.Models["prod-gbt"] = m
			r.Models["extra"] = record.ModelResult{Role: model.RoleChallenger, Status: record.StatusSkipped}
		}
		recs[i] = r
	}
	return recs
}

func summaries(t *testing.T, scan func(store.SummaryParams, func(*record.Summary) error) error, p store.SummaryParams) []record.Summary {
	t.Helper()
	var out []record.Summary
	err := scan(p, func(s *record.Summary) error {
		c := *s
		c.Models = append([]record.ModelSummary(nil), s.Models...)
		for i, m := range c.Models { // compare values, not addresses
			if m.Prediction != nil {
				c.Models[i].Prediction = new(*m.Prediction)
			}
			if m.Probability != nil {
				c.Models[i].Probability = new(*m.Probability)
			}
		}
		if len(c.Models) == 0 {
			c.Models = nil
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %+v: %v", p, err)
	}
	return out
}

// checkSummariesMatchRecords compares the block scan with summaries of the
// full records over several windows, with and without inputs.
func checkSummariesMatchRecords(t *testing.T, s *Store, t0 time.Time, span time.Duration) {
	t.Helper()
	fast := func(p store.SummaryParams, fn func(*record.Summary) error) error {
		return s.ScanSummaries(t.Context(), p, fn)
	}
	full := func(p store.SummaryParams, fn func(*record.Summary) error) error {
		return store.ScanSummariesFromRecords(t.Context(), s, p, fn)
	}
	windows := []store.ScanParams{
		{},
		{Since: t0.Add(span / 3)},
		{Until: t0.Add(span / 2).Add(1500 * time.Nanosecond)},
		{Since: t0.Add(span / 4).Add(500 * time.Nanosecond), Until: t0.Add(span / 2)},
		{Since: t0.Add(span * 2)},
		{Status: record.RequestRejected},
	}
	for _, w := range windows {
		for _, inputs := range []bool{false, true} {
			p := store.SummaryParams{ScanParams: w, Inputs: inputs}
			want := summaries(t, full, p)
			got := summaries(t, fast, p)
			if len(got) != len(want) {
				t.Fatalf("window %+v inputs %v: %d summaries, want %d", w, inputs, len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("window %+v inputs %v: summary %d\n got %+v\nwant %+v", w, inputs, i, got[i], want[i])
				}
			}
		}
	}
}

func TestScanSummaries_EqualsSummariesOfFullRecordsAcrossOverlappingBatches(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := variedRecords(rng, t0, 3000)
	// Batches of varied sizes whose time ranges overlap, one retried with
	// new records mixed in.
	for i := 0; i < len(recs); {
		n := min(1+rng.IntN(400), len(recs)-i)
		if err := s.WriteRecords(t.Context(), recs[i:i+n]); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	retry := append(append([]record.Record(nil), recs[100:150]...), variedRecords(rng, t0.Add(time.Hour), 20)...)
	if err := s.WriteRecords(t.Context(), retry); err != nil {
		t.Fatal(err)
	}
	checkSummariesMatchRecords(t, s, t0, 1500*time.Millisecond)
}

func TestMigrate_BackfillsSummariesOfRecordsWrittenBeforeVersion4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(t.Context(), Config{Path: path}, 2)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, rec := range variedRecords(rng, t0, 2500) {
		doc, err := encodeRecord(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.w.ExecContext(t.Context(), `INSERT INTO records (id, received_at, entity_id, status, doc) VALUES (?, ?, ?, ?, ?)`,
			rec.ID, micros(rec.ReceivedAt), nullable(rec.EntityID), rec.Status, doc); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open of a version-2 database: %v", err)
	}
	defer s.Close()
	// New records after the upgrade overlap the backfilled ones in time.
	if err := s.WriteRecords(t.Context(), variedRecords(rng, t0.Add(200*time.Millisecond), 300)); err != nil {
		t.Fatal(err)
	}
	var blocks int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM summary_blocks`).Scan(&blocks); err != nil {
		t.Fatal(err)
	}
	if want := (2500+backfillBlock-1)/backfillBlock + 1; blocks != want {
		t.Errorf("%d summary blocks, want %d (backfill + one batch)", blocks, want)
	}
	var counted int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM summary_counts`).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if counted != blocks {
		t.Errorf("%d blocks have input counts, want all %d (migration 5 backfills them)", counted, blocks)
	}
	checkSummariesMatchRecords(t, s, t0, 1250*time.Millisecond)
	checkInputCountsMatchRecords(t, s, t0, 1250*time.Millisecond)
}

var _ store.InputCountScanner = (*Store)(nil)

// histogram is an InputCounts as comparable maps: field → value → n (values
// keyed by type and bits or text), model → probability bits → n.
type histogram struct {
	rows   int
	fields map[string]map[string]int
	probs  map[string]map[uint64]int
}

func (h *histogram) add(c *record.InputCounts) {
	if h.fields == nil {
		h.fields, h.probs = map[string]map[string]int{}, map[string]map[uint64]int{}
	}
	h.rows += c.Rows
	for _, f := range c.Fields {
		if h.fields[f.Name] == nil {
			h.fields[f.Name] = map[string]int{}
		}
		for _, v := range f.Values {
			key := fmt.Sprintf("%T:%v", v.Value, v.Value)
			if x, ok := v.Value.(float64); ok {
				key = fmt.Sprintf("float64:%x", math.Float64bits(x))
			}
			h.fields[f.Name][key] += v.N
		}
	}
	for _, p := range c.Probabilities {
		if h.probs[p.Model] == nil {
			h.probs[p.Model] = map[uint64]int{}
		}
		for _, v := range p.Values {
			h.probs[p.Model][math.Float64bits(v.Value)] += v.N
		}
	}
}

// checkInputCountsMatchRecords checks that ScanInputCounts delivers, over
// several windows, the value histogram of the full records' summaries, and
// that both of its paths (whole blocks as counts, cut blocks as summaries)
// were taken.
func checkInputCountsMatchRecords(t *testing.T, s *Store, t0 time.Time, span time.Duration) {
	t.Helper()
	windows := []store.ScanParams{
		{},
		{Since: t0.Add(span / 3)},
		{Until: t0.Add(span / 2).Add(1500 * time.Nanosecond)},
		{Since: t0.Add(span / 4).Add(500 * time.Nanosecond), Until: t0.Add(span / 2)},
		{Since: t0.Add(span * 2)},
	}
	var countCalls, summaryCalls int
	for _, w := range windows {
		var wantC record.InputCounter
		err := store.ScanSummariesFromRecords(t.Context(), s, store.SummaryParams{ScanParams: w, Inputs: true}, func(sm *record.Summary) error {
			wantC.Add(sm)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want, got histogram
		wc := wantC.Counts()
		want.add(&wc)
		var gotC record.InputCounter
		err = s.ScanInputCounts(t.Context(), w, func(c *record.InputCounts) error {
			countCalls++
			got.add(c)
			return nil
		}, func(sm *record.Summary) error {
			summaryCalls++
			gotC.Add(sm)
			return nil
		})
		if err != nil {
			t.Fatalf("ScanInputCounts %+v: %v", w, err)
		}
		gc := gotC.Counts()
		got.add(&gc)
		if got.rows != want.rows || !reflect.DeepEqual(got.fields, want.fields) || !reflect.DeepEqual(got.probs, want.probs) {
			t.Fatalf("window %+v: counts differ:\n got %+v\nwant %+v", w, got, want)
		}
	}
	if countCalls == 0 || summaryCalls == 0 {
		t.Fatalf("%d counts calls and %d summary calls: both paths must be exercised", countCalls, summaryCalls)
	}
}

func TestScanInputCounts_EqualsHistogramOfFullRecords(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := variedRecords(rng, t0, 3000)
	for i := 0; i < len(recs); {
		n := min(1+rng.IntN(400), len(recs)-i)
		if err := s.WriteRecords(t.Context(), recs[i:i+n]); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	// A retried batch: only its new records are counted.
	retry := append(append([]record.Record(nil), recs[100:150]...), variedRecords(rng, t0.Add(time.Hour), 20)...)
	if err := s.WriteRecords(t.Context(), retry); err != nil {
		t.Fatal(err)
	}
	checkInputCountsMatchRecords(t, s, t0, 1500*time.Millisecond)
}
