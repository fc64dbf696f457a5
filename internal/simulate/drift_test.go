package simulate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestParseDrift_AcceptsEveryOperation(t *testing.T) {
	tests := []struct {
		spec string
		want []Drift
	}{
		{"", nil},
		{"age:+15", []Drift{{Field: "age", Op: OpShift, Amount: 15, Spec: "age:+15"}}},
		{"age:-5.5", []Drift{{Field: "age", Op: OpShift, Amount: -5.5, Spec: "age:-5.5"}}},
		{"fare:*1.5", []Drift{{Field: "fare", Op: OpScale, Amount: 1.5, Spec: "fare:*1.5"}}},
		{"sex:female=0.8", []Drift{{Field: "sex", Op: OpMix, Amount: 0.8, Value: "female", Spec: "sex:female=0.8"}}},
		{"age:missing=0.3", []Drift{{Field: "age", Op: OpMissing, Amount: 0.3, Spec: "age:missing=0.3"}}},
		{"age:+15, sex:female=0.8,fare:*1.5,age:missing=0.3", []Drift{
			{Field: "age", Op: OpShift, Amount: 15, Spec: "age:+15"},
			{Field: "sex", Op: OpMix, Amount: 0.8, Value: "female", Spec: "sex:female=0.8"},
			{Field: "fare", Op: OpScale, Amount: 1.5, Spec: "fare:*1.5"},
			{Field: "age", Op: OpMissing, Amount: 0.3, Spec: "age:missing=0.3"},
		}},
	}
	for _, tt := range tests {
		got, err := ParseDrift(tt.spec)
		if err != nil {
			t.Errorf("ParseDrift(%q): %v", tt.spec, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseDrift(%q) = %+v, want %+v", tt.spec, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseDrift(%q)[%d] = %+v, want %+v", tt.spec, i, got[i], tt.want[i])
			}
		}
	}
}

func TestParseDrift_RejectsBadItemsNamingThem(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"age:+x", `age:+x: bad shift "+x"`},
		{"age:-", `age:-: bad shift "-"`},
		{"fare:*x", `fare:*x: bad scale "*x"`},
		{"fare:*-2", `fare:*-2: scale must be >= 0, got -2`},
		{"sex:female=lots", `sex:female=lots: bad share "lots"`},
		{"sex:female=1.5", `sex:female=1.5: share must be between 0 and 1, got 1.5`},
		{"age:missing=-0.1", `age:missing=-0.1: share must be between 0 and 1, got -0.1`},
		{"age+15", `age+15: want field:change`},
		{":+3", `:+3: missing field name`},
		{"age:", `age:: missing change after "age:"`},
		{"age:15", `age:15: bad change "15"`},
		{"age:+1,,fare:*2", `empty item`},
		{"age:+Inf", `age:+Inf: bad shift "+Inf"`},
	}
	for _, tt := range tests {
		_, err := ParseDrift(tt.spec)
		if err == nil {
			t.Errorf("ParseDrift(%q) succeeded, want error containing %q", tt.spec, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDrift(%q) error = %q, want it to contain %q", tt.spec, err, tt.want)
		}
	}
}

func TestBind_RejectsFieldsTheSchemaDoesNotAllow(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"height:+3", `height:+3: unknown field "height" (fields: age, embarked, fare, parch, pclass, sex, sibsp)`},
		{"sex:+3", `sex:+3: shift needs a numeric field, sex is string`},
		{"embarked:*2", `embarked:*2: scale needs a numeric field, embarked is string`},
		{"sex:other=0.5", `sex:other=0.5: "other" is not an allowed value of sex`},
		{"pclass:x=0.5", `pclass:x=0.5: bad integer value "x"`},
	}
	for _, tt := range tests {
		ds, err := ParseDrift(tt.spec)
		if err != nil {
			t.Fatalf("ParseDrift(%q): %v", tt.spec, err)
		}
		_, err = Bind(ds, titanicFields, syntheticRows(10))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Bind(%q) error = %v, want it to contain %q", tt.spec, err, tt.want)
		}
	}
}

func mustInjector(t *testing.T, spec string, rows []Row) *Injector {
	t.Helper()
	ds, err := ParseDrift(spec)
	if err != nil {
		t.Fatal(err)
	}
	inj, err := Bind(ds, titanicFields, rows)
	if err != nil {
		t.Fatal(err)
	}
	return inj
}

func TestInjector_ShiftAndScaleRespectIntensityRangeAndIntegers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := schema.Input{"age": 30.0, "fare": 10.0, "sibsp": 1.0, "sex": "male"}
	tests := []struct {
		spec  string
		t     float64
		field string
		want  any
	}{
		{"age:+15", 1, "age", 45.0},
		{"age:+15", 0.5, "age", 37.5},
		{"age:+15", 0, "age", 30.0},
		{"age:+100", 1, "age", 120.0}, // clamped to max
		{"age:-50", 1, "age", 0.0},    // clamped to min
		{"fare:*1.5", 1, "fare", 15.0},
		{"fare:*3", 0.5, "fare", 20.0},
		{"sibsp:*1.6", 1, "sibsp", 2.0}, // 1.6 rounds: integer field
		{"age:+15", 1, "sex", "male"},   // other fields untouched
	}
	for _, tt := range tests {
		inj := mustInjector(t, tt.spec, syntheticRows(10))
		got := inj.Apply(in, tt.t, rng)
		if got[tt.field] != tt.want {
			t.Errorf("%s at t=%v: %s = %v, want %v", tt.spec, tt.t, tt.field, got[tt.field], tt.want)
		}
	}
	if in["age"] != 30.0 {
		t.Errorf("Apply modified its input: age = %v", in["age"])
	}
	missing := schema.Input{"age": nil}
	if got := mustInjector(t, "age:+15", syntheticRows(10)).Apply(missing, 1, rng); got["age"] != nil {
		t.Errorf("shift of a missing age = %v, want nil", got["age"])
	}
}

// shareOf returns the share of rows (among those with a present value)
// whose field equals v, and the missing rate.
func shareOf(ins []schema.Input, field string, v any) (share, missing float64) {
	var present, hits, miss int
	for _, in := range ins {
		x := in[field]
		if x == nil {
			miss++
			continue
		}
		present++
		if x == v {
			hits++
		}
	}
	return float64(hits) / float64(present), float64(miss) / float64(len(ins))
}

func TestInjector_SharesReachTheirTargets(t *testing.T) {
	rows := syntheticRows(1000) // sex 50 % female; embarked 20 % missing
	tests := []struct {
		spec      string
		t         float64
		field     string
		value     any
		wantShare float64
		wantMiss  float64
	}{
		{"sex:female=0.8", 1, "sex", "female", 0.8, 0},
		{"sex:female=0.8", 0.5, "sex", "female", 0.65, 0},
		{"sex:female=0.1", 1, "sex", "female", 0.1, 0},
		{"sex:male=1", 1, "sex", "male", 1, 0},
		{"embarked:missing=0.6", 1, "embarked", "S", 1, 0.6},
		{"embarked:missing=0", 1, "embarked", "S", 1, 0},
		{"embarked:missing=0.6", 0.5, "embarked", "S", 1, 0.4},
	}
	for _, tt := range tests {
		inj := mustInjector(t, tt.spec, rows)
		rng := rand.New(rand.NewPCG(7, 7))
		const n = 40000
		out := make([]schema.Input, n)
		for i := range out {
			out[i] = inj.Apply(rows[i%len(rows)].Input, tt.t, rng)
		}
		share, miss := shareOf(out, tt.field, tt.value)
		if math.Abs(share-tt.wantShare) > 0.01 || math.Abs(miss-tt.wantMiss) > 0.01 {
			t.Errorf("%s at t=%v: share %.3f missing %.3f, want %.3f and %.3f", tt.spec, tt.t, share, miss, tt.wantShare, tt.wantMiss)
		}
	}
}

func TestInjector_NilInjectorReturnsInputUnchanged(t *testing.T) {
	in := schema.Input{"age": 3.0}
	var inj *Injector
	if got := inj.Apply(in, 1, nil); got["age"] != 3.0 {
		t.Fatalf("nil injector changed the input: %v", got)
	}
}
