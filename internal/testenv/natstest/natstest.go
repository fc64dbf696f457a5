// Package natstest starts an embedded NATS server with JetStream for tests
// (its own package, like store/mongo/ferrettest, so only the tests that
// need NATS link the server). For the machine's NATS use testenv.NATSURL.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server: JetStream on, file storage in a
// t.TempDir, a free port on 127.0.0.1, shut down at cleanup.
type Server struct {
	*server.Server
	// URL is the client URL, nats://127.0.0.1:<port>.
	URL  string
	opts *server.Options
}

// Restart shuts the server down (if it runs) and starts a new one on the
// same port with the same JetStream store, as a restarted nats-server
// process would be.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	s.WaitForShutdown()
	opts := s.opts.Clone()
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("restart embedded NATS server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("restarted embedded NATS server not ready for connections within 10s")
	}
	s.Server = ns
}

// Start starts an embedded NATS server with JetStream for the test.
func Start(t testing.TB) *Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("embedded NATS server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("embedded NATS server not ready for connections within 10s")
	}
	opts.Port = s.Addr().(*net.TCPAddr).Port // a restart keeps the port
	srv := &Server{Server: s, URL: s.ClientURL(), opts: opts}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}
