// Command rendezvous is a model-deployment gateway implementing the rendezvous
// architecture: every request goes to every live model, one answer goes back,
// and everything every model did is recorded for comparison and drift.
//
// main dispatches to one file per subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run parses its own flags from args and returns
// an error to be printed as one line; errUsage (wrapped or not) exits 2.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// commands lists every subcommand in the order --help shows them.
// Add a subcommand by adding one line here and one file beside this one.
var commands = []command{
	// commands: keep one per line, sorted by workflow.
	{"serve", "serve the gateway (embedded Titanic example by default)", runServe},
	{"init", "write a configuration and the model bundles it names into a directory (init DIR)", runInit},
	{"config", "print the default configuration or validate one (config print | config validate [FILE])", runConfig},
	{"train", "train a model bundle from a labelled CSV", runTrain},
	{"predict", "score a CSV offline with a model bundle", runPredict},
	{"model", "inspect a model bundle (model inspect FILE)", runModel},
	{"models", "change a running gateway's models: list, add, remove, set, promote, rollback, history, reload", runModels},

	{"recorder", "write the records gateways publish to the NATS stream to a store (stream mode)", runRecorder},
	{"worker", "serve a model bundle over NATS for gateways (worker list: the live workers)", runWorker},
	{"simulate", "send realistic traffic with drift and delayed labels to a gateway", runSimulate},
	{"drift", "compare a current CSV with a reference CSV, column by column", runDrift},
	{"report", "summarise recorded traffic: models, challengers vs production, drift (text, JSON or HTML)", runReport},
	{"export", "export recorded requests as CSV, JSON Lines or Parquet", runExport},
	{"replay", "score recorded traffic with a candidate bundle and compare it with production", runReplay},
	{"version", "print the version, commit, Go version and build date", runVersion},
	{"token", "create an API token: print it once, store its hash (token create --scope read --file tokens.yaml)", runToken},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--version" {
		args = []string{"version"}
	}
	if len(args) > 1 && args[0] == "help" { // rendezvous help serve
		args = append(args[1:], "--help")
	}
	if len(args) == 0 || isHelp(args[0]) {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "rendezvous %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "rendezvous %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "rendezvous: unknown command %q (see 'rendezvous --help')\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `Rendezvous sends every prediction request to every live model (production,
canary, challengers), answers with production's result or a deadline-driven
fallback, and records what every model did so you can watch drift, compare
models on live traffic and promote a challenger with evidence.

Usage: rendezvous <command> [flags]   ('rendezvous <command> --help' for its flags)

Commands:`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

// newFlagSet returns a FlagSet for a subcommand that reports errors through
// the returned error instead of exiting, and prints its usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(stderr, fs, name, synopsis) }
	return fs
}

// parseFlags parses args; a flag error becomes errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
