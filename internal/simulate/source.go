package simulate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Row is one example of traffic: an input as the gateway's schema sees it
// (see schema.Input: numbers are float64, a missing value is nil or absent),
// its entity id when known, and its outcome when known.
type Row struct {
	EntityID string
	Input    schema.Input
	Label    int
	HasLabel bool
}

// Source hands out rows. Implementations need not be safe for concurrent
// use: the generator calls them from one goroutine.
type Source interface {
	// Rows returns every row of the source (for base rates of drift).
	Rows() []Row
	// Next returns the next row to send, using rng for any randomness.
	Next(rng *rand.Rand) Row
}

// Sample draws whole rows uniformly with replacement, so the joint
// distribution of the fields (their correlations) survives. Since one row
// may be drawn many times, drawn rows carry no entity id (the generator
// gives each request a fresh one).
type Sample struct{ rows []Row }

// NewSample returns a Source sampling from rows, which must not be empty.
func NewSample(rows []Row) (*Sample, error) {
	if len(rows) == 0 {
		return nil, errors.New("reference sample is empty")
	}
	return &Sample{rows: rows}, nil
}

// Rows implements Source.
func (s *Sample) Rows() []Row { return s.rows }

// Next implements Source.
func (s *Sample) Next(rng *rand.Rand) Row {
	r := s.rows[rng.IntN(len(s.rows))]
	r.EntityID = ""
	return r
}

// Replay returns rows in order, starting again from the first after the last.
type Replay struct {
	rows []Row
	next int
}

// NewReplay returns a Source replaying rows, which must not be empty.
func NewReplay(rows []Row) (*Replay, error) {
	if len(rows) == 0 {
		return nil, errors.New("no rows to replay")
	}
	return &Replay{rows: rows}, nil
}

// Rows implements Source.
func (s *Replay) Rows() []Row { return s.rows }

// Next implements Source.
func (s *Replay) Next(*rand.Rand) Row {
	r := s.rows[s.next]
	s.next = (s.next + 1) % len(s.rows)
	return r
}

// ReadCSV reads a training-format CSV (a header line, then one row per
// example) through the configuration's training mapping: tr.Columns maps CSV
// columns to schema fields, tr.IDColumn holds the entity id and
// tr.LabelColumn the integer class. Empty cells are missing values. Columns
// not mapped are ignored. Errors name the line and column.
func ReadCSV(r io.Reader, tr config.Training, fields []config.Field) ([]Row, error) {
	if len(tr.Columns) == 0 {
		return nil, errors.New("training.columns is empty: no mapping from CSV columns to input fields")
	}
	types := make(map[string]schema.Type, len(fields))
	for _, f := range fields {
		types[f.Name] = f.Type
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	index := make(map[string]int, len(header))
	for i, h := range header {
		index[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	type col struct {
		name, field string
		typ         schema.Type
		at          int
	}
	var cols []col
	for _, name := range slices.Sorted(maps.Keys(tr.Columns)) {
		field := tr.Columns[name]
		typ, ok := types[field]
		if !ok {
			return nil, fmt.Errorf("training.columns.%s: field %q is not in the schema", name, field)
		}
		at, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("column %q (training.columns) not in CSV header", name)
		}
		cols = append(cols, col{name, field, typ, at})
	}
	idAt, labelAt := -1, -1
	if tr.IDColumn != "" {
		if at, ok := index[tr.IDColumn]; ok {
			idAt = at
		}
	}
	if tr.LabelColumn != "" {
		if at, ok := index[tr.LabelColumn]; ok {
			labelAt = at
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		row := Row{Input: make(schema.Input, len(cols))}
		for _, c := range cols {
			v, err := parseCell(rec[c.at], c.typ)
			if err != nil {
				return nil, fmt.Errorf("line %d, column %s: %w", line, c.name, err)
			}
			row.Input[c.field] = v
		}
		if idAt >= 0 {
			row.EntityID = strings.TrimSpace(rec[idAt])
		}
		if labelAt >= 0 {
			if s := strings.TrimSpace(rec[labelAt]); s != "" {
				l, err := strconv.Atoi(s)
				if err != nil {
					return nil, fmt.Errorf("line %d, column %s: bad label %q (want an integer class)", line, tr.LabelColumn, s)
				}
				row.Label, row.HasLabel = l, true
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("CSV has a header but no rows")
	}
	return rows, nil
}

// parseCell converts one CSV cell to a schema value; an empty cell is nil.
func parseCell(s string, t schema.Type) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	switch t {
	case schema.TypeInteger, schema.TypeNumber:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !finite(v) {
			return nil, fmt.Errorf("bad number %q", s)
		}
		return v, nil
	case schema.TypeBoolean:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("bad boolean %q", s)
		}
		return v, nil
	default:
		return s, nil
	}
}

// FromReference turns a bundle's reference sample into rows, each with its
// outcome label and entity id (empty ids are filled by the generator).
func FromReference(s model.ReferenceSample) []Row {
	rows := make([]Row, len(s.Rows))
	for i, in := range s.Rows {
		rows[i] = Row{Input: in, HasLabel: i < len(s.Labels)}
		if i < len(s.Labels) {
			rows[i].Label = s.Labels[i]
		}
		if i < len(s.IDs) {
			rows[i].EntityID = s.IDs[i]
		}
	}
	return rows
}
