package durability

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rendezvous-gw/rendezvous/internal/record/natsrecord"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
	"github.com/rendezvous-gw/rendezvous/internal/testenv/natstest"
)

// TestKill9SyncStreamMode: a gateway in stream mode (recorder.bus, sync
// durability) is killed with SIGKILL under load; a restarted gateway
// replays whatever its spool held to the stream; a recorder then empties
// the stream into the store. Every request answered 200 is stored, once.
func TestKill9SyncStreamMode(t *testing.T) {
	needLong(t, "a kill -9 test of the real binary in stream mode")
	before := envDuration(t, "RENDEZVOUS_KILL_AFTER", 3*time.Second)
	workers := envInt(t, "RENDEZVOUS_KILL_WORKERS", 32)
	srv := natstest.Start(t)
	dir, cfg := workspace(t, "sync", map[string]string{"recorder.bus": srv.URL})
	g := startGateway(t, cfg)
	l := startLoad(g.url, "kill-stream", true, 0, workers)
	time.Sleep(before) // the load runs meanwhile
	g.kill9()
	l.stop()
	ok, non200, errs := l.snapshot()

	g2 := startGateway(t, cfg) // replays its spool (if anything went there) to the stream
	drain := g2.waitDrained(time.Minute)
	g2.stop()

	stored, caughtUp := consumeAll(t, srv.URL, sqliteURL(dir))

	missing, dup := tally(ok, stored)
	t.Logf("stream mode, durability=sync: %d answered 200 in %s, %d other statuses, %d transport errors; restarted gateway drained its spool in %s; recorder caught up in %s; %d records stored, %d answered-200 ids missing, %d stored twice",
		len(ok), before, non200, errs, drain.Round(time.Millisecond), caughtUp.Round(time.Millisecond), len(stored), len(missing), dup)
	if len(ok) == 0 {
		t.Fatal("no request answered 200")
	}
	if dup > 0 {
		t.Errorf("%d records stored more than once", dup)
	}
	if len(missing) > 0 {
		sort.Slice(missing, func(i, j int) bool { return missing[i].at.Before(missing[j].at) })
		t.Errorf("%d requests answered 200 are not in the store, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
}

// waitStreamEmpty polls the records stream (a work queue: a message leaves
// it once a recorder acknowledged it) until it holds nothing, and returns
// how long that took.
func waitStreamEmpty(t *testing.T, js jetstream.JetStream, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		s, err := js.Stream(context.Background(), natsrecord.StreamName)
		if err == nil {
			info, err := s.Info(context.Background())
			if err == nil && info.State.Msgs == 0 {
				return time.Since(start)
			}
			if err == nil {
				last = fmt.Sprintf("%d messages left", info.State.Msgs)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the records stream was not emptied within %s (%s)", within, last)
	return 0
}

// streamWorkspace is workspace in stream mode: recorder.bus and, with
// natsProd, production served by workers over NATS (bus: at top level).
func streamWorkspace(t *testing.T, durability, url string, natsProd bool) (dir, cfgPath string) {
	t.Helper()
	dir, cfgPath = workspace(t, durability, map[string]string{"recorder.bus": url})
	if !natsProd {
		return dir, cfgPath
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	const prod = "    bundle: models/prod-gbt.json\n"
	if !strings.Contains(string(data), prod) {
		t.Fatalf("the example configuration no longer holds %q", prod)
	}
	out := "bus: " + url + "\n" + strings.Replace(string(data), prod, "    nats: prod-gbt\n", 1)
	if err := os.WriteFile(cfgPath, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

// startWorker runs `rendezvous worker` for the example's production bundle.
func startWorker(t *testing.T, dir, url string) {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), "worker-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "worker", "--bus", url, "--model", filepath.Join(dir, "models", "prod-gbt.json"), "--concurrency", "4")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("worker log:\n%s", data)
		}
	})
}

// consumeAll runs a recorder on the stream until it is empty and returns
// the ids in the store.
func consumeAll(t *testing.T, url, storeURL string) (map[string]int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := storeall.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	consumed := make(chan error, 1)
	go func() { consumed <- natsrecord.Consume(ctx, js, st, natsrecord.ConsumerOptions{}) }()
	took := waitStreamEmpty(t, js, 2*time.Minute)
	cancel()
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}
	return storedIDs(t, storeURL), took
}

// checkStored fails the test for an answered-200 id not stored exactly once.
func checkStored(t *testing.T, ok []answer, stored map[string]int) {
	t.Helper()
	if missing, dup := tally(ok, stored); len(missing) > 0 || dup > 0 {
		t.Errorf("of %d requests answered 200: %d not stored, %d stored more than once", len(ok), len(missing), dup)
	}
}

// TestNATSRestartUnderLoadStreamMode: production on a NATS worker, records
// through the stream, an in-process canary as the fallback. NATS is shut
// down under load and restarted: the gateway keeps answering 200 (from the
// canary), records go to its spool and /readyz?verbose says so, and once
// NATS is back the spool flows to the stream; every 200 ends in the store.
func TestNATSRestartUnderLoadStreamMode(t *testing.T) {
	needLong(t, "a NATS restart under load with the real binary")
	outage := envDuration(t, "RENDEZVOUS_NATS_OUTAGE", 5*time.Second)
	srv := natstest.Start(t)
	dir, cfg := streamWorkspace(t, "async", srv.URL, true)
	startWorker(t, dir, srv.URL)
	g := startGateway(t, cfg)
	l := startLoad(g.url, "nats-restart", true, 500, 8)
	time.Sleep(2 * time.Second) // load with NATS up

	srv.Shutdown()
	srv.WaitForShutdown()
	var during readiness
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, r, err := g.ready(); err == nil && strings.Contains(r.Components["recorder"], "spooling") {
			during = r
		}
	}
	okDuring, _, _ := l.snapshot()
	srv.Restart(t)
	drain := g.waitDrained(time.Minute)
	_, after, _ := g.ready()
	time.Sleep(2 * time.Second) // load with NATS back
	l.stop()
	ok, non200, errs := l.snapshot()
	g.stop()
	stored, caughtUp := consumeAll(t, srv.URL, sqliteURL(dir))
	t.Logf("NATS down %s under 500 req/s: %d answered 200, %d other statuses (%v), %d transport errors; during the outage /readyz?verbose components %v; after the restart %v (spool drained in %s); recorder caught up in %s; %d stored",
		outage, len(ok), non200, l.statuses, errs, during.Components, after.Components, drain.Round(time.Millisecond), caughtUp.Round(time.Millisecond), len(stored))
	if non200 > 0 || errs > 0 {
		t.Errorf("%d non-200 answers and %d transport errors; want every request answered (the canary serves while NATS is down)", non200, errs)
	}
	if !strings.HasPrefix(during.Components["stream"], "unreachable") || !strings.Contains(during.Components["recorder"], "spooling") {
		t.Errorf("during the outage /readyz?verbose components = %v; want the stream unreachable and the recorder spooling", during.Components)
	}
	if after.Components["stream"] != "ok" {
		t.Errorf("after the restart the stream is %q, want ok", after.Components["stream"])
	}
	if len(okDuring) == 0 {
		t.Error("nothing answered")
	}
	checkStored(t, ok, stored)
}

// TestRecordersStoppedUnderLoadStreamMode: no recorder runs while a gateway
// in stream mode takes load for RENDEZVOUS_RECORDER_OUTAGE (default 10 s;
// the figure is 2 minutes): the stream holds the records, the
// gateway's RSS stays flat, and a recorder started afterwards stores every
// answered request once.
func TestRecordersStoppedUnderLoadStreamMode(t *testing.T) {
	needLong(t, "a recorder outage under load with the real binary")
	outage := envDuration(t, "RENDEZVOUS_RECORDER_OUTAGE", 10*time.Second)
	srv := natstest.Start(t)
	dir, cfg := streamWorkspace(t, "async", srv.URL, false)
	g := startGateway(t, cfg)
	l := startLoad(g.url, "recorders-stopped", true, 1000, 16)
	var rss []int64
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(time.Second) {
		rss = append(rss, g.rssKB())
	}
	l.stop()
	ok, non200, errs := l.snapshot()
	_, r, _ := g.ready()
	g.stop()
	stored, caughtUp := consumeAll(t, srv.URL, sqliteURL(dir))
	t.Logf("no recorder for %s under 1,000 req/s: %d answered 200, %d other statuses, %d transport errors; gateway RSS KiB each second %v; components at the end %v; recorder caught up in %s; %d stored",
		outage, len(ok), non200, errs, rss, r.Components, caughtUp.Round(time.Millisecond), len(stored))
	if strings.Contains(r.Components["recorder"], "spooling") {
		t.Errorf("the gateway spooled (%v); want the stream to take everything", r.Components)
	}
	if n := len(rss); n >= 4 && rss[n-1] > rss[n/2]*3/2 {
		t.Errorf("gateway RSS grew from %d KiB (mid-outage) to %d KiB; want it flat", rss[n/2], rss[n-1])
	}
	checkStored(t, ok, stored)
}
