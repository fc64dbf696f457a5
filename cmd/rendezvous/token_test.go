package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/auth"
)

func TestToken_CreatePrintsTheTokenOnceAndStoresItsHash(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"token", "create", "--scope", "read,predict", "--scope", "read", "--name", "dash", "--file", file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, auth.TokenPrefix) || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("stdout %q is not one token", out.String())
	}
	if strings.Contains(errb.String(), token) {
		t.Error("the token is printed twice")
	}
	ts, err := auth.ReadTokenFile(file)
	if err != nil || len(ts) != 1 || ts[0].Name != "dash" || ts[0].SHA256 != auth.Hash(token) || len(ts[0].Scopes) != 2 {
		t.Fatalf("token file: %+v, %v", ts, err)
	}
	// the stored hash authenticates the printed token
	a, err := auth.New(auth.Config{TokenFile: file}, "")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	a.Require(auth.ScopeRead, http.NotFoundHandler()).ServeHTTP(w, req)
	if w.Code != 404 {
		t.Errorf("the created token is refused: %d %s", w.Code, w.Body)
	}
	// a second token with the same name is refused; a default name is made
	if code := run(context.Background(), []string{"token", "create", "--scope", "admin", "--name", "dash", "--file", file}, &out, &errb); code != 1 {
		t.Errorf("duplicate name: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"token", "create", "--scope", "admin", "--file", file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if ts, _ := auth.ReadTokenFile(file); len(ts) != 2 || ts[1].Name != "admin-"+auth.Hash(strings.TrimSpace(out.String()))[:8] {
		t.Errorf("default name: %+v", ts)
	}
}

func TestToken_CreateWithoutAFilePrintsAConfigEntry(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"token", "create", "--scope", "feedback"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	token := strings.TrimSpace(out.String())
	if want := "    scopes: [feedback]\n    sha256: " + auth.Hash(token) + "\n"; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr %q lacks %q", errb.String(), want)
	}
}

func TestToken_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"token"},
		{"token", "delete"},
		{"token", "create"},
		{"token", "create", "--scope", "root"},
		{"token", "create", "--scope", "read", "extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q", args, code, out.String())
		}
	}
}
