package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/config"
)

// TestLabels_A418RowBatchLabelledTheInstantItIsAnsweredGetsAnAccuracy
// predicts 418 training rows in one batch and posts their labels as soon
// as the answer arrives — before the recorder has written the records (its
// flush interval is long) — then asks /v1/metrics: first while the records
// are not stored (the monitor's label index reads the labels then), then
// once they are: every label is joined, by the index that reads only new
// feedback, and production's accuracy is the one computed from the answers.
func TestLabels_A418RowBatchLabelledTheInstantItIsAnsweredGetsAnAccuracy(t *testing.T) {
	ts := startServerWith(t, func(cfg *config.Config) {
		cfg.Server.MaxInFlight = 1000 // admit the whole batch
		// Long enough that the labels and the first metrics call come first.
		cfg.Recorder.FlushInterval = 3 * time.Second
	})
	cfg, base := ts.cfg, ts.base

	ids, bodies := trainingRequests(t, cfg)
	truth := trainingLabels(t, cfg)
	const n = 418
	instances := make([]any, n)
	for i := range n {
		if err := json.Unmarshal(bodies[i], &instances[i]); err != nil {
			t.Fatal(err)
		}
	}
	var ans struct {
		Results []struct {
			RequestID  string `json:"request_id"`
			Prediction int    `json:"prediction"`
			ServedBy   struct {
				Model string `json:"model"`
			} `json:"served_by"`
		} `json:"results"`
	}
	doJSON(t, "POST", base+"/v1/predict", map[string]any{"instances": instances}, http.StatusOK, &ans)
	if len(ans.Results) != n {
		t.Fatalf("%d results, want %d", len(ans.Results), n)
	}
	items := make([]map[string]any, n)
	right, prod := 0, 0
	for i, r := range ans.Results {
		items[i] = map[string]any{"request_id": r.RequestID, "label": truth[ids[i]]}
		if r.ServedBy.Model == "prod-gbt" {
			prod++
			if r.Prediction == truth[ids[i]] {
				right++
			}
		}
	}
	var fb struct {
		Accepted int      `json:"accepted"`
		Labelled int      `json:"labelled"`
		Pending  []string `json:"pending"`
		StoredIn string   `json:"stored_in"`
	}
	doJSON(t, "POST", base+"/v1/feedback", map[string]any{"feedback": items}, http.StatusOK, &fb)
	if fb.Labelled != 0 || len(fb.Pending) != n {
		t.Fatalf("feedback = %d labelled, %d pending; want all %d pending (records not written yet: flush interval too short for this machine?)", fb.Labelled, len(fb.Pending), n)
	}
	if fb.Accepted != n || fb.StoredIn != "store" {
		t.Fatalf("feedback = %+v; want all %d accepted into the store", fb, n)
	}
	type metrics struct {
		analysis.MetricsReport
		PendingLabels *int `json:"pending_labels"`
	}
	var early metrics
	doJSON(t, "GET", base+"/v1/metrics", nil, http.StatusOK, &early)
	var page struct {
		Total  int `json:"total"`
		Labels []struct {
			RequestID string `json:"request_id"`
		} `json:"labels"`
	}
	doJSON(t, "GET", base+"/v1/feedback/pending?limit=10&offset=5", nil, http.StatusOK, &page)
	if early.Requests == 0 {
		if early.PendingLabels == nil || *early.PendingLabels != n || page.Total != n || len(page.Labels) != 10 {
			t.Errorf("before the records are written: pending_labels %v, pending page %d of %d; want %d, 10 of %d", early.PendingLabels, len(page.Labels), page.Total, n, n)
		}
	}
	// The records are written after the flush interval: wait for them
	// (polling the figures, not sleeping).
	deadline := time.Now().Add(60 * time.Second)
	var rep metrics
	for {
		doJSON(t, "GET", base+"/v1/metrics", nil, http.StatusOK, &rep)
		if rep.Requests == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records stored after 60s", rep.Requests, n)
		}
	}
	if rep.Labelled != n || rep.PendingLabels == nil || *rep.PendingLabels != 0 {
		t.Fatalf("metrics: %d labelled of %d, pending %v; want every label joined", rep.Labelled, n, rep.PendingLabels)
	}
	var acc *float64
	for _, m := range rep.Models {
		if m.Model == "prod-gbt" {
			acc = m.Labelled.Accuracy
		}
	}
	if prod == 0 || acc == nil {
		t.Fatalf("no accuracy for prod-gbt (served %d)", prod)
	}
	if want := float64(right) / float64(prod); prod == n && *acc != want {
		t.Errorf("prod-gbt accuracy %v, want %v computed from the answers", *acc, want)
	}
	doJSON(t, "GET", base+"/v1/feedback/pending", nil, http.StatusOK, &page)
	if page.Total != 0 || len(page.Labels) != 0 {
		t.Errorf("pending after the records were written: %+v", page)
	}
}
