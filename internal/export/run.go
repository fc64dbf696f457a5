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
	// PageSize is the number of records read per database query
	// (0: store.DefaultPageSize).
	PageSize int
	// BeforePage, when set, is called before each page of rows is written
	// (and once before an export of no rows writes its header); an error
	// stops the export and is returned. The HTTP handler extends the
	// response's write deadline here.
	BeforePage func() error
	// Progress, when set, is called after every 1,000 rows and at the end
	// with the rows written so far and the total to write.
	Progress func(done, total int)
}

// Run streams the records matching opts.Scan to w, one row per request, and
// returns the number of rows written. It scans twice, both times in pages
// (store.ScanPages): once to plan the columns, once to write. Each page is
// its own short query, read before any of it is written, so a writer that
// blocks (a slow client) holds no database read transaction; memory holds
// one page and the labels.
//
// The export is not one snapshot. It writes every record that was stored
// when it started and matches opts.Scan, exactly once, in (ReceivedAt, ID)
// order, and stops at the last record the planning pass saw. A record
// written during the export is included when its key falls after the page
// being written and not past that last record; if it has a model, feature
// or input the plan has no column for, those values are left out. Labels
// are those stored when the writing pass began.
func Run(ctx context.Context, src store.Reader, w io.Writer, opts Options) (int, error) {
	planner := opts.Planner
	if planner == nil {
		planner = NewPlanner(nil, nil)
	}
	total := 0
	var last store.Cursor
	plan := store.PageParams{ScanParams: opts.Scan, Size: opts.PageSize}
	if err := store.ScanPages(ctx, src, plan, func(page []record.Record) error {
		for i := range page {
			planner.Observe(&page[i])
		}
		total += len(page)
		last = store.CursorOf(&page[len(page)-1])
		return nil
	}); err != nil {
		return 0, fmt.Errorf("plan export columns: %w", err)
	}
	labels, err := monitor.LatestLabels(ctx, src)
	if err != nil {
		return 0, err
	}
	if opts.BeforePage != nil {
		if err := opts.BeforePage(); err != nil {
			return 0, err
		}
	}
	out, err := NewWriter(opts.Format, w, planner.Plan())
	if err != nil {
		return 0, err
	}
	n := 0
	if total > 0 {
		// Through the last planned record: an export does not chase the
		// records written while it runs.
		rows := plan
		rows.Through = last
		first := true
		err = store.ScanPages(ctx, src, rows, func(page []record.Record) error {
			if opts.BeforePage != nil && !first {
				if err := opts.BeforePage(); err != nil {
					return err
				}
			}
			first = false
			for i := range page {
				rec := &page[i]
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
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("export records: %w", err)
		}
	}
	if err := out.Close(); err != nil {
		return n, err
	}
	if opts.Progress != nil {
		opts.Progress(n, total)
	}
	return n, nil
}
