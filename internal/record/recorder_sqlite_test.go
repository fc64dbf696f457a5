package record_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// A store.Store is a record.Writer.
var _ record.Writer = store.Store(nil)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fullRec is a record shaped like the gateway's: three model results and a
// decision.
func fullRec(i int) record.Record {
	r := rec(i)
	r.EntityID = fmt.Sprint(i % 97)
	cls, p := i%2, 0.25
	r.Models = map[string]record.ModelResult{
		"prod":   {Role: model.RoleProduction, Version: "1", Prediction: &cls, Probability: &p, Label: "Survived", LatencyUS: 40, Status: record.StatusOK},
		"canary": {Role: model.RoleCanary, Version: "1", Prediction: &cls, Probability: &p, LatencyUS: 12, Status: record.StatusOK},
		"dev":    {Role: model.RoleChallenger, Version: "2", LatencyUS: 51000, Status: record.StatusTimeout, Error: "no answer"},
	}
	r.Decision = &record.Decision{ServedBy: "prod", Reason: "preferred", DeadlineMS: 50, LatencyUS: 45}
	return r
}

func storedIDs(t *testing.T, s store.Store) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := s.ScanRecords(t.Context(), store.ScanParams{}, func(r *record.Record) error {
		got[r.ID]++
		if len(r.Models) != 3 || r.Decision == nil {
			return fmt.Errorf("%s stored without its models or decision", r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRecorder_SQLite_NoRecordLostOnCleanShutdown(t *testing.T) {
	s := openSQLite(t)
	r := record.NewRecorder(s, record.RecorderOptions{BatchSize: 128, Logger: quietLog})
	const n, writers = 3000, 6
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := g; i < n; i += writers {
				if !r.Enqueue(fullRec(i)) {
					t.Errorf("Enqueue(%d) refused", i)
				}
			}
		})
	}
	wg.Wait()
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantStoredOnce(t, s, n)
	st := r.Stats()
	if st.Written != n || st.Dropped != 0 || st.Lost != 0 || st.Batches < n/128 {
		t.Errorf("stats = %+v", st)
	}
}

// ackLost commits through the real store, then reports failure for the
// first fail calls: the store went away before acknowledging.
type ackLost struct {
	store.Store
	fail atomic.Int32
}

func (a *ackLost) WriteRecords(ctx context.Context, recs []record.Record) error {
	if err := a.Store.WriteRecords(ctx, recs); err != nil {
		return err
	}
	if a.fail.Add(-1) >= 0 {
		return errors.New("connection reset after commit")
	}
	return nil
}

func TestRecorder_SQLite_RetriedBatchIsNotDuplicated(t *testing.T) {
	s := openSQLite(t)
	w := &ackLost{Store: s}
	w.fail.Store(3)
	r := record.NewRecorder(w, record.RecorderOptions{BatchSize: 16, RetryInitial: time.Millisecond, Logger: quietLog})
	for i := range 40 {
		r.Enqueue(fullRec(i))
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := storedIDs(t, s)
	if len(got) != 40 {
		t.Errorf("%d records stored, want 40", len(got))
	}
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s stored %d times", id, c)
		}
	}
	if st := r.Stats(); st.WriteErrors != 3 || st.Written != 40 {
		t.Errorf("stats = %+v, want 3 write errors and 40 written", st)
	}
}
