package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rendezvous-gw/rendezvous/internal/model/natsmodel"
	"github.com/rendezvous-gw/rendezvous/internal/record/natsrecord"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

func runRecorder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("recorder --bus URL --store URL [--batch N]",
		"Write the records and feedback gateways publish to the NATS stream\n"+
			"RENDEZVOUS_RECORDS (recorder.bus in their configuration) to a store. Any\n"+
			"number of recorders share one durable consumer; each batch is written to the\n"+
			"store (idempotently, by request id) and acknowledged after the commit, so a\n"+
			"recorder or store that stops loses nothing: the stream keeps the records.\n"+
			"On SIGTERM or Ctrl-C the batch in hand is handed back to the stream.", stderr)
	bus := fs.String("bus", "", "NATS server URL, e.g. nats://127.0.0.1:4222 (required)")
	storeURL := fs.String("store", "", "record store URL: sqlite:///path.db, postgres://…, mongodb://… (required)")
	batch := fs.Int("batch", 512, "most records written to the store at once")
	creds := fs.String("creds", "", "NATS credentials file (user JWT and seed)")
	connectTimeout := fs.Duration("store-timeout", 10*time.Second, "how long to wait for the store at start")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *bus == "" || *storeURL == "":
		return fmt.Errorf("%w: --bus and --store are required", errUsage)
	case *batch < 1:
		return fmt.Errorf("%w: --batch: must be >= 1, got %d", errUsage, *batch)
	}
	if err := natsmodel.CheckURL(*bus); err != nil {
		return fmt.Errorf("%w: --bus: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	st, err := openStore(ctx, *storeURL, *connectTimeout)
	if err != nil {
		return err
	}
	defer st.Close()
	nc, err := connectBus(*bus, *creds, "rendezvous recorder", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	var records, feedback atomic.Int64
	log.Info("recorder consuming", "stream", natsrecord.StreamName, "consumer", natsrecord.ConsumerName,
		"store", store.RedactURL(*storeURL), "bus", nc.ConnectedUrlRedacted())
	done := make(chan struct{})
	go reportProgress(done, log, &records, &feedback)
	err = natsrecord.Consume(ctx, js, st, natsrecord.ConsumerOptions{
		Batch: *batch, Logger: log,
		OnBatch: func(r, f int) { records.Add(int64(r)); feedback.Add(int64(f)) },
	})
	close(done)
	log.Info("recorder stopped", "records", records.Load(), "feedback", feedback.Load())
	return err
}

// reportProgress logs the totals every 30 s while they change.
func reportProgress(done <-chan struct{}, log *slog.Logger, records, feedback *atomic.Int64) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	var last int64 = -1
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if n := records.Load() + feedback.Load(); n != last {
				last = n
				log.Info("recorder progress", "records", records.Load(), "feedback", feedback.Load())
			}
		}
	}
}
