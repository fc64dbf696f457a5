package main

import (
	"context"
	"errors"
	"io"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// writeHTMLReport writes the self-contained HTML report. The dashboard
// package provides it; until then --html reports that it is unavailable.
func writeHTMLReport(ctx context.Context, mon *monitor.Monitor, st store.Store, w io.Writer, win monitor.Window) error {
	return errors.New("the HTML report is not built yet")
}
