package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// serve claims id the way the HTTP front end does and routes the request
// unless an earlier one is there to replay; it returns the claim.
func serve(t *testing.T, g *gateway.Gateway, id, js string) *gateway.Claim {
	t.Helper()
	c, err := g.Claim(t.Context(), id)
	if err != nil {
		t.Fatalf("Claim(%s): %v", id, err)
	}
	if c.Previous != nil {
		c.Done()
		return c
	}
	val := g.Validator()
	if _, err := g.Predict(t.Context(), gateway.Request{ID: id, Endpoint: "/v1/predict", Input: input(t, val, js), Claim: c}); err != nil {
		t.Fatalf("Predict(%s): %v", id, err)
	}
	// The record (and the claim's release) follows the answer: wait for it,
	// as a client's retry would come after it.
	if err := g.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes (a real
// PostgreSQL is involved: there is no event to wait for).
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 14: a client X-Request-ID during a store outage. Availability wins:
// an id the gateway knows (recorded recently, or still in the recorder) is
// checked against that; an id it does not know is served, unchecked, and
// verified once the store is back; a reuse the store shows then is counted
// (the store keeps the first record).
func TestGateway_PrivatePostgres_ClientIDsDuringAnOutageAreServedAndVerifiedLater(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a private PostgreSQL")
	}
	url, ctl := testenv.PrivatePostgres(t)
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sp, err := spool.Open(t.TempDir(), spool.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewRecorder(s, record.RecorderOptions{FlushInterval: 5 * time.Millisecond,
		SpoolAfter: 200 * time.Millisecond, WriteTimeout: time.Second, RetryInitial: 20 * time.Millisecond,
		RetryMax: 200 * time.Millisecond, Spool: sp, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { rec.Close(context.Background()) })
	val := validator(t)
	members := []rendezvous.Member{{Name: "p", Role: model.RoleProduction, Model: &scripted{name: "p", class: 1, p: 0.7}, Deadline: time.Second}}
	// Two gateways on one recorder and store: the second has recorded
	// nothing itself (a restarted process).
	first := newGateway(t, val, members, rendezvous.Policy{}, gateway.Params{Recorder: rec, Store: s})
	second := newGateway(t, val, members, rendezvous.Policy{}, gateway.Params{Recorder: rec, Store: s})

	// Store up: the first gateway records three client ids.
	for _, id := range []string{"known", "reused", "retried"} {
		if c := serve(t, first, id, `{"passenger":"a","age":30}`); c.Previous != nil || c.Unchecked {
			t.Fatalf("%s: %+v on a fresh id", id, c)
		}
	}
	waitFor(t, "the three records stored", 10*time.Second, func() bool {
		for _, id := range []string{"known", "reused", "retried"} {
			if _, err := s.GetRecord(t.Context(), id); err != nil {
				return false
			}
		}
		return true
	})

	ctl("stop")
	// The first gateway still knows its id: a retry is replayed, never
	// answered anew, with the store down.
	if c := serve(t, first, "known", `{"passenger":"a","age":30}`); c.Previous == nil || c.Unchecked || !c.SameRequest([]gateway.Request{{ID: "known", Endpoint: "/v1/predict", EntityID: "a", Input: input(t, val, `{"passenger":"a","age":30}`)}}) {
		t.Errorf("known id during the outage: Previous %+v, Unchecked %v; want the remembered record", c.Previous, c.Unchecked)
	}
	// A new id is served unchecked; so is the second gateway's reuse of ids
	// it has never seen, one with another body, one with the same.
	for _, tc := range []struct{ id, body string }{
		{"new", `{"passenger":"b","age":40}`},
		{"reused", `{"passenger":"c","age":50}`},
		{"retried", `{"passenger":"a","age":30}`},
	} {
		if c := serve(t, second, tc.id, tc.body); c.Previous != nil || !c.Unchecked {
			t.Errorf("%s during the outage: Previous %+v, Unchecked %v; want it served unchecked", tc.id, c.Previous, c.Unchecked)
		}
	}
	// Once recorded, the unchecked new id is known (in the recorder): a
	// retry of it is replayed, not answered anew.
	if c := serve(t, second, "new", `{"passenger":"b","age":40}`); c.Previous == nil || c.Unchecked {
		t.Errorf("retry of an unchecked id during the outage: Previous %+v, Unchecked %v; want the recorder's record", c.Previous, c.Unchecked)
	}
	if st, pending := second.IDCheckStats(); st.Unchecked != 3 || pending != 3 {
		t.Errorf("during the outage: %+v, %d pending; want 3 unchecked, 3 pending verification", st, pending)
	}

	ctl("start")
	var st gateway.IDCheckStats
	waitFor(t, "the unchecked ids verified", time.Minute, func() bool {
		var pending int
		st, pending = second.IDCheckStats()
		return pending == 0
	})
	if want := (gateway.IDCheckStats{Unchecked: 3, Verified: 1, Conflicts: 1, Retries: 1}); st != want {
		t.Errorf("after recovery: %+v, want %+v", st, want)
	}
	got, err := s.GetRecord(t.Context(), "reused")
	if err != nil || got.EntityID != "a" {
		t.Errorf("stored record of the reused id: %+v, %v; want the first request's (passenger a)", got, err)
	}
	if got, err := s.GetRecord(t.Context(), "new"); err != nil || got.EntityID != "b" {
		t.Errorf("stored record of the new id: %+v, %v", got, err)
	}
	if _, err := s.GetRecord(t.Context(), "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord(never) = %v", err)
	}
}

// A rejected record keeps at most MaxRecordedBody bytes of its body (and
// the LRU of recent ids none), with the whole body's length and SHA-256: a
// retry of the same bad body is recognised by those.
func TestClaim_SameRejectionComparesCutBodiesByLengthAndSHA256(t *testing.T) {
	body := "{bad json that is long"
	cut := record.Record{Status: record.RequestRejected, Endpoint: "/v1/predict", Raw: body[:4], RawBytes: int64(len(body)), RawSHA256: sha256hex(body)}
	whole := record.Record{Status: record.RequestRejected, Endpoint: "/v1/predict", Raw: body}
	for _, tc := range []struct {
		name     string
		prev     record.Record
		endpoint string
		raw      string
		want     bool
	}{
		{"whole body, same", whole, "/v1/predict", body, true},
		{"whole body, other", whole, "/v1/predict", body + " ", false},
		{"cut body, same", cut, "/v1/predict", body, true},
		{"cut body, same prefix", cut, "/v1/predict", body[:4], false},
		{"cut body, other endpoint", cut, "/v2/models/p/infer", body, false},
		{"remembered (no raw)", record.Record{Status: record.RequestRejected, Endpoint: "/v1/predict", RawBytes: int64(len(body)), RawSHA256: sha256hex(body)}, "/v1/predict", body, true},
	} {
		c := &gateway.Claim{Previous: &tc.prev}
		if got := c.SameRejection(tc.endpoint, []byte(tc.raw)); got != tc.want {
			t.Errorf("%s: SameRejection = %v, want %v", tc.name, got, tc.want)
		}
	}
}
