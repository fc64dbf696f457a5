package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

// msgHandler is a slog handler that reports each message on a channel.
type msgHandler struct{ msgs chan string }

func (h msgHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.msgs <- r.Message:
	default:
	}
	return nil
}
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h msgHandler) WithGroup(string) slog.Handler      { return h }

// slowServer is the full gateway on a temporary SQLite file with the given
// write timeout, header timeout and read timeout; its log messages arrive
// on msgs.
type slowServer struct {
	s      *server
	base   string
	dbPath string
	msgs   chan string
}

func startSlowServer(t *testing.T, writeTimeout, headerTimeout, readTimeout time.Duration) slowServer {
	t.Helper()
	cfg := generousConfig(t)
	cfg.Server.WriteTimeout = writeTimeout
	cfg.Server.MaxConnections = 64
	dbPath := filepath.Join(t.TempDir(), "slow.db")
	msgs := make(chan string, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newServer(ctx, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: "sqlite://" + dbPath, Logger: slog.New(msgHandler{msgs})})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.http.ReadHeaderTimeout, s.http.ReadTimeout = headerTimeout, readTimeout
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return slowServer{s: s, base: "http://" + s.Addr(), dbPath: dbPath, msgs: msgs}
}

// waitMessage waits (at most limit) for a log message starting with prefix.
func (ss slowServer) waitMessage(t *testing.T, prefix string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(limit)
	for {
		select {
		case m := <-ss.msgs:
			if strings.HasPrefix(m, prefix) {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("no log message %q within %v", prefix, limit)
		}
	}
}

// predictOK sends one prediction and reports whether it was answered 200.
func predictOK(base string, body []byte) error {
	resp, err := http.Post(base+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("predict: %d %s", resp.StatusCode, b)
	}
	return nil
}

// A client asks for a CSV export of 20,000 records and never reads it while
// writers store 50,000 more: the export is read in pages, so no read
// transaction stays open and the WAL stays under 100 MB; the export is cut
// by its write deadline and says so; meanwhile another client's predictions
// and reads all succeed.
func TestSlowClient_NeverReadingExportDoesNotPinTheWALNorBlockOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 70,000 records")
	}
	const writeTimeout = 3 * time.Second
	ss := startSlowServer(t, writeTimeout, 10*time.Second, time.Minute)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeBatch := func(prefix string, i, n int, at time.Time) {
		recs := make([]record.Record, n)
		for j := range recs {
			recs[j] = storetest.FullRecord(fmt.Sprintf("%s-%06d", prefix, i+j), at.Add(time.Duration(i+j)*time.Millisecond))
		}
		if err := ss.s.store.WriteRecords(t.Context(), recs); err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < 20000; i += 500 {
		writeBatch("old", i, 500, t0)
	}

	// The export client: sends the request and never reads a byte.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ss.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/export?format=csv HTTP/1.1\r\nHost: rendezvous\r\n\r\n"); err != nil {
		t.Fatal(err)
	}

	// Another client predicts and reads all along.
	_, bodies := trainingRequests(t, ss.s.cfg)
	var stop atomic.Bool
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			err := predictOK(ss.base, bodies[i%len(bodies)])
			if err == nil {
				var resp *http.Response
				resp, err = http.Get(ss.base + "/v1/requests/old-000042")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET /v1/requests: %d", resp.StatusCode)
					}
				}
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			} else {
				ok.Add(1)
			}
		}
	})

	// Writers store 50,000 records while the export is stalled.
	var maxWAL int64
	for i := 0; i < 50000; i += 256 {
		writeBatch("new", i, min(256, 50000-i), t0.Add(24*time.Hour))
		if fi, err := os.Stat(ss.dbPath + "-wal"); err == nil {
			maxWAL = max(maxWAL, fi.Size())
		}
	}
	cut := ss.waitMessage(t, "export cut", 4*writeTimeout)
	stop.Store(true)
	wg.Wait()
	t.Logf("largest WAL %.1f MB while 50,000 records were written; export cut %v after the writes; other client: %d ok, %d failed",
		float64(maxWAL)/1e6, cut.Round(time.Millisecond), ok.Load(), failed.Load())
	if maxWAL >= 100<<20 {
		t.Errorf("WAL grew to %.1f MB under a never-reading export client, want under 100 MB", float64(maxWAL)/1e6)
	}
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Errorf("other client: %d ok, %d failed (first error %v)", ok.Load(), failed.Load(), firstErr.Load())
	}
}

// Slow-loris clients — headers never finished, headers trickled a byte at
// a time, a body that stops — are cut by the server's header and read
// timeouts, and other clients' predictions succeed while they hang on.
func TestSlowClient_SlowLorisIsCutByTimeoutsAndBlocksNoOne(t *testing.T) {
	const headerTimeout, readTimeout = time.Second, 2 * time.Second
	ss := startSlowServer(t, 5*time.Second, headerTimeout, readTimeout)
	addr := strings.TrimPrefix(ss.base, "http://")
	type loris struct {
		name  string
		limit time.Duration
		conn  net.Conn
	}
	var all []loris
	dial := func(name string, limit time.Duration, first string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, first); err != nil {
			t.Fatal(err)
		}
		all = append(all, loris{name, limit, c})
		return c
	}
	for i := range 20 {
		dial(fmt.Sprintf("unfinished headers %d", i), headerTimeout, "POST /v1/predict HTTP/1.1\r\nHost: rendezvous\r\n")
	}
	for i := range 10 {
		dial(fmt.Sprintf("stalled body %d", i), readTimeout, "POST /v1/predict HTTP/1.1\r\nHost: rendezvous\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"input\":")
	}
	trickle := dial("trickled headers", headerTimeout, "G")
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(50 * time.Millisecond) // load pacing, not synchronisation
		defer tick.Stop()
		for _, b := range []byte("ET /v1/status HTTP/1.1\r\nX-Slow: " + strings.Repeat("z", 200)) {
			<-tick.C
			if _, err := trickle.Write([]byte{b}); err != nil {
				return // cut
			}
		}
	}()
	start := time.Now()

	// Others are served while the lorises hang on.
	_, bodies := trainingRequests(t, ss.s.cfg)
	for i := range 50 {
		if err := predictOK(ss.base, bodies[i]); err != nil {
			t.Fatalf("prediction %d while slow clients hang on: %v", i, err)
		}
	}
	served := time.Since(start)

	for _, l := range all {
		_ = l.conn.SetReadDeadline(start.Add(l.limit + 5*time.Second))
		// The server may answer (400, 408) before it closes; either way the
		// connection ends.
		_, err := io.Copy(io.Discard, bufio.NewReader(l.conn))
		took := time.Since(start)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open %v after it started (server timeout %v)", l.name, took.Round(time.Millisecond), l.limit)
		}
	}
	<-trickled
	t.Logf("50 predictions served in %v while 31 slow clients hung on; all slow clients cut within %v of their timeouts",
		served.Round(time.Millisecond), 5*time.Second)
}
