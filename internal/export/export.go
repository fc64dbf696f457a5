// Package export writes stored records as flat rows — one row per request —
// in CSV, JSON Lines or Parquet, for pandas, spreadsheets and notebooks.
//
// Columns, in order: request_id, received_at, entity_id, status, served_by,
// deployment (the seq of the deployment that served the request: 0 for
// the one the server started with; null for a rejected request),
// input_<field> for every input field, then for every model
// <model>_prediction, <model>_probability, <model>_status,
// <model>_latency_us and <model>_<feature> for each transformed feature, then
// label and label_at. A value the record does not have is null (an empty
// cell in CSV).
package export

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Format is an output format.
type Format string

// The formats.
const (
	CSV     Format = "csv"
	JSONL   Format = "jsonl"
	Parquet Format = "parquet"
)

// ErrUnknownFormat is returned for a format other than csv, jsonl, parquet.
var ErrUnknownFormat = errors.New("unknown export format (want csv, jsonl or parquet)")

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case CSV, JSONL, Parquet:
		return f, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownFormat, s)
}

// ContentType returns the HTTP media type of f.
func (f Format) ContentType() string {
	switch f {
	case CSV:
		return "text/csv; charset=utf-8"
	case JSONL:
		return "application/x-ndjson"
	default:
		return "application/vnd.apache.parquet"
	}
}

// Field is an input field and its declared type.
type Field struct {
	Name string
	Type schema.Type
}

// ModelColumns names a model and its transformed features, in order.
type ModelColumns struct {
	Name     string
	Features []string
}

// Plan fixes the columns of an export. Build it with a Planner so that every
// model and feature found in the records gets a column.
type Plan struct {
	Inputs []Field
	Models []ModelColumns
}

// Planner discovers the columns of an export from the records themselves, so
// a challenger that has since been removed still gets its columns. The zero
// value is not usable; use NewPlanner.
type Planner struct {
	plan   Plan
	models map[string]int
}

// NewPlanner starts from the configured input fields and models (which keep
// their order); Observe adds what records contain beyond them.
func NewPlanner(inputs []Field, models []ModelColumns) *Planner {
	p := &Planner{models: map[string]int{}}
	p.plan.Inputs = slices.Clone(inputs)
	for _, m := range models {
		p.addModel(m.Name)
		for _, f := range m.Features {
			p.addFeature(m.Name, f)
		}
	}
	return p
}

func (p *Planner) addModel(name string) int {
	if i, ok := p.models[name]; ok {
		return i
	}
	p.models[name] = len(p.plan.Models)
	p.plan.Models = append(p.plan.Models, ModelColumns{Name: name})
	return len(p.plan.Models) - 1
}

func (p *Planner) addFeature(modelName, feature string) {
	m := &p.plan.Models[p.addModel(modelName)]
	if !slices.Contains(m.Features, feature) {
		m.Features = append(m.Features, feature)
	}
}

// Observe adds rec's models, features and unknown input fields to the plan.
func (p *Planner) Observe(rec *record.Record) {
	var extra []string
	for name := range rec.Input {
		if !slices.ContainsFunc(p.plan.Inputs, func(f Field) bool { return f.Name == name }) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra) // map order is random; columns must not be
	for _, name := range extra {
		p.plan.Inputs = append(p.plan.Inputs, Field{Name: name, Type: inferType(rec.Input[name])})
	}
	names := make([]string, 0, len(rec.Models))
	for name := range rec.Models {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p.addModel(name)
		for _, f := range rec.Models[name].Features.Names {
			p.addFeature(name, f)
		}
	}
}

func inferType(v any) schema.Type {
	switch v.(type) {
	case float64:
		return schema.TypeNumber
	case bool:
		return schema.TypeBoolean
	default:
		return schema.TypeString
	}
}

// Plan returns the columns found so far.
func (p *Planner) Plan() Plan { return p.plan }

// kind is a column's value kind.
type kind int

const (
	kString kind = iota
	kTime
	kInt
	kFloat
	kBool
)

type column struct {
	name string
	kind kind
}

// cell is one value; valid false means null.
type cell struct {
	valid bool
	s     string
	t     time.Time
	i     int64
	f     float64
	b     bool
}

func (pl Plan) columns() []column {
	cols := []column{{"request_id", kString}, {"received_at", kTime}, {"entity_id", kString}, {"status", kString}, {"served_by", kString}, {"deployment", kInt}}
	for _, f := range pl.Inputs {
		k := kString
		switch f.Type {
		case schema.TypeInteger:
			k = kInt
		case schema.TypeNumber:
			k = kFloat
		case schema.TypeBoolean:
			k = kBool
		}
		cols = append(cols, column{"input_" + f.Name, k})
	}
	for _, m := range pl.Models {
		cols = append(cols,
			column{m.Name + "_prediction", kInt},
			column{m.Name + "_probability", kFloat},
			column{m.Name + "_status", kString},
			column{m.Name + "_latency_us", kInt})
		for _, f := range m.Features {
			cols = append(cols, column{m.Name + "_" + f, kFloat})
		}
	}
	return append(cols, column{"label", kInt}, column{"label_at", kTime})
}

// fill writes rec's values into row (len(row) == len(columns())).
func (pl Plan) fill(row []cell, rec *record.Record, lb *monitor.Label) {
	clear(row)
	str := func(s string) cell { return cell{valid: s != "", s: s} }
	row[0] = cell{valid: true, s: rec.ID}
	row[1] = cell{valid: true, t: rec.ReceivedAt.UTC()}
	row[2] = str(rec.EntityID)
	row[3] = str(rec.Status)
	if rec.Decision != nil {
		row[4] = str(rec.Decision.ServedBy)
		row[5] = cell{valid: true, i: rec.Decision.Deployment}
	}
	i := 6
	for _, f := range pl.Inputs {
		switch v := rec.Input[f.Name].(type) {
		case float64:
			if f.Type == schema.TypeInteger && v == float64(int64(v)) {
				row[i] = cell{valid: true, i: int64(v)}
			} else if f.Type == schema.TypeNumber || f.Type == schema.TypeInteger {
				row[i] = cell{valid: true, f: v}
			} else {
				row[i] = cell{valid: true, s: fmt.Sprint(v)}
			}
		case string:
			row[i] = str(v)
		case bool:
			row[i] = cell{valid: true, b: v}
		}
		i++
	}
	for _, m := range pl.Models {
		r, ok := rec.Models[m.Name]
		if ok {
			if r.Prediction != nil {
				row[i] = cell{valid: true, i: int64(*r.Prediction)}
			}
			if r.Probability != nil {
				row[i+1] = cell{valid: true, f: *r.Probability}
			}
			row[i+2] = str(string(r.Status))
			row[i+3] = cell{valid: true, i: r.LatencyUS}
		}
		i += 4
		for _, f := range m.Features {
			if ok {
				if v, found := r.Features.Get(f); found {
					row[i] = cell{valid: true, f: v}
				}
			}
			i++
		}
	}
	if lb != nil {
		row[i] = cell{valid: true, i: int64(lb.Class)}
		row[i+1] = cell{valid: true, t: lb.At.UTC()}
	}
}

// Writer writes rows. It is not safe for concurrent use.
type Writer interface {
	// Write appends one row for rec, with its label when lb is not nil.
	Write(rec *record.Record, lb *monitor.Label) error
	// Close flushes buffered rows and writes any trailer (Parquet footer).
	// It does not close the underlying io.Writer.
	Close() error
}

// NewWriter returns a Writer of format f to w with the columns of plan.
func NewWriter(f Format, w io.Writer, plan Plan) (Writer, error) {
	cols := plan.columns()
	base := rowWriter{plan: plan, cols: cols, row: make([]cell, len(cols))}
	switch f {
	case CSV:
		return newCSVWriter(w, base)
	case JSONL:
		return newJSONLWriter(w, base), nil
	case Parquet:
		return newParquetWriter(w, base)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownFormat, f)
}

type rowWriter struct {
	plan Plan
	cols []column
	row  []cell
}
