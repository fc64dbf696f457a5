package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/auth"
	"github.com/rendezvous-gw/rendezvous/internal/config"
)

// fileServer is a gateway started from a configuration file written by
// `rendezvous init` (so it can be reloaded), with generous deadlines.
type fileServer struct {
	testServer
	cfgPath string
}

func startFileServer(t *testing.T) fileServer {
	t.Helper()
	return startFileServerAfter(t, nil)
}

// startFileServerAfter is startFileServer with prepare (if not nil) run on
// the directory `init` wrote before the server starts.
func startFileServerAfter(t *testing.T, prepare func(dir string)) fileServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gw")
	if out, code := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: %s", out)
	}
	if prepare != nil {
		prepare(dir)
	}
	cfgPath := filepath.Join(dir, "rendezvous.yaml")
	rewrite(t, cfgPath, "deadline: 50ms", "deadline: 5s")
	rewrite(t, cfgPath, "overall_deadline: 100ms", "overall_deadline: 10s")
	rewrite(t, cfgPath, "flush_interval: 50ms", "flush_interval: 5ms")
	// Close writes every record before returning (none left in the spool).
	rewrite(t, cfgPath, "shutdown_timeout: 10s", "shutdown_timeout: 5m")
	storeURL := "sqlite://" + filepath.Join(dir, "records.db")
	return fileServer{runTestServer(t, serveOptions{ConfigPath: cfgPath, Addr: "127.0.0.1:0", StoreURL: storeURL}), cfgPath}
}

// rewrite replaces every old with new in the file.
func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runCLI runs the command line and returns stdout and stderr together.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return out.String(), code
}

// mustContain fails unless out has every want.
func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

func TestModels_CLIChangesARunningGatewayAndReportsEachChange(t *testing.T) {
	ts := startFileServer(t)
	srv := []string{"--server", ts.base}
	cli := func(want int, args ...string) string {
		t.Helper()
		out, code := runCLI(t, append(args, srv...)...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d:\n%s", args, code, want, out)
		}
		return out
	}
	mustContain(t, "list", cli(0, "models", "list"), "deployment 0", "NAME", "prod-gbt", "production", "canary-rule", "dev-logreg")
	mustContain(t, "add", cli(0, "models", "add", "new-logreg", "--bundle", "models/dev-logreg.json", "--sample", "0.5"),
		"deployment 1: add new-logreg by local", "new-logreg=challenger")
	mustContain(t, "list after add", cli(0, "models", "list"), "deployment 1", "new-logreg", "0.5")
	mustContain(t, "set", cli(0, "models", "set", "new-logreg", "--deadline", "80ms", "--pause"), "deployment 2: patch new-logreg")
	mustContain(t, "list after set", cli(0, "models", "list"), "80ms", "paused")

	// No labelled traffic: the gate refuses, shows its figures, exits 1 with one line.
	out := cli(1, "models", "promote", "new-logreg")
	mustContain(t, "refused promote", out, "gate REFUSED", "labelled pairs", "McNemar p", "verdict", "insufficient_data",
		`rendezvous models: promotion of "new-logreg" refused by the gate`)
	if n := strings.Count(out, "rendezvous models:"); n != 1 {
		t.Errorf("refusal has %d error lines, want 1:\n%s", n, out)
	}
	mustContain(t, "forced promote", cli(0, "models", "promote", "new-logreg", "--force", "--reason", "test of force"),
		"gate REFUSED", "deployment 3: promote new-logreg by local (FORCED past the gate: test of force)", "new-logreg=production", "prod-gbt=challenger")
	mustContain(t, "rollback", cli(0, "models", "rollback", "--reason", "undo"), "deployment 4: rollback", "prod-gbt=production", "new-logreg=challenger")

	// History: shown when the store keeps it, else one readable line.
	if out, code := runCLI(t, append([]string{"models", "history"}, srv...)...); code == 0 {
		mustContain(t, "history", out, "SEQ", "promote", "FORCED: test of force", "rollback")
	} else {
		mustContain(t, "history without an event log", out, "rendezvous models: this server keeps no deployment history")
	}

	// Reload: the file wins; the runtime member goes, and the reload says so.
	// (server.addr would not count: --addr overrides it at start and at reload alike.)
	rewrite(t, ts.cfgPath, "queue_size: 100000", "queue_size: 50000")
	mustContain(t, "reload", cli(0, "models", "reload"), "reloaded as deployment 5", "removed although added at runtime (not in the file): new-logreg",
		"needs restart (ignored): recorder.queue_size", "prod-gbt=production")
	mustContain(t, "reload again", cli(0, "models", "reload"), "nothing changed", "recorder.queue_size")
	rewrite(t, ts.cfgPath, "role: challenger", "role: boss")
	mustContain(t, "invalid reload", cli(1, "models", "reload"), "problem: models[2].role", "reload refused; the running deployment is kept")
	mustContain(t, "list after refused reload", cli(0, "models", "list"), "deployment 5")

	// An uploaded bundle, and --json.
	local := filepath.Join(filepath.Dir(ts.cfgPath), "models", "dev-logreg.json")
	mustContain(t, "upload", cli(0, "models", "add", "uploaded", "--bundle", local, "--upload", "--json"), `"kind":"add"`, `"model":"uploaded"`)
	mustContain(t, "remove", cli(0, "models", "remove", "uploaded"), "deployment 7: remove uploaded")
	mustContain(t, "remove production", cli(1, "models", "remove", "prod-gbt"), "production model", "HTTP 409")
}

func TestModels_BadUsageIsOneLineAndExit2(t *testing.T) {
	for _, args := range [][]string{
		{"models"},
		{"models", "frobnicate"},
		{"models", "promote"},
		{"models", "add", "x"},
		{"models", "add", "x", "--bundle", "a", "--remote", "http://b"},
		{"models", "set", "x"},
		{"models", "promote", "x", "--force"},
		{"models", "list", "--server", "localhost:8080"},
		{"models", "rollback", "extra"},
	} {
		out, code := runCLI(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, out)
		}
		if !strings.Contains(out, "rendezvous models: usage: ") {
			t.Errorf("%v: no one-line usage error:\n%s", args, out)
		}
	}
	out, code := runCLI(t, "models", "list", "--server", "http://127.0.0.1:1")
	if code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "is the gateway running?") {
		t.Errorf("unreachable server: exit %d, want 1 and one line:\n%s", code, out)
	}
}

// TestServe_OneSIGHUPReachesBothTheTokensAndTheConfiguration: fanOut gives
// each reloader its own copy of every signal.
func TestServe_OneSIGHUPReachesBothTheTokensAndTheConfiguration(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, a, b := make(chan os.Signal), make(chan os.Signal, 1), make(chan os.Signal, 1)
	go fanOut(ctx, in, a, b)
	for range 2 {
		in <- syscall.SIGHUP
		if got := <-a; got != syscall.SIGHUP {
			t.Errorf("tokens got %v", got)
		}
		if got := <-b; got != syscall.SIGHUP {
			t.Errorf("configuration got %v", got)
		}
	}
}

func TestModels_ReloadWithoutAConfigurationFileSaysSo(t *testing.T) {
	ts := startServer(t) // the embedded example: no file
	out, code := runCLI(t, "models", "reload", "--server", ts.base)
	if code != 1 || !strings.Contains(out, "started without a configuration file to reload") || !strings.Contains(out, "HTTP 501") {
		t.Errorf("reload of the embedded example: exit %d:\n%s", code, out)
	}
}

func TestModels_TokenComesFromTheFlagOrRENDEZVOUS_TOKEN(t *testing.T) {
	admin, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	read, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "tokens.yaml")
	body := "tokens:\n  - {name: ops, scopes: [admin, read], sha256: " + auth.Hash(admin) + "}\n" +
		"  - {name: dash, scopes: [read], sha256: " + auth.Hash(read) + "}\n"
	if err := os.WriteFile(tokenFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, func(c *config.Config) { c.Auth.TokenFile = tokenFile })
	t.Setenv("RENDEZVOUS_SERVER", ts.base)
	t.Setenv("RENDEZVOUS_TOKEN", "")
	out, code := runCLI(t, "models", "list")
	if code != 1 || !strings.Contains(out, "HTTP 401") {
		t.Errorf("no token: exit %d:\n%s", code, out)
	}
	if out, code := runCLI(t, "models", "list", "--token", read); code != 0 || !strings.Contains(out, "prod-gbt") {
		t.Errorf("read token in --token: exit %d:\n%s", code, out)
	}
	if out, code := runCLI(t, "models", "remove", "dev-logreg", "--token", read); code != 1 || !strings.Contains(out, "HTTP 403") {
		t.Errorf("read token removing a model: exit %d:\n%s", code, out)
	}
	t.Setenv("RENDEZVOUS_TOKEN", admin)
	if out, code := runCLI(t, "models", "remove", "dev-logreg"); code != 0 || !strings.Contains(out, "remove dev-logreg by ops") {
		t.Errorf("admin token in RENDEZVOUS_TOKEN: exit %d:\n%s", code, out)
	}
}
