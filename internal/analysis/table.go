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

	"github.com/rendezvous-gw/rendezvous/internal/record"
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
	var s string
	switch x := v.(type) {
	case nil:
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	default:
		s = fmt.Sprint(x)
	}
	if s == "" && c.strs == nil {
		return
	}
	if c.strs == nil {
		c.strs = Column{Numbers: c.nums[:len(c.nums)-1]}.asText().Strings
	}
	c.strs = append(c.strs, s)
}

// AddCounts appends the rows a value histogram stands for (c.Rows rows),
// exactly as Add would append rows with those values, in an order of its
// own: each column gets its values' runs, then missing values up to
// c.Rows. Row order does not matter to drift (its tests and distances sort
// or count), so a table built from counts gives the same report.
func (b *TableBuilder) AddCounts(c *record.InputCounts) {
	if c.Rows == 0 {
		return
	}
	if !b.fixed {
		for _, f := range c.Fields {
			if _, ok := b.index[f.Name]; !ok {
				nums := make([]float64, b.rows, max(b.rows+c.Rows, 16))
				for i := range nums {
					nums[i] = math.NaN()
				}
				b.index[f.Name] = len(b.cols)
				b.cols = append(b.cols, &columnBuilder{name: f.Name, nums: nums})
			}
		}
	}
	for _, col := range b.cols {
		n := 0
		if i, ok := slices.BinarySearchFunc(c.Fields, col.name, func(f record.FieldCounts, name string) int {
			return strings.Compare(f.Name, name)
		}); ok {
			for _, v := range c.Fields[i].Values {
				col.addN(v.Value, v.N)
				n += v.N
			}
		}
		col.addN(nil, c.Rows-n)
	}
	b.rows += c.Rows
}

// addN is n calls of add(v).
func (c *columnBuilder) addN(v any, n int) {
	if n <= 0 {
		return
	}
	if f, ok := schema.ToFloat(v); ok {
		c.nums = appendRun(c.nums, f, n)
		if c.strs != nil {
			c.strs = appendRun(c.strs, strconv.FormatFloat(f, 'g', -1, 64), n)
		}
		return
	}
	c.add(v) // the text path, once: it may turn the column into text
	c.nums = appendRun(c.nums, math.NaN(), n-1)
	if c.strs != nil {
		c.strs = appendRun(c.strs, c.strs[len(c.strs)-1], n-1)
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
