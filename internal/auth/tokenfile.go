package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// tokenFile is the token file's format:
//
//	tokens:
//	  - name: ci-predict
//	    scopes: [predict]
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
type tokenFile struct {
	Tokens []Token `yaml:"tokens"`
}

// ReadTokenFile reads a token file (unknown keys are errors). An empty file
// holds no tokens.
func ReadTokenFile(path string) ([]Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	var f tokenFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return f.Tokens, nil
}

// AppendToken adds t to the token file at path, creating it (mode 0600)
// when it does not exist. The file is rewritten through a temporary file
// and a rename, so a concurrent Reload sees the old or the new file, never
// half of one; comments in it are not kept. A name already in the file is
// an error.
func AppendToken(path string, t Token) error {
	var ts []Token
	mode := fs.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		if ts, err = ReadTokenFile(path); err != nil {
			return err
		}
		mode = st.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("token file: %w", err)
	}
	ts = append(ts, t)
	if ps := tokenProblems(ts, "tokens", nil); len(ps) > 0 {
		return problemsError(path+":", ps)
	}
	var buf bytes.Buffer
	buf.WriteString("# Rendezvous API tokens: SHA-256 hashes only (rendezvous token create).\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(tokenFile{Tokens: ts}); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: no such file
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// resolve makes a relative path relative to dir.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// ReloadOn calls Reload each time signals delivers (e.g. from
// signal.Notify(ch, syscall.SIGHUP)) until ctx ends, logging each outcome:
// the token count at info level, a failure (the previous tokens stay) at
// error level. Run it in its own goroutine.
func (a *Authenticator) ReloadOn(ctx context.Context, signals <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			if err := a.Reload(); err != nil {
				log.Error("auth: token file not reloaded, the previous tokens stay in force", "err", err)
				continue
			}
			log.Info("auth: tokens reloaded", "tokens", a.Describe())
		}
	}
}
