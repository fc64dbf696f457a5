package export

import (
	"context"
	"fmt"
	"io"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Options configures Run.
type Options struct {
	Format Format
	// Planner starts the plan (configured fields and models); nil starts
	// empty. Run observes every record before writing, so all models and
	// features found get columns.
	Planner *Planner
	Scan    store.ScanParams
	// Progress, when set, is called after every 1,000 rows and at the end
	// with the rows written so far and the total to write.
	Progress func(done, total int)
}

// Run streams the records matching opts.Scan to w, one row per request, and
// returns the number of rows written. It scans twice: once to plan the
// columns, once to write, so memory holds one row and the labels, not the
// records.
func Run(ctx context.Context, src store.Reader, w io.Writer, opts Options) (int, error) {
	planner := opts.Planner
	if planner == nil {
		planner = NewPlanner(nil, nil)
	}
	total := 0
	if err := src.ScanRecords(ctx, opts.Scan, func(rec *record.Record) error {
		planner.Observe(rec)
		total++
		return nil
	}); err != nil {
		return 0, fmt.Errorf("plan export columns: %w", err)
	}
	labels, err := monitor.LatestLabels(ctx, src)
	if err != nil {
		return 0, err
	}
	out, err := NewWriter(opts.Format, w, planner.Plan())
	if err != nil {
		return 0, err
	}
	n := 0
	err = src.ScanRecords(ctx, opts.Scan, func(rec *record.Record) error {
		var lb *monitor.Label
		if l, ok := labels[rec.ID]; ok {
			lb = &l
		}
		if err := out.Write(rec, lb); err != nil {
			return err
		}
		n++
		if opts.Progress != nil && n%1000 == 0 {
			opts.Progress(n, total)
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("export records: %w", err)
	}
	if err := out.Close(); err != nil {
		return n, err
	}
	if opts.Progress != nil {
		opts.Progress(n, total)
	}
	return n, nil
}
