package durability

import (
	"os"
	"sort"
	"strconv"
	"testing"
	"time"
)

// envDuration reads a duration from the environment (def when unset).
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// envInt reads an integer from the environment (def when unset).
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

const (
	flushInterval = 50 * time.Millisecond // the example's recorder.flush_interval
	batchSize     = 512                   // the example's recorder.batch_size
)

// kill -9 under closed-loop load, restart on the same files, wait for the
// spool to drain, stop cleanly, and compare the ids answered 200 with the
// SQLite file. sync: every one is stored. async: the losses are at most the
// last flush_interval of records plus one batch being written
// (docs/DURABILITY.md), and only among the last answers before the kill.
func TestKill9Sync(t *testing.T)  { testKill9(t, "sync") }
func TestKill9Async(t *testing.T) { testKill9(t, "async") }

func testKill9(t *testing.T, mode string) {
	needLong(t, "a kill -9 test of the real binary")
	before := envDuration(t, "RENDEZVOUS_KILL_AFTER", 3*time.Second)
	workers := envInt(t, "RENDEZVOUS_KILL_WORKERS", 32)
	dir, cfg := workspace(t, mode, nil)
	g := startGateway(t, cfg)
	l := startLoad(g.url, "kill-"+mode, true, 0, workers)
	time.Sleep(before)
	g.kill9()
	killed := time.Now()
	l.stop()
	ok, non200, errs := l.snapshot()
	t.Logf("statuses other than 200: %v; last transport error: %s", l.statuses, l.lastErr)

	g2 := startGateway(t, cfg)
	drain := g2.waitDrained(time.Minute)
	g2.stop()
	stored := storedIDs(t, sqliteURL(dir))

	missing, dup := tally(ok, stored)
	// The rate just before the kill: answers in its last second.
	last := 0
	for _, a := range ok {
		if killed.Sub(a.at) <= time.Second {
			last++
		}
	}
	bound := int(float64(last)*flushInterval.Seconds()) + batchSize
	oldest := time.Duration(0)
	for _, a := range missing {
		oldest = max(oldest, killed.Sub(a.at))
	}
	t.Logf("durability=%s: %d answered 200 in %s (%d in the last second before kill -9), %d other statuses, %d transport errors; after restart (spool drained in %s) %d records stored, %d answered-200 ids missing (oldest answered %s before the kill), %d stored twice; async bound %d",
		mode, len(ok), before, last, non200, errs, drain.Round(time.Millisecond), len(stored), len(missing), oldest.Round(time.Millisecond), dup, bound)
	if len(ok) == 0 {
		t.Fatal("no request answered 200")
	}
	if dup > 0 {
		t.Errorf("%d records stored more than once", dup)
	}
	switch mode {
	case "sync":
		if len(missing) > 0 {
			sort.Slice(missing, func(i, j int) bool { return missing[i].at.Before(missing[j].at) })
			t.Errorf("sync: %d requests answered 200 are not in the store, e.g. %v", len(missing), missing[:min(5, len(missing))])
		}
	case "async":
		if len(missing) > bound {
			t.Errorf("async: %d answered-200 records missing, more than the documented bound %d (flush_interval %s of records at %d/s + one batch of %d)",
				len(missing), bound, flushInterval, last, batchSize)
		}
	}
}
