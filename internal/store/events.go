package store

import (
	"context"
	"encoding/json"
	"fmt"
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

// EncodeEvent is ev as every backend's AppendEvent keeps it: Seq cleared
// (the store assigns it), Time in UTC to the microsecond, and the whole
// event as JSON text (so strings, U+0000 included, and the gate's figures
// round-trip exactly).
func EncodeEvent(ev DeploymentEvent) (DeploymentEvent, []byte, error) {
	ev.Seq = 0
	ev.Time = ev.Time.UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(ev)
	if err != nil {
		return ev, nil, fmt.Errorf("encode deployment event: %w", err)
	}
	return ev, doc, nil
}

// DecodeEvent is a stored event back from its JSON text, with the seq and
// the time the store kept beside it.
func DecodeEvent(seq int64, at time.Time, doc []byte) (DeploymentEvent, error) {
	var ev DeploymentEvent
	if err := json.Unmarshal(doc, &ev); err != nil {
		return ev, fmt.Errorf("decode deployment event %d: %w", seq, err)
	}
	ev.Seq, ev.Time = seq, at.UTC()
	return ev, nil
}
