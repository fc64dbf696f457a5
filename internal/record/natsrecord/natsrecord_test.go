package natsrecord_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/record/natsrecord"
	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
	"github.com/rendezvous-gw/rendezvous/internal/store/postgres"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
	"github.com/rendezvous-gw/rendezvous/internal/testenv/natstest"
)

var quiet = slog.New(slog.DiscardHandler)

// pgStore opens a PostgreSQL store in a fresh schema dropped at cleanup,
// and returns it with a connection for checks.
func pgStore(t *testing.T) (*postgres.Store, *pgx.Conn, string) {
	t.Helper()
	base := testenv.PostgresURL(t)
	schema := fmt.Sprintf("natsrec_%d", time.Now().UnixNano())
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	st, err := postgres.Open(t.Context(), base+sep+"schema="+schema)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	return st, conn, schema
}

// storedCounts returns the number of stored records and of distinct ids.
func storedCounts(t *testing.T, conn *pgx.Conn, schema string) (rows, distinct int) {
	t.Helper()
	err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT id) FROM "+schema+".records").Scan(&rows, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// gatewayRecorder is one gateway's recorder publishing to the stream, with
// a spool.
func gatewayRecorder(t *testing.T, url string) *record.Recorder {
	t.Helper()
	pub, err := natsrecord.NewPublisher(connect(t, url), natsrecord.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(t.TempDir(), spool.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := record.NewRecorder(pub, record.RecorderOptions{BatchSize: 128, FlushInterval: 5 * time.Millisecond,
		SpoolAfter: 300 * time.Millisecond, RetryInitial: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Spool: sp, Logger: quiet})
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// counter counts the records recorders acknowledged and tells when a
// count is reached.
type counter struct {
	mu      sync.Mutex
	n       int
	waiting map[int]chan struct{}
}

func (c *counter) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += n
	for target, ch := range c.waiting {
		if c.n >= target {
			close(ch)
			delete(c.waiting, target)
		}
	}
}

func (c *counter) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// reached returns a channel closed once the count is at least target.
func (c *counter) reached(target int) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	if c.n >= target {
		close(ch)
		return ch
	}
	if c.waiting == nil {
		c.waiting = map[int]chan struct{}{}
	}
	c.waiting[target] = ch
	return ch
}

// recorders runs n recorder consumers until the returned stop is called;
// written counts the records they acknowledged.
func recorders(t *testing.T, url string, st natsrecord.Store, n int, written *counter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		js, err := jetstream.New(connect(t, url))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			err := natsrecord.Consume(ctx, js, st, natsrecord.ConsumerOptions{Batch: 256, MaxWait: 50 * time.Millisecond, AckWait: 3 * time.Second,
				Logger: quiet, OnBatch: func(r, _ int) { written.add(r) }})
			if err != nil {
				t.Error(err)
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func rec(gw, i int) record.Record {
	p := 0.25
	return record.Record{
		ID:         fmt.Sprintf("gw%d-req-%06d", gw, i),
		ReceivedAt: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Endpoint:   "/v1/predict",
		Status:     record.RequestOK,
		Models: map[string]record.ModelResult{
			"prod-gbt": {Role: "production", Status: record.StatusOK, Probability: &p},
		},
	}
}

// waitStored polls the store (a separate database process) until it holds
// want records or the deadline passes.
func waitStored(t *testing.T, conn *pgx.Conn, schema string, want int, within time.Duration) {
	t.Helper()
	var rows, distinct int
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if rows, distinct = storedCounts(t, conn, schema); rows >= want {
			break
		}
	}
	if rows != want || distinct != want {
		t.Fatalf("store holds %d records (%d distinct ids); want %d, none twice", rows, distinct, want)
	}
}

func TestStream_TwoGatewaysTwoRecordersStoreEveryRecordOnce(t *testing.T) {
	srv := natstest.Start(t)
	st, conn, schema := pgStore(t)
	var written counter
	recorders(t, srv.URL, st, 2, &written)
	gws := []*record.Recorder{gatewayRecorder(t, srv.URL), gatewayRecorder(t, srv.URL)}

	const n = 2000 // per gateway
	var wg sync.WaitGroup
	for g, r := range gws {
		wg.Go(func() {
			for i := range n {
				if i%10 == 0 { // every tenth as in durability: sync
					if err := r.EnqueueDurable(context.Background(), rec(g, i)); err != nil {
						t.Errorf("EnqueueDurable: %v", err)
					}
				} else if !r.Enqueue(rec(g, i)) {
					t.Errorf("Enqueue(%d) refused", i)
				}
			}
		})
	}
	wg.Wait()
	for _, r := range gws {
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := r.Stats(); s.Written != n || s.Dropped != 0 {
			t.Errorf("gateway recorder: written %d, dropped %d; want %d, 0", s.Written, s.Dropped, n)
		}
	}
	waitStored(t, conn, schema, 2*n, time.Minute)
	t.Logf("recorders acknowledged %d records for %d requests", written.load(), 2*n)
}

func TestStream_RecordersStoppedUnderLoadThenRestartedLoseNothing(t *testing.T) {
	srv := natstest.Start(t)
	st, conn, schema := pgStore(t)
	var written counter
	stop := recorders(t, srv.URL, st, 2, &written)
	gw := gatewayRecorder(t, srv.URL)

	const n = 3000
	for i := range n {
		if i == n/3 {
			select {
			case <-written.reached(n / 6):
			case <-time.After(time.Minute):
				t.Fatal("the recorders stored nothing within a minute")
			}
			stop() // the recorders go away under load; the stream holds what follows
		}
		if !gw.Enqueue(rec(0, i)) {
			t.Fatalf("Enqueue(%d) refused", i)
		}
	}
	if err := gw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := gw.Stats(); s.Written != n || s.Spooled != 0 {
		t.Errorf("gateway recorder: written to the stream %d, spooled %d; want %d, 0 (the stream took them)", s.Written, s.Spooled, n)
	}
	rows, _ := storedCounts(t, conn, schema)
	if rows >= n {
		t.Fatalf("store already holds %d of %d records with the recorders stopped", rows, n)
	}
	recorders(t, srv.URL, st, 2, &written)
	waitStored(t, conn, schema, n, time.Minute)
}

func TestPublisher_StreamUnreachableGoesToTheSpoolAndFlowsBack(t *testing.T) {
	srv := natstest.Start(t)
	st, conn, schema := pgStore(t)
	var written counter
	recorders(t, srv.URL, st, 1, &written)
	gw := gatewayRecorder(t, srv.URL)
	for i := range 100 {
		gw.Enqueue(rec(0, i))
	}
	waitStored(t, conn, schema, 100, time.Minute)

	// NATS goes away: records go to the gateway's spool.
	srv.Shutdown()
	srv.WaitForShutdown()
	for i := 100; i < 300; i++ {
		if !gw.Enqueue(rec(0, i)) {
			t.Fatalf("Enqueue(%d) refused while NATS is down", i)
		}
	}
	for end := time.Now().Add(30 * time.Second); !gw.Stats().Spooling && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	s := gw.Stats()
	if !s.Spooling || s.LastError == "" {
		t.Fatalf("stats %+v: want spooling with the stream's error while NATS is down", s)
	}
	t.Logf("while NATS is down: spooling, last error %q", s.LastError)

	// NATS comes back on the same port and store: the spool flows to the stream.
	srv.Restart(t)
	waitStored(t, conn, schema, 300, time.Minute)
}

func TestPublisher_FullStreamGoesToTheSpoolUntilRecordersMakeRoom(t *testing.T) {
	srv := natstest.Start(t)
	st, conn, schema := pgStore(t)
	pub, err := natsrecord.NewPublisher(connect(t, srv.URL), natsrecord.StreamOptions{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(t.TempDir(), spool.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	gw := record.NewRecorder(pub, record.RecorderOptions{BatchSize: 50, FlushInterval: 5 * time.Millisecond,
		SpoolAfter: 200 * time.Millisecond, RetryInitial: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Spool: sp, Logger: quiet})
	t.Cleanup(func() { gw.Close(context.Background()) })

	const n = 1000 // about 250 KiB of records: four times the stream
	for i := range n {
		if !gw.Enqueue(rec(0, i)) {
			t.Fatalf("Enqueue(%d) refused", i)
		}
	}
	for end := time.Now().Add(30 * time.Second); !gw.Stats().Spooling && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	if s := gw.Stats(); !s.Spooling || s.Quarantined != 0 {
		t.Fatalf("stats %+v: want spooling and nothing quarantined while the stream is full", s)
	}
	if got := pub.State(t.Context()); got != "full: records go to the local spool" {
		t.Errorf("State = %q, want full", got)
	}

	var written counter
	recorders(t, srv.URL, st, 1, &written)
	waitStored(t, conn, schema, n, time.Minute)
	if s := gw.Stats(); s.Quarantined != 0 || s.Dropped != 0 {
		t.Errorf("stats %+v: want nothing quarantined or dropped", s)
	}
}

func TestStream_FeedbackReachesTheStore(t *testing.T) {
	srv := natstest.Start(t)
	st, conn, schema := pgStore(t)
	var written counter
	recorders(t, srv.URL, st, 1, &written)
	gw := gatewayRecorder(t, srv.URL)
	gw.Enqueue(rec(0, 1))
	fb := []record.Feedback{{ID: "fb-1", RequestID: rec(0, 1).ID, Label: 1, ReceivedAt: time.Now().UTC()}}
	where, err := gw.EnqueueFeedback(t.Context(), fb)
	if err != nil || where != record.FeedbackStored {
		t.Fatalf("EnqueueFeedback = %q, %v; want %q (acknowledged by the stream)", where, err, record.FeedbackStored)
	}
	waitStored(t, conn, schema, 1, time.Minute)
	var rows int
	for end := time.Now().Add(time.Minute); rows == 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+schema+".feedback WHERE request_id = $1", rec(0, 1).ID).Scan(&rows); err != nil {
			t.Fatal(err)
		}
	}
	if rows != 1 {
		t.Fatalf("%d feedback rows stored for %s; want 1", rows, rec(0, 1).ID)
	}
}
