package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Sentinel errors.
var (
	// ErrBadOptions wraps every problem with Options found by Run.
	ErrBadOptions = errors.New("bad options")
)

// MaxFeedbackBatch is the most labels sent in one POST /v1/feedback.
const MaxFeedbackBatch = 10000

// Options configures one run.
type Options struct {
	// Target is the gateway's base URL ("http://127.0.0.1:8080").
	Target string
	Route  Route
	// Rate > 0 runs open loop: request i is due at start + i/Rate whatever
	// happened to earlier requests, and its latency is measured from that
	// intended time, so a stalled server shows up in the latencies instead
	// of silently lowering the rate (no coordinated omission). Concurrency
	// then caps requests in flight (default 256).
	//
	// Rate == 0 runs closed loop: Concurrency workers (default 4) each send
	// the next request as soon as their previous one is answered, and
	// latency is measured from the actual send.
	Rate        float64
	Concurrency int
	// Exactly one of Duration and Count bounds the run.
	Duration time.Duration
	Count    int
	// Ramp grows drift from none at the start to full at the end.
	Ramp bool
	// Labels sends each request's outcome to /v1/feedback LabelDelay after
	// its answer, for the requests the generator marked (the label rate).
	Labels     bool
	LabelDelay time.Duration
	// Client sends feedback, and requests to an https:// target (default:
	// a keep-alive client sized for Concurrency). Requests to an http://
	// target go over one keep-alive HTTP/1.1 connection per worker, dialled
	// with Dial (default net.Dialer), which costs the machine far less CPU
	// per request than net/http's client.
	Client *http.Client
	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
	// Progress, when set, receives a one-line progress bar redrawn every
	// ProgressEvery (default 250 ms) and ended with a newline.
	Progress      io.Writer
	ProgressEvery time.Duration
}

func (o *Options) check() error {
	var errs []string
	if o.Target == "" {
		errs = append(errs, "target is empty")
	}
	if o.Route.Path == "" {
		errs = append(errs, "route has no path")
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Sprintf("rate must be > 0, got %v", o.Rate))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Sprintf("concurrency must be > 0, got %d", o.Concurrency))
	}
	switch {
	case (o.Duration > 0) == (o.Count > 0):
		errs = append(errs, "give exactly one of duration and count")
	case o.Rate > 0 && o.Duration > 0 && o.Rate*o.Duration.Seconds() < 1:
		errs = append(errs, "rate × duration is less than one request")
	}
	if o.LabelDelay < 0 {
		errs = append(errs, "label delay must be >= 0")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrBadOptions, strings.Join(errs, "; "))
	}
	return nil
}

// Summary is the outcome of a run.
type Summary struct {
	Mode       string         `json:"mode"`
	Target     string         `json:"target"`
	Path       string         `json:"path"`
	Elapsed    time.Duration  `json:"elapsed_ns"`
	Sent       int64          `json:"sent"`
	OK         int64          `json:"ok"`
	Errors     map[string]int `json:"errors,omitempty"`
	FirstError string         `json:"first_error,omitempty"`
	// Unavailable counts the 503 answers (no answer from the gateway), by
	// the reason its error body gave: "no model in time", "overload",
	// "other"; RetryAfter is the last Retry-After header seen on one.
	Unavailable        int64          `json:"unavailable"`
	UnavailableReasons map[string]int `json:"unavailable_reasons,omitempty"`
	RetryAfter         string         `json:"retry_after,omitempty"`
	Rate               float64        `json:"achieved_rate"`
	// Backlog counts the requests of an open-loop run that were due within
	// the duration but never sent, because every worker was still waiting
	// for the target when the duration ended: the target could not keep up
	// with the rate.
	Backlog int64         `json:"backlog,omitempty"`
	P50     time.Duration `json:"p50_ns"`
	P90     time.Duration `json:"p90_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
	Mean    time.Duration `json:"mean_ns"`
	// Labels says feedback was on; the Label* counts are meaningful then.
	Labels      bool   `json:"labels"`
	LabelsSent  int64  `json:"labels_sent"`
	LabelErrors int64  `json:"label_errors,omitempty"`
	LabelError  string `json:"label_error,omitempty"`
	// LabelsUnsent were due but never sent (interrupted run) or had no
	// request id to refer to.
	LabelsUnsent int64 `json:"labels_unsent,omitempty"`
	// LabelsUnmatched were still unknown to the gateway after every retry.
	LabelsUnmatched int64 `json:"labels_unmatched,omitempty"`
	Interrupted     bool  `json:"interrupted,omitempty"`
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s → %s%s", s.Mode, s.Target, s.Path)
	if s.Interrupted {
		b.WriteString(" (interrupted)")
	}
	fmt.Fprintf(&b, "\nsent %d in %s (%.1f/s), ok %d, errors %d\n", s.Sent, s.Elapsed.Round(time.Millisecond), s.Rate, s.OK, s.Sent-s.OK)
	if s.Backlog > 0 {
		fmt.Fprintf(&b, "backlog %d: requests due within the duration but not sent by its end (the target could not keep up)\n", s.Backlog)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
		fmt.Fprintf(&b, "  %-24s %d\n", k, s.Errors[k])
	}
	if s.Unavailable > 0 {
		fmt.Fprintf(&b, "unavailable %d (HTTP 503):", s.Unavailable)
		for i, k := range slices.Sorted(maps.Keys(s.UnavailableReasons)) {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s %s %d", sep, k, s.UnavailableReasons[k])
		}
		if s.RetryAfter != "" {
			fmt.Fprintf(&b, "; Retry-After %s", s.RetryAfter)
		}
		b.WriteString("\n")
	}
	if s.FirstError != "" {
		fmt.Fprintf(&b, "  first error: %s\n", s.FirstError)
	}
	fmt.Fprintf(&b, "latency p50 %s  p90 %s  p99 %s  max %s  mean %s\n",
		fmtDur(s.P50), fmtDur(s.P90), fmtDur(s.P99), fmtDur(s.Max), fmtDur(s.Mean))
	if !s.Labels {
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "labels sent %d", s.LabelsSent)
	if s.LabelErrors > 0 {
		fmt.Fprintf(&b, ", failed %d", s.LabelErrors)
	}
	if s.LabelsUnsent > 0 {
		fmt.Fprintf(&b, ", unsent %d", s.LabelsUnsent)
	}
	if s.LabelsUnmatched > 0 {
		fmt.Fprintf(&b, ", unmatched %d", s.LabelsUnmatched)
	}
	if s.LabelError != "" {
		fmt.Fprintf(&b, " (first error: %s)", s.LabelError)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}

// NewClient returns a keep-alive HTTP client that holds up to conns idle
// connections to the gateway, with a per-request timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        conns + 4,
			MaxIdleConnsPerHost: conns + 4,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// job is one request handed to a worker with the time it was due (zero in
// closed loop, where the worker measures from its own send).
type job struct {
	req      Request
	intended time.Time
}

// runner is the state of one Run.
type runner struct {
	opt    Options
	client *http.Client
	hist   Histogram
	sent   atomic.Int64
	ok     atomic.Int64
	mu     sync.Mutex
	errs   map[string]int
	first  string
	// unavail counts 503s by reason; retryAfter is the last Retry-After.
	unavail    map[string]int
	retryAfter string
	labels     *labeler
	// raw: requests go over per-worker h1Conns to addr (Host header host)
	// at path.
	raw              bool
	addr, host, path string
	dial             func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Run sends traffic from gen to opt.Target as opt says and returns what
// happened. Cancelling ctx stops sending; the summary then covers what was
// sent and says Interrupted. Requests are generated in one goroutine in
// sequence order, so a run with the same generator seed and Count sends the
// same inputs whatever the timing.
func Run(ctx context.Context, opt Options, gen *Generator) (*Summary, error) {
	r, workers, err := newRunner(opt)
	if err != nil {
		return nil, err
	}
	opt = r.opt
	start := time.Now()
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var hc *h1Conn
			if r.raw {
				hc = newH1Conn(r.dial, r.addr, r.host, opt.Timeout)
				defer hc.close()
			}
			for j := range jobs {
				r.do(ctx, j, hc)
			}
		})
	}
	labelsDone := make(chan struct{})
	workersDone := make(chan struct{})
	if r.labels != nil {
		go func() {
			r.labels.run(ctx, workersDone)
			close(labelsDone)
		}()
	} else {
		close(labelsDone)
	}
	stopProgress := r.startProgress(start)

	interrupted, backlog := r.dispatch(ctx, gen, jobs, start)
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	close(workersDone)
	<-labelsDone
	stopProgress()

	return r.summary(workers, elapsed, backlog, interrupted || ctx.Err() != nil), nil
}

// newRunner checks opt, fills its defaults and prepares the connections;
// it returns the number of workers.
func newRunner(opt Options) (*runner, int, error) {
	if err := opt.check(); err != nil {
		return nil, 0, err
	}
	workers := opt.Concurrency
	if workers == 0 {
		workers = 4
		if opt.Rate > 0 {
			workers = 256
		}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	client := opt.Client
	if client == nil {
		client = NewClient(workers, opt.Timeout)
	}
	r := &runner{opt: opt, client: client, errs: map[string]int{}, unavail: map[string]int{}}
	target, err := url.Parse(strings.TrimRight(opt.Target, "/"))
	if err != nil || target.Host == "" || (target.Scheme != "http" && target.Scheme != "https") {
		return nil, 0, fmt.Errorf("%w: target %q is not an http:// or https:// URL", ErrBadOptions, opt.Target)
	}
	if target.Scheme == "http" {
		r.raw = true
		r.host = target.Host
		r.addr = target.Host
		if target.Port() == "" {
			r.addr = net.JoinHostPort(target.Hostname(), "80")
		}
		r.path = target.Path + opt.Route.Path
		r.dial = opt.Dial
		if r.dial == nil {
			r.dial = (&net.Dialer{Timeout: opt.Timeout}).DialContext
		}
	}
	if opt.Labels {
		r.labels = newLabeler(client, strings.TrimRight(opt.Target, "/")+"/v1/feedback", opt.LabelDelay)
	}
	return r, workers, nil
}

// summary is what the run did.
func (r *runner) summary(workers int, elapsed time.Duration, backlog int, interrupted bool) *Summary {
	opt := r.opt
	s := &Summary{
		Mode:               r.mode(workers),
		Target:             strings.TrimRight(opt.Target, "/"),
		Path:               opt.Route.Path,
		Elapsed:            elapsed,
		Sent:               r.sent.Load(),
		OK:                 r.ok.Load(),
		Errors:             r.errs,
		FirstError:         r.first,
		UnavailableReasons: r.unavail,
		RetryAfter:         r.retryAfter,
		P50:                r.hist.Quantile(0.50),
		P90:                r.hist.Quantile(0.90),
		P99:                r.hist.Quantile(0.99),
		Max:                r.hist.Max(),
		Mean:               r.hist.Mean(),
		Backlog:            int64(backlog),
		Interrupted:        interrupted,
	}
	if elapsed > 0 {
		s.Rate = float64(s.Sent) / elapsed.Seconds()
	}
	if len(s.Errors) == 0 {
		s.Errors = nil
	}
	for _, n := range s.UnavailableReasons {
		s.Unavailable += int64(n)
	}
	if len(s.UnavailableReasons) == 0 {
		s.UnavailableReasons = nil
	}
	if r.labels != nil {
		r.labels.abandon()
		c := r.labels.counts()
		s.Labels = true
		s.LabelsSent, s.LabelErrors, s.LabelsUnsent, s.LabelsUnmatched, s.LabelError = c.sent, c.failed, c.unsent, c.unmatched, c.firstErr
	}
	return s
}

func (r *runner) mode(workers int) string {
	if r.opt.Rate > 0 {
		return fmt.Sprintf("open loop at %g/s (≤ %d in flight)", r.opt.Rate, workers)
	}
	return fmt.Sprintf("closed loop, %d concurrent", workers)
}

// total is the number of requests the run will send, or 0 when only the
// duration bounds it (closed loop).
func (r *runner) total() int {
	switch {
	case r.opt.Count > 0:
		return r.opt.Count
	case r.opt.Rate > 0:
		return int(r.opt.Rate * r.opt.Duration.Seconds())
	}
	return 0
}

// dispatch generates requests in order and hands them to the workers; in
// open loop it releases request i at start + i/rate. It reports whether ctx
// stopped it early and, for an open-loop run bounded by a duration, how many
// requests were due but still waiting for a free worker when the duration
// ended (the backlog of a target that could not keep up: they are not sent).
func (r *runner) dispatch(ctx context.Context, gen *Generator, jobs chan<- job, start time.Time) (interrupted bool, backlog int) {
	total := r.total()
	var interval time.Duration
	var endC <-chan time.Time
	if r.opt.Rate > 0 {
		interval = time.Duration(float64(time.Second) / r.opt.Rate)
		if r.opt.Duration > 0 {
			end := time.NewTimer(time.Until(start.Add(r.opt.Duration)))
			defer end.Stop()
			endC = end.C
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; total == 0 || i < total; i++ {
		var j job
		if interval > 0 {
			j.intended = start.Add(time.Duration(i) * interval)
			if wait := time.Until(j.intended); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return true, 0
				}
			}
		} else if total == 0 && time.Since(start) >= r.opt.Duration {
			return false, 0
		}
		t := 1.0
		if r.opt.Ramp {
			switch {
			case total > 1:
				t = float64(i) / float64(total-1)
			case total == 0:
				t = min(1, float64(time.Since(start))/float64(r.opt.Duration))
			}
		}
		j.req = gen.Next(t)
		select {
		case jobs <- j:
		case <-endC:
			return false, total - i
		case <-ctx.Done():
			return true, 0
		}
	}
	return false, 0
}

// do sends one request and records its outcome.
func (r *runner) do(ctx context.Context, j job, hc *h1Conn) {
	begin := j.intended
	if begin.IsZero() {
		begin = time.Now()
	}
	status, id, failure, err := r.post(ctx, j.req, hc)
	r.hist.Record(time.Since(begin))
	r.sent.Add(1)
	switch {
	case err != nil:
		r.fail(classify(err), err.Error())
	case status == http.StatusServiceUnavailable:
		r.unavailable(failure)
	case status < 200 || status > 299:
		r.fail(fmt.Sprintf("HTTP %d", status), "")
	default:
		r.ok.Add(1)
		if r.labels != nil && j.req.SendLabel {
			r.labels.add(id, j.req.Label)
		}
	}
}

// unavailable counts a 503 by the reason its body gives.
func (r *runner) unavailable(f failure) {
	category, detail := unavailableReason(f.body, f.retryAfter)
	r.fail(fmt.Sprintf("HTTP 503 (%s)", category), detail)
	r.mu.Lock()
	r.unavail[category]++
	if f.retryAfter != "" {
		r.retryAfter = f.retryAfter
	}
	r.mu.Unlock()
}

func (r *runner) fail(key, msg string) {
	r.mu.Lock()
	r.errs[key]++
	if r.first == "" {
		r.first = key
		if msg != "" {
			r.first = msg
		}
	}
	r.mu.Unlock()
}

// failure is what a non-2xx answer said: its body (valid until the
// worker's next request) and Retry-After header.
type failure struct {
	body       []byte
	retryAfter string
}

// post sends one request and returns the status and the request id the
// gateway assigned (X-Request-ID header, else "request_id" in the body),
// and for a non-2xx status the body and Retry-After. hc is the worker's
// connection (nil: use the http.Client).
func (r *runner) post(ctx context.Context, req Request, hc *h1Conn) (int, string, failure, error) {
	body, err := r.opt.Route.Body(req)
	if err != nil {
		return 0, "", failure{}, err
	}
	var (
		status int
		id     string
		data   []byte
		retry  string
	)
	if hc != nil {
		resp, err := hc.post(ctx, r.path, body)
		if err != nil {
			return 0, "", failure{}, fmt.Errorf("POST %s%s: %w", r.opt.Target, r.opt.Route.Path, err)
		}
		status, id, data, retry = resp.Status, resp.RequestID, resp.Body, resp.RetryAfter
	} else {
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.opt.Target, "/")+r.opt.Route.Path, bytes.NewReader(body))
		if err != nil {
			return 0, "", failure{}, err
		}
		hreq.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(hreq)
		if err != nil {
			return 0, "", failure{}, err
		}
		defer resp.Body.Close()
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxKeptBody))
		if err != nil {
			return 0, "", failure{}, fmt.Errorf("read response: %w", err)
		}
		status, id, retry = resp.StatusCode, resp.Header.Get("X-Request-ID"), resp.Header.Get("Retry-After")
	}
	if status/100 != 2 {
		return status, id, failure{body: data, retryAfter: retry}, nil
	}
	if id == "" {
		var v struct {
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(data, &v) == nil {
			id = v.RequestID
		}
	}
	return status, id, failure{}, nil
}

// classify names a transport error for the error counts.
func classify(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Client.Timeout"), isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, errMalformed):
		return "malformed response"
	}
	return "transport error"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// startProgress redraws the progress bar until the returned func is called.
func (r *runner) startProgress(start time.Time) (stop func()) {
	if r.opt.Progress == nil {
		return func() {}
	}
	every := r.opt.ProgressEvery
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.drawProgress(start, false)
			case <-done:
				r.drawProgress(start, true)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (r *runner) drawProgress(start time.Time, final bool) {
	elapsed := time.Since(start)
	sent, ok := r.sent.Load(), r.ok.Load()
	var frac float64
	if total := r.total(); total > 0 {
		frac = float64(sent) / float64(total)
	} else if r.opt.Duration > 0 {
		frac = float64(elapsed) / float64(r.opt.Duration)
	}
	frac = min(max(frac, 0), 1)
	const width = 24
	filled := int(frac * width)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(sent) / elapsed.Seconds()
	}
	line := fmt.Sprintf("\r[%s%s] %3.0f%%  sent %d  errors %d  %.0f/s ",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), frac*100, sent, sent-ok, rate)
	if r.labels != nil {
		line += fmt.Sprintf(" labels %d ", r.labels.counts().sent)
	}
	if final {
		line += "\n"
	}
	io.WriteString(r.opt.Progress, line)
}
