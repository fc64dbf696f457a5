package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tokens for the tests: one per scope, plus admin.
var testTokens = map[Scope]string{
	ScopePredict:  "rdv_predict-secret",
	ScopeFeedback: "rdv_feedback-secret",
	ScopeRead:     "rdv_read-secret",
	ScopeAdmin:    "rdv_admin-secret",
}

func testConfig() Config {
	var c Config
	for _, s := range Scopes {
		c.Tokens = append(c.Tokens, Token{Name: "t-" + string(s), Scopes: []Scope{s}, SHA256: Hash(testTokens[s])})
	}
	return c
}

func mustNew(t *testing.T, c Config, dir string) *Authenticator {
	t.Helper()
	a, err := New(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// echoActor answers 200 with the actor's name.
var echoActor = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte(Actor(r.Context())))
})

// routes is the gateway's route × scope table (docs/SECURITY.md).
var routes = []struct {
	method, path string
	scope        Scope // "" = open
}{
	{"POST", "/v1/predict", ScopePredict},
	{"POST", "/singletitanicpred/", ScopePredict},
	{"POST", "/v2/models/prod/infer", ScopePredict},
	{"POST", "/v1/feedback", ScopeFeedback},
	{"GET", "/v1/requests/r1", ScopeRead},
	{"GET", "/v1/metrics", ScopeRead},
	{"GET", "/v1/compare", ScopeRead},
	{"GET", "/v1/drift", ScopeRead},
	{"GET", "/v1/export", ScopeRead},
	{"POST", "/v1/models", ScopeAdmin},
	{"DELETE", "/v1/models/x", ScopeAdmin},
	{"POST", "/v1/models/x/promote", ScopeAdmin},
	{"GET", "/healthz", ""},
	{"GET", "/metrics", ""},
}

func mux(a *Authenticator) *http.ServeMux {
	m := http.NewServeMux()
	for _, r := range routes {
		pattern := r.method + " " + r.path
		if r.scope == "" {
			m.Handle(pattern, echoActor)
			continue
		}
		m.Handle(pattern, a.Require(r.scope, echoActor))
	}
	return m
}

func do(t *testing.T, h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRequire_RouteByScopeTable(t *testing.T) {
	h := mux(mustNew(t, testConfig(), ""))
	for _, r := range routes {
		for _, held := range append([]Scope{"", "unknown"}, Scopes...) {
			token := testTokens[held]
			if held == "unknown" {
				token = "rdv_nobody"
			}
			want := http.StatusOK
			switch {
			case r.scope == "":
			case held == "" || held == "unknown":
				want = http.StatusUnauthorized
			case held != r.scope && held != ScopeAdmin:
				want = http.StatusForbidden
			}
			w := do(t, h, r.method, r.path, token)
			if w.Code != want {
				t.Errorf("%s %s with %q token: %d, want %d (%s)", r.method, r.path, held, w.Code, want, w.Body)
				continue
			}
			switch want {
			case http.StatusOK:
				if r.scope != "" && w.Body.String() != "t-"+string(held) {
					t.Errorf("%s %s: actor %q, want t-%s", r.method, r.path, w.Body, held)
				}
			default:
				var body struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || w.Header().Get("Content-Type") != "application/json" {
					t.Errorf("%s %s: body %q is not {\"error\": …}", r.method, r.path, w.Body)
				}
				if got := w.Header().Get("WWW-Authenticate"); (want == http.StatusUnauthorized) != strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s %s: %d with WWW-Authenticate %q", r.method, r.path, want, got)
				}
			}
		}
	}
}

func TestRequire_MessagesAndSchemes(t *testing.T) {
	h := mustNew(t, testConfig(), "").Require(ScopeAdmin, echoActor)
	for _, tc := range []struct {
		auth string
		code int
		msg  string
	}{
		{"", 401, "missing token"},
		{"Bearer rdv_wrong", 401, "unknown token"},
		{"Basic dXNlcjpwYXNz", 401, "missing token"},
		{"bearer   " + testTokens[ScopeAdmin] + " ", 200, ""},
		{"Bearer " + testTokens[ScopeRead], 403, `token "t-read" lacks scope "admin"`},
	} {
		req := httptest.NewRequest("POST", "/v1/models", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var body struct{ Error string }
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != tc.code || !strings.Contains(body.Error, tc.msg) {
			t.Errorf("%q: %d %s, want %d %q", tc.auth, w.Code, w.Body, tc.code, tc.msg)
		}
	}
}

func TestRequire_CookieOnlyForSafeMethods(t *testing.T) {
	a := mustNew(t, testConfig(), "")
	for _, tc := range []struct {
		method string
		scope  Scope
		code   int
	}{
		{"GET", ScopeRead, 200},
		{"HEAD", ScopeRead, 200},
		{"POST", ScopeFeedback, 401}, // even an admin cookie cannot POST
	} {
		req := httptest.NewRequest(tc.method, "/x", nil)
		req.AddCookie(&http.Cookie{Name: CookieName, Value: testTokens[ScopeAdmin]})
		w := httptest.NewRecorder()
		a.Require(tc.scope, echoActor).ServeHTTP(w, req)
		if w.Code != tc.code {
			t.Errorf("%s with cookie: %d, want %d", tc.method, w.Code, tc.code)
		}
	}
}

func TestRequire_OpenWithoutTokens(t *testing.T) {
	a := mustNew(t, Config{}, "")
	if !a.Open() || !strings.HasPrefix(a.Describe(), "open") {
		t.Fatalf("Open %v, Describe %q", a.Open(), a.Describe())
	}
	if w := do(t, a.Require(ScopeAdmin, echoActor), "POST", "/v1/models", ""); w.Code != 200 || w.Body.String() != "" {
		t.Errorf("open gateway: %d %q", w.Code, w.Body)
	}
	// an (empty) token file is a configured source: closed
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokens.yaml"), nil, 0o600)
	b := mustNew(t, Config{TokenFile: "tokens.yaml"}, dir)
	if b.Open() {
		t.Fatal("an empty token file left the gateway open")
	}
	if w := do(t, b.Require(ScopeRead, echoActor), "GET", "/v1/metrics", ""); w.Code != 401 {
		t.Errorf("empty token file: %d", w.Code)
	}
}

func TestReload_PicksUpNewTokensAndKeepsOldOnesOnError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.yaml")
	if err := AppendToken(file, Token{Name: "first", Scopes: []Scope{ScopeRead}, SHA256: Hash("rdv_first")}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	c := testConfig()
	c.TokenFile = "tokens.yaml" // relative to dir
	a := mustNew(t, c, dir)
	h := a.Require(ScopeRead, echoActor)
	if w := do(t, h, "GET", "/", "rdv_first"); w.Code != 200 || w.Body.String() != "first" {
		t.Fatalf("file token: %d %s", w.Code, w.Body)
	}
	if err := AppendToken(file, Token{Name: "second", Scopes: []Scope{ScopeRead}, SHA256: Hash("rdv_second")}); err != nil {
		t.Fatal(err)
	}
	if w := do(t, h, "GET", "/", "rdv_second"); w.Code != 401 {
		t.Fatalf("a token added to the file works before Reload: %d", w.Code)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if w := do(t, h, "GET", "/", "rdv_second"); w.Code != 200 {
		t.Fatalf("after Reload: %d %s", w.Code, w.Body)
	}
	if got := a.Describe(); got != "6 tokens (4 inline, 2 from "+file+")" {
		t.Errorf("Describe %q", got)
	}
	// a broken file: Reload fails, the previous tokens stay
	os.WriteFile(file, []byte("tokens:\n  - name: x\n    scopes: [root]\n    sha256: abc\n"), 0o600)
	err := a.Reload()
	if err == nil || !strings.Contains(err.Error(), "tokens[0].scopes[0]: unknown scope \"root\"") || !strings.Contains(err.Error(), "tokens[0].sha256: must be the 64 hex digits") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if w := do(t, h, "GET", "/", "rdv_second"); w.Code != 200 {
		t.Fatalf("a failed Reload dropped the tokens: %d", w.Code)
	}
	// removing a token from the file revokes it
	os.WriteFile(file, []byte("tokens: []\n"), 0o600)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if w := do(t, h, "GET", "/", "rdv_first"); w.Code != 401 {
		t.Fatalf("a removed token still works: %d", w.Code)
	}
	if w := do(t, h, "GET", "/", testTokens[ScopeRead]); w.Code != 200 {
		t.Fatalf("inline token after Reload: %d", w.Code)
	}
}

func TestAppendToken_RejectsDuplicateNamesAndHashes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t.yaml")
	tok := Token{Name: "a", Scopes: []Scope{ScopeRead}, SHA256: Hash("x")}
	if err := AppendToken(file, tok); err != nil {
		t.Fatal(err)
	}
	if err := AppendToken(file, tok); err == nil || !strings.Contains(err.Error(), `"a" is already used`) {
		t.Errorf("duplicate name: %v", err)
	}
	tok.Name = "b"
	if err := AppendToken(file, tok); err == nil || !strings.Contains(err.Error(), "same token as tokens[0]") {
		t.Errorf("duplicate hash: %v", err)
	}
}

func TestNew_ReportsConfigProblemsWithPaths(t *testing.T) {
	_, err := New(Config{Tokens: []Token{
		{Name: "", Scopes: nil, SHA256: "zz"},
		{Name: "b", Scopes: []Scope{"read", "write"}, SHA256: strings.Repeat("g", 64)},
		{Name: "b", Scopes: []Scope{"read"}, SHA256: Hash("1")},
	}}, "")
	for _, want := range []string{
		"auth.tokens[0].name: required",
		"auth.tokens[0].scopes: at least one scope is required",
		"auth.tokens[0].sha256: must be the 64 hex digits of the token's SHA-256 (rendezvous token create prints it), got 2 characters",
		`auth.tokens[1].scopes[1]: unknown scope "write" (want predict, feedback, read, admin)`,
		"auth.tokens[1].sha256: must be the 64 hex digits of the token's SHA-256, got a non-hex character",
		`auth.tokens[2].name: "b" is already used by another token`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if _, err := New(Config{TokenFile: filepath.Join(t.TempDir(), "none.yaml")}, ""); err == nil {
		t.Error("a missing token file is not an error")
	}
	file := filepath.Join(t.TempDir(), "t.yaml")
	os.WriteFile(file, []byte("tokens:\n  - name: t-read\n    scopes: [read]\n    sha256: "+Hash("other")+"\n"), 0o600)
	c := testConfig()
	c.TokenFile = file
	if _, err := New(c, ""); err == nil || !strings.Contains(err.Error(), `"t-read" is already used`) {
		t.Errorf("a file token named like an inline one: %v", err)
	}
}

func TestHashAndNewToken(t *testing.T) {
	if got := Hash("test"); got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("Hash(test) = %s", got)
	}
	a, err1 := NewToken()
	b, err2 := NewToken()
	if err1 != nil || err2 != nil || a == b || !strings.HasPrefix(a, TokenPrefix) || len(a) != len(TokenPrefix)+43 {
		t.Errorf("NewToken: %q %q %v %v", a, b, err1, err2)
	}
}

func TestLogin_SetsAStrictHttpOnlyCookieForAReadToken(t *testing.T) {
	a := mustNew(t, testConfig(), "")
	login := a.LoginHandler()
	post := func(token, next string) *httptest.ResponseRecorder {
		form := url.Values{"token": {token}, "next": {next}}
		req := httptest.NewRequest("POST", LoginPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		login.ServeHTTP(w, req)
		return w
	}
	w := post(testTokens[ScopeRead], "/ui/requests/r1?x=1")
	if w.Code != 303 || w.Header().Get("Location") != "/ui/requests/r1?x=1" {
		t.Fatalf("login: %d to %q", w.Code, w.Header().Get("Location"))
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != CookieName || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/" || cs[0].MaxAge <= 0 {
		t.Fatalf("cookie %+v", cs)
	}
	// the cookie opens the dashboard
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cs[0])
	rw := httptest.NewRecorder()
	a.RequirePage(ScopeRead, echoActor).ServeHTTP(rw, req)
	if rw.Code != 200 || rw.Body.String() != "t-read" {
		t.Errorf("dashboard with the cookie: %d %s", rw.Code, rw.Body)
	}
	for _, tc := range []struct {
		token, next string
		code        int
		location    string
	}{
		{"rdv_wrong", "/", 401, ""},
		{testTokens[ScopePredict], "/", 403, ""},
		{testTokens[ScopeAdmin], "//evil.example/", 303, "/"},
		{testTokens[ScopeAdmin], "https://evil.example/", 303, "/"},
		{testTokens[ScopeAdmin], "/\\evil.example", 303, "/"},
		{testTokens[ScopeAdmin], "", 303, "/"},
	} {
		w := post(tc.token, tc.next)
		if w.Code != tc.code || w.Header().Get("Location") != tc.location {
			t.Errorf("login %q next %q: %d to %q, want %d to %q", tc.token, tc.next, w.Code, w.Header().Get("Location"), tc.code, tc.location)
		}
		if tc.code != 303 && len(w.Result().Cookies()) != 0 {
			t.Errorf("login %q set a cookie", tc.token)
		}
	}
	// GET shows the form; POST /logout clears the cookie
	if w := httptest.NewRecorder(); true {
		login.ServeHTTP(w, httptest.NewRequest("GET", LoginPath+"?next=/ui/x", nil))
		if w.Code != 200 || !strings.Contains(w.Body.String(), `name="next" value="/ui/x"`) {
			t.Errorf("login form: %d %s", w.Code, w.Body)
		}
	}
	w = httptest.NewRecorder()
	login.ServeHTTP(w, httptest.NewRequest("POST", LogoutPath, nil))
	if cs := w.Result().Cookies(); w.Code != 303 || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("logout: %d %+v", w.Code, cs)
	}
}

func TestRequirePage_RedirectsBrowsersToTheLogin(t *testing.T) {
	a := mustNew(t, testConfig(), "")
	h := a.RequirePage(ScopeRead, echoActor)
	w := do(t, h, "GET", "/ui/drift?model=a", "")
	if w.Code != 303 || w.Header().Get("Location") != "/login?next=%2Fui%2Fdrift%3Fmodel%3Da" {
		t.Errorf("no token: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := do(t, h, "GET", "/", testTokens[ScopePredict]); w.Code != 403 {
		t.Errorf("predict token on the dashboard: %d", w.Code)
	}
	if w := do(t, h, "GET", "/", testTokens[ScopeRead]); w.Code != 200 {
		t.Errorf("read token in the header: %d", w.Code)
	}
}

func TestCheckBind(t *testing.T) {
	for _, tc := range []struct {
		addr           string
		open, insecure bool
		refused        bool
	}{
		{"127.0.0.1:8080", true, false, false},
		{"127.3.4.5:8080", true, false, false},
		{"[::1]:8080", true, false, false},
		{"localhost:8080", true, false, false},
		{"0.0.0.0:8080", true, false, true},
		{":8080", true, false, true},
		{"[::]:8080", true, false, true},
		{"10.0.0.7:8080", true, false, true},
		{"gateway.internal:8080", true, false, true},
		{"0.0.0.0:8080", true, true, false},
		{"0.0.0.0:8080", false, false, false},
	} {
		err := CheckBind(tc.addr, tc.open, tc.insecure)
		if (err != nil) != tc.refused || (err != nil && !errors.Is(err, ErrInsecureBind)) {
			t.Errorf("CheckBind(%q, open=%v, insecure=%v) = %v", tc.addr, tc.open, tc.insecure, err)
		}
	}
	if err := CheckBind("0.0.0.0:80", true, false); !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
}

func TestOpenAPISecurity(t *testing.T) {
	b, err := json.Marshal(map[string]any{"securitySchemes": OpenAPISecuritySchemes(), "security": OpenAPISecurity(ScopeRead)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"bearerAuth":{"description"`, `"scheme":"bearer"`, `"type":"http"`, `"security":[{"bearerAuth":["read"]}]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in %s", want, b)
		}
	}
}

func TestRouteScope_Table(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		scope        Scope
		open         bool
	}{
		{"POST", "/v1/predict", ScopePredict, false},
		{"POST", "/singletitanicpred/", ScopePredict, false},
		{"POST", "/multititanicpred2", ScopePredict, false},
		{"POST", "/v2/models/{name}/infer", ScopePredict, false},
		{"POST", "/v2/models/prod/versions/3/infer", ScopePredict, false},
		{"GET", "/v2/models/{name}", ScopePredict, false},
		{"GET", "/v2", ScopePredict, false},
		{"POST", "/v1/feedback", ScopeFeedback, false},
		{"GET", "/v1/requests/{id}", ScopeRead, false},
		{"GET", "/v1/models", ScopeRead, false},
		{"GET", "/v1/metrics", ScopeRead, false},
		{"GET", "/v1/compare", ScopeRead, false},
		{"GET", "/v1/drift", ScopeRead, false},
		{"GET", "/v1/export", ScopeRead, false},
		{"HEAD", "/v1/export", ScopeRead, false},
		{"GET", "/{$}", ScopeRead, false},
		{"GET", "/", ScopeRead, false},
		{"GET", "/ui/requests/{id}", ScopeRead, false},
		{"GET", "/ui/assets/{name}", ScopeRead, false},
		{"POST", "/v1/models", ScopeAdmin, false},
		{"DELETE", "/v1/models/{name}", ScopeAdmin, false},
		{"PATCH", "/v1/models/{name}", ScopeAdmin, false},
		{"POST", "/v1/models/{name}/promote", ScopeAdmin, false},
		{"POST", "/v1/models/{name}/rollback", ScopeAdmin, false},
		{"POST", "/v1/reload", ScopeAdmin, false},
		{"POST", "/v1/replay", ScopeAdmin, false},
		{"DELETE", "/v2/models/x", ScopeAdmin, false},
		{"POST", "/ui/x", ScopeAdmin, false},
		{"PUT", "/anything", ScopeAdmin, false},
		{"GET", "/healthz", "", true},
		{"GET", "/readyz", "", true},
		{"GET", "/metrics", "", true},
		{"GET", "/openapi.json", "", true},
		{"GET", "/v2/health/live", "", true},
		{"POST", "/login", "", true},
	} {
		s, open := RouteScope(tc.method, tc.path)
		if s != tc.scope || open != tc.open {
			t.Errorf("%s %s: %q open=%v, want %q open=%v", tc.method, tc.path, s, open, tc.scope, tc.open)
		}
	}
}

func TestRoute_WrapsEachPatternWithItsScope(t *testing.T) {
	a := mustNew(t, testConfig(), "")
	for _, tc := range []struct {
		pattern, method, path, token string
		code                         int
	}{
		{"GET /healthz", "GET", "/healthz", "", 200},
		{"POST /v1/predict", "POST", "/v1/predict", "", 401},
		{"POST /v1/predict", "POST", "/v1/predict", testTokens[ScopePredict], 200},
		{"POST /v1/predict", "POST", "/v1/predict", testTokens[ScopeRead], 403},
		{"GET /v1/export", "GET", "/v1/export", testTokens[ScopeRead], 200},
		{"GET /{$}", "GET", "/", "", 303},
		{"GET /ui/requests/{id}", "GET", "/ui/requests/x", "", 303},
		{"POST /v1/models/{name}/promote", "POST", "/v1/models/x/promote", testTokens[ScopeRead], 403},
		{"POST /v1/models/{name}/promote", "POST", "/v1/models/x/promote", testTokens[ScopeAdmin], 200},
	} {
		w := do(t, a.Route(tc.pattern, echoActor), tc.method, tc.path, tc.token)
		if w.Code != tc.code {
			t.Errorf("%s with %q: %d, want %d", tc.pattern, tc.token, w.Code, tc.code)
		}
	}
}

func TestReloadOn_ReloadsOnEachSignal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(file, []byte("tokens: []\n"), 0o600)
	a := mustNew(t, Config{TokenFile: file}, "")
	sig := make(chan os.Signal)
	logged := make(chan string, 4)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { a.ReloadOn(ctx, sig, slog.New(chanHandler(logged))); close(done) }()
	if err := AppendToken(file, Token{Name: "new", Scopes: []Scope{ScopeRead}, SHA256: Hash("rdv_new")}); err != nil {
		t.Fatal(err)
	}
	sig <- syscall.SIGHUP
	// Each reload logs once; waiting for the line orders the file writes
	// after the reload that must see them.
	if msg := <-logged; !strings.Contains(msg, "tokens reloaded") {
		t.Errorf("first signal logged %q, want a reload", msg)
	}
	os.WriteFile(file, []byte("tokens: {"), 0o600)
	sig <- syscall.SIGHUP
	if msg := <-logged; !strings.Contains(msg, "not reloaded") {
		t.Errorf("second signal logged %q, want a refusal", msg)
	}
	cancel()
	<-done
	if _, _, ok := a.Authenticate("rdv_new"); !ok {
		t.Error("the token added before the first signal is unknown after a broken file was refused")
	}
}

// chanHandler is a slog.Handler that sends each record's message to ch.
type chanHandler chan<- string

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	h <- r.Message
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }
