// Package dataset reads labelled or unlabelled CSV files (Kaggle format) into
// validated schema.Inputs through a Mapping (which the caller builds, e.g.
// config.Config.TrainingMapping from a configuration's training section), so
// training, offline scoring, drift analysis and the simulator all see rows
// exactly as the gateway would after validating a request.
package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// ErrBadCSV is wrapped by every data error of Read and ReadFile.
var ErrBadCSV = errors.New("bad CSV")

// Mapping says how CSV columns become input fields, which column is the
// entity id and which the class label.
type Mapping struct {
	// Fields are the schema fields in declaration order.
	Fields []schema.Field
	// Validator validates each row as the gateway validates a request.
	Validator *schema.Validator
	// Columns maps CSV column → input field. Fields without a column take
	// their default or are missing.
	Columns map[string]string
	// IDColumn (optional) holds the entity id; LabelColumn the class.
	IDColumn    string
	LabelColumn string
	// Classes are the allowed label values (empty: any integer).
	Classes []int
}

// Dataset is a parsed CSV file.
type Dataset struct {
	// Name is the file name given to Read (base name in fingerprints).
	Name string
	// SHA256 is the hex digest of the file bytes.
	SHA256 string
	// Fields are the schema fields, in declaration order.
	Fields []schema.Field
	// Rows are the validated inputs; IDs their entity ids ("" without an
	// id column); Lines their 1-based line numbers in the file.
	Rows  []schema.Input
	IDs   []string
	Lines []int
	// Labels holds each row's class, or is nil when the file has no label
	// column.
	Labels []int
}

// HasLabels reports whether the rows carry outcome labels.
func (d *Dataset) HasLabels() bool { return d.Labels != nil }

// ReadFile reads the CSV file at path. requireLabel makes a missing label
// column an error.
func ReadFile(path string, m Mapping, requireLabel bool) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read data: %w", err)
	}
	return Read(path, data, m, requireLabel)
}

// Read parses CSV data with a header row. Every error wraps ErrBadCSV and is
// one line naming the file, line and column: "train.csv line 12, column 6
// (Age): invalid number "abc"".
func Read(name string, data []byte, m Mapping, requireLabel bool) (*Dataset, error) {
	sum := sha256.Sum256(data)
	d := &Dataset{Name: name, SHA256: hex.EncodeToString(sum[:]), Fields: m.Fields}
	fail := csvFailure(name)
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = false
	l, err := readLayout(r, fail, m, requireLabel)
	if err != nil {
		return nil, err
	}
	if l.labelCol >= 0 {
		d.Labels = []int{}
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(name, err)
		}
		line, _ := r.FieldPos(0)
		in, err := l.input(fail, m, rec, line)
		if err != nil {
			return nil, err
		}
		if l.labelCol >= 0 {
			v, err := l.label(fail, m, rec, line)
			if err != nil {
				return nil, err
			}
			d.Labels = append(d.Labels, v)
		}
		id := ""
		if l.idCol >= 0 {
			id = strings.TrimSpace(rec[l.idCol])
		}
		d.Rows = append(d.Rows, in)
		d.IDs = append(d.IDs, id)
		d.Lines = append(d.Lines, line)
	}
	if len(d.Rows) == 0 {
		return nil, fail.at(2, 0, "", "no data rows after the header")
	}
	return d, nil
}

// csvFailure is a file name that makes Read's one-line errors.
type csvFailure string

func (name csvFailure) at(line, col int, colName, format string, args ...any) error {
	where := fmt.Sprintf("%s line %d", string(name), line)
	if col > 0 {
		where += fmt.Sprintf(", column %d (%s)", col, colName)
	}
	return fmt.Errorf("%w: %s: %s", ErrBadCSV, where, fmt.Sprintf(format, args...))
}

// colField is a mapped column and its schema field.
type colField struct {
	col   int
	name  string
	field schema.Field
}

// csvLayout is where the header puts the mapped columns, the id and the
// label (-1: absent).
type csvLayout struct {
	cols            []colField
	idCol, labelCol int
}

// readLayout reads the header row and finds every mapped column in it.
func readLayout(r *csv.Reader, fail csvFailure, m Mapping, requireLabel bool) (*csvLayout, error) {
	header, err := r.Read()
	if err == io.EOF {
		return nil, fail.at(1, 0, "", "empty file (want a header row)")
	}
	if err != nil {
		return nil, csvErr(string(fail), err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[h]; dup {
			return nil, fail.at(1, i+1, h, "duplicate column")
		}
		index[h] = i
	}
	l := &csvLayout{idCol: -1, labelCol: -1}
	keys := make([]string, 0, len(m.Columns))
	for c := range m.Columns {
		keys = append(keys, c)
	}
	slices.Sort(keys)
	for _, c := range keys {
		i, ok := index[c]
		if !ok {
			return nil, fail.at(1, 0, "", "missing column %q (mapped to field %q)", c, m.Columns[c])
		}
		f, _ := m.Validator.Field(m.Columns[c])
		l.cols = append(l.cols, colField{col: i, name: c, field: f})
	}
	slices.SortFunc(l.cols, func(a, b colField) int { return a.col - b.col })
	if m.IDColumn != "" {
		if i, ok := index[m.IDColumn]; ok {
			l.idCol = i
		} else {
			return nil, fail.at(1, 0, "", "missing id column %q", m.IDColumn)
		}
	}
	if i, ok := index[m.LabelColumn]; ok && m.LabelColumn != "" {
		l.labelCol = i
	} else if requireLabel {
		return nil, fail.at(1, 0, "", "missing label column %q", m.LabelColumn)
	}
	return l, nil
}

// input converts a row's mapped cells to their types and validates them.
func (l *csvLayout) input(fail csvFailure, m Mapping, rec []string, line int) (schema.Input, error) {
	raw := make(map[string]any, len(l.cols))
	for _, c := range l.cols {
		cell := strings.TrimSpace(rec[c.col])
		if cell == "" {
			continue
		}
		switch c.field.Type {
		case schema.TypeInteger, schema.TypeNumber:
			x, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return nil, fail.at(line, c.col+1, c.name, "invalid number %q", cell)
			}
			raw[c.field.Name] = x
		case schema.TypeBoolean:
			b, err := strconv.ParseBool(cell)
			if err != nil {
				return nil, fail.at(line, c.col+1, c.name, "invalid boolean %q", cell)
			}
			raw[c.field.Name] = b
		default:
			raw[c.field.Name] = cell
		}
	}
	in, errs := m.Validator.Validate(raw, "")
	if len(errs) > 0 {
		e := errs[0]
		col, colName := 0, ""
		for _, c := range l.cols {
			if c.field.Name == e.Field {
				col, colName = c.col+1, c.name
			}
		}
		return nil, fail.at(line, col, colName, "field %s: %s", e.Field, e.Problem)
	}
	return in, nil
}

// label reads a row's class.
func (l *csvLayout) label(fail csvFailure, m Mapping, rec []string, line int) (int, error) {
	cell := strings.TrimSpace(rec[l.labelCol])
	v, err := strconv.Atoi(cell)
	if err != nil {
		return 0, fail.at(line, l.labelCol+1, m.LabelColumn, "invalid label %q (want an integer class)", cell)
	}
	if len(m.Classes) > 0 && !slices.Contains(m.Classes, v) {
		return 0, fail.at(line, l.labelCol+1, m.LabelColumn, "label %d is not a configured class %v", v, m.Classes)
	}
	return v, nil
}

func csvErr(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s line %d, column %d: %v", ErrBadCSV, name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%w: %s: %v", ErrBadCSV, name, err)
}

// Base returns the base name of the dataset file.
func (d *Dataset) Base() string { return filepath.Base(d.Name) }

// Subset returns the rows where keep is true (or false, with invert), in
// file order, sharing the file's name, digest and fields.
func (d *Dataset) Subset(keep []bool, invert bool) *Dataset {
	out := &Dataset{Name: d.Name, SHA256: d.SHA256, Fields: d.Fields}
	if d.Labels != nil {
		out.Labels = []int{}
	}
	for i := range d.Rows {
		if keep[i] == invert {
			continue
		}
		out.Rows = append(out.Rows, d.Rows[i])
		out.IDs = append(out.IDs, d.IDs[i])
		out.Lines = append(out.Lines, d.Lines[i])
		if d.Labels != nil {
			out.Labels = append(out.Labels, d.Labels[i])
		}
	}
	return out
}
