package auth

import (
	"net/http"
	"strings"
)

// RouteScope is the gateway's route × scope table: the scope a request to
// method and path needs, and open=true for the routes anyone may call
// (health, readiness, Prometheus metrics, the OpenAPI document, the
// dashboard's login). path may be a request path ("/v1/requests/r-1") or a
// net/http pattern's path ("/v1/requests/{id}"). Any POST outside /v1/,
// /v2/ and the dashboard is a compatibility route: predict.
//
//	predict   POST /v1/predict, compatibility routes, POST /v2/models/…/infer,
//	          GET /v2 and /v2/models/… (OIP metadata an inference client reads)
//	feedback  POST /v1/feedback
//	read      GET /v1/… (requests, models, metrics, compare, drift, export),
//	          the dashboard GET / and /ui/…
//	admin     any other method under /v1/ (models POST/DELETE/PATCH, promote,
//	          rollback, reload, replay)
//	open      /healthz, /readyz, /metrics, /openapi.json, /v2/health/…,
//	          /login, /logout
//
// A method and path outside the table need admin: a route added without
// its scope is closed, not open.
func RouteScope(method, path string) (scope Scope, open bool) {
	safe := method == "GET" || method == "HEAD"
	switch {
	case path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/openapi.json" ||
		path == LoginPath || path == LogoutPath || strings.HasPrefix(path, "/v2/health/"):
		return "", true
	case strings.HasPrefix(path, "/v2"):
		if safe || (method == "POST" && strings.HasSuffix(path, "/infer")) {
			return ScopePredict, false
		}
		return ScopeAdmin, false
	case strings.HasPrefix(path, "/v1/"):
		switch {
		case method == "POST" && path == "/v1/predict":
			return ScopePredict, false
		case method == "POST" && path == "/v1/feedback":
			return ScopeFeedback, false
		case safe:
			return ScopeRead, false
		}
		return ScopeAdmin, false
	case path == "/" || path == "/{$}" || path == "/ui" || strings.HasPrefix(path, "/ui/"):
		if safe {
			return ScopeRead, false
		}
		return ScopeAdmin, false
	case method == "POST":
		return ScopePredict, false
	}
	return ScopeAdmin, false
}

// Route wraps the handler of a net/http pattern ("GET /v1/export",
// "POST /v1/predict", "GET /{$}") with the scope RouteScope gives it:
// nothing for an open route, RequirePage for the dashboard's pages, Require
// otherwise. A pattern without a method is treated as GET.
func (a *Authenticator) Route(pattern string, h http.Handler) http.Handler {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	if i := strings.IndexByte(path, '/'); i > 0 { // a host in the pattern
		path = path[i:]
	}
	scope, open := RouteScope(method, path)
	switch {
	case open:
		return h
	case scope == ScopeRead && (path == "/" || path == "/{$}" || path == "/ui" || strings.HasPrefix(path, "/ui/")):
		return a.RequirePage(scope, h)
	}
	return a.Require(scope, h)
}
