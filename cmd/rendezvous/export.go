package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/export"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("export --format csv|jsonl|parquet --out FILE [flags]",
		"Write one row per recorded request — inputs, every model's prediction,\n"+
			"probability, status, latency and transformed features, and the latest\n"+
			"label — as CSV, JSON Lines or Parquet (pandas-friendly types).", stderr)
	cfgPath := fs.String("config", "", "configuration file (default: the embedded example)")
	storeURL := fs.String("store", "", "record store URL (default: store.url of the config)")
	format := fs.String("format", "", "csv, jsonl or parquet (required)")
	out := fs.String("out", "", "output file, - for standard output (required)")
	since := fs.String("since", "", "only requests received at or after this RFC 3339 time, or this long ago (24h)")
	until := fs.String("until", "", "only requests received before this RFC 3339 time, or this long ago")
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
	win, err := parseWindow(*since, *until, time.Now())
	if err != nil {
		return err
	}
	ws, err := openWorkspace(ctx, *cfgPath, *storeURL)
	if err != nil {
		return err
	}
	defer ws.store.Close()

	var w io.Writer = stdout
	var tmp *os.File
	if *out != "-" {
		// Write beside the target and rename, so a failed export never
		// leaves a truncated file under the requested name.
		tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*")
		if err != nil {
			return fmt.Errorf("create %s: %w", *out, err)
		}
		defer func() {
			if err != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	bar := newProgress(stderr, "export")
	n, err := export.Run(ctx, ws.store, w, export.Options{
		Format:   f,
		Planner:  exportPlanner(ws.cfg, ws.members)(),
		Scan:     store.ScanParams{Since: win.Since, Until: win.Until},
		Progress: bar.update,
	})
	bar.done()
	if err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		if err := os.Rename(tmp.Name(), *out); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	if *out != "-" {
		fmt.Fprintf(stderr, "exported %d requests to %s (%s)\n", n, *out, f)
	}
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
