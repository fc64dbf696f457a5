package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/auth"
)

// runToken implements `rendezvous token create --scope S [--name N]
// [--file F]`: it makes a random token, prints it once on stdout (alone on
// its line, so TOKEN=$(rendezvous token create …) works) and stores only
// its SHA-256: appended to the token file F, or, without --file, printed on
// stderr as an auth.tokens entry to paste into the configuration.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "token create --scope SCOPE[,SCOPE…] [--name NAME] [--file tokens.yaml]"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		args = []string{"create", "--help"} // the group's help is its one sub-command's
	}
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: want a subcommand: create (rendezvous %s)", errUsage, synopsis)
	}
	fs := newFlagSet(synopsis,
		"Make a new API token, print it once on stdout and store only its SHA-256 hash:\n"+
			"appended to the token file (created with mode 0600; the gateway reads it as auth.token_file\n"+
			"and picks up the new token on reload), or printed on stderr as an auth.tokens entry.\n"+
			"Scopes: predict, feedback, read, admin (admin grants every scope).", stderr)
	var scopes []auth.Scope
	fs.Func("scope", "a scope the token grants (repeat the flag or separate with commas; required)", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			sc := auth.Scope(strings.TrimSpace(p))
			if !sc.Valid() {
				return fmt.Errorf("unknown scope %q (want predict, feedback, read, admin)", p)
			}
			scopes = append(scopes, sc)
		}
		return nil
	})
	name := fs.String("name", "", "the token's name, shown as the actor in logs and records (default: the first scope and 8 hex digits of the hash)")
	file := fs.String("file", "", "append the hash to this token file (default: print an auth.tokens entry on stderr)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if len(scopes) == 0 {
		return fmt.Errorf("%w: --scope is required (predict, feedback, read or admin)", errUsage)
	}
	token, err := auth.NewToken()
	if err != nil {
		return err
	}
	t := auth.Token{Name: *name, Scopes: dedupe(scopes), SHA256: auth.Hash(token)}
	if t.Name == "" {
		t.Name = string(t.Scopes[0]) + "-" + t.SHA256[:8]
	}
	if *file != "" {
		if err := auth.AppendToken(*file, t); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "token %q (%s) stored in %s as its SHA-256; it is shown once, below. Reload the gateway to use it.\n", t.Name, scopeText(t.Scopes), *file)
	} else {
		fmt.Fprintf(stderr, "token %q (%s) is shown once, below. Add this entry under auth.tokens in the configuration:\n", t.Name, scopeText(t.Scopes))
		fmt.Fprintf(stderr, "  - name: %s\n    scopes: [%s]\n    sha256: %s\n", t.Name, scopeText(t.Scopes), t.SHA256)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

func dedupe(ss []auth.Scope) []auth.Scope {
	var out []auth.Scope
	seen := map[auth.Scope]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func scopeText(ss []auth.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}
