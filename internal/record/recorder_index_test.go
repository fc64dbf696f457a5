package record_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Issue 14, bench/outage.sh: RSS grew from 43 to 162 MB over a 10-minute
// outage at 1,000 requests/s. The recorder's index of spooled ids (for
// Lookup) held every id as a Go string in a map; it now keeps 8 bytes per
// id (a hash, sorted per frame). 200,000 spooled records with 36-character
// ids (UUIDv7-sized) cost 19.5 MiB of heap before (102 bytes a record); now
// under 8 MiB (4.8 measured, the index itself 1.6 MB), and Lookup still
// finds each of them (and no other id).
func TestRecorder_SQLite_SpooledIDIndexIsCompact(t *testing.T) {
	if testing.Short() {
		t.Skip("spools 200,000 records")
	}
	s := openSQLite(t)
	w := &flaky{Store: s}
	w.down.Store(true)
	id := func(i int) string { return fmt.Sprintf("%036d", i) }
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 512, FlushInterval: time.Millisecond,
		Spool: openSpool(t, t.TempDir(), 0), Logger: quietLog})
	const n = 200_000
	t.Cleanup(func() { r.Close(context.Background()) })
	for i := range n - 1 {
		if !r.Enqueue(record.Record{ID: id(i), Status: record.RequestOK}) {
			t.Fatalf("record %d dropped", i)
		}
	}
	// Batches are spooled in order: once the last is durable, all are.
	if err := r.EnqueueDurable(t.Context(), record.Record{ID: id(n - 1), Status: record.RequestOK}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	st := r.Stats()
	t.Logf("%d records spooled: heap in use grew by %.1f MiB (%.0f bytes a record)", st.SpoolRecords, float64(grown)/(1<<20), float64(grown)/n)
	if st.SpoolRecords != n {
		t.Fatalf("stats %+v; want all %d in the spool", st, n)
	}
	if grown > 8<<20 {
		t.Errorf("heap in use grew by %d MiB for the index of %d spooled ids; want < 8 MiB", grown>>20, n)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		if got, ok := r.Lookup(id(i)); !ok || got.ID != id(i) {
			t.Errorf("Lookup(%s) = %+v, %v; want the spooled record", id(i), got, ok)
		}
	}
	if _, ok := r.Lookup(id(n)); ok {
		t.Error("Lookup found an id never sent")
	}
}
