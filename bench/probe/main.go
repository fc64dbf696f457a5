// Command probe is bench/overload.sh's second client: a closed loop of -c
// keep-alive connections POSTing one body for -d, recording every answer's
// latency by status class, so the latency of admitted (2xx) requests and of
// 503s can be told apart (wrk reports one latency for all answers), and
// whether every 503 carries Retry-After. It prints one line of
// "key=value" fields.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type result struct {
	ok, shed, other, errs, noRetryAfter int
	okLat, shedLat                      []time.Duration
}

func main() {
	url := flag.String("url", "", "target URL")
	conns := flag.Int("c", 16, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	body := flag.String("body", `{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}`, "request body")
	timeout := flag.Duration("timeout", 2*time.Second, "per-request timeout")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "probe: -url is required")
		os.Exit(2)
	}
	tr := &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		DialContext:        (&net.Dialer{Timeout: *timeout}).DialContext,
		DisableCompression: true,
	}
	client := &http.Client{Transport: tr, Timeout: *timeout}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	results := make([]result, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Add(1)
		go func(r *result) {
			defer wg.Done()
			b := []byte(*body)
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					r.errs++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				switch {
				case resp.StatusCode >= 200 && resp.StatusCode < 300:
					r.ok++
					r.okLat = append(r.okLat, lat)
				case resp.StatusCode == http.StatusServiceUnavailable:
					r.shed++
					r.shedLat = append(r.shedLat, lat)
					if resp.Header.Get("Retry-After") == "" {
						r.noRetryAfter++
					}
				default:
					r.other++
				}
			}
		}(&results[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all result
	for _, r := range results {
		all.ok += r.ok
		all.shed += r.shed
		all.other += r.other
		all.errs += r.errs
		all.noRetryAfter += r.noRetryAfter
		all.okLat = append(all.okLat, r.okLat...)
		all.shedLat = append(all.shedLat, r.shedLat...)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "seconds=%.1f ok=%d s503=%d other=%d errors=%d no_retry_after=%d", elapsed.Seconds(), all.ok, all.shed, all.other, all.errs, all.noRetryAfter)
	fmt.Fprintf(&sb, " ok_p50=%s ok_p99=%s ok_max=%s", pct(all.okLat, 50), pct(all.okLat, 99), pct(all.okLat, 100))
	fmt.Fprintf(&sb, " s503_p50=%s s503_p99=%s s503_max=%s", pct(all.shedLat, 50), pct(all.shedLat, 99), pct(all.shedLat, 100))
	fmt.Println(sb.String())
}

// pct is the p-th percentile in milliseconds ("-" for none).
func pct(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "-"
	}
	slices.Sort(d)
	i := int(float64(len(d))*p/100+0.5) - 1
	i = max(0, min(i, len(d)-1))
	return fmt.Sprintf("%.2f", float64(d[i])/1e6)
}
