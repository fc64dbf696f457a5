package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/api/insight"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
	"github.com/rendezvous-gw/rendezvous/internal/web"
)

// ageShift is the drift injected into the second half of the traffic.
const ageShift = 15

// hostileEntity is an entity id that would run script if it were ever put
// into the page unescaped.
const hostileEntity = `<img src=x onerror="document.title='pwned'">`

// testGateway is a real gateway in-process: the embedded Titanic configuration,
// its three bundles, the rendezvous router, a recorder over a SQLite file,
// the insight routes and the dashboard.
type testGateway struct {
	url   string
	cfg   *config.Config
	store *sqlite.Store
	gw    *gateway.Gateway
	rec   *record.Recorder
	mon   *monitor.Monitor
	dash  *web.Dashboard
	ref   model.ReferenceSample
	// hostileID is the request sent with hostileEntity.
	hostileID string
}

// startGateway assembles the server the way `rendezvous serve` does, with a
// clock that spreads received_at over the 50 minutes before now (one tick
// per request), so the page has several time buckets.
func startGateway(t *testing.T) *testGateway {
	t.Helper()
	ctx := context.Background()
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	// Raised deadlines: a stall of the shared test machine must not turn
	// answers into timeouts (the router's own tests cover deadlines).
	for i := range cfg.Models {
		cfg.Models[i].Deadline = 5 * time.Second
	}
	cfg.Policy.OverallDeadline = 10 * time.Second
	val, err := cfg.Validator()
	if err != nil {
		t.Fatal(err)
	}
	g := &testGateway{cfg: cfg}
	var members []rendezvous.Member
	var models []monitor.Model
	for _, mc := range cfg.Models {
		data, err := cfg.ReadBundle(mc.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.LoadBytes(mc.Bundle, data)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, rendezvous.Member{Name: mc.Name, Role: mc.Role, Model: b, Deadline: mc.Deadline, MaxInFlight: mc.MaxInFlight})
		models = append(models, monitor.Model{Name: mc.Name, Role: mc.Role, Bundle: b})
		if mc.Role == model.RoleProduction {
			g.ref = b.Profile.ReferenceSample
		}
	}
	dep, err := gateway.NewDeployment(gateway.DeploymentParams{Members: members, Validator: val, Words: cfg.Labels.Words,
		EntityField: cfg.Schema.EntityField,
		Policy:      rendezvous.Policy{Fallback: cfg.Policy.Fallback, OverallDeadline: cfg.Policy.OverallDeadline}})
	if err != nil {
		t.Fatal(err)
	}
	g.store, err = sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "dash.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.store.Close() })
	g.rec = record.NewRecorder(g.store, record.RecorderOptions{FlushInterval: 10 * time.Millisecond})
	var fields []string
	for _, f := range cfg.Schema.Fields {
		fields = append(fields, f.Name)
	}
	g.mon, err = monitor.New(monitor.Params{Store: g.store, Models: models, Fields: fields, MinLabelledPairs: cfg.Analysis.MinLabelledPairs})
	if err != nil {
		t.Fatal(err)
	}
	g.dash, err = web.New(web.Params{Monitor: g.mon, Store: g.store, Fields: fields, Labels: cfg.Labels.Words})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-50 * time.Minute)
	step := 50 * time.Minute / time.Duration(len(g.ref.Rows)+2)
	var tick atomic.Int64
	extra := append(insight.Routes(insight.Params{Monitor: g.mon, Feedback: feedback.New(g.store, nil, cfg.Labels.Words, nil), Export: g.store}), g.dash.Routes()...)
	g.gw, err = gateway.New(gateway.Params{Deployment: dep, Recorder: g.rec, Store: g.store, Events: g.store,
		Now: func() time.Time { return start.Add(time.Duration(tick.Add(1)) * step) }})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Params{Config: cfg, Gateway: g.gw, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

// promoteAndRollBack promotes dev-logreg through the API (forced: no gate
// is configured) and rolls back, after the traffic, so the deployment
// history has two events inside the window and the figures are unchanged.
func (g *testGateway) promoteAndRollBack(t *testing.T) {
	t.Helper()
	for _, c := range []struct{ path, body string }{
		{"/v1/models/dev-logreg/promote", `{"force": true, "reason": "browser test"}`},
		{"/v1/rollback", `{"reason": "undo the browser test"}`},
	} {
		resp, err := http.Post(g.url+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d", c.path, resp.StatusCode)
		}
	}
}

// sendTraffic replays the production bundle's 891 reference rows through
// POST /v1/predict in order, the second half with age + 15 years, plus one
// request with a hostile entity id; then it waits for late results, flushes
// the recorder and posts every request's true label to /v1/feedback.
func (g *testGateway) sendTraffic(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	type answer struct {
		RequestID string `json:"request_id"`
	}
	post := func(path string, body any) []byte {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(g.url+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out.String())
		}
		return out.Bytes()
	}
	rows := g.ref.Rows
	var items []map[string]any
	for i, in := range rows {
		in2 := schema.Input{}
		for k, v := range in {
			if v != nil {
				in2[k] = v
			}
		}
		if age, ok := in2["age"].(float64); ok && i >= len(rows)/2 {
			in2["age"] = min(age+ageShift, 120)
		}
		entity := g.ref.IDs[i]
		if i == 3 {
			entity = hostileEntity
		}
		var a answer
		if err := json.Unmarshal(post("/v1/predict", map[string]any{"entity_id": entity, "input": in2}), &a); err != nil {
			t.Fatal(err)
		}
		items = append(items, map[string]any{"request_id": a.RequestID, "label": g.ref.Labels[i]})
		if i == 3 {
			g.hostileID = a.RequestID
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := g.gw.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	if err := g.rec.Close(wctx); err != nil {
		t.Fatal(err)
	}
	var res struct{ Labelled int }
	if err := json.Unmarshal(post("/v1/feedback", map[string]any{"feedback": items}), &res); err != nil {
		t.Fatal(err)
	}
	if res.Labelled != len(rows) {
		t.Fatalf("feedback labelled %d requests, want %d", res.Labelled, len(rows))
	}
}

// chromium returns the browser's path, or skips (fails in CI) without one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: the browser test needs it in CI (apt-get install chromium)")
	}
	t.Skip("chromium not found; install it with `apt-get install chromium` to run the browser test")
	return ""
}

// browser starts headless chromium with a fresh profile and collects every
// console message of the tab.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
	done chan struct{}
	stop context.CancelFunc
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx, done: make(chan struct{})}
	if err := chromedp.Do(ctx); err != nil { // start the browser and the tab
		t.Fatalf("start chromium: %v", err)
	}
	cctx, stop := context.WithCancel(ctx)
	b.stop = stop
	msgs := chromedp.Console(cctx)
	go func() {
		defer close(b.done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// errors returns the console errors and exceptions so far.
func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msgs {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
		}
	}
	return out
}

func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// chartInfo is what the page says about one chart.
type chartInfo struct {
	ID     string `json:"id"`
	Empty  string `json:"empty"`
	Points int    `json:"points"`
	Shapes int    `json:"shapes"`
	Title  string `json:"title"`
	XLabel string `json:"xlabel"`
	YLabel string `json:"ylabel"`
}

const chartsJS = `Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const labels = f.querySelectorAll('svg.plot .axis-label');
  return {id: f.id, empty: f.dataset.empty, points: +f.dataset.points,
    shapes: f.querySelectorAll('svg.plot .data rect, svg.plot .data polyline').length,
    title: (f.querySelector('svg.plot title') || {}).textContent || '',
    xlabel: labels[0] ? labels[0].textContent : '', ylabel: labels[1] ? labels[1].textContent : ''};
})`

// figures are the numbers the page and the report must agree on.
const figuresJS = `({
  requests: document.getElementById('kpi-requests').textContent.trim(),
  labelled: document.getElementById('kpi-labelled').textContent.trim(),
  drifted: document.getElementById('kpi-drifted').textContent.trim(),
  models: Array.from(document.querySelectorAll('table.models tbody tr')).map(r => r.textContent.replace(/\s+/g, ' ').trim()),
  drift: Array.from(document.querySelectorAll('article.drift')).map(a => a.id + '=' + a.dataset.drifted + ':' + a.querySelector('.score').textContent),
  charts: Array.from(document.querySelectorAll('figure.chart')).map(f => f.id + ':' + f.dataset.points)
})`

type figures struct {
	Requests string   `json:"requests"`
	Labelled string   `json:"labelled"`
	Drifted  string   `json:"drifted"`
	Models   []string `json:"models"`
	Drift    []string `json:"drift"`
	Charts   []string `json:"charts"`
}

// screenshotDir is where screenshots go: $SCREENSHOT_DIR, else the test's
// temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// screenshot saves the whole page (full) or the viewport as a PNG.
func (b *browser) screenshot(t *testing.T, dir, name string, full bool) {
	t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// TestDashboard_InBrowserShowsDriftedAgeModelsTrendsAndRecords drives real
// headless chromium against a real gateway: 891 Titanic requests (the
// second half with age shifted by +15 years) and their labels, then the
// dashboard at 1280×800 and 390×844 and the self-contained report file.
func TestDashboard_InBrowserShowsDriftedAgeModelsTrendsAndRecords(t *testing.T) {
	b := newBrowser(t)
	g := startGateway(t)
	g.sendTraffic(t)
	g.promoteAndRollBack(t)
	shots := screenshotDir(t)

	b.do(t, "load the dashboard",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(g.url+"/?range=all&refresh=0"),
		chromedp.WaitVisible("#models"),
	)

	// Every chart is drawn, from data, with a title and labelled axes.
	charts := eval[[]chartInfo](t, b, chartsJS)
	if len(charts) < 4+7+3 { // 4 over time, 7 inputs, 3 predictions
		t.Fatalf("%d charts on the page, want at least 14: %+v", len(charts), charts)
	}
	for _, c := range charts {
		if c.Empty != "false" || c.Points <= 0 || c.Shapes == 0 || c.Title == "" || c.XLabel == "" || c.YLabel == "" {
			t.Errorf("chart %s not drawn from data: %+v", c.ID, c)
		}
	}

	// The shifted field is marked drifted; unshifted ones are not.
	for col, want := range map[string]string{"age": "true", "sex": "false", "pclass": "false"} {
		got := eval[string](t, b, fmt.Sprintf(`document.getElementById('drift-%s').dataset.drifted`, col))
		if got != want {
			t.Errorf("drift-%s data-drifted = %s, want %s", col, got, want)
		}
	}
	badge := eval[string](t, b, `document.querySelector('#drift-age .badge').textContent`)
	if !strings.Contains(badge, "drifted") {
		t.Errorf("age badge %q does not say drifted", badge)
	}

	// The models table has every model with a measured accuracy and a
	// verdict for the non-production ones.
	page := eval[figures](t, b, figuresJS)
	if page.Requests != "891" || page.Labelled != "891" {
		t.Errorf("requests %s labelled %s, want 891 and 891", page.Requests, page.Labelled)
	}
	if len(page.Models) != 3 {
		t.Fatalf("models table rows: %q", page.Models)
	}
	for _, row := range page.Models {
		if !strings.Contains(row, "n=891") {
			t.Errorf("model row without a measured accuracy on 891 labels: %q", row)
		}
	}
	verdicts := eval[int](t, b, `document.querySelectorAll('table.models .verdict').length`)
	if verdicts != 2 {
		t.Errorf("%d verdicts, want 2 (canary and challenger)", verdicts)
	}

	// The promotion and the rollback are marked on every time chart and
	// listed in the deployment changes panel.
	for _, id := range []string{"c-requests", "c-accuracy", "c-drift", "c-latency"} {
		if n := eval[int](t, b, fmt.Sprintf(`document.querySelectorAll('#%s .event-mark').length`, id)); n != 2 {
			t.Errorf("chart %s shows %d deployment event marks, want 2", id, n)
		}
	}
	rows := eval[[]string](t, b, `[...document.querySelectorAll('#deployments tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ').trim())`)
	if len(rows) != 2 || !strings.Contains(rows[0], "rollback") || !strings.Contains(rows[1], "promote") ||
		!strings.Contains(rows[1], "forced") || !strings.Contains(rows[1], "browser test") {
		t.Errorf("deployment changes panel rows = %q, want the rollback then the forced promotion", rows)
	}
	b.screenshot(t, shots, "dashboard-1280x800.png", true)

	// A hostile entity id is shown as text on its record page, never run.
	b.do(t, "open the hostile request's page", chromedp.Navigate(g.url+"/ui/requests/"+g.hostileID), chromedp.WaitVisible(".record"))
	if title := eval[string](t, b, `document.title`); strings.Contains(title, "pwned") {
		t.Fatal("an entity id ran as script")
	}
	if n := eval[int](t, b, `document.querySelectorAll('.record img').length`); n != 0 {
		t.Fatalf("%d <img> elements in the record: an entity id became markup", n)
	}
	if got := eval[string](t, b, `document.querySelector('.record .meta div:nth-child(4) dd').textContent`); got != hostileEntity {
		t.Errorf("entity shown as %q, want the id as text %q", got, hostileEntity)
	}
	b.do(t, "back to the dashboard", chromedp.Navigate(g.url+"/?range=all&refresh=0"), chromedp.WaitVisible("#models"))

	// Opening a request shows its full record in the dialog.
	id := eval[string](t, b, `document.querySelector('table.recent a.record-link').dataset.id`)
	b.do(t, "open a request",
		chromedp.Click("table.recent a.record-link"),
		chromedp.WaitVisible("#record-dialog .record"),
	)
	rec := eval[string](t, b, `document.querySelector('#record-dialog .record').textContent`)
	for _, want := range []string{id, "Transformed features", "prod-gbt", "canary-rule", "dev-logreg", "served by", "Ground truth", "pclass", "age"} {
		if !strings.Contains(rec, want) {
			t.Errorf("opened record lacks %q", want)
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll('#record-dialog table.features').length`); n != 3 {
		t.Errorf("%d feature tables in the record, want 3", n)
	}
	if !strings.Contains(eval[string](t, b, `location.search`), "request="+id) {
		t.Error("the open request is not kept in the URL")
	}
	b.screenshot(t, shots, "record-1280x800.png", false)
	b.do(t, "close the request", chromedp.Click("#record-dialog button[value=close]"), chromedp.WaitNotVisible("#record-dialog"))

	// The time range selector keeps its state in the query string.
	if _, err := chromedp.RunResponse(b.ctx,
		// SetValue fires the change event; the page's script submits.
		chromedp.SetValue("select[name=range]", "1h"),
	); err != nil {
		t.Fatalf("choose the last hour: %v", err)
	}
	b.do(t, "wait for the last hour", chromedp.WaitVisible("#models"))
	if s := eval[string](t, b, `location.search`); !strings.Contains(s, "range=1h") || !strings.Contains(s, "refresh=0") {
		t.Errorf("query after choosing the last hour = %q, want range=1h and refresh=0 kept", s)
	}
	if v := eval[string](t, b, `document.querySelector('select[name=range]').value`); v != "1h" {
		t.Errorf("range select after reload = %q, want 1h", v)
	}
	if n := eval[string](t, b, `document.getElementById('kpi-requests').textContent.trim()`); n != "891" {
		t.Errorf("last hour shows %s requests, want all 891 (sent over the last 50 minutes)", n)
	}

	// Auto-refresh swaps the content in place and keeps the page's state:
	// the query string, the selects and the scroll position.
	b.do(t, "load with auto-refresh",
		chromedp.Navigate(g.url+"/?range=all&refresh=5"),
		chromedp.WaitVisible("#models"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('timeline').scrollIntoView()`),
	)
	scrollY := eval[int](t, b, `Math.round(window.scrollY)`)
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById('refresh-status').textContent.startsWith('updated')`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("auto-refresh never updated the page: %v", err)
	}
	if s := eval[string](t, b, `location.search + ' ' + document.querySelector('select[name=range]').value + ' ' + document.querySelector('select[name=refresh]').value`); s != "?range=all&refresh=5 all 5" {
		t.Errorf("state after auto-refresh = %q", s)
	}
	if y := eval[int](t, b, `Math.round(window.scrollY)`); y != scrollY {
		t.Errorf("scroll position %d after auto-refresh, was %d", y, scrollY)
	}
	if n := eval[int](t, b, `document.querySelectorAll('#main figure.chart[data-empty=false]').length`); n != len(charts) {
		t.Errorf("%d charts after auto-refresh, want %d", n, len(charts))
	}

	// Phone size: readable, nothing wider than the screen but the tables'
	// own scroll boxes.
	b.do(t, "load the dashboard at phone size",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(g.url+"/?range=all&refresh=0"),
		chromedp.WaitVisible("#models"),
	)
	if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("page is %dpx wide at a 390px viewport", w)
	}
	b.screenshot(t, shots, "dashboard-390x844.png", true)

	// The report file opens on its own with the same figures.
	var html bytes.Buffer
	if err := g.dash.WriteReport(context.Background(), &html, monitor.Window{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(html.Bytes(), []byte(`src="http`)) || bytes.Contains(html.Bytes(), []byte(`href="http`)) {
		t.Error("the report references an external resource")
	}
	reportPath := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(reportPath, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(t, "open the report",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(g.url+"/?range=all&refresh=0"),
		chromedp.WaitVisible("#models"),
	)
	page = eval[figures](t, b, figuresJS)
	b.do(t, "open the report file", chromedp.Navigate("file://"+reportPath), chromedp.WaitVisible("#models"))
	report := eval[figures](t, b, figuresJS)
	pj, _ := json.Marshal(page)
	rj, _ := json.Marshal(report)
	if !bytes.Equal(pj, rj) {
		t.Errorf("report figures differ from the page:\npage   %s\nreport %s", pj, rj)
	}
	for _, c := range eval[[]chartInfo](t, b, chartsJS) {
		if c.Empty != "false" || c.Shapes == 0 {
			t.Errorf("report chart %s not drawn: %+v", c.ID, c)
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll('details.record-details .record').length`); n == 0 {
		t.Error("the report holds no full records")
	}
	// Following a request link in the report opens its record.
	b.do(t, "open a record in the report", chromedp.Click("table.recent a.record-link"), chromedp.WaitVisible("details.record-details[open] .record"))
	if got := eval[string](t, b, `document.querySelector('details.record-details[open] .rid').textContent`); got != id {
		t.Errorf("report opened record %q, want the newest %q", got, id)
	}
	b.screenshot(t, shots, "report-1280x800.png", true)

	b.stop()
	<-b.done
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
