// Package web serves the dashboard at / and writes the same content as one
// self-contained HTML report file.
//
// Everything is rendered on the server: charts are SVG computed in Go
// (chart.go) and emitted through html/template, which escapes every string —
// entity ids, input values and category names are user data and are never
// concatenated into markup. The stylesheet and the small script (auto-refresh
// that keeps the page's query-string state, and opening a request in a
// dialog) are embedded with go:embed; the page loads nothing from elsewhere
// and works offline. The report inlines the stylesheet and needs no script.
//
// Colours come from the Okabe–Ito palette, and every series also differs by
// fill, outline, dash or marker shape.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Monitor is what the dashboard reads its figures from (*monitor.Monitor).
type Monitor interface {
	Models() []monitor.Model
	Metrics(ctx context.Context, w monitor.Window, bucket time.Duration) (analysis.MetricsReport, error)
	Compare(ctx context.Context, challenger string, w monitor.Window) (analysis.Comparison, error)
	Drift(ctx context.Context, modelName string, w monitor.Window) (monitor.DriftResult, monitor.Samples, error)
	Labels(ctx context.Context) (map[string]monitor.Label, error)
}

// Params configures New. Monitor and Store are required.
type Params struct {
	Monitor Monitor
	Store   store.Reader
	// Events is the deployment history, marked on the time charts and
	// listed in a panel (default: Store when it keeps one; nil: none).
	Events Events
	// Title heads the page (default "Rendezvous").
	Title string
	// Fields orders a record's input fields (the schema's order); fields
	// not listed follow by name.
	Fields []string
	// Labels names the classes (class → word) for ground truth.
	Labels map[int]string
	// Recent is the number of recent requests listed (default 25).
	Recent int
	// Parallel bounds the store reads one page build runs at once
	// (default GOMAXPROCS, between 2 and 8).
	Parallel int
	// CacheFor serves a page built less than this long ago again, so
	// auto-refreshing viewers share one build (default 5s; negative: off).
	// Concurrent requests for the same range always share one build.
	CacheFor time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Dashboard renders the dashboard and the report. It is safe for
// concurrent use; every page view reads the store afresh.
type Dashboard struct {
	mon      Monitor
	store    store.Reader
	events   Events
	title    string
	fields   []string
	labels   map[int]string
	recentN  int
	now      func() time.Time
	log      *slog.Logger
	tmpl     *template.Template
	css      []byte
	assets   fs.FS
	parallel int
	cacheFor time.Duration

	mu    sync.Mutex
	pages map[string]*pageBuild // by range key
}

// pageBuild is one build of the dashboard for a range, shared by every
// request that arrives while it runs and for cacheFor after.
type pageBuild struct {
	done chan struct{}
	at   time.Time
	v    *view
	err  error
}

// New parses the embedded templates and returns a Dashboard.
func New(p Params) (*Dashboard, error) {
	if p.Monitor == nil || p.Store == nil {
		return nil, errors.New("web: Monitor and Store are required")
	}
	d := &Dashboard{mon: p.Monitor, store: p.Store, title: p.Title, fields: p.Fields, labels: p.Labels,
		recentN: p.Recent, now: p.Now, log: p.Logger, events: p.Events}
	if ev, ok := p.Store.(Events); ok && d.events == nil {
		d.events = ev
	}
	if d.title == "" {
		d.title = "Rendezvous"
	}
	if d.recentN <= 0 {
		d.recentN = DefaultRecent
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.parallel = p.Parallel
	if d.parallel <= 0 {
		d.parallel = min(max(runtime.GOMAXPROCS(0), 2), 8)
	}
	d.cacheFor = p.CacheFor
	if d.cacheFor == 0 {
		d.cacheFor = 5 * time.Second
	}
	d.pages = map[string]*pageBuild{}
	var err error
	if d.css, err = assetFS.ReadFile("assets/dashboard.css"); err != nil {
		return nil, fmt.Errorf("web: read stylesheet: %w", err)
	}
	if d.assets, err = fs.Sub(assetFS, "assets"); err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	css := template.CSS(d.css) // our own embedded file, not user data
	d.tmpl, err = template.New("web").Funcs(template.FuncMap{
		"css":     func() template.CSS { return css },
		"rfc":     func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"stamp":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"clock":   func(t time.Time) string { return t.UTC().Format("Jan 2 15:04:05") },
		"short":   shortID,
		"ratio":   ratio,
		"add":     func(a, b int) int { return a + b },
		"latency": func(us int64) string { return ms(ptrOf(float64(us) / 1000)) },
	}).ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	return d, nil
}

// shortID shows the distinctive tail of a UUIDv7 (its head is the time).
func shortID(id string) string {
	// One rule for every id: keep the end, where ids differ. A gateway id
	// (a UUID, plus ".N" for the N-th instance of a batch) keeps the UUID's
	// last 12 hex digits and the batch suffix; any other id its last 23
	// characters.
	if len(id) >= 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-' {
		return "…" + id[24:]
	}
	r := []rune(id)
	if len(r) <= 24 {
		return id
	}
	return "…" + string(r[len(r)-23:])
}

// Routes are the dashboard's routes, to mount with api.Params.Extra:
//
//	GET /                    the dashboard (?range=1h|24h|7d|all&refresh=SECONDS)
//	GET /ui/requests/{id}    one full record (?fragment=1: without the page around it)
//	GET /ui/report           the self-contained report of ?range as a download
//	GET /ui/assets/{name}    the embedded stylesheet and script
func (d *Dashboard) Routes() []api.Route {
	htmlDoc := map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}
	query := []any{
		map[string]any{"name": "range", "in": "query", "schema": map[string]any{"enum": []any{"1h", "24h", "7d", "all"}}},
		map[string]any{"name": "refresh", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 0, "maximum": 3600}, "description": "seconds between reloads, 0: off"},
	}
	html := func(id, summary, errCode, errDesc string, params []any) map[string]any {
		op := map[string]any{"operationId": id, "summary": summary, "tags": []string{"dashboard"},
			"responses": map[string]any{"200": map[string]any{"description": "HTML", "content": htmlDoc},
				errCode: map[string]any{"description": errDesc, "content": htmlDoc}}}
		if params != nil {
			op["parameters"] = params
		}
		return op
	}
	idParam := []any{map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}},
		map[string]any{"name": "fragment", "in": "query", "schema": map[string]any{"type": "string"}, "description": "1: the record without the page around it"}}
	return []api.Route{
		{Pattern: "GET /{$}", Handler: http.HandlerFunc(d.serveIndex), Operation: html("dashboard", "Dashboard: models, input drift, trends and recent requests", "400", "Bad range or refresh.", query)},
		{Pattern: "GET /ui/requests/{id}", Handler: http.HandlerFunc(d.serveRecord), Operation: html("requestPage", "One request's full record as HTML", "404", "No such request (yet).", idParam)},
		{Pattern: "GET /ui/report", Handler: http.HandlerFunc(d.serveReport), Operation: html("downloadReport", "The dashboard as one self-contained HTML file", "400", "Bad range.", query[:1])},
		{Pattern: "GET /ui/assets/{name}", Handler: http.HandlerFunc(d.serveAsset), Operation: map[string]any{"operationId": "dashboardAsset", "summary": "The dashboard's stylesheet and script",
			"parameters": []any{map[string]any{"name": "name", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}},
			"responses":  map[string]any{"200": map[string]any{"description": "CSS or JavaScript"}, "404": map[string]any{"description": "No such asset."}}}},
	}
}

// ranges are the time ranges of the selector.
var ranges = []rangeOption{
	{Key: "1h", Label: "Last hour", Dur: time.Hour},
	{Key: "24h", Label: "Last day", Dur: 24 * time.Hour},
	{Key: "7d", Label: "Last week", Dur: 7 * 24 * time.Hour},
	{Key: "all", Label: "All time"},
}

var refreshes = []int{0, 10, 30, 60, 300}

const (
	defaultRange   = "24h"
	defaultRefresh = 30
)

// pageQuery is the page's state, kept in the query string.
type pageQuery struct {
	Range   string
	Refresh int
}

func (q pageQuery) values() url.Values {
	return url.Values{"range": {q.Range}, "refresh": {strconv.Itoa(q.Refresh)}}
}

// parseQuery reads range and refresh; a bad value is an error naming the
// parameter.
func parseQuery(v url.Values) (pageQuery, error) {
	q := pageQuery{Range: defaultRange, Refresh: defaultRefresh}
	if s := v.Get("range"); s != "" {
		ok := false
		for _, r := range ranges {
			ok = ok || r.Key == s
		}
		if !ok {
			return q, fmt.Errorf("range: want 1h, 24h, 7d or all, got %q", s)
		}
		q.Range = s
	}
	if s := v.Get("refresh"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 3600 {
			return q, fmt.Errorf("refresh: want seconds between 0 (off) and 3600, got %q", s)
		}
		if n > 0 && n < 5 {
			n = 5
		}
		q.Refresh = n
	}
	return q, nil
}

// window turns a range key into a monitor window ending now (open-ended).
func window(key string, now time.Time) monitor.Window {
	for _, r := range ranges {
		if r.Key == key && r.Dur > 0 {
			return monitor.Window{Since: now.Add(-r.Dur)}
		}
	}
	return monitor.Window{}
}

func setHTMLHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
}

func (d *Dashboard) serveIndex(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad query", err)
		return
	}
	shared, err := d.page(r.Context(), q.Range)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "Cannot build the dashboard", err)
		return
	}
	v := *shared // the build is shared: set this request's state on a copy
	v.Range, v.Refresh = q.Range, q.Refresh
	for _, o := range ranges {
		o.Selected = o.Key == q.Range
		v.Ranges = append(v.Ranges, o)
	}
	for _, s := range refreshes {
		label := "off"
		if s > 0 {
			label = "every " + fmtDuration(time.Duration(s)*time.Second)
		}
		v.Refreshes = append(v.Refreshes, refreshOption{Seconds: s, Label: label, Selected: s == q.Refresh})
	}
	if !v.Refreshes[0].Selected && !slicesContains(refreshes, q.Refresh) {
		v.Refreshes = append(v.Refreshes, refreshOption{Seconds: q.Refresh, Label: "every " + fmtDuration(time.Duration(q.Refresh)*time.Second), Selected: true})
	}
	d.render(w, r, "page", &v)
}

// page returns the view of a range: a build younger than cacheFor, the
// build in progress, or a new one. A build runs to completion even if the
// request that started it goes away, so the requests waiting on it get it.
func (d *Dashboard) page(ctx context.Context, key string) (*view, error) {
	d.mu.Lock()
	pb := d.pages[key]
	if pb != nil {
		select {
		case <-pb.done:
			if d.cacheFor < 0 || pb.err != nil || d.now().Sub(pb.at) >= d.cacheFor {
				pb = nil
			}
		default: // in progress: wait for it
		}
	}
	if pb == nil {
		pb = &pageBuild{done: make(chan struct{}), at: d.now()}
		d.pages[key] = pb
		go func() {
			pb.v, pb.err = d.build(context.WithoutCancel(ctx), window(key, pb.at), false)
			close(pb.done)
		}()
	}
	d.mu.Unlock()
	select {
	case <-pb.done:
		return pb.v, pb.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// render executes a template into a buffer first, so a failure mid-way
// becomes a clean 500 instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var buf bytes.Buffer
	if err := d.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		d.fail(w, r, http.StatusInternalServerError, "Cannot render the page", err)
		return
	}
	setHTMLHeaders(w)
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, code int, title string, err error) {
	if code >= 500 {
		d.log.Error("dashboard", "path", r.URL.Path, "request_id", api.RequestID(r), "err", err)
	}
	var buf bytes.Buffer
	if terr := d.tmpl.ExecuteTemplate(&buf, "error", map[string]any{"Title": title, "Message": err.Error()}); terr != nil {
		http.Error(w, title+": "+err.Error(), code)
		return
	}
	setHTMLHeaders(w)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) serveRecord(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := d.store.GetRecord(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "No such request", fmt.Errorf("no request with id %q", id))
		return
	}
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "Cannot read the request", err)
		return
	}
	rv := d.recordView(&rec)
	labels, err := d.mon.Labels(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "Cannot read the labels", err)
		return
	}
	if l, ok := labels[id]; ok {
		rv.Truth = d.labelText(l.Class)
	}
	if r.URL.Query().Get("fragment") == "1" {
		d.render(w, r, "record", rv)
		return
	}
	back := "/"
	if q, err := parseQuery(r.URL.Query()); err == nil && (r.URL.Query().Has("range") || r.URL.Query().Has("refresh")) {
		back = "/?" + q.values().Encode()
	}
	d.render(w, r, "recordPage", map[string]any{"Title": d.title, "Record": rv, "Back": back})
}

func (d *Dashboard) serveReport(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad query", err)
		return
	}
	var buf bytes.Buffer
	if err := d.WriteReport(r.Context(), &buf, window(q.Range, d.now())); err != nil {
		d.fail(w, r, http.StatusInternalServerError, "Cannot build the report", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rendezvous-report-`+d.now().UTC().Format("20060102-150405")+`.html"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	data, err := fs.ReadFile(d.assets, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case len(name) > 4 && name[len(name)-4:] == ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case len(name) > 3 && name[len(name)-3:] == ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}

// WriteReport writes the dashboard of win as one self-contained HTML file:
// the stylesheet inlined, charts as inline SVG, no script, and the most
// recent requests in full below their table. It reads the store like a page
// view does.
func (d *Dashboard) WriteReport(ctx context.Context, w io.Writer, win monitor.Window) error {
	v, err := d.build(ctx, win, true)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := d.tmpl.ExecuteTemplate(&buf, "page", v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
