package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// deploymentState is what a lifecycle change would alter: members with
// their settings and the stored events.
func deploymentState(t *testing.T, f *fixture) string {
	t.Helper()
	var b strings.Builder
	d := f.gw.Deployment()
	for _, m := range d.Members {
		b.WriteString(m.Name + "/" + string(m.Role) + "/" + m.Deadline.String() + ";")
		if m.Paused {
			b.WriteString("paused;")
		}
	}
	r := f.do(t, http.MethodGet, "/v1/deployments", "", "")
	b.Write(r.body)
	return b.String()
}

func TestStateChangingRoutes_RefuseNonJSONBodiesWith415AndChangeNothing(t *testing.T) {
	f := lifecycleFixture(t, ptr(true))
	before := deploymentState(t, f)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/models", `{"name":"x","role":"challenger","bundle":"dev-logreg.json"}`},
		{http.MethodPatch, "/v1/models/dev-logreg", `{"paused":true}`},
		{http.MethodDelete, "/v1/models/dev-logreg", `{}`},
		{http.MethodPost, "/v1/models/dev-logreg/promote", `{"force":true,"reason":"csrf"}`},
		{http.MethodPost, "/v1/rollback", `{"reason":"csrf"}`},
		{http.MethodPost, "/v1/reload", `{}`},
	} {
		for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
			r := f.do(t, tc.method, tc.path, ct, tc.body)
			if r.code != http.StatusUnsupportedMediaType || r.header.Get("Content-Type") != "application/json" || decodeMap(t, r.body)["error"] == "" {
				t.Errorf("%s %s as %q: %d %s %s, want 415 with a JSON error", tc.method, tc.path, ct, r.code, r.header.Get("Content-Type"), r.body)
			}
		}
	}
	if after := deploymentState(t, f); after != before {
		t.Errorf("refused requests changed the deployment:\nbefore %s\nafter  %s", before, after)
	}
	// JSON and +json are accepted; so is a bodiless request without a
	// Content-Type (DELETE, an optional body).
	if r := f.do(t, http.MethodPatch, "/v1/models/dev-logreg", "application/merge-patch+json", `{"paused":true}`); r.code != http.StatusOK {
		t.Errorf("PATCH as +json: %d %s", r.code, r.body)
	}
	if r := f.do(t, http.MethodPost, "/v1/models/dev-logreg/promote", "", ""); r.code != http.StatusOK {
		t.Errorf("promote without a body: %d %s", r.code, r.body)
	}
}

func TestStateChangingRoutes_RefuseCrossOriginBrowserRequests(t *testing.T) {
	f := lifecycleFixture(t, ptr(true))
	before := deploymentState(t, f)
	// A page on another site POSTing to a gateway on loopback: no body,
	// so no Content-Type to refuse; the browser's Sec-Fetch-Site says it.
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		r := f.do(t, http.MethodPost, "/v1/models/dev-logreg/promote", "", "", hdr...)
		if r.code != http.StatusForbidden || decodeMap(t, r.body)["error"] == "" {
			t.Errorf("cross-origin promote (%v): %d %s, want 403", hdr, r.code, r.body)
		}
	}
	if after := deploymentState(t, f); after != before {
		t.Errorf("a refused cross-origin request changed the deployment")
	}
	// Same origin passes.
	if r := f.do(t, http.MethodPost, "/v1/models/dev-logreg/promote", "", "", "Sec-Fetch-Site", "same-origin"); r.code != http.StatusOK {
		t.Errorf("same-origin promote: %d %s", r.code, r.body)
	}
}

// corsFixture is the default fixture whose handler lists origins in
// server.cors_origins.
func corsFixture(t *testing.T, origins ...string) *fixture {
	f := defaultFixture(t)
	cfg := *f.cfg
	cfg.Server.CORSOrigins = origins
	h, err := New(Params{Config: &cfg, Gateway: f.gw})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func TestCORS_OffByDefault(t *testing.T) {
	f := defaultFixture(t)
	r := f.do(t, http.MethodOptions, "/v1/predict", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if r.code == http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without cors_origins: %d %v", r.code, r.header)
	}
	r = f.post(t, "/v1/predict", passenger, "Origin", "https://app.example")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("predict with an Origin, CORS off: %d %v", r.code, r.header)
	}
}

func TestCORS_ListedOriginOnly(t *testing.T) {
	const app = "https://app.example"
	f := corsFixture(t, app, "http://localhost:3000")

	r := f.do(t, http.MethodOptions, "/v1/feedback", "", "", "Origin", app, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if r.code != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != app ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight from a listed origin: %d %v", r.code, r.header)
	}
	for _, o := range []string{"https://evil.example", "https://app.example:8443", "http://app.example", "null"} {
		r := f.do(t, http.MethodOptions, "/v1/feedback", "", "", "Origin", o, "Access-Control-Request-Method", "POST")
		if r.code != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" || decodeMap(t, r.body)["error"] == "" {
			t.Errorf("preflight from unlisted %s: %d %v %s", o, r.code, r.header, r.body)
		}
		r = f.post(t, "/v1/predict", passenger, "Origin", o)
		if r.header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Errorf("predict from unlisted %s: %v", o, r.header)
		}
	}
	r = f.post(t, "/v1/predict", passenger, "Origin", app)
	if r.header.Get("Access-Control-Allow-Origin") != app || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("predict from a listed origin: %d %v", r.code, r.header)
	}
	// A listed origin passes the state-changing routes' cross-origin check.
	if r := f.do(t, http.MethodPost, "/v1/rollback", "", "", "Origin", app, "Sec-Fetch-Site", "cross-site"); r.code == http.StatusForbidden {
		t.Errorf("rollback from a listed origin: %d %s", r.code, r.body)
	}
	if r := f.do(t, http.MethodPost, "/v1/rollback", "", "", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); r.code != http.StatusForbidden {
		t.Errorf("rollback from an unlisted origin: %d %s", r.code, r.body)
	}
}

func ptr[T any](v T) *T { return &v }
