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
	fail := func(line, col int, colName, format string, args ...any) error {
		where := fmt.Sprintf("%s line %d", name, line)
		if col > 0 {
			where += fmt.Sprintf(", column %d (%s)", col, colName)
		}
		return fmt.Errorf("%w: %s: %s", ErrBadCSV, where, fmt.Sprintf(format, args...))
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = false
	header, err := r.Read()
	if err == io.EOF {
		return nil, fail(1, 0, "", "empty file (want a header row)")
	}
	if err != nil {
		return nil, csvErr(name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[h]; dup {
			return nil, fail(1, i+1, h, "duplicate column")
		}
		index[h] = i
	}
	type colField struct {
		col   int
		name  string
		field schema.Field
	}
	var cols []colField
	keys := make([]string, 0, len(m.Columns))
	for c := range m.Columns {
		keys = append(keys, c)
	}
	slices.Sort(keys)
	for _, c := range keys {
		i, ok := index[c]
		if !ok {
			return nil, fail(1, 0, "", "missing column %q (mapped to field %q)", c, m.Columns[c])
		}
		f, _ := m.Validator.Field(m.Columns[c])
		cols = append(cols, colField{col: i, name: c, field: f})
	}
	slices.SortFunc(cols, func(a, b colField) int { return a.col - b.col })
	idCol, labelCol := -1, -1
	if m.IDColumn != "" {
		if i, ok := index[m.IDColumn]; ok {
			idCol = i
		} else {
			return nil, fail(1, 0, "", "missing id column %q", m.IDColumn)
		}
	}
	if i, ok := index[m.LabelColumn]; ok && m.LabelColumn != "" {
		labelCol = i
		d.Labels = []int{}
	} else if requireLabel {
		return nil, fail(1, 0, "", "missing label column %q", m.LabelColumn)
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
		raw := make(map[string]any, len(cols))
		for _, c := range cols {
			cell := strings.TrimSpace(rec[c.col])
			if cell == "" {
				continue
			}
			switch c.field.Type {
			case schema.TypeInteger, schema.TypeNumber:
				x, err := strconv.ParseFloat(cell, 64)
				if err != nil {
					return nil, fail(line, c.col+1, c.name, "invalid number %q", cell)
				}
				raw[c.field.Name] = x
			case schema.TypeBoolean:
				b, err := strconv.ParseBool(cell)
				if err != nil {
					return nil, fail(line, c.col+1, c.name, "invalid boolean %q", cell)
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
			for _, c := range cols {
				if c.field.Name == e.Field {
					col, colName = c.col+1, c.name
				}
			}
			return nil, fail(line, col, colName, "field %s: %s", e.Field, e.Problem)
		}
		if labelCol >= 0 {
			cell := strings.TrimSpace(rec[labelCol])
			v, err := strconv.Atoi(cell)
			if err != nil {
				return nil, fail(line, labelCol+1, m.LabelColumn, "invalid label %q (want an integer class)", cell)
			}
			if len(m.Classes) > 0 && !slices.Contains(m.Classes, v) {
				return nil, fail(line, labelCol+1, m.LabelColumn, "label %d is not a configured class %v", v, m.Classes)
			}
			d.Labels = append(d.Labels, v)
		}
		id := ""
		if idCol >= 0 {
			id = strings.TrimSpace(rec[idCol])
		}
		d.Rows = append(d.Rows, in)
		d.IDs = append(d.IDs, id)
		d.Lines = append(d.Lines, line)
	}
	if len(d.Rows) == 0 {
		return nil, fail(2, 0, "", "no data rows after the header")
	}
	return d, nil
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
