package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

func formatCell(c cell, k kind) string {
	if !c.valid {
		return ""
	}
	switch k {
	case kTime:
		return c.t.Format(time.RFC3339Nano)
	case kInt:
		return strconv.FormatInt(c.i, 10)
	case kFloat:
		return strconv.FormatFloat(c.f, 'g', -1, 64)
	case kBool:
		return strconv.FormatBool(c.b)
	default:
		return c.s
	}
}

type csvWriter struct {
	rowWriter
	w   *csv.Writer
	out []string
}

func newCSVWriter(w io.Writer, base rowWriter) (*csvWriter, error) {
	cw := &csvWriter{rowWriter: base, w: csv.NewWriter(w), out: make([]string, len(base.cols))}
	for i, c := range base.cols {
		cw.out[i] = c.name
	}
	if err := cw.w.Write(cw.out); err != nil {
		return nil, fmt.Errorf("write csv header: %w", err)
	}
	return cw, nil
}

func (cw *csvWriter) Write(rec *record.Record, lb *monitor.Label) error {
	cw.plan.fill(cw.row, rec, lb)
	for i, c := range cw.row {
		cw.out[i] = formatCell(c, cw.cols[i].kind)
	}
	if err := cw.w.Write(cw.out); err != nil {
		return fmt.Errorf("write csv row %s: %w", rec.ID, err)
	}
	return nil
}

func (cw *csvWriter) Close() error {
	cw.w.Flush()
	return cw.w.Error()
}

type jsonlWriter struct {
	rowWriter
	w    *bufio.Writer
	keys [][]byte
	buf  []byte
}

func newJSONLWriter(w io.Writer, base rowWriter) *jsonlWriter {
	jw := &jsonlWriter{rowWriter: base, w: bufio.NewWriterSize(w, 64<<10)}
	for _, c := range base.cols {
		k, _ := json.Marshal(c.name)
		jw.keys = append(jw.keys, k)
	}
	return jw
}

func (jw *jsonlWriter) Write(rec *record.Record, lb *monitor.Label) error {
	jw.plan.fill(jw.row, rec, lb)
	b := append(jw.buf[:0], '{')
	for i, c := range jw.row {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, jw.keys[i]...)
		b = append(b, ':')
		switch {
		case !c.valid:
			b = append(b, "null"...)
		case jw.cols[i].kind == kString || jw.cols[i].kind == kTime:
			s, _ := json.Marshal(formatCell(c, jw.cols[i].kind))
			b = append(b, s...)
		default:
			b = append(b, formatCell(c, jw.cols[i].kind)...)
		}
	}
	b = append(b, '}', '\n')
	jw.buf = b
	if _, err := jw.w.Write(b); err != nil {
		return fmt.Errorf("write jsonl row %s: %w", rec.ID, err)
	}
	return nil
}

func (jw *jsonlWriter) Close() error { return jw.w.Flush() }
