package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/rendezvous-gw/rendezvous/internal/api"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/web"
)

// writeHTMLReport writes the dashboard of win as one self-contained HTML
// file (inline stylesheet and SVG charts, no script, nothing loaded from
// elsewhere), for `rendezvous report --html FILE`.
func writeHTMLReport(ctx context.Context, mon *monitor.Monitor, st store.Store, w io.Writer, win monitor.Window) error {
	d, err := web.New(web.Params{Monitor: mon, Store: st, Title: "Rendezvous"})
	if err != nil {
		return fmt.Errorf("build report: %w", err)
	}
	return d.WriteReport(ctx, w, win)
}

// dashboardRoutes are the dashboard's routes (GET /, GET /ui/…) over st,
// mounted by serve when recording is on.
func dashboardRoutes(cfg *config.Config, st store.Store, mon *monitor.Monitor, log *slog.Logger) ([]api.Route, error) {
	fields := make([]string, len(cfg.Schema.Fields))
	for i, f := range cfg.Schema.Fields {
		fields[i] = f.Name
	}
	d, err := web.New(web.Params{Monitor: mon, Store: st, Fields: fields, Labels: cfg.Labels.Words, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("build dashboard: %w", err)
	}
	return d.Routes(), nil
}
