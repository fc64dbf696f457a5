package store

import (
	"context"
	"encoding/json"
	"time"
)

// DeploymentEvent is one change of the live deployment: the lifecycle's
// audit log (GET /v1/deployments) and what a restart replays.
type DeploymentEvent struct {
	// Seq is assigned by the store: strictly increasing in append order.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	// Kind is add, remove, patch, promote, rollback or reload.
	Kind string `json:"kind"`
	// Model is the member the change is about ("" for rollback, reload).
	Model string `json:"model,omitempty"`
	// Actor is who asked (the token's name; "local" without access control).
	Actor string `json:"actor"`
	// Before and After are every member's role around the change.
	Before []MemberRole `json:"before"`
	After  []MemberRole `json:"after"`
	// Gate holds the promotion gate's figures (promote only).
	Gate json.RawMessage `json:"gate,omitempty"`
	// Reason is the caller's; Forced marks a promotion that overrode a
	// refusing gate.
	Reason string `json:"reason,omitempty"`
	Forced bool   `json:"forced"`
	// State is the whole deployment after the change (members, sources,
	// policy) so a restart can restore it.
	State json.RawMessage `json:"state,omitempty"`
}

// MemberRole is one member's role at a point in time.
type MemberRole struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// EventLog stores deployment events. Every backend implements it; the
// contract suite (storetest) covers it.
type EventLog interface {
	// AppendEvent stores ev and returns it with Seq set. ev.Time is kept
	// to the microsecond.
	AppendEvent(ctx context.Context, ev DeploymentEvent) (DeploymentEvent, error)
	// ListEvents returns the events in append order (oldest first); limit
	// > 0 keeps only the newest limit of them.
	ListEvents(ctx context.Context, limit int) ([]DeploymentEvent, error)
}
