package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
)

func TestReplay_ScoresRecordedTrafficOnceAndReports(t *testing.T) {
	url := recordedStore(t, 120) // 120 accepted requests and one rejected
	bundle := "../../examples/titanic/models/dev-logreg.json"
	replayJSON := func() []replayOutcome {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"replay", "--store", url, "--candidate", bundle, "--name", "logreg-replay", "--json"}, &out, &errOut)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var outs []replayOutcome
		if err := json.Unmarshal(out.Bytes(), &outs); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		return outs
	}
	first := replayJSON()
	if len(first) != 1 {
		t.Fatalf("%d outcomes, want 1", len(first))
	}
	s, r := first[0].Replay, first[0].Report
	if s.Read != 121 || s.Rejected != 1 || s.Scored != 120 || s.Written != 120 || s.Candidate != "logreg-replay" {
		t.Errorf("first replay = %+v, want 121 read, 1 rejected, 120 scored and written", s)
	}
	if r.Source != "replay" || r.Challenger != "logreg-replay" || r.Production != "prod-gbt" || r.Answered != 120 || r.AgreementN != 120 || len(r.Days) == 0 {
		t.Errorf("report = %+v, want the replay of logreg-replay against prod-gbt on 120 answers", r)
	}
	if again := replayJSON(); again[0].Replay.Written != 0 || again[0].Replay.AlreadyStored != 120 {
		t.Errorf("rerun = %+v, want nothing new and 120 already stored", again[0].Replay)
	}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--store", url, "--candidate", bundle}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"Replay of dev-logreg (version", "121 records read", "scored 120", "dev-logreg against prod-gbt (replay", "Per day"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReplay_BadFlagsAreOneLineUsageErrors(t *testing.T) {
	bundle := "../../examples/titanic/models/dev-logreg.json"
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--candidate", bundle, "--sample", "0"},
		{"replay", "--candidate", bundle, "--sample", "1.5"},
		{"replay", "--candidate", bundle, "--concurrency", "0"},
		{"replay", "--candidate", bundle, "--candidate", bundle, "--name", "x"},
		{"replay", "--candidate", bundle, "--since", "last tuesday"},
		{"replay", "--candidate", bundle, "extra"},
		{"replay", "--candidate", bundle, "--store", "sqlite:///tmp/x.db", "--server", "http://127.0.0.1:1"},
		{"replay", "--bundle-path", "models/x.json"},
		{"replay", "--candidate", bundle, "--token", "t"},
		{"replay", "--candidate", bundle, "--server", "http://127.0.0.1:1", "--batch", "5"},
		{"replay", "--candidate", bundle, "--server", "ftp://x"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines != 0 {
			t.Errorf("%v: %d lines: %s", args, lines+1, stderr.String())
		}
	}
}

func TestReplay_CompareServesReplayResultsAsTheChallengersAnswers(t *testing.T) {
	url := recordedStore(t, 120)
	bundle := "../../examples/titanic/models/dev-logreg.json"
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--store", url, "--candidate", bundle, "--name", "logreg-replay", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newServer(ctx, serveOptions{Config: generousConfig(t), Addr: "127.0.0.1:0", StoreURL: url})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	base := "http://" + s.Addr()
	var rep monitor.ChallengerReport
	doJSON(t, "GET", base+"/v1/compare?challenger=logreg-replay", nil, http.StatusOK, &rep)
	if rep.Source != monitor.SourceReplay || rep.Answered != 120 || rep.AgreementN != 120 || rep.Production != "prod-gbt" {
		t.Errorf("compare = source %q, answered %d, agreement_n %d, production %q; want the 120 replayed answers", rep.Source, rep.Answered, rep.AgreementN, rep.Production)
	}
	var live monitor.ChallengerReport
	doJSON(t, "GET", base+"/v1/compare?challenger=dev-logreg", nil, http.StatusOK, &live)
	if live.Source != monitor.SourceLive || live.Agreement == nil || rep.Agreement == nil || *live.Agreement != *rep.Agreement {
		t.Errorf("live dev-logreg agreement %v (source %q), replayed %v: want equal", live.Agreement, live.Source, rep.Agreement)
	}
	var e map[string]any
	var mb struct {
		TrainingOverlap []monitor.ModelTrainingOverlap `json:"training_overlap"`
	}
	doJSON(t, "GET", base+"/v1/metrics?overlap=true", nil, http.StatusOK, &mb)
	if len(mb.TrainingOverlap) != 3 || mb.TrainingOverlap[0].Model != "prod-gbt" {
		t.Errorf("metrics training_overlap = %+v, want the three example models", mb.TrainingOverlap)
	}
	doJSON(t, "GET", base+"/v1/metrics?overlap=maybe", nil, http.StatusBadRequest, &e)
	doJSON(t, "GET", base+"/v1/compare?challenger=dev-logreg&source=replay", nil, http.StatusNotFound, &e)
	doJSON(t, "GET", base+"/v1/compare?challenger=dev-logreg&source=both", nil, http.StatusBadRequest, &e)
}

// fakeMLflow answers /invocations as an MLflow scoring server would for a
// rule: women survive (probability 0.8), men do not (0.2).
func fakeMLflow(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			DataframeSplit struct {
				Columns []string `json:"columns"`
				Data    [][]any  `json:"data"`
			} `json:"dataframe_split"`
		}
		if r.URL.Path != "/invocations" || json.NewDecoder(r.Body).Decode(&req) != nil || len(req.DataframeSplit.Data) != 1 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		p := 0.2
		for i, c := range req.DataframeSplit.Columns {
			if c == "sex" && req.DataframeSplit.Data[0][i] == "female" {
				p = 0.8
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"predictions": []any{map[string]any{"probability": p}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestReplay_ThroughARemoteMLflowModel(t *testing.T) {
	url := recordedStore(t, 120)
	var out, errOut bytes.Buffer
	args := []string{"replay", "--store", url, "--remote", fakeMLflow(t), "--protocol", "mlflow", "--name", "gender-rule", "--json"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var outs []replayOutcome
	if err := json.Unmarshal(out.Bytes(), &outs); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	s, r := outs[0].Replay, outs[0].Report
	if s.Scored != 120 || s.Errors != 0 || s.Written != 120 || r.Source != "replay" || r.Answered != 120 || r.Challenger != "gender-rule" {
		t.Fatalf("replay %+v, report source %q answered %d", s, r.Source, r.Answered)
	}
	for _, bad := range [][]string{
		{"replay", "--store", url, "--remote", "http://127.0.0.1:1"},                                      // no --name
		{"replay", "--store", url, "--remote", "http://127.0.0.1:1", "--name", "x", "--protocol", "grpc"}, // unknown protocol
		{"replay", "--store", url, "--remote", "ftp://x", "--name", "x"},                                  // not http
	} {
		out.Reset()
		errOut.Reset()
		if code := run(context.Background(), bad, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", bad, code, errOut.String())
		}
	}
}
