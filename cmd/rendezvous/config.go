package main

import (
	"context"
	"fmt"
	"io"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
)

var configSubcommands = []subcommand{
	{"print", "write the embedded default configuration (the Titanic example) to stdout"},
	{"validate", "load a configuration (default: the embedded one) and report every problem"},
}

// runConfig implements `rendezvous config print` (the embedded default
// configuration, to start one's own from) and `rendezvous config validate
// [FILE]` (every problem at once, with its YAML path and line).
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "Start a configuration of your own from the embedded example, or check one.\n" +
		"'rendezvous init DIR' writes the example together with the model bundles it names."
	if len(args) == 0 || isHelp(args[0]) {
		groupHelp(stdout, "config", synopsis, configSubcommands)
		if len(args) == 0 {
			return fmt.Errorf("%w: want a subcommand: print or validate", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "print":
		return runConfigPrint(args[1:], stdout, stderr)
	case "validate":
		return runConfigValidate(args[1:], stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown subcommand %q (want print or validate)", errUsage, args[0])
	}
}

func runConfigPrint(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config print",
		"Write the embedded default configuration (the Titanic example, with its comments)\n"+
			"to stdout. Its bundle paths (models/*.json) are relative to the file's directory:\n"+
			"use 'rendezvous init DIR' to get the bundles beside it.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: config print takes no argument", errUsage)
	}
	data, err := titanic.YAML()
	if err != nil {
		return fmt.Errorf("read embedded configuration: %w", err)
	}
	_, err = stdout.Write(data)
	return err
}

func runConfigValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config validate [FILE]",
		"Load FILE (default: the embedded configuration) as 'serve --config FILE' would,\n"+
			"model bundles included, and report every problem at once with its YAML path.\n"+
			"Exit status 0 when valid, 1 otherwise.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var (
		c   *config.Config
		err error
	)
	switch fs.NArg() {
	case 0:
		c, err = titanic.Config()
	case 1:
		c, err = config.Load(fs.Arg(0))
	default:
		return fmt.Errorf("%w: config validate takes at most one FILE", errUsage)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid (%d fields, %d models, %d routes)\n", c.Source, len(c.Schema.Fields), len(c.Models), len(c.Routes))
	return nil
}
