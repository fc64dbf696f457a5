package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
)

// stalled is a recorder whose Enqueue waits until release is closed, as
// the real one does while its full queue spills to the spool.
type stalled struct {
	memory
	entered chan struct{}
	release chan struct{}
}

func (s *stalled) Enqueue(rec record.Record) bool {
	s.entered <- struct{}{}
	<-s.release
	return s.memory.Enqueue(rec)
}

// TestAdmission_ShedsWhileALimitOfRecordsWaitsForTheRecorder: when a
// shadow is still running at the decision, the answer leaves before its
// record reaches the recorder, so a recorder that makes records wait (a full
// queue spilling to disk) would let them pile up in memory without bound.
// Once as many records as the admission limit wait, requests are shed
// (recorder_behind) before any work; when the recorder catches up they are
// admitted again and every record arrives.
func TestAdmission_ShedsWhileALimitOfRecordsWaitsForTheRecorder(t *testing.T) {
	val := validator(t)
	rec := &stalled{entered: make(chan struct{}), release: make(chan struct{})}
	g := newGateway(t, val, []rendezvous.Member{
		{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", class: 1, p: 0.9}, Deadline: time.Second},
		{Name: "shadow", Role: model.RoleChallenger, Model: &scripted{name: "shadow", delay: 5 * time.Millisecond}, Deadline: time.Second},
	}, rendezvous.Policy{Fallback: []string{}}, gateway.Params{Recorder: rec, MaxInFlight: 2})
	ctx := context.Background()
	for i := range 2 {
		tk, err := g.Admit(ctx, 1)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if _, err := g.Predict(ctx, gateway.Request{ID: string(rune('a' + i)), Input: input(t, val, `{"age":30}`)}); err != nil {
			t.Fatal(err)
		}
		tk.Release()  // the answer has left
		<-rec.entered // its record now waits in Enqueue
	}
	_, err := g.Admit(ctx, 1)
	var oe *gateway.OverloadError
	if !errors.As(err, &oe) || oe.Reason != gateway.ShedRecorder {
		t.Fatalf("third request with 2 records waiting and a limit of 2: %v, want shed (recorder_behind)", err)
	}
	close(rec.release)
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	tk, err := g.Admit(ctx, 1)
	if err != nil {
		t.Fatalf("after the recorder caught up: %v", err)
	}
	tk.Release()
	if rec.get("a").ID == "" || rec.get("b").ID == "" {
		t.Error("a waiting record was lost")
	}
}

// heldWriter is a record.Writer whose writes wait until release is closed.
type heldWriter struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (w *heldWriter) WriteRecords(ctx context.Context, recs []record.Record) error {
	select {
	case <-w.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	w.n += len(recs)
	w.mu.Unlock()
	return nil
}

// TestAdmission_WaitsWhileTheRecorderIsBehindAndAdmitsWhenItCatchesUp: a
// real recorder whose store has stopped taking batches falls behind once
// record.BehindBatches batches wait; a request then waits in the admission
// queue (no work done, its goroutine parked) and is admitted as soon as the
// recorder's next batches are written. Had the whole queue wait passed,
// it would have been shed as recorder_behind.
func TestAdmission_WaitsWhileTheRecorderIsBehindAndAdmitsWhenItCatchesUp(t *testing.T) {
	val := validator(t)
	w := &heldWriter{release: make(chan struct{})}
	const batch = 2
	rec := record.NewRecorder(w, record.RecorderOptions{BatchSize: batch, QueueSize: 1000,
		FlushInterval: time.Millisecond, WriteTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		select {
		case <-w.release:
		default:
			close(w.release)
		}
		rec.Close(context.Background())
	})
	members := []rendezvous.Member{{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", class: 1, p: 0.9}, Deadline: time.Second}}
	short := newGateway(t, val, members, rendezvous.Policy{}, gateway.Params{Recorder: rec, MaxQueueWait: 20 * time.Millisecond})
	long := newGateway(t, val, members, rendezvous.Policy{}, gateway.Params{Recorder: rec, MaxQueueWait: time.Minute})
	ctx := context.Background()
	for i := 0; !rec.Behind(); i++ {
		if i > 1000 {
			t.Fatal("the recorder is not behind with 1000 records queued and its store held")
		}
		if !rec.Enqueue(record.Record{ID: fmt.Sprintf("r%d", i), Status: string(record.StatusOK)}) {
			t.Fatalf("record %d dropped", i)
		}
	}
	if n := rec.Stats().QueueDepth; n != record.BehindBatches*batch {
		t.Errorf("behind at a queue depth of %d, want %d (BehindBatches × BatchSize)", n, record.BehindBatches*batch)
	}
	var oe *gateway.OverloadError
	if _, err := short.Admit(ctx, 1); !errors.As(err, &oe) || oe.Reason != gateway.ShedRecorder {
		t.Fatalf("Admit with the recorder behind for the whole 20ms queue wait: %v, want shed (recorder_behind)", err)
	}
	admitted := make(chan error, 1)
	go func() {
		tk, err := long.Admit(ctx, 1)
		tk.Release()
		admitted <- err
	}()
	select {
	case err := <-admitted:
		t.Fatalf("admitted while the recorder is behind (err %v)", err)
	case <-time.After(50 * time.Millisecond): // what "waits" means: not admitted meanwhile
	}
	close(w.release) // the store takes batches again
	if err := <-admitted; err != nil {
		t.Fatalf("after the recorder caught up: %v", err)
	}
	if rec.Behind() {
		t.Error("still behind after the request was admitted")
	}
}

// TestAdmission_ARecordHandedBeforeTheAnswerHoldsItsRoom: when every
// member has answered by the decision (in-process models), the record is
// handed over before Predict returns, so a request whose record waits for
// the recorder has not answered yet and still holds its admission room; the
// next request is shed before any work (recorder_behind: the limit's worth
// of records, one, waits for the recorder).
func TestAdmission_ARecordHandedBeforeTheAnswerHoldsItsRoom(t *testing.T) {
	val := validator(t)
	rec := &stalled{entered: make(chan struct{}), release: make(chan struct{})}
	g := newGateway(t, val, []rendezvous.Member{
		{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", class: 1, p: 0.9}, Deadline: time.Second},
	}, rendezvous.Policy{}, gateway.Params{Recorder: rec, MaxInFlight: 1, MaxQueueWait: 10 * time.Millisecond})
	ctx := context.Background()
	tk, err := g.Admit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		_, err := g.Predict(ctx, gateway.Request{ID: "a", Input: input(t, val, `{"age":30}`)})
		tk.Release()
		answered <- err
	}()
	<-rec.entered // the record is being handed over; Predict has not returned
	select {
	case err := <-answered:
		t.Fatalf("Predict returned (%v) before its record was handed over", err)
	default:
	}
	var oe *gateway.OverloadError
	if _, err := g.Admit(ctx, 1); !errors.As(err, &oe) || oe.Reason != gateway.ShedRecorder {
		t.Fatalf("second request while the first one's record waits: %v, want shed (recorder_behind)", err)
	}
	if in, _ := g.AdmissionState(); in != 1 {
		t.Errorf("%d predictions in flight while the first one's record waits, want 1 (its room is held)", in)
	}
	close(rec.release)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if rec.get("a").ID == "" {
		t.Error("the record was lost")
	}
}
