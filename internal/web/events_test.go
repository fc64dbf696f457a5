package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/store"
)

func TestDashboard_MarksDeploymentEventsOnEveryTimeChartAndListsThem(t *testing.T) {
	f := newFixture(t, 300)
	roles := func(prod, chal string) []store.MemberRole {
		return []store.MemberRole{{Name: prod, Role: "production"}, {Name: chal, Role: "challenger"}}
	}
	for _, ev := range []store.DeploymentEvent{
		{Time: f.now.Add(-2 * time.Hour), Kind: "add", Model: "old", Actor: "local", After: roles("prod-gbt", "old")}, // before the window
		{Time: f.now.Add(-200 * time.Second), Kind: "promote", Model: "dev-logreg", Actor: "ops", Forced: true, Reason: hostile,
			Before: roles("prod-gbt", "dev-logreg"), After: roles("dev-logreg", "prod-gbt")},
		{Time: f.now.Add(-100 * time.Second), Kind: "rollback", Actor: "ops",
			Before: roles("dev-logreg", "prod-gbt"), After: roles("prod-gbt", "dev-logreg")},
	} {
		if _, err := f.store.AppendEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	code, _, page := f.get(t, "/?range=all&refresh=0")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d: %s", code, page)
	}
	assertEscaped(t, "the dashboard with deployment events", page)
	// range=all spans the records (the last 300 s): two of the three events.
	for _, id := range []string{"c-requests", "c-accuracy", "c-drift", "c-latency"} {
		i := strings.Index(page, `id="`+id+`"`)
		end := strings.Index(page[i:], "</figure>")
		fig := page[i : i+end]
		if n := strings.Count(fig, `class="event-mark"`); n != 2 {
			t.Errorf("chart %s has %d event marks, want 2 (promote, rollback)", id, n)
		}
		if !strings.Contains(fig, `data-event="promote dev-logreg"`) || !strings.Contains(fig, `data-event="rollback"`) {
			t.Errorf("chart %s does not mark the promotion and the rollback", id)
		}
	}
	i := strings.Index(page, `id="deployments"`)
	if i < 0 {
		t.Fatal("page has no deployment changes panel")
	}
	panel := page[i : i+strings.Index(page[i:], "</section>")]
	rollback, promote := strings.Index(panel, `data-kind="rollback"`), strings.Index(panel, `data-kind="promote"`)
	if rollback < 0 || promote < rollback || strings.Contains(panel, `data-kind="add"`) {
		t.Errorf("panel rows: rollback at %d, promote at %d, add listed %v; want rollback then promote, newest first, and nothing outside the window",
			rollback, promote, strings.Contains(panel, `data-kind="add"`))
	}
	for _, want := range []string{">forced<", ">ops<", "dev-logreg: challenger → production; prod-gbt: production → challenger", "&lt;script&gt;alert(1)"} {
		if !strings.Contains(panel, want) {
			t.Errorf("panel lacks %q", want)
		}
	}
}

func TestRoleChange_NamesChangedAddedAndRemovedMembers(t *testing.T) {
	before := []store.MemberRole{{Name: "p", Role: "production"}, {Name: "c", Role: "challenger"}, {Name: "gone", Role: "canary"}}
	after := []store.MemberRole{{Name: "p", Role: "challenger"}, {Name: "c", Role: "production"}, {Name: "new", Role: "challenger"}}
	want := "p: production → challenger; c: challenger → production; new: added as challenger; gone: removed"
	if got := roleChange(before, after); got != want {
		t.Errorf("roleChange = %q, want %q", got, want)
	}
}
