package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// PrivatePostgres starts a throwaway PostgreSQL cluster on a port of its own
// with $RENDEZVOUS_SHARED/tools/private-pg.sh (the machine's PostgreSQL is
// never stopped) and returns its URL and a function running the script with
// a command (start, stop, kill) on it; the cluster is destroyed at cleanup.
// Missing server binaries fail the test under CI=true and skip it elsewhere.
func PrivatePostgres(t *testing.T) (url string, ctl func(cmd string)) {
	t.Helper()
	script := SharedFile(t, "tools/private-pg.sh")
	if bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(bins) == 0 {
		Missing(t, "the PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql) are missing; install the postgresql package")
	}
	parent, err := os.MkdirTemp("", "rdv-private-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(parent, 0o755) // the cluster belongs to the postgres user
	dir := filepath.Join(parent, "data")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	run := func(args ...string) string {
		out, err := exec.Command(script, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("private-pg.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	url = run("start", dir, port)
	t.Cleanup(func() {
		exec.Command(script, "destroy", dir).Run()
		os.RemoveAll(parent)
	})
	return url, func(cmd string) {
		if cmd == "start" {
			run(cmd, dir, port)
		} else {
			run(cmd, dir)
		}
	}
}
