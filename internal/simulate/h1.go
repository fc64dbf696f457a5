package simulate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// maxKeptBody is the largest response body h1Conn keeps for the caller
// (longer bodies are read and discarded).
const maxKeptBody = 1 << 20

// errMalformed wraps every unparseable response.
var errMalformed = errors.New("malformed HTTP response")

// h1Conn is one keep-alive HTTP/1.1 connection owned by one worker. A
// request goes out in one write and the answer is parsed in place, with no
// goroutines of its own: net/http's client costs several times more CPU per
// request, which on a small machine is CPU taken from the gateway under
// test. It handles Content-Length, chunked and close-delimited bodies and
// "Connection: close". Not safe for concurrent use.
type h1Conn struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	addr    string // host:port to dial
	host    string // Host header
	timeout time.Duration

	c    net.Conn
	br   *bufio.Reader
	wbuf []byte
	body []byte
	used bool // the connection has served a request
}

func newH1Conn(dial func(ctx context.Context, network, addr string) (net.Conn, error), addr, host string, timeout time.Duration) *h1Conn {
	return &h1Conn{dial: dial, addr: addr, host: host, timeout: timeout}
}

// h1Response is what post returns. Body is only valid until the next post.
type h1Response struct {
	Status     int
	RequestID  string
	RetryAfter string
	Body       []byte
}

// post sends a JSON body to path. A request on a reused connection that
// fails before any byte of an answer arrives (the server closed the idle
// connection) is retried once on a new connection.
func (h *h1Conn) post(ctx context.Context, path string, body []byte) (h1Response, error) {
	for attempt := 0; ; attempt++ {
		if h.c == nil {
			c, err := h.dial(ctx, "tcp", h.addr)
			if err != nil {
				return h1Response{}, err
			}
			h.c, h.used = c, false
			if h.br == nil {
				h.br = bufio.NewReaderSize(c, 4096)
			} else {
				h.br.Reset(c)
			}
		}
		reused := h.used
		resp, answered, closeAfter, err := h.roundTrip(ctx, path, body)
		if err == nil {
			h.used = true
			if closeAfter {
				h.close()
			}
			return resp, nil
		}
		h.close()
		if ctx.Err() != nil {
			return h1Response{}, ctx.Err()
		}
		if reused && !answered && attempt == 0 {
			continue
		}
		return h1Response{}, err
	}
}

func (h *h1Conn) close() {
	if h.c != nil {
		_ = h.c.Close()
		h.c = nil
	}
}

// roundTrip writes one request and reads one response. answered reports
// whether any byte of the response arrived.
func (h *h1Conn) roundTrip(ctx context.Context, path string, body []byte) (resp h1Response, answered, closeAfter bool, err error) {
	deadline := time.Now().Add(h.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := h.c.SetDeadline(deadline); err != nil {
		return resp, false, false, err
	}
	c := h.c
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	w := h.wbuf[:0]
	w = append(w, "POST "...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, h.host...)
	w = append(w, "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	h.wbuf = w
	if _, err := c.Write(w); err != nil {
		return resp, false, false, err
	}

	// Status line; skip interim 1xx answers.
	for {
		line, err := h.readLine()
		if err != nil {
			return resp, answered || len(line) > 0, false, err
		}
		answered = true
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return resp, true, false, fmt.Errorf("%w: status line %q", errMalformed, trimCRLF(line))
		}
		resp.Status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return resp, true, false, fmt.Errorf("%w: status line %q", errMalformed, trimCRLF(line))
		}
		http10 := line[7] == '0'
		closeAfter = http10
		length, chunked := int64(-1), false
		for {
			line, err := h.readLine()
			if err != nil {
				return resp, true, false, err
			}
			line = trimCRLF(line)
			if len(line) == 0 {
				break
			}
			k, v, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return resp, true, false, fmt.Errorf("%w: header %q", errMalformed, line)
			}
			v = bytes.TrimSpace(v)
			switch {
			case asciiEqualFold(k, "content-length"):
				if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
					return resp, true, false, fmt.Errorf("%w: Content-Length %q", errMalformed, v)
				}
			case asciiEqualFold(k, "transfer-encoding"):
				chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
			case asciiEqualFold(k, "connection"):
				lv := bytes.ToLower(v)
				if bytes.Contains(lv, []byte("close")) {
					closeAfter = true
				} else if http10 && bytes.Contains(lv, []byte("keep-alive")) {
					closeAfter = false
				}
			case asciiEqualFold(k, "x-request-id"):
				resp.RequestID = string(v)
			case asciiEqualFold(k, "retry-after"):
				resp.RetryAfter = string(v)
			}
		}
		if resp.Status >= 100 && resp.Status < 200 {
			continue
		}
		switch {
		case resp.Status == 204 || resp.Status == 304:
			h.body = h.body[:0]
		case chunked:
			err = h.readChunked()
		case length >= 0:
			err = h.readN(length)
		default:
			// Delimited by the end of the connection.
			closeAfter = true
			err = h.readN(-1)
		}
		if err != nil {
			return resp, true, false, err
		}
		resp.Body = h.body
		return resp, true, closeAfter, nil
	}
}

// readLine returns the next line including its "\n"; lines longer than the
// buffer are an error. The slice is valid until the next read.
func (h *h1Conn) readLine() ([]byte, error) {
	line, err := h.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: line longer than %d bytes", errMalformed, h.br.Size())
	}
	return line, err
}

// readN reads n body bytes (n < 0: until EOF), keeping up to maxKeptBody.
func (h *h1Conn) readN(n int64) error {
	h.body = h.body[:0]
	var r io.Reader = h.br
	if n >= 0 {
		r = io.LimitReader(h.br, n)
	}
	buf := bytes.NewBuffer(h.body)
	got, err := buf.ReadFrom(io.LimitReader(r, maxKeptBody))
	h.body = buf.Bytes()
	if err != nil {
		return err
	}
	if n < 0 || n > maxKeptBody {
		rest, err := io.Copy(io.Discard, r)
		got += rest
		if err != nil {
			return err
		}
	}
	if n >= 0 && got != n {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// readChunked reads a chunked body and its trailers.
func (h *h1Conn) readChunked() error {
	var kept []byte
	for {
		line, err := h.readLine()
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(trimCRLF(line), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, trimCRLF(line))
		}
		if n == 0 {
			for { // trailers
				line, err := h.readLine()
				if err != nil {
					return err
				}
				if len(trimCRLF(line)) == 0 {
					h.body = kept
					return nil
				}
			}
		}
		if err := h.readN(n); err != nil {
			return err
		}
		if len(kept)+len(h.body) <= maxKeptBody {
			kept = append(kept, h.body...)
		}
		if line, err := h.readLine(); err != nil || len(trimCRLF(line)) != 0 {
			if err == nil {
				err = fmt.Errorf("%w: no CRLF after chunk", errMalformed)
			}
			return err
		}
	}
}

func trimCRLF(b []byte) []byte { return bytes.TrimRight(b, "\r\n") }

// asciiEqualFold reports whether b equals the lower-case ASCII s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
