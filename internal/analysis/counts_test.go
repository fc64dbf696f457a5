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
// of a table up to row order.
func sortColumns(t Table) Table {
	out := Table{Rows: t.Rows}
	for _, c := range t.Columns {
		nums := slices.Clone(c.Numbers)
		slices.SortFunc(nums, func(a, b float64) int { return cmp.Compare(math.Float64bits(a), math.Float64bits(b)) })
		strs := slices.Clone(c.Strings)
		slices.Sort(strs)
		out.Columns = append(out.Columns, Column{Name: c.Name, Numbers: nums, Strings: strs})
	}
	return out
}

func TestTableBuilder_AddCountsBuildsTheRowsAddWouldUpToOrder(t *testing.T) {
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
		b := NewTableBuilder(fields)
		// Two batches, as a store's blocks would give them.
		for _, part := range [][]record.Summary{ss[:333], ss[333:]} {
			c := record.CountInputs(part)
			b.AddCounts(&c)
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
