package gateway_test

import (
	"context"
	"errors"
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

// TestAdmission_ShedsWhileALimitOfRecordsWaitsForTheRecorder: answers
// leave before their records reach the recorder, so a recorder that makes
// them wait (a full queue spilling to disk) would let records pile up in
// memory without bound. Once as many records as the admission limit wait,
// requests are shed (recorder_behind) before any work; when the recorder
// catches up they are admitted again and every record arrives.
func TestAdmission_ShedsWhileALimitOfRecordsWaitsForTheRecorder(t *testing.T) {
	val := validator(t)
	rec := &stalled{entered: make(chan struct{}), release: make(chan struct{})}
	g := newGateway(t, val, []rendezvous.Member{
		{Name: "prod", Role: model.RoleProduction, Model: &scripted{name: "prod", class: 1, p: 0.9}, Deadline: time.Second},
	}, rendezvous.Policy{}, gateway.Params{Recorder: rec, MaxInFlight: 2})
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
