package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
)

// ReplayRequest is a checked POST /v1/replay body.
type ReplayRequest struct {
	// Candidate is the model to replay: a bundle file on the server, an
	// uploaded bundle or a remote model (gateway.LoadSource loads it).
	Candidate gateway.Source
	// Name is what the results are stored and compared under ("": the
	// bundle's name; required for a remote model).
	Name string
	// Since (inclusive) and Until (exclusive) bound the records' received
	// times; zero is unbounded.
	Since, Until time.Time
	// Sample is the share of requests replayed, in (0, 1].
	Sample float64
	// Concurrency is the number of scoring goroutines (0: the CPUs).
	Concurrency int
}

// ReplayFunc prepares a replay against the server's own store: it loads
// the candidate and checks the request. A *gateway.FieldError is the
// body's fault (400 naming the field). The handler calls the ReplayRun it
// returns exactly once, so the run may release the candidate (a remote or
// NATS model's connections) when it ends.
type ReplayFunc func(req ReplayRequest) (ReplayRun, error)

// ReplayRun runs a prepared replay and returns its outcome
// (monitor.ReplayOutcome: the statistics and the report), calling progress
// (nil: none; from any goroutine) with the running statistics
// (monitor.ReplayProgress). ctx ends when the client goes away.
type ReplayRun func(ctx context.Context, progress func(v any)) (any, error)

// ReplayProgressInterval is how often a streamed replay sends a progress
// line.
const ReplayProgressInterval = time.Second

// ndjson is the streamed answer's media type.
const ndjson = "application/x-ndjson"

// replayBody is POST /v1/replay's JSON body.
type replayBody struct {
	Candidate   *gateway.Source `json:"candidate"`
	Name        string          `json:"name"`
	Since       string          `json:"since"`
	Until       string          `json:"until"`
	Sample      *float64        `json:"sample"`
	Concurrency int             `json:"concurrency"`
}

// check turns the body into a ReplayRequest or names the field at fault.
func (b replayBody) check() (ReplayRequest, *fieldErrorBody) {
	bad := func(field, msg string) (ReplayRequest, *fieldErrorBody) {
		return ReplayRequest{}, &fieldErrorBody{Error: field + ": " + msg, Field: field}
	}
	req := ReplayRequest{Name: b.Name, Sample: 1, Concurrency: b.Concurrency}
	switch {
	case b.Candidate == nil:
		return bad("candidate", `required: {"bundle": PATH on the server}, {"bundle_json": {…}} or {"remote": {…}}`)
	case b.Candidate.Remote != nil && b.Name == "":
		return bad("name", "required with a remote candidate (the name the results are stored and compared under)")
	case b.Concurrency < 0:
		return bad("concurrency", fmt.Sprintf("must be >= 0, got %d", b.Concurrency))
	}
	if err := b.Candidate.Check(); err != nil {
		var fe *gateway.FieldError
		if errors.As(err, &fe) {
			return bad("candidate."+fe.Field, fe.Msg)
		}
		return bad("candidate", err.Error())
	}
	req.Candidate = *b.Candidate
	if b.Sample != nil {
		if !(*b.Sample > 0 && *b.Sample <= 1) {
			return bad("sample", fmt.Sprintf("must be in (0, 1], got %g", *b.Sample))
		}
		req.Sample = *b.Sample
	}
	for _, t := range []struct {
		field, v string
		dst      *time.Time
	}{{"since", b.Since, &req.Since}, {"until", b.Until, &req.Until}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			return bad(t.field, fmt.Sprintf("want an RFC 3339 time such as 2026-11-24T12:00:00Z, got %q", t.v))
		}
		*t.dst = v
	}
	if !req.Since.IsZero() && !req.Until.IsZero() && !req.Until.After(req.Since) {
		return bad("until", "must be after since")
	}
	return req, nil
}

// replayRun serves POST /v1/replay: one replay at a time (409 while one
// runs), 503 when the server keeps no replay results. With Accept:
// application/x-ndjson the answer is a stream of {"progress": …} lines,
// one a second and one at the end, then {"result": …} (or {"error": …,
// "field": …}); otherwise the outcome as one JSON object.
func (h *Handler) replayRun(w http.ResponseWriter, r *http.Request) {
	if h.replayFn == nil {
		writeError(w, http.StatusServiceUnavailable, errorBody{Error: "this server keeps no replay results: serve with a record store (--store URL) to replay", RequestID: requestID(r)})
		return
	}
	var body replayBody
	if !decodeStrict(w, r, &body, false) {
		return
	}
	req, fe := body.check()
	if fe != nil {
		writeJSON(w, http.StatusBadRequest, fe)
		return
	}
	if !h.replaying.CompareAndSwap(false, true) {
		writeError(w, http.StatusConflict, errorBody{Error: "a replay is already running on this server; retry when it ends", RequestID: requestID(r)})
		return
	}
	defer h.replaying.Store(false)
	run, err := h.replayFn(req) // the candidate is loaded only when it will run
	if err != nil {
		h.writeReplayError(w, r, err)
		return
	}
	// A replay outlives the server's read and write timeouts: the body is
	// read, and the answer's deadline is set when it is written.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	if wantsNDJSON(r) {
		h.streamReplay(w, r, rc, run)
		return
	}
	out, err := run(r.Context(), nil)
	h.extendWrite(rc)
	if err != nil {
		h.writeReplayError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// streamReplay runs the replay, sending the latest progress every
// ReplayProgressInterval as an NDJSON line, then the result.
func (h *Handler) streamReplay(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, run ReplayRun) {
	var (
		mu     sync.Mutex
		latest any
	)
	type outcome struct {
		v   any
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		v, err := run(r.Context(), func(p any) { mu.Lock(); latest = p; mu.Unlock() })
		done <- outcome{v, err}
	}()
	w.Header().Set("Content-Type", ndjson)
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	line := func(v any) {
		h.extendWrite(rc)
		_ = enc.Encode(v) // the client went away: the run's context ends
		_ = rc.Flush()
	}
	sendProgress := func() {
		mu.Lock()
		p := latest
		latest = nil
		mu.Unlock()
		if p != nil {
			line(map[string]any{"progress": p})
		}
	}
	tick := time.NewTicker(ReplayProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			sendProgress()
		case o := <-done:
			sendProgress()
			if o.err != nil {
				line(h.replayErrorBody(r, o.err))
				return
			}
			line(map[string]any{"result": o.v})
			return
		}
	}
}

// extendWrite gives the next write the server's write timeout.
func (h *Handler) extendWrite(rc *http.ResponseController) {
	if d := h.cfg.Server.WriteTimeout; d > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(d))
	}
}

// replayErrorBody is the body of a failed replay: the field at fault, or
// the error.
func (h *Handler) replayErrorBody(r *http.Request, err error) fieldErrorBody {
	var fe *gateway.FieldError
	if errors.As(err, &fe) {
		return fieldErrorBody{Error: fieldPath(fe.Field) + ": " + fe.Msg, Field: fieldPath(fe.Field)}
	}
	if r.Context().Err() == nil {
		h.log.Error("replay", "err", err)
	}
	return fieldErrorBody{Error: err.Error()}
}

// fieldPath names a candidate's field in the body ("bundle" is
// "candidate.bundle"); "name" stays.
func fieldPath(f string) string {
	if f == "name" || f == "" {
		return f
	}
	return "candidate." + f
}

func (h *Handler) writeReplayError(w http.ResponseWriter, r *http.Request, err error) {
	body := h.replayErrorBody(r, err)
	status := http.StatusInternalServerError
	if body.Field != "" {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, body)
}

// wantsNDJSON reports whether the client accepts application/x-ndjson.
func wantsNDJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == ndjson {
			return true
		}
	}
	return false
}
