package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
	"github.com/rendezvous-gw/rendezvous/internal/testenv/natstest"
)

// background runs the command args with run() until the returned stop is
// called, which waits for it to exit and fails the test on a non-zero exit.
func background(t *testing.T, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &out) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("%s: exit %d:\n%s", strings.Join(args[:1], " "), code, out.String())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitForWorker polls until a worker of name answers on url.
func waitForWorker(t *testing.T, url, name string) {
	t.Helper()
	m, err := natsmodel.New(natsmodel.Config{Name: name, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := schema.Input{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := m.Predict(context.Background(), in)
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("worker %s not answering after 30s: %v", name, err)
		}
	}
}

// postAll posts every body to base/v1/predict from 8 goroutines and
// returns the request ids answered 200.
func postAll(t *testing.T, base string, bodies [][]byte) []string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	next := make(chan []byte)
	for range 8 {
		wg.Go(func() {
			for body := range next {
				resp, err := client.Post(base+"/v1/predict", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var a struct {
					RequestID string `json:"request_id"`
				}
				if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil {
					t.Errorf("%d %s", resp.StatusCode, b)
					continue
				}
				mu.Lock()
				ids = append(ids, a.RequestID)
				mu.Unlock()
			}
		})
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	return ids
}

// TestStreamMode_TwoGatewaysTwoWorkersTwoRecordersStoreEveryAnswerOnce: the
// whole stream mode in one process: an embedded NATS server, 2 'worker'
// commands for each of the three models, 2 gateways (one async, one sync
// durability) publishing records to the stream, 2 'recorder' commands
// writing them to a fresh PostgreSQL schema. Every request answered 200 is
// in the store once, with three model results, each ok from a worker.
// Each gateway answers the 891 training rows RENDEZVOUS_STREAM_ROUNDS times
// (default 1).
func TestStreamMode_TwoGatewaysTwoWorkersTwoRecordersStoreEveryAnswerOnce(t *testing.T) {
	rounds := 1 // RENDEZVOUS_STREAM_ROUNDS=12: 2 × 12 × 891 = 21,384 requests
	if v := os.Getenv("RENDEZVOUS_STREAM_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RENDEZVOUS_STREAM_ROUNDS=%q: want a positive integer", v)
		}
		rounds = n
	}
	srv := natstest.Start(t)
	base := testenv.PostgresURL(t)
	schemaName := fmt.Sprintf("stream_e2e_%d", time.Now().UnixNano())
	pgURL := base + "&schema=" + schemaName
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), base); err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schemaName+" CASCADE")
			conn.Close(context.Background())
		}
	})
	// Two workers of each of the example's three models.
	var stopWorkers []func()
	for _, name := range []string{"prod-gbt", "canary-rule", "dev-logreg"} {
		bundle := "../../examples/titanic/models/" + name + ".json"
		for range 2 {
			stopWorkers = append(stopWorkers, background(t, "worker", "--bus", srv.URL, "--model", bundle, "--concurrency", "4"))
		}
		waitForWorker(t, srv.URL, name)
	}

	var answered []string
	var bodies [][]byte
	type running struct {
		s    *server
		stop func()
		done chan error
	}
	var gws []running
	for g, durability := range []string{config.DurabilityAsync, config.DurabilitySync} {
		cfg := generousConfig(t)
		cfg.Bus = srv.URL
		for i := range cfg.Models {
			m := &cfg.Models[i]
			m.Kind, m.NATS, m.Bundle = config.KindNATS, m.Name, ""
		}
		cfg.Recorder.Bus = srv.URL
		cfg.Recorder.Durability = durability
		cfg.Recorder.FlushInterval = 5 * time.Millisecond
		cfg.Recorder.SpoolDir = t.TempDir()
		if bodies == nil {
			_, rows := trainingRequests(t, cfg)
			for range rounds {
				bodies = append(bodies, rows...)
			}
		}
		ctx, stop := context.WithCancel(context.Background())
		s, err := newServer(ctx, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: pgURL})
		if err != nil {
			stop()
			t.Fatalf("gateway %d: %v", g, err)
		}
		r := running{s: s, stop: stop, done: make(chan error, 1)}
		go func() { r.done <- s.run(ctx) }()
		gws = append(gws, r)
	}
	resp, err := http.Get("http://" + gws[0].s.Addr() + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"stream":"ok"`) {
		t.Errorf("/readyz?verbose = %s; want the stream component ok", b)
	}
	// Both gateways take load at once.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range gws {
		wg.Go(func() {
			ids := postAll(t, "http://"+r.s.Addr(), bodies)
			mu.Lock()
			answered = append(answered, ids...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for g, r := range gws {
		r.stop()
		if err := <-r.done; err != nil {
			t.Fatalf("gateway %d shutdown: %v", g, err)
		}
	}
	for _, stop := range stopWorkers {
		stop()
	}
	if len(answered) != 2*len(bodies) {
		t.Fatalf("%d of %d requests answered", len(answered), 2*len(bodies))
	}

	// The recorders start after the gateways stopped: the stream held it all.
	background(t, "recorder", "--bus", srv.URL, "--store", pgURL, "--batch", "200")
	background(t, "recorder", "--bus", srv.URL, "--store", pgURL, "--batch", "200")
	st, err := postgres.Open(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]int{}
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) { // a separate database process
		clear(seen)
		err := st.ScanRecords(context.Background(), store.ScanParams{}, func(rec *record.Record) error {
			seen[rec.ID]++
			if len(rec.Models) != 3 {
				return fmt.Errorf("record %s: %d model results, want 3", rec.ID, len(rec.Models))
			}
			for name, r := range rec.Models {
				if r.Status != record.StatusOK || r.Features.Len() == 0 || r.Artifact != "nats:rendezvous.model."+name {
					return fmt.Errorf("record %s: model %s %+v; want ok from a worker, with features", rec.ID, name, r)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) >= len(answered) || time.Now().After(end) {
			break
		}
	}
	for _, id := range answered {
		if seen[id] != 1 {
			t.Fatalf("answered request %s is stored %d times; want once (%d of %d stored)", id, seen[id], len(seen), len(answered))
		}
	}
	if len(seen) != len(answered) {
		t.Fatalf("%d records stored for %d answers", len(seen), len(answered))
	}
	t.Logf("%d requests answered 200 through 2 gateways, %d records stored once each", len(answered), len(seen))
}
