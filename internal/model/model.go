// Package model defines the Model interface the gateway calls, the bundle file
// format of a trained model version, and the declarative feature pipeline.
package model

import (
	"context"
	"errors"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Role is the part a model plays in the rendezvous.
type Role string

// The roles. Exactly one production and at most one canary are live at a time;
// any number of challengers may run beside them.
const (
	RoleProduction Role = "production"
	RoleCanary     Role = "canary"
	RoleChallenger Role = "challenger"
)

// Rank orders roles for display: production 0, canary 1, challenger 2,
// anything else 3.
func (r Role) Rank() int {
	switch r {
	case RoleProduction:
		return 0
	case RoleCanary:
		return 1
	case RoleChallenger:
		return 2
	}
	return 3
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	return r == RoleProduction || r == RoleCanary || r == RoleChallenger
}

// Info identifies one model version.
type Info struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Algorithm string `json:"algorithm"`
	// Artifact is "sha256:<hex>" of the bundle file bytes, or a remote
	// model's identity (e.g. "oip-v2:http://host/v2/models/x").
	Artifact string `json:"artifact"`
}

// Prediction is one model's answer for one input.
type Prediction struct {
	// Class is the predicted class (1 = positive).
	Class int
	// Label is the configured word for Class (e.g. "Survived").
	Label string
	// Probability is the probability of the positive class.
	Probability float64
	// Features are the transformed features the model scored (empty for a
	// remote model that receives the raw input).
	Features Features
}

// Model is a trained model the gateway can call.
//
// Implementations must be safe for concurrent use by many goroutines. Predict
// must honour ctx where it can block (remote calls); in-process models may
// ignore it. An error means the model produced no answer; the caller records
// it and never retries.
type Model interface {
	Info() Info
	Predict(ctx context.Context, in schema.Input) (Prediction, error)
}

// Inliner is implemented by a model that is safe to call on the caller's
// goroutine: in-process, CPU-bound, bounded to microseconds, never blocking
// on I/O or locks another request may hold. The rendezvous calls a model
// whose Inline returns true directly, in policy order, instead of on a
// goroutine of its own: under load a spawned goroutine waits behind every
// other runnable one for a CPU (and can miss its deadline doing so), while
// the call itself takes less than spawning it. An inline model runs to
// completion; the context it is given carries values, not a deadline.
type Inliner interface {
	Inline() bool
}

// Sentinel errors.
var (
	// ErrInvalidBundle is wrapped by every bundle loading error.
	ErrInvalidBundle = errors.New("invalid model bundle")
	// ErrDeclined is matched (errors.Is) by a Predict error that means the
	// model declined the call without trying — e.g. a remote model whose
	// circuit breaker is open. The rendezvous records it as skipped.
	ErrDeclined = errors.New("model declined the call")
)
