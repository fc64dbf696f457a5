package model

import (
	"math"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func fp(v float64) *float64 { return &v }

// fitOne fits a one-or-more-step pipeline on rows and returns it.
func fitOne(t *testing.T, inputs []InputField, steps []Step, rows []schema.Input) *Pipeline {
	t.Helper()
	spec := &Pipeline{Inputs: inputs, Steps: steps}
	p, err := spec.Fit(rows)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	return p
}

func TestPipeline_StepsKnownAnswers(t *testing.T) {
	num := func(name string) InputField { return InputField{Name: name, Type: schema.TypeNumber} }
	str := func(name string) InputField { return InputField{Name: name, Type: schema.TypeString} }
	tests := []struct {
		name   string
		inputs []InputField
		steps  []Step
		train  []schema.Input
		in     schema.Input
		want   map[string]float64
	}{
		{
			name:   "pass copies numbers and booleans",
			inputs: []InputField{num("x"), {Name: "b", Type: schema.TypeBoolean}},
			steps:  []Step{{Op: OpPass, Input: "x", Output: "x"}, {Op: OpPass, Input: "b", Output: "b"}},
			train:  []schema.Input{{"x": 1.0, "b": true}},
			in:     schema.Input{"x": 2.5, "b": true},
			want:   map[string]float64{"x": 2.5, "b": 1},
		},
		{
			name:   "category map known value",
			inputs: []InputField{str("sex")},
			steps:  []Step{{Op: OpCategoryMap, Input: "sex", Output: "gender", Map: map[string]float64{"male": 1, "female": 0}, Method: MethodMode}},
			train:  []schema.Input{{"sex": "male"}},
			in:     schema.Input{"sex": "female"},
			want:   map[string]float64{"gender": 0},
		},
		{
			name:   "category map missing and unknown take the training mode",
			inputs: []InputField{str("port")},
			steps:  []Step{{Op: OpCategoryMap, Input: "port", Output: "port", Map: map[string]float64{"S": 1, "C": 2, "Q": 3}, Method: MethodMode}},
			train:  []schema.Input{{"port": "C"}, {"port": "S"}, {"port": "C"}, {"port": nil}, {"port": "X"}, {"port": "X"}, {"port": "X"}},
			in:     schema.Input{"port": nil},
			want:   map[string]float64{"port": 2},
		},
		{
			name:   "category map unknown value with constant default",
			inputs: []InputField{str("port")},
			steps:  []Step{{Op: OpCategoryMap, Input: "port", Output: "port", Map: map[string]float64{"S": 1}, Value: fp(-9)}},
			train:  []schema.Input{{"port": "S"}},
			in:     schema.Input{"port": "Z"},
			want:   map[string]float64{"port": -9},
		},
		{
			name:   "impute constant",
			inputs: []InputField{num("x")},
			steps:  []Step{{Op: OpImpute, Input: "x", Output: "x", Method: MethodConstant, Value: fp(7)}},
			train:  []schema.Input{{"x": 1.0}},
			in:     schema.Input{"x": nil},
			want:   map[string]float64{"x": 7},
		},
		{
			name:   "impute mode treats sentinels as missing and breaks ties low",
			inputs: []InputField{num("fare")},
			steps:  []Step{{Op: OpImpute, Input: "fare", Output: "fare", Method: MethodMode, Sentinels: []float64{-1}}},
			train:  []schema.Input{{"fare": 9.0}, {"fare": 8.05}, {"fare": 9.0}, {"fare": 8.05}, {"fare": -1.0}, {"fare": -1.0}, {"fare": -1.0}},
			in:     schema.Input{"fare": -1.0},
			want:   map[string]float64{"fare": 8.05},
		},
		{
			name:   "impute median of an even count averages the middle pair",
			inputs: []InputField{num("x")},
			steps:  []Step{{Op: OpImpute, Input: "x", Output: "x", Method: MethodMedian}},
			train:  []schema.Input{{"x": 4.0}, {"x": 1.0}, {"x": 3.0}, {"x": 10.0}, {"x": nil}},
			in:     schema.Input{},
			want:   map[string]float64{"x": 3.5},
		},
		{
			name:   "impute mean keeps present values",
			inputs: []InputField{num("x")},
			steps:  []Step{{Op: OpImpute, Input: "x", Output: "x", Method: MethodMean}},
			train:  []schema.Input{{"x": 1.0}, {"x": 2.0}, {"x": 6.0}},
			in:     schema.Input{"x": 5.0},
			want:   map[string]float64{"x": 5},
		},
		{
			name:   "impute linear regression on earlier outputs (y = 2 + 3a - b)",
			inputs: []InputField{num("a"), num("b"), num("y")},
			steps: []Step{
				{Op: OpPass, Input: "a", Output: "a"},
				{Op: OpPass, Input: "b", Output: "b"},
				{Op: OpImpute, Input: "y", Output: "y", Method: MethodLinearRegression, Predictors: []string{"a", "b"}},
			},
			train: []schema.Input{
				{"a": 0.0, "b": 0.0, "y": 2.0}, {"a": 1.0, "b": 0.0, "y": 5.0}, {"a": 0.0, "b": 1.0, "y": 1.0},
				{"a": 2.0, "b": 3.0, "y": 5.0}, {"a": 9.0, "b": 9.0, "y": nil},
			},
			in:   schema.Input{"a": 4.0, "b": 1.0, "y": nil},
			want: map[string]float64{"a": 4, "b": 1, "y": 13},
		},
		{
			name:   "indicator flags missing and sentinel values",
			inputs: []InputField{num("age"), str("s")},
			steps: []Step{
				{Op: OpIndicator, Input: "age", Output: "age_missing", Sentinels: []float64{-1}},
				{Op: OpIndicator, Input: "s", Output: "s_missing"},
			},
			train: []schema.Input{{"age": 1.0, "s": "a"}},
			in:    schema.Input{"age": -1.0, "s": "x"},
			want:  map[string]float64{"age_missing": 1, "s_missing": 0},
		},
		{
			name:   "sum adds inputs and the constant",
			inputs: []InputField{num("sibsp"), num("parch")},
			steps:  []Step{{Op: OpSum, Inputs: []string{"sibsp", "parch"}, Constant: 1, Output: "family_size"}},
			train:  []schema.Input{{"sibsp": 0.0, "parch": 0.0}},
			in:     schema.Input{"sibsp": 2.0, "parch": 3.0},
			want:   map[string]float64{"family_size": 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fitOne(t, tt.inputs, tt.steps, tt.train)
			f, err := p.Transform(tt.in)
			if err != nil {
				t.Fatalf("Transform: %v", err)
			}
			if f.Len() != len(tt.want) {
				t.Fatalf("got %d features %v, want %d", f.Len(), f.Names, len(tt.want))
			}
			for name, want := range tt.want {
				got, ok := f.Get(name)
				if !ok || math.Abs(got-want) > 1e-9 {
					t.Errorf("feature %s = %v (present %v), want %v", name, got, ok, want)
				}
			}
		})
	}
}

func TestPipeline_TransformErrorsNameTheField(t *testing.T) {
	p := fitOne(t, []InputField{{Name: "x", Type: schema.TypeNumber}, {Name: "s", Type: schema.TypeString}},
		[]Step{{Op: OpPass, Input: "x", Output: "x"}, {Op: OpCategoryMap, Input: "s", Output: "s", Map: map[string]float64{"a": 1}, Value: fp(0)}},
		[]schema.Input{{"x": 1.0, "s": "a"}})
	for _, tt := range []struct {
		in   schema.Input
		want string
	}{
		{schema.Input{"x": "one", "s": "a"}, `field "x": want a number, got string`},
		{schema.Input{"x": 1.0, "s": 3.0}, `field "s": want a string, got float64`},
		{schema.Input{"x": nil, "s": "a"}, `feature "x": missing value and no imputation step fills it`},
	} {
		_, err := p.Transform(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Transform(%v) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestPipeline_CompileRejectsBadDeclarations(t *testing.T) {
	in := []InputField{{Name: "x", Type: schema.TypeNumber}, {Name: "s", Type: schema.TypeString}}
	tests := []struct {
		steps []Step
		want  string
	}{
		{[]Step{{Op: OpPass, Input: "nope", Output: "y"}}, `steps[0].input: unknown input "nope"`},
		{[]Step{{Op: "scale", Input: "x", Output: "y"}}, `steps[0].op: unknown op "scale"`},
		{[]Step{{Op: OpPass, Input: "x", Output: "y"}, {Op: OpPass, Input: "x", Output: "y"}}, `steps[1].output: duplicate output "y"`},
		{[]Step{{Op: OpPass, Input: "s", Output: "y"}}, `steps[0].input: "s" is a string`},
		{[]Step{{Op: OpImpute, Input: "x", Output: "y", Method: "knn"}}, `steps[0].method: unknown method "knn"`},
		{[]Step{{Op: OpImpute, Input: "x", Output: "y", Method: MethodMedian}}, `steps[0].value: missing (method median must be fitted)`},
		{[]Step{{Op: OpImpute, Input: "x", Output: "y", Method: MethodLinearRegression, Predictors: []string{"z"}}}, `steps[0].predictors[0]: unknown input "z"`},
		{[]Step{{Op: OpSum, Inputs: []string{"x", "s"}, Output: "y"}}, `steps[0].inputs[1]: "s" is a string`},
		{[]Step{{Op: OpCategoryMap, Input: "s", Output: "y"}}, `steps[0].map: missing`},
		{nil, `steps: missing`},
		{[]Step{{Op: OpSum, Input: "x", Output: "y"}}, `steps[0].input: not used by op sum`},
		{[]Step{{Op: OpPass, Input: "x", Output: "y", Sentinels: []float64{-1}}}, `steps[0].sentinels: not used by op pass`},
		{[]Step{{Op: OpImpute, Input: "x", Output: "y", Method: MethodMean, Value: fp(1), Predictors: []string{"x"}}}, `steps[0].predictors: only used by method linear_regression`},
	}
	for _, tt := range tests {
		p := &Pipeline{Inputs: in, Steps: tt.steps}
		err := p.Compile(true)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want prefix %q", tt.steps, err, tt.want)
		}
	}
}

func TestPipeline_TransformAllocatesOnlyTheValues(t *testing.T) {
	p := fitOne(t, []InputField{{Name: "x", Type: schema.TypeNumber}, {Name: "s", Type: schema.TypeString}},
		[]Step{
			{Op: OpImpute, Input: "x", Output: "x", Method: MethodMedian},
			{Op: OpCategoryMap, Input: "s", Output: "s", Map: map[string]float64{"a": 1, "b": 2}, Method: MethodMode},
			{Op: OpSum, Inputs: []string{"x", "s"}, Output: "t"},
		},
		[]schema.Input{{"x": 1.0, "s": "a"}, {"x": 3.0, "s": "b"}})
	in := schema.Input{"x": nil, "s": "b"}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.Transform(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("Transform allocates %v times, want 1", allocs)
	}
}

func TestQuantile_MatchesNumpyLinear(t *testing.T) {
	s := []float64{1, 2, 3, 4, 10}
	for _, tt := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.9, 7.6}, {1, 10}, {0.01, 1.04}} {
		if got := Quantile(s, tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestHistogramBin_LastBinIncludesRightEdge(t *testing.T) {
	edges := []float64{0, 1, 2, 3}
	for _, tt := range []struct {
		x    float64
		want int
	}{{0, 0}, {0.5, 0}, {1, 1}, {2.999, 2}, {3, 2}, {-0.1, -1}, {3.1, -1}} {
		if got := HistogramBin(edges, tt.x); got != tt.want {
			t.Errorf("HistogramBin(%v) = %d, want %d", tt.x, got, tt.want)
		}
	}
}

func TestPipeline_CheckInputsAgainstTheSchema(t *testing.T) {
	p := &Pipeline{Inputs: []InputField{{Name: "age", Type: schema.TypeNumber}, {Name: "sex", Type: schema.TypeString}}}
	ok := []schema.Field{{Name: "sex", Type: schema.TypeString}, {Name: "age", Type: schema.TypeInteger}, {Name: "extra", Type: schema.TypeBoolean}}
	if err := p.CheckInputs(ok); err != nil {
		t.Errorf("CheckInputs = %v", err)
	}
	if err := p.CheckInputs(ok[1:]); err == nil || err.Error() != `pipeline input "sex" is not a schema field` {
		t.Errorf("missing field: %v", err)
	}
	bad := []schema.Field{{Name: "sex", Type: schema.TypeBoolean}, {Name: "age", Type: schema.TypeNumber}}
	if err := p.CheckInputs(bad); err == nil || err.Error() != `pipeline input "sex" is string but the schema declares boolean` {
		t.Errorf("wrong type: %v", err)
	}
}
