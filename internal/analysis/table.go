package analysis

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Column is one named column of a Table: numeric (Numbers, NaN = missing)
// or text (Strings, "" = missing). Exactly one of the two slices is non-nil
// for a non-empty column.
type Column struct {
	Name    string
	Numbers []float64
	Strings []string
}

// NumericColumn returns a numeric column; NaN and ±Inf values count as
// missing.
func NumericColumn(name string, values []float64) Column {
	if values == nil {
		values = []float64{}
	}
	return Column{Name: name, Numbers: values}
}

// TextColumn returns a text column; "" counts as missing.
func TextColumn(name string, values []string) Column {
	if values == nil {
		values = []string{}
	}
	return Column{Name: name, Strings: values}
}

// IsNumeric reports whether c holds numbers.
func (c Column) IsNumeric() bool { return c.Strings == nil }

// Len is the number of rows, missing ones included.
func (c Column) Len() int {
	if c.IsNumeric() {
		return len(c.Numbers)
	}
	return len(c.Strings)
}

// asText returns c as a text column, numbers formatted shortest-exact.
func (c Column) asText() Column {
	if !c.IsNumeric() {
		return c
	}
	s := make([]string, len(c.Numbers))
	for i, v := range c.Numbers {
		if !isMissingNumber(v) {
			s[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return Column{Name: c.Name, Strings: s}
}

func isMissingNumber(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// Table is a sample of rows stored by column.
type Table struct {
	Rows    int
	Columns []Column
}

// Column returns the column called name.
func (t Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Names returns the column names in order.
func (t Table) Names() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// missingCSV lists the cell texts read as missing (pandas' usual NA words).
var missingCSV = map[string]bool{
	"": true, "NA": true, "N/A": true, "n/a": true, "NaN": true, "nan": true,
	"null": true, "NULL": true, "None": true, "<NA>": true, "#N/A": true,
}

// ReadCSV reads a CSV file with a header row into a Table. A column whose
// every non-missing cell parses as a number is numeric, any other is text.
// Missing cells are empty or one of NA, N/A, NaN, null, None, <NA>, #N/A.
// Errors name the line and, where relevant, the column.
func ReadCSV(r io.Reader) (Table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Table{}, errors.New("no header row")
	}
	if err != nil {
		return Table{}, fmt.Errorf("read header: %w", err)
	}
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "" {
			return Table{}, fmt.Errorf("header column %d has no name", i+1)
		}
		if seen[h] {
			return Table{}, fmt.Errorf("duplicate column %q in header", h)
		}
		seen[h] = true
		header[i] = h
	}
	raw := make([][]string, len(header))
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Table{}, err // csv errors carry the line number
		}
		for i, v := range rec {
			raw[i] = append(raw[i], v)
		}
	}
	t := Table{Columns: make([]Column, len(header))}
	if len(header) > 0 {
		t.Rows = len(raw[0])
	}
	for i, name := range header {
		t.Columns[i] = parseCSVColumn(name, raw[i])
	}
	return t, nil
}

func parseCSVColumn(name string, cells []string) Column {
	nums := make([]float64, len(cells))
	for i, s := range cells {
		s = strings.TrimSpace(s)
		if missingCSV[s] {
			nums[i] = math.NaN()
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			strs := make([]string, len(cells))
			for j, c := range cells {
				c = strings.TrimSpace(c)
				if !missingCSV[c] {
					strs[j] = c
				}
			}
			return TextColumn(name, strs)
		}
		nums[i] = v
	}
	return NumericColumn(name, nums)
}

// TableFromInputs builds a Table from validated gateway inputs (a model
// bundle's reference sample or live traffic). fields selects and orders the
// columns; nil means every field seen, sorted by name. A field whose values
// are all numbers (float64, or any Go integer/float type) is numeric; any
// string or bool value makes it text (bools as "true"/"false", numbers
// formatted shortest-exact). nil or absent values are missing.
func TableFromInputs(rows []schema.Input, fields []string) Table {
	if fields == nil {
		set := map[string]bool{}
		for _, in := range rows {
			for k := range in {
				set[k] = true
			}
		}
		for k := range set {
			fields = append(fields, k)
		}
		slices.Sort(fields)
	}
	t := Table{Rows: len(rows), Columns: make([]Column, len(fields))}
	for ci, f := range fields {
		nums := make([]float64, len(rows))
		var strs []string
		for i, in := range rows {
			v, ok := toFloat(in[f])
			if ok {
				nums[i] = v
				continue
			}
			nums[i] = math.NaN()
			var s string
			switch x := in[f].(type) {
			case nil:
				continue
			case string:
				s = x
			case bool:
				s = strconv.FormatBool(x)
			default:
				s = fmt.Sprint(x)
			}
			if strs == nil {
				strs = make([]string, len(rows))
			}
			strs[i] = s
		}
		col := NumericColumn(f, nums)
		if strs != nil {
			text := col.asText()
			for i, s := range strs {
				if s != "" {
					text.Strings[i] = s
				}
			}
			col = text
		}
		t.Columns[ci] = col
	}
	return t
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}
