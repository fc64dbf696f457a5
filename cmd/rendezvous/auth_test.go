package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/auth"
)

// TestServe_RouteByScopeTableOnTheRealServer runs the full server with one
// token per scope (in a token file) and checks every kind of route against
// no token, a wrong token and each scope; then a token added to the file
// works after Reload.
func TestServe_RouteByScopeTableOnTheRealServer(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokens := map[auth.Scope]string{}
	var file strings.Builder
	file.WriteString("tokens:\n")
	for _, sc := range []auth.Scope{auth.ScopePredict, auth.ScopeFeedback, auth.ScopeRead, auth.ScopeAdmin} {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[sc] = tok
		file.WriteString("  - {name: t-" + string(sc) + ", scopes: [" + string(sc) + "], sha256: " + auth.Hash(tok) + "}\n")
	}
	tokenFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokenFile, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Auth.TokenFile = tokenFile
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := newServer(ctx, serveOptions{Config: cfg, Addr: "127.0.0.1:0", StoreURL: "sqlite://" + filepath.Join(dir, "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + s.Addr()
	passenger := `{"input":{"pclass":3,"sex":"male","age":34.5,"sibsp":0,"parch":0,"fare":7.83,"embarked":"Q"}}`
	routes := []struct {
		method, path, body string
		need               auth.Scope // "" = open
	}{
		{"POST", "/v1/predict", passenger, auth.ScopePredict},
		{"POST", "/singletitanicpred/", `{"pclass":3,"sex":"male","sibsp":0,"parch":0}`, auth.ScopePredict},
		{"POST", "/v1/feedback", `{"request_id":"nope","label":1}`, auth.ScopeFeedback},
		{"GET", "/v1/metrics", "", auth.ScopeRead},
		{"GET", "/v1/export?format=csv", "", auth.ScopeRead},
		{"GET", "/v1/models", "", auth.ScopeRead},
		{"POST", "/v1/replay", `{}`, auth.ScopeAdmin},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/openapi.json", "", ""},
	}
	call := func(method, path, body, token string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, rt := range routes {
		if code := call(rt.method, rt.path, rt.body, ""); (rt.need == "") != (code != 401) {
			t.Errorf("%s %s without a token: %d", rt.method, rt.path, code)
		}
		if rt.need == "" {
			continue
		}
		if code := call(rt.method, rt.path, rt.body, "rdv_not-a-token"); code != 401 {
			t.Errorf("%s %s with an unknown token: %d, want 401", rt.method, rt.path, code)
		}
		for sc, tok := range tokens {
			code := call(rt.method, rt.path, rt.body, tok)
			allowed := sc == rt.need || sc == auth.ScopeAdmin
			if allowed && (code == 401 || code == 403) || !allowed && code != 403 {
				t.Errorf("%s %s with a %s token: %d (allowed %v)", rt.method, rt.path, sc, code, allowed)
			}
		}
	}
	// A token added to the file works once the file is reloaded (SIGHUP
	// calls the same Reload).
	extra, _ := auth.NewToken()
	f, err := os.OpenFile(tokenFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("  - {name: late, scopes: [read], sha256: " + auth.Hash(extra) + "}\n")
	f.Close()
	if code := call("GET", "/v1/metrics", "", extra); code != 401 {
		t.Errorf("new token before reload: %d", code)
	}
	if err := s.auth.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := call("GET", "/v1/metrics", "", extra); code != 200 {
		t.Errorf("new token after reload: %d", code)
	}
}

func TestServe_RefusesAnOpenGatewayOnANonLoopbackAddressUnlessInsecure(t *testing.T) {
	_, err := newServer(context.Background(), serveOptions{Addr: "0.0.0.0:0", StoreURL: "none://"})
	if !errors.Is(err, auth.ErrInsecureBind) {
		t.Fatalf("err = %v, want ErrInsecureBind", err)
	}
	s, err := newServer(context.Background(), serveOptions{Addr: "0.0.0.0:0", StoreURL: "none://", Insecure: true})
	if err != nil {
		t.Fatalf("--insecure: %v", err)
	}
	s.ln.Close()
}

// TestServe_TLSWithTheFlags serves HTTPS with a certificate generated here
// and checks a client that trusts it gets through and a plain HTTP client
// does not.
func TestServe_TLSWithTheFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := newServer(ctx, serveOptions{Addr: "127.0.0.1:0", StoreURL: "none://", TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rendezvous test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
