package analysis

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// HistogramBuilder builds a Table of histogram columns (Column.Counts):
// one entry per distinct value with its number of rows, so memory grows
// with the distinct values, not with the rows. Values are typed as
// TableFromInputs types them; the Table equals TableFromInputs of the same
// rows up to row order. Not safe for concurrent use.
type HistogramBuilder struct {
	fixed bool // fields given: ignore others
	rows  int64
	cols  []*histColumn
	index map[string]int
}

// histColumn counts one column's values: numbers by their bits, anything
// else by its text ("" is missing).
type histColumn struct {
	name    string
	numbers map[uint64]int // float64 bits → position in keys
	texts   map[string]int // text → position in keys
	keys    []histKey
	counts  []int64
	total   int64 // rows with the field present
	texty   bool  // a non-empty text value was seen: the column is text
}

type histKey struct {
	number bool
	bits   uint64
	text   string
}

// NewHistogramBuilder returns a builder over fields (in that order); nil
// fields means every field seen, sorted by name in Table.
func NewHistogramBuilder(fields []string) *HistogramBuilder {
	b := &HistogramBuilder{fixed: fields != nil, index: map[string]int{}}
	for _, f := range fields {
		b.column(f)
	}
	return b
}

func (b *HistogramBuilder) column(name string) *histColumn {
	if i, ok := b.index[name]; ok {
		return b.cols[i]
	}
	c := &histColumn{name: name, numbers: map[uint64]int{}, texts: map[string]int{}}
	b.index[name] = len(b.cols)
	b.cols = append(b.cols, c)
	return c
}

// lookup returns the column of a field, nil when the builder ignores it.
func (b *HistogramBuilder) lookup(name string) *histColumn {
	if i, ok := b.index[name]; ok {
		return b.cols[i]
	}
	if b.fixed {
		return nil
	}
	return b.column(name)
}

// Add counts one row.
func (b *HistogramBuilder) Add(in schema.Input) {
	for k, v := range in {
		if c := b.lookup(k); c != nil {
			c.add(v, 1)
		}
	}
	b.rows++
}

// AddCounts counts the c.Rows rows of a value histogram.
func (b *HistogramBuilder) AddCounts(c *record.InputCounts) {
	for _, f := range c.Fields {
		col := b.lookup(f.Name)
		if col == nil {
			continue
		}
		for _, v := range f.Values {
			col.add(v.Value, int64(v.N))
		}
	}
	b.rows += int64(c.Rows)
}

// Rows is the number of rows counted.
func (b *HistogramBuilder) Rows() int { return int(b.rows) }

func (c *histColumn) add(v any, n int64) {
	c.total += n
	if f, ok := schema.ToFloat(v); ok {
		bits := math.Float64bits(f)
		if i, ok := c.numbers[bits]; ok {
			c.counts[i] += n
			return
		}
		c.numbers[bits] = len(c.keys)
		c.keys = append(c.keys, histKey{number: true, bits: bits})
		c.counts = append(c.counts, n)
		return
	}
	k := histKey{text: textOf(v)}
	if k.text != "" {
		c.texty = true
	}
	if i, ok := c.texts[k.text]; ok {
		c.counts[i] += n
		return
	}
	c.texts[k.text] = len(c.keys)
	c.keys = append(c.keys, k)
	c.counts = append(c.counts, n)
}

// Table returns the histogram columns, missing values (absent fields
// included) as one entry. Entries are sorted by value (numbers
// numerically, text by bytes) so equal histograms give equal tables.
func (b *HistogramBuilder) Table() Table {
	cols := make([]Column, len(b.cols))
	for i, c := range b.cols {
		cols[i] = c.column(b.rows)
	}
	if !b.fixed {
		slices.SortFunc(cols, func(x, y Column) int { return strings.Compare(x.Name, y.Name) })
	}
	return Table{Rows: int(b.rows), Columns: cols}
}

func (c *histColumn) column(rows int64) Column {
	type entry struct {
		num  float64
		text string
		n    int64
		key  int // position in keys: ties (a number and a text alike) keep first-seen order
	}
	entries := make([]entry, 0, len(c.keys)+1)
	missing := rows - c.total
	for i, k := range c.keys {
		e := entry{n: c.counts[i], key: i}
		switch {
		case k.number:
			e.num = math.Float64frombits(k.bits)
			e.text = strconv.FormatFloat(e.num, 'g', -1, 64)
		case k.text == "":
			missing += e.n
			continue
		default:
			e.num, e.text = math.NaN(), k.text
		}
		entries = append(entries, e)
	}
	// A total order (−0 before +0, ties by first sight): the same
	// histogram gives the same table.
	if c.texty {
		slices.SortFunc(entries, func(x, y entry) int {
			if d := strings.Compare(x.text, y.text); d != 0 {
				return d
			}
			return cmp.Compare(x.key, y.key)
		})
	} else {
		slices.SortFunc(entries, func(x, y entry) int { return compareNumbers(x.num, y.num) })
	}
	if missing > 0 {
		entries = append(entries, entry{num: math.NaN(), n: missing})
	}
	out := Column{Name: c.name, Counts: make([]int64, len(entries))}
	if c.texty {
		out.Strings = make([]string, len(entries))
	} else {
		out.Numbers = make([]float64, len(entries))
	}
	for i, e := range entries {
		out.Counts[i] = e.n
		if c.texty {
			out.Strings[i] = e.text
		} else {
			out.Numbers[i] = e.num
		}
	}
	return out
}

// NumberHistogram counts float64 values by their bits (NaN: missing).
// The zero value is ready to use.
type NumberHistogram struct {
	counts map[uint64]int64
}

// Add counts n rows of value v.
func (h *NumberHistogram) Add(v float64, n int64) {
	if h.counts == nil {
		h.counts = map[uint64]int64{}
	}
	if math.IsNaN(v) {
		v = math.NaN() // one missing entry whatever the NaN's bits
	}
	h.counts[math.Float64bits(v)] += n
}

// Column returns the counts as a numeric histogram column, sorted by
// value with the missing entry last.
func (h *NumberHistogram) Column(name string) Column {
	out := Column{Name: name, Numbers: make([]float64, 0, len(h.counts)), Counts: make([]int64, 0, len(h.counts))}
	for bits := range h.counts {
		out.Numbers = append(out.Numbers, math.Float64frombits(bits))
	}
	slices.SortFunc(out.Numbers, compareNumbers)
	for _, v := range out.Numbers {
		out.Counts = append(out.Counts, h.counts[math.Float64bits(v)])
	}
	return out
}

// compareNumbers orders numbers ascending, −0 before +0, NaN last.
func compareNumbers(x, y float64) int {
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn || yn:
		if xn == yn {
			return 0
		}
		if xn {
			return 1
		}
		return -1
	case x != y:
		return cmp.Compare(x, y)
	}
	return cmp.Compare(math.Float64bits(y), math.Float64bits(x)) // −0 has the sign bit
}
