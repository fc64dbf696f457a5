package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// testServer is a gateway started by startServer.
type testServer struct {
	cfg      *config.Config
	base     string // http://host:port
	storeURL string
	// stop shuts down cleanly (idempotent; also run at cleanup).
	stop func()
}

// generousConfig is the embedded example with deadlines raised from 50ms
// to 5s (10s overall): on a shared test machine a scheduling stall can
// exceed 50ms and turn an answer into a timeout, which is the router's
// business (tested there), not the server tests'.
func generousConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Models {
		cfg.Models[i].Deadline = 5 * time.Second
	}
	cfg.Policy.OverallDeadline = 10 * time.Second
	return cfg
}

// startServer runs the embedded example on a random port with a temporary
// SQLite store and generous deadlines.
func startServer(t *testing.T) testServer {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with tweak (if not nil) applied to the
// configuration last.
func startServerWith(t *testing.T, tweak func(*config.Config)) testServer {
	t.Helper()
	cfg := generousConfig(t)
	cfg.Recorder.FlushInterval = 5 * time.Millisecond
	if tweak != nil {
		tweak(cfg)
	}
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "insight.db")
	return runTestServer(t, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: storeURL})
}

// runTestServer starts newServer(opts) and serves until the test ends or
// stop is called (a clean shutdown; its error fails the test). The
// testServer's cfg is the configuration the server runs.
func runTestServer(t *testing.T, opts serveOptions) testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newServer(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	t.Cleanup(stop)
	return testServer{cfg: s.cfg, base: "http://" + s.Addr(), storeURL: opts.StoreURL, stop: stop}
}

func doJSON(t *testing.T, method, url string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
}

// trainingLabels maps PassengerId → Survived.
func trainingLabels(t *testing.T, cfg *config.Config) map[string]int {
	t.Helper()
	f, err := os.Open(testenv.TrainingCSV(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	idCol, labelCol := -1, -1
	for i, h := range rows[0] {
		switch h {
		case cfg.Training.IDColumn:
			idCol = i
		case cfg.Training.LabelColumn:
			labelCol = i
		}
	}
	out := map[string]int{}
	for _, r := range rows[1:] {
		y, err := strconv.Atoi(r[labelCol])
		if err != nil {
			t.Fatal(err)
		}
		out[r[idCol]] = y
	}
	return out
}

// TestInsight_MetricsEqualFiguresComputedFromTheRecordsAfterLabels sends the
// 891 training rows, posts their labels, and checks that /v1/metrics gives,
// for every model, the accuracy, ROC AUC and log-loss computed directly from
// what each model answered (production from the responses, every model from
// its stored record).
func TestInsight_MetricsEqualFiguresComputedFromTheRecordsAfterLabels(t *testing.T) {
	ts := startServer(t)
	cfg, base := ts.cfg, ts.base
	ids, bodies := trainingRequests(t, cfg)
	truth := trainingLabels(t, cfg)

	type answer struct {
		RequestID   string  `json:"request_id"`
		Prediction  int     `json:"prediction"`
		Probability float64 `json:"probability"`
		ServedBy    struct {
			Model string `json:"model"`
		} `json:"served_by"`
	}
	reqIDs := make([]string, len(bodies))
	var prodPred []int
	var prodProb []float64
	var prodTruth []int
	for i, b := range bodies {
		var a answer
		var in any
		_ = json.Unmarshal(b, &in)
		doJSON(t, "POST", base+"/v1/predict", in, http.StatusOK, &a)
		reqIDs[i] = a.RequestID
		if a.ServedBy.Model == "prod-gbt" {
			prodPred = append(prodPred, a.Prediction)
			prodProb = append(prodProb, a.Probability)
			prodTruth = append(prodTruth, truth[ids[i]])
		}
	}
	if len(prodPred) != len(bodies) {
		t.Fatalf("production served %d of %d requests", len(prodPred), len(bodies))
	}

	// Labels: the first half by request id in one batch, the rest by
	// entity id, plus one unknown id that must come back pending.
	var items []map[string]any
	half := len(ids) / 2
	for i := range half {
		items = append(items, map[string]any{"request_id": reqIDs[i], "label": truth[ids[i]]})
	}
	for i := half; i < len(ids); i++ {
		word := cfg.Labels.Words[truth[ids[i]]]
		items = append(items, map[string]any{"entity_id": ids[i], "label": word})
	}
	items = append(items, map[string]any{"request_id": "no-such-request", "label": 1})
	var fb struct {
		Accepted int      `json:"accepted"`
		Labelled int      `json:"labelled"`
		Pending  []string `json:"pending"`
		StoredIn string   `json:"stored_in"`
	}
	// Records reach the store after the responses (the recorder batches);
	// wait until all are stored before labelling them: entity labels
	// apply to the entity's requests stored when they arrive.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r analysis.MetricsReport
		doJSON(t, "GET", base+"/v1/metrics", nil, http.StatusOK, &r)
		if r.Requests == int64(len(ids)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records stored after 30s", r.Requests, len(ids))
		}
	}
	doJSON(t, "POST", base+"/v1/feedback", map[string]any{"feedback": items}, http.StatusOK, &fb)
	if fb.Accepted != len(ids)+1 || fb.Labelled != len(ids) || len(fb.Pending) != 1 || fb.Pending[0] != "no-such-request" || fb.StoredIn != "store" {
		t.Fatalf("feedback: %+v; want %d accepted, %d labelled, no-such-request pending", fb, len(ids)+1, len(ids))
	}

	var rep analysis.MetricsReport
	doJSON(t, "GET", base+"/v1/metrics", nil, http.StatusOK, &rep)
	if rep.Requests != int64(len(ids)) || rep.Labelled != int64(len(ids)) {
		t.Fatalf("metrics: %d requests, %d labelled; want %d each", rep.Requests, rep.Labelled, len(ids))
	}
	want := map[string]analysis.ClassificationMetrics{}
	m, err := analysis.ClassifyPredictions(prodTruth, prodPred, prodProb)
	if err != nil {
		t.Fatal(err)
	}
	want["prod-gbt"] = m
	for _, name := range []string{"canary-rule", "dev-logreg"} {
		var y, pred []int
		var prob []float64
		for i, id := range reqIDs {
			var rec record.Record
			doJSON(t, "GET", base+"/v1/requests/"+id, nil, http.StatusOK, &rec)
			r := rec.Models[name]
			if r.Prediction == nil || r.Probability == nil {
				t.Fatalf("record %s: %s gave no answer (%s)", id, name, r.Status)
			}
			y = append(y, truth[ids[i]])
			pred = append(pred, *r.Prediction)
			prob = append(prob, *r.Probability)
		}
		if want[name], err = analysis.ClassifyPredictions(y, pred, prob); err != nil {
			t.Fatal(err)
		}
	}
	close := func(what string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	for _, mm := range rep.Models {
		w, ok := want[mm.Model]
		if !ok {
			t.Errorf("unexpected model %s", mm.Model)
			continue
		}
		if mm.Labelled.N != int64(len(ids)) {
			t.Errorf("%s: %d labelled", mm.Model, mm.Labelled.N)
		}
		close(mm.Model+" accuracy", mm.Labelled.Accuracy, w.Accuracy)
		close(mm.Model+" roc_auc", mm.Labelled.ROCAUC, w.ROCAUC)
		close(mm.Model+" log_loss", mm.Labelled.LogLoss, w.LogLoss)
		close(mm.Model+" brier", mm.Labelled.Brier, w.Brier)
		delete(want, mm.Model)
	}
	if len(want) != 0 {
		t.Errorf("models missing from /v1/metrics: %v", want)
	}

	// The comparison has enough labelled pairs for a verdict.
	var cmp analysis.Comparison
	doJSON(t, "GET", base+"/v1/compare?challenger=dev-logreg", nil, http.StatusOK, &cmp)
	if cmp.Verdict == analysis.VerdictInsufficientData {
		t.Errorf("compare: verdict %s with %d labelled pairs", cmp.Verdict, len(ids))
	}
	// Unshifted training rows against the training reference: no dataset drift.
	var dr struct {
		Model        string `json:"model"`
		DatasetDrift bool   `json:"dataset_drift"`
		Columns      []struct {
			Column  string `json:"column"`
			Drifted bool   `json:"drifted"`
		} `json:"columns"`
	}
	doJSON(t, "GET", base+"/v1/drift", nil, http.StatusOK, &dr)
	if dr.Model != "prod-gbt" || dr.DatasetDrift || len(dr.Columns) != len(cfg.Schema.Fields)+1 {
		t.Errorf("drift of the training rows against themselves: %+v", dr)
	}
	for _, c := range dr.Columns {
		if c.Drifted {
			t.Errorf("column %s drifted on unshifted traffic", c.Column)
		}
	}

	// Export round trip: one CSV row per request, labels joined.
	resp, err := http.Get(base + "/v1/export?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ids)+1 {
		t.Fatalf("export: %d rows, want %d + header", len(rows), len(ids))
	}
	header := strings.Join(rows[0], ",")
	for _, col := range []string{"request_id", "input_age", "prod-gbt_probability", "canary-rule_gender", "label", "label_at"} {
		if !strings.Contains(header, col) {
			t.Errorf("export header lacks %s: %s", col, header)
		}
	}
}

func TestInsight_BadRequestsNameTheProblem(t *testing.T) {
	base := startServer(t).base
	var e struct {
		Error  string `json:"error"`
		Fields []struct {
			Field, Problem string
		} `json:"fields"`
	}
	doJSON(t, "POST", base+"/v1/feedback", map[string]any{"feedback": []any{map[string]any{"request_id": "x", "label": "Maybe"}, map[string]any{"label": 1}}}, http.StatusUnprocessableEntity, &e)
	if len(e.Fields) != 2 || e.Fields[0].Field != "feedback[0].label" || !strings.Contains(e.Fields[0].Problem, `"Maybe"`) || e.Fields[1].Field != "feedback[1].request_id" {
		t.Errorf("feedback errors: %+v", e)
	}
	for _, c := range []struct{ url, want string }{
		{"/v1/metrics?since=yesterday", "since"},
		{"/v1/metrics?bucket=fortnight", "bucket"},
		{"/v1/compare", "challenger"},
		{"/v1/export?format=xlsx", "format"},
	} {
		e.Error = ""
		doJSON(t, "GET", base+c.url, nil, http.StatusBadRequest, &e)
		if !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: error %q does not name %s", c.url, e.Error, c.want)
		}
	}
	doJSON(t, "GET", base+"/v1/compare?challenger=nobody", nil, http.StatusNotFound, &e)
	doJSON(t, "GET", base+"/v1/drift?model=nobody", nil, http.StatusNotFound, &e)
}
