package rendezvous

import (
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// Member is one live model in the rendezvous.
type Member struct {
	// Name is the model's key in records (unique).
	Name  string
	Role  model.Role
	Model model.Model
	// Deadline is how long the model has to answer to be eligible to serve
	// (default 50ms).
	Deadline time.Duration
	// MaxInFlight caps concurrent calls to this model; over it the model is
	// skipped for the request (default 1024).
	MaxInFlight int
	// Skip is the share of requests, in [0, 1], the member is not called
	// for: a request whose sampling key (RouteKey) hashes below Skip skips
	// it, recorded as skipped with ErrNotSampled. The share a member sees
	// (its "sample") is 1 − Skip. 0, the default, calls it for every
	// request. The hash depends on the key alone, so a replay of a request
	// id sees the same members, and a member with a smaller Skip sees a
	// superset of the requests one with a larger Skip sees. Production
	// cannot skip.
	Skip float64
	// Paused members are not called at all (recorded as skipped with
	// ErrPaused). Production cannot be paused.
	Paused bool
}

// Policy configures which answer the caller gets.
type Policy struct {
	// Fallback lists member names tried, in order, when production errors
	// or misses its deadline. Default: the canary, then challengers in
	// member order.
	Fallback []string
	// OverallDeadline bounds the wait for any qualifying answer (default:
	// the largest deadline among production and the fallbacks).
	OverallDeadline time.Duration
}

// Result is one member's outcome for one request.
type Result struct {
	Name       string
	Role       model.Role
	Info       model.Info
	Prediction model.Prediction
	Status     record.Status
	Err        error
	Latency    time.Duration
}

// Decision is what the policy chose for the caller.
type Decision struct {
	// ServedBy is the member whose answer the caller gets ("" when none).
	ServedBy string
	Role     model.Role
	Info     model.Info
	// Reason is "preferred", "fallback" or "unavailable".
	Reason     string
	Fallback   bool
	Prediction model.Prediction
	// Latency is from the start of Route to the decision.
	Latency time.Duration
	// Deadline is the deadline the preferred model had.
	Deadline time.Duration
}

// MemberStats is a point-in-time view of one member for GET /v1/models.
type MemberStats struct {
	Name        string
	Role        model.Role
	Info        model.Info
	Deadline    time.Duration
	MaxInFlight int
	InFlight    int
	// Skip and Paused are the member's (see Member).
	Skip   float64
	Paused bool
	// State is "ready" or, for members that report one (remote models with
	// a circuit breaker), their own state such as "open".
	State string
}
