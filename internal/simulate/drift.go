package simulate

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Op is the kind of change a Drift makes to one field.
type Op string

// The drift operations.
const (
	// OpShift adds Amount to a numeric field ("age:+15", "age:-5").
	OpShift Op = "shift"
	// OpScale multiplies a numeric field by Amount ("fare:*1.5").
	OpScale Op = "scale"
	// OpMix makes Value the share Amount of a field's present values
	// ("sex:female=0.8"); the other values keep their relative shares.
	OpMix Op = "mix"
	// OpMissing makes the share Amount of a field's values missing
	// ("age:missing=0.3").
	OpMissing Op = "missing"
)

// Drift is one parsed change to one input field. Spec is the item as the
// user wrote it, used in error messages.
type Drift struct {
	Field  string
	Op     Op
	Amount float64
	// Value is the category of an OpMix as written (a string; converted to
	// the field's type by Bind).
	Value string
	Spec  string
}

// ParseDrift parses a comma-separated drift specification such as
// "age:+15,sex:female=0.8,fare:*1.5,age:missing=0.3". An empty spec means no
// drift. Errors name the item and the problem ("age:+x: bad shift \"+x\"").
// Field names and types are checked later by Bind.
func ParseDrift(spec string) ([]Drift, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var out []Drift
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q: empty item (want field:change)", spec)
		}
		d, err := parseDriftItem(item)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func parseDriftItem(item string) (Drift, error) {
	field, change, ok := strings.Cut(item, ":")
	field, change = strings.TrimSpace(field), strings.TrimSpace(change)
	switch {
	case !ok:
		return Drift{}, fmt.Errorf("%s: want field:change (+N, -N, *N, value=share or missing=rate)", item)
	case field == "":
		return Drift{}, fmt.Errorf("%s: missing field name", item)
	case change == "":
		return Drift{}, fmt.Errorf("%s: missing change after %q", item, field+":")
	}
	d := Drift{Field: field, Spec: item}
	switch {
	case change[0] == '+' || change[0] == '-':
		v, err := strconv.ParseFloat(change, 64)
		if err != nil || !finite(v) {
			return Drift{}, fmt.Errorf("%s: bad shift %q", item, change)
		}
		d.Op, d.Amount = OpShift, v
	case change[0] == '*':
		v, err := strconv.ParseFloat(change[1:], 64)
		if err != nil || !finite(v) {
			return Drift{}, fmt.Errorf("%s: bad scale %q", item, change)
		}
		if v < 0 {
			return Drift{}, fmt.Errorf("%s: scale must be >= 0, got %v", item, v)
		}
		d.Op, d.Amount = OpScale, v
	default:
		value, share, ok := strings.Cut(change, "=")
		if !ok || value == "" {
			return Drift{}, fmt.Errorf("%s: bad change %q (want +N, -N, *N, value=share or missing=rate)", item, change)
		}
		v, err := strconv.ParseFloat(share, 64)
		if err != nil || !finite(v) {
			return Drift{}, fmt.Errorf("%s: bad share %q", item, share)
		}
		if v < 0 || v > 1 {
			return Drift{}, fmt.Errorf("%s: share must be between 0 and 1, got %v", item, v)
		}
		if value == "missing" {
			d.Op, d.Amount = OpMissing, v
		} else {
			d.Op, d.Amount, d.Value = OpMix, v, value
		}
	}
	return d, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Injector applies bound drifts to rows. It is immutable after Bind and safe
// for concurrent use; randomness comes from the caller's generator.
type Injector struct {
	steps []step
}

// step is one Drift bound to its field and to the source's base rates.
type step struct {
	Drift
	typ      schema.Type
	min, max *float64
	// value is the OpMix category in the field's type.
	value any
	// base is the share of value among present values (OpMix) or the
	// missing rate (OpMissing) in the source rows.
	base float64
	// others lists the present values other than value (OpMix), or every
	// present value (OpMissing), one entry per source row, in row order.
	others []any
}

// Bind checks drifts against the schema fields and measures the base rates
// each needs (category shares, missing rate) on rows, the traffic source.
func Bind(drifts []Drift, fields []config.Field, rows []Row) (*Injector, error) {
	byName := make(map[string]config.Field, len(fields))
	for _, f := range fields {
		byName[f.Name] = f
	}
	inj := &Injector{}
	for _, d := range drifts {
		f, ok := byName[d.Field]
		if !ok {
			return nil, fmt.Errorf("%s: unknown field %q (fields: %s)", d.Spec, d.Field, strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
		}
		numeric := f.Type == schema.TypeInteger || f.Type == schema.TypeNumber
		s := step{Drift: d, typ: f.Type, min: f.Min, max: f.Max}
		switch d.Op {
		case OpShift, OpScale:
			if !numeric {
				return nil, fmt.Errorf("%s: %s needs a numeric field, %s is %s", d.Spec, d.Op, d.Field, f.Type)
			}
		case OpMix:
			v, err := typedValue(d.Value, f.Type)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Spec, err)
			}
			if len(f.Allowed) > 0 && !slices.ContainsFunc(f.Allowed, func(a any) bool { return sameValue(a, v) }) {
				return nil, fmt.Errorf("%s: %q is not an allowed value of %s (%v)", d.Spec, d.Value, d.Field, f.Allowed)
			}
			s.value = v
			var present, hits int
			for _, r := range rows {
				x, ok := r.Input[d.Field]
				if !ok || x == nil {
					continue
				}
				present++
				if sameValue(x, v) {
					hits++
				} else {
					s.others = append(s.others, x)
				}
			}
			if present > 0 {
				s.base = float64(hits) / float64(present)
			}
			if len(s.others) == 0 && d.Amount < 1 {
				return nil, fmt.Errorf("%s: the source has no value of %s other than %q to mix in", d.Spec, d.Field, d.Value)
			}
		case OpMissing:
			var missing int
			for _, r := range rows {
				x, ok := r.Input[d.Field]
				if !ok || x == nil {
					missing++
				} else {
					s.others = append(s.others, x)
				}
			}
			if len(rows) > 0 {
				s.base = float64(missing) / float64(len(rows))
			}
			if len(s.others) == 0 && d.Amount < 1 {
				return nil, fmt.Errorf("%s: the source has no present value of %s to lower its missing rate", d.Spec, d.Field)
			}
		}
		inj.steps = append(inj.steps, s)
	}
	return inj, nil
}

// typedValue converts a category as written to the field's value type.
func typedValue(s string, t schema.Type) (any, error) {
	switch t {
	case schema.TypeInteger, schema.TypeNumber:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("bad %s value %q", t, s)
		}
		return v, nil
	case schema.TypeBoolean:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("bad boolean value %q", s)
		}
		return v, nil
	default:
		return s, nil
	}
}

// sameValue compares a configured or input value with v, treating every Go
// number as float64.
func sameValue(a, v any) bool {
	switch x := a.(type) {
	case int:
		a = float64(x)
	case int64:
		a = float64(x)
	}
	return a == v
}

// Apply returns a drifted copy of in; in is not modified. t in [0, 1] is the
// drift intensity: 1 applies every drift fully, 0.5 half way (a shift of
// +15 adds 7.5; a share moves half way from the source's rate to the
// target), 0 not at all. Numbers stay within the field's min/max and
// integer fields stay whole, so drifted requests remain valid.
func (inj *Injector) Apply(in schema.Input, t float64, rng *rand.Rand) schema.Input {
	if inj == nil || len(inj.steps) == 0 {
		return in
	}
	out := maps.Clone(in)
	for i := range inj.steps {
		inj.steps[i].apply(out, t, rng)
	}
	return out
}

func (s *step) apply(in schema.Input, t float64, rng *rand.Rand) {
	cur, present := in[s.Field]
	present = present && cur != nil
	switch s.Op {
	case OpShift, OpScale:
		v, ok := cur.(float64)
		if !ok {
			return
		}
		if s.Op == OpShift {
			v += t * s.Amount
		} else {
			v *= 1 + t*(s.Amount-1)
		}
		if s.typ == schema.TypeInteger {
			v = math.Round(v)
		}
		if s.min != nil && v < *s.min {
			v = *s.min
		}
		if s.max != nil && v > *s.max {
			v = *s.max
		}
		in[s.Field] = v
	case OpMix:
		if !present {
			return
		}
		target := s.base + t*(s.Amount-s.base)
		hit := sameValue(cur, s.value)
		switch {
		case !hit && target > s.base:
			// Move (target-base)/(1-base) of the others to value, so
			// P(value) = base + (1-base)·that = target.
			if rng.Float64() < (target-s.base)/(1-s.base) {
				in[s.Field] = s.value
			}
		case hit && target < s.base:
			if rng.Float64() < (s.base-target)/s.base {
				in[s.Field] = s.others[rng.IntN(len(s.others))]
			}
		}
	case OpMissing:
		target := s.base + t*(s.Amount-s.base)
		switch {
		case present && target > s.base:
			if rng.Float64() < (target-s.base)/(1-s.base) {
				in[s.Field] = nil
			}
		case !present && target < s.base:
			if rng.Float64() < (s.base-target)/s.base {
				in[s.Field] = s.others[rng.IntN(len(s.others))]
			}
		}
	}
}
