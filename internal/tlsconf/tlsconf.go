// Package tlsconf turns the server.tls section of the configuration into a
// *tls.Config: a certificate and key, and optionally a CA whose client
// certificates are then required (mutual TLS).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Config is the server.tls section. All paths may be relative to the
// configuration file (see Resolve).
type Config struct {
	// CertFile and KeyFile are PEM files: the server's certificate chain
	// (leaf first) and its private key. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, is a PEM bundle of CA certificates: every
	// client must then present a certificate signed by one of them.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether TLS is configured (a certificate is given).
func (c Config) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// Resolve returns c with relative paths made relative to dir ("" leaves
// them as they are).
func (c Config) Resolve(dir string) Config {
	r := func(p string) string {
		if p == "" || dir == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	return Config{CertFile: r(c.CertFile), KeyFile: r(c.KeyFile), ClientCAFile: r(c.ClientCAFile)}
}

// Problem is one problem with the section, at Key ("cert_file").
type Problem struct {
	Key     string
	Message string
}

// Problems checks the section without reading the files beyond their
// existence: both of cert_file and key_file or neither, client_ca_file only
// with them, every named file readable. TLSConfig reports what is wrong
// inside the files.
func (c Config) Problems() []Problem {
	var ps []Problem
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.CertFile == "" && c.KeyFile != "":
		add("cert_file", "required with key_file")
	case c.CertFile != "" && c.KeyFile == "":
		add("key_file", "required with cert_file")
	}
	if c.ClientCAFile != "" && !c.Enabled() {
		add("client_ca_file", "needs cert_file and key_file (client certificates are checked over TLS only)")
	}
	for _, f := range []struct{ key, path string }{{"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"client_ca_file", c.ClientCAFile}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			add(f.key, "cannot read %s: %v", f.path, unwrap(err))
		} else if st.IsDir() {
			add(f.key, "%s is a directory", f.path)
		}
	}
	return ps
}

func unwrap(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// TLSConfig builds the server's TLS configuration, or returns nil, nil when
// c is not Enabled (plain HTTP). It loads and checks the key pair (the key
// must match the certificate) and the client CA bundle; with one, clients
// must present a certificate it verifies (tls.RequireAndVerifyClientCert).
// TLS 1.2 is the minimum version. Use it as http.Server.TLSConfig and call
// ServeTLS(ln, "", "").
func TLSConfig(c Config) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if ps := c.Problems(); len(ps) > 0 {
		return nil, fmt.Errorf("server.tls.%s: %s", ps[0].Key, ps[0].Message)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: load %s and %s: %w", c.CertFile, c.KeyFile, err)
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server.tls.client_ca_file: %s holds no PEM certificate", c.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
