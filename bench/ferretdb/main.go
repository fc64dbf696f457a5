// Command ferretdb runs FerretDB (the MongoDB wire protocol on PostgreSQL)
// for the benchmark's Python peer, which stores one document per request
// through pymongo as the original service did. It is a benchmark fixture,
// not product code.
//
// Usage: go run ./bench/ferretdb --listen 127.0.0.1:27018 --postgresql-url postgres://postgres@127.0.0.1:5432/ferretdb_bench
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27018", "TCP address for the MongoDB wire protocol")
	pgURL := flag.String("postgresql-url", "postgres://postgres@127.0.0.1:5432/ferretdb_bench", "PostgreSQL database FerretDB stores documents in (must exist)")
	flag.Parse()
	if err := run(*listen, *pgURL); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, pgURL string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: listen},
		Handler:       "postgresql",
		PostgreSQLURL: pgURL,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start FerretDB: %w", err)
	}
	fmt.Fprintf(os.Stderr, "ferretdb: listening on %s (%s)\n", listen, f.MongoDBURI())
	return f.Run(ctx)
}
