package monitor_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// recordsOnly hides every optional capability of a store (the lean summary
// scan among them), so the monitor decodes full records.
type recordsOnly struct{ store.Store }

// checkFastPathEqualsFullRecords fills st with generated records and
// compares every answer of a monitor on st with one on the same data
// through full records only.
func checkFastPathEqualsFullRecords(t *testing.T, st store.Store) {
	t.Helper()
	models := genModels(t)
	const n = 4000
	if err := fill(t.Context(), st, models, n); err != nil {
		t.Fatal(err)
	}
	fast, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: genFields, MinLabelledPairs: 50})
	if err != nil {
		t.Fatal(err)
	}
	full, err := monitor.New(monitor.Params{Store: recordsOnly{st}, Models: models, Fields: genFields, MinLabelledPairs: 50})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	compareAll(t, fast, full, models)
	// Labels that arrive after a first answer (relabels, late and tied ones
	// included) are taken into account: the fast monitor reads only the
	// feedback added since.
	var fbs []record.Feedback
	i := 0
	err = st.ScanRecords(ctx, store.ScanParams{}, func(rec *record.Record) error {
		i++
		at := rec.ReceivedAt.Add(24 * time.Hour)
		switch i % 7 {
		case 0:
			fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: i % 2, ReceivedAt: at.Add(2 * time.Hour)})
		case 1:
			fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: (i / 7) % 2, ReceivedAt: at})
		case 2:
			fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: 1, ReceivedAt: at.Add(-48 * time.Hour)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteFeedback(ctx, fbs); err != nil {
		t.Fatal(err)
	}
	compareAll(t, fast, full, models)
}

// compareAll compares the answers of two monitors over several windows.
func compareAll(t *testing.T, fast, full *monitor.Monitor, models []monitor.Model) {
	t.Helper()
	const n = 4000
	ctx := t.Context()
	mid := genT0.Add(15 * 24 * time.Hour)
	windows := []monitor.Window{{}, {Since: mid}, {Until: mid.Add(1500 * time.Nanosecond)}, {Since: genT0.Add(time.Hour), Until: mid}, {Since: genT0.Add(60 * 24 * time.Hour)}}
	for _, w := range windows {
		for _, bucket := range []time.Duration{0, 6 * time.Hour} {
			got, err1 := fast.Metrics(ctx, w, bucket)
			want, err2 := full.Metrics(ctx, w, bucket)
			if err1 != nil || err2 != nil {
				t.Fatalf("Metrics %+v: %v / %v", w, err1, err2)
			}
			if w == (monitor.Window{}) && bucket == 0 && (got.Requests < n*9/10 || got.Labelled == 0 || len(got.Models) != 3) {
				t.Fatalf("implausible figures over all records: %d requests, %d labelled, %d models", got.Requests, got.Labelled, len(got.Models))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Metrics window %+v bucket %v differ:\n fast %+v\n full %+v", w, bucket, got, want)
			}
		}
		for _, m := range models {
			got, err1 := fast.Compare(ctx, m.Name, w)
			want, err2 := full.Compare(ctx, m.Name, w)
			if !reflect.DeepEqual(got, want) || (err1 == nil) != (err2 == nil) {
				t.Errorf("Compare %s window %+v: fast %+v %v, full %+v %v", m.Name, w, got, err1, want, err2)
			}
			gd, gs, err1 := fast.Drift(ctx, m.Name, w)
			wd, ws, err2 := full.Drift(ctx, m.Name, w)
			if err1 != nil || err2 != nil {
				t.Fatalf("Drift %s %+v: %v / %v", m.Name, w, err1, err2)
			}
			if !reflect.DeepEqual(gd, wd) {
				t.Errorf("Drift %s window %+v differ:\n fast %+v\n full %+v", m.Name, w, gd, wd)
			}
			// Rows of a store's per-batch value counts come in an order of
			// their own: the samples must hold the same values.
			if err := sameTable(sortedTable(gs.Current), sortedTable(ws.Current)); err != nil {
				t.Errorf("Drift %s window %+v: current samples differ: %v", m.Name, w, err)
			}
		}
	}
}

// sortedTable returns t with one entry per row (histogram columns
// expanded) and every column's values sorted (numbers by their bits, so NaN
// and -0 keep their identity).
func sortedTable(t analysis.Table) analysis.Table {
	out := analysis.Table{Rows: t.Rows}
	for _, c := range t.Columns {
		c = c.Expand()
		nums := slices.Clone(c.Numbers)
		slices.SortFunc(nums, func(a, b float64) int { return cmp.Compare(math.Float64bits(a), math.Float64bits(b)) })
		strs := slices.Clone(c.Strings)
		slices.Sort(strs)
		out.Columns = append(out.Columns, analysis.Column{Name: c.Name, Numbers: nums, Strings: strs})
	}
	return out
}

// sameTable compares two tables, numbers by their bits (NaN marks a
// missing value).
func sameTable(a, b analysis.Table) error {
	if a.Rows != b.Rows || len(a.Columns) != len(b.Columns) {
		return fmt.Errorf("%d rows × %d columns vs %d × %d", a.Rows, len(a.Columns), b.Rows, len(b.Columns))
	}
	for i, ca := range a.Columns {
		cb := b.Columns[i]
		if ca.Name != cb.Name || len(ca.Numbers) != len(cb.Numbers) || !slices.Equal(ca.Strings, cb.Strings) || (ca.Strings == nil) != (cb.Strings == nil) {
			return fmt.Errorf("column %d: %s vs %s", i, ca.Name, cb.Name)
		}
		for j, v := range ca.Numbers {
			if math.Float64bits(v) != math.Float64bits(cb.Numbers[j]) {
				return fmt.Errorf("column %s row %d: %v vs %v", ca.Name, j, v, cb.Numbers[j])
			}
		}
	}
	return nil
}

func TestMonitor_SQLiteSummaryScanGivesTheFiguresOfFullRecords(t *testing.T) {
	st, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := store.Store(st).(store.SummaryScanner); !ok {
		t.Fatal("the sqlite store has no summary scan: this test would compare the full path with itself")
	}
	checkFastPathEqualsFullRecords(t, st)
}

func TestMonitor_PostgresGivesTheFiguresOfFullRecords(t *testing.T) {
	base := testenv.PostgresURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "rdv_monitor_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	st, err := postgres.Open(t.Context(), base+"&schema="+schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkFastPathEqualsFullRecords(t, st)
}
