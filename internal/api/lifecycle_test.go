package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

type memEvents struct {
	mu  sync.Mutex
	evs []store.DeploymentEvent
}

func (l *memEvents) AppendEvent(_ context.Context, ev store.DeploymentEvent) (store.DeploymentEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Seq = int64(len(l.evs) + 1)
	l.evs = append(l.evs, ev)
	return ev, nil
}

func (l *memEvents) ListEvents(context.Context, int) ([]store.DeploymentEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]store.DeploymentEvent(nil), l.evs...), nil
}

// lifecycleFixture is the default fixture with an event log, and the
// promotion gate read from a real monitor over its SQLite store unless
// pass overrides it.
func lifecycleFixture(t *testing.T, pass *bool) *fixture {
	f := defaultFixture(t)
	gw, err := gateway.New(gateway.Params{Deployment: f.gw.Deployment(), Store: f.store, Events: &memEvents{}})
	if err != nil {
		t.Fatal(err)
	}
	mon, err := monitor.New(monitor.Params{Store: f.store, Models: []monitor.Model{{Name: "prod-gbt", Role: "production"}}})
	if err != nil {
		t.Fatal(err)
	}
	gate := func(ctx context.Context, name string) (analysis.GateResult, error) {
		g, err := mon.PromotionGate(ctx, name, analysis.GateRule{})
		if pass != nil {
			g.Pass, g.Refusals = *pass, nil
			if !*pass {
				g.Refusals = []string{"production is better"}
			}
		}
		return g, err
	}
	h, err := New(Params{Config: f.cfg, Gateway: gw, Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	f.gw, f.h = gw, h
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func TestLifecycle_PromoteGateTable(t *testing.T) {
	// Insufficient data (a real monitor over an empty store) → 409 with
	// the figures; force needs a reason and is recorded as forced.
	f := lifecycleFixture(t, nil)
	r := f.post(t, "/v1/models/dev-logreg/promote", "")
	m := decodeMap(t, r.body)
	gate, _ := m["gate"].(map[string]any)
	if r.code != http.StatusConflict || gate == nil || gate["comparison"].(map[string]any)["verdict"] != "insufficient_data" {
		t.Fatalf("insufficient data: %d %s", r.code, r.body)
	}
	if r := f.post(t, "/v1/models/dev-logreg/promote", `{"force":true}`); r.code != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"reason"`) {
		t.Errorf("force without reason: %d %s", r.code, r.body)
	}
	r = f.post(t, "/v1/models/dev-logreg/promote", `{"force":true,"reason":"hotfix"}`)
	var body lifecycleBody
	if err := json.Unmarshal(r.body, &body); err != nil || r.code != http.StatusOK || !body.Event.Forced || body.Event.Reason != "hotfix" || len(body.Event.Gate) == 0 {
		t.Fatalf("forced promotion: %d %s", r.code, r.body)
	}
	if p := f.gw.Deployment().Production().Name; p != "dev-logreg" {
		t.Errorf("production after forced promotion: %s", p)
	}

	// Production better → 409; passing gate (not worse, challenger better) → 200, not forced.
	no, yes := false, true
	f = lifecycleFixture(t, &no)
	if r := f.post(t, "/v1/models/dev-logreg/promote", `{}`); r.code != http.StatusConflict || !strings.Contains(string(r.body), "production is better") {
		t.Errorf("production better: %d %s", r.code, r.body)
	}
	f = lifecycleFixture(t, &yes)
	r = f.post(t, "/v1/models/dev-logreg/promote", ``)
	if err := json.Unmarshal(r.body, &body); err != nil || r.code != http.StatusOK || body.Event.Forced {
		t.Fatalf("passing gate: %d %s", r.code, r.body)
	}
	// Rollback restores the previous production; the history lists both.
	if r := f.post(t, "/v1/rollback", `{"reason":"oops"}`); r.code != http.StatusOK {
		t.Fatalf("rollback: %d %s", r.code, r.body)
	}
	if p := f.gw.Deployment().Production().Name; p != "prod-gbt" {
		t.Errorf("production after rollback: %s", p)
	}
	r = f.do(t, http.MethodGet, "/v1/deployments", "", "")
	if r.code != http.StatusOK || strings.Count(string(r.body), `"kind"`) != 2 {
		t.Errorf("history: %d %s", r.code, r.body)
	}
}

func TestLifecycle_AddPatchRemoveOverHTTP(t *testing.T) {
	f := lifecycleFixture(t, nil)
	bundle, err := os.ReadFile("../../examples/titanic/models/dev-logreg.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"name":"x","role":"challenger"}`, "bundle"},
		{`{"name":"x","role":"challenger","bundle_json":{"nope":1}}`, "bundle_json"},
		{`{"name":"x","role":"production","bundle_json":` + string(bundle) + `}`, "role"},
		{`{"name":"x","role":"challenger","sample":2,"bundle_json":` + string(bundle) + `}`, "sample"},
		{`{"name":"x","role":"challenger","deadline":5,"bundle_json":{}}`, "deadline"},
		{`{"name":"x","colour":"red"}`, "colour"},
		{`{"role":"challenger"}`, "name"},
	} {
		r := f.post(t, "/v1/models", tc.body)
		if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
			t.Errorf("%.60s: %d %s, want 400 naming %s", tc.body, r.code, r.body, tc.field)
		}
	}
	r := f.post(t, "/v1/models", `{"name":"lr2","role":"challenger","sample":0.5,"deadline":"200ms","bundle_json":`+string(bundle)+`}`)
	if r.code != http.StatusCreated {
		t.Fatalf("add: %d %s", r.code, r.body)
	}
	if r := f.post(t, "/v1/models", `{"name":"lr2","role":"challenger","bundle_json":{}}`); r.code != http.StatusConflict {
		t.Errorf("add twice: %d %s", r.code, r.body)
	}
	if r := f.do(t, http.MethodPatch, "/v1/models/lr2", "application/json", `{"paused":true,"fallback":0}`); r.code != http.StatusOK {
		t.Errorf("patch: %d %s", r.code, r.body)
	}
	if m, _ := f.gw.Deployment().Member("lr2"); !m.Paused || f.gw.Deployment().Policy.Fallback[0] != "lr2" {
		t.Errorf("patched: %+v %v", m, f.gw.Deployment().Policy.Fallback)
	}
	if r := f.do(t, http.MethodDelete, "/v1/models/prod-gbt", "", ""); r.code != http.StatusConflict {
		t.Errorf("remove production: %d %s", r.code, r.body)
	}
	if r := f.do(t, http.MethodDelete, "/v1/models/nobody", "", ""); r.code != http.StatusNotFound {
		t.Errorf("remove unknown: %d %s", r.code, r.body)
	}
	if r := f.do(t, http.MethodDelete, "/v1/models/lr2", "", ""); r.code != http.StatusOK {
		t.Errorf("remove: %d %s", r.code, r.body)
	}
	// Not from loopback: 403.
	req := httptest.NewRequest(http.MethodDelete, "/v1/models/dev-logreg", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Errorf("remote admin call: %d %s", w.Code, w.Body)
	}
}
