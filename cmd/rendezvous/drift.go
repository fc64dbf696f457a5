package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
)

func runDrift(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("drift --reference REF.csv --current CUR.csv [--columns a,b] [--method col=psi] [--json]",
		"Compare the columns of a current CSV with a reference CSV, with the same\n"+
			"engine as GET /v1/drift. Column types are inferred (a numeric column with\n"+
			"at most 5 distinct values is categorical, 2 values binary). Methods follow\n"+
			"Evidently's defaults: reference column with <= 1000 values: ks / chisquare /\n"+
			"z, drifted when p < 0.05; larger: wasserstein (normed) / jensenshannon,\n"+
			"drifted when >= 0.1. PSI is reported for every column. The dataset drifts\n"+
			"when at least half of the tested columns drift. A column with fewer than\n"+
			"--min-sample current values says insufficient_data instead of a verdict.\n"+
			"Exit status 0 either way.", stderr)
	refPath := fs.String("reference", "", "reference CSV with a header row (required)")
	curPath := fs.String("current", "", "current CSV with a header row (required)")
	columns := fs.String("columns", "", "comma-separated columns to compare (default: every reference column)")
	var methods []string
	fs.Func("method", "per-column method override COL=METHOD (ks, chisquare, z, wasserstein, jensenshannon, psi); repeatable or comma-separated", func(s string) error {
		methods = append(methods, s)
		return nil
	})
	asJSON := fs.Bool("json", false, "print the JSON report instead of the table")
	minSample := fs.Int("min-sample", analysis.DefaultMinSample, "fewest non-missing current values for a verdict (-1: no minimum)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *refPath == "" || *curPath == "" {
		return fmt.Errorf("%w: --reference and --current are required", errUsage)
	}
	opts := analysis.DriftOptions{MinSample: *minSample}
	if *columns != "" {
		for _, c := range strings.Split(*columns, ",") {
			if c = strings.TrimSpace(c); c != "" {
				opts.Columns = append(opts.Columns, c)
			}
		}
	}
	for _, spec := range methods {
		for _, part := range strings.Split(spec, ",") {
			col, name, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || strings.TrimSpace(col) == "" {
				return fmt.Errorf("%w: --method %q: want COLUMN=METHOD", errUsage, part)
			}
			m, err := analysis.ParseMethod(name)
			if err != nil {
				return fmt.Errorf("%w: --method %s: %v", errUsage, part, err)
			}
			if opts.Methods == nil {
				opts.Methods = map[string]analysis.Method{}
			}
			opts.Methods[strings.TrimSpace(col)] = m
		}
	}
	ref, err := readCSVTable(*refPath)
	if err != nil {
		return err
	}
	cur, err := readCSVTable(*curPath)
	if err != nil {
		return err
	}
	for _, c := range opts.Columns {
		if _, ok := ref.Column(c); !ok {
			return fmt.Errorf("%s: no column %q (columns: %s)", *refPath, c, strings.Join(ref.Names(), ", "))
		}
	}
	if opts.Columns == nil {
		opts.Columns = ref.Names()
	}
	for _, c := range opts.Columns {
		if _, ok := cur.Column(c); !ok {
			return fmt.Errorf("%s: no column %q (columns: %s)", *curPath, c, strings.Join(cur.Names(), ", "))
		}
	}
	rep, err := analysis.ComputeDrift(ref, cur, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}

func readCSVTable(path string) (analysis.Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return analysis.Table{}, err // *PathError names the file
	}
	defer f.Close()
	t, err := analysis.ReadCSV(f)
	if err != nil {
		return analysis.Table{}, fmt.Errorf("%s: %w", path, err)
	}
	if t.Rows == 0 {
		return analysis.Table{}, fmt.Errorf("%s: no data rows", path)
	}
	return t, nil
}
