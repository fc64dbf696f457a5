package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/export"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export --format csv|jsonl|parquet --out FILE [flags]",
		"Write one row per recorded request — inputs, every model's prediction,\n"+
			"probability, status, latency and transformed features, and the latest\n"+
			"label — as CSV, JSON Lines or Parquet (pandas-friendly types).", stderr)
	wf := addWorkspaceFlags(fs)
	format := fs.String("format", "", "csv, jsonl or parquet (required)")
	out := fs.String("out", "", "output file, - for standard output (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := export.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required (a file, or - for standard output)", errUsage)
	}
	ws, win, err := wf.open(ctx)
	if err != nil {
		return err
	}
	defer ws.store.Close()

	n := 0
	write := func(w io.Writer) error {
		bar := newProgress(stderr, "export")
		defer bar.done()
		n, err = export.Run(ctx, ws.store, w, export.Options{
			Format:   f,
			Planner:  exportPlanner(ws.cfg, ws.members)(),
			Scan:     store.ScanParams{Since: win.Since, Until: win.Until},
			Progress: bar.update,
		})
		return err
	}
	if *out == "-" {
		return write(stdout)
	}
	if err := writeFileAtomic(*out, write); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d requests to %s (%s)\n", n, *out, f)
	return nil
}

// progress draws a one-line progress bar on a terminal; elsewhere it is
// silent.
type progress struct {
	w     io.Writer
	label string
	tty   bool
	last  time.Time
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && done != total) {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := width
	if total > 0 {
		fill = done * width / total
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < fill {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %d/%d", p.label, bar, done, total)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
