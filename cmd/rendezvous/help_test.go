package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelp_EveryCommandTeaches: --help on every command and sub-command
// exits 0 and shows a usage line and examples; a flag section only when the
// command has flags.
func TestHelp_EveryCommandTeaches(t *testing.T) {
	var names [][]string
	for _, c := range commands {
		names = append(names, []string{c.name})
	}
	names = append(names, []string{"config", "print"}, []string{"config", "validate"}, []string{"model", "inspect"}, []string{"worker", "list"})
	for _, s := range modelsSubcommands {
		names = append(names, []string{"models", s.name})
	}
	for _, n := range names {
		t.Run(strings.Join(n, "_"), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append(n, "--help"), &out, &errb)
			text := out.String() + errb.String()
			if code != 0 {
				t.Fatalf("exit %d: %s", code, text)
			}
			for _, want := range []string{"Usage: rendezvous " + n[0], "Examples:\n  rendezvous "} {
				if !strings.Contains(text, want) {
					t.Errorf("help lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "Flags:\nExamples") || strings.HasSuffix(text, "Flags:\n") {
				t.Errorf("empty Flags section:\n%s", text)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"rendezvous ", "commit ", "go         go1.", "built "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version lacks %q:\n%s", want, out.String())
		}
	}
}

// TestInit_ServesOutsideTheRepository: init writes a configuration whose
// bundles resolve, wherever the directory is.
func TestInit_ServesOutsideTheRepository(t *testing.T) {
	dir := t.TempDir() + "/gw"
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"init", dir}, &out, &errb); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"config", "validate", dir + "/rendezvous.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("validate: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "valid (") {
		t.Errorf("validate said %q", out.String())
	}
	if code := run(context.Background(), []string{"init", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--force") {
		t.Errorf("second init: exit %d, %q; want 1 and a hint at --force", code, errb.String())
	}
}
