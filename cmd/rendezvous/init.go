package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
)

// runInit implements `rendezvous init DIR`: the embedded example
// configuration and the model bundles it names, written to DIR so that
// `rendezvous serve --config DIR/rendezvous.yaml` works from anywhere.
func runInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("init [--force] DIR",
		"Write the embedded example (the Titanic gateway) to DIR: rendezvous.yaml and the\n"+
			"model bundles it names (models/*.json, relative to the file), so that\n"+
			"'rendezvous serve --config DIR/rendezvous.yaml' works outside the repository.\n"+
			"Edit the file to add a challenger, change deadlines or point at your store;\n"+
			"'rendezvous config validate DIR/rendezvous.yaml' checks it. Existing files are\n"+
			"left alone unless --force.", stderr)
	force := fset.Bool("force", false, "overwrite files that already exist")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return fmt.Errorf("%w: want one DIR", errUsage)
	}
	dir := fset.Arg(0)
	var written []string
	err := fs.WalkDir(titanic.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if p != titanic.ConfigFile && filepath.Ext(p) != ".json" {
			return nil // e.g. models/README.md
		}
		data, err := titanic.FS.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if !*force {
			if _, err := os.Stat(dst); err == nil {
				return fmt.Errorf("%s exists (use --force to overwrite)", dst)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		written = append(written, dst)
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range written {
		fmt.Fprintf(stdout, "wrote %s\n", w)
	}
	cfg := filepath.Join(dir, titanic.ConfigFile)
	fmt.Fprintf(stdout, "\nnext:\n  rendezvous config validate %s\n  rendezvous serve --config %s\n", cfg, cfg)
	return nil
}
