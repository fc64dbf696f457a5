// Package oip serves the Open Inference Protocol v2 (KServe V2) REST API in
// front of the rendezvous, so existing OIP clients can call the gateway as if
// it were a KServe, Triton or MLServer deployment.
//
// Routes (all JSON; errors are {"error": "..."}):
//
//	GET  /v2                                  server metadata
//	GET  /v2/health/live                      200 while the process serves
//	GET  /v2/health/ready                     200 when ready, 400 when not (spec: 4xx)
//	GET  /v2/models/{name}[/versions/{v}]     model metadata (404 for an unknown model or version)
//	GET  /v2/models/{name}[/versions/{v}]/ready  200 when ready, 400 when not
//	POST /v2/models/{name}[/versions/{v}]/infer  inference
//
// Inference on the production model's name goes through the full rendezvous
// (every model called, the request recorded, production's answer or its
// fallback returned): it is the same request as POST /v1/predict. Inference
// on any other configured model's name calls that model alone, with its own
// deadline, and is not recorded: it is a way to query one model, not
// rendezvous traffic.
//
// Request tensors are the schema's fields, one tensor per field, shape [N]
// or [N, 1], datatype BYTES for string fields, BOOL for boolean fields and any
// INT*/UINT*/FP* type for numeric fields; null elements mean "missing". All
// tensors share N (1 to Params.MaxBatch). The response has the outputs
// "class" (INT64), "probability" (FP64, positive class), "label" (BYTES),
// "served_by" (BYTES) and "request_id" (BYTES), each of shape [N]; a
// request's "outputs" list selects a subset.
package oip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Defaults for a zero Params.
const (
	DefaultMaxBatch     = 64
	DefaultMaxBodyBytes = 1 << 20
	DefaultReadyTimeout = 2 * time.Second
)

// Params builds a Server. Gateway is required.
type Params struct {
	// Gateway routes production's inferences (recorded, like /v1/predict)
	// and calls any other model alone; its current deployment names the
	// models.
	Gateway *gateway.Gateway
	// Ready reports whether the gateway can serve (for /v2/health/ready),
	// e.g. the store check of /readyz. Nil: ready when the production
	// model is ready.
	Ready func(ctx context.Context) error
	// ServerName and ServerVersion answer GET /v2 (defaults "rendezvous",
	// "dev").
	ServerName, ServerVersion string
	// MaxBatch caps N, the rows of one request (default 64).
	MaxBatch int
	// MaxBodyBytes caps a request body (default 1 MiB; 413 above it).
	MaxBodyBytes int64
	// RequestID returns the request id of r (default api.RequestID, the
	// id the API handler assigned; a new UUIDv7 when it assigned none).
	RequestID func(r *http.Request) string
}

// Server serves the OIP v2 routes. It is safe for concurrent use.
type Server struct {
	p   Params
	gw  *gateway.Gateway
	mux *http.ServeMux
}

// New validates p and returns a Server.
func New(p Params) (*Server, error) {
	if p.Gateway == nil {
		return nil, errors.New("oip: a Gateway is required")
	}
	s := &Server{p: p, gw: p.Gateway}
	if s.p.ServerName == "" {
		s.p.ServerName = "rendezvous"
	}
	if s.p.ServerVersion == "" {
		s.p.ServerVersion = "dev"
	}
	if s.p.MaxBatch <= 0 {
		s.p.MaxBatch = DefaultMaxBatch
	}
	if s.p.MaxBodyBytes <= 0 {
		s.p.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.p.RequestID == nil {
		s.p.RequestID = func(r *http.Request) string {
			if id := api.RequestID(r); id != "" {
				return id
			}
			return newID()
		}
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.Routes() {
		s.mux.Handle(rt.Pattern, rt.Handler)
	}
	return s, nil
}

// Routes returns the OIP v2 routes with their OpenAPI operations, to mount
// with api.Params.Extra.
func (s *Server) Routes() []api.Route {
	type obj = map[string]any
	name := obj{"name": "name", "in": "path", "required": true, "schema": obj{"type": "string"}, "description": "a configured model's name"}
	version := obj{"name": "version", "in": "path", "required": true, "schema": obj{"type": "string"}, "description": "the model's version (404 for any other)"}
	errResp := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": obj{
			"type": "object", "properties": obj{"error": obj{"type": "string"}}, "required": []any{"error"}}}}}
	}
	jsonResp := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}
	}
	tensor := obj{"type": "object", "required": []any{"name", "shape", "datatype", "data"}, "properties": obj{
		"name": obj{"type": "string"}, "shape": obj{"type": "array", "items": obj{"type": "integer"}},
		"datatype": obj{"type": "string"}, "data": obj{"type": "array"}, "parameters": obj{"type": "object"}}}
	inferBody := obj{"required": true, "content": obj{"application/json": obj{"schema": obj{
		"type": "object", "required": []any{"inputs"}, "properties": obj{
			"id": obj{"type": "string"}, "parameters": obj{"type": "object"},
			"inputs":  obj{"type": "array", "items": tensor, "description": "one tensor per schema field, shape [N] or [N,1]"},
			"outputs": obj{"type": "array", "items": obj{"type": "object", "properties": obj{"name": obj{"type": "string"}}}}}}}}}
	op := func(summary string, params []any, responses obj) obj {
		o := obj{"summary": summary, "tags": []any{"oip-v2"}, "responses": responses}
		if len(params) > 0 {
			o["parameters"] = params
		}
		return o
	}
	ready := obj{"200": jsonResp("ready"), "400": errResp("not ready (the spec's 4xx)"), "404": errResp("unknown model or version")}
	meta := obj{"200": jsonResp("name, versions, platform, inputs, outputs"), "404": errResp("unknown model or version")}
	infer := func(summary string, params []any) obj {
		o := op(summary, params, obj{
			"200": jsonResp("model_name, model_version, id and outputs class, probability, label, served_by, request_id"),
			"400": errResp("malformed request or invalid input (every problem listed)"),
			"404": errResp("unknown model or version"),
			"413": errResp("body over the limit"),
			"503": errResp("no model answered in time"),
		})
		o["requestBody"] = inferBody
		return o
	}
	return []api.Route{
		{Pattern: "GET /v2", Handler: http.HandlerFunc(s.serverMetadata), Operation: op("OIP v2 server metadata", nil, obj{"200": jsonResp("name, version, extensions")})},
		{Pattern: "GET /v2/health/live", Handler: http.HandlerFunc(s.live), Operation: op("OIP v2 liveness", nil, obj{"200": jsonResp("live")})},
		{Pattern: "GET /v2/health/ready", Handler: http.HandlerFunc(s.ready), Operation: op("OIP v2 readiness", nil, obj{"200": jsonResp("ready"), "400": errResp("not ready (the spec's 4xx)")})},
		{Pattern: "GET /v2/models/{name}", Handler: http.HandlerFunc(s.modelMetadata), Operation: op("OIP v2 model metadata", []any{name}, meta)},
		{Pattern: "GET /v2/models/{name}/versions/{version}", Handler: http.HandlerFunc(s.modelMetadata), Operation: op("OIP v2 model version metadata", []any{name, version}, meta)},
		{Pattern: "GET /v2/models/{name}/ready", Handler: http.HandlerFunc(s.modelReady), Operation: op("OIP v2 model readiness", []any{name}, ready)},
		{Pattern: "GET /v2/models/{name}/versions/{version}/ready", Handler: http.HandlerFunc(s.modelReady), Operation: op("OIP v2 model version readiness", []any{name, version}, ready)},
		{Pattern: "POST /v2/models/{name}/infer", Handler: http.HandlerFunc(s.infer), Operation: infer("OIP v2 inference: production's name goes through the rendezvous (recorded); another model's name calls that model alone", []any{name})},
		{Pattern: "POST /v2/models/{name}/versions/{version}/infer", Handler: http.HandlerFunc(s.infer), Operation: infer("OIP v2 inference on a model version", []any{name, version})},
	}
}

// ServeHTTP serves the routes on their own (without the API handler's
// request ids, metrics and recovery), for tests and stand-alone use.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// errorBody is the spec's error object.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	api.WriteJSON(w, status, errorBody{Error: msg})
}

// lookup finds the model a path names, checking the version when given.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (rendezvous.Member, bool) {
	name := r.PathValue("name")
	m, ok := s.gw.Deployment().Member(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown model %q", name))
		return m, false
	}
	if v := r.PathValue("version"); v != "" && v != m.Model.Info().Version {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %q (serving %q)", name, v, m.Model.Info().Version))
		return m, false
	}
	return m, true
}

func (s *Server) serverMetadata(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"name": s.p.ServerName, "version": s.p.ServerVersion, "extensions": []string{}})
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	var err error
	if s.p.Ready != nil {
		err = s.p.Ready(r.Context())
	} else {
		err = s.memberReady(r.Context(), s.gw.Deployment().Production())
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "not ready: "+err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if err := s.memberReady(r.Context(), m); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("model %q is not ready: %v", m.Name, err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"name": m.Name, "ready": true})
}

// memberReady: a model with an open circuit breaker is not ready; a model
// that can check its own readiness (a remote model) is asked, within
// DefaultReadyTimeout; any other model is ready.
func (s *Server) memberReady(ctx context.Context, m rendezvous.Member) error {
	if st, ok := m.Model.(interface{ State() string }); ok && st.State() == "open" {
		return errors.New("circuit breaker open")
	}
	if rd, ok := m.Model.(interface{ Ready(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
		defer cancel()
		return rd.Ready(ctx)
	}
	return nil
}

// tensorMeta is a metadata tensor.
type tensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// outputNames are the response outputs in order.
var outputNames = []string{"class", "probability", "label", "served_by", "request_id"}

var outputTypes = map[string]string{"class": "INT64", "probability": "FP64", "label": "BYTES", "served_by": "BYTES", "request_id": "BYTES"}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	info := m.Model.Info()
	fields := s.gw.Validator().Fields()
	inputs := make([]tensorMeta, len(fields))
	for i, f := range fields {
		inputs[i] = tensorMeta{Name: f.Name, Datatype: datatypeOf(f.Type), Shape: []int{-1}}
	}
	outputs := make([]tensorMeta, len(outputNames))
	for i, n := range outputNames {
		outputs[i] = tensorMeta{Name: n, Datatype: outputTypes[n], Shape: []int{-1}}
	}
	platform := "rendezvous:" + info.Algorithm
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"name":     m.Name,
		"versions": []string{info.Version},
		"platform": platform,
		"inputs":   inputs,
		"outputs":  outputs,
		"parameters": map[string]any{
			"role":     string(m.Role),
			"artifact": info.Artifact,
			// production's name answers through the rendezvous
			"rendezvous": m.Name == s.gw.Deployment().Production().Name,
		},
	})
}

// datatypeOf is the OIP datatype that carries a schema type.
func datatypeOf(t schema.Type) string {
	switch t {
	case schema.TypeInteger:
		return "INT64"
	case schema.TypeString:
		return "BYTES"
	case schema.TypeBoolean:
		return "BOOL"
	}
	return "FP64"
}

// inferRequest is the spec's inference request.
type inferRequest struct {
	ID         string          `json:"id"`
	Parameters map[string]any  `json:"parameters"`
	Inputs     []requestInput  `json:"inputs"`
	Outputs    []requestOutput `json:"outputs"`
}

type requestInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type requestOutput struct {
	Name string `json:"name"`
}

// responseOutput is one output tensor.
type responseOutput struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

type inferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version"`
	ID           string           `json:"id,omitempty"`
	Parameters   map[string]any   `json:"parameters,omitempty"`
	Outputs      []responseOutput `json:"outputs"`
}

// row is one decoded, validated input row.
type row struct {
	id string
	in schema.Input
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	m, ok := s.lookup(w, r)
	if !ok {
		return
	}
	received := s.gw.Now()
	reqID := s.p.RequestID(r)
	endpoint := r.URL.Path
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.p.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.p.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return
	}
	prod := m.Name == s.gw.Deployment().Production().Name
	rows, want, req, problems := s.decodeInfer(body, reqID)
	if len(problems) > 0 {
		if prod { // the decoy archives what production was sent
			s.gw.Reject(r.Context(), gateway.Rejected{ID: reqID, Endpoint: endpoint, Received: received, Raw: body, Problems: problems})
		}
		writeError(w, http.StatusBadRequest, problemText(problems))
		return
	}
	ticket, err := s.gw.Admit(r.Context(), len(rows))
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer ticket.Release()
	var answers []gateway.Answer
	if prod {
		reqs := make([]gateway.Request, len(rows))
		for i, rw := range rows {
			reqs[i] = gateway.Request{ID: rw.id, Endpoint: endpoint, Received: received, Input: rw.in}
		}
		answers, err = s.gw.PredictBatch(r.Context(), reqs)
	} else {
		answers, err = s.predictAlone(r.Context(), m, rows)
	}
	if err != nil {
		s.unavailable(w, m.Name, prod, len(rows) > 1, err)
		return
	}
	info := m.Model.Info()
	resp := inferResponse{ModelName: m.Name, ModelVersion: info.Version, ID: req.ID, Outputs: make([]responseOutput, 0, len(want))}
	if resp.ID == "" {
		resp.ID = reqID
	}
	for _, name := range want {
		resp.Outputs = append(resp.Outputs, output(name, answers))
	}
	api.WriteJSON(w, http.StatusOK, resp)
}

// decodeInfer parses an inference request: its rows (ids reqID, or
// reqID.i for a batch) and the outputs it asks for.
func (s *Server) decodeInfer(body []byte, reqID string) ([]row, []string, inferRequest, []schema.FieldError) {
	var req inferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, req, []schema.FieldError{{Field: "body", Problem: "not an inference request: " + err.Error()}}
	}
	rows, problems := s.decodeRows(req.Inputs)
	if len(problems) > 0 {
		return nil, nil, req, problems
	}
	want, problems := s.selectOutputs(req.Outputs)
	if len(problems) > 0 {
		return nil, nil, req, problems
	}
	for i := range rows {
		rows[i].id = reqID
		if len(rows) > 1 {
			rows[i].id = reqID + "." + strconv.Itoa(i)
		}
	}
	return rows, want, req, nil
}

// unavailable answers 503 for a row that got no answer.
func (s *Server) unavailable(w http.ResponseWriter, model string, prod, batch bool, err error) {
	what := "no model answered in time"
	if !prod {
		what = fmt.Sprintf("model %q gave no answer", model)
	}
	var be *gateway.BatchError
	if errors.As(err, &be) {
		if batch {
			what = fmt.Sprintf("row %d: %s", be.Index, what)
		}
		err = be.Err
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, what+": "+err.Error())
}

// output is one response tensor over every row's answer.
func output(name string, answers []gateway.Answer) responseOutput {
	o := responseOutput{Name: name, Shape: []int{len(answers)}, Datatype: outputTypes[name]}
	switch name {
	case "class":
		o.Data = column(answers, func(a *gateway.Answer) int64 { return int64(a.Decision.Prediction.Class) })
	case "probability":
		o.Data = column(answers, func(a *gateway.Answer) float64 { return a.Decision.Prediction.Probability })
	case "label":
		o.Data = column(answers, func(a *gateway.Answer) string { return a.Label })
	case "served_by":
		o.Data = column(answers, func(a *gateway.Answer) string { return a.Decision.ServedBy })
	case "request_id":
		o.Data = column(answers, func(a *gateway.Answer) string { return a.RequestID })
	}
	return o
}

// column is one value of every answer.
func column[T any](answers []gateway.Answer, value func(*gateway.Answer) T) []T {
	out := make([]T, len(answers))
	for i := range answers {
		out[i] = value(&answers[i])
	}
	return out
}

// predictAlone calls one model for every row, a few at a time, with the
// model's own deadline (nothing recorded). The error names the first row
// without an answer.
func (s *Server) predictAlone(ctx context.Context, m rendezvous.Member, rows []row) ([]gateway.Answer, error) {
	answers := make([]gateway.Answer, len(rows))
	errs := make([]error, len(rows))
	gateway.Parallel(len(rows), func(i int) {
		answers[i], errs[i] = s.gw.PredictMember(ctx, m, rows[i].in)
		answers[i].RequestID = rows[i].id
	})
	for i, err := range errs {
		if err != nil {
			return answers, &gateway.BatchError{Index: i, Err: err}
		}
	}
	return answers, nil
}

// selectOutputs returns the requested outputs (all when none are named).
func (s *Server) selectOutputs(req []requestOutput) ([]string, []schema.FieldError) {
	if len(req) == 0 {
		return outputNames, nil
	}
	var out []string
	var problems []schema.FieldError
	seen := map[string]bool{}
	for i, o := range req {
		if _, ok := outputTypes[o.Name]; !ok {
			problems = append(problems, schema.FieldError{Field: fmt.Sprintf("outputs[%d].name", i), Problem: fmt.Sprintf("unknown output %q (outputs: class, probability, label, served_by, request_id)", o.Name)})
			continue
		}
		if !seen[o.Name] {
			seen[o.Name] = true
			out = append(out, o.Name)
		}
	}
	return out, problems
}

func problemText(problems []schema.FieldError) string {
	var b []byte
	for i, p := range problems {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, p.Error()...)
	}
	return string(b)
}
