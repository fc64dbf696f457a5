package api

import (
	"fmt"
	"net/http"
	"slices"
)

// Cross-site requests.
//
// State-changing routes other than the prediction routes (feedback and
// the lifecycle routes) take a JSON body only: any other Content-Type, or
// a body without one, is refused with 415 before anything is read, so a
// cross-site HTML form (text/plain, urlencoded, multipart) cannot reach
// them. They also refuse, with 403, a browser request from another origin
// (Sec-Fetch-Site / Origin, see http.CrossOriginProtection) unless that
// origin is listed in server.cors_origins: that covers the bodiless POSTs
// (rollback, reload, promote) a page could send to a gateway on loopback.
//
// CORS is off unless server.cors_origins lists exact origins: then a
// request whose Origin is listed gets Access-Control-Allow-Origin (and a
// preflight OPTIONS is answered 204); an unlisted origin gets no CORS
// header, and its preflight 403.

// corsMethods and corsHeaders are what a preflight allows.
const (
	corsMethods = "GET, POST, PATCH, DELETE"
	corsHeaders = "Content-Type, Authorization, X-Request-Id"
	corsExpose  = "X-Request-Id, Retry-After"
	corsMaxAge  = "600"
)

// newCrossOrigin builds the cross-origin check of the state-changing
// routes, trusting the configured CORS origins.
func newCrossOrigin(origins []string) (*http.CrossOriginProtection, error) {
	c := http.NewCrossOriginProtection()
	for _, o := range origins {
		if err := c.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("server.cors_origins: %w", err)
		}
	}
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, errorBody{Error: "cross-origin request refused: this route changes state and the request's origin is not in server.cors_origins", RequestID: requestID(r)})
	}))
	return c, nil
}

// stateChanging wraps a route that changes state and takes JSON: 403 for
// a cross-origin browser request, 415 for a body that is not declared as
// JSON (a request without a body and without a Content-Type passes).
func (h *Handler) stateChanging(next http.Handler) http.Handler {
	return h.crossOrigin.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := jsonContentType(r); msg != "" {
			writeError(w, http.StatusUnsupportedMediaType, errorBody{Error: msg, RequestID: requestID(r)})
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// jsonContentType returns why r's body is not declared as JSON ("": it is,
// or there is no body and no Content-Type).
func jsonContentType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return ""
		}
		return "a request body needs Content-Type: application/json"
	}
	if !isJSON(ct) {
		return fmt.Sprintf("unsupported content type %q: want application/json", ct)
	}
	return ""
}

// cors adds the CORS headers for a listed origin and answers a preflight;
// it reports whether the request was answered.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	allowed := origin != "" && slices.Contains(h.cfg.Server.CORSOrigins, origin)
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", corsExpose)
	}
	if !preflight {
		return false
	}
	if !allowed {
		writeError(w, http.StatusForbidden, errorBody{Error: fmt.Sprintf("origin %q is not in server.cors_origins", origin), RequestID: requestID(r)})
		h.metrics.observeHTTP("cors preflight", http.StatusForbidden, 0)
		return true
	}
	w.Header().Set("Access-Control-Allow-Methods", corsMethods)
	w.Header().Set("Access-Control-Allow-Headers", corsHeaders)
	w.Header().Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	h.metrics.observeHTTP("cors preflight", http.StatusNoContent, 0)
	return true
}

// corsEnabled reports whether server.cors_origins lists any origin.
func (h *Handler) corsEnabled() bool { return len(h.cfg.Server.CORSOrigins) > 0 }
