package record

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// InputCounts is the value histogram of a set of accepted records: how
// often each input value, and each model's predicted probability, occurs.
// Drift needs nothing else of those records (its tests and distances do
// not depend on row order), so a store can keep one per write batch and
// answer drift over a million records by reading a few thousand of them.
//
// Counting is exact: values are compared by their decoded JSON identity
// (numbers by their float64 bits), never rounded or binned.
type InputCounts struct {
	// Rows is the number of records counted: those not rejected and with
	// an input.
	Rows int
	// Fields are the input fields seen, sorted by name. A record without a
	// field counts as missing there: Rows minus the field's total.
	Fields []FieldCounts
	// Probabilities are the models that gave a probability on some
	// counted record, sorted by name; records without one count as
	// missing.
	Probabilities []ProbabilityCounts
}

// FieldCounts are the distinct values of one input field.
type FieldCounts struct {
	Name   string
	Values []ValueCount
}

// ValueCount is one distinct input value (nil, float64, string, bool, or
// what encoding/json decodes an object or array to) and how many records
// have it.
type ValueCount struct {
	Value any
	N     int
}

// ProbabilityCounts are the distinct predicted probabilities of one model.
type ProbabilityCounts struct {
	Model  string
	Values []FloatCount
}

// FloatCount is one distinct float64 (by bits) and its count.
type FloatCount struct {
	Value float64
	N     int
}

// Total is the number of records that have the field.
func (f FieldCounts) Total() int {
	n := 0
	for _, v := range f.Values {
		n += v.N
	}
	return n
}

// Total is the number of records with a probability of the model.
func (p ProbabilityCounts) Total() int {
	n := 0
	for _, v := range p.Values {
		n += v.N
	}
	return n
}

// valueKey identifies an input value: its kind and its bits or text.
type valueKey struct {
	kind byte
	bits uint64
	text string
}

const (
	keyNull byte = iota
	keyNumber
	keyString
	keyTrue
	keyFalse
	keyJSON
)

// InputCounter counts summaries into an InputCounts. The zero value is
// ready to use. Not safe for concurrent use.
type InputCounter struct {
	rows   int
	fields map[string]*fieldCounter
	probs  map[string]map[uint64]int
}

type fieldCounter struct {
	numbers map[uint64]int   // float64 bits → position in values (the common case)
	others  map[valueKey]int // any other value → position in values
	values  []ValueCount
}

// Add counts s when it is accepted (not rejected) and has an input.
func (c *InputCounter) Add(s *Summary) {
	if s.Status == RequestRejected || s.Input == nil {
		return
	}
	if c.fields == nil {
		c.fields = map[string]*fieldCounter{}
		c.probs = map[string]map[uint64]int{}
	}
	c.rows++
	for k, v := range s.Input {
		f := c.fields[k]
		if f == nil {
			f = &fieldCounter{numbers: map[uint64]int{}, others: map[valueKey]int{}}
			c.fields[k] = f
		}
		f.add(v)
	}
	// Model names are unique within a record (its results are keyed by
	// name).
	for i := range s.Models {
		m := &s.Models[i]
		if m.Probability == nil {
			continue
		}
		pm := c.probs[m.Name]
		if pm == nil {
			pm = map[uint64]int{}
			c.probs[m.Name] = pm
		}
		pm[math.Float64bits(*m.Probability)]++
	}
}

// add counts one value.
func (f *fieldCounter) add(v any) {
	if x, ok := v.(float64); ok {
		f.addNumber(math.Float64bits(x), x)
		return
	}
	key, val := keyOf(v)
	if key.kind == keyNumber { // another Go number type: counted with the float64s
		f.addNumber(key.bits, val)
		return
	}
	if i, ok := f.others[key]; ok {
		f.values[i].N++
		return
	}
	f.others[key] = len(f.values)
	f.values = append(f.values, ValueCount{Value: val, N: 1})
}

func (f *fieldCounter) addNumber(bits uint64, val any) {
	if i, ok := f.numbers[bits]; ok {
		f.values[i].N++
		return
	}
	f.numbers[bits] = len(f.values)
	f.values = append(f.values, ValueCount{Value: val, N: 1})
}

// keyOf returns the key of an input value and the value as a decoded JSON
// document gives it back (numbers as float64).
func keyOf(v any) (valueKey, any) {
	switch x := v.(type) {
	case nil:
		return valueKey{kind: keyNull}, nil
	case string:
		return valueKey{kind: keyString, text: x}, x
	case bool:
		if x {
			return valueKey{kind: keyTrue}, true
		}
		return valueKey{kind: keyFalse}, false
	}
	if f, ok := schema.ToFloat(v); ok { // float64 and the other Go number types
		return valueKey{kind: keyNumber, bits: math.Float64bits(f)}, f
	}
	// Objects, arrays and anything else: by the JSON text a store keeps,
	// decoded back as a store would return it.
	j, err := json.Marshal(v)
	if err != nil {
		return valueKey{kind: keyJSON, text: "\x00" + err.Error()}, v
	}
	var back any
	if json.Unmarshal(j, &back) != nil {
		back = v
	}
	return valueKey{kind: keyJSON, text: string(j)}, back
}

// Counts returns what was counted, fields and models sorted by name and
// each field's values in first-seen order. The result does not share
// memory with the counter's maps.
func (c *InputCounter) Counts() InputCounts {
	out := InputCounts{Rows: c.rows}
	for name, f := range c.fields {
		out.Fields = append(out.Fields, FieldCounts{Name: name, Values: slices.Clone(f.values)})
	}
	slices.SortFunc(out.Fields, func(a, b FieldCounts) int { return strings.Compare(a.Name, b.Name) })
	for name, pm := range c.probs {
		pc := ProbabilityCounts{Model: name, Values: make([]FloatCount, 0, len(pm))}
		for bits, n := range pm {
			pc.Values = append(pc.Values, FloatCount{Value: math.Float64frombits(bits), N: n})
		}
		slices.SortFunc(pc.Values, func(a, b FloatCount) int {
			return cmp.Compare(math.Float64bits(a.Value), math.Float64bits(b.Value))
		})
		out.Probabilities = append(out.Probabilities, pc)
	}
	slices.SortFunc(out.Probabilities, func(a, b ProbabilityCounts) int { return strings.Compare(a.Model, b.Model) })
	return out
}

// CountInputs counts ss (see InputCounter.Add).
func CountInputs(ss []Summary) InputCounts {
	var c InputCounter
	for i := range ss {
		c.Add(&ss[i])
	}
	return c.Counts()
}
