package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "list" {
		return runWorkerList(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("worker --bus URL --model FILE [--name NAME] [--concurrency N]",
		"Serve a model bundle to gateways over NATS: answer requests on the subject\n"+
			"rendezvous.model.<name> in a queue group, so every worker of one model shares\n"+
			"its load, and announce the worker with the NATS service API (name, bundle\n"+
			"version and artifact, stats, ping; see 'rendezvous worker list'). A gateway\n"+
			"member 'nats: <name>' calls it (docs/STREAM.md). On SIGTERM or Ctrl-C the\n"+
			"worker stops taking requests, answers the ones it holds, and exits.", stderr)
	bus := fs.String("bus", "", "NATS server URL, e.g. nats://127.0.0.1:4222 (required)")
	modelPath := fs.String("model", "", "model bundle file to serve (required)")
	name := fs.String("name", "", "model name the gateways call (default: the bundle's name)")
	concurrency := fs.Int("concurrency", 1, "requests scored at once by this worker")
	creds := fs.String("creds", "", "NATS credentials file (user JWT and seed)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long a shutdown waits for the requests in hand")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *bus == "" || *modelPath == "":
		return fmt.Errorf("%w: --bus and --model are required", errUsage)
	case *concurrency < 1:
		return fmt.Errorf("%w: --concurrency: must be >= 1, got %d", errUsage, *concurrency)
	}
	if err := natsmodel.CheckURL(*bus); err != nil {
		return fmt.Errorf("%w: --bus: %v", errUsage, err)
	}
	b, err := model.Load(*modelPath)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = b.Name
	}
	if err := natsmodel.CheckName(*name); err != nil {
		return fmt.Errorf("%w: --name: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	nc, err := connectBus(*bus, *creds, "rendezvous worker "+*name, log)
	if err != nil {
		return err
	}
	w, err := natsmodel.Serve(nc, natsmodel.WorkerOptions{
		Name: *name, Model: b, Concurrency: *concurrency, Version: version, Logger: log,
	})
	if err != nil {
		nc.Close()
		return err
	}
	info := b.Info()
	log.Info("worker serving", "model", *name, "subject", natsmodel.Subject(*name), "version", info.Version,
		"artifact", info.Artifact, "concurrency", *concurrency, "bus", nc.ConnectedUrlRedacted())
	<-ctx.Done()
	log.Info("worker draining", "model", *name)
	dctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := w.Drain(dctx); err != nil {
		return err
	}
	log.Info("worker stopped", "model", *name)
	return nil
}

// connectBus connects to NATS, retrying for ever after the first success
// (a worker outlives a NATS restart) but failing at once when the server
// cannot be reached at start.
func connectBus(url, creds, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own drain or close
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "server", c.ConnectedUrlRedacted())
		}),
	}
	if creds != "" {
		if _, err := os.Stat(creds); err != nil {
			return nil, fmt.Errorf("%w: --creds: %v", errUsage, err)
		}
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (is nats-server -js running?)", url, err)
	}
	return nc, nil
}

func runWorkerList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker list --bus URL [--json] [--wait D]",
		"List the live model workers on a NATS bus: model, instance id, bundle version\n"+
			"and artifact, concurrency, requests, errors and mean processing time since\n"+
			"each started. Workers answer the NATS service API's discovery request;\n"+
			"those that answer within --wait are listed.", stderr)
	bus := fs.String("bus", "", "NATS server URL, e.g. nats://127.0.0.1:4222 (required)")
	asJSON := fs.Bool("json", false, "print a JSON array")
	wait := fs.Duration("wait", 500*time.Millisecond, "how long to collect answers")
	creds := fs.String("creds", "", "NATS credentials file (user JWT and seed)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *bus == "" {
		return fmt.Errorf("%w: --bus is required", errUsage)
	}
	if err := natsmodel.CheckURL(*bus); err != nil {
		return fmt.Errorf("%w: --bus: %v", errUsage, err)
	}
	nc, err := connectBus(*bus, *creds, "rendezvous worker list", slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer nc.Close()
	workers, err := natsmodel.Discover(ctx, nc, *wait)
	if err != nil {
		return err
	}
	if *asJSON {
		if workers == nil {
			workers = []natsmodel.WorkerInfo{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(workers)
	}
	if len(workers) == 0 {
		fmt.Fprintln(stdout, "no worker answered within", *wait)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tID\tVERSION\tARTIFACT\tCONCURRENCY\tREQUESTS\tERRORS\tMEAN")
	for _, w := range workers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", w.Model, w.ID, w.Version, shortArtifact(w.Artifact),
			w.Concurrency, w.Requests, w.Errors, w.AverageProcessing.Round(time.Microsecond))
	}
	return tw.Flush()
}

// shortArtifact keeps "sha256:" and 12 hex digits.
func shortArtifact(a string) string {
	if len(a) > 19 {
		return a[:19]
	}
	return a
}
