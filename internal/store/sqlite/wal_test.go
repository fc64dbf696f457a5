package sqlite

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

// walSize is the size of s's WAL file (0 when there is none).
func walSize(t *testing.T, s *Store) int64 {
	t.Helper()
	fi, err := os.Stat(s.path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// writeMany writes n records in batches of 256 after start, and returns the
// largest WAL size seen after a batch and the document bytes written.
func writeMany(t *testing.T, s *Store, prefix string, n int, start time.Time) (maxWAL, docBytes int64) {
	t.Helper()
	for i := 0; i < n; i += 256 {
		recs := make([]record.Record, min(256, n-i))
		for j := range recs {
			recs[j] = storetest.FullRecord(fmt.Sprintf("%s-%06d", prefix, i+j), start.Add(time.Duration(i+j)*time.Microsecond))
			doc, _ := encodeRecord(&recs[j])
			docBytes += int64(len(doc))
		}
		if err := s.WriteRecords(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		maxWAL = max(maxWAL, walSize(t, s))
	}
	return maxWAL, docBytes
}

// A reader blocked in the middle of a scan while 50,000 records (54 MB of
// documents) are written: inside ScanRecords it pins the WAL, which grows
// with every write (the control, ~146 MB); inside ScanPages' fn it holds no
// read transaction, and the WAL stays small (~26 MB: it is checkpointed and
// restarts).
func TestWAL_APagedScanBlockedInItsCallbackDoesNotPinTheWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 × 50,000 records")
	}
	const limit = 48 << 20
	for _, paged := range []bool{true, false} {
		s := openTemp(t)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		writeMany(t, s, "old", 2000, t0)
		started, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		block := func() {
			select {
			case <-started:
			default:
				close(started)
				<-release
			}
		}
		go func() {
			if paged {
				done <- store.ScanPages(t.Context(), s, store.PageParams{}, func([]record.Record) error { block(); return nil })
			} else {
				done <- s.ScanRecords(t.Context(), store.ScanParams{}, func(*record.Record) error { block(); return nil })
			}
		}()
		<-started
		maxWAL, docs := writeMany(t, s, "new", 50000, t0.Add(time.Hour))
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("paged %v: largest WAL %.1f MB while %.1f MB of documents were written", paged, float64(maxWAL)/1e6, float64(docs)/1e6)
		if paged && maxWAL > limit {
			t.Errorf("WAL grew to %.1f MB under a blocked paged scan, want under %d MB", float64(maxWAL)/1e6, limit>>20)
		}
		if !paged && maxWAL <= limit {
			t.Errorf("control: WAL only %.1f MB under a blocked ScanRecords; the test no longer measures pinning", float64(maxWAL)/1e6)
		}
	}
}

// Writes back to back, with no reader at all, do not grow the WAL without
// bound: the writer finishes the background checkpoint before its next
// transaction once the WAL holds catchUpBytes, and the WAL restarts.
func TestWAL_BackToBackWritesRestartTheWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50,000 records")
	}
	s := openTemp(t)
	defer s.Close()
	maxWAL, docs := writeMany(t, s, "w", 50000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t.Logf("largest WAL %.1f MB while %.1f MB of documents were written", float64(maxWAL)/1e6, float64(docs)/1e6)
	if maxWAL > 48<<20 {
		t.Errorf("WAL grew to %.1f MB, want under 48 MB", float64(maxWAL)/1e6)
	}
}

// Readers that never stop — each read short, but at any moment one is in
// the WAL, as under a dashboard and a stream of GET /v1/requests on a busy
// machine — while 50,000 records are written: a PASSIVE checkpoint never
// finds the WAL free, so past restartBytes the writer waits for the readers
// in the WAL to finish (new ones read the database file) and the WAL
// restarts.
func TestWAL_ReadersThatNeverStopDoNotGrowTheWALWithoutBound(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50,000 records")
	}
	s := openTemp(t)
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeMany(t, s, "old", 1000, t0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.GetRecord(t.Context(), "old-000042"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	maxWAL, docs := writeMany(t, s, "new", 50000, t0.Add(time.Hour))
	close(stop)
	wg.Wait()
	t.Logf("largest WAL %.1f MB while %.1f MB of documents were written under 4 readers that never stop", float64(maxWAL)/1e6, float64(docs)/1e6)
	if maxWAL > 48<<20 {
		t.Errorf("WAL grew to %.1f MB, want under 48 MB", float64(maxWAL)/1e6)
	}
}
