package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener is a net.Listener fed by in-memory pipes, so a real
// http.Server and http.Client can talk inside a synctest bubble.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipe reaches a server over in-memory connections: Client (net/http, used
// for feedback) and Dial (used by the workers' HTTP/1.1 connections).
type pipe struct {
	Client *http.Client
	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// pipeServer serves h over in-memory connections; everything is shut down
// when the test ends.
func pipeServer(t *testing.T, h http.Handler) pipe {
	t.Helper()
	l := newPipeListener()
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	tr := &http.Transport{DialContext: l.dial, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return pipe{Client: &http.Client{Transport: tr}, Dial: l.dial}
}

// fakeGateway answers /v1/predict with a fresh request id and records
// /v1/feedback. Predict calls delay(n) first, n counting from 0.
type fakeGateway struct {
	delay  func(n int64) time.Duration
	status func(n int64) int
	// unmatched, when set, says whether to report a label as unmatched
	// on its try-th arrival (from 1), as the gateway does for a request
	// it has not stored yet.
	unmatched func(id string, try int) bool
	tries     map[string]int
	predicts  atomic.Int64

	mu       sync.Mutex
	answered map[string]time.Time // request id → when answered
	labels   map[string]int
	labelAt  map[string]time.Time
	posts    int
}

func newFakeGateway() *fakeGateway {
	return &fakeGateway{answered: map[string]time.Time{}, labels: map[string]int{}, labelAt: map[string]time.Time{}, tries: map[string]int{}}
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/predict", "/singletitanicpred/":
		n := g.predicts.Add(1) - 1
		var body struct {
			EntityID string         `json:"entity_id"`
			Input    map[string]any `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if g.delay != nil {
			time.Sleep(g.delay(n))
		}
		if g.status != nil {
			if s := g.status(n); s != 200 {
				w.WriteHeader(s)
				return
			}
		}
		id := fmt.Sprintf("req-%d", n)
		g.mu.Lock()
		g.answered[id] = time.Now()
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"request_id":%q,"prediction":0}`, id)
	case "/v1/feedback":
		var body struct {
			Feedback []struct {
				RequestID string `json:"request_id"`
				Label     int    `json:"label"`
			} `json:"feedback"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		g.mu.Lock()
		g.posts++
		unmatched := []string{}
		for _, f := range body.Feedback {
			if g.unmatched != nil {
				g.tries[f.RequestID]++
				if g.unmatched(f.RequestID, g.tries[f.RequestID]) {
					unmatched = append(unmatched, f.RequestID)
					continue
				}
			}
			g.labels[f.RequestID] = f.Label
			g.labelAt[f.RequestID] = time.Now()
		}
		g.mu.Unlock()
		u, _ := json.Marshal(unmatched)
		fmt.Fprintf(w, `{"accepted":%d,"unmatched":%s}`, len(body.Feedback)-len(unmatched), u)
	default:
		http.NotFound(w, r)
	}
}

func sampleGen(t *testing.T, seed uint64, labelRate float64) *Generator {
	t.Helper()
	s, err := NewSample(syntheticRows(100))
	if err != nil {
		t.Fatal(err)
	}
	return NewGenerator(s, nil, seed, labelRate)
}

func TestRun_OpenLoopMeasuresFromIntendedSendTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The server stalls 1 s on the first request and answers the rest
		// in 1 ms. One worker at 10 requests/s: requests 1‥9 were due
		// while the worker was stuck, so their latency must include the
		// wait (a closed-loop tool would report 1 ms for them).
		gw := newFakeGateway()
		gw.delay = func(n int64) time.Duration {
			if n == 0 {
				return time.Second
			}
			return time.Millisecond
		}
		p := pipeServer(t, gw)
		s, err := Run(t.Context(), Options{
			Target: "http://gateway", Route: V1Route(), Client: p.Client, Dial: p.Dial,
			Rate: 10, Count: 20, Concurrency: 1,
		}, sampleGen(t, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if s.Sent != 20 || s.OK != 20 {
			t.Fatalf("sent %d ok %d, want 20 and 20", s.Sent, s.OK)
		}
		// Request k in 1‥9 was due at k·100 ms but sent when the worker
		// freed at 1 s + (k-1) ms, answered 1 ms later: latency
		// 1 s + k ms − k·100 ms. Request 10 (due at 1 s) waited until
		// 1.009 s: 10 ms. Requests 11‥19 found the server idle: 1 ms.
		// Mean = (1 + 4.545 + 0.010 + 0.009) / 20 = 278.2 ms. Measuring
		// from the actual send instead would give (1 + 19·0.001)/20 = 51 ms.
		if want := 278200 * time.Microsecond; s.Mean < want-time.Millisecond || s.Mean > want+time.Millisecond {
			t.Errorf("mean = %v, want 278.2ms: latency must run from the intended send time", s.Mean)
		}
		if s.Max < time.Second || s.Max > time.Second+10*time.Millisecond {
			t.Errorf("max = %v, want ≈ 1s", s.Max)
		}
		if s.P90 < 790*time.Millisecond {
			t.Errorf("p90 = %v, want ≥ 790ms (requests due during the stall)", s.P90)
		}
		// The schedule held: 20 requests at 10/s end just after 1.9 s.
		if s.Elapsed < 1900*time.Millisecond || s.Elapsed > 2*time.Second {
			t.Errorf("elapsed = %v, want ≈ 1.9s (open loop keeps the schedule)", s.Elapsed)
		}
	})
}

func TestRun_OpenLoopStopsAtTheEndOfItsDurationWhenTheTargetFallsBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Every answer takes 1 s; two workers at 100/s for 1.5 s send
		// requests 0 and 1 at once and 2 and 3 when those are answered
		// (1 s, 1.01 s); the other 146 due requests are backlog. The run
		// must end with the duration plus the answers in flight (2.01 s),
		// not minutes later.
		gw := newFakeGateway()
		gw.delay = func(int64) time.Duration { return time.Second }
		p := pipeServer(t, gw)
		start := time.Now()
		s, err := Run(t.Context(), Options{
			Target: "http://gateway", Route: V1Route(), Client: p.Client, Dial: p.Dial,
			Rate: 100, Duration: 1500 * time.Millisecond, Concurrency: 2,
		}, sampleGen(t, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 2010*time.Millisecond {
			t.Errorf("run took %v, want 2.01s (1.5s duration + the answers in flight)", took)
		}
		if s.Sent != 4 || s.Backlog != 146 {
			t.Errorf("sent %d backlog %d, want 4 and 146", s.Sent, s.Backlog)
		}
		var text strings.Builder
		_ = s.WriteText(&text)
		if !strings.Contains(text.String(), "backlog 146") {
			t.Errorf("summary does not report the backlog:\n%s", text.String())
		}
	})
}

func TestRun_ClosedLoopMeasuresFromActualSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := newFakeGateway()
		gw.delay = func(n int64) time.Duration {
			if n == 0 {
				return time.Second
			}
			return time.Millisecond
		}
		p := pipeServer(t, gw)
		s, err := Run(t.Context(), Options{
			Target: "http://gateway", Route: V1Route(), Client: p.Client, Dial: p.Dial,
			Count: 20, Concurrency: 1,
		}, sampleGen(t, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if s.P90 > 2*time.Millisecond || s.Max < time.Second {
			t.Errorf("closed loop p90 %v max %v, want ≈1ms and ≈1s", s.P90, s.Max)
		}
	})
}

func TestRun_SendsLabelsForTheRightShareAfterTheirDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := newFakeGateway()
		gw.delay = func(int64) time.Duration { return 2 * time.Millisecond }
		const n, rate = 2000, 0.7
		p := pipeServer(t, gw)
		s, err := Run(t.Context(), Options{
			Target: "http://gateway", Route: V1Route(), Client: p.Client, Dial: p.Dial,
			Rate: 200, Count: n, Concurrency: 8,
			Labels: true, LabelDelay: 30 * time.Second,
		}, sampleGen(t, 3, rate))
		if err != nil {
			t.Fatal(err)
		}
		// Which requests get a label is the generator's draw: replay it.
		want := 0
		replay := sampleGen(t, 3, rate)
		wantLabel := map[int]int{}
		for i := range n {
			r := replay.Next(1)
			if r.SendLabel {
				want++
				wantLabel[i] = r.Label
			}
		}
		if share := float64(want) / n; share < 0.65 || share > 0.75 {
			t.Errorf("generator marked %.3f of requests for labels, want ≈ %.1f", share, rate)
		}
		gw.mu.Lock()
		defer gw.mu.Unlock()
		if s.LabelsSent != int64(want) || len(gw.labels) != want {
			t.Fatalf("labels sent %d, server got %d, want %d", s.LabelsSent, len(gw.labels), want)
		}
		for id, at := range gw.labelAt {
			if early := gw.answered[id].Add(30 * time.Second).Sub(at); early > 0 {
				t.Fatalf("label for %s arrived %v before its 30s delay", id, early)
			}
			if late := at.Sub(gw.answered[id].Add(30 * time.Second)); late > 200*time.Millisecond {
				t.Fatalf("label for %s arrived %v after its due time", id, late)
			}
		}
		if gw.posts > n/10 {
			t.Errorf("%d feedback posts for %d labels: labels are not batched", gw.posts, want)
		}
		// Labels carry the sampled row's outcome: the fake ids are
		// assigned in arrival order, which with 8 workers is not sequence
		// order, so check the overall count of positives instead.
		var pos, wantPos int
		for _, l := range gw.labels {
			pos += l
		}
		for _, l := range wantLabel {
			wantPos += l
		}
		if pos != wantPos {
			t.Errorf("server got %d positive labels, want %d", pos, wantPos)
		}
	})
}

func TestRun_RetriesLabelsTheGatewayHasNotMatchedYet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The gateway stores requests asynchronously: a label that arrives
		// first is reported unmatched. Every third request is unmatched on
		// its first two tries; req-0 never matches.
		gw := newFakeGateway()
		gw.unmatched = func(id string, try int) bool {
			var n int
			fmt.Sscanf(id, "req-%d", &n)
			return n == 0 || (n%3 == 0 && try <= 2)
		}
		p := pipeServer(t, gw)
		s, err := Run(t.Context(), Options{
			Target: "http://gateway", Route: V1Route(), Client: p.Client, Dial: p.Dial,
			Count: 30, Concurrency: 1, Labels: true,
		}, sampleGen(t, 4, 1))
		if err != nil {
			t.Fatal(err)
		}
		if s.LabelsSent != 29 || s.LabelsUnmatched != 1 || len(gw.labels) != 29 {
			t.Errorf("labels sent %d unmatched %d, server kept %d; want 29, 1, 29", s.LabelsSent, s.LabelsUnmatched, len(gw.labels))
		}
		if got := gw.tries["req-0"]; got != maxLabelTries {
			t.Errorf("req-0 was sent %d times, want %d", got, maxLabelTries)
		}
		if got := gw.tries["req-3"]; got != 3 {
			t.Errorf("req-3 was sent %d times, want 3 (two unmatched, then accepted)", got)
		}
	})
}

func TestRun_EndToEndAgainstARealServerCountsRequestsAndErrors(t *testing.T) {
	gw := newFakeGateway()
	gw.status = func(n int64) int {
		if n%10 == 9 {
			return http.StatusServiceUnavailable
		}
		return 200
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	var progress strings.Builder
	s, err := Run(t.Context(), Options{
		Target: srv.URL, Route: V1Route(), Count: 300, Concurrency: 4,
		Labels: true, Progress: &progress, ProgressEvery: time.Millisecond,
	}, sampleGen(t, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := gw.predicts.Load(); got != 300 || s.Sent != 300 {
		t.Fatalf("server saw %d requests, summary says %d sent; want 300", got, s.Sent)
	}
	if s.OK != 270 || s.Errors["HTTP 503 (other)"] != 30 || s.Unavailable != 30 {
		t.Errorf("ok %d errors %v unavailable %d, want 270 ok and 30 HTTP 503 (other: the fake's 503 has no error body)", s.OK, s.Errors, s.Unavailable)
	}
	if s.LabelsSent != 270 {
		t.Errorf("labels sent %d, want 270 (every answered request, label rate 1)", s.LabelsSent)
	}
	if !strings.Contains(progress.String(), "sent 300") || !strings.HasSuffix(progress.String(), "\n") {
		t.Errorf("progress output %q lacks the final line", progress.String())
	}
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sent 300", "ok 270, errors 30", "HTTP 503", "p50", "p99", "labels sent 270"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
}

func TestRun_TransportErrorsAreCountedNotFatal(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	s, err := Run(t.Context(), Options{Target: url, Route: V1Route(), Count: 5, Concurrency: 1}, sampleGen(t, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent != 5 || s.OK != 0 || s.Errors["connection refused"] != 5 {
		t.Errorf("sent %d ok %d errors %v, want 5 connection refused", s.Sent, s.OK, s.Errors)
	}
}

func TestRun_CancelStopsAndReportsInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := newFakeGateway()
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		p := pipeServer(t, gw)
		s, err := Run(ctx, Options{
			Target: "http://gateway", Route: V1Route(), Client: p.Client, Dial: p.Dial,
			Rate: 100, Duration: time.Hour, Labels: true, LabelDelay: time.Minute,
		}, sampleGen(t, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !s.Interrupted || s.Sent < 40 || s.Sent > 60 {
			t.Errorf("interrupted %v sent %d, want true and ≈50", s.Interrupted, s.Sent)
		}
		if s.LabelsSent != 0 || s.LabelsUnsent != s.OK {
			t.Errorf("labels sent %d unsent %d, want 0 and %d (their delay never passed)", s.LabelsSent, s.LabelsUnsent, s.OK)
		}
	})
}

func TestRun_RejectsBadOptions(t *testing.T) {
	tests := []struct {
		opt  Options
		want string
	}{
		{Options{Route: V1Route(), Count: 1}, "target is empty"},
		{Options{Target: "http://x", Route: V1Route()}, "give exactly one of duration and count"},
		{Options{Target: "http://x", Route: V1Route(), Count: 1, Duration: time.Second}, "give exactly one of duration and count"},
		{Options{Target: "http://x", Route: V1Route(), Rate: 0.5, Duration: time.Second}, "less than one request"},
		{Options{Target: "http://x", Route: V1Route(), Count: 1, Rate: -1}, "rate must be > 0"},
	}
	for _, tt := range tests {
		_, err := Run(context.Background(), tt.opt, sampleGen(t, 1, 0))
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%+v) error = %v, want ErrBadOptions containing %q", tt.opt, err, tt.want)
		}
	}
	_ = io.Discard
}

// TestRun_503sAreCountedAsUnavailableByReason: the gateway's 503 body names
// the reason; the summary counts unavailable answers by it and the text
// report says which, with the Retry-After.
func TestRun_503sAreCountedAsUnavailableByReason(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		switch n.Add(1) % 3 {
		case 0:
			fmt.Fprint(w, `{"error":"no model answered in time","request_id":"x"}`)
		case 1:
			fmt.Fprint(w, `{"error":"overloaded: every model is at its in-flight cap"}`)
		default:
			fmt.Fprint(w, `{"error":"store: down"}`)
		}
	}))
	defer srv.Close()
	s, err := Run(t.Context(), Options{Target: srv.URL, Route: V1Route(), Count: 6, Concurrency: 1}, sampleGen(t, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{UnavailableNoModelInTime: 2, UnavailableOverload: 2, UnavailableOther: 2}
	if s.Unavailable != 6 || !maps.Equal(s.UnavailableReasons, want) || s.RetryAfter != "1" {
		t.Errorf("unavailable %d %v retry-after %q, want 6 %v 1", s.Unavailable, s.UnavailableReasons, s.RetryAfter, want)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"unavailable 6 (HTTP 503): no model in time 2, other 2, overload 2; Retry-After 1",
		"HTTP 503 (no model in time) 2",
		"first error: HTTP 503: overloaded: every model is at its in-flight cap (Retry-After 1)",
	} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), line) {
			t.Errorf("summary lacks %q:\n%s", line, b.String())
		}
	}
}
