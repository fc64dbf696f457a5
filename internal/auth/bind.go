package auth

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrInsecureBind is wrapped by CheckBind's refusal.
var ErrInsecureBind = errors.New("refusing to serve without authentication on a non-loopback address")

// CheckBind is the startup rule: a gateway without any token (open) may
// listen on a loopback address (127.0.0.0/8, ::1, localhost) only, unless
// insecure (the --insecure flag) is set. addr is the listen address
// ("host:port"; an empty host means every interface). It returns nil or an
// error wrapping ErrInsecureBind that says what to do. A gateway with
// tokens may listen anywhere.
func CheckBind(addr string, open, insecure bool) error {
	if !open || insecure || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("%w: %s is reachable from other machines and no token is configured; "+
		"configure auth.tokens or auth.token_file (rendezvous token create --scope predict --file tokens.yaml), "+
		"listen on 127.0.0.1, or pass --insecure to serve it open anyway", ErrInsecureBind, addr)
}

// IsLoopback reports whether the listen address addr ("host:port") accepts
// connections from this machine only: a loopback IP or "localhost". An
// empty host, 0.0.0.0, :: and any other name are not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
