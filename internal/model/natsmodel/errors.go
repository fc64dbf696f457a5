package natsmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/rendezvous-gw/rendezvous/internal/breaker"
	"github.com/rendezvous-gw/rendezvous/internal/model"
)

// Kind classifies why a call to a NATS model failed. Metrics count failures
// per model and Kind; records carry the Kind in the error text.
type Kind string

// The kinds of failure.
const (
	// KindTimeout: no reply before the caller's deadline.
	KindTimeout Kind = "timeout"
	// KindNoResponders: no worker of the model is subscribed; the NATS
	// server said so at once. Recorded as skipped.
	KindNoResponders Kind = "no_responders"
	// KindConnection: the gateway is not connected to NATS (down,
	// reconnecting, closed).
	KindConnection Kind = "connection"
	// KindWorker: the worker answered with an error (its model failed or
	// it could not decode the request).
	KindWorker Kind = "worker_error"
	// KindBadPayload: the reply could not be understood.
	KindBadPayload Kind = "bad_payload"
	// KindBadInput: the request could not be encoded; nothing was sent.
	KindBadInput Kind = "bad_input"
	// KindCanceled: the caller cancelled the call before its deadline.
	KindCanceled Kind = "canceled"
	// KindCircuitOpen: the breaker is open; nothing was sent. Recorded as
	// skipped.
	KindCircuitOpen Kind = "circuit_open"
)

// Error is the error of every failed call.
type Error struct {
	Model string
	Kind  Kind
	Err   error
}

// Error implements error: `nats model "m": no_responders: <cause>`.
func (e *Error) Error() string {
	return fmt.Sprintf("nats model %q: %s: %v", e.Model, e.Kind, e.Err)
}

// Unwrap returns the cause (nats.ErrNoResponders, context.DeadlineExceeded,
// breaker.ErrOpen, …).
func (e *Error) Unwrap() error { return e.Err }

// Is makes no_responders and circuit_open match model.ErrDeclined: no
// worker was asked, so the rendezvous records the model as skipped.
func (e *Error) Is(target error) bool {
	return target == model.ErrDeclined && (e.Kind == KindNoResponders || e.Kind == KindCircuitOpen)
}

// ErrorKind returns the kind as a string, for per-kind error metrics.
func (e *Error) ErrorKind() string { return string(e.Kind) }

// KindOf returns the Kind of err, or "" when it is not (and does not wrap)
// an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// classify turns an error of nats.Conn.RequestWithContext into a Kind,
// checking the caller's context first.
func classify(ctx context.Context, err error) Kind {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return KindNoResponders
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return KindTimeout
	case ctx.Err() != nil, errors.Is(err, context.Canceled):
		return KindCanceled
	}
	return KindConnection
}

// breakerOutcome says what a failure tells about the workers' health. No
// responders is answered at once by the server and costs nothing, so it
// neither opens nor closes the breaker.
func breakerOutcome(k Kind) breaker.Outcome {
	switch k {
	case KindCanceled, KindBadInput, KindCircuitOpen, KindNoResponders, KindWorker:
		return breaker.Ignore
	}
	return breaker.Failure
}
