package schema

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// boundsFields has one optional field per kind of bound, so each case below
// exercises exactly one.
func boundsFields() []Field {
	return []Field{
		{Name: "i", Type: TypeInteger, Min: ptr(0), Max: ptr(20)},
		{Name: "ineg", Type: TypeInteger, Min: ptr(-5), Max: ptr(-1)},
		{Name: "imin", Type: TypeInteger, Min: ptr(3)},
		{Name: "imax", Type: TypeInteger, Max: ptr(3)},
		{Name: "n", Type: TypeNumber, Min: ptr(-1.5), Max: ptr(120.25)},
		{Name: "nmin", Type: TypeNumber, Min: ptr(0)},
		{Name: "nmax", Type: TypeNumber, Max: ptr(0)},
		{Name: "sent", Type: TypeNumber, Min: ptr(0), Max: ptr(10), Missing: []any{-1}},
		{Name: "ienum", Type: TypeInteger, Allowed: []any{1, 2, 3}},
		{Name: "senum", Type: TypeString, Allowed: []any{"S", "C"}},
		{Name: "s5", Type: TypeString, MaxBytes: 5},
		{Name: "sdef", Type: TypeString},
		{Name: "b", Type: TypeBoolean},
	}
}

// TestValidate_EveryBoundAtItsEdge checks each bound at the exact edge and
// one step beyond it, so turning "x > max" into "x >= max" (or "<" into
// "<=", or the length check's ">" into ">=") fails here.
func TestValidate_EveryBoundAtItsEdge(t *testing.T) {
	v := mustNew(t, Options{Fields: boundsFields(), MaxStringBytes: 8})
	above := func(x float64) float64 { return math.Nextafter(x, math.Inf(1)) }
	below := func(x float64) float64 { return math.Nextafter(x, math.Inf(-1)) }
	tests := []struct {
		field string
		value any
		want  any    // the Input value when accepted
		prob  string // the problem when rejected
	}{
		// integer range, inclusive at both ends
		{"i", 0, 0.0, ""},
		{"i", -1, nil, "must be an integer between 0 and 20, got -1"},
		{"i", 20, 20.0, ""},
		{"i", 21, nil, "must be an integer between 0 and 20, got 21"},
		{"i", json.Number("20.0"), 20.0, ""},
		{"i", json.Number("20.000000001"), nil, "must be an integer between 0 and 20, got 20.000000001"},
		{"ineg", -5, -5.0, ""},
		{"ineg", -6, nil, "must be an integer between -5 and -1, got -6"},
		{"ineg", -1, -1.0, ""},
		{"ineg", 0, nil, "must be an integer between -5 and -1, got 0"},
		{"imin", 3, 3.0, ""},
		{"imin", 2, nil, "must be an integer >= 3, got 2"},
		{"imin", math.MaxInt64, float64(math.MaxInt64), ""},
		{"imax", 3, 3.0, ""},
		{"imax", 4, nil, "must be an integer <= 3, got 4"},
		{"imax", math.MinInt64, float64(math.MinInt64), ""},
		// number range: the edge is accepted, the next float64 is not
		{"n", -1.5, -1.5, ""},
		{"n", below(-1.5), nil, "must be a number between -1.5 and 120.25, got -1.5000000000000002"},
		{"n", 120.25, 120.25, ""},
		{"n", above(120.25), nil, "must be a number between -1.5 and 120.25, got 120.25000000000001"},
		{"n", json.Number("120.25"), 120.25, ""},
		{"n", json.Number("120.2500001"), nil, "must be a number between -1.5 and 120.25, got 120.2500001"},
		{"nmin", 0, 0.0, ""},
		{"nmin", json.Number("-0"), math.Copysign(0, -1), ""},
		{"nmin", below(0), nil, "must be a number >= 0, got -5e-324"},
		{"nmax", 0, 0.0, ""},
		{"nmax", above(0), nil, "must be a number <= 0, got 5e-324"},
		{"n", json.Number("1e400"), nil, "must be a number between -1.5 and 120.25, got 1e400"},
		// a sentinel bypasses the range; its neighbours do not
		{"sent", -1, nil, ""},
		{"sent", json.Number("-1.0"), nil, ""},
		{"sent", below(-1), nil, "must be a number between 0 and 10, got -1.0000000000000002"},
		{"sent", -0.5, nil, "must be a number between 0 and 10, got -0.5"},
		{"sent", 10, 10.0, ""},
		{"sent", above(10), nil, "must be a number between 0 and 10, got 10.000000000000002"},
		// enumerations: exact members only
		{"ienum", 1, 1.0, ""},
		{"ienum", 3, 3.0, ""},
		{"ienum", 0, nil, "must be one of 1, 2, 3, got 0"},
		{"ienum", 4, nil, "must be one of 1, 2, 3, got 4"},
		{"ienum", 2.5, nil, "must be one of 1, 2, 3, got 2.5"},
		{"senum", "S", "S", ""},
		{"senum", "s", nil, `must be one of S, C, got "s"`},
		{"senum", "S ", nil, `must be one of S, C, got "S "`},
		{"senum", "", nil, `must be one of S, C, got ""`},
		// string length in bytes: the field's own limit, then the schema's
		{"s5", "", "", ""},
		{"s5", "abcde", "abcde", ""},
		{"s5", "abcdef", nil, "must be at most 5 bytes long, got 6 bytes"},
		{"s5", "aéb", "aéb", ""}, // 4 bytes
		{"s5", "aééb", nil, "must be at most 5 bytes long, got 6 bytes"},        // 4 runes, 6 bytes
		{"sdef", "12345678", "12345678", ""},                                    // Options.MaxStringBytes
		{"sdef", "123456789", nil, "must be at most 8 bytes long, got 9 bytes"}, //
		// types
		{"b", true, true, ""},
		{"b", "true", nil, `must be true or false, got "true"`},
		{"i", "1", nil, `must be an integer between 0 and 20, got "1"`},
		{"s5", 1, nil, "must be a string, got 1"},
	}
	for _, tt := range tests {
		in, errs := v.Validate(map[string]any{tt.field: tt.value}, "")
		switch {
		case tt.prob == "" && errs != nil:
			t.Errorf("%s=%v: rejected %q, want accepted", tt.field, tt.value, errs)
		case tt.prob == "" && !sameValue(in[tt.field], tt.want):
			t.Errorf("%s=%v: Input %#v, want %#v", tt.field, tt.value, in[tt.field], tt.want)
		case tt.prob != "" && (len(errs) != 1 || errs[0] != FieldError{Field: tt.field, Problem: tt.prob}):
			t.Errorf("%s=%v: got %q, want one problem %q", tt.field, tt.value, errs, tt.prob)
		}
	}
}

func sameValue(a, b any) bool {
	x, ok1 := a.(float64)
	y, ok2 := b.(float64)
	if ok1 && ok2 {
		return x == y && math.Signbit(x) == math.Signbit(y)
	}
	return a == b
}

func TestValidate_StringLimitDefaultsAndCanBeLifted(t *testing.T) {
	f := []Field{{Name: "s", Type: TypeString}}
	def := mustNew(t, Options{Fields: f})
	if _, errs := def.Validate(map[string]any{"s": strings.Repeat("x", DefaultMaxStringBytes)}, ""); errs != nil {
		t.Errorf("at the default limit: %q", errs)
	}
	_, errs := def.Validate(map[string]any{"s": strings.Repeat("x", DefaultMaxStringBytes+1)}, "row[2].")
	if len(errs) != 1 || errs[0].Field != "row[2].s" {
		t.Errorf("one byte over the default limit: %q", errs)
	}
	none := mustNew(t, Options{Fields: f, MaxStringBytes: -1})
	if _, errs := none.Validate(map[string]any{"s": strings.Repeat("x", 1<<20)}, ""); errs != nil {
		t.Errorf("no limit: %q", errs)
	}
	// a field's own limit may be above the schema's
	big := mustNew(t, Options{Fields: []Field{{Name: "s", Type: TypeString, MaxBytes: 2000}}, MaxStringBytes: 10})
	if _, errs := big.Validate(map[string]any{"s": strings.Repeat("x", 2000)}, ""); errs != nil {
		t.Errorf("field limit above the schema's: %q", errs)
	}
}

func TestCheckEntityID_AtTheEdge(t *testing.T) {
	tests := []struct {
		n, limit int
		ok       bool
	}{
		{DefaultMaxEntityIDBytes, 0, true},
		{DefaultMaxEntityIDBytes + 1, 0, false},
		{0, 0, true},
		{10, 10, true},
		{11, 10, false},
		{900_000, -1, true},
	}
	for _, tt := range tests {
		fe := CheckEntityID(strings.Repeat("7", tt.n), tt.limit)
		if (fe == nil) != tt.ok {
			t.Errorf("%d bytes, limit %d: got %v, want ok=%v", tt.n, tt.limit, fe, tt.ok)
		}
		if fe != nil && (fe.Field != "entity_id" || !strings.Contains(fe.Problem, "bytes long")) {
			t.Errorf("problem %+v", fe)
		}
	}
}

func TestNew_RejectsBadLengthLimits(t *testing.T) {
	_, err := New(Options{Fields: []Field{
		{Name: "a", Type: TypeString, MaxBytes: -1},
		{Name: "b", Type: TypeInteger, MaxBytes: 4},
	}})
	for _, want := range []string{"fields[0].max_bytes: must be > 0, got -1", "fields[1].max_bytes: only string fields take a length limit"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
