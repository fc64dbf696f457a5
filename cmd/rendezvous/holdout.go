package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/model/train"
)

// holdoutPath is where --holdout writes the held-out rows by default:
// the bundle's path with -holdout.csv for .json.
func holdoutPath(out string) string {
	return strings.TrimSuffix(out, ".json") + "-holdout.csv"
}

// splitHoldout keeps a stratified share frac of ds out of training (rows
// with identical inputs on the same side, so the holdout holds no training
// input): it
// writes those rows, exactly as they are in the file at path (header
// first), to dst and returns the rows to train on and how many were held.
func splitHoldout(ds *dataset.Dataset, path string, frac float64, seed uint64, dst string) (*dataset.Dataset, int, error) {
	names := make([]string, len(ds.Fields))
	for i, f := range ds.Fields {
		names[i] = f.Name
	}
	keys := make([]uint64, len(ds.Rows))
	for i, in := range ds.Rows {
		keys[i] = model.RowHash(names, in) // identical inputs stay on one side
	}
	held := train.Holdout(ds.Labels, keys, frac, seed)
	want := map[int]bool{}
	for i, h := range held {
		if h {
			want[ds.Lines[i]] = true
		}
	}
	if len(want) == 0 || len(want) == len(ds.Rows) {
		return nil, 0, fmt.Errorf("%w: --holdout %g keeps %d of %d rows out: nothing would be left to train or to evaluate on", errUsage, frac, len(want), len(ds.Rows))
	}
	err := writeFileAtomic(dst, func(w io.Writer) error { return copyLines(path, want, w) })
	if err != nil {
		return nil, 0, fmt.Errorf("write holdout: %w", err)
	}
	return ds.Subset(held, true), len(want), nil
}

// copyLines copies the header and the records starting on the given
// 1-based lines of the CSV file at path to w.
func copyLines(path string, lines map[int]bool, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	cw := csv.NewWriter(w)
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if line, _ := r.FieldPos(0); first || lines[line] {
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
