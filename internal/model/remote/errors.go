package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/rendezvous-gw/rendezvous/internal/model"

	"github.com/rendezvous-gw/rendezvous/internal/breaker"
)

// Kind classifies why a remote call failed. Metrics count failures per model
// and Kind; records carry the Kind in the error text.
type Kind string

// The kinds of failure.
const (
	// KindTimeout: no complete answer before the caller's deadline (or a
	// dial/transport timeout).
	KindTimeout Kind = "timeout"
	// KindRefused: no connection could be made (connection refused, DNS
	// failure, host unreachable).
	KindRefused Kind = "refused"
	// KindConnection: the connection broke after it was made (closed or
	// reset before or during the response).
	KindConnection Kind = "connection"
	// KindHTTP4xx: the remote answered with a 4xx status.
	KindHTTP4xx Kind = "http_4xx"
	// KindHTTP5xx: the remote answered with a 5xx status.
	KindHTTP5xx Kind = "http_5xx"
	// KindBadPayload: the response could not be understood (malformed
	// JSON, missing output, wrong shape, too large, unexpected status).
	KindBadPayload Kind = "bad_payload"
	// KindBadInput: the request could not be built (the pipeline failed, or
	// a value cannot be carried by the configured tensor layout). The
	// remote was not called.
	KindBadInput Kind = "bad_input"
	// KindCanceled: the caller cancelled the call before its deadline.
	KindCanceled Kind = "canceled"
	// KindCircuitOpen: the circuit breaker is open; the remote was not
	// called.
	KindCircuitOpen Kind = "circuit_open"
)

// Kinds lists every Kind, for metrics that pre-register their label values.
var Kinds = []Kind{
	KindTimeout, KindRefused, KindConnection, KindHTTP4xx, KindHTTP5xx,
	KindBadPayload, KindBadInput, KindCanceled, KindCircuitOpen,
}

// Error is the error of every failed remote call. Its message names the
// model and the Kind and never contains a configured header value.
type Error struct {
	// Model is the gateway-side model name.
	Model string
	Kind  Kind
	// StatusCode is the HTTP status for http_4xx, http_5xx and unexpected
	// statuses; 0 otherwise.
	StatusCode int
	// Err is the underlying cause (context.DeadlineExceeded for a timeout,
	// breaker.ErrOpen for circuit_open, …).
	Err error
}

// Error implements error: `remote model "m": timeout: <cause>`.
func (e *Error) Error() string {
	return fmt.Sprintf("remote model %q: %s: %v", e.Model, e.Kind, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, breaker.ErrOpen) work.
func (e *Error) Unwrap() error { return e.Err }

// Is makes a circuit_open error match model.ErrDeclined: the remote was
// not called, so the rendezvous records the model as skipped.
func (e *Error) Is(target error) bool {
	return target == model.ErrDeclined && e.Kind == KindCircuitOpen
}

// ErrorKind returns the kind as a string, for per-kind error metrics.
func (e *Error) ErrorKind() string { return string(e.Kind) }

// KindOf returns the Kind of a remote call error, or "" when err is not (and
// does not wrap) an *Error.
func KindOf(err error) Kind {
	var re *Error
	if errors.As(err, &re) {
		return re.Kind
	}
	return ""
}

// breakerOutcome says what a failure of kind k tells about the remote's
// health. A 4xx means the remote is up and judged this request (except 408
// and 429, which mean it is overloaded).
func breakerOutcome(e *Error) breaker.Outcome {
	switch e.Kind {
	case KindCanceled, KindBadInput, KindCircuitOpen:
		return breaker.Ignore
	case KindHTTP4xx:
		if e.StatusCode == 408 || e.StatusCode == 429 {
			return breaker.Failure
		}
		return breaker.Success
	}
	return breaker.Failure
}

// classifyTransport turns an error from http.Client.Do or from reading the
// body into a Kind, checking the caller's context first: once the deadline
// has passed every transport error is a consequence of it.
func classifyTransport(ctx context.Context, err error) Kind {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case ctx.Err() != nil, errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return KindRefused
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return KindRefused
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return KindRefused
	}
	return KindConnection
}

// statusKind classifies a non-2xx HTTP status.
func statusKind(code int) Kind {
	switch {
	case code >= 500:
		return KindHTTP5xx
	case code >= 400:
		return KindHTTP4xx
	}
	return KindBadPayload
}

// statusError describes a non-2xx answer with a short, redacted excerpt of
// its body.
func statusError(code int, snippet string) error {
	if snippet == "" {
		return errors.New("status " + strconv.Itoa(code))
	}
	return fmt.Errorf("status %d: %s", code, snippet)
}
