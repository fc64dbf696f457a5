package simulate

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer answers each request read from a dialled pipe with the next
// canned raw response; a response ending in "\x00close" closes the
// connection after it is written (without saying so).
type rawServer struct {
	t     *testing.T
	mu    sync.Mutex
	resps []string
	reqs  []*http.Request
	bodys []string
	dials int
	// arrived, when set, receives each request; with no canned response
	// left the connection then stays open until hold is closed.
	arrived chan struct{}
	hold    chan struct{}
}

func (s *rawServer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	s.mu.Lock()
	s.dials++
	s.mu.Unlock()
	go func() {
		defer server.Close()
		br := bufio.NewReader(server)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			s.mu.Lock()
			s.reqs = append(s.reqs, req)
			s.bodys = append(s.bodys, string(body))
			if s.arrived != nil {
				s.arrived <- struct{}{}
			}
			if len(s.resps) == 0 {
				s.mu.Unlock()
				if s.hold != nil {
					<-s.hold
				}
				return
			}
			resp := s.resps[0]
			s.resps = s.resps[1:]
			s.mu.Unlock()
			raw, closeIt := strings.CutSuffix(resp, "\x00close")
			if _, err := io.WriteString(server, raw); err != nil || closeIt {
				return
			}
		}
	}()
	return client, nil
}

func TestH1Conn_ParsesEveryBodyFramingAndKeepsTheConnection(t *testing.T) {
	srv := &rawServer{t: t, resps: []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: r-1\r\nContent-Length: 13\r\n\r\n{\"ok\":\"yes\"}\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 422 Unprocessable Entity\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nX-Request-ID: r-3\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end\x00close",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
	}}
	hc := newH1Conn(srv.dial, "gw:80", "gw", time.Second)
	defer hc.close()
	want := []struct {
		status int
		id     string
		body   string
	}{
		{200, "r-1", "{\"ok\":\"yes\"}\n"},
		{422, "", "hello world"},
		{204, "r-3", ""},
		{200, "", "until the end"},
		{200, "", "{}"},
		{503, "", ""},
	}
	for i, w := range want {
		resp, err := hc.post(t.Context(), "/v1/predict", []byte(`{"n":1}`))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Status != w.status || resp.RequestID != w.id || string(resp.Body) != w.body {
			t.Errorf("request %d = %d %q %q, want %d %q %q", i, resp.Status, resp.RequestID, resp.Body, w.status, w.id, w.body)
		}
	}
	// One connection for the first four (the HTTP/1.0 answer ends its
	// connection), one for the fifth (Connection: close), one for the last.
	if srv.dials != 3 {
		t.Errorf("dialled %d times, want 3", srv.dials)
	}
	r := srv.reqs[0]
	if r.Method != "POST" || r.URL.Path != "/v1/predict" || r.Host != "gw" || r.Header.Get("Content-Type") != "application/json" || srv.bodys[0] != `{"n":1}` {
		t.Errorf("request as the server parsed it: %s %s host %q type %q body %q", r.Method, r.URL, r.Host, r.Header.Get("Content-Type"), srv.bodys[0])
	}
}

func TestH1Conn_RetriesOnceWhenTheServerClosedAnIdleConnection(t *testing.T) {
	srv := &rawServer{t: t, resps: []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na\x00close", // closes without a word
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
	}}
	hc := newH1Conn(srv.dial, "gw:80", "gw", time.Second)
	defer hc.close()
	for i, want := range []string{"a", "b"} {
		resp, err := hc.post(t.Context(), "/p", nil)
		if err != nil || string(resp.Body) != want {
			t.Fatalf("request %d = %q, %v; want %q", i, resp.Body, err, want)
		}
	}
	if srv.dials != 2 || len(srv.reqs) != 2 {
		t.Errorf("dials %d, requests served %d; want 2 and 2", srv.dials, len(srv.reqs))
	}
}

func TestH1Conn_RejectsMalformedAnswersAndHonoursCancel(t *testing.T) {
	for _, raw := range []string{
		"SPDY/3 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		srv := &rawServer{t: t, resps: []string{raw}}
		hc := newH1Conn(srv.dial, "gw:80", "gw", time.Second)
		_, err := hc.post(t.Context(), "/p", nil)
		if !errors.Is(err, errMalformed) {
			t.Errorf("answer %q: error %v, want errMalformed", raw, err)
		}
		hc.close()
	}
	srv := &rawServer{t: t, arrived: make(chan struct{}, 1), hold: make(chan struct{})} // never answers
	defer close(srv.hold)
	hc := newH1Conn(srv.dial, "gw:80", "gw", time.Minute)
	defer hc.close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-srv.arrived
		cancel()
	}()
	if _, err := hc.post(ctx, "/p", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled post: error %v, want context.Canceled", err)
	}
}
