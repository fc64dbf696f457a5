package durability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/storeall"
)

// binary is the rendezvous binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rdv-durability-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rendezvous")
	build := exec.Command("go", "build", "-o", binary, "github.com/rendezvous-gw/rendezvous/cmd/rendezvous")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rendezvous:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// workspace writes the embedded example (`rendezvous init DIR`: the
// configuration and its model bundles) to a temporary directory and edits
// the configuration: recorder.durability and any other "key: value" lines
// given (every line with that key; a "section.key" is added under the
// top-level section). The SQLite store and its spool
// stay in the directory (sqlite://./rendezvous.db resolves against it).
func workspace(t *testing.T, durability string, edits map[string]string) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	if out, err := exec.Command(binary, "init", dir).CombinedOutput(); err != nil {
		t.Fatalf("rendezvous init: %v\n%s", err, out)
	}
	cfgPath = filepath.Join(dir, "rendezvous.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if edits == nil {
		edits = map[string]string{}
	}
	edits["durability"] = durability
	if _, ok := edits["url"]; !ok {
		edits["url"] = sqliteURL(dir) // the store URL resolves against the working directory, not the file
	}
	done := map[string]bool{}
	for i, l := range lines {
		key, _, ok := strings.Cut(strings.TrimSpace(l), ":")
		if v, want := edits[key]; ok && want {
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			lines[i] = indent + key + ": " + v
			done[key] = true
		}
	}
	// "section.key" adds a line under the top-level section.
	for k, v := range edits {
		section, key, ok := strings.Cut(k, ".")
		if !ok {
			continue
		}
		for i, l := range lines {
			if l == section+":" {
				lines = append(lines[:i+1], append([]string{"  " + key + ": " + v}, lines[i+1:]...)...)
				done[k] = true
				break
			}
		}
	}
	for k := range edits {
		if !done[k] {
			t.Fatalf("configuration has no %q line to edit", k)
		}
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gateway is one running `rendezvous serve` process.
type gateway struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	url  string
	log  *os.File
	done chan struct{}
	err  error
}

// startGateway runs `rendezvous serve --config cfgPath` on a free loopback
// port (plus extra flags) and waits until /readyz answers 200. Its log goes
// to a file in the test's temporary directory, printed when the test fails.
// The process is killed at the end of the test if still running.
func startGateway(t *testing.T, cfgPath string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, addr: freePort(t), done: make(chan struct{})}
	g.url = "http://" + g.addr
	var err error
	g.log, err = os.CreateTemp(t.TempDir(), "gateway-*.log")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--config", cfgPath, "--addr", g.addr}, extra...)
	g.cmd = exec.Command(binary, args...)
	g.cmd.Dir = filepath.Dir(cfgPath)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.err = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.kill9()
		if t.Failed() {
			g.dumpLog(60)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-g.done:
			g.dumpLog(60)
			t.Fatalf("gateway exited at start: %v", g.err)
		default:
		}
		resp, err := http.Get(g.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		if time.Now().After(deadline) {
			g.dumpLog(60)
			t.Fatalf("gateway not ready after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pid is the gateway's process id.
func (g *gateway) pid() int { return g.cmd.Process.Pid }

// kill9 sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill9() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
}

// stop sends SIGTERM (a graceful shutdown: the recorder flushes) and waits
// for the exit; a non-zero exit fails the test.
func (g *gateway) stop() {
	g.t.Helper()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(60 * time.Second):
		g.kill9()
		g.t.Fatal("gateway did not stop within 60 s of SIGTERM")
	}
	if g.err != nil {
		g.dumpLog(40)
		g.t.Errorf("gateway exit: %v", g.err)
	}
}

// dumpLog logs the last n lines of the gateway's log.
func (g *gateway) dumpLog(n int) {
	data, _ := os.ReadFile(g.log.Name())
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	g.t.Logf("gateway log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}

// rssKB reads VmRSS of the gateway process in KiB (0 once it is gone).
func (g *gateway) rssKB() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", g.pid()))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// readiness is /readyz's body.
type readiness struct {
	Status     string            `json:"status"`
	Reasons    []string          `json:"reasons"`
	Components map[string]string `json:"components"`
}

// ready GETs /readyz?verbose: its status code and body.
func (g *gateway) ready() (int, readiness, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(g.url + "/readyz?verbose")
	if err != nil {
		return 0, readiness{}, err
	}
	defer resp.Body.Close()
	var r readiness
	err = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r, err
}

// waitDrained waits until the recorder has nothing left in its spool and
// the store answers (/readyz?verbose: store ok, recorder not spooling), and
// returns how long that took.
func (g *gateway) waitDrained(within time.Duration) time.Duration {
	g.t.Helper()
	start := time.Now()
	var last readiness
	for time.Since(start) < within {
		code, r, err := g.ready()
		if err == nil && code == 200 && r.Components["store"] == "ok" && !strings.Contains(r.Components["recorder"], "spooling") {
			return time.Since(start)
		}
		last = r
		time.Sleep(100 * time.Millisecond)
	}
	g.t.Fatalf("spool not drained within %s: last /readyz?verbose components %v", within, last.Components)
	return 0
}

// storedIDs reads every record id in the store at url (the gateway must be
// stopped, or at least done writing), with how many times each is stored.
func storedIDs(t *testing.T, url string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := storeall.Open(ctx, url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer s.Close()
	got := map[string]int{}
	if err := s.ScanRecords(ctx, store.ScanParams{}, func(r *record.Record) error { got[r.ID]++; return nil }); err != nil {
		t.Fatalf("scan store: %v", err)
	}
	return got
}

// tally compares the answered-200 requests with the ids stored: those not
// stored (in ok's order) and how many are stored more than once.
func tally(ok []answer, stored map[string]int) (missing []answer, dup int) {
	for _, a := range ok {
		switch stored[a.id] {
		case 0:
			missing = append(missing, a)
		case 1:
		default:
			dup++
		}
	}
	return missing, dup
}

// sqliteURL is the URL of the example's SQLite file in dir.
func sqliteURL(dir string) string { return "sqlite://" + filepath.Join(dir, "rendezvous.db") }

// answer is one request answered 200, with when the answer arrived.
type answer struct {
	id string
	at time.Time
}

// load drives POST /v1/predict with valid single instances from workers
// goroutines: closed loop when rate is 0, else open loop at rate requests/s
// in all (each worker on its own schedule; a late worker sends at once, so
// the rate is kept while the server keeps up). With clientIDs each request
// carries X-Request-ID prefix-N; without, the gateway's id is read from the
// answer's X-Request-ID header. Only answers read whole with status 200
// count as answered.
type load struct {
	url       string
	prefix    string
	clientIDs bool
	rate      float64
	workers   int

	stopc chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	ok       []answer
	statuses map[int]int // non-200 answers by status
	badAt    []time.Time // when each non-200 answer arrived
	badBody  string      // the last non-200 answer's body
	errs     int         // transport errors (refused, reset, timeout)
	lastErr  string
	next     int
}

var bodies = []string{
	`{"entity_id":"892","input":{"pclass":3,"sex":"male","age":34.5,"sibsp":0,"parch":0,"fare":7.83,"embarked":"Q"}}`,
	`{"entity_id":"893","input":{"pclass":3,"sex":"female","age":47,"sibsp":1,"parch":0,"fare":7,"embarked":"S"}}`,
	`{"entity_id":"894","input":{"pclass":2,"sex":"male","age":62,"sibsp":0,"parch":0,"fare":9.69,"embarked":"Q"}}`,
	`{"entity_id":"895","input":{"pclass":1,"sex":"female","age":27,"sibsp":1,"parch":0,"fare":70,"embarked":"C"}}`,
}

func startLoad(url, prefix string, clientIDs bool, rate float64, workers int) *load {
	l := &load{url: url, prefix: prefix, clientIDs: clientIDs, rate: rate, workers: workers,
		stopc: make(chan struct{}), statuses: map[int]int{}}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for w := range workers {
		l.wg.Go(func() { l.worker(client, w) })
	}
	return l
}

func (l *load) worker(c *http.Client, w int) {
	var interval time.Duration
	next := time.Now()
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(l.workers) / l.rate)
		next = next.Add(interval * time.Duration(w) / time.Duration(l.workers))
	}
	for {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				select {
				case <-l.stopc:
					return
				case <-time.After(d):
				}
			}
			next = next.Add(interval)
		}
		select {
		case <-l.stopc:
			return
		default:
		}
		l.mu.Lock()
		l.next++
		n := l.next
		l.mu.Unlock()
		l.one(c, n)
	}
}

func (l *load) one(c *http.Client, n int) {
	req, _ := http.NewRequest(http.MethodPost, l.url+"/v1/predict", strings.NewReader(bodies[n%len(bodies)]))
	req.Header.Set("Content-Type", "application/json")
	if l.clientIDs {
		req.Header.Set("X-Request-ID", fmt.Sprintf("%s-%d", l.prefix, n))
	}
	resp, err := c.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	at := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.errs++
		l.lastErr = err.Error()
		time.Sleep(time.Millisecond) // the server is gone: do not spin
	case resp.StatusCode == http.StatusOK:
		l.ok = append(l.ok, answer{id: resp.Header.Get("X-Request-ID"), at: at})
	default:
		l.statuses[resp.StatusCode]++
		l.badAt = append(l.badAt, at)
		l.badBody = string(body)
	}
}

// stop ends the load and waits for requests in flight.
func (l *load) stop() {
	close(l.stopc)
	l.wg.Wait()
}

// snapshot returns the answers so far and the non-200 count.
func (l *load) snapshot() (ok []answer, non200, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.statuses {
		non200 += n
	}
	return append([]answer(nil), l.ok...), non200, l.errs
}

// needLong skips a slow test under -short.
func needLong(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping " + what)
	}
}

// metric sums the samples of a Prometheus metric family on /metrics (every
// label set), or returns -1 when it is not there.
func (g *gateway) metric(name string) float64 {
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}
