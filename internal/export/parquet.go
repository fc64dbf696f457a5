package export

import (
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// rowsPerGroup bounds the rows the Parquet writer buffers in memory.
const rowsPerGroup = 64 << 10

type parquetWriter struct {
	rowWriter
	w *parquet.GenericWriter[any]
	// index maps our column order to the schema's leaf column index
	// (parquet-go orders a Group's fields by name).
	index []int
	out   parquet.Row
}

func newParquetWriter(w io.Writer, base rowWriter) (*parquetWriter, error) {
	group := parquet.Group{}
	for _, c := range base.cols {
		if _, dup := group[c.name]; dup {
			return nil, fmt.Errorf("parquet export: duplicate column %q", c.name)
		}
		var n parquet.Node
		switch c.kind {
		case kTime:
			n = parquet.Timestamp(parquet.Microsecond)
		case kInt:
			n = parquet.Int(64)
		case kFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case kBool:
			n = parquet.Leaf(parquet.BooleanType)
		default:
			n = parquet.String()
		}
		if c.name != "request_id" && c.name != "received_at" {
			n = parquet.Optional(n)
		}
		group[c.name] = n
	}
	sch := parquet.NewSchema("rendezvous_records", group)
	pos := map[string]int{}
	for i, path := range sch.Columns() {
		pos[path[0]] = i
	}
	pw := &parquetWriter{rowWriter: base, index: make([]int, len(base.cols)), out: make(parquet.Row, len(base.cols))}
	for i, c := range base.cols {
		pw.index[i] = pos[c.name]
	}
	pw.w = parquet.NewGenericWriter[any](w, sch, parquet.MaxRowsPerRowGroup(rowsPerGroup))
	return pw, nil
}

func (pw *parquetWriter) Write(rec *record.Record, lb *monitor.Label) error {
	pw.plan.fill(pw.row, rec, lb)
	for i, c := range pw.row {
		col := pw.index[i]
		required := pw.cols[i].name == "request_id" || pw.cols[i].name == "received_at"
		if !c.valid {
			pw.out[col] = parquet.NullValue().Level(0, 0, col)
			continue
		}
		var v parquet.Value
		switch pw.cols[i].kind {
		case kTime:
			v = parquet.Int64Value(c.t.UnixMicro())
		case kInt:
			v = parquet.Int64Value(c.i)
		case kFloat:
			if math.IsNaN(c.f) {
				pw.out[col] = parquet.NullValue().Level(0, 0, col)
				continue
			}
			v = parquet.DoubleValue(c.f)
		case kBool:
			v = parquet.BooleanValue(c.b)
		default:
			v = parquet.ByteArrayValue([]byte(c.s))
		}
		def := 1
		if required {
			def = 0
		}
		pw.out[col] = v.Level(0, def, col)
	}
	if _, err := pw.w.WriteRows([]parquet.Row{pw.out}); err != nil {
		return fmt.Errorf("write parquet row %s: %w", rec.ID, err)
	}
	return nil
}

func (pw *parquetWriter) Close() error {
	if err := pw.w.Close(); err != nil {
		return fmt.Errorf("close parquet writer: %w", err)
	}
	return nil
}
