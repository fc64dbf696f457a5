package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one wrk run (with --latency) reports.
type WrkResult struct {
	Requests    int64
	Duration    time.Duration
	RPS         float64
	P50, P75    time.Duration
	P90, P99    time.Duration
	Non2xx      int64
	SocketErrs  int64
	Connections int
}

// ErrNotWrk is returned for input that lacks wrk's summary lines.
var ErrNotWrk = errors.New("not wrk output")

// ParseWrk reads wrk's text output. It needs the "N requests in T" and
// "Requests/sec:" lines and the latency distribution printed by --latency.
func ParseWrk(r io.Reader) (WrkResult, error) {
	var w WrkResult
	var haveReq, haveRPS, haveDist bool
	sc := bufio.NewScanner(r)
	inDist := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Latency Distribution"):
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return w, fmt.Errorf("latency %s: %w", f[0], err)
			}
			switch f[0] {
			case "50%":
				w.P50, haveDist = d, true
			case "75%":
				w.P75 = d
			case "90%":
				w.P90 = d
			case "99%":
				w.P99 = d
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return w, fmt.Errorf("requests %q: %w", f[0], err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return w, fmt.Errorf("duration: %w", err)
			}
			w.Requests, w.Duration, haveReq = n, d, true
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return w, fmt.Errorf("requests/sec %q: %w", f[1], err)
			}
			w.RPS, haveRPS = v, true
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				return w, fmt.Errorf("non-2xx %q: %w", f[4], err)
			}
			w.Non2xx = n
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 51
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return w, fmt.Errorf("socket errors %q: %w", line, err)
				}
				w.SocketErrs += n
			}
		case len(f) == 5 && f[1] == "threads" && f[2] == "and" && f[4] == "connections":
			c, err := strconv.Atoi(f[3])
			if err == nil {
				w.Connections = c
			}
		}
	}
	if err := sc.Err(); err != nil {
		return w, err
	}
	if !haveReq || !haveRPS || !haveDist {
		return w, fmt.Errorf("%w: missing the requests, Requests/sec or latency distribution (run wrk with --latency)", ErrNotWrk)
	}
	return w, nil
}

// parseWrkDuration parses wrk's latency units: us, ms, s, m, h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"h", time.Hour}, {"s", time.Second}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("bad duration %q", s)
}
