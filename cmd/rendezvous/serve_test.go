package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// trainingRequests turns the training CSV into /v1/predict bodies using the
// configuration's training mapping and schema types (empty cells are
// absent fields).
func trainingRequests(t *testing.T, cfg *config.Config) (ids []string, bodies [][]byte) {
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
	types := map[string]schema.Type{}
	for _, fd := range cfg.Schema.Fields {
		types[fd.Name] = fd.Type
	}
	header := rows[0]
	for _, row := range rows[1:] {
		in := map[string]any{}
		var id string
		for i, col := range header {
			cell := row[i]
			if col == cfg.Training.IDColumn {
				id = cell
			}
			field, ok := cfg.Training.Columns[col]
			if !ok || cell == "" {
				continue
			}
			switch types[field] {
			case schema.TypeInteger, schema.TypeNumber:
				x, err := strconv.ParseFloat(cell, 64)
				if err != nil {
					t.Fatalf("row %s column %s: %v", id, col, err)
				}
				in[field] = x
			default:
				in[field] = cell
			}
		}
		b, err := json.Marshal(map[string]any{"entity_id": id, "input": in})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		bodies = append(bodies, b)
	}
	return ids, bodies
}

// TestServe_RecordsEveryTrainingRowWithThreeModelResultsAfterCleanShutdown
// runs the gateway on the embedded configuration and a temporary SQLite
// file, sends the 891 training rows, shuts down as on SIGTERM, and checks
// that every request's record holds all three models' results with their
// transformed features: no record is lost on a clean shutdown.
//
// The deadlines are raised from 50ms to 5s: on a shared test machine a
// scheduling stall can exceed 50ms and turn an answer into a timeout, which
// is the router's business (tested there), not this test's.
func TestServe_RecordsEveryTrainingRowWithThreeModelResultsAfterCleanShutdown(t *testing.T) {
	cfg := generousConfig(t)
	ids, bodies := trainingRequests(t, cfg)
	if len(ids) != 891 {
		t.Fatalf("%d training rows, want 891", len(ids))
	}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "e2e.db")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := newServer(ctx, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()

	base := "http://" + s.Addr()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	type answer struct {
		RequestID  string `json:"request_id"`
		EntityID   string `json:"entity_id"`
		Prediction *int   `json:"prediction"`
	}
	answers := make([]answer, len(bodies))
	errs := make(chan error, len(bodies))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				resp, err := client.Post(base+"/v1/predict", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("row %s: %d %s", ids[i], resp.StatusCode, b)
					continue
				}
				if err := json.Unmarshal(b, &answers[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	stop() // as SIGINT/SIGTERM do through main's context
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	st, err := sqlite.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]bool{}
	statuses := map[record.Status]int{}
	err = st.ScanRecords(context.Background(), store.ScanParams{}, func(rec *record.Record) error {
		seen[rec.ID] = true
		if rec.Status != record.RequestOK || rec.Endpoint != "/v1/predict" || rec.Decision == nil || rec.Decision.ServedBy == "" {
			return fmt.Errorf("record %s: status %q endpoint %q decision %+v", rec.ID, rec.Status, rec.Endpoint, rec.Decision)
		}
		if len(rec.Models) != 3 {
			return fmt.Errorf("record %s: %d model results, want 3", rec.ID, len(rec.Models))
		}
		for _, mc := range cfg.Models {
			mr, ok := rec.Models[mc.Name]
			if !ok {
				return fmt.Errorf("record %s: no result for %s", rec.ID, mc.Name)
			}
			statuses[mr.Status]++
			if mr.Features.Len() == 0 || mr.Prediction == nil || mr.Probability == nil || mr.Role != mc.Role || mr.Artifact == "" {
				return fmt.Errorf("record %s model %s: %+v", rec.ID, mc.Name, mr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range answers {
		if !seen[a.RequestID] || a.EntityID != ids[i] || a.Prediction == nil {
			t.Fatalf("row %s: answer %+v not recorded", ids[i], a)
		}
	}
	if len(seen) != 891 {
		t.Fatalf("%d records, want 891", len(seen))
	}
	t.Logf("model statuses over 891 requests: %v", statuses)
}

func TestServe_StoreFailureIsOneLineNamingTheRedactedURL(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{
		"sqlite://" + filepath.Join(blocker, "sub", "x.db"), // a directory cannot be created under a file
		"nosuch://user:hunter2@host/db",
		"postgres://postgres:hunter2@127.0.0.1:1/db?connect_timeout=1", // nothing listens on port 1
	} {
		stderr.Reset()
		code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--store", url}, &stdout, &stderr)
		msg := stderr.String()
		if code != 1 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "rendezvous serve: open ") {
			t.Errorf("%s: exit %d, stderr %q", url, code, msg)
		}
		if strings.Contains(msg, "hunter2") || !strings.Contains(msg, store.RedactURL(url)) {
			t.Errorf("%s: stderr does not name the redacted URL: %q", url, msg)
		}
	}
}

func TestServe_InvalidConfigListsEveryProblem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "schema:\n  fields:\n    - {name: age, type: flaot}\nmodels:\n  - {name: a, role: production, bundle: nope.json, deadline: -1ms}\n"
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", p}, &stdout, &stderr)
	msg := stderr.String()
	for _, want := range []string{
		`schema.fields[0].type: unknown type "flaot" (want integer, number, string, boolean) (line 3)`,
		`models[0].deadline: must be > 0 (line 5)`,
		`models[0].bundle: cannot open`,
		`labels.words: must name at least two classes`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in %q", want, msg)
		}
	}
	if code != 1 || strings.Count(msg, "\n") != 1 {
		t.Errorf("exit %d, %d lines", code, strings.Count(msg, "\n"))
	}
	// config validate reports the same problems.
	stderr.Reset()
	if code := run(context.Background(), []string{"config", "validate", p}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "models[0].deadline") {
		t.Errorf("config validate: exit %d %q", code, stderr.String())
	}
}

func TestConfigPrint_WritesTheEmbeddedDefaultWhichLoads(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"config", "print"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, err := titanic.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Fatal("config print differs from the embedded configuration")
	}
	// Printed next to the example's bundles, it loads as is.
	if _, err := config.LoadBytes(stdout.Bytes(), "../../examples/titanic"); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"config", "validate"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "valid (7 fields, 3 models, 2 routes)") {
		t.Fatalf("config validate: exit %d %q %q", code, stdout.String(), stderr.String())
	}
}

func TestServe_NoneStoreTurnsRecordingOff(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := newServer(ctx, serveOptions{Addr: "127.0.0.1:0", StoreURL: "none://"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	base := "http://" + s.Addr()
	resp, err := http.Post(base+"/v1/predict", "application/json",
		strings.NewReader(`{"input":{"pclass":1,"sex":"female","sibsp":0,"parch":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("predict: %d", resp.StatusCode)
	}
	for path, want := range map[string]int{"/readyz": 200, "/v1/requests/" + resp.Header.Get("X-Request-ID"): 503} {
		r, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, r.StatusCode, want)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServe_OpenAPIDocumentsEveryMountedRoute checks the document the full
// server serves (own, analysis and OIP v2 routes): every path has
// operations with responses, every $ref resolves, and every documented
// operation is routed (no 404/405 from the mux).
func TestServe_OpenAPIDocumentsEveryMountedRoute(t *testing.T) {
	base := runTestServer(t, serveOptions{Addr: "127.0.0.1:0", StoreURL: "sqlite://" + filepath.Join(t.TempDir(), "o.db")}).base
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && resolveRef(doc, ref) == nil {
				t.Errorf("%s: $ref %q does not resolve", at, ref)
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/v1/predict", "/v1/feedback", "/v2/models/{name}/infer", "/singletitanicpred/"} {
		if paths[p] == nil {
			t.Errorf("%s not documented", p)
		}
	}
	for p, item := range paths {
		ops := item.(map[string]any)
		if len(ops) == 0 {
			t.Errorf("%s: no operations", p)
		}
		for method, op := range ops {
			if r, _ := op.(map[string]any)["responses"].(map[string]any); len(r) == 0 {
				t.Errorf("%s %s: no responses", method, p)
			}
			path := strings.NewReplacer("{id}", "x", "{name}", "prod-gbt", "{version}", "1.0.0").Replace(p)
			req, _ := http.NewRequest(strings.ToUpper(method), base+path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 405 || resp.StatusCode == 404 && strings.Contains(string(b), "no route") {
				t.Errorf("documented %s %s is not routed: %d %s", method, p, resp.StatusCode, b)
			}
		}
	}
}

func resolveRef(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

func TestServe_RejectsABundleReadingAnUndeclaredInput(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	// Drop the embarked field the bundles read.
	var fields []config.Field
	for _, f := range cfg.Schema.Fields {
		if f.Name != "embarked" {
			fields = append(fields, f)
		}
	}
	cfg.Schema.Fields = fields
	_, err = newServer(context.Background(), serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: "none://"})
	if err == nil || !strings.Contains(err.Error(), `models[0] (prod-gbt): bundle`) ||
		!strings.Contains(err.Error(), `reads input "embarked", which schema.fields does not declare`) {
		t.Fatalf("got %v", err)
	}
}

// TestServe_ShutdownWaitsForShadowResultsBeforeFlushing adds a remote OIP v2
// challenger that never answers (it holds the call until the gateway gives
// up at its deadline), sends one request and shuts down at once: the record
// must still hold all four models, the remote one as a timeout, because
// shutdown waits for every model's result before flushing the recorder.
func TestServe_ShutdownWaitsForShadowResultsBeforeFlushing(t *testing.T) {
	calls := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client closing
			select {
			case calls <- struct{}{}:
			default:
			}
			<-r.Context().Done() // the gateway cancels the call at the deadline
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer slow.Close()

	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Models = append(cfg.Models, config.Model{
		Name: "slow-remote", Role: "challenger", Kind: config.KindRemote,
		Deadline: 200 * time.Millisecond, MaxInFlight: 8,
		Remote: &config.Remote{Protocol: "oip-v2", URL: slow.URL, Model: "slow", BreakerFailures: 5, BreakerCooldown: time.Second},
	})
	for i := range cfg.Models[:3] {
		cfg.Models[i].Deadline = 5 * time.Second // see the 891-row test
	}
	cfg.Policy.OverallDeadline = 10 * time.Second
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "shutdown.db")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := newServer(ctx, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()

	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/v1/predict",
		strings.NewReader(`{"input":{"pclass":1,"sex":"female","sibsp":0,"parch":0}}`))
	req.Header.Set("X-Request-ID", "shutdown-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("predict: %d", resp.StatusCode)
	}
	<-calls // the remote challenger is being called: its result is still pending
	stop()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	st, err := sqlite.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.GetRecord(context.Background(), "shutdown-1")
	if err != nil {
		t.Fatalf("record lost on shutdown: %v", err)
	}
	mr, ok := rec.Models["slow-remote"]
	if len(rec.Models) != 4 || !ok || mr.Status != record.StatusTimeout || mr.Error == "" {
		t.Fatalf("record %+v", rec)
	}
	if rec.Decision.ServedBy != "prod-gbt" {
		t.Fatalf("decision %+v", rec.Decision)
	}
}
