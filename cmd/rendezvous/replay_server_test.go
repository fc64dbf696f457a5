package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
)

// replayJSONOf runs `rendezvous replay … --json` and decodes its outcomes.
func replayJSONOf(t *testing.T, args ...string) []replayOutcome {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"replay", "--json"}, args...), &out, &errOut); code != 0 {
		t.Fatalf("replay %v: exit %d: %s", args, code, errOut.String())
	}
	var outs []replayOutcome
	if err := json.Unmarshal(out.Bytes(), &outs); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	return outs
}

func TestReplayServer_GivesTheReportOfTheStoreModeOnTheSameData(t *testing.T) {
	url := recordedStore(t, 120)
	ts := startOn(t, generousConfig(t), url, &syncBuffer{})
	bundle := "../../examples/titanic/models/dev-logreg.json"

	srv := replayJSONOf(t, "--server", ts.base, "--candidate", bundle, "--name", "logreg-replay")
	local := replayJSONOf(t, "--store", url, "--candidate", bundle, "--name", "logreg-replay")
	if len(srv) != 1 || len(local) != 1 {
		t.Fatalf("%d and %d outcomes, want 1 each", len(srv), len(local))
	}
	s, l := srv[0].Replay, local[0].Replay
	if s.Read != 121 || s.Scored != 120 || s.Written != 120 || s.Candidate != "logreg-replay" {
		t.Errorf("server replay = %+v, want 121 read, 120 scored and written", s)
	}
	if l.Read != s.Read || l.Scored != s.Scored || l.Written != 0 || l.AlreadyStored != 120 || l.Version != s.Version {
		t.Errorf("store-mode rerun = %+v, want the server's counts with all 120 already stored", l)
	}
	sr, lr := srv[0].Report, local[0].Report
	if sr.Answered != 120 || sr.Source != monitor.SourceReplay || sr.TrainingOverlap == nil || sr.PredictionDrift == nil {
		t.Errorf("server report: answered %d, source %q, overlap %v, drift %v; want the replay's 120 answers with overlap and drift", sr.Answered, sr.Source, sr.TrainingOverlap, sr.PredictionDrift)
	}
	sj, _ := json.Marshal(sr)
	lj, _ := json.Marshal(lr)
	if !bytes.Equal(sj, lj) {
		t.Errorf("reports differ:\nserver %s\nstore  %s", sj, lj)
	}

	// The same text as the store mode; --bundle-path names a file on the
	// server (relative to the configuration: the embedded example's
	// models/ directory).
	var out, errOut bytes.Buffer
	args := []string{"replay", "--server", ts.base, "--bundle-path", "models/dev-logreg.json"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"Replay of dev-logreg (version", "121 records read", "scored 120", "dev-logreg against prod-gbt (replay", "Per day"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

// postReplay posts body to /v1/replay (NDJSON when stream) and returns the
// status and the answer.
func postReplay(t *testing.T, base, body string, stream bool) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/replay", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestReplayServer_BadBodiesAre400NamingTheField(t *testing.T) {
	ts := startServer(t)
	logreg, err := os.ReadFile("../../examples/titanic/models/dev-logreg.json")
	if err != nil {
		t.Fatal(err)
	}
	up := `{"bundle_json": ` + string(logreg) + `}`
	for _, tc := range []struct{ body, field string }{
		{`{}`, "candidate"},
		{`{"candidate": {}}`, "candidate.bundle"},
		{`{"candidate": {"bundle": "models/nope.json"}}`, "candidate.bundle"},
		{`{"candidate": {"bundle_json": {"format": 1}}}`, "candidate.bundle_json"},
		{`{"candidate": {"remote": {"protocol": "mlflow", "url": "http://127.0.0.1:1"}}}`, "name"},
		{`{"candidate": ` + up + `, "name": "prod-gbt"}`, "name"},
		{`{"candidate": ` + up + `, "sample": 0}`, "sample"},
		{`{"candidate": ` + up + `, "since": "yesterday"}`, "since"},
		{`{"candidate": ` + up + `, "since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}`, "until"},
		{`{"candidate": ` + up + `, "concurrency": -1}`, "concurrency"},
		{`{"candidate": ` + up + `, "sampel": 0.5}`, "sampel"},
		{`{"candidate": ` + up + `, "concurrency": "4"}`, "concurrency"},
	} {
		code, b := postReplay(t, ts.base, tc.body, false)
		var e struct{ Error, Field string }
		_ = json.Unmarshal(b, &e)
		if code != http.StatusBadRequest || e.Field != tc.field || e.Error == "" {
			t.Errorf("%.80s: %d %s, want 400 naming %q", tc.body, code, b, tc.field)
		}
	}
	// A candidate that cannot be loaded is a 400 before any stream starts.
	if code, b := postReplay(t, ts.base, `{"candidate": {"bundle": "models/nope.json"}}`, true); code != http.StatusBadRequest {
		t.Errorf("streamed replay of a missing bundle: %d %s, want 400", code, b)
	}
}

// blockingMLflow is an MLflow scoring server whose first call signals
// started and then waits for release.
func blockingMLflow(t *testing.T) (url string, started <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	st, rel := make(chan struct{}), make(chan struct{})
	first := make(chan struct{}, 1)
	first <- struct{}{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-first:
			close(st)
			<-rel
		default:
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"predictions": []any{map[string]any{"probability": 0.3}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, st, rel
}

func TestReplayServer_OneReplayAtATimeAndProgressIsStreamed(t *testing.T) {
	url := recordedStore(t, 40)
	ts := startOn(t, generousConfig(t), url, &syncBuffer{})
	remote, started, release := blockingMLflow(t)
	body := `{"candidate": {"remote": {"protocol": "mlflow", "url": "` + remote + `"}}, "name": "slow", "concurrency": 1}`

	type answer struct {
		code int
		body []byte
	}
	first := make(chan answer, 1)
	go func() {
		code, b := postReplay(t, ts.base, body, true)
		first <- answer{code, b}
	}()
	<-started // the first replay is scoring
	if code, b := postReplay(t, ts.base, body, false); code != http.StatusConflict {
		t.Errorf("second replay while one runs: %d %s, want 409", code, b)
	}
	close(release)
	a := <-first
	if a.code != http.StatusOK {
		t.Fatalf("first replay: %d %s", a.code, a.body)
	}
	var lines []replayLine
	sc := bufio.NewScanner(bytes.NewReader(a.body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l replayLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) < 2 || lines[len(lines)-2].Progress == nil || lines[len(lines)-1].Result == nil {
		t.Fatalf("stream = %s, want progress lines then the result", a.body)
	}
	p, res := lines[len(lines)-2].Progress, lines[len(lines)-1].Result
	if p.Fraction != 1 || p.Read != 41 || res.Replay.Scored != 40 || res.Replay.Written != 40 || res.Report.Challenger != "slow" {
		t.Errorf("last progress %+v, result %+v; want the whole window and 40 scored", p, res.Replay)
	}
	// The server is free again, and a rerun writes nothing new.
	code, b := postReplay(t, ts.base, body, false)
	var again replayOutcome
	if err := json.Unmarshal(b, &again); code != http.StatusOK || err != nil || again.Replay.AlreadyStored != 40 || again.Replay.Written != 0 {
		t.Errorf("rerun: %d %s, want 200 with 40 already stored", code, b)
	}
}

func TestReplayServer_WithoutAStoreIs503(t *testing.T) {
	cfg := generousConfig(t)
	ts := startOn(t, cfg, "none://", &syncBuffer{})
	if code, b := postReplay(t, ts.base, `{"candidate": {"bundle": "models/dev-logreg.json"}}`, false); code != http.StatusServiceUnavailable {
		t.Errorf("replay without a store: %d %s, want 503", code, b)
	}
}

func TestReplayServer_AClientThatGoesAwayCancelsTheRun(t *testing.T) {
	url := recordedStore(t, 20)
	ts := startOn(t, generousConfig(t), url, &syncBuffer{})
	started, cancelled := make(chan struct{}), make(chan struct{})
	var once sync.Once
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then net/http notices a client gone
		once.Do(func() {
			close(started)
			<-r.Context().Done() // the gateway's call to the model is cut
			close(cancelled)
		})
	}))
	t.Cleanup(remote.Close)
	ctx, cancel := context.WithCancel(context.Background())
	body := `{"candidate": {"remote": {"protocol": "mlflow", "url": "` + remote.URL + `"}}, "name": "gone", "concurrency": 1}`
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.base+"/v1/replay", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/x-ndjson")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel() // the client goes away
	<-cancelled
	if err := <-errc; err == nil {
		t.Error("the cancelled client read a whole answer")
	}
}

func TestReplayServer_ClosesTheCandidatesConnectionsWhenTheRunEnds(t *testing.T) {
	url := recordedStore(t, 10)
	ts := startOn(t, generousConfig(t), url, &syncBuffer{})
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	closed := make(chan struct{}, 64)
	remote := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"predictions": []any{map[string]any{"probability": 0.3}}})
	}))
	remote.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
			closed <- struct{}{}
		}
	}
	remote.Start()
	t.Cleanup(remote.Close)
	body := `{"candidate": {"remote": {"protocol": "mlflow", "url": "` + remote.URL + `"}}, "name": "closing", "concurrency": 1}`
	if code, b := postReplay(t, ts.base, body, false); code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, b)
	}
	// The run has ended: the candidate's idle keep-alive connection is
	// closed by the gateway, so the remote server sees it go.
	timeout := time.After(10 * time.Second)
	for {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-closed:
		case <-timeout:
			t.Fatalf("%d connection(s) to the candidate still open 10 s after the replay ended", n)
		}
	}
}
