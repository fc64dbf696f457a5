package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// TestWorker_ServesABundleOnTheMachinesNATSAndDrainsOnSignal runs the
// worker command against the machine's NATS (CI: required), calls it as a
// gateway member would, lists it, then cancels its context (SIGTERM).
func TestWorker_ServesABundleOnTheMachinesNATSAndDrainsOnSignal(t *testing.T) {
	url := testenv.NATSURL(t)
	name := fmt.Sprintf("test-worker-%d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--bus", url, "--model", "../../examples/titanic/models/prod-gbt.json",
			"--name", name, "--concurrency", "2"}, &stderr, &stderr)
	}()

	m, err := natsmodel.New(natsmodel.Config{Name: "production", Worker: name, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := schema.Input{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"}
	// The worker subscribes asynchronously: poll until it answers.
	for end := time.Now().Add(30 * time.Second); ; {
		pred, err := m.Predict(context.Background(), in)
		if err == nil {
			if pred.Probability <= 0 || pred.Probability >= 1 || len(pred.Features.Names) == 0 {
				t.Errorf("prediction %+v: want a probability in (0, 1) and the bundle's features", pred)
			}
			break
		}
		if natsmodel.KindOf(err) != natsmodel.KindNoResponders || time.Now().After(end) {
			t.Fatalf("Predict: %v\nworker output:\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"worker", "list", "--bus", url, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("worker list: exit %d: %s", code, errb.String())
	}
	var workers []natsmodel.WorkerInfo
	if err := json.Unmarshal(out.Bytes(), &workers); err != nil {
		t.Fatalf("worker list --json: %v\n%s", err, out.String())
	}
	found := false
	for _, w := range workers {
		if w.Model == name {
			found = true
			if w.Concurrency != 2 || w.Requests < 1 || !strings.HasPrefix(w.Artifact, "sha256:") || w.Version == "" {
				t.Errorf("listed worker %+v: want concurrency 2, >= 1 request, the bundle's version and artifact", w)
			}
		}
	}
	if !found {
		t.Fatalf("worker list does not show %s:\n%s", name, out.String())
	}
	// models list --bus is the same listing (stream mode's view of "the
	// live models"), as a table by default.
	out.Reset()
	if code := run(context.Background(), []string{"models", "list", "--bus", url, "--wait", "1s"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "MODEL") || !strings.Contains(out.String(), name) {
		t.Errorf("models list --bus: exit %d, output:\n%s%s", code, out.String(), errb.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("worker exit %d after the signal:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop within 30s of the signal")
	}
	if _, err := m.Predict(context.Background(), in); natsmodel.KindOf(err) != natsmodel.KindNoResponders {
		t.Errorf("after the worker stopped: %v, want no_responders", err)
	}
	for _, want := range []string{"worker serving", "worker draining", "worker stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("worker log lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestWorker_RefusesBadFlagsWithOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"worker", "--model", "x.json"}, "--bus and --model are required"},
		{[]string{"worker", "--bus", "http://x:1", "--model", "x.json"}, `--bus: "http://x:1": scheme "http"`},
		{[]string{"worker", "--bus", "nats://127.0.0.1:4222", "--model", "../../examples/titanic/models/prod-gbt.json", "--name", "a.b"}, "--name: model name \"a.b\""},
		{[]string{"worker", "--bus", "nats://127.0.0.1:4222", "--model", "x.json", "--concurrency", "0"}, "--concurrency: must be >= 1"},
		{[]string{"worker", "list"}, "--bus is required"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tt.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", tt.args, code, errb.String(), tt.want)
		}
	}
}
