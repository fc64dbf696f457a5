package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// ProfileQuantiles are the quantile levels every numeric profile stores.
var ProfileQuantiles = []float64{0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1}

// The profile limits.
const (
	// HistogramBins is the number of equal-width histogram bins.
	HistogramBins = 10
	// MaxCategories bounds the category table of a numeric field: numeric
	// fields with at most this many distinct values also get one.
	MaxCategories = 20
	// MaxReferenceSample is the largest reference sample stored in a bundle.
	MaxReferenceSample = 5000
)

// Profile describes the training data of a bundle: what drift is measured
// against and what the traffic simulator samples from.
type Profile struct {
	// Rows is the number of training rows profiled.
	Rows int `json:"rows"`
	// Inputs profiles each raw input field (pipeline inputs order).
	Inputs []FieldProfile `json:"inputs"`
	// Features profiles each transformed feature (pipeline output order).
	Features []FieldProfile `json:"features"`
	// Probability profiles the model's positive-class probability on the
	// training rows (the fitted model, in sample).
	Probability FieldProfile `json:"probability"`
	// PositiveRate is the share of training rows with the positive label.
	PositiveRate float64 `json:"positive_rate"`
	// ReferenceSample holds up to MaxReferenceSample raw training rows.
	ReferenceSample ReferenceSample `json:"reference_sample"`
}

// FieldProfile summarises one column.
type FieldProfile struct {
	Name string `json:"name"`
	// Type is the schema type for raw inputs, "number" for features.
	Type schema.Type `json:"type"`
	// Count is the number of present (non-missing) values.
	Count       int     `json:"count"`
	Missing     int     `json:"missing"`
	MissingRate float64 `json:"missing_rate"`
	// Numeric is set for integer and number columns with a present value.
	Numeric *NumericStats `json:"numeric,omitempty"`
	// Categories holds frequencies of string and boolean columns, and of
	// numeric columns with at most MaxCategories distinct values (numbers
	// formatted with strconv 'g'), most frequent first (ties by value).
	Categories []CategoryFreq `json:"categories,omitempty"`
}

// NumericStats are the distribution statistics of the present values.
type NumericStats struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	// Std is the population standard deviation.
	Std      float64 `json:"std"`
	Distinct int     `json:"distinct"`
	// Quantiles at ProfileQuantiles levels (linear interpolation).
	Quantiles []QuantileValue `json:"quantiles"`
	Histogram Histogram       `json:"histogram"`
}

// QuantileValue is the value at quantile level Q.
type QuantileValue struct {
	Q     float64 `json:"q"`
	Value float64 `json:"value"`
}

// Histogram has len(Edges) = len(Counts)+1 stored edges; bins are
// [Edges[i], Edges[i+1]) except the last, which includes its right edge
// (numpy's convention). A constant column has one bin [v, v].
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []int     `json:"counts"`
}

// CategoryFreq is the count and share of one category among present values.
type CategoryFreq struct {
	Value string  `json:"value"`
	Count int     `json:"count"`
	Freq  float64 `json:"freq"`
}

// ReferenceSample is a sample of raw training rows. Rows[i] holds values
// exactly as a validated schema.Input (float64, string, bool, nil when
// missing) for every field in Fields; Labels[i] is its outcome class and
// IDs[i] its entity id ("" when the data had none).
//
// In JSON, rows are arrays in Fields order to keep bundles small.
type ReferenceSample struct {
	Fields []string
	IDs    []string
	Rows   []schema.Input
	Labels []int
}

type sampleJSON struct {
	Fields []string `json:"fields"`
	IDs    []string `json:"ids"`
	Labels []int    `json:"labels"`
	Rows   [][]any  `json:"rows"`
}

// MarshalJSON implements json.Marshaler.
func (s ReferenceSample) MarshalJSON() ([]byte, error) {
	j := sampleJSON{Fields: s.Fields, IDs: s.IDs, Labels: s.Labels, Rows: make([][]any, len(s.Rows))}
	for i, r := range s.Rows {
		row := make([]any, len(s.Fields))
		for k, f := range s.Fields {
			row[k] = r[f]
		}
		j.Rows[i] = row
	}
	if j.Fields == nil {
		j.Fields = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler; it checks every row's shape and
// value types.
func (s *ReferenceSample) UnmarshalJSON(data []byte) error {
	var j sampleJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	if len(j.IDs) != len(j.Rows) {
		return fmt.Errorf("ids: %d ids for %d rows", len(j.IDs), len(j.Rows))
	}
	if len(j.Labels) != len(j.Rows) {
		return fmt.Errorf("labels: %d labels for %d rows", len(j.Labels), len(j.Rows))
	}
	s.Fields, s.IDs, s.Labels = j.Fields, j.IDs, j.Labels
	s.Rows = make([]schema.Input, len(j.Rows))
	for i, r := range j.Rows {
		if len(r) != len(j.Fields) {
			return fmt.Errorf("rows[%d]: %d values for %d fields", i, len(r), len(j.Fields))
		}
		in := make(schema.Input, len(r))
		for k, v := range r {
			switch v.(type) {
			case nil, float64, string, bool:
			default:
				return fmt.Errorf("rows[%d][%d]: unsupported value %T", i, k, v)
			}
			in[j.Fields[k]] = v
		}
		s.Rows[i] = in
	}
	return nil
}

// ProfileData is what NewProfile summarises.
type ProfileData struct {
	Inputs   []InputField
	Rows     []schema.Input
	IDs      []string // optional, one per row
	Labels   []int
	Positive int
	Features []string
	X        [][]float64 // transformed features per row
	Probs    []float64   // model probability per row
	Seed     uint64      // reservoir sampling seed
}

// NewProfile computes the reference profile of the training data.
func NewProfile(d ProfileData) Profile {
	p := Profile{Rows: len(d.Rows)}
	for _, f := range d.Inputs {
		var nums []float64
		var cats []string
		missing := 0
		for _, r := range d.Rows {
			switch v := r[f.Name].(type) {
			case nil:
				missing++
			case float64:
				nums = append(nums, v)
			case string:
				cats = append(cats, v)
			case bool:
				cats = append(cats, strconv.FormatBool(v))
			default:
				missing++
			}
		}
		var fp FieldProfile
		if f.Type == schema.TypeString || f.Type == schema.TypeBoolean {
			fp = categoryProfile(f.Name, f.Type, cats, missing)
		} else {
			fp = numericProfile(f.Name, f.Type, nums, missing)
		}
		p.Inputs = append(p.Inputs, fp)
	}
	for j, name := range d.Features {
		col := make([]float64, len(d.X))
		for i, x := range d.X {
			col[i] = x[j]
		}
		p.Features = append(p.Features, numericProfile(name, schema.TypeNumber, col, 0))
	}
	p.Probability = numericProfile("probability", schema.TypeNumber, d.Probs, 0)
	p.Probability.Categories = nil
	var pos int
	for _, l := range d.Labels {
		if l == d.Positive {
			pos++
		}
	}
	if len(d.Labels) > 0 {
		p.PositiveRate = float64(pos) / float64(len(d.Labels))
	}
	p.ReferenceSample = sampleRows(d)
	return p
}

func sampleRows(d ProfileData) ReferenceSample {
	idx := make([]int, 0, min(len(d.Rows), MaxReferenceSample))
	if len(d.Rows) <= MaxReferenceSample {
		for i := range d.Rows {
			idx = append(idx, i)
		}
	} else {
		// Reservoir sampling (algorithm R), then back to file order.
		rng := rand.New(rand.NewPCG(d.Seed, 0x5eed))
		for i := range d.Rows {
			if i < MaxReferenceSample {
				idx = append(idx, i)
			} else if k := rng.IntN(i + 1); k < MaxReferenceSample {
				idx[k] = i
			}
		}
		slices.Sort(idx)
	}
	s := ReferenceSample{Fields: make([]string, len(d.Inputs))}
	for k, f := range d.Inputs {
		s.Fields[k] = f.Name
	}
	for _, i := range idx {
		row := make(schema.Input, len(d.Inputs))
		for _, f := range d.Inputs {
			row[f.Name] = d.Rows[i][f.Name]
		}
		s.Rows = append(s.Rows, row)
		id := ""
		if i < len(d.IDs) {
			id = d.IDs[i]
		}
		s.IDs = append(s.IDs, id)
		l := 0
		if i < len(d.Labels) {
			l = d.Labels[i]
		}
		s.Labels = append(s.Labels, l)
	}
	return s
}

func categoryProfile(name string, t schema.Type, cats []string, missing int) FieldProfile {
	fp := FieldProfile{Name: name, Type: t, Count: len(cats), Missing: missing}
	if n := len(cats) + missing; n > 0 {
		fp.MissingRate = float64(missing) / float64(n)
	}
	fp.Categories = frequencies(cats)
	return fp
}

func frequencies(vals []string) []CategoryFreq {
	counts := map[string]int{}
	for _, v := range vals {
		counts[v]++
	}
	out := make([]CategoryFreq, 0, len(counts))
	for v, c := range counts {
		out = append(out, CategoryFreq{Value: v, Count: c, Freq: float64(c) / float64(len(vals))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out
}

func numericProfile(name string, t schema.Type, xs []float64, missing int) FieldProfile {
	fp := FieldProfile{Name: name, Type: t, Count: len(xs), Missing: missing}
	if n := len(xs) + missing; n > 0 {
		fp.MissingRate = float64(missing) / float64(n)
	}
	if len(xs) == 0 {
		return fp
	}
	s := sortedCopy(xs)
	ns := &NumericStats{Min: s[0], Max: s[len(s)-1], Mean: mean(s)}
	var v float64
	for _, x := range s {
		v += (x - ns.Mean) * (x - ns.Mean)
	}
	ns.Std = math.Sqrt(v / float64(len(s)))
	for i := range s {
		if i == 0 || s[i] != s[i-1] {
			ns.Distinct++
		}
	}
	for _, q := range ProfileQuantiles {
		ns.Quantiles = append(ns.Quantiles, QuantileValue{Q: q, Value: Quantile(s, q)})
	}
	ns.Histogram = histogram(s)
	fp.Numeric = ns
	if ns.Distinct <= MaxCategories {
		strs := make([]string, len(s))
		for i, x := range s {
			strs[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		fp.Categories = frequencies(strs)
	}
	return fp
}

// histogram bins sorted values into HistogramBins equal-width bins.
func histogram(s []float64) Histogram {
	lo, hi := s[0], s[len(s)-1]
	if lo == hi {
		return Histogram{Edges: []float64{lo, hi}, Counts: []int{len(s)}}
	}
	h := Histogram{Edges: make([]float64, HistogramBins+1), Counts: make([]int, HistogramBins)}
	w := (hi - lo) / HistogramBins
	for i := range h.Edges {
		h.Edges[i] = lo + float64(i)*w
	}
	h.Edges[HistogramBins] = hi
	for _, x := range s {
		h.Counts[HistogramBin(h.Edges, x)]++
	}
	return h
}

// HistogramBin returns the bin of x for stored edges (numpy convention: the
// last bin includes its right edge), or -1 when x is outside [first, last].
func HistogramBin(edges []float64, x float64) int {
	n := len(edges) - 1
	if n < 1 || x < edges[0] || x > edges[n] || math.IsNaN(x) {
		return -1
	}
	if x == edges[n] {
		return n - 1
	}
	// Largest i with edges[i] <= x.
	i := sort.Search(len(edges), func(i int) bool { return edges[i] > x }) - 1
	return min(max(i, 0), n-1)
}
