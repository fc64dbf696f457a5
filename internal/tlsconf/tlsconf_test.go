package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// issued is a generated certificate and its key.
type issued struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func (c issued) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key}
}

var serial int64

// issue makes a certificate for tmpl's subject, signed by parent (self-signed
// when parent is nil).
func issue(t *testing.T, cn string, parent *issued, ca bool, usage x509.ExtKeyUsage) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if !ca {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return issued{cert: cert, der: der, key: key}
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t *testing.T, path string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, path, "PRIVATE KEY", der)
}

// pki writes a server CA and certificate, and a client CA, into dir.
type pki struct {
	serverCA, server, clientCA, client, stranger issued
	cfg                                          Config
}

func newPKI(t *testing.T) pki {
	dir := t.TempDir()
	var p pki
	p.serverCA = issue(t, "server CA", nil, true, 0)
	p.server = issue(t, "127.0.0.1", &p.serverCA, false, x509.ExtKeyUsageServerAuth)
	p.clientCA = issue(t, "client CA", nil, true, 0)
	p.client = issue(t, "ci-client", &p.clientCA, false, x509.ExtKeyUsageClientAuth)
	other := issue(t, "other CA", nil, true, 0)
	p.stranger = issue(t, "stranger", &other, false, x509.ExtKeyUsageClientAuth)
	p.cfg = Config{
		CertFile:     writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", p.server.der),
		KeyFile:      writeKey(t, filepath.Join(dir, "server.key"), p.server.key),
		ClientCAFile: writePEM(t, filepath.Join(dir, "client-ca.pem"), "CERTIFICATE", p.clientCA.der),
	}
	return p
}

// serve starts an HTTPS server with TLSConfig(cfg) answering the client
// certificate's common name.
func serve(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	tc, err := TLSConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
			return
		}
		io.WriteString(w, "anonymous")
	}))
	srv.TLS = tc
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(srv *httptest.Server, roots *x509.Certificate, client *issued) (string, error) {
	pool := x509.NewCertPool()
	pool.AddCert(roots)
	tc := &tls.Config{RootCAs: pool}
	if client != nil {
		tc.Certificates = []tls.Certificate{client.tls()}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTLSConfig_ServesWithTheCertificate(t *testing.T) {
	p := newPKI(t)
	cfg := p.cfg
	cfg.ClientCAFile = ""
	srv := serve(t, cfg)
	if got, err := get(srv, p.serverCA.cert, nil); err != nil || got != "anonymous" {
		t.Fatalf("GET: %q, %v", got, err)
	}
	// a client that does not trust the server's CA refuses it
	if _, err := get(srv, p.clientCA.cert, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server certificate accepted: %v", err)
	}
	tc, _ := TLSConfig(cfg)
	if tc.MinVersion != tls.VersionTLS12 || tc.ClientAuth != tls.NoClientCert {
		t.Errorf("MinVersion %x, ClientAuth %v", tc.MinVersion, tc.ClientAuth)
	}
}

func TestTLSConfig_VerifiesClientCertificates(t *testing.T) {
	p := newPKI(t)
	srv := serve(t, p.cfg)
	if got, err := get(srv, p.serverCA.cert, &p.client); err != nil || got != "ci-client" {
		t.Fatalf("client signed by the client CA: %q, %v", got, err)
	}
	if got, err := get(srv, p.serverCA.cert, nil); err == nil {
		t.Errorf("no client certificate: answered %q", got)
	}
	if got, err := get(srv, p.serverCA.cert, &p.stranger); err == nil {
		t.Errorf("client certificate from another CA: answered %q", got)
	}
}

func TestTLSConfig_DisabledIsPlainHTTP(t *testing.T) {
	tc, err := TLSConfig(Config{})
	if tc != nil || err != nil {
		t.Fatalf("got %v, %v", tc, err)
	}
}

func TestTLSConfig_ReportsBadFiles(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	otherKey := writeKey(t, filepath.Join(dir, "other.key"), p.client.key)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"key without certificate", Config{KeyFile: p.cfg.KeyFile}, "server.tls.cert_file: required with key_file"},
		{"certificate without key", Config{CertFile: p.cfg.CertFile}, "server.tls.key_file: required with cert_file"},
		{"missing file", Config{CertFile: filepath.Join(dir, "none.pem"), KeyFile: p.cfg.KeyFile}, "server.tls.cert_file: cannot read"},
		{"key of another certificate", Config{CertFile: p.cfg.CertFile, KeyFile: otherKey}, "private key does not match public key"},
		{"garbage certificate", Config{CertFile: garbage, KeyFile: p.cfg.KeyFile}, "failed to find any PEM data"},
		{"garbage client CA", Config{CertFile: p.cfg.CertFile, KeyFile: p.cfg.KeyFile, ClientCAFile: garbage}, "server.tls.client_ca_file: " + garbage + " holds no PEM certificate"},
		{"client CA is a directory", Config{CertFile: p.cfg.CertFile, KeyFile: p.cfg.KeyFile, ClientCAFile: dir}, "is a directory"},
	} {
		_, err := TLSConfig(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestProblemsAndResolve(t *testing.T) {
	ps := Config{ClientCAFile: "ca.pem"}.Problems()
	if len(ps) != 2 || ps[0].Key != "client_ca_file" || !strings.Contains(ps[0].Message, "needs cert_file") {
		t.Errorf("client CA alone: %+v", ps)
	}
	r := Config{CertFile: "c.pem", KeyFile: "/abs/k.pem"}.Resolve("/etc/rv")
	if r.CertFile != "/etc/rv/c.pem" || r.KeyFile != "/abs/k.pem" || r.ClientCAFile != "" {
		t.Errorf("Resolve: %+v", r)
	}
}
