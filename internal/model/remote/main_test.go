package remote_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// serverEnv, when set in the environment of this test binary, makes it an
// OIP v2 server process instead of running tests: benchmarks use it so the
// remote's work does not share the gateway process's Go scheduler. Its value
// is "<delay>,<failEven>" (e.g. "2s,false").
const serverEnv = "RENDEZVOUS_REMOTE_TEST_SERVER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(serverEnv); spec != "" {
		if err := serveProcess(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveProcess serves the logistic bundle on a loopback port, prints
// "LISTEN <addr>" and serves until its standard input closes.
func serveProcess(spec string) error {
	d, fail, _ := strings.Cut(spec, ",")
	delay, err := time.ParseDuration(d)
	if err != nil {
		return err
	}
	b, err := loadBundle("dev-logreg")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	return http.Serve(ln, oipHandler(b, behaviour{delay: delay, failEven: fail == "true"}))
}

// startServerProcess runs this test binary as an OIP v2 server and returns
// its base URL; the process ends with the test.
func startServerProcess(tb testing.TB, how behaviour) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%t", serverEnv, how.delay, how.failEven))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close() // the server exits when its stdin closes
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
	if err != nil || !ok {
		tb.Fatalf("server process: %q, %v", line, err)
	}
	return "http://" + addr
}
