package auth

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CookieName is the dashboard's session cookie: it holds the token itself,
// HttpOnly and SameSite=Strict (and Secure over TLS).
const CookieName = "rendezvous_token"

// CookieMaxAge is how long the dashboard cookie lives.
const CookieMaxAge = 12 * time.Hour

// LoginPath is where RequirePage sends a browser without a token.
const LoginPath = "/login"

// Require wraps next so that only requests with a token holding scope reach
// it. The token comes from "Authorization: Bearer <token>" or, for GET and
// HEAD requests only (so a cookie alone can never change anything), from
// the dashboard cookie. It answers:
//
//   - 401 with WWW-Authenticate: Bearer when there is no token or it is
//     unknown;
//   - 403 when the token lacks scope (admin holds every scope);
//
// both with a JSON body {"error": "…"}. The token's name is put in the
// request context (Actor). An open Authenticator passes every request.
func (a *Authenticator) Require(scope Scope, next http.Handler) http.Handler {
	return a.require(scope, next, false)
}

// RequirePage is Require for the dashboard's pages ("/", "/ui/…"): a GET
// without a token (or with an unknown one) is redirected (303) to
// LoginPath?next=<the page>; everything else is answered as Require does.
func (a *Authenticator) RequirePage(scope Scope, next http.Handler) http.Handler {
	return a.require(scope, next, true)
}

func (a *Authenticator) require(scope Scope, next http.Handler, page bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.open {
			next.ServeHTTP(w, r)
			return
		}
		token, fromCookie := tokenOf(r)
		name, scopes, ok := a.Authenticate(token)
		if !ok && page && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		switch {
		case token == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="rendezvous"`)
			writeError(w, http.StatusUnauthorized, "missing token: send Authorization: Bearer <token>")
			return
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="rendezvous", error="invalid_token"`)
			msg := "unknown token"
			if fromCookie {
				msg = "unknown token in the " + CookieName + " cookie: log in again at " + LoginPath
			}
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		if !Grants(scopes, scope) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %q lacks scope %q", name, string(scope)))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithActor(r.Context(), name)))
	})
}

// tokenOf extracts the request's token: the Authorization header's bearer
// token, else (GET and HEAD only) the dashboard cookie.
func tokenOf(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		return strings.TrimSpace(tok), false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, true
	}
	return "", false
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rendezvous: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>Rendezvous</h1>
{{if .Problem}}<p role="alert" style="color: #b00020">{{.Problem}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="next" value="{{.Next}}">
<label>Token (scope read or admin)<br>
<input type="password" name="token" autocomplete="current-password" required autofocus style="width: 100%"></label>
<p><button type="submit">Log in</button></p>
</form>
<p><small>Create one with <code>rendezvous token create --scope read</code>.</small></p>
</body></html>
`))

// LoginHandler serves the dashboard's login, to be mounted at LoginPath
// for GET and POST, and at LogoutPath for POST:
//
//   - GET /login shows a form asking for a token;
//   - POST /login (form fields token and next) checks that the token holds
//     scope read (or admin), sets the cookie and redirects (303) to next
//     (a local path; "/" by default); a bad token shows the form again
//     with 401;
//   - POST /logout clears the cookie and redirects to /login.
//
// GET /login?token=… is not supported on purpose: a token in a URL ends up
// in browser history and access logs.
func (a *Authenticator) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == LogoutPath {
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", "POST")
				writeError(w, http.StatusMethodNotAllowed, "use POST to log out")
				return
			}
			http.SetCookie(w, a.cookie(r, "", -1))
			http.Redirect(w, r, LoginPath, http.StatusSeeOther)
			return
		}
		next := localPath(r.FormValue("next"))
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			showLogin(w, http.StatusOK, next, "")
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
			token := strings.TrimSpace(r.PostFormValue("token"))
			_, scopes, ok := a.Authenticate(token)
			switch {
			case !ok:
				showLogin(w, http.StatusUnauthorized, next, "Unknown token.")
			case !Grants(scopes, ScopeRead):
				showLogin(w, http.StatusForbidden, next, "This token does not have the read scope.")
			default:
				http.SetCookie(w, a.cookie(r, token, int(CookieMaxAge/time.Second)))
				http.Redirect(w, r, next, http.StatusSeeOther)
			}
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			writeError(w, http.StatusMethodNotAllowed, "use GET or POST")
		}
	})
}

// LogoutPath clears the dashboard cookie (POST).
const LogoutPath = "/logout"

func (a *Authenticator) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

func showLogin(w http.ResponseWriter, status int, next, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, struct{ Action, Next, Problem string }{LoginPath, next, problem})
}

// localPath returns p when it is a path on this server ("/ui/x?y"), else
// "/": never another host ("//evil.example", "https://…", "/\evil").
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return p
}
