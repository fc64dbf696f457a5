package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetrics_PromlintIsClean is `promtool check metrics` in CI: it runs
// the real server, sends traffic that touches every kind of series
// (answered, rejected and unknown requests, a compatibility route,
// feedback, the analysis routes), scrapes /metrics and lints it with
// promlint, the linter promtool uses. Any problem fails the test.
func TestMetrics_PromlintIsClean(t *testing.T) {
	srv := startServer(t)
	for i := range 20 {
		in := map[string]any{"pclass": 1 + i%3, "sex": []string{"male", "female"}[i%2], "age": 20 + i, "sibsp": 0, "parch": i % 2, "fare": 7.25 + float64(i), "embarked": "S"}
		doJSON(t, "POST", srv.base+"/v1/predict", map[string]any{"entity_id": strconv.Itoa(i), "input": in}, http.StatusOK, nil)
	}
	doJSON(t, "POST", srv.base+"/v1/predict", map[string]any{"input": map[string]any{"age": "old"}}, http.StatusUnprocessableEntity, nil)
	doJSON(t, "POST", srv.base+"/v1/feedback", map[string]any{"entity_id": "1", "label": 1}, http.StatusOK, nil)
	doJSON(t, "GET", srv.base+"/v1/metrics", nil, http.StatusOK, nil)
	doJSON(t, "GET", srv.base+"/nowhere", nil, http.StatusNotFound, nil)
	for _, rt := range srv.cfg.Routes {
		resp, err := http.Post(srv.base+rt.Path, "application/json", strings.NewReader(`{`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	for _, family := range []string{"rendezvous_http_requests_total", "go_goroutines"} {
		if !strings.Contains(buf.String(), "\n# TYPE "+family+" ") && !strings.HasPrefix(buf.String(), "# HELP "+family) {
			t.Errorf("/metrics lacks %s:\n%.2000s", family, buf.String())
		}
	}
	problems, err := promlint.New(bytes.NewReader(buf.Bytes())).Lint()
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
