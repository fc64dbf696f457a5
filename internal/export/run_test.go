package export_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/export"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "export.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// csvIDs returns the request_id column of a CSV export.
func csvIDs(t *testing.T, b []byte) []string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0][0] != "request_id" {
		t.Fatalf("no header in %q", b)
	}
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	return ids
}

// An export over many pages, with runs of equal received_at straddling the
// page boundaries, writes every record exactly once in (received_at, id)
// order, from a real SQLite file, calling BeforePage once per page.
func TestRun_ManyPagesReturnEveryRecordOnceInOrderWithTiesBrokenByID(t *testing.T) {
	s := openSQLite(t)
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var recs []record.Record
	for i := range 500 {
		// 17 records per millisecond, ids written in a scrambled order.
		id := fmt.Sprintf("req-%04d", (i*373)%500)
		recs = append(recs, storetest.FullRecord(id, t0.Add(time.Duration(i/17)*time.Millisecond)))
	}
	for lo := 0; lo < len(recs); lo += 64 {
		batch := slices.Clone(recs[lo:min(lo+64, len(recs))])
		slices.Reverse(batch)
		if err := s.WriteRecords(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]record.Record, len(recs))
	copy(want, recs)
	slices.SortFunc(want, func(a, b record.Record) int { return store.CursorOf(&a).Compare(store.CursorOf(&b)) })
	var wantIDs []string
	for _, r := range want {
		wantIDs = append(wantIDs, r.ID)
	}
	for _, size := range []int{1, 7, 17, 64, 500, 1000} {
		t.Run(fmt.Sprintf("page_%d", size), func(t *testing.T) {
			var buf bytes.Buffer
			pages := 0
			n, err := export.Run(t.Context(), s, &buf, export.Options{Format: export.CSV, PageSize: size,
				BeforePage: func() error { pages++; return nil }})
			if err != nil {
				t.Fatal(err)
			}
			got := csvIDs(t, buf.Bytes())
			if n != len(recs) || !slices.Equal(got, wantIDs) {
				t.Fatalf("page size %d: %d rows, ids %v…, want %d rows %v…", size, n, got[:min(20, len(got))], len(recs), wantIDs[:20])
			}
			if wantPages := (len(recs) + size - 1) / size; pages != wantPages {
				t.Errorf("BeforePage called %d times, want %d (one per page)", pages, wantPages)
			}
		})
	}
}

// Records written while an export runs: one behind the cursor is not
// exported, one ahead of it but before the last planned record is, and
// one after the last planned record is not (the export does not chase new
// records); nothing is exported twice.
func TestRun_ExportIsPagedNotOneSnapshot(t *testing.T) {
	s := openSQLite(t)
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var recs []record.Record
	for i := range 30 {
		recs = append(recs, storetest.FullRecord(fmt.Sprintf("r%02d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	if err := s.WriteRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	pages := 0
	var buf bytes.Buffer
	_, err := export.Run(t.Context(), s, &buf, export.Options{Format: export.CSV, PageSize: 10, BeforePage: func() error {
		pages++
		if pages == 2 { // page 1 is written and page 2 (r10…r19) read; page 3 is not read yet
			late := []record.Record{
				storetest.FullRecord("late-behind", t0.Add(5*time.Second)),
				storetest.FullRecord("late-ahead", t0.Add(25*time.Second)),
				storetest.FullRecord("late-after-end", t0.Add(time.Hour)),
			}
			return s.WriteRecords(t.Context(), late)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := csvIDs(t, buf.Bytes())
	var want []string
	for _, r := range recs {
		want = append(want, r.ID)
		if r.ID == "r24" {
			want = append(want, "late-ahead")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("export during writes = %v\nwant %v", got, want)
	}
}
