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
//
// With Counts, the column is a histogram: entry i stands for Counts[i]
// rows with that value, and the order of entries means nothing (drift
// sorts or counts; nothing it computes depends on row order). A
// HistogramBuilder makes such columns, so a sample of a million rows takes
// memory in proportion to its distinct values.
type Column struct {
	Name    string
	Numbers []float64
	Strings []string
	Counts  []int64
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
	if c.Counts != nil {
		var n int64
		for _, k := range c.Counts {
			n += k
		}
		return int(n)
	}
	if c.IsNumeric() {
		return len(c.Numbers)
	}
	return len(c.Strings)
}

// Expand returns c with one entry per row (c itself when it has no Counts).
func (c Column) Expand() Column {
	if c.Counts == nil {
		return c
	}
	out := Column{Name: c.Name}
	n := c.Len()
	if c.IsNumeric() {
		out.Numbers = make([]float64, 0, n)
		for i, v := range c.Numbers {
			out.Numbers = appendRun(out.Numbers, v, int(c.Counts[i]))
		}
		return out
	}
	out.Strings = make([]string, 0, n)
	for i, v := range c.Strings {
		out.Strings = appendRun(out.Strings, v, int(c.Counts[i]))
	}
	return out
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
	return Column{Name: c.Name, Strings: s, Counts: c.Counts}
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
	b := NewTableBuilder(fields)
	for _, in := range rows {
		b.Add(in)
	}
	return b.Table()
}

// TableBuilder builds a Table from inputs one row at a time, so a store
// scan never holds the inputs themselves. Not safe for concurrent use.
type TableBuilder struct {
	fixed bool // fields given: ignore others
	rows  int
	cols  []*columnBuilder
	index map[string]int
}

type columnBuilder struct {
	name string
	nums []float64
	strs []string // non-nil once a text value was seen
}

// NewTableBuilder returns a builder over fields (in that order); nil fields
// means every field seen, sorted by name in Table.
func NewTableBuilder(fields []string) *TableBuilder {
	b := &TableBuilder{fixed: fields != nil, index: map[string]int{}}
	for _, f := range fields {
		if _, dup := b.index[f]; dup {
			continue
		}
		b.index[f] = len(b.cols)
		b.cols = append(b.cols, &columnBuilder{name: f})
	}
	return b
}

// Add appends one row (see TableFromInputs for the typing rules).
func (b *TableBuilder) Add(in schema.Input) {
	if !b.fixed {
		for k := range in {
			if _, ok := b.index[k]; !ok {
				nums := make([]float64, b.rows, max(b.rows+1, 16))
				for i := range nums {
					nums[i] = math.NaN()
				}
				b.index[k] = len(b.cols)
				b.cols = append(b.cols, &columnBuilder{name: k, nums: nums})
			}
		}
	}
	for _, c := range b.cols {
		c.add(in[c.name])
	}
	b.rows++
}

func (c *columnBuilder) add(v any) {
	if f, ok := schema.ToFloat(v); ok {
		c.nums = append(c.nums, f)
		if c.strs != nil {
			c.strs = append(c.strs, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return
	}
	c.nums = append(c.nums, math.NaN())
	s := textOf(v)
	if s == "" && c.strs == nil {
		return
	}
	if c.strs == nil {
		c.strs = Column{Numbers: c.nums[:len(c.nums)-1]}.asText().Strings
	}
	c.strs = append(c.strs, s)
}

// textOf is the text of a value that is not a number: a string as it is,
// a bool as "true" or "false", nil as "" (missing), anything else as
// fmt.Sprint formats it.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}

// appendRun appends n copies of v to s.
func appendRun[T any](s []T, v T, n int) []T {
	s = slices.Grow(s, n)
	for range n {
		s = append(s, v)
	}
	return s
}

// Rows is the number of rows added.
func (b *TableBuilder) Rows() int { return b.rows }

// Table returns the columns built so far (sharing memory with the builder;
// do not Add afterwards).
func (b *TableBuilder) Table() Table {
	cols := make([]Column, len(b.cols))
	for i, c := range b.cols {
		if c.strs != nil {
			cols[i] = TextColumn(c.name, c.strs)
		} else {
			cols[i] = NumericColumn(c.name, c.nums)
		}
	}
	if !b.fixed {
		slices.SortFunc(cols, func(x, y Column) int { return strings.Compare(x.Name, y.Name) })
	}
	return Table{Rows: b.rows, Columns: cols}
}

// DriftFromInputs runs ComputeDrift on raw gateway inputs: ref is a model
// bundle's reference sample, cur the live inputs (validated, as recorded).
// Both tables are built over the same fields: opts.Columns when set, else
// every field of the reference sample (sorted); a field absent from the
// current inputs is all-missing there and reported without a statistic.
// Add derived columns (e.g. predicted probabilities) with ComputeDrift on
// tables built by TableFromInputs plus NumericColumn instead.
func DriftFromInputs(ref, cur []schema.Input, opts DriftOptions) (DriftReport, error) {
	fields := opts.Columns
	refTable := TableFromInputs(ref, fields)
	if fields == nil {
		fields = refTable.Names()
	}
	return ComputeDrift(refTable, TableFromInputs(cur, fields), opts)
}
