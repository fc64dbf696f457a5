package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Loader builds member name's model from its source (LoadSource with the
// running configuration).
type Loader func(name string, src Source) (model.Model, error)

// ConfigLoader is the Loader of the running configuration: bundle paths
// relative to the config file, inputs checked against its schema.
func ConfigLoader(cfg *config.Config, log *slog.Logger) Loader {
	return func(name string, src Source) (model.Model, error) { return LoadSource(cfg, name, src, log) }
}

// Restore returns the deployment a server starts with: base (the
// configuration file's) with the deployment state of the last stored event
// re-applied, so a restart keeps runtime changes (a promotion, members added
// through the API, samples, pauses, the fallback order). The rules when the
// file changed since (docs/LIFECYCLE.md):
//
//   - the history decides how each member is deployed: role, deadline, cap,
//     sample, pause, fallback order, overall deadline;
//   - the file decides what a model it defines is: a member in both keeps
//     the file's source (bundle path or remote spec);
//   - a member of the file that no event ever named is new: it is added, as
//     a challenger when the file makes it production (the history's
//     production stays) or canary while the history has a canary;
//   - a member of the file that the history names but the last state lacks
//     was removed at runtime and stays removed;
//   - members added at runtime are loaded from their saved source.
//
// Restore never fails the start: without events it returns base; when the
// history cannot be read or applied (a saved member's source no longer
// loads, the state is not valid) it logs an error naming the problem and
// returns base. What it restored is logged.
func Restore(ctx context.Context, base *Deployment, events store.EventLog, load Loader, log *slog.Logger) *Deployment {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if events == nil {
		return base
	}
	fail := func(msg string, err error) *Deployment {
		log.Error("deployment history not restored: starting with the configuration file's deployment; "+msg, "err", err)
		return base
	}
	history, err := events.ListEvents(ctx, 0)
	if err != nil {
		return fail("the history could not be read", err)
	}
	if len(history) == 0 {
		return base
	}
	last := history[len(history)-1]
	var saved State
	if len(last.State) == 0 {
		return fail(fmt.Sprintf("event %d (%s) saved no state", last.Seq, last.Kind), nil)
	}
	if err := json.Unmarshal(last.State, &saved); err != nil {
		return fail(fmt.Sprintf("event %d (%s): decode its state", last.Seq, last.Kind), err)
	}
	merged, notes := mergeState(base, saved, history)
	d, err := base.LoadState(merged, load)
	if err != nil {
		return fail(fmt.Sprintf("event %d (%s) cannot be applied", last.Seq, last.Kind), err)
	}
	// Requests served now carry the restored deployment's number, and the
	// next change numbers on from the history.
	d.Seq = last.Seq
	for _, n := range notes {
		log.Warn("deployment history and configuration file differ", "member", n.member, "resolution", n.msg)
	}
	var members []string
	for _, m := range d.Members {
		members = append(members, m.Name+"="+string(m.Role))
	}
	log.Info("deployment restored from history", "seq", last.Seq, "kind", last.Kind, "event_time", last.Time,
		"production", d.Production().Name, "members", strings.Join(members, " "), "events", len(history))
	return d
}

// mergeNote is one difference between the saved state and the file, and
// what Restore did about it.
type mergeNote struct{ member, msg string }

// mergeState applies Restore's rules to the saved state and base.
func mergeState(base *Deployment, saved State, history []store.DeploymentEvent) (State, []mergeNote) {
	named := map[string]bool{}
	for _, ev := range history {
		for _, r := range slices.Concat(ev.Before, ev.After) {
			named[r.Name] = true
		}
		if ev.Model != "" {
			named[ev.Model] = true
		}
	}
	var notes []mergeNote
	out := State{Fallback: slices.Clone(saved.Fallback), OverallDeadline: saved.OverallDeadline}
	hasCanary := false
	for _, ms := range saved.Members {
		if src, ok := base.Sources[ms.Name]; ok && base.index(ms.Name) >= 0 {
			if !sameSource(src, ms.Source) {
				notes = append(notes, mergeNote{ms.Name, "the configuration file's source is used (the file changed where the model comes from)"})
			}
			ms.Source = src
		}
		hasCanary = hasCanary || ms.Role == model.RoleCanary
		out.Members = append(out.Members, ms)
	}
	for _, ms := range base.State().Members {
		if slices.ContainsFunc(out.Members, func(x MemberSpec) bool { return x.Name == ms.Name }) {
			continue
		}
		if named[ms.Name] {
			notes = append(notes, mergeNote{ms.Name, "removed at runtime: stays removed (delete it from the file, or add it again through the API)"})
			continue
		}
		switch {
		case ms.Role == model.RoleProduction:
			ms.Role = model.RoleChallenger
			notes = append(notes, mergeNote{ms.Name, "new in the file as production: added as a challenger (the history's production model stays; promote it to change that)"})
		case ms.Role == model.RoleCanary && hasCanary:
			ms.Role = model.RoleChallenger
			notes = append(notes, mergeNote{ms.Name, "new in the file as canary: added as a challenger (the history already has a canary)"})
		default:
			notes = append(notes, mergeNote{ms.Name, "new in the file: added as " + string(ms.Role)})
		}
		hasCanary = hasCanary || ms.Role == model.RoleCanary
		out.Members = append(out.Members, ms)
	}
	return out, notes
}
