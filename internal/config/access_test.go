package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/auth"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// withSections appends YAML to the example configuration in a temporary
// directory and loads it.
func withSections(t *testing.T, extra string) (*Config, string, error) {
	t.Helper()
	p := exampleDir(t)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(data, []byte("\n"+extra)...), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	return c, filepath.Dir(p), err
}

func TestLoad_AuthTLSAndLimitsResolveAndDefault(t *testing.T) {
	p := exampleDir(t)
	dir := filepath.Dir(p)
	for _, f := range []string{"server.pem", "server.key", "tokens.yaml"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o600)
	}
	data, _ := os.ReadFile(p)
	data = []byte(strings.Replace(string(data), "server:\n", "server:\n  tls:\n    cert_file: server.pem\n    key_file: "+filepath.Join(dir, "server.key")+"\n", 1))
	data = append(data, []byte("\nauth:\n  token_file: tokens.yaml\n  tokens:\n    - name: ci\n      scopes: [predict, read]\n      sha256: "+auth.Hash("rdv_x")+"\n")...)
	os.WriteFile(p, data, 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.TLS.CertFile != filepath.Join(dir, "server.pem") || c.Server.TLS.KeyFile != filepath.Join(dir, "server.key") {
		t.Errorf("TLS paths not resolved against the config file: %+v", c.Server.TLS)
	}
	if c.Auth.TokenFile != filepath.Join(dir, "tokens.yaml") || len(c.Auth.Tokens) != 1 || c.Auth.Tokens[0].Scopes[1] != auth.ScopeRead {
		t.Errorf("auth: %+v", c.Auth)
	}
	if c.Schema.MaxStringBytes != schema.DefaultMaxStringBytes || c.Schema.MaxEntityIDBytes != schema.DefaultMaxEntityIDBytes {
		t.Errorf("limits not defaulted: %d %d", c.Schema.MaxStringBytes, c.Schema.MaxEntityIDBytes)
	}
	if _, err := auth.New(c.Auth, c.Dir); err != nil {
		t.Errorf("auth.New on a valid configuration: %v", err)
	}
}

func TestLoad_SchemaStringLimitReachesTheValidator(t *testing.T) {
	c, _, err := withSections(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Schema.MaxStringBytes = 3
	c.Schema.Fields = []Field{{Name: "s", Type: schema.TypeString}}
	v, err := c.Validator()
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := v.Validate(map[string]any{"s": "abcd"}, ""); len(errs) != 1 || errs[0].Problem != "must be at most 3 bytes long, got 4 bytes" {
		t.Errorf("got %v", errs)
	}
}

func TestValidate_AuthTLSAndLimitProblemsHaveTheirPaths(t *testing.T) {
	_, _, err := withSections(t, `auth:
  token_file: nope.yaml
  tokens:
    - name: ci
      scopes: [predict, root]
      sha256: abc
`)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{
		`auth.tokens[0].scopes[1]: unknown scope "root" (want predict, feedback, read, admin)`,
		`auth.tokens[0].sha256: must be the 64 hex digits`,
		`auth.token_file: cannot read `,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	p := exampleDir(t)
	data, _ := os.ReadFile(p)
	data = []byte(strings.Replace(string(data), "server:\n", "server:\n  tls:\n    key_file: k.pem\n    client_ca_file: ca.pem\n", 1))
	data = []byte(strings.Replace(string(data), "schema:\n", "schema:\n  max_string_bytes: -1\n  max_entity_id_bytes: -2\n", 1))
	os.WriteFile(p, data, 0o644)
	_, err = Load(p)
	for _, want := range []string{
		"server.tls.cert_file: required with key_file",
		"server.tls.key_file: cannot read " + filepath.Join(filepath.Dir(p), "k.pem"),
		"server.tls.client_ca_file: cannot read",
		"schema.max_string_bytes: must be > 0",
		"schema.max_entity_id_bytes: must be > 0",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if !strings.Contains(err.Error(), "(line ") {
		t.Errorf("no line numbers: %v", err)
	}
}

func TestValidate_GCHeadroomEdges(t *testing.T) {
	tests := []struct {
		headroom int64
		wantErr  bool
	}{
		{-2, true},
		{-1, false}, // Go's own pacing
		{1<<20 - 1, true},
		{1 << 20, false},
		{256 << 20, false},
	}
	for _, tt := range tests {
		p := exampleDir(t)
		data, _ := os.ReadFile(p)
		data = []byte(strings.Replace(string(data), "server:\n", fmt.Sprintf("server:\n  gc_headroom: %d\n", tt.headroom), 1))
		os.WriteFile(p, data, 0o644)
		c, err := Load(p)
		if got := err != nil && strings.Contains(err.Error(), "server.gc_headroom: must be -1"); got != tt.wantErr {
			t.Errorf("gc_headroom %d: error %v; want an error naming server.gc_headroom: %v", tt.headroom, err, tt.wantErr)
		}
		if err == nil && c.Server.GCHeadroom != tt.headroom {
			t.Errorf("gc_headroom %d loaded as %d", tt.headroom, c.Server.GCHeadroom)
		}
	}
	c := &Config{}
	c.ApplyDefaults()
	if c.Server.GCHeadroom != DefaultGCHeadroom {
		t.Errorf("default gc_headroom = %d; want %d", c.Server.GCHeadroom, DefaultGCHeadroom)
	}
}
