package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/config"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOn runs cfg on a random port with the store at storeURL, logging to
// logs; stop shuts it down cleanly.
func startOn(t *testing.T, cfg *config.Config, storeURL string, logs *syncBuffer) testServer {
	t.Helper()
	return runTestServer(t, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: storeURL,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
}

type modelsBody struct {
	Models []struct {
		Name     string  `json:"name"`
		Role     string  `json:"role"`
		Sample   float64 `json:"sample"`
		Paused   bool    `json:"paused"`
		Fallback int     `json:"fallback"`
	} `json:"models"`
}

func (m modelsBody) String() string {
	var b strings.Builder
	for _, x := range m.Models {
		fmt.Fprintf(&b, "%s=%s", x.Name, x.Role)
		if x.Sample != 1 {
			fmt.Fprintf(&b, " sample=%g", x.Sample)
		}
		if x.Paused {
			b.WriteString(" paused")
		}
		if x.Fallback >= 0 {
			fmt.Fprintf(&b, " fallback=%d", x.Fallback)
		}
		b.WriteString("; ")
	}
	return b.String()
}

func TestServe_RestartKeepsRuntimeChanges(t *testing.T) {
	cfg := generousConfig(t)
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "restart.db")
	var logs1 syncBuffer
	s := startOn(t, cfg, storeURL, &logs1)
	doJSON(t, "POST", s.base+"/v1/models", map[string]any{"name": "late-logreg", "role": "challenger",
		"bundle": "models/dev-logreg.json", "sample": 0.5}, 201, nil)
	doJSON(t, "POST", s.base+"/v1/models/dev-logreg/promote", map[string]any{"force": true, "reason": "restart test"}, 200, nil)
	doJSON(t, "PATCH", s.base+"/v1/models/canary-rule", map[string]any{"paused": true}, 200, nil)
	var before modelsBody
	doJSON(t, "GET", s.base+"/v1/models", nil, 200, &before)
	s.stop()

	var logs2 syncBuffer
	s = startOn(t, generousConfig(t), storeURL, &logs2)
	var after modelsBody
	doJSON(t, "GET", s.base+"/v1/models", nil, 200, &after)
	want := "prod-gbt=challenger; canary-rule=canary paused fallback=0; dev-logreg=production; late-logreg=challenger sample=0.5; "
	if after.String() != want || before.String() != want {
		t.Errorf("models before the restart:\n %s\nafter:\n %s\nwant\n %s", before, after, want)
	}
	var hist struct {
		Events []struct {
			Seq    int64  `json:"seq"`
			Kind   string `json:"kind"`
			Model  string `json:"model"`
			Forced bool   `json:"forced"`
			Reason string `json:"reason"`
		} `json:"events"`
	}
	doJSON(t, "GET", s.base+"/v1/deployments", nil, 200, &hist)
	if len(hist.Events) != 3 || hist.Events[1].Kind != "promote" || !hist.Events[1].Forced || hist.Events[1].Reason != "restart test" {
		t.Errorf("history after the restart: %+v, want add, forced promote, patch", hist.Events)
	}
	var live struct {
		Deployment int64 `json:"deployment"`
	}
	doJSON(t, "GET", s.base+"/v1/models", nil, 200, &live)
	if n := len(hist.Events); n > 0 && live.Deployment != hist.Events[n-1].Seq {
		t.Errorf("after the restart the live deployment is numbered %d, want the last event's seq %d", live.Deployment, hist.Events[n-1].Seq)
	}
	if l := logs2.String(); !strings.Contains(l, "deployment restored from history") || !strings.Contains(l, "production=dev-logreg") {
		t.Errorf("the second start does not log what it restored:\n%s", l)
	}
}

// TestServe_RollbackAfterARestartGoesBackThroughTheStoredHistory: the
// earlier deployments a rollback returns to are kept in memory; after a
// restart they are rebuilt from the stored events, each rollback going one
// change further back, down to the configuration file's deployment.
func TestServe_RollbackAfterARestartGoesBackThroughTheStoredHistory(t *testing.T) {
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "rollback.db")
	s := startOn(t, generousConfig(t), storeURL, &syncBuffer{})
	doJSON(t, "POST", s.base+"/v1/models", map[string]any{"name": "late-logreg", "role": "challenger",
		"bundle": "models/dev-logreg.json", "sample": 0.5}, 201, nil)
	doJSON(t, "POST", s.base+"/v1/models/dev-logreg/promote", map[string]any{"force": true, "reason": "rollback test"}, 200, nil)
	doJSON(t, "PATCH", s.base+"/v1/models/canary-rule", map[string]any{"paused": true}, 200, nil)
	s.stop()

	s = startOn(t, generousConfig(t), storeURL, &syncBuffer{})
	for i, want := range []string{
		"prod-gbt=challenger; canary-rule=canary fallback=0; dev-logreg=production; late-logreg=challenger sample=0.5; ",
		"prod-gbt=production; canary-rule=canary fallback=0; dev-logreg=challenger; late-logreg=challenger sample=0.5; ",
		"prod-gbt=production; canary-rule=canary fallback=0; dev-logreg=challenger; ",
	} {
		doJSON(t, "POST", s.base+"/v1/rollback", map[string]any{}, 200, nil)
		var got modelsBody
		doJSON(t, "GET", s.base+"/v1/models", nil, 200, &got)
		if got.String() != want {
			t.Errorf("rollback %d after the restart:\n %s\nwant\n %s", i+1, got, want)
		}
	}
	doJSON(t, "POST", s.base+"/v1/rollback", map[string]any{}, 409, nil)
}
