package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/export"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/mongo/ferrettest"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// backend names a store URL opened for one test.
type backend struct {
	name string
	url  string
}

// backends returns a fresh, empty store URL on every backend: an SQLite
// file, a new schema on the local PostgreSQL (dropped after the test), and a
// new database on FerretDB (SQLite-backed) started in this process.
func backends(t testing.TB) []backend {
	t.Helper()
	pg := testenv.PostgresURL(t)
	schema := fmt.Sprintf("rdv_e2e_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pg); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(pg, "?") {
		sep = "&"
	}
	return []backend{
		{"sqlite", "sqlite://" + filepath.Join(t.TempDir(), "e2e.db")},
		{"postgres", pg + sep + "schema=" + schema},
		{"mongodb", ferrettest.StoreURL(t, ferrettest.Start(t, ferrettest.SQLite))},
	}
}

// exampleModels loads the three shipped bundles as the monitor sees them.
func exampleModels(t testing.TB, cfg *config.Config) []monitor.Model {
	t.Helper()
	var out []monitor.Model
	for _, m := range cfg.Models {
		data, err := cfg.ReadBundle(m.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.LoadBytes(m.Bundle, data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, monitor.Model{Name: m.Name, Role: m.Role, Bundle: b})
	}
	return out
}

// trainingRecords scores the training rows with the shipped bundles into
// deterministic records (fixed ids, times and latencies), every third
// row's probability from production shifted so prediction drift is not
// trivially zero, and returns every other row's label as feedback.
func trainingRecords(t testing.TB, cfg *config.Config, models []monitor.Model) ([]record.Record, []record.Feedback) {
	t.Helper()
	m, err := cfg.TrainingMapping()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.ReadFile(testenv.TrainingCSV(t), m, true)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var recs []record.Record
	var fbs []record.Feedback
	for i, in := range ds.Rows {
		at := t0.Add(time.Duration(i) * 7 * time.Second)
		rec := record.Record{
			ID: fmt.Sprintf("req-%04d", i), ReceivedAt: at, Endpoint: "/v1/predict", EntityID: ds.IDs[i],
			Input: in, Status: record.RequestOK, Models: map[string]record.ModelResult{},
			Decision: &record.Decision{ServedBy: "prod-gbt", Reason: "preferred", DeadlineMS: 50, LatencyUS: int64(60 + i%40)},
		}
		for j, md := range models {
			p, err := md.Bundle.Predict(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			class, prob := p.Class, p.Probability
			status := record.StatusOK
			if md.Role == model.RoleChallenger && i%17 == 0 {
				status = record.StatusLate
			}
			info := md.Bundle.Info()
			rec.Models[md.Name] = record.ModelResult{
				Role: md.Role, Version: info.Version, Artifact: info.Artifact, Features: p.Features,
				Prediction: &class, Probability: &prob, Label: p.Label, LatencyUS: int64(10 + (i*(j+3))%97), Status: status,
			}
		}
		recs = append(recs, rec)
		if i%2 == 0 {
			fbs = append(fbs, record.Feedback{RequestID: rec.ID, EntityID: rec.EntityID, Label: ds.Labels[i], ReceivedAt: at.Add(time.Hour)})
		}
	}
	// One rejected request, as the decoy archives it.
	recs = append(recs, record.Record{ID: "req-rejected", ReceivedAt: t0.Add(-time.Minute), Endpoint: "/v1/predict",
		Status: record.RequestRejected, Raw: `{"input":{"pclass":"first"}}`})
	return recs, fbs
}

// analytics computes everything the API serves from st, as JSON.
func analytics(t *testing.T, st store.Store, cfg *config.Config, models []monitor.Model) map[string]string {
	t.Helper()
	fields := make([]string, len(cfg.Schema.Fields))
	for i, f := range cfg.Schema.Fields {
		fields[i] = f.Name
	}
	mon, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out := map[string]string{}
	put := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	met, err := mon.Metrics(ctx, monitor.Window{}, time.Hour)
	put("metrics", met, err)
	win := monitor.Window{Since: time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)}
	met, err = mon.Metrics(ctx, win, 0)
	put("metrics since 13:00", met, err)
	cmp, err := mon.Compare(ctx, "dev-logreg", monitor.Window{})
	put("compare", cmp, err)
	dr, _, err := mon.Drift(ctx, "", monitor.Window{})
	put("drift", dr, err)
	var csv bytes.Buffer
	_, err = export.Run(ctx, st, &csv, export.Options{Format: export.CSV})
	put("export", csv.String(), err)
	return out
}

// TestBackends_GiveIdenticalAnalytics writes the same records and labels to
// SQLite, PostgreSQL and MongoDB (FerretDB) and checks that metrics,
// comparison, drift and export are identical: analytics are computed in
// Go, never by the database.
func TestBackends_GiveIdenticalAnalytics(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	models := exampleModels(t, cfg)
	recs, fbs := trainingRecords(t, cfg, models)
	var want map[string]string
	var wantFrom string
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := storeall.Open(ctx, b.url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := 0; i < len(recs); i += 256 {
				if err := st.WriteRecords(ctx, recs[i:min(i+256, len(recs))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.WriteFeedback(ctx, fbs); err != nil {
				t.Fatal(err)
			}
			got := analytics(t, st, cfg, models)
			if want == nil {
				want, wantFrom = got, b.name
				if !strings.Contains(got["metrics"], `"labelled": 446`) {
					t.Fatalf("metrics do not count the 446 labels:\n%.600s", got["metrics"])
				}
				return
			}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("%s differs from %s:\n%s", name, wantFrom, firstDiff(w, got[name]))
				}
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d lines", len(al), len(bl))
}

// TestServe_RecordsEveryRequestOnEveryBackend runs the real binary against
// each backend, sends training rows and a rejected request, stops it with
// SIGTERM, and reads every record back complete.
func TestServe_RecordsEveryRequestOnEveryBackend(t *testing.T) {
	bin := buildBinary(t)
	cfgFile := testConfig(t)
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cfg.TrainingMapping()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.ReadFile(testenv.TrainingCSV(t), m, true)
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			base, stop := runServe(t, bin, cfgFile, b.url)
			for i := range n {
				body, _ := json.Marshal(map[string]any{"entity_id": ds.IDs[i], "input": ds.Rows[i]})
				req, _ := http.NewRequest("POST", base+"/v1/predict", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Request-ID", fmt.Sprintf("%s-%d", b.name, i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("row %d: %d %s", i, resp.StatusCode, msg)
				}
			}
			resp, err := http.Post(base+"/v1/predict", "application/json", strings.NewReader(`{"input":{"pclass":7}}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("invalid input: status %d", resp.StatusCode)
			}
			stop()

			st, err := storeall.Open(context.Background(), b.url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var ok, rejected int
			err = st.ScanRecords(context.Background(), store.ScanParams{}, func(rec *record.Record) error {
				switch rec.Status {
				case record.RequestRejected:
					rejected++
					if rec.Raw == "" || len(rec.Problems) == 0 {
						return fmt.Errorf("rejected record %s lacks raw body or problems", rec.ID)
					}
				case record.RequestOK:
					ok++
					for _, mc := range cfg.Models {
						r, found := rec.Models[mc.Name]
						if !found || r.Prediction == nil || r.Features.Len() == 0 {
							return fmt.Errorf("record %s: %s result %+v", rec.ID, mc.Name, r)
						}
					}
				default:
					return fmt.Errorf("record %s: status %s", rec.ID, rec.Status)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if ok != n || rejected != 1 {
				t.Fatalf("%d answered and %d rejected records, want %d and 1", ok, rejected, n)
			}
		})
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rendezvous")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/rendezvous")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testConfig writes the embedded example with bundle paths made absolute
// and deadlines raised to 5s (a loaded test machine can stall past 50ms;
// deadline behaviour is the router's tests' business).
func testConfig(t *testing.T) string {
	t.Helper()
	data, err := titanic.FS.ReadFile(titanic.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	models := filepath.Join(testenv.RepoRoot(t), "examples", "titanic", "models")
	s := strings.ReplaceAll(string(data), "bundle: models/", "bundle: "+models+"/")
	s = strings.ReplaceAll(s, "deadline: 50ms", "deadline: 5s")
	s = strings.ReplaceAll(s, "overall_deadline: 100ms", "overall_deadline: 10s")
	p := filepath.Join(t.TempDir(), "rendezvous.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runServe starts the binary on a free port and waits for /readyz; stop
// sends SIGTERM and waits for a clean exit.
func runServe(t *testing.T, bin, cfgFile, storeURL string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgFile, "--addr", addr, "--store", storeURL)
	// The spool of a PostgreSQL or MongoDB store defaults to the working
	// directory ("rendezvous.spool"): not the source tree.
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logged := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
		}
		close(logged)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-logged
			t.Fatalf("server not ready after 60s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a child process for readiness
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		<-logged
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, logs.String())
		}
	}
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return base, stop
}
