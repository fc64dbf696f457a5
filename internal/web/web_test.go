package web

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// hostile is user data that would become markup or script if it were ever
// concatenated into the page.
const hostile = `"><script>alert(1)</script><img src=x onerror=alert(2)>`

// fixture is the embedded Titanic configuration's monitor over a real
// SQLite store holding n records scored by the real bundles, received one
// second apart ending at now; the last record carries hostile user data.
type fixture struct {
	dash  *Dashboard
	store *sqlite.Store
	ids   []string
	now   time.Time
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var models []monitor.Model
	var bundles []*model.Bundle
	for _, mc := range cfg.Models {
		data, err := cfg.ReadBundle(mc.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.LoadBytes(mc.Bundle, data)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, monitor.Model{Name: mc.Name, Role: mc.Role, Bundle: b})
		bundles = append(bundles, b)
	}
	var fields []string
	for _, f := range cfg.Schema.Fields {
		fields = append(fields, f.Name)
	}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ref := bundles[0].Profile.ReferenceSample
	f := &fixture{store: st, now: now}
	var recs []record.Record
	var fb []record.Feedback
	for i := range n {
		in := schema.Input{}
		for k, v := range ref.Rows[i%len(ref.Rows)] {
			in[k] = v
		}
		rec := record.Record{
			ID: "req-" + string(rune('a'+i/26%26)) + string(rune('a'+i%26)), ReceivedAt: now.Add(time.Duration(i-n) * time.Second),
			Endpoint: "/v1/predict", EntityID: ref.IDs[i%len(ref.IDs)], Input: in, Status: record.RequestOK,
			Models:   map[string]record.ModelResult{},
			Decision: &record.Decision{ServedBy: models[0].Name, Reason: "preferred", DeadlineMS: 50, LatencyUS: 90},
		}
		if i == n-1 {
			rec.EntityID = hostile
			in["embarked"] = hostile
		}
		for j, b := range bundles {
			p, err := b.Predict(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			rec.Models[models[j].Name] = record.ModelResult{Role: models[j].Role, Version: b.Info().Version, Artifact: b.Artifact(),
				Features: p.Features, Prediction: &p.Class, Label: p.Label, Probability: &p.Probability, LatencyUS: int64(20 + j), Status: record.StatusOK}
		}
		recs = append(recs, rec)
		f.ids = append(f.ids, rec.ID)
		if i%2 == 0 {
			fb = append(fb, record.Feedback{RequestID: rec.ID, Label: ref.Labels[i%len(ref.Labels)], ReceivedAt: now})
		}
	}
	if err := st.WriteRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteFeedback(ctx, fb); err != nil {
		t.Fatal(err)
	}
	mon, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: fields, MinLabelledPairs: 50})
	if err != nil {
		t.Fatal(err)
	}
	f.dash, err = New(Params{Monitor: mon, Store: st, Fields: fields, Labels: cfg.Labels.Words, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	mux := http.NewServeMux()
	for _, r := range f.dash.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	rr := httptest.NewRecorder()
	mux.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, path, nil))
	return rr.Code, rr.Header(), rr.Body.String()
}

// assertEscaped fails when the hostile string appears unescaped.
func assertEscaped(t *testing.T, what, body string) {
	t.Helper()
	for _, raw := range []string{"<script>alert(1)", "<img src=x", `"><script`} {
		if strings.Contains(body, raw) {
			t.Errorf("%s contains unescaped user data %q", what, raw)
		}
	}
}

func TestDashboard_EscapesUserDataInPageRecordAndReport(t *testing.T) {
	f := newFixture(t, 120)
	code, _, page := f.get(t, "/?range=all")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d: %s", code, page)
	}
	assertEscaped(t, "the dashboard", page)
	// The hostile entity id is there, as text.
	if !strings.Contains(page, "&lt;script&gt;alert(1)") && !strings.Contains(page, "&#34;&gt;&lt;script&gt;") {
		t.Error("the hostile entity id is not shown escaped on the dashboard")
	}

	last := f.ids[len(f.ids)-1]
	code, _, rec := f.get(t, "/ui/requests/"+last)
	if code != http.StatusOK {
		t.Fatalf("GET record = %d", code)
	}
	assertEscaped(t, "the record page", rec)
	if !strings.Contains(rec, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile input value is not shown escaped in the record")
	}

	var buf bytes.Buffer
	if err := f.dash.WriteReport(context.Background(), &buf, monitor.Window{}); err != nil {
		t.Fatal(err)
	}
	assertEscaped(t, "the report", buf.String())
}

func TestDashboard_PageHasEverySectionAndChartFromData(t *testing.T) {
	f := newFixture(t, 300)
	code, h, page := f.get(t, "/?range=all&refresh=0")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	for _, want := range []string{`id="models"`, `id="inputs"`, `id="timeline"`, `id="recent"`,
		`id="drift-age"`, `id="drift-sex"`, `id="pred-prod-gbt"`, `id="c-requests"`, `id="c-accuracy"`, `id="c-drift"`, `id="c-latency"`,
		`data-model="dev-logreg"`, `href="/ui/requests/` + f.ids[len(f.ids)-1] + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	empties := regexp.MustCompile(`data-empty="true"`).FindAllString(page, -1)
	if len(empties) > 0 {
		t.Errorf("%d empty charts on a page with 300 records", len(empties))
	}
	// 300 labelled-every-other records: every model shows n=150.
	if got := strings.Count(page, "n=150"); got < 3 {
		t.Errorf("accuracy n=150 appears %d times, want once per model (3)", got)
	}
}

func TestDashboard_EmptyStoreSaysSoInsteadOfFailing(t *testing.T) {
	f := newFixture(t, 0)
	code, _, page := f.get(t, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / on an empty store = %d: %s", code, page)
	}
	for _, want := range []string{"No requests recorded in this window.", "No requests in this window."} {
		if !strings.Contains(page, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
}

func TestDashboard_BadQueryAndUnknownRecordAreClearErrors(t *testing.T) {
	f := newFixture(t, 3)
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/?range=forever", http.StatusBadRequest, "range: want 1h, 24h, 7d or all"},
		{"/?refresh=-1", http.StatusBadRequest, "refresh: want seconds"},
		{"/ui/report?range=2h", http.StatusBadRequest, "range:"},
		{"/ui/requests/nope", http.StatusNotFound, "no request with id &#34;nope&#34;"},
		{"/ui/assets/missing.css", http.StatusNotFound, ""},
	} {
		code, _, body := f.get(t, c.path)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s = %d %q, want %d containing %q", c.path, code, body, c.code, c.want)
		}
	}
}

func TestDashboard_RecordFragmentAndPageKeepTheRange(t *testing.T) {
	f := newFixture(t, 5)
	id := f.ids[2]
	_, _, frag := f.get(t, "/ui/requests/"+id+"?fragment=1")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-record="`+id+`"`) || !strings.Contains(frag, "Transformed features") {
		t.Errorf("fragment is not the bare record: %.300s", frag)
	}
	_, _, page := f.get(t, "/ui/requests/"+id+"?range=1h&refresh=10")
	if !strings.Contains(page, `href="/?range=1h&amp;refresh=10"`) {
		t.Error("the record page's back link loses the dashboard's range and refresh")
	}
}

func TestReport_IsSelfContained(t *testing.T) {
	f := newFixture(t, 60)
	var buf bytes.Buffer
	if err := f.dash.WriteReport(context.Background(), &buf, monitor.Window{}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, bad := range []string{"<script", "<link rel=\"stylesheet\"", "src=\"http", "href=\"http", "@import", "url(http"} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	for _, want := range []string{"<style>", "<svg", `class="record-details"`, `href="#rec-` + f.ids[len(f.ids)-1] + `"`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestBucketWidth_AtMost24BucketsOverTheSpan(t *testing.T) {
	const many = maxBuckets * minBucketRows
	for _, c := range []struct {
		span time.Duration
		rows int
		want time.Duration
	}{
		{0, many, 5 * time.Second},
		{90 * time.Second, many, 5 * time.Second}, // the 1-minute walkthrough: 18 buckets
		{20 * time.Minute, many, time.Minute},
		{time.Hour, many, 5 * time.Minute},
		{24 * time.Hour, many, time.Hour},
		{7 * 24 * time.Hour, many, 12 * time.Hour},
		{90 * 24 * time.Hour, many, 7 * 24 * time.Hour},
		// Sparse data: wider buckets, so each holds minBucketRows on average.
		{300 * time.Second, 300, 30 * time.Second},
		{time.Hour, 100, 15 * time.Minute},
	} {
		if got := bucketWidth(c.span, c.rows); got != c.want {
			t.Errorf("bucketWidth(%v, %d rows) = %v, want %v", c.span, c.rows, got, c.want)
		}
	}
}

func TestNiceTicks_RoundStepsCoveringTheRange(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 1, []float64{0, 0.25, 0.5, 0.75, 1}},
		{0, 0.62, []float64{0, 0.2, 0.4, 0.6}},
		{0, 93, []float64{0, 25, 50, 75}},
		{0.42, 80, []float64{20, 40, 60, 80}},
	} {
		got := niceTicks(c.lo, c.hi, 4)
		if len(got) != len(c.want) {
			t.Errorf("niceTicks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("niceTicks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
				break
			}
		}
	}
}

func TestHistogramChart_IntegersGetOneBinEachAndBarsFitTheAxis(t *testing.T) {
	c := histogramChart("x", "sibsp", "sibsp", sample{v: []float64{0, 0, 1, 3}}, sample{v: []float64{0, 3, 3, 3}}, 0, 0)
	if len(c.Rects) != 4 { // 0, 1, 2, 3
		t.Fatalf("%d reference bars, want one per integer 0..3", len(c.Rects))
	}
	// The tallest share (live 3: 75 %) must fit under the top tick.
	top := c.YTicks[len(c.YTicks)-1]
	for _, m := range c.Marks {
		if m.Y < top.Pos-1e-9 {
			t.Errorf("live point at y=%v is above the top tick %v (%s)", m.Y, top.Pos, top.Label)
		}
	}
	if c.Points != 8 || c.Empty != "" {
		t.Errorf("points %d empty %q, want 8 and drawn", c.Points, c.Empty)
	}
	if e := histogramChart("y", "t", "x", sample{}, sample{v: []float64{1}}, 0, 0); e.Empty == "" {
		t.Error("a histogram without reference values is not marked empty")
	}
	// A histogram column (values with row counts) draws the same chart as
	// its rows.
	h := histogramChart("x", "sibsp", "sibsp", sample{v: []float64{0, 0, 1, 3}}, sample{v: []float64{0, 3}, w: []int64{1, 3}}, 0, 0)
	if !reflect.DeepEqual(h, c) {
		t.Errorf("chart of counted values differs from the chart of the rows:\n%+v\n%+v", h, c)
	}
}

func TestCategoryChart_ManyCategoriesFoldIntoOther(t *testing.T) {
	var ref, cur []string
	for i := range 30 {
		ref = append(ref, string(rune('A'+i%26))+string(rune('a'+i/26)))
		cur = append(cur, "Aa")
	}
	c := categoryChart("c", "t", "x", textSample{v: ref}, textSample{v: cur})
	if len(c.XTicks) != maxCatBars {
		t.Fatalf("%d categories drawn, want %d", len(c.XTicks), maxCatBars)
	}
	if tip := c.Rects[len(c.Rects)-1].Tip; !strings.Contains(tip, "(other)") {
		t.Errorf("last bar %q, want the (other) category", tip)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{pct(0.6000000001), "60%"},
		{pct(-0.0000001), "0%"},
		{pct1(0.8432), "84.3%"},
		{fmtNum(1.6e-15), "1.6e-15"},
		{fmtStat(6.6e-30), "0"},
		{fmtNum(0.0671), "0.0671"},
		{catLabel("0.16675984941667"), "0.167"},
		{catLabel("male"), "male"},
		{shortID("01a21054-759e-7686-8470-83b6abdf58d3"), "…83b6abdf58d3"},
		{shortID("01a21054-759e-7686-8470-83b6abdf58d3.12"), "…83b6abdf58d3.12"}, // a batch instance: same rule
		{shortID("client-supplied-request-id-000042"), "…plied-request-id-000042"},
		{shortID("short-id"), "short-id"},
		{fmtDuration(15 * time.Second), "15 s"},
		{fmtDuration(5 * time.Minute), "5 min"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// countingMonitor counts Metrics calls of a real monitor.
type countingMonitor struct {
	Monitor
	mu      sync.Mutex
	metrics int
}

func (c *countingMonitor) Metrics(ctx context.Context, w monitor.Window, bucket time.Duration) (analysis.MetricsReport, error) {
	c.mu.Lock()
	c.metrics++
	c.mu.Unlock()
	return c.Monitor.Metrics(ctx, w, bucket)
}

func TestDashboard_ViewsWithinCacheForShareOneBuild(t *testing.T) {
	f := newFixture(t, 40)
	cm := &countingMonitor{Monitor: f.dash.mon}
	now := f.now
	d, err := New(Params{Monitor: cm, Store: f.store, CacheFor: 5 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.dash = d
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, _ := f.get(t, "/?range=all&refresh=10"); code != http.StatusOK {
				t.Errorf("GET / = %d", code)
			}
		}()
	}
	wg.Wait()
	if code, _, body := f.get(t, "/?range=all&refresh=0"); code != http.StatusOK || !strings.Contains(body, `data-refresh="0"`) {
		t.Fatalf("cached page does not carry this request's refresh: %d", code)
	}
	if cm.metrics != 1 {
		t.Errorf("5 views within CacheFor ran %d builds, want 1", cm.metrics)
	}
	now = now.Add(5 * time.Second)
	f.get(t, "/?range=all")
	f.get(t, "/?range=1h")
	if cm.metrics != 3 {
		t.Errorf("after CacheFor, %d builds in all, want 3 (one more for all, one for 1h)", cm.metrics)
	}
}

// TestReport_WithoutConfigOrdersInputsAndNamesLabelsFromTheRecords is the
// `rendezvous report --html` case: no configured fields or label words.
func TestReport_WithoutConfigOrdersInputsAndNamesLabelsFromTheRecords(t *testing.T) {
	f := newFixture(t, 30)
	d, err := New(Params{Monitor: f.dash.mon, Store: f.store, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := d.WriteReport(context.Background(), &buf, monitor.Window{}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	first := html[strings.Index(html, `class="record-details"`):]
	first = first[:strings.Index(first, "</details>")]
	ip, is, ia := strings.Index(first, ">pclass<"), strings.Index(first, ">sex<"), strings.Index(first, ">age<")
	if ip < 0 || !(ip < is && is < ia) {
		t.Errorf("inputs not in the schema order pclass, sex, age (%d, %d, %d)", ip, is, ia)
	}
	if !regexp.MustCompile(`Ground truth</dt><dd>[01] \((Survived|Did Not Survive)\)`).MatchString(html) {
		t.Error("ground truth is not named by the models' label words")
	}
}
