package insight_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/api/insight"
	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// outage wraps a real SQLite store: while down, every write and lookup
// fails at once (as a store that refuses connections).
type outage struct {
	*sqlite.Store
	down atomic.Bool
}

var errDown = errors.New("dial tcp 127.0.0.1:5432: connection refused")

func (o *outage) WriteRecords(ctx context.Context, recs []record.Record) error {
	if o.down.Load() {
		return errDown
	}
	return o.Store.WriteRecords(ctx, recs)
}

func (o *outage) WriteFeedback(ctx context.Context, fb []record.Feedback) error {
	if o.down.Load() {
		return errDown
	}
	return o.Store.WriteFeedback(ctx, fb)
}

func (o *outage) Match(ctx context.Context, p store.MatchParams) (store.MatchResult, error) {
	if o.down.Load() {
		return store.MatchResult{}, errDown
	}
	return o.Store.Match(ctx, p)
}

func (o *outage) Ping(ctx context.Context) error {
	if o.down.Load() {
		return errDown
	}
	return o.Store.Ping(ctx)
}

func rec(i int) record.Record {
	p, prob := i%2, 0.25+float64(i%2)/2
	return record.Record{
		ID: fmt.Sprintf("req-%04d", i), ReceivedAt: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Endpoint: "/v1/predict", EntityID: fmt.Sprint(1000 + i), Status: record.RequestOK,
		Models:   map[string]record.ModelResult{"prod": {Role: model.RoleProduction, Prediction: &p, Probability: &prob, Status: record.StatusOK}},
		Decision: &record.Decision{ServedBy: "prod", Reason: "preferred"},
	}
}

func post(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func get(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// serve mounts the insight routes over st (read by the monitor), fs
// (feedback lookups) and sink (nil: straight to fs) on a test server.
func serve(t *testing.T, st store.Store, fs feedback.Store, sink feedback.Sink) *httptest.Server {
	t.Helper()
	mon, err := monitor.New(monitor.Params{Store: st, Models: []monitor.Model{{Name: "prod", Role: model.RoleProduction}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range insight.Routes(insight.Params{Monitor: mon, Feedback: feedback.New(fs, sink, map[int]string{0: "no", 1: "yes"}, nil), Export: st}) {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type feedbackResult struct {
	Accepted int      `json:"accepted"`
	Labelled int      `json:"labelled"`
	Pending  []string `json:"pending"`
	StoredIn string   `json:"stored_in"`
}

type metricsBody struct {
	Requests      int64 `json:"requests"`
	Labelled      int64 `json:"labelled"`
	PendingLabels *int  `json:"pending_labels"`
}

// TestFeedback_LabelsPostedDuringAStoreOutageAreSpooledAndAllJoined runs
// the real feedback handler over a real SQLite store (behind a wrapper
// that fails on demand) and a real recorder with a spool: records are
// recorded and labelled while the store is down; every label is answered
// 202 (spooled), and once the store is back every record and label is
// stored once and every label joined in /v1/metrics.
func TestFeedback_LabelsPostedDuringAStoreOutageAreSpooledAndAllJoined(t *testing.T) {
	st, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "outage.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &outage{Store: st}
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rcd := record.NewRecorder(w, record.RecorderOptions{FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond,
		SpoolAfter: 20 * time.Millisecond, Spool: sp, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { rcd.Close(context.Background()) })
	srv := serve(t, st, w, rcd)

	const n = 300
	w.down.Store(true)
	for i := range n {
		if err := rcd.EnqueueDurable(t.Context(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 50 {
		var items []map[string]any
		for j := i; j < i+50; j++ {
			items = append(items, map[string]any{"request_id": rec(j).ID, "label": j % 2})
		}
		var res feedbackResult
		if code := post(t, srv.URL+"/v1/feedback", map[string]any{"feedback": items}, &res); code != http.StatusAccepted {
			t.Fatalf("feedback during the outage: %d %+v, want 202", code, res)
		}
		if res.Accepted != 50 || res.StoredIn != "spool" || len(res.Pending) != 50 {
			t.Fatalf("feedback during the outage: %+v", res)
		}
	}
	// Entity labels cannot be resolved with the store down: 503, retry.
	var e struct{ Error string }
	if code := post(t, srv.URL+"/v1/feedback", map[string]any{"entity_id": "1000", "label": 1}, &e); code != http.StatusServiceUnavailable {
		t.Errorf("entity label during the outage: %d %v, want 503", code, e)
	}

	w.down.Store(false)
	// Wait for the replayer to drain the spool (polling its figures).
	deadline := time.Now().Add(30 * time.Second)
	for st := rcd.Stats(); st.Spooling || st.SpoolFrames > 0 || st.QueueDepth > 0; st = rcd.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("spool not drained after 30s: %+v", st)
		}
		runtime.Gosched()
	}
	var m metricsBody
	get(t, srv.URL+"/v1/metrics", &m)
	if m.Requests != n || m.Labelled != n || m.PendingLabels == nil || *m.PendingLabels != 0 {
		t.Errorf("after the outage metrics = %+v (pending %v); want %d requests, all labelled, none pending", m, m.PendingLabels, n)
	}
	rows := 0
	if err := st.ScanFeedback(t.Context(), store.FeedbackScanParams{}, func(record.Feedback) error { rows++; return nil }); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Errorf("%d feedback rows stored, want %d (once each)", rows, n)
	}
	// Now the entity label is resolved: it labels the entity's one request.
	var res struct {
		feedbackResult
		Entities []feedback.EntityResult `json:"entities"`
	}
	if code := post(t, srv.URL+"/v1/feedback", map[string]any{"entity_id": "1000", "label": 1}, &res); code != http.StatusOK ||
		res.Labelled != 1 || len(res.Entities) != 1 || res.Entities[0].Requests != 1 || res.StoredIn != "store" {
		t.Errorf("entity label after the outage: %d %+v", code, res)
	}
}

// TestFeedback_APendingLabelIsListedUntilItsRecordArrives: a label for a
// request not stored is kept and listed (paged) by GET
// /v1/feedback/pending and counted in /v1/metrics; once the record is
// written, the monitor's label index (which reads only new feedback) joins
// it.
func TestFeedback_APendingLabelIsListedUntilItsRecordArrives(t *testing.T) {
	st, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "pending.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := serve(t, st, st, nil)
	var res feedbackResult
	items := []map[string]any{{"request_id": rec(0).ID, "label": 0}, {"request_id": rec(1).ID, "label": 1}, {"request_id": rec(2).ID, "label": 1}, {"entity_id": "nobody", "label": 1}}
	if code := post(t, srv.URL+"/v1/feedback", map[string]any{"feedback": items}, &res); code != http.StatusOK || len(res.Pending) != 4 || res.Accepted != 4 {
		t.Fatalf("feedback: %d %+v", code, res)
	}
	var m metricsBody
	get(t, srv.URL+"/v1/metrics", &m)
	if m.PendingLabels == nil || *m.PendingLabels != 4 {
		t.Errorf("pending_labels = %v, want 4", m.PendingLabels)
	}
	// Oldest first; ties by request id (the entity label has none).
	var page monitor.PendingPage
	get(t, srv.URL+"/v1/feedback/pending?limit=2&offset=1", &page)
	if page.Total != 4 || len(page.Labels) != 2 || page.Labels[0].RequestID != rec(0).ID || page.Labels[1].RequestID != rec(1).ID {
		t.Errorf("pending page = %+v", page)
	}
	if err := st.WriteRecords(t.Context(), []record.Record{rec(0), rec(1)}); err != nil {
		t.Fatal(err)
	}
	get(t, srv.URL+"/v1/metrics", &m)
	if m.Requests != 2 || m.Labelled != 2 || *m.PendingLabels != 2 {
		t.Errorf("after two records arrived: %+v pending %d; want 2 labelled, 2 pending", m, *m.PendingLabels)
	}
	page = monitor.PendingPage{}
	get(t, srv.URL+"/v1/feedback/pending", &page)
	if page.Total != 2 || len(page.Labels) != 2 || page.Labels[0].EntityID != "nobody" || page.Labels[0].RequestID != "" || page.Labels[1].RequestID != rec(2).ID {
		t.Errorf("pending = %+v; want req-0002 and the entity label", page)
	}
	for _, bad := range []string{"limit=-1", "limit=x", "offset=-2", "limit=10001"} {
		resp, err := http.Get(srv.URL + "/v1/feedback/pending?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}
