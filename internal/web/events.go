package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Events is where the dashboard reads the deployment history
// (store.EventLog's read side).
type Events interface {
	ListEvents(ctx context.Context, limit int) ([]store.DeploymentEvent, error)
}

// maxEvents is how many of the newest deployment events a page reads.
const maxEvents = 200

// eventRow is one deployment change in the dashboard's panel.
type eventRow struct {
	Seq    int64
	Time   time.Time
	Kind   string
	Actor  string
	Model  string
	Forced bool
	Reason string
	// Change lists the roles that changed ("a: challenger → production").
	Change string
}

// eventMark is a deployment change drawn on a time chart: a vertical
// line at X with its label.
type eventMark struct {
	X     float64
	Label string
	Tip   string
	// End anchors the label on the line's left (right half of the plot);
	// DY staggers the labels of neighbouring events.
	End bool
	DY  float64
}

// events reads the newest deployment events (none without an event log).
func (b *builder) events() error {
	if b.d.events == nil {
		return nil
	}
	// The history is not worth failing the page for: eventPanel reports
	// the error among the page's problems.
	b.evs, b.evErr = b.d.events.ListEvents(b.ctx, maxEvents)
	return nil
}

// eventPanel fills the view's list of deployment changes: those in the
// drawn window (every one read when the window is empty), newest first.
func (b *builder) eventPanel() {
	v := b.v
	if b.evErr != nil {
		v.Problems = append(v.Problems, "deployment history: "+b.evErr.Error())
	}
	for _, ev := range slices.Backward(b.evs) {
		if !v.From.IsZero() && (ev.Time.Before(v.From) || ev.Time.After(v.To)) {
			continue
		}
		v.Events = append(v.Events, eventRow{Seq: ev.Seq, Time: ev.Time, Kind: ev.Kind, Actor: ev.Actor,
			Model: ev.Model, Forced: ev.Forced, Reason: ev.Reason, Change: roleChange(ev.Before, ev.After)})
	}
}

// roleChange describes the roles an event changed, added or removed.
func roleChange(before, after []store.MemberRole) string {
	was := map[string]string{}
	for _, r := range before {
		was[r.Name] = r.Role
	}
	var parts []string
	for _, r := range after {
		switch old, ok := was[r.Name]; {
		case !ok:
			parts = append(parts, r.Name+": added as "+r.Role)
		case old != r.Role:
			parts = append(parts, fmt.Sprintf("%s: %s → %s", r.Name, old, r.Role))
		}
		delete(was, r.Name)
	}
	for _, r := range before {
		if _, gone := was[r.Name]; gone {
			parts = append(parts, r.Name+": removed")
		}
	}
	return strings.Join(parts, "; ")
}

// markEvents draws every deployment change inside the axis on each time
// chart that has a plot.
func (b *builder) markEvents(ax timeAxis) {
	if len(ax.starts) == 0 {
		return
	}
	end := ax.starts[len(ax.starts)-1].Add(ax.width)
	var marks []eventMark
	for _, ev := range b.evs {
		if ev.Time.Before(ax.starts[0]) || !ev.Time.Before(end) {
			continue
		}
		label := ev.Kind
		if ev.Model != "" {
			label += " " + ev.Model
		}
		tip := fmt.Sprintf("%s %s by %s", ev.Time.UTC().Format("Jan 2 15:04:05"), label, ev.Actor)
		if ev.Forced {
			tip += " (forced)"
		}
		if ev.Reason != "" {
			tip += ": " + ev.Reason
		}
		x := ax.x(ev.Time)
		marks = append(marks, eventMark{X: x, Label: label, Tip: tip, End: x > wideW/2, DY: float64(9 + 11*(len(marks)%4))})
	}
	for i := range b.v.Timeline {
		if b.v.Timeline[i].Empty == "" {
			b.v.Timeline[i].Events = marks
		}
	}
}

// x is the horizontal position of t on the axis (bucket slots are
// proportional to time).
func (a timeAxis) x(t time.Time) float64 {
	return wideLeft + a.slot()*float64(t.Sub(a.starts[0]))/float64(a.width)
}
