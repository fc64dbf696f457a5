package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// walkthroughReport is the part of `rendezvous report --json` the
// walkthrough in docs/WALKTHROUGH.md points at.
type walkthroughReport struct {
	Metrics struct {
		Requests int `json:"requests"`
		Labelled int `json:"labelled"`
		Models   []struct {
			Model    string `json:"model"`
			Role     string `json:"role"`
			Labelled *struct {
				N        int      `json:"n"`
				Accuracy *float64 `json:"accuracy"`
			} `json:"labelled"`
		} `json:"models"`
	} `json:"metrics"`
	Drift struct {
		Columns []struct {
			Column  string `json:"column"`
			Drifted bool   `json:"drifted"`
		} `json:"columns"`
		DatasetDrift bool `json:"dataset_drift"`
	} `json:"drift"`
}

// simulateThenReport runs the walkthrough's commands against a fresh
// gateway: simulate with the given extra flags, then report --json.
func simulateThenReport(t *testing.T, args ...string) walkthroughReport {
	t.Helper()
	ts := startServer(t)
	var out, errOut bytes.Buffer
	args = append([]string{"simulate", "--target", ts.base, "--count", "1200", "--concurrency", "8", "--labels"}, args...)
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("simulate exited %d: %s%s", code, out.String(), errOut.String())
	}
	ts.stop()
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"report", "--store", ts.storeURL, "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("report exited %d: %s", code, errOut.String())
	}
	var r walkthroughReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.String())
	}
	if r.Metrics.Requests != 1200 || r.Metrics.Labelled != 1200 {
		t.Fatalf("report covers %d requests, %d labelled; want 1200 and 1200", r.Metrics.Requests, r.Metrics.Labelled)
	}
	return r
}

func (r walkthroughReport) drifted() (yes, no []string) {
	for _, c := range r.Drift.Columns {
		if c.Drifted {
			yes = append(yes, c.Column)
		} else {
			no = append(no, c.Column)
		}
	}
	return yes, no
}

func (r walkthroughReport) accuracy(t *testing.T, role string) float64 {
	t.Helper()
	for _, m := range r.Metrics.Models {
		if m.Role == role && m.Labelled != nil && m.Labelled.Accuracy != nil {
			return *m.Labelled.Accuracy
		}
	}
	t.Fatalf("no accuracy for the %s model in %+v", role, r.Metrics.Models)
	return 0
}

// TestWalkthrough_DriftYouCanSee runs a short version of docs/WALKTHROUGH.md:
// undrifted traffic shows no drift; traffic with age +15, 80 % women and
// fares ×1.5 flags exactly those fields (and the production model's
// probabilities) and costs production accuracy. Inputs are deterministic
// (fixed seeds), so the statistics are too.
func TestWalkthrough_DriftYouCanSee(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two gateways and sends 2400 requests")
	}
	base := simulateThenReport(t, "--seed", "1")
	if yes, _ := base.drifted(); len(yes) > 0 || base.Drift.DatasetDrift {
		t.Errorf("undrifted traffic flagged %v (dataset drift %v)", yes, base.Drift.DatasetDrift)
	}
	drifted := simulateThenReport(t, "--seed", "2", "--drift", "age:+15,sex:female=0.8,fare:*1.5")
	yes, no := drifted.drifted()
	slices.Sort(yes)
	if want := []string{"age", "fare", "prediction_probability", "sex"}; !slices.Equal(yes, want) {
		t.Errorf("drifted columns = %v, want %v (not drifted: %v)", yes, want, no)
	}
	if !drifted.Drift.DatasetDrift {
		t.Error("dataset drift not flagged")
	}
	before, after := base.accuracy(t, "production"), drifted.accuracy(t, "production")
	t.Logf("production accuracy %.3f before, %.3f on drifted traffic; drifted columns %v", before, after, yes)
	if after > before-0.1 {
		t.Errorf("production accuracy %.3f on drifted traffic vs %.3f before: want a drop of at least 0.1", after, before)
	}
}

// TestWalkthrough_PromoteAChallenger runs README's "Promote a challenger"
// against a real server: train a gradient-boosted challenger, add it
// without a restart, send 1,500 labelled requests (seed 5), read the
// comparison, promote it through the gate, roll back.
func TestWalkthrough_PromoteAChallenger(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and sends 1500 labelled requests")
	}
	ts := startFileServerAfter(t, func(dir string) {
		if out, code := runCLI(t, "train", "--data", testenv.TrainingCSV(t), "--algo", "gbt", "--name", "my-gbt", "--version", "1",
			"--seed", "1", "--out", filepath.Join(dir, "models", "my-gbt.json")); code != 0 {
			t.Fatalf("train: %s", out)
		}
	})
	t.Setenv("RENDEZVOUS_SERVER", ts.base)
	cli := func(args ...string) string {
		t.Helper()
		out, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d:\n%s", args, code, out)
		}
		return out
	}
	mustContain(t, "add", cli("models", "add", "my-gbt", "--bundle", "models/my-gbt.json"), "deployment 1: add my-gbt", "my-gbt=challenger")
	mustContain(t, "simulate", cli("simulate", "--target", ts.base, "--count", "1500", "--labels", "--seed", "5"), "ok 1500, errors 0")
	var cmp struct {
		Pairs   int    `json:"pairs"`
		Verdict string `json:"verdict"`
	}
	// simulate returns once every answer and label is in; the last
	// records reach the store with the recorder's next batch (async mode,
	// flush_interval), so the comparison is read again until it holds them.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		doJSON(t, "GET", ts.base+"/v1/compare?challenger=my-gbt", nil, 200, &cmp)
		if cmp.Pairs >= 1500 || time.Now().After(end) {
			break
		}
	}
	if cmp.Pairs != 1500 || cmp.Verdict != "challenger_better" {
		t.Errorf("compare: %d pairs, verdict %s; want 1500 and challenger_better (README shows them)", cmp.Pairs, cmp.Verdict)
	}
	out := cli("models", "promote", "my-gbt")
	t.Logf("promote:\n%s", out)
	mustContain(t, "promote", out, "gate PASS", "labelled pairs    1500", "challenger_better", "deployment 2: promote my-gbt", "my-gbt=production", "prod-gbt=challenger")
	mustContain(t, "rollback", cli("models", "rollback"), "deployment 3: rollback", "prod-gbt=production", "my-gbt=challenger")
}
