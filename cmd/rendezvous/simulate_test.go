package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recordingGateway answers /v1/predict and /singletitanicpred/ and keeps
// every body it received, in order.
type recordingGateway struct {
	mu       sync.Mutex
	bodies   []string
	paths    []string
	feedback int
}

func (g *recordingGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.URL.Path == "/v1/feedback" {
		var fb struct {
			Feedback []json.RawMessage `json:"feedback"`
		}
		_ = json.Unmarshal(body, &fb)
		g.feedback += len(fb.Feedback)
		return
	}
	g.bodies = append(g.bodies, string(body))
	g.paths = append(g.paths, r.URL.Path)
	w.Header().Set("X-Request-ID", fmt.Sprintf("r%d", len(g.bodies)))
	fmt.Fprint(w, `{"prediction":0}`)
}

func simulateOnce(t *testing.T, args ...string) (*recordingGateway, string) {
	t.Helper()
	g := &recordingGateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := run(t.Context(), append([]string{"simulate", "--target", srv.URL}, args...), &out, &errb); code != 0 {
		t.Fatalf("simulate exited %d: %s", code, errb.String())
	}
	return g, out.String()
}

func TestSimulate_SameSeedSendsTheSameRequests(t *testing.T) {
	args := func(seed string) []string {
		return []string{"--count", "50", "--concurrency", "1", "--seed", seed, "--drift", "age:+15,sex:female=0.8", "--ramp"}
	}
	a, out := simulateOnce(t, args("7")...)
	b, _ := simulateOnce(t, args("7")...)
	c, _ := simulateOnce(t, args("8")...)
	if len(a.bodies) != 50 || !strings.Contains(out, "sent 50") {
		t.Fatalf("server got %d requests, output %q; want 50", len(a.bodies), out)
	}
	if strings.Join(a.bodies, "\n") != strings.Join(b.bodies, "\n") {
		t.Errorf("the same --seed sent different requests:\n%s\n---\n%s", a.bodies[0], b.bodies[0])
	}
	if strings.Join(a.bodies, "\n") == strings.Join(c.bodies, "\n") {
		t.Error("a different --seed sent the same requests")
	}
	if !strings.Contains(a.bodies[0], `"input":{`) || a.paths[0] != "/v1/predict" {
		t.Errorf("first request %s %s is not a /v1/predict body", a.paths[0], a.bodies[0])
	}
}

func TestSimulate_OriginalRouteAndCSVReplayWithLabels(t *testing.T) {
	g, out := simulateOnce(t, "--count", "20", "--route", "original", "--source", "csv:../../internal/simulate/testdata/small.csv",
		"--labels", "--seed", "1", "--concurrency", "1")
	if len(g.bodies) != 20 || g.paths[0] != "/singletitanicpred/" {
		t.Fatalf("got %d requests to %v, want 20 to /singletitanicpred/", len(g.bodies), g.paths[:1])
	}
	if want := `{"age":22,"embarked":"S","fare":7.25,"parch":0,"passid":"1","pclass":3,"sex":"male","sibsp":1}`; g.bodies[0] != want {
		t.Errorf("first replayed body = %s, want %s", g.bodies[0], want)
	}
	if g.feedback != 20 || !strings.Contains(out, "labels sent 20") {
		t.Errorf("feedback for %d requests (output %q), want 20", g.feedback, out)
	}
}

func TestSimulate_RejectsBadFlagsClearly(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--count", "5", "--drift", "age:+x"}, `--drift age:+x: bad shift "+x"`},
		{[]string{"--count", "5", "--drift", "height:+1"}, `--drift height:+1: unknown field "height"`},
		{[]string{"--rate", "10"}, "give exactly one of --count N and --duration D"},
		{[]string{"--count", "5", "--label-rate", "2"}, "--label-rate must be between 0 and 1, got 2"},
		{[]string{"--count", "5", "--route", "v2"}, `--route must be v1 or original, got "v2"`},
		{[]string{"--count", "5", "--source", "db"}, `--source must be profile or csv:FILE, got "db"`},
		{[]string{"--count", "5", "--target", "localhost:8080"}, "--target must be an http:// or https:// URL"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(t.Context(), append([]string{"simulate"}, tt.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("simulate %v: exit %d, stderr %q; want 2 and %q", tt.args, code, errb.String(), tt.want)
		}
	}
}
