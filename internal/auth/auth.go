// Package auth is the gateway's access control: API keys (bearer tokens)
// with scopes, kept only as SHA-256 hashes, from the configuration
// (auth.tokens) and from a reloadable token file (auth.token_file).
//
// The HTTP side is one middleware, Authenticator.Require, which answers 401
// (no token, or an unknown one) and 403 (a token without the route's scope)
// with a JSON body {"error": "…"}, and puts the token's name in the request
// context for audit (Actor). The dashboard authenticates with the same
// tokens through an HttpOnly, SameSite=Strict cookie set by LoginHandler.
//
// With no token configured at all the Authenticator is open: every request
// passes. CheckBind decides whether such a gateway may start on a given
// address (only on loopback, unless the operator insists).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Scope is what a token may do.
type Scope string

// The scopes. Admin implies every other scope.
const (
	ScopePredict  Scope = "predict"  // POST /v1/predict, compatibility routes, OIP v2 infer
	ScopeFeedback Scope = "feedback" // POST /v1/feedback
	ScopeRead     Scope = "read"     // records, metrics, compare, drift, export, dashboard
	ScopeAdmin    Scope = "admin"    // model lifecycle: add, remove, promote, rollback, reload
)

// Scopes lists every scope in documentation order.
var Scopes = []Scope{ScopePredict, ScopeFeedback, ScopeRead, ScopeAdmin}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return slices.Contains(Scopes, s) }

// Token declares one API key: a name (for audit: it is what Actor returns),
// its scopes and the hex SHA-256 of the token itself, never the token. It
// is both an auth.tokens entry of the configuration and an entry of the
// token file.
type Token struct {
	Name   string  `yaml:"name"`
	Scopes []Scope `yaml:"scopes"`
	SHA256 string  `yaml:"sha256"`
}

// Config is the auth section of the configuration.
type Config struct {
	// Tokens are declared inline (hashes only).
	Tokens []Token `yaml:"tokens"`
	// TokenFile names a YAML file of further tokens ("tokens:" and a list
	// like Tokens), re-read by Authenticator.Reload; `rendezvous token
	// create --file` appends to it.
	TokenFile string `yaml:"token_file"`
}

// Configured reports whether any token source is configured: inline tokens
// or a token file (even an empty one: then nobody gets in until a token is
// added and the file reloaded). A configuration without either is open.
func (c Config) Configured() bool { return len(c.Tokens) > 0 || c.TokenFile != "" }

// Problem is one problem with an auth configuration or a token file, at Key
// relative to the section ("tokens[2].sha256").
type Problem struct {
	Key     string
	Message string
}

func (p Problem) String() string { return p.Key + ": " + p.Message }

// Problems checks the inline tokens; the token file is checked when it is
// read (New, Reload).
func (c Config) Problems() []Problem {
	return tokenProblems(c.Tokens, "tokens", nil)
}

// tokenProblems checks a token list; names already used (by the other
// source) are in taken, which is extended.
func tokenProblems(ts []Token, key string, taken map[string]bool) []Problem {
	var ps []Problem
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Message: fmt.Sprintf(format, args...)})
	}
	if taken == nil {
		taken = map[string]bool{}
	}
	hashes := map[string]int{}
	for i, t := range ts {
		at := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case t.Name == "":
			add(at+".name", "required")
		case taken[t.Name]:
			add(at+".name", "%q is already used by another token", t.Name)
		}
		taken[t.Name] = true
		if len(t.Scopes) == 0 {
			add(at+".scopes", "at least one scope is required (want %s)", scopeList())
		}
		for j, s := range t.Scopes {
			if !s.Valid() {
				add(fmt.Sprintf("%s.scopes[%d]", at, j), "unknown scope %q (want %s)", string(s), scopeList())
			}
		}
		if _, err := parseHash(t.SHA256); err != nil {
			add(at+".sha256", "%v", err)
		} else if j, dup := hashes[strings.ToLower(t.SHA256)]; dup {
			add(at+".sha256", "same token as %s[%d]", key, j)
		} else {
			hashes[strings.ToLower(t.SHA256)] = i
		}
	}
	return ps
}

func scopeList() string {
	s := make([]string, len(Scopes))
	for i, sc := range Scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

func parseHash(h string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	if len(h) != 2*sha256.Size {
		return out, fmt.Errorf("must be the 64 hex digits of the token's SHA-256 (rendezvous token create prints it), got %d characters", len(h))
	}
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		return out, fmt.Errorf("must be the 64 hex digits of the token's SHA-256, got a non-hex character")
	}
	return out, nil
}

// TokenPrefix starts every token NewToken makes, so a leaked one is easy to
// recognise (secret scanners, logs).
const TokenPrefix = "rdv_"

// NewToken returns a new random token: TokenPrefix and 32 random bytes in
// unpadded base64url (256 bits).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Hash returns the hex SHA-256 of token: the value of a Token's SHA256.
// Tokens are long random strings, so a fast unsalted hash is enough: it
// only has to keep the configuration from holding a usable secret.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// entry is one usable token.
type entry struct {
	name   string
	scopes []Scope
	hash   [sha256.Size]byte
}

// Grants reports whether a token holding scopes may act in scope s: it
// holds s, or admin, which grants every scope.
func Grants(scopes []Scope, s Scope) bool {
	return slices.Contains(scopes, s) || slices.Contains(scopes, ScopeAdmin)
}

// Authenticator checks tokens. It is safe for concurrent use; Reload swaps
// its table atomically.
type Authenticator struct {
	inline []entry
	file   string
	open   bool

	mu      sync.RWMutex
	entries []entry // inline then file
	nfile   int
}

// New builds an Authenticator from the auth section; baseDir resolves a
// relative TokenFile (the configuration file's directory; "" for the
// working directory). It reads the token file, which must exist. The error
// lists every problem.
func New(cfg Config, baseDir string) (*Authenticator, error) {
	if ps := cfg.Problems(); len(ps) > 0 {
		return nil, problemsError("auth", ps)
	}
	a := &Authenticator{open: !cfg.Configured(), file: resolve(baseDir, cfg.TokenFile)}
	for _, t := range cfg.Tokens {
		a.inline = append(a.inline, toEntry(t))
	}
	a.entries = a.inline
	if a.file != "" {
		if err := a.Reload(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func toEntry(t Token) entry {
	h, _ := parseHash(t.SHA256) // checked
	return entry{name: t.Name, scopes: slices.Clone(t.Scopes), hash: h}
}

func problemsError(where string, ps []Problem) error {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = where + "." + p.String()
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// Reload re-reads the token file (a no-op without one). On any error the
// previous tokens stay in force and the error says why; on success the
// file's tokens replace the previous file's, at once for every request.
func (a *Authenticator) Reload() error {
	if a.file == "" {
		return nil
	}
	ts, err := ReadTokenFile(a.file)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, e := range a.inline {
		taken[e.name] = true
	}
	if ps := tokenProblems(ts, "tokens", taken); len(ps) > 0 {
		return problemsError(a.file+":", ps)
	}
	entries := slices.Clip(slices.Clone(a.inline))
	for _, t := range ts {
		entries = append(entries, toEntry(t))
	}
	a.mu.Lock()
	a.entries, a.nfile = entries, len(ts)
	a.mu.Unlock()
	return nil
}

// Open reports whether no token source is configured, so every request
// passes (see CheckBind).
func (a *Authenticator) Open() bool { return a.open }

// Describe is the startup log line's text: "open: no tokens configured" or
// "2 tokens (1 inline, 1 from /etc/rendezvous/tokens.yaml)".
func (a *Authenticator) Describe() string {
	if a.open {
		return "open: no tokens configured, every request is allowed"
	}
	a.mu.RLock()
	n, nf := len(a.entries), a.nfile
	a.mu.RUnlock()
	s := fmt.Sprintf("%d token", n)
	if n != 1 {
		s += "s"
	}
	if a.file == "" {
		return s + " (inline)"
	}
	return fmt.Sprintf("%s (%d inline, %d from %s)", s, n-nf, nf, a.file)
}

// Authenticate looks token up. It hashes the token and compares the hash
// with every known one in constant time (all of them, whatever matches), so
// the time taken says nothing about the token or which entry it matched.
// ok is false for an unknown token; name and scopes describe a known one.
func (a *Authenticator) Authenticate(token string) (name string, scopes []Scope, ok bool) {
	if token == "" {
		return "", nil, false
	}
	sum := sha256.Sum256([]byte(token))
	a.mu.RLock()
	entries := a.entries
	a.mu.RUnlock()
	match := -1
	for i := range entries {
		if subtle.ConstantTimeCompare(sum[:], entries[i].hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", nil, false
	}
	return entries[match].name, slices.Clone(entries[match].scopes), true
}

type actorKey struct{}

// Actor returns the name of the token that authenticated the request whose
// context is ctx, or "" (open gateway, or a route without authentication).
func Actor(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

// WithActor returns ctx carrying the actor name (tests; Require does it).
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}
