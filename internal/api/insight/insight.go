// Package insight serves what the records say: ground-truth feedback in, and
// live metrics, challenger comparison, drift and exports out.
//
//	POST /v1/feedback          labels by request id or entity id (one, or {"feedback":[…]})
//	GET  /v1/feedback/pending  labels that label no stored request (yet) [?limit&offset]
//	GET  /v1/metrics           per-model figures [?since&until][&bucket=1h], pending labels counted
//	GET  /v1/compare    ?challenger=NAME [&since&until][&source=live|replay][&version=V]
//	                    (a challenger with no live answer in the window is
//	                    compared on its replay results: "source": "replay")
//	GET  /v1/drift      [?model=NAME][&since&until]
//	GET  /v1/export     ?format=csv|jsonl|parquet [&since&until] (streamed in
//	                    pages, a write deadline per page; see export.Run)
//
// Times are RFC 3339; since is inclusive, until exclusive. Every error is a
// JSON body {"error": "…"} (plus "fields" for invalid feedback).
package insight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/export"
	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// MaxFeedbackBody caps a feedback request body (10,000 items fit easily).
const MaxFeedbackBody = 8 << 20

// Params configures Routes.
type Params struct {
	Monitor  *monitor.Monitor
	Feedback *feedback.Service
	// Export reads records and feedback for /v1/export.
	Export store.Reader
	// Planner returns a fresh export column planner (configured fields and
	// models) for each export.
	Planner func() *export.Planner
	// ExportWriteTimeout is the time an export has to write each page of
	// rows (store.DefaultPageSize records): the response's write deadline
	// is moved to now + ExportWriteTimeout before every page, so an export
	// that keeps moving is never cut by the server's WriteTimeout while a
	// client that stops reading is cut within ExportWriteTimeout, and the
	// export stops (default DefaultExportWriteTimeout).
	ExportWriteTimeout time.Duration
	// ExportPageSize is the number of records per database query of an
	// export (0: store.DefaultPageSize).
	ExportPageSize int
	Logger         *slog.Logger
}

// DefaultExportWriteTimeout is Params.ExportWriteTimeout's default.
const DefaultExportWriteTimeout = 30 * time.Second

// Routes returns the routes to mount with api.Params.Extra.
func Routes(p Params) []api.Route {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.ExportWriteTimeout <= 0 {
		p.ExportWriteTimeout = DefaultExportWriteTimeout
	}
	h := &handlers{p: p}
	window := []any{
		map[string]any{"name": "since", "in": "query", "schema": map[string]any{"type": "string", "format": "date-time"}, "description": "inclusive lower bound on received_at (RFC 3339)"},
		map[string]any{"name": "until", "in": "query", "schema": map[string]any{"type": "string", "format": "date-time"}, "description": "exclusive upper bound on received_at (RFC 3339)"},
	}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	jsonOK := func(desc string) map[string]any {
		return map[string]any{"200": map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
			"400": errResp("bad query parameter")}
	}
	feedbackResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
			"type": "object", "required": []any{"accepted", "labelled", "pending", "stored_in"}, "properties": map[string]any{
				"accepted": map[string]any{"type": "integer", "description": "items kept (every item of a valid call)"},
				"labelled": map[string]any{"type": "integer", "description": "stored requests labelled now"},
				"pending":  map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "request ids not stored yet (joined once they are) and entity ids with no stored request"},
				"entities": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
					"entity_id": map[string]any{"type": "string"}, "requests": map[string]any{"type": "integer"}}}, "description": feedback.EntityRule},
				"stored_in": map[string]any{"enum": []any{feedback.StoredInStore, feedback.StoredInSpool}},
			}}}}}
	}
	return []api.Route{
		{Pattern: "POST /v1/feedback", Handler: http.HandlerFunc(h.feedback), JSONBody: true, Operation: map[string]any{
			"operationId": "sendFeedback",
			"summary":     "Record ground-truth labels (append-only; the latest label of a request counts; a label whose record is not stored yet is kept, pending, and joined once it is)",
			"description": "Every valid label is kept. " + feedback.EntityRule + ". 200 when the labels are in the store, 202 when the store was down or behind and they were fsynced to the recorder's spool (stored_in: spool); 503 when they could be kept nowhere, or entity labels could not be resolved with the store down (nothing written; retry).",
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"oneOf": []any{
					map[string]any{"type": "object", "properties": map[string]any{"request_id": map[string]any{"type": "string"}, "entity_id": map[string]any{"type": "string"}, "label": map[string]any{"type": []any{"integer", "string"}}}, "required": []any{"label"}},
					map[string]any{"type": "object", "properties": map[string]any{"feedback": map[string]any{"type": "array", "maxItems": feedback.MaxBatch}}, "required": []any{"feedback"}},
				}}}}},
			"responses": map[string]any{
				"200": feedbackResp("labels stored"),
				"202": feedbackResp("labels fsynced to the spool while the store is down; written to it when it answers"),
				"503": errResp("the labels could be kept nowhere, or entity labels need the store; nothing written, retry"),
				"400": errResp("malformed JSON"),
				"422": errResp("invalid items, nothing written"),
				"413": errResp("too many items")},
		}},
		{Pattern: "GET /v1/feedback/pending", Handler: http.HandlerFunc(h.pending), Operation: map[string]any{
			"operationId": "listPendingFeedback",
			"summary":     "Labels that label no stored request yet (their record is not stored, or an entity label matched no stored request), oldest first",
			"parameters": []any{
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 0, "maximum": MaxPendingPage, "default": DefaultPendingPage}},
				map[string]any{"name": "offset", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 0, "default": 0}},
			},
			"responses": jsonOK("{total, offset, labels:[{request_id, entity_id, label, received_at}]}"),
		}},
		{Pattern: "GET /v1/metrics", Handler: http.HandlerFunc(h.metrics), Operation: map[string]any{
			"operationId": "getMetrics",
			"summary":     "Per-model live metrics: statuses, latency, agreement, accuracy on labels, CBPE estimates",
			"parameters": append(window, map[string]any{"name": "bucket", "in": "query", "schema": map[string]any{"type": "string"}, "description": "Go duration such as 1h: figures per time bucket too"},
				map[string]any{"name": "overlap", "in": "query", "schema": map[string]any{"type": "boolean"}, "description": "also the share of each model's evaluated inputs that are its training rows (reads every input)"}),
			"responses": jsonOK("metrics report"),
		}},
		{Pattern: "GET /v1/compare", Handler: http.HandlerFunc(h.compare), Operation: map[string]any{
			"operationId": "compareChallenger",
			"summary":     "Challenger vs production on labelled requests answered by both (McNemar exact test), per day too; a challenger with no live answer is compared on its replay results",
			"parameters": append(window,
				map[string]any{"name": "challenger", "in": "query", "required": true, "schema": map[string]any{"type": "string"}},
				map[string]any{"name": "source", "in": "query", "schema": map[string]any{"enum": []any{"live", "replay"}}, "description": "default: live when the window holds a live answer of the challenger, else replay"},
				map[string]any{"name": "version", "in": "query", "schema": map[string]any{"type": "string"}, "description": "replayed version (default: the one replayed last)"}),
			"responses": jsonOK("comparison and verdict"),
		}},
		{Pattern: "GET /v1/drift", Handler: http.HandlerFunc(h.drift), Operation: map[string]any{
			"operationId": "getDrift",
			"summary":     "Drift of live inputs and predicted probability against the model's training reference",
			"parameters":  append(window, map[string]any{"name": "model", "in": "query", "schema": map[string]any{"type": "string"}, "description": "default: production"}),
			"responses":   jsonOK("drift report"),
		}},
		{Pattern: "GET /v1/export", Handler: http.HandlerFunc(h.export), Operation: map[string]any{
			"operationId": "exportRecords",
			"summary":     "Stream one row per request with every model's output and the label",
			"parameters":  append(window, map[string]any{"name": "format", "in": "query", "required": true, "schema": map[string]any{"enum": []any{"csv", "jsonl", "parquet"}}}),
			"responses":   map[string]any{"200": map[string]any{"description": "the export file"}, "400": errResp("bad format or window")},
		}},
	}
}

type handlers struct{ p Params }

type errorBody struct {
	Error  string              `json:"error"`
	Fields []schema.FieldError `json:"fields,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	api.WriteJSON(w, status, errorBody{Error: msg})
}

// parseWindow reads since/until.
func parseWindow(r *http.Request) (monitor.Window, error) {
	var w monitor.Window
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"since", &w.Since}, {"until", &w.Until}} {
		v := r.URL.Query().Get(q.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return w, fmt.Errorf("%s: want an RFC 3339 time such as 2026-11-24T12:00:00Z, got %q", q.name, v)
		}
		*q.dst = t
	}
	if !w.Since.IsZero() && !w.Until.IsZero() && !w.Until.After(w.Since) {
		return w, fmt.Errorf("until must be after since")
	}
	return w, nil
}

func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, monitor.ErrUnknownModel), errors.Is(err, monitor.ErrNoReplay):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, monitor.ErrNoReference):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to say.
	default:
		h.p.Logger.Error("insight request failed", "path", r.URL.Path, "request_id", api.RequestID(r), "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: "+err.Error())
	}
}

func (h *handlers) feedback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFeedbackBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", MaxFeedbackBody))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	items, batch, err := feedback.Decode(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := h.p.Feedback.Submit(r.Context(), items, batch)
	if ve, ok := feedback.IsValidation(err); ok {
		api.WriteJSON(w, http.StatusUnprocessableEntity, errorBody{Error: "invalid feedback", Fields: ve.Fields})
		return
	}
	if errors.Is(err, feedback.ErrTooMany) {
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if errors.Is(err, feedback.ErrUnavailable) {
		h.p.Logger.Warn("feedback refused: store unavailable", "request_id", api.RequestID(r), "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.StoredIn == feedback.StoredInSpool {
		status = http.StatusAccepted
	}
	api.WriteJSON(w, status, res)
}

// Pending pages: the default and largest limit.
const (
	DefaultPendingPage = 100
	MaxPendingPage     = 10_000
)

func (h *handlers) pending(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(name string, def, hi int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > hi {
			return 0, fmt.Errorf("%s: want an integer from 0 to %d, got %q", name, hi, v)
		}
		return n, nil
	}
	limit, err := num("limit", DefaultPendingPage, MaxPendingPage)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, err := num("offset", 0, int(^uint(0)>>1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.p.Monitor.PendingLabels(r.Context(), offset, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, page)
}

// metricsBody is GET /v1/metrics: the monitor's report and the number of
// pending labels (all time, whatever the window; absent when the store
// cannot tell).
type metricsBody struct {
	analysis.MetricsReport
	PendingLabels *int `json:"pending_labels,omitempty"`
	// TrainingOverlap answers ?overlap=true (monitor.TrainingOverlap).
	TrainingOverlap []monitor.ModelTrainingOverlap `json:"training_overlap,omitempty"`
}

func (h *handlers) metrics(w http.ResponseWriter, r *http.Request) {
	win, err := parseWindow(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var bucket time.Duration
	if v := r.URL.Query().Get("bucket"); v != "" {
		bucket, err = time.ParseDuration(v)
		if err != nil || bucket < time.Second {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("bucket: want a duration of at least 1s such as 1h, got %q", v))
			return
		}
	}
	rep, err := h.p.Monitor.Metrics(r.Context(), win, bucket)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := metricsBody{MetricsReport: rep}
	switch v := r.URL.Query().Get("overlap"); v {
	case "", "false":
	case "true":
		if body.TrainingOverlap, err = h.p.Monitor.TrainingOverlap(r.Context(), win); err != nil {
			h.fail(w, r, err)
			return
		}
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("overlap: want true or false, got %q", v))
		return
	}
	switch page, err := h.p.Monitor.PendingLabels(r.Context(), 0, 0); {
	case err == nil:
		body.PendingLabels = &page.Total
	case errors.Is(err, monitor.ErrCannotMatch):
	default:
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, body)
}

func (h *handlers) compare(w http.ResponseWriter, r *http.Request) {
	win, err := parseWindow(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ch := r.URL.Query().Get("challenger")
	if ch == "" {
		writeError(w, http.StatusBadRequest, "challenger: required (a configured model name)")
		return
	}
	src := r.URL.Query().Get("source")
	if src != "" && src != monitor.SourceLive && src != monitor.SourceReplay {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("source: want %s or %s, got %q", monitor.SourceLive, monitor.SourceReplay, src))
		return
	}
	c, err := h.p.Monitor.Report(r.Context(), monitor.ReportParams{Challenger: ch, Window: win, Source: src, ReplayVersion: r.URL.Query().Get("version")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, c)
}

func (h *handlers) drift(w http.ResponseWriter, r *http.Request) {
	win, err := parseWindow(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, _, err := h.p.Monitor.Drift(r.Context(), r.URL.Query().Get("model"), win)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

func (h *handlers) export(w http.ResponseWriter, r *http.Request) {
	win, err := parseWindow(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := export.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "format: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", f.ContentType())
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rendezvous-records.%s"`, f))
	var planner *export.Planner
	if h.p.Planner != nil {
		planner = h.p.Planner()
	}
	// The request is read: no read deadline from here (the server's
	// ReadTimeout would otherwise cancel a long export's context), and a
	// write deadline per page instead of one for the whole response.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.fail(w, r, err)
		return
	}
	extend := func() error {
		err := rc.SetWriteDeadline(time.Now().Add(h.p.ExportWriteTimeout))
		if errors.Is(err, http.ErrNotSupported) {
			return nil
		}
		return err
	}
	n, err := export.Run(r.Context(), h.p.Export, w, export.Options{Format: f, Planner: planner,
		Scan: store.ScanParams{Since: win.Since, Until: win.Until}, PageSize: h.p.ExportPageSize, BeforePage: extend})
	var ne net.Error
	switch {
	case err == nil:
	case errors.As(err, &ne) && ne.Timeout():
		// The client stopped reading: the export stopped and holds nothing.
		h.p.Logger.Warn("export cut: the client read no page within the write timeout",
			"rows", n, "write_timeout", h.p.ExportWriteTimeout, "request_id", api.RequestID(r))
	case r.Context().Err() != nil:
		h.p.Logger.Info("export stopped: the client went away", "rows", n, "request_id", api.RequestID(r))
	default:
		// Headers are gone once rows were streamed; log and cut the body.
		h.p.Logger.Error("export failed", "rows", n, "request_id", api.RequestID(r), "err", err)
		if n == 0 {
			writeError(w, http.StatusInternalServerError, "export: "+err.Error())
		}
	}
}
