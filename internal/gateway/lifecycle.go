package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Lifecycle errors (the API maps them: ErrUnknownMember 404, ErrConflict
// 409, *FieldError 400, ErrNoPrevious 409).
var (
	ErrUnknownMember = errors.New("no such model in the deployment")
	ErrConflict      = errors.New("change conflicts with the deployment")
	ErrNoPrevious    = errors.New("no earlier deployment to roll back to")
	// ErrEventNotStored is wrapped by a change's error when the change is
	// live but its event could not be stored (it will not survive a
	// restart).
	ErrEventNotStored = errors.New("the change is live but its event was not stored")
)

// maxPrevious is how many earlier deployments Rollback can go back.
const maxPrevious = 16

// Change is who asked for a change and why, for its event.
type Change struct {
	// Actor is the caller (the token's name; "local" when empty).
	Actor  string
	Reason string
	// Forced marks a promotion that overrode a refusing gate.
	Forced bool
	// Gate is the promotion gate's figures (any JSON value).
	Gate any
}

// MemberSpec is a member to add: its name, role (challenger or canary),
// limits, sample and where its model comes from.
type MemberSpec struct {
	Name        string     `json:"name"`
	Role        model.Role `json:"role"`
	Deadline    Duration   `json:"deadline,omitempty"`
	MaxInFlight int        `json:"max_in_flight,omitempty"`
	// Sample is the share of requests, in [0, 1], the member is called for
	// (nil: 1). The choice is a hash of the request id: a replay sees the
	// same share, and a member not sampled is recorded as skipped with the
	// reason "request not in the member's sample".
	Sample *float64 `json:"sample,omitempty"`
	Paused bool     `json:"paused,omitempty"`
	Source
}

// Patch changes a member; nil fields are left alone.
type Patch struct {
	Role        *model.Role `json:"role,omitempty"`
	Deadline    *Duration   `json:"deadline,omitempty"`
	MaxInFlight *int        `json:"max_in_flight,omitempty"`
	Sample      *float64    `json:"sample,omitempty"`
	Paused      *bool       `json:"paused,omitempty"`
	// Fallback is the member's position in the fallback order (0: first
	// backstop after production); -1 takes it out (a shadow).
	Fallback *int `json:"fallback,omitempty"`
}

// skipOf turns a sample share into rendezvous.Member.Skip, checking it.
func skipOf(sample *float64) (float64, error) {
	if sample == nil {
		return 0, nil
	}
	s := *sample
	if math.IsNaN(s) || s < 0 || s > 1 {
		return 0, &FieldError{Field: "sample", Msg: fmt.Sprintf("%v: must be a share in [0, 1]", s)}
	}
	return 1 - s, nil
}

// Sample is the share of requests a member with that Skip sees.
func Sample(skip float64) float64 { return math.Round((1-skip)*1e9) / 1e9 }

// AddMember adds a challenger or canary whose model is m (built from
// spec.Source by LoadSource) and swaps the new deployment in.
func (g *Gateway) AddMember(ctx context.Context, spec MemberSpec, m model.Model, ch Change) (store.DeploymentEvent, error) {
	skip, err := skipOf(spec.Sample)
	if err != nil {
		return store.DeploymentEvent{}, err
	}
	switch {
	case spec.Name == "":
		return store.DeploymentEvent{}, &FieldError{Field: "name", Msg: "required"}
	case spec.Role != model.RoleChallenger && spec.Role != model.RoleCanary:
		return store.DeploymentEvent{}, &FieldError{Field: "role", Msg: fmt.Sprintf("%q: must be challenger or canary (promote a challenger to make it production)", spec.Role)}
	case spec.Deadline < 0:
		return store.DeploymentEvent{}, &FieldError{Field: "deadline", Msg: "must be >= 0"}
	case spec.MaxInFlight < 0:
		return store.DeploymentEvent{}, &FieldError{Field: "max_in_flight", Msg: "must be >= 0"}
	}
	return g.change(ctx, "add", spec.Name, ch, func(d *Deployment) (*Deployment, error) {
		if _, ok := d.Member(spec.Name); ok {
			return nil, fmt.Errorf("%w: a model named %q is already deployed", ErrConflict, spec.Name)
		}
		if spec.Role == model.RoleCanary {
			for _, x := range d.Members {
				if x.Role == model.RoleCanary {
					return nil, fmt.Errorf("%w: %q is already the canary (at most one)", ErrConflict, x.Name)
				}
			}
		}
		members := append(slices.Clone(d.Members), rendezvous.Member{
			Name: spec.Name, Role: spec.Role, Model: m, Deadline: time.Duration(spec.Deadline),
			MaxInFlight: spec.MaxInFlight, Skip: skip, Paused: spec.Paused,
		})
		sources := cloneSources(d.Sources)
		sources[spec.Name] = spec.Source
		return d.rebuild(members, d.Policy, sources)
	})
}

// RemoveMember removes a challenger or the canary (never production).
func (g *Gateway) RemoveMember(ctx context.Context, name string, ch Change) (store.DeploymentEvent, error) {
	return g.change(ctx, "remove", name, ch, func(d *Deployment) (*Deployment, error) {
		i := d.index(name)
		if i < 0 {
			return nil, fmt.Errorf("%w: %q", ErrUnknownMember, name)
		}
		if d.Members[i].Role == model.RoleProduction {
			return nil, fmt.Errorf("%w: %q is the production model; promote another model first", ErrConflict, name)
		}
		members := slices.Delete(slices.Clone(d.Members), i, i+1)
		policy := d.Policy
		policy.Fallback = slices.DeleteFunc(slices.Clone(policy.Fallback), func(s string) bool { return s == name })
		sources := cloneSources(d.Sources)
		delete(sources, name)
		return d.rebuild(members, policy, sources)
	})
}

// PatchMember changes a member's deadline, cap, sample, pause, role
// (challenger ↔ canary) or place in the fallback order.
func (g *Gateway) PatchMember(ctx context.Context, name string, p Patch, ch Change) (store.DeploymentEvent, error) {
	var skip float64
	if p.Sample != nil {
		var err error
		if skip, err = skipOf(p.Sample); err != nil {
			return store.DeploymentEvent{}, err
		}
	}
	return g.change(ctx, "patch", name, ch, func(d *Deployment) (*Deployment, error) {
		i := d.index(name)
		if i < 0 {
			return nil, fmt.Errorf("%w: %q", ErrUnknownMember, name)
		}
		members := slices.Clone(d.Members)
		m := &members[i]
		prod := m.Role == model.RoleProduction
		if p.Role != nil {
			if prod || (*p.Role != model.RoleChallenger && *p.Role != model.RoleCanary) {
				return nil, &FieldError{Field: "role", Msg: fmt.Sprintf("%q: only a challenger or canary's role can change, to challenger or canary (use promote for production)", *p.Role)}
			}
			m.Role = *p.Role
		}
		if p.Deadline != nil {
			if *p.Deadline < 0 {
				return nil, &FieldError{Field: "deadline", Msg: "must be >= 0"}
			}
			m.Deadline = time.Duration(*p.Deadline)
		}
		if p.MaxInFlight != nil {
			if *p.MaxInFlight < 0 {
				return nil, &FieldError{Field: "max_in_flight", Msg: "must be >= 0"}
			}
			m.MaxInFlight = *p.MaxInFlight
		}
		if p.Sample != nil {
			if prod && skip != 0 {
				return nil, &FieldError{Field: "sample", Msg: "the production model sees every request"}
			}
			m.Skip = skip
		}
		if p.Paused != nil {
			if prod && *p.Paused {
				return nil, &FieldError{Field: "paused", Msg: "the production model cannot be paused"}
			}
			m.Paused = *p.Paused
		}
		policy := d.Policy
		if p.Fallback != nil {
			if prod {
				return nil, &FieldError{Field: "fallback", Msg: "the production model is not a fallback"}
			}
			order := slices.DeleteFunc(d.fallbackOrder(), func(s string) bool { return s == name })
			pos := *p.Fallback
			switch {
			case pos == -1:
			case pos < 0 || pos > len(order):
				return nil, &FieldError{Field: "fallback", Msg: fmt.Sprintf("%d: must be -1 (not a fallback) or a position from 0 to %d", pos, len(order))}
			default:
				order = slices.Insert(order, pos, name)
			}
			policy.Fallback = order
		}
		return d.rebuild(members, policy, d.Sources)
	})
}

// Promote makes challenger (or the canary) name production; the previous
// production model becomes a challenger and keeps running, so Rollback is
// instant. It takes the place of the promoted model in an explicit
// fallback order. The gate is the caller's (ch.Gate, ch.Forced).
func (g *Gateway) Promote(ctx context.Context, name string, ch Change) (store.DeploymentEvent, error) {
	return g.change(ctx, "promote", name, ch, func(d *Deployment) (*Deployment, error) {
		i := d.index(name)
		if i < 0 {
			return nil, fmt.Errorf("%w: %q", ErrUnknownMember, name)
		}
		if d.Members[i].Role == model.RoleProduction {
			return nil, fmt.Errorf("%w: %q is already the production model", ErrConflict, name)
		}
		members := slices.Clone(d.Members)
		old := &members[d.production]
		old.Role = model.RoleChallenger
		m := &members[i]
		m.Role, m.Skip, m.Paused = model.RoleProduction, 0, false
		policy := d.Policy
		if len(policy.Fallback) > 0 {
			policy.Fallback = slices.Clone(policy.Fallback)
			if k := slices.Index(policy.Fallback, name); k >= 0 {
				policy.Fallback[k] = old.Name
			}
		}
		return d.rebuild(members, policy, d.Sources)
	})
}

// Rollback restores the deployment before the last change (the models are
// the same objects, still warm). Repeated calls go further back, up to 16
// changes.
func (g *Gateway) Rollback(ctx context.Context, ch Change) (store.DeploymentEvent, error) {
	g.changeMu.Lock()
	defer g.changeMu.Unlock()
	if len(g.earlier) == 0 {
		// Nothing in memory (the server restarted since the change):
		// the stored history knows what the deployment was.
		prev, err := g.previousFromHistory(ctx)
		if err != nil {
			return store.DeploymentEvent{}, err
		}
		return g.apply(ctx, "rollback", "", ch, g.dep.Load(), prev)
	}
	prev := g.earlier[len(g.earlier)-1]
	ev, err := g.apply(ctx, "rollback", "", ch, g.dep.Load(), prev)
	if err == nil || errors.Is(err, ErrEventNotStored) {
		g.earlier = g.earlier[:len(g.earlier)-1]
	}
	return ev, err
}

// previousFromHistory is the deployment Rollback goes back to when memory
// holds none, rebuilt from the stored events as memory would have kept it:
// every change pushes the deployment before it (the previous event's
// state; the configuration file's, Params.Base, before the first event), a
// rollback pops one, and 16 are kept. Models whose source is unchanged are
// the live ones; others are loaded with Params.Loader. ErrNoPrevious when
// the history has nothing to go back to or there is no history.
func (g *Gateway) previousFromHistory(ctx context.Context) (*Deployment, error) {
	if g.events == nil || g.loader == nil || g.base == nil {
		return nil, ErrNoPrevious
	}
	history, err := g.events.ListEvents(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("read the deployment history to roll back: %w", err)
	}
	var stack []json.RawMessage // nil entry: the configuration file's deployment
	for i, ev := range history {
		if ev.Kind == "rollback" {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		var before json.RawMessage
		if i > 0 {
			before = history[i-1].State
		}
		stack = append(stack, before)
		if len(stack) > maxPrevious {
			stack = stack[1:]
		}
	}
	if len(stack) == 0 {
		return nil, ErrNoPrevious
	}
	top := stack[len(stack)-1]
	if len(top) == 0 {
		return g.base, nil
	}
	var st State
	if err := json.Unmarshal(top, &st); err != nil {
		return nil, fmt.Errorf("decode the saved deployment to roll back to: %w", err)
	}
	d, err := g.dep.Load().LoadState(st, g.loader)
	if err != nil {
		return nil, fmt.Errorf("rebuild the saved deployment to roll back to: %w", err)
	}
	return d, nil
}

// Replace swaps d in as a change of kind (reload) and logs it.
func (g *Gateway) Replace(ctx context.Context, kind string, d *Deployment, ch Change) (store.DeploymentEvent, error) {
	return g.change(ctx, kind, "", ch, func(*Deployment) (*Deployment, error) { return d, nil })
}

// ErrNoEventLog is Events' error when the gateway has no event log (no
// store: recording is off, so changes are only logged and a restart
// returns to the configuration file).
var ErrNoEventLog = errors.New("deployment history is not kept without a store (changes are logged by the server; a restart returns to the configuration file)")

// Events lists the deployment events (limit > 0: the newest limit).
func (g *Gateway) Events(ctx context.Context, limit int) ([]store.DeploymentEvent, error) {
	if g.events == nil {
		return nil, ErrNoEventLog
	}
	return g.events.ListEvents(ctx, limit)
}

// change builds the next deployment from the current one with build,
// swaps it in, remembers the previous one for Rollback and logs the event.
// Changes are serialised; requests never wait for them.
func (g *Gateway) change(ctx context.Context, kind, name string, ch Change, build func(*Deployment) (*Deployment, error)) (store.DeploymentEvent, error) {
	return g.changeWith(ctx, kind, name, func() Change { return ch }, build)
}

// changeWith is change whose Change is known only after build (a reload's
// reason says what it changed).
func (g *Gateway) changeWith(ctx context.Context, kind, name string, ch func() Change, build func(*Deployment) (*Deployment, error)) (store.DeploymentEvent, error) {
	g.changeMu.Lock()
	defer g.changeMu.Unlock()
	before := g.dep.Load()
	next, err := build(before)
	if err != nil {
		return store.DeploymentEvent{}, err
	}
	ev, err := g.apply(ctx, kind, name, ch(), before, next)
	if err != nil && !errors.Is(err, ErrEventNotStored) {
		return ev, err
	}
	g.earlier = append(g.earlier, before)
	if len(g.earlier) > maxPrevious {
		g.earlier = slices.Delete(g.earlier, 0, len(g.earlier)-maxPrevious)
	}
	return ev, err
}

// apply stores the event of replacing before with next, then swaps in a
// copy of next numbered with the event's seq (Deployment.Seq), so every
// record served by it names the event that made it live. The event is
// stored first because its seq is the store's; a store error is returned
// with the event: the change stands (it is live, numbered one past the
// last seq this gateway saw), but it will not survive a restart. g.changeMu
// is held.
func (g *Gateway) apply(ctx context.Context, kind, name string, ch Change, before, next *Deployment) (store.DeploymentEvent, error) {
	if next == nil || next.Validator != g.val {
		return store.DeploymentEvent{}, ErrSchemaChange
	}
	ev, err := g.event(kind, name, ch, before, next)
	if err != nil {
		return ev, err
	}
	var logErr error
	seq := g.lastSeq + 1
	if g.events != nil {
		stored, err := g.events.AppendEvent(ctx, ev)
		if err != nil {
			g.log.Error("deployment event not stored: the change is live but will not survive a restart", "kind", kind, "err", err)
			logErr = fmt.Errorf("%w: %w", ErrEventNotStored, err)
		} else {
			ev, seq = stored, stored.Seq
		}
	}
	if ev.Seq == 0 {
		ev.Seq = seq
	}
	g.lastSeq = max(g.lastSeq, seq)
	numbered := *next
	numbered.Seq = seq
	if _, err := g.Swap(&numbered); err != nil {
		return ev, err
	}
	g.log.Info("deployment changed", "kind", kind, "model", name, "actor", ev.Actor, "forced", ch.Forced, "deployment", seq)
	return ev, logErr
}

// event describes the change from before to after (not yet stored).
func (g *Gateway) event(kind, name string, ch Change, before, after *Deployment) (store.DeploymentEvent, error) {
	ev := store.DeploymentEvent{
		Time: g.now().UTC(), Kind: kind, Model: name, Actor: ch.Actor,
		Before: before.Roles(), After: after.Roles(), Reason: ch.Reason, Forced: ch.Forced,
	}
	if ev.Actor == "" {
		ev.Actor = "local"
	}
	if ch.Gate != nil {
		b, err := json.Marshal(ch.Gate)
		if err != nil {
			return ev, fmt.Errorf("encode gate figures: %w", err)
		}
		ev.Gate = b
	}
	state, err := json.Marshal(after.State())
	if err != nil {
		return ev, fmt.Errorf("encode deployment state: %w", err)
	}
	ev.State = state
	return ev, nil
}

// Roles lists every member's role in member order.
func (d *Deployment) Roles() []store.MemberRole {
	out := make([]store.MemberRole, len(d.Members))
	for i, m := range d.Members {
		out[i] = store.MemberRole{Name: m.Name, Role: string(m.Role)}
	}
	return out
}

func (d *Deployment) index(name string) int {
	return slices.IndexFunc(d.Members, func(m rendezvous.Member) bool { return m.Name == name })
}

// FallbackOrder is the order in which members back production up: the
// explicit policy.fallback list, or the default one (the canary, then the
// challengers in member order). Members not in it are shadows.
func (d *Deployment) FallbackOrder() []string { return d.fallbackOrder() }

func (d *Deployment) fallbackOrder() []string {
	if len(d.Policy.Fallback) > 0 {
		return slices.Clone(d.Policy.Fallback)
	}
	var out []string
	for _, m := range d.Members {
		if m.Role == model.RoleCanary {
			out = append(out, m.Name)
		}
	}
	for _, m := range d.Members {
		if m.Role == model.RoleChallenger {
			out = append(out, m.Name)
		}
	}
	return out
}

// rebuild is a deployment like d (schema, words, router options) over
// other members, policy and sources.
func (d *Deployment) rebuild(members []rendezvous.Member, policy rendezvous.Policy, sources map[string]Source) (*Deployment, error) {
	next, err := NewDeployment(DeploymentParams{
		Members: members, Policy: policy, Validator: d.Validator, Words: d.Words,
		EntityField: d.EntityField, RouterOptions: d.options, Sources: sources,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return next, nil
}

func cloneSources(s map[string]Source) map[string]Source {
	out := make(map[string]Source, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	return out
}

// State is a deployment as saved in its events: every member (with its
// source) and the policy. LoadState builds a deployment from it.
type State struct {
	Members         []MemberSpec `json:"members"`
	Fallback        []string     `json:"fallback,omitempty"`
	OverallDeadline Duration     `json:"overall_deadline,omitempty"`
}

// State describes d for saving.
func (d *Deployment) State() State {
	s := State{Fallback: d.Policy.Fallback, OverallDeadline: Duration(d.Policy.OverallDeadline)}
	for _, m := range d.Members {
		sample := Sample(m.Skip)
		s.Members = append(s.Members, MemberSpec{
			Name: m.Name, Role: m.Role, Deadline: Duration(m.Deadline), MaxInFlight: m.MaxInFlight,
			Sample: &sample, Paused: m.Paused, Source: d.Sources[m.Name],
		})
	}
	return s
}

// LoadState builds the deployment s describes on base's schema, words and
// router options. A member whose source is the same as base's member of
// that name reuses base's model (no second load); others are loaded with
// load. Every problem is reported.
func (base *Deployment) LoadState(s State, load func(name string, src Source) (model.Model, error)) (*Deployment, error) {
	var errs []error
	members := make([]rendezvous.Member, 0, len(s.Members))
	sources := make(map[string]Source, len(s.Members))
	for i, ms := range s.Members {
		skip, err := skipOf(ms.Sample)
		if err != nil {
			errs = append(errs, fmt.Errorf("members[%d] (%s): %w", i, ms.Name, err))
			continue
		}
		var m model.Model
		if j := base.index(ms.Name); j >= 0 && sameSource(base.Sources[ms.Name], ms.Source) {
			m = base.Members[j].Model
		} else if m, err = load(ms.Name, ms.Source); err != nil {
			errs = append(errs, fmt.Errorf("members[%d] (%s): %w", i, ms.Name, err))
			continue
		}
		members = append(members, rendezvous.Member{
			Name: ms.Name, Role: ms.Role, Model: m, Deadline: time.Duration(ms.Deadline),
			MaxInFlight: ms.MaxInFlight, Skip: skip, Paused: ms.Paused,
		})
		sources[ms.Name] = ms.Source
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return base.rebuild(members, rendezvous.Policy{Fallback: s.Fallback, OverallDeadline: time.Duration(s.OverallDeadline)}, sources)
}

func sameSource(a, b Source) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
