package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Issue 14: while the store is unreachable a client X-Request-ID is checked
// against what the gateway knows (the recorder, the ids it recorded
// recently) and is never refused for lack of a store: an unknown id is
// served, marked X-Rendezvous-Id-Unchecked (DURABILITY.md).
func TestPredict_ClientIDWhileTheStoreIsUnreachableIsServedAndMarkedUnchecked(t *testing.T) {
	f := defaultFixture(t)
	body := `{"entity_id":"892","input":` + passenger + `}`
	if r := f.post(t, "/v1/predict", body, "X-Request-ID", "u-1"); r.code != http.StatusOK || r.header.Get(headerIDUnchecked) != "" {
		t.Fatalf("store up: %d unchecked=%q %s", r.code, r.header.Get(headerIDUnchecked), r.body)
	}
	f.settle(t)
	// Records are made durable in order: once this one is stored, u-1 is.
	if err := f.recorder.EnqueueDurable(t.Context(), record.Record{ID: "barrier", Status: record.RequestOK}); err != nil {
		t.Fatal(err)
	}
	f.store.Close() // unreachable from now on
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		f.recorder.Close(ctx) // the queued records cannot be written: given up
	})
	other := `{"entity_id":"893","input":` + passenger + `}`
	for _, tc := range []struct {
		name, id, body      string
		code                int
		replayed, unchecked bool
	}{
		{"a remembered id, same body: replayed", "u-1", body, http.StatusOK, true, false},
		{"a remembered id, another body: conflict", "u-1", other, http.StatusConflict, false, false},
		{"an unknown id: served unchecked", "u-2", body, http.StatusOK, false, true},
		{"its retry, found in the recorder: replayed", "u-2", body, http.StatusOK, true, false},
		{"its reuse for another body: conflict", "u-2", other, http.StatusConflict, false, false},
	} {
		r := f.post(t, "/v1/predict", tc.body, "X-Request-ID", tc.id)
		f.settle(t)
		if r.code != tc.code || (r.header.Get(headerReplayed) == "true") != tc.replayed || (r.header.Get(headerIDUnchecked) == "true") != tc.unchecked {
			t.Errorf("%s: %d replayed=%q unchecked=%q %s; want %d replayed=%v unchecked=%v", tc.name, r.code,
				r.header.Get(headerReplayed), r.header.Get(headerIDUnchecked), r.body, tc.code, tc.replayed, tc.unchecked)
		}
	}
}
