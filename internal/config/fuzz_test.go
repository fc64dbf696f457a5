package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoadBytes: configuration loading never panics; a rejected
// configuration is a one-line *ValidationError with at least one problem;
// an accepted one validates again after ApplyDefaults (idempotent) and
// round-trips: encoded as YAML and loaded again it is accepted and equal.
func FuzzLoadBytes(f *testing.F) {
	example, err := os.ReadFile("../../examples/titanic/rendezvous.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		"", "server:\n  addr: nowhere\n", "schema:\n  fields:\n    - {name: a, type: flaot}\n",
		"models:\n  - {name: m, role: production, kind: remote, remote: {protocol: oip-v2, url: 'http://x', model: m}}\nschema:\n  fields: [{name: a, type: number, min: 0, max: 1}]\nlabels: {positive: 1, words: {0: no, 1: yes}}\n",
		"auth:\n  tokens:\n    - {name: a, scopes: [read], sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}\n",
		"server:\n  tls: {cert_file: a.pem}\n", "recorder:\n  flush_interval: soon\n", "[1, 2]", "a: &a [*a]", "{", "\t",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	for _, n := range []string{"prod-gbt", "canary-rule", "dev-logreg"} {
		os.WriteFile(filepath.Join(dir, "models", n+".json"), []byte("{}"), 0o644)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadBytes(data, dir)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: error %v is not a *ValidationError with problems", data, err)
			}
			return
		}
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: accepted, but not valid after ApplyDefaults again: %v", data, err)
		}
		if _, err := c.Validator(); err != nil {
			t.Fatalf("%q: accepted, but its schema does not build: %v", data, err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("%q: accepted config does not encode: %v", data, err)
		}
		c2, err := LoadBytes(out, dir)
		if err != nil {
			t.Fatalf("%q: re-encoded\n%s\nis rejected: %v", data, out, err)
		}
		out2, _ := yaml.Marshal(c2)
		if string(out) != string(out2) {
			t.Fatalf("%q: round trip changed the configuration:\n%s\n---\n%s", data, out, out2)
		}
		if strings.Contains(c.Source, "\n") {
			t.Fatal("source with a newline")
		}
	})
}
