package insight_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	titanic "github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/api/insight"
	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// gatewayHandler is the full api.Handler of the shipped Titanic example
// with the insight routes mounted, over a real SQLite store in a
// temporary directory (no recorder: feedback goes straight to the store).
func gatewayHandler(tb testing.TB) (http.Handler, *sqlite.Store) {
	tb.Helper()
	cfg, err := titanic.Config()
	if err != nil {
		tb.Fatal(err)
	}
	val, err := cfg.Validator()
	if err != nil {
		tb.Fatal(err)
	}
	var members []rendezvous.Member
	var models []monitor.Model
	for _, mc := range cfg.Models {
		data, err := cfg.ReadBundle(mc.Bundle)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := model.LoadBytes(mc.Bundle, data)
		if err != nil {
			tb.Fatal(err)
		}
		members = append(members, rendezvous.Member{Name: mc.Name, Role: mc.Role, Model: b, Deadline: 5 * time.Second})
		models = append(models, monitor.Model{Name: mc.Name, Role: mc.Role, Bundle: b})
	}
	dep, err := gateway.NewDeployment(gateway.DeploymentParams{Members: members, Validator: val, Words: cfg.Labels.Words,
		EntityField: cfg.Schema.EntityField, Policy: rendezvous.Policy{OverallDeadline: 10 * time.Second}})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := sqlite.Open(tb.Context(), "sqlite://"+filepath.Join(tb.TempDir(), "insight.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	mon, err := monitor.New(monitor.Params{Store: st, Models: models})
	if err != nil {
		tb.Fatal(err)
	}
	gw, err := gateway.New(gateway.Params{Deployment: dep, Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	extra := insight.Routes(insight.Params{Monitor: mon, Feedback: feedback.New(st, nil, cfg.Labels.Words, nil), Export: st})
	h, err := api.New(api.Params{Config: cfg, Gateway: gw, Extra: extra})
	if err != nil {
		tb.Fatal(err)
	}
	return h, st
}

// TestFeedback_OnlyJSONIsAccepted: a cross-site form cannot send JSON, so
// text/plain (the classic CSRF vector, no preflight), urlencoded and
// multipart bodies are refused with 415 and nothing is stored.
func TestFeedback_OnlyJSONIsAccepted(t *testing.T) {
	h, _ := gatewayHandler(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	const body = `{"request_id":"csrf-1","label":1}`
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", ""} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/feedback", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("feedback as %q: %d %s, want 415 JSON", ct, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	var page monitor.PendingPage
	get(t, srv.URL+"/v1/feedback/pending", &page)
	if page.Total != 0 {
		t.Fatalf("refused feedback was stored: %+v", page)
	}
	if code := post(t, srv.URL+"/v1/feedback", map[string]any{"request_id": "csrf-1", "label": 1}, nil); code != http.StatusOK {
		t.Fatalf("JSON feedback: %d", code)
	}
	get(t, srv.URL+"/v1/feedback/pending", &page)
	if page.Total != 1 {
		t.Fatalf("JSON feedback not stored: %+v", page)
	}
}

func TestFeedback_OpenAPIDeclares415(t *testing.T) {
	h, _ := gatewayHandler(t)
	req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Paths["/v1/feedback"]["post"].Responses["415"] == nil {
		t.Errorf("POST /v1/feedback declares no 415: %v", doc.Paths["/v1/feedback"]["post"].Responses)
	}
}
