package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// adminClient calls a running gateway's lifecycle routes.
type adminClient struct {
	base, token string
	http        *http.Client
}

// clientFlags are the flags every `rendezvous models` subcommand takes.
type clientFlags struct {
	server, token *string
	json          *bool
	timeout       *time.Duration
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		server:  fs.String("server", defaultServer(), "the gateway's base URL (default: $RENDEZVOUS_SERVER when set)"),
		token:   fs.String("token", "", "API token with the admin scope (default: $RENDEZVOUS_TOKEN)"),
		json:    fs.Bool("json", false, "print the server's JSON answer instead of a table"),
		timeout: fs.Duration("timeout", time.Minute, "give up on the server after this long"),
	}
}

// defaultServer is $RENDEZVOUS_SERVER, else the gateway's default address.
func defaultServer() string {
	if s := os.Getenv("RENDEZVOUS_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}

func (f clientFlags) client() (*adminClient, error) {
	base := strings.TrimRight(*f.server, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("%w: --server %q: want an http:// or https:// URL", errUsage, *f.server)
	}
	tok := *f.token
	if tok == "" {
		tok = os.Getenv("RENDEZVOUS_TOKEN")
	}
	return &adminClient{base: base, token: tok, http: &http.Client{Timeout: *f.timeout}}, nil
}

// apiError is a non-2xx answer: its status, message and, for a refused
// reload, every problem.
type apiError struct {
	Status   int
	Message  string   `json:"error"`
	Field    string   `json:"field"`
	Problems []string `json:"problems"`
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if len(e.Problems) > 0 {
		msg += ": " + strings.Join(e.Problems, "; ")
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// do sends body (JSON; nil for none) and returns the answer's bytes. A
// non-2xx answer is an *apiError (its bytes are returned too).
func (c *adminClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	resp, err := c.send(ctx, method, path, body, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return raw, statusError(resp.StatusCode, raw)
	}
	return raw, nil
}

// stream sends body (JSON; nil for none) asking for accept and returns the
// answer's body to read as it comes; the caller closes it. A non-2xx
// answer is an *apiError.
func (c *adminClient) stream(ctx context.Context, method, path string, body any, accept string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, method, path, body, accept)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return nil, statusError(resp.StatusCode, raw)
	}
	return resp.Body, nil
}

// send sends the request with the token and returns the response.
func (c *adminClient) send(ctx context.Context, method, path string, body any, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is the gateway running? --server)", method, c.base+path, err)
	}
	return resp, nil
}

// statusError is the *apiError of a non-2xx answer with body raw.
func statusError(status int, raw []byte) *apiError {
	ae := &apiError{Status: status}
	if json.Unmarshal(raw, ae) != nil || ae.Message == "" {
		ae.Message = strings.TrimSpace(string(raw))
	}
	return ae
}

// decode unmarshals an answer, naming the route on failure.
func decode(raw []byte, path string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", path, err)
	}
	return nil
}

// parseInterleaved parses args allowing flags after positional arguments
// (`models add ch --bundle x`), and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// isStatus reports whether err is an *apiError with that status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}
