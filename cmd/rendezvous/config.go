package main

import (
	"context"
	"fmt"
	"io"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
)

// runConfig implements `rendezvous config print` (the embedded default
// configuration, to start one's own from) and `rendezvous config validate
// [FILE]` (every problem at once, with its YAML path and line).
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config print | config validate [FILE]",
		"print: write the embedded default configuration (the Titanic example) to stdout.\n"+
			"validate: load FILE (default: the embedded configuration) and report every problem.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "print":
		if fs.NArg() > 1 {
			return fmt.Errorf("%w: config print takes no argument", errUsage)
		}
		data, err := titanic.YAML()
		if err != nil {
			return fmt.Errorf("read embedded configuration: %w", err)
		}
		_, err = stdout.Write(data)
		return err
	case "validate":
		var (
			c   *config.Config
			err error
		)
		switch fs.NArg() {
		case 1:
			c, err = titanic.Config()
		case 2:
			c, err = config.Load(fs.Arg(1))
		default:
			return fmt.Errorf("%w: config validate takes at most one FILE", errUsage)
		}
		if err != nil {
			return err
		}
		src := c.Source
		fmt.Fprintf(stdout, "%s: valid (%d fields, %d models, %d routes)\n", src, len(c.Schema.Fields), len(c.Models), len(c.Routes))
		return nil
	case "":
		return fmt.Errorf("%w: want a subcommand: print or validate", errUsage)
	default:
		return fmt.Errorf("%w: unknown subcommand %q (want print or validate)", errUsage, fs.Arg(0))
	}
}
