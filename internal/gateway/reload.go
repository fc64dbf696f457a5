package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// ReloadReport says what a reload did.
type ReloadReport struct {
	// Changed is false when the file describes the running deployment:
	// nothing was swapped and no event stored.
	Changed bool `json:"changed"`
	// Added are members the file adds; Removed are running members it
	// does not name (RuntimeRemoved: those of them added through the API
	// rather than by an earlier file).
	Added          []string `json:"added,omitempty"`
	Removed        []string `json:"removed,omitempty"`
	RuntimeRemoved []string `json:"runtime_removed,omitempty"`
	// Reloaded are members whose model was loaded again (its source or
	// its bundle file's bytes changed); Kept are members whose loaded
	// model was kept (no load cost; a remote model keeps its breaker).
	Reloaded []string `json:"reloaded,omitempty"`
	Kept     []string `json:"kept,omitempty"`
	// NeedsRestart lists the settings (YAML paths) that differ from the
	// running ones but cannot change at runtime; they were ignored.
	NeedsRestart []string `json:"needs_restart,omitempty"`
	// Event is the reload's deployment event (nil when nothing changed).
	Event *store.DeploymentEvent `json:"event,omitempty"`
	// Warning says the change is live but its event was not stored.
	Warning string `json:"warning,omitempty"`
}

// ReloadError is a refused reload: every problem found in the file or its
// bundles, each on its own (YAML path and line when known). The running
// deployment is kept.
type ReloadError struct {
	Message  string   `json:"error"`
	Problems []string `json:"problems"`
}

func (e *ReloadError) Error() string {
	return e.Message + ": " + strings.Join(e.Problems, "; ")
}

// runtimeKeys are the configuration's top-level keys a reload applies;
// every other difference needs a restart.
var runtimeKeys = []string{"models", "policy"}

// Reloader re-reads the configuration file and applies it to a Gateway.
//
// A reload re-applies the file: the deployment becomes exactly the
// members and policy the file describes. Runtime changes made through the
// API since the last start or reload are therefore undone — a member added
// through the API and not in the file is removed (listed in
// RuntimeRemoved, and in the event's reason), a promotion the file does not
// reflect is reverted. A member whose name and source are unchanged keeps
// its loaded model (a bundle is kept when its file's SHA-256 equals the
// running model's artifact). Everything outside models and policy (server,
// store, recorder, schema, labels, routes, auth, analysis, promotion,
// training) is compared with the running configuration and a difference
// is reported in NeedsRestart, and otherwise ignored.
type Reloader struct {
	Gateway *Gateway
	// Running is the configuration the server started with.
	Running *config.Config
	// Load reads the configuration file again, with the same
	// command-line overrides as at start.
	Load func() (*config.Config, error)
	Log  *slog.Logger

	mu sync.Mutex
	// fileModels are the member names the last applied file declared
	// (nil: Running's).
	fileModels []string
}

// Reload reads the file, validates it and every bundle it names, and swaps
// the result in as one change of kind "reload" by actor. An invalid file
// or bundle is a *ReloadError listing every problem; the running
// deployment stays.
func (r *Reloader) Reload(ctx context.Context, actor string) (ReloadReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.Load()
	if err != nil {
		return ReloadReport{}, reloadError(err)
	}
	rep := ReloadReport{NeedsRestart: NeedsRestart(r.Running, next)}
	// Bundles are checked against the running schema, which a reload
	// never changes.
	eff := *next
	eff.Schema = r.Running.Schema
	eff.Labels = r.Running.Labels
	if r.fileModels == nil {
		for _, mc := range r.Running.Models {
			r.fileModels = append(r.fileModels, mc.Name)
		}
	}
	var unchanged bool
	change := func() Change { return Change{Actor: actor, Reason: rep.summary(next.Source)} }
	ev, err := r.Gateway.changeWith(ctx, "reload", "", change, func(cur *Deployment) (*Deployment, error) {
		d, err := r.build(&eff, cur, &rep)
		if err != nil {
			return nil, err
		}
		if unchanged = sameState(cur, d) && len(rep.Reloaded) == 0; unchanged {
			return nil, errUnchanged
		}
		return d, nil
	})
	if unchanged {
		r.log().Info("reload: the file describes the running deployment; nothing changed", "needs_restart", strings.Join(rep.NeedsRestart, ", "))
		return rep, nil
	}
	if err != nil && !errors.Is(err, ErrEventNotStored) {
		return ReloadReport{}, reloadError(err)
	}
	if err != nil {
		rep.Warning = err.Error()
	}
	rep.Changed, rep.Event = true, &ev
	r.fileModels = r.fileModels[:0]
	for _, mc := range next.Models {
		r.fileModels = append(r.fileModels, mc.Name)
	}
	r.log().Info("reload applied", "added", strings.Join(rep.Added, ","), "removed", strings.Join(rep.Removed, ","),
		"reloaded", strings.Join(rep.Reloaded, ","), "needs_restart", strings.Join(rep.NeedsRestart, ", "), "deployment", ev.Seq)
	return rep, err
}

var errUnchanged = errors.New("reload: nothing changed")

func (r *Reloader) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// build is the deployment cfg describes on cur's schema, reusing cur's
// models where their source (and a bundle's bytes) did not change, and
// fills rep's member lists.
func (r *Reloader) build(cfg *config.Config, cur *Deployment, rep *ReloadReport) (*Deployment, error) {
	rep.Added, rep.Removed, rep.RuntimeRemoved, rep.Reloaded, rep.Kept = nil, nil, nil, nil, nil
	s := State{Fallback: cfg.Policy.Fallback, OverallDeadline: Duration(cfg.Policy.OverallDeadline)}
	// base is cur with the sources of changed bundle files forgotten, so
	// LoadState loads those again.
	base := *cur
	base.Sources = cloneSources(cur.Sources)
	for _, mc := range cfg.Models {
		src := ConfigSource(mc)
		s.Members = append(s.Members, MemberSpec{Name: mc.Name, Role: mc.Role, Deadline: Duration(mc.Deadline),
			MaxInFlight: mc.MaxInFlight, Source: src})
		if m, ok := cur.Member(mc.Name); ok && src.Bundle != "" && sameSource(cur.Sources[mc.Name], src) {
			if sum, err := bundleSum(cfg, src.Bundle); err != nil || sum != m.Model.Info().Artifact {
				delete(base.Sources, mc.Name)
			}
		}
	}
	loaded := map[string]bool{}
	d, err := base.LoadState(s, func(name string, src Source) (model.Model, error) {
		loaded[name] = true
		return LoadSource(cfg, name, src, r.log())
	})
	if err != nil {
		return nil, err
	}
	for _, ms := range s.Members {
		_, existed := cur.Member(ms.Name)
		switch {
		case loaded[ms.Name] && existed:
			rep.Reloaded = append(rep.Reloaded, ms.Name)
		case loaded[ms.Name]:
			rep.Added = append(rep.Added, ms.Name)
		default:
			rep.Kept = append(rep.Kept, ms.Name)
		}
	}
	for _, m := range cur.Members {
		if _, ok := d.Member(m.Name); ok {
			continue
		}
		rep.Removed = append(rep.Removed, m.Name)
		if !slices.Contains(r.fileModels, m.Name) {
			rep.RuntimeRemoved = append(rep.RuntimeRemoved, m.Name)
		}
	}
	return d, nil
}

// summary is the reload event's reason: the file and what changed.
func (rep *ReloadReport) summary(source string) string {
	parts := []string{"reload of " + source}
	add := func(label string, names []string) {
		if len(names) > 0 {
			parts = append(parts, label+": "+strings.Join(names, ", "))
		}
	}
	add("added", rep.Added)
	add("removed", rep.Removed)
	add("removed although added at runtime (not in the file)", rep.RuntimeRemoved)
	add("reloaded", rep.Reloaded)
	add("needs restart (ignored)", rep.NeedsRestart)
	return strings.Join(parts, "; ")
}

// bundleSum is "sha256:<hex>" of a bundle file's bytes, as model.Info's
// Artifact.
func bundleSum(cfg *config.Config, p string) (string, error) {
	data, err := cfg.ReadBundle(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// sameState reports whether a and b have the same members (by name, role,
// limits, sample, pause and source) and policy.
func sameState(a, b *Deployment) bool {
	x, err1 := json.Marshal(a.State())
	y, err2 := json.Marshal(b.State())
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// reloadError turns a load, validation or build error into a
// *ReloadError listing every problem.
func reloadError(err error) *ReloadError {
	out := &ReloadError{Message: "reload refused; the running deployment is kept"}
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			out.Problems = append(out.Problems, p.String())
		}
		return out
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			out.Problems = append(out.Problems, e.Error())
		}
		return out
	}
	out.Problems = []string{err.Error()}
	return out
}

// NeedsRestart lists the settings (YAML paths, one level deep) in which
// next differs from running outside models and policy: the ones a reload
// cannot apply.
func NeedsRestart(running, next *config.Config) []string {
	var out []string
	rv, nv := reflect.ValueOf(running).Elem(), reflect.ValueOf(next).Elem()
	t := rv.Type()
	for i := range t.NumField() {
		key := yamlKey(t.Field(i))
		if key == "" || slices.Contains(runtimeKeys, key) || !t.Field(i).IsExported() {
			continue
		}
		a, b := rv.Field(i), nv.Field(i)
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			continue
		}
		if a.Kind() != reflect.Struct {
			out = append(out, key)
			continue
		}
		for j := range a.NumField() {
			f := a.Type().Field(j)
			if sub := yamlKey(f); sub != "" && f.IsExported() && !reflect.DeepEqual(a.Field(j).Interface(), b.Field(j).Interface()) {
				out = append(out, key+"."+sub)
			}
		}
	}
	return out
}

// yamlKey is a struct field's YAML key ("" for one not in the file).
func yamlKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" {
		return ""
	}
	return k
}

// String renders a reload's outcome on one line (the CLI and the log).
func (rep ReloadReport) String() string {
	if !rep.Changed {
		s := "nothing changed: the file describes the running deployment"
		if len(rep.NeedsRestart) > 0 {
			s += fmt.Sprintf(" (needs restart, ignored: %s)", strings.Join(rep.NeedsRestart, ", "))
		}
		return s
	}
	seq := int64(0)
	if rep.Event != nil {
		seq = rep.Event.Seq
	}
	return fmt.Sprintf("reloaded as deployment %d: %s", seq, rep.summary("the file"))
}

// ReloadOn reloads each time signals delivers (e.g. from
// signal.Notify(ch, syscall.SIGHUP)) until ctx ends, as actor "SIGHUP",
// logging each outcome: what changed at info level, a refusal (every
// problem; the running deployment stays) at error level. Run it in its own
// goroutine.
func (r *Reloader) ReloadOn(ctx context.Context, signals <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			rep, err := r.Reload(ctx, "SIGHUP")
			if err != nil && !errors.Is(err, ErrEventNotStored) {
				r.log().Error("reload: configuration not applied, the running deployment is kept", "err", err)
				continue
			}
			r.log().Info("reload: configuration re-read", "outcome", rep.String())
		}
	}
}
