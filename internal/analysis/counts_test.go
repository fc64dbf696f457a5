package analysis

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// sortColumns sorts every column's values (numbers by bits), the identity
// of a table up to row order; histogram columns are expanded first.
func sortColumns(t Table) Table {
	out := Table{Rows: t.Rows}
	for _, c := range t.Columns {
		c = c.Expand()
		nums := slices.Clone(c.Numbers)
		slices.SortFunc(nums, func(a, b float64) int { return cmp.Compare(math.Float64bits(a), math.Float64bits(b)) })
		strs := slices.Clone(c.Strings)
		slices.Sort(strs)
		out.Columns = append(out.Columns, Column{Name: c.Name, Numbers: nums, Strings: strs})
	}
	return out
}

func TestHistogramBuilder_BuildsTheRowsTableFromInputsWouldUpToOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	value := func(field string) any {
		switch rng.IntN(9) {
		case 0:
			return nil
		case 1:
			return "" // missing text
		case 2:
			return rng.IntN(2) == 0
		case 3:
			return []any{1.0, "x"}
		case 4:
			return math.Copysign(0, -1)
		case 5:
			if field == "mixed" {
				return "s" + string(rune('a'+rng.IntN(3)))
			}
		}
		return float64(rng.IntN(20)) / 4
	}
	for _, fields := range [][]string{{"a", "mixed", "absent"}, nil} {
		var ss []record.Summary
		var rows []schema.Input
		for i := range 700 {
			in := schema.Input{}
			for _, f := range []string{"a", "mixed", "b"} {
				if rng.IntN(7) > 0 {
					in[f] = value(f)
				}
			}
			status := "ok"
			if i%50 == 0 {
				status = record.RequestRejected
			} else {
				rows = append(rows, in)
			}
			ss = append(ss, record.Summary{ID: "r", Status: status, Input: in})
		}
		want := TableFromInputs(rows, fields)
		b := NewHistogramBuilder(fields)
		// Two batches as a store's per-batch counts give them, and rows
		// one by one as a scan of records does.
		for _, part := range [][]record.Summary{ss[:333], ss[333:600]} {
			c := record.CountInputs(part)
			b.AddCounts(&c)
		}
		for _, s := range ss[600:] {
			if s.Status != record.RequestRejected {
				b.Add(s.Input)
			}
		}
		got := b.Table()
		gs, ws := sortColumns(got), sortColumns(want)
		if gs.Rows != ws.Rows || len(gs.Columns) != len(ws.Columns) {
			t.Fatalf("fields %v: %d rows × %d columns, want %d × %d", fields, gs.Rows, len(gs.Columns), ws.Rows, len(ws.Columns))
		}
		for i, gc := range gs.Columns {
			wc := ws.Columns[i]
			if gc.Name != wc.Name || (gc.Strings == nil) != (wc.Strings == nil) || !slices.Equal(gc.Strings, wc.Strings) ||
				!slices.EqualFunc(gc.Numbers, wc.Numbers, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }) {
				t.Errorf("fields %v: column %s differs from the one Add builds", fields, gc.Name)
			}
		}
		if len(got.Columns) > 0 && len(got.Columns[0].Counts) >= got.Rows/2 {
			t.Errorf("histogram column %s has %d entries for %d rows: values are not counted", got.Columns[0].Name, len(got.Columns[0].Counts), got.Rows)
		}
		// And the drift report is the same.
		ref := TableFromInputs(rows[:200], fields)
		opts := DriftOptions{}
		if fields == nil {
			opts.Columns = ref.Names()
		}
		r1, err1 := ComputeDrift(ref, got, opts)
		r2, err2 := ComputeDrift(ref, want, opts)
		if err1 != nil || err2 != nil {
			t.Fatalf("ComputeDrift: %v / %v", err1, err2)
		}
		if !slices.EqualFunc(r1.Columns, r2.Columns, func(a, b ColumnDrift) bool {
			return a.Column == b.Column && math.Float64bits(float64(a.Statistic)) == math.Float64bits(float64(b.Statistic)) &&
				math.Float64bits(float64(a.PSI)) == math.Float64bits(float64(b.PSI)) && a.Drifted == b.Drifted &&
				(a.PValue == nil) == (b.PValue == nil) && (a.PValue == nil || *a.PValue == *b.PValue)
		}) {
			t.Errorf("fields %v: drift from counts %+v, from rows %+v", fields, r1.Columns, r2.Columns)
		}
	}
}

func TestComputeDrift_HistogramCurrentGivesTheReportOfTheExpandedSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	// Continuous values with repeats (rounded), as live inputs have them.
	draw := func(n int, shift float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Round((rng.NormFloat64()+shift)*20) / 20
			if i%97 == 0 {
				out[i] = math.NaN() // missing
			}
		}
		return out
	}
	tests := []struct {
		name       string
		refN, curN int
		method     Method
	}{
		{"ks exact (both samples ≤ 10,000)", 300, 5000, MethodKS},
		{"ks asymptotic", 800, 20000, ""},
		{"wasserstein default (large reference)", 1500, 20000, ""},
		{"psi", 800, 20000, MethodPSI},
		{"jensenshannon", 800, 20000, MethodJensenShannon},
		{"chisquare on numbers", 400, 20000, MethodChiSquare},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := Table{Rows: tt.refN, Columns: []Column{NumericColumn("x", draw(tt.refN, 0))}}
			raw := draw(tt.curN, 0.1)
			var h NumberHistogram
			for _, v := range raw {
				h.Add(v, 1)
			}
			hist := Table{Rows: len(raw), Columns: []Column{h.Column("x")}}
			if len(hist.Columns[0].Counts) >= len(raw)/4 {
				t.Fatalf("%d histogram entries for %d values: the test needs repeats", len(hist.Columns[0].Counts), len(raw))
			}
			rows := Table{Rows: len(raw), Columns: []Column{NumericColumn("x", raw)}}
			opts := DriftOptions{}
			if tt.method != "" {
				opts.Methods = map[string]Method{"x": tt.method}
			}
			want, err := ComputeDrift(ref, rows, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ComputeDrift(ref, hist, opts)
			if err != nil {
				t.Fatal(err)
			}
			g, w := got.Columns[0], want.Columns[0]
			same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
			if g.Method != w.Method || !same(float64(g.Statistic), float64(w.Statistic)) || !same(float64(g.PSI), float64(w.PSI)) ||
				(g.PValue == nil) != (w.PValue == nil) || (g.PValue != nil && !same(*g.PValue, *w.PValue)) ||
				g.CurrentN != w.CurrentN || g.CurrentMissing != w.CurrentMissing {
				t.Errorf("histogram: %+v\n  rows: %+v", g, w)
			}
		})
	}
}
