package gateway_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// exampleDir writes the embedded example (configuration and bundles) into
// a temporary directory and returns the configuration file's path.
func exampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(titanic.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(titanic.FS, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, titanic.ConfigFile)
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloader_AppliesTheFileKeepsUnchangedModelsAndRefusesAnInvalidOne(t *testing.T) {
	path := exampleDir(t)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := gateway.FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, rec := &eventLog{}, &memory{}
	g, err := gateway.New(gateway.Params{Deployment: dep, Events: log, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	r := &gateway.Reloader{Gateway: g, Running: cfg, Load: func() (*config.Config, error) { return config.Load(path) }}
	ctx := context.Background()
	loaded := func(name string) model.Model {
		m, ok := g.Deployment().Member(name)
		if !ok {
			t.Fatalf("no member %q", name)
		}
		return m.Model
	}
	prod, dev := loaded("prod-gbt"), loaded("dev-logreg")

	// The file as started: nothing to do.
	rep, err := r.Reload(ctx, "tester")
	if err != nil || rep.Changed || rep.Event != nil || len(log.evs) != 0 {
		t.Fatalf("unchanged file: %+v, %v, %d events; want no change and no event", rep, err, len(log.evs))
	}

	// A member added through the API is not in the file: the reload removes it, and says so.
	m, err := gateway.LoadSource(cfg, "rt", gateway.Source{Bundle: "models/dev-logreg.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddMember(ctx, gateway.MemberSpec{Name: "rt", Role: model.RoleChallenger, Source: gateway.Source{Bundle: "models/dev-logreg.json"}}, m, gateway.Change{}); err != nil {
		t.Fatal(err)
	}
	// The file changes a deadline (runtime) and the listen address (restart).
	editFile(t, path, "bundle: models/dev-logreg.json\n    deadline: 50ms", "bundle: models/dev-logreg.json\n    deadline: 80ms")
	editFile(t, path, "addr: 127.0.0.1:8080", "addr: 127.0.0.1:9999")
	rep, err = r.Reload(ctx, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Changed || !slices.Equal(rep.Removed, []string{"rt"}) || !slices.Equal(rep.RuntimeRemoved, []string{"rt"}) ||
		len(rep.Added)+len(rep.Reloaded) != 0 || !slices.Equal(rep.NeedsRestart, []string{"server.addr"}) {
		t.Errorf("reload report = %+v; want rt removed (added at runtime), nothing loaded, server.addr needing a restart", rep)
	}
	if loaded("prod-gbt") != prod || loaded("dev-logreg") != dev {
		t.Error("an unchanged member's model was loaded again")
	}
	if d, _ := g.Deployment().Member("dev-logreg"); d.Deadline != 80*time.Millisecond {
		t.Errorf("dev-logreg deadline = %v, want the file's 80ms", d.Deadline)
	}
	ev := log.evs[len(log.evs)-1]
	if ev.Kind != "reload" || ev.Actor != "tester" || !strings.Contains(ev.Reason, "removed although added at runtime (not in the file): rt") ||
		!strings.Contains(ev.Reason, "needs restart (ignored): server.addr") || g.Deployment().Seq != ev.Seq || rep.Event.Seq != ev.Seq {
		t.Errorf("reload event = %+v (deployment seq %d); want kind reload by tester, its reason naming rt and server.addr, and the deployment numbered by it", ev, g.Deployment().Seq)
	}

	// A retrained bundle under the same path is loaded again.
	editFile(t, filepath.Join(filepath.Dir(path), "models", "dev-logreg.json"), `"version": "1.0.0"`, `"version": "1.0.1"`)
	if rep, err = r.Reload(ctx, "tester"); err != nil || !slices.Equal(rep.Reloaded, []string{"dev-logreg"}) {
		t.Fatalf("after retraining dev-logreg: %+v, %v; want it reloaded", rep, err)
	}
	if v := loaded("dev-logreg").Info().Version; v != "1.0.1" {
		t.Errorf("dev-logreg version %q after reload, want 1.0.1", v)
	}

	// An invalid file: every problem listed, the running deployment kept.
	running, events := g.Deployment(), len(log.evs)
	editFile(t, path, "role: challenger\n    bundle: models/dev-logreg.json", "role: boss\n    bundle: models/missing.json")
	_, err = r.Reload(ctx, "tester")
	var re *gateway.ReloadError
	if !errors.As(err, &re) || len(re.Problems) < 2 || !strings.Contains(strings.Join(re.Problems, "\n"), "models[2].role") ||
		!strings.Contains(strings.Join(re.Problems, "\n"), "models[2].bundle") {
		t.Fatalf("invalid file: %v; want a ReloadError naming models[2].role and models[2].bundle", err)
	}
	if g.Deployment() != running || len(log.evs) != events {
		t.Error("a refused reload changed the deployment or stored an event")
	}

	// Records name the deployment that served them.
	if _, err := g.Predict(ctx, gateway.Request{ID: "after-reload", Input: titanicInput(t, g)}); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.get("after-reload").Decision.Deployment; got != running.Seq || got == 0 {
		t.Errorf("record's deployment = %d, want %d (the last reload's event)", got, running.Seq)
	}
}

func titanicInput(t *testing.T, g *gateway.Gateway) schema.Input {
	t.Helper()
	in, errs := g.Validator().ValidateJSON([]byte(`{"pclass":3,"sex":"male","age":34.5,"sibsp":0,"parch":0,"fare":7.83,"embarked":"Q"}`))
	if errs != nil {
		t.Fatal(errs)
	}
	return in
}

// notifyLog is an eventLog that also sends every appended event on a
// channel.
type notifyLog struct {
	eventLog
	appended chan store.DeploymentEvent
}

func (l *notifyLog) AppendEvent(ctx context.Context, ev store.DeploymentEvent) (store.DeploymentEvent, error) {
	ev, err := l.eventLog.AppendEvent(ctx, ev)
	l.appended <- ev
	return ev, err
}

func TestReloader_ReloadOnReloadsOnEachSignalAsActorSIGHUP(t *testing.T) {
	path := exampleDir(t)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := gateway.FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := &notifyLog{appended: make(chan store.DeploymentEvent, 1)}
	g, err := gateway.New(gateway.Params{Deployment: dep, Events: log})
	if err != nil {
		t.Fatal(err)
	}
	r := &gateway.Reloader{Gateway: g, Running: cfg, Load: func() (*config.Config, error) { return config.Load(path) }}
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal)
	done := make(chan struct{})
	go func() { r.ReloadOn(ctx, sig); close(done) }()
	for i, deadline := range []string{"70ms", "90ms"} {
		editFile(t, path, "bundle: models/dev-logreg.json\n    deadline: "+[]string{"50ms", "70ms"}[i], "bundle: models/dev-logreg.json\n    deadline: "+deadline)
		sig <- syscall.SIGHUP
		ev := <-log.appended
		if ev.Kind != "reload" || ev.Actor != "SIGHUP" || !strings.Contains(string(ev.State), `"deadline":"`+deadline+`"`) {
			t.Errorf("signal %d: event %+v, want a reload by SIGHUP setting dev-logreg's deadline to %s", i+1, ev, deadline)
		}
	}
	cancel()
	<-done
}
