package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// fileDep is a deployment as the configuration file would build it: each
// member's source is the bundle "<name>.json".
func fileDep(t *testing.T, val *schema.Validator, members ...rendezvous.Member) *gateway.Deployment {
	t.Helper()
	sources := map[string]gateway.Source{}
	for i, m := range members {
		if m.Model == nil {
			members[i].Model = &scripted{name: m.Name, class: 1, p: 0.5}
		}
		sources[m.Name] = gateway.Source{Bundle: m.Name + ".json"}
	}
	d, err := gateway.NewDeployment(gateway.DeploymentParams{Members: members, Validator: val, Words: words,
		EntityField: "passenger", Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// loader loads the bundles it knows ("<name>.json") and counts loads.
type loader struct {
	known map[string]bool
	loads []string
}

func (l *loader) load(name string, src gateway.Source) (model.Model, error) {
	l.loads = append(l.loads, name)
	if !l.known[src.Bundle] {
		return nil, fmt.Errorf("open %s: no such file", src.Bundle)
	}
	return &scripted{name: name, class: 1, p: 0.5}, nil
}

func state(d *gateway.Deployment) string {
	var b strings.Builder
	for _, m := range d.Members {
		fmt.Fprintf(&b, "%s=%s sample=%v paused=%v deadline=%v; ", m.Name, m.Role, gateway.Sample(m.Skip), m.Paused, m.Deadline)
	}
	fmt.Fprintf(&b, "fallback=%v", d.Policy.Fallback)
	return b.String()
}

// history runs changes on a gateway over the file's deployment and
// returns its event log.
func history(t *testing.T, val *schema.Validator, base *gateway.Deployment, changes func(g *gateway.Gateway)) *eventLog {
	t.Helper()
	log := &eventLog{}
	g, err := gateway.New(gateway.Params{Deployment: base, Events: log})
	if err != nil {
		t.Fatal(err)
	}
	changes(g)
	return log
}

func must(t *testing.T, _ any, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRestore_ReappliesTheLastEventsStateOverTheFile(t *testing.T) {
	val := validator(t)
	ctx := context.Background()
	file := func() *gateway.Deployment {
		return fileDep(t, val, rendezvous.Member{Name: "prod", Role: model.RoleProduction},
			rendezvous.Member{Name: "chal", Role: model.RoleChallenger})
	}
	evs := history(t, val, file(), func(g *gateway.Gateway) {
		ev, err := g.AddMember(ctx, gateway.MemberSpec{Name: "late", Role: model.RoleCanary, Sample: fp(0.25),
			Source: gateway.Source{Bundle: "late.json"}}, &scripted{name: "late", class: 0, p: 0.1}, gateway.Change{})
		must(t, ev, err)
		ev, err = g.Promote(ctx, "chal", gateway.Change{Reason: "better"})
		must(t, ev, err)
		ev, err = g.PatchMember(ctx, "prod", gateway.Patch{Paused: new(true), Fallback: ip(0)}, gateway.Change{})
		must(t, ev, err)
	})
	var logs bytes.Buffer
	ld := &loader{known: map[string]bool{"late.json": true}}
	base := file()
	got := gateway.Restore(ctx, base, evs, ld.load, slog.New(slog.NewTextHandler(&logs, nil)))
	want := "prod=challenger sample=1 paused=true deadline=0s; chal=production sample=1 paused=false deadline=0s; " +
		"late=canary sample=0.25 paused=false deadline=0s; fallback=[prod late]"
	if s := state(got); s != want {
		t.Errorf("restored deployment:\n got %s\nwant %s", s, want)
	}
	if fmt.Sprint(ld.loads) != "[late]" {
		t.Errorf("loaded %v, want only the member added at runtime (the file's members reuse their loaded models)", ld.loads)
	}
	if m, _ := got.Member("prod"); m.Model != base.Members[0].Model {
		t.Error("the file's member was loaded again instead of reusing the file's model")
	}
	if !strings.Contains(logs.String(), "deployment restored from history") || !strings.Contains(logs.String(), "production=chal") {
		t.Errorf("log does not say what was restored:\n%s", logs.String())
	}
}

func TestRestore_StartsWithTheFileWhenAMemberNoLongerLoads(t *testing.T) {
	val := validator(t)
	ctx := context.Background()
	evs := history(t, val, fileDep(t, val, rendezvous.Member{Name: "prod", Role: model.RoleProduction}), func(g *gateway.Gateway) {
		ev, err := g.AddMember(ctx, gateway.MemberSpec{Name: "gone", Role: model.RoleChallenger,
			Source: gateway.Source{Bundle: "gone.json"}}, &scripted{name: "gone", class: 1, p: 0.5}, gateway.Change{})
		must(t, ev, err)
		ev, err = g.Promote(ctx, "gone", gateway.Change{})
		must(t, ev, err)
	})
	var logs bytes.Buffer
	base := fileDep(t, val, rendezvous.Member{Name: "prod", Role: model.RoleProduction})
	got := gateway.Restore(ctx, base, evs, (&loader{}).load, slog.New(slog.NewTextHandler(&logs, nil)))
	if got != base {
		t.Errorf("restored %s, want the file's deployment itself", state(got))
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "gone") || !strings.Contains(l, "gone.json: no such file") {
		t.Errorf("log does not name the member that failed to load:\n%s", l)
	}
}

func TestRestore_MergesAChangedFile(t *testing.T) {
	val := validator(t)
	ctx := context.Background()
	// History: prod, a, b from the file; b removed; a promoted.
	evs := history(t, val, fileDep(t, val, rendezvous.Member{Name: "prod", Role: model.RoleProduction},
		rendezvous.Member{Name: "a", Role: model.RoleChallenger}, rendezvous.Member{Name: "b", Role: model.RoleCanary}),
		func(g *gateway.Gateway) {
			ev, err := g.RemoveMember(ctx, "b", gateway.Change{})
			must(t, ev, err)
			ev, err = g.Promote(ctx, "a", gateway.Change{})
			must(t, ev, err)
		})
	tests := []struct {
		name string
		file []rendezvous.Member
		want string
		note string
	}{
		{"UnchangedFile", []rendezvous.Member{{Name: "prod", Role: model.RoleProduction}, {Name: "a", Role: model.RoleChallenger}, {Name: "b", Role: model.RoleCanary}},
			"prod=challenger sample=1 paused=false deadline=0s; a=production sample=1 paused=false deadline=0s; fallback=[]", "removed at runtime: stays removed"},
		{"NewChallengerAndCanaryAreAdded", []rendezvous.Member{{Name: "prod", Role: model.RoleProduction}, {Name: "a", Role: model.RoleChallenger}, {Name: "c", Role: model.RoleChallenger}, {Name: "k", Role: model.RoleCanary}},
			"prod=challenger sample=1 paused=false deadline=0s; a=production sample=1 paused=false deadline=0s; c=challenger sample=1 paused=false deadline=0s; k=canary sample=1 paused=false deadline=0s; fallback=[]", "new in the file: added as canary"},
		{"NewProductionInTheFileIsAChallenger", []rendezvous.Member{{Name: "n", Role: model.RoleProduction}, {Name: "prod", Role: model.RoleChallenger}, {Name: "a", Role: model.RoleChallenger}},
			"prod=challenger sample=1 paused=false deadline=0s; a=production sample=1 paused=false deadline=0s; n=challenger sample=1 paused=false deadline=0s; fallback=[]", "new in the file as production: added as a challenger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			got := gateway.Restore(ctx, fileDep(t, val, tc.file...), evs, (&loader{}).load, slog.New(slog.NewTextHandler(&logs, nil)))
			if s := state(got); s != tc.want {
				t.Errorf("restored:\n got %s\nwant %s\nlog:\n%s", s, tc.want, logs.String())
			}
			if !strings.Contains(logs.String(), tc.note) {
				t.Errorf("log lacks %q:\n%s", tc.note, logs.String())
			}
		})
	}
}

func TestRestore_WithoutEventsIsTheFile(t *testing.T) {
	val := validator(t)
	base := fileDep(t, val, rendezvous.Member{Name: "prod", Role: model.RoleProduction})
	if got := gateway.Restore(context.Background(), base, &eventLog{}, (&loader{}).load, nil); got != base {
		t.Errorf("an empty history changed the deployment: %s", state(got))
	}
	if got := gateway.Restore(context.Background(), base, nil, (&loader{}).load, nil); got != base {
		t.Errorf("no event log changed the deployment: %s", state(got))
	}
}
