package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// recordedStore records n training rows and one rejected request through a
// real gateway, stops it cleanly and returns its store URL.
func recordedStore(t *testing.T, n int) string {
	t.Helper()
	ts := startServer(t)
	_, bodies := trainingRequests(t, ts.cfg)
	for _, b := range bodies[:n] {
		var in any
		_ = json.Unmarshal(b, &in)
		doJSON(t, "POST", ts.base+"/v1/predict", in, http.StatusOK, nil)
	}
	doJSON(t, "POST", ts.base+"/v1/predict", map[string]any{"input": map[string]any{"pclass": 9}}, http.StatusUnprocessableEntity, nil)
	ts.stop()
	return ts.storeURL
}

func TestReport_TextAndJSONShowEveryModelAndDrift(t *testing.T) {
	url := recordedStore(t, 120)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"report", "--store", url}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{"120 requests", "prod-gbt", "canary-rule", "dev-logreg", "insufficient_data", "Input drift of prod-gbt", "age"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"report", "--store", url, "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var d reportData
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Metrics.Requests != 120 || len(d.Metrics.Models) != 3 || len(d.Comparisons) != 2 || d.Drift == nil || d.Drift.CurrentRows != 120 {
		t.Errorf("json report: requests %d, models %d, comparisons %d, drift %+v", d.Metrics.Requests, len(d.Metrics.Models), len(d.Comparisons), d.Drift)
	}
}

func TestExport_ParquetReadsBackOneRowPerRequest(t *testing.T) {
	url := recordedStore(t, 40)
	out := filepath.Join(t.TempDir(), "records.parquet")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"export", "--store", url, "--format", "parquet", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 41 {
		t.Fatalf("%d rows, want 41 (40 answered + 1 rejected)", pf.NumRows())
	}
	if _, ok := pf.Schema().Lookup("prod-gbt_gender"); !ok {
		t.Error("no prod-gbt_gender column")
	}
	if !strings.Contains(stderr.String(), "exported 41 requests") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestExport_BadFlagsAreOneLineUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"export", "--format", "xlsx", "--out", "x"},
		{"export", "--format", "csv"},
		{"export", "--format", "csv", "--out", "x", "--since", "last tuesday"},
		{"report", "--until", "2026-01-01T00:00:00Z", "--since", "2026-02-01T00:00:00Z"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines != 0 {
			t.Errorf("%v: %d lines: %s", args, lines+1, stderr.String())
		}
	}
}
