// Package record defines the one-document-per-request record of what every
// model did, and the recorder that moves records to a store without ever
// blocking the request path.
package record

import (
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Status of one request.
const (
	RequestOK          = "ok"          // a model answered and the caller got 200
	RequestRejected    = "rejected"    // the input failed validation (4xx); raw body kept
	RequestUnavailable = "unavailable" // no model qualified in time (503)
)

// Status is the outcome of one model for one request.
type Status string

// Model outcomes.
const (
	// StatusOK: answered within its deadline.
	StatusOK Status = "ok"
	// StatusError: returned an error or panicked.
	StatusError Status = "error"
	// StatusTimeout: gave no answer by its deadline (or by the hard cut-off
	// after it).
	StatusTimeout Status = "timeout"
	// StatusSkipped: not called (in-flight cap reached, circuit open).
	StatusSkipped Status = "skipped"
	// StatusLate: answered, but after its own deadline; recorded, never served.
	StatusLate Status = "late"
)

// Record is everything known about one request. Models are keys of Models, so
// adding or removing a challenger never changes a store's layout.
type Record struct {
	ID         string    `json:"_id"`
	ReceivedAt time.Time `json:"received_at"`
	Endpoint   string    `json:"endpoint"`
	EntityID   string    `json:"entity_id,omitempty"`
	// Input is the validated input (sentinels already turned into null).
	Input schema.Input `json:"input,omitempty"`
	// Raw is the body as received, kept for rejected requests so the decoy
	// archives everything that arrives; the gateway keeps at most
	// server.max_recorded_body_bytes of it.
	Raw string `json:"raw,omitempty"`
	// RawBytes and RawSHA256 are the length and SHA-256 (hex) of the whole
	// body Raw was cut from, when Raw is not the whole body.
	RawBytes  int64                  `json:"raw_bytes,omitempty"`
	RawSHA256 string                 `json:"raw_sha256,omitempty"`
	Status    string                 `json:"status"`
	Problems  []schema.FieldError    `json:"problems,omitempty"`
	Models    map[string]ModelResult `json:"models,omitempty"`
	Decision  *Decision              `json:"decision,omitempty"`
}

// ModelResult is one model's part of a request.
type ModelResult struct {
	Role     model.Role     `json:"role"`
	Version  string         `json:"version,omitempty"`
	Artifact string         `json:"artifact,omitempty"`
	Features model.Features `json:"features,omitzero"`
	// Prediction and Probability are nil when the model gave no answer.
	Prediction  *int     `json:"prediction,omitempty"`
	Label       string   `json:"label,omitempty"`
	Probability *float64 `json:"probability,omitempty"`
	LatencyUS   int64    `json:"latency_us"`
	Status      Status   `json:"status"`
	Error       string   `json:"error,omitempty"`
}

// Decision records which model answered the caller and why.
type Decision struct {
	ServedBy string `json:"served_by,omitempty"`
	// Reason is "preferred" (production answered in time), "fallback" (a
	// fallback model answered) or "unavailable" (nothing qualified: 503).
	Reason     string `json:"reason"`
	DeadlineMS int64  `json:"deadline_ms"`
	LatencyUS  int64  `json:"latency_us"`
	// Deployment is the seq of the deployment that served the request
	// (gateway.Deployment.Seq: the deployment event that made it live;
	// 0, and absent from the JSON, for the deployment the server started
	// with). Group by it to split analytics at every change.
	Deployment int64 `json:"deployment,omitempty"`
}

// Feedback is one ground-truth label. Feedback is append-only: a later label
// for the same request supersedes an earlier one when read, and never
// rewrites a record.
//
// ID names the row: a store's WriteFeedback is idempotent by it (a row whose
// ID is stored already is skipped), so a batch written twice — retried, or
// replayed from the recorder's spool — is stored once. Rows without an ID
// (written before feedback had ids) are always appended. A row with an
// empty RequestID is an entity label that matched no stored request when it
// arrived (see package feedback): kept, and pending, for good.
type Feedback struct {
	ID         string    `json:"id,omitempty"`
	RequestID  string    `json:"request_id"`
	EntityID   string    `json:"entity_id,omitempty"`
	Label      int       `json:"label"`
	ReceivedAt time.Time `json:"received_at"`
}
