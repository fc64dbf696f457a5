package durability

import (
	"context"
	"fmt"
	"sort"
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := storeall.Open(ctx, sqliteURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nc, err := nats.Connect(srv.URL)
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
	caughtUp := waitStreamEmpty(t, js, time.Minute)
	cancel()
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}
	stored := storedIDs(t, sqliteURL(dir))

	var missing []answer
	dup := 0
	for _, a := range ok {
		switch stored[a.id] {
		case 0:
			missing = append(missing, a)
		case 1:
		default:
			dup++
		}
	}
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
