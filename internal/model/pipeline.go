package model

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// The pipeline step operations.
const (
	// OpPass copies a numeric input (booleans become 1/0); missing stays missing.
	OpPass = "pass"
	// OpCategoryMap maps a category (string) to a number through Map. Missing
	// and unknown categories become Value; with Method "mode", Fit sets Value
	// to the code of the most frequent training category.
	OpCategoryMap = "category_map"
	// OpImpute fills missing values (and Sentinels) with Value. Method says how
	// Fit computes it: constant (Value given), mode, median, mean, or
	// linear_regression (Intercept + Coef·Predictors, Value when a predictor is
	// itself missing).
	OpImpute = "impute"
	// OpIndicator is 1 when its input is missing (or a sentinel), else 0.
	OpIndicator = "indicator"
	// OpSum adds Inputs and Constant; missing when any input is missing.
	OpSum = "sum"
)

// The imputation methods.
const (
	MethodConstant         = "constant"
	MethodMode             = "mode"
	MethodMedian           = "median"
	MethodMean             = "mean"
	MethodLinearRegression = "linear_regression"
)

// InputField declares one raw input field a pipeline reads.
type InputField struct {
	Name string      `json:"name" yaml:"name,omitempty"`
	Type schema.Type `json:"type" yaml:"type,omitempty"`
}

// Step is one declarative transformation producing the feature Output.
//
// Input (and Inputs, Predictors) name either an earlier step's Output or,
// when no earlier step has that output, a raw input field. Fields an op does
// not use must be empty.
type Step struct {
	Op     string   `json:"op" yaml:"op,omitempty"`
	Input  string   `json:"input,omitempty" yaml:"input,omitempty"`
	Inputs []string `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	Output string   `json:"output" yaml:"output,omitempty"`

	// Map is the category → code table of a category_map step.
	Map map[string]float64 `json:"map,omitempty" yaml:"map,omitempty"`
	// Method selects how Fit computes Value (impute, category_map).
	Method string `json:"method,omitempty" yaml:"method,omitempty"`
	// Sentinels are input values that mean "missing" (impute, indicator).
	Sentinels []float64 `json:"sentinels,omitempty" yaml:"sentinels,omitempty"`
	// Predictors name the regressors of a linear_regression impute.
	Predictors []string `json:"predictors,omitempty" yaml:"predictors,omitempty"`
	// Constant is added by a sum step.
	Constant float64 `json:"constant,omitempty" yaml:"constant,omitempty"`

	// Value is the fill value (given for constant, fitted otherwise).
	Value *float64 `json:"value,omitempty" yaml:"value,omitempty"`
	// Intercept and Coef are the fitted linear regression.
	Intercept *float64  `json:"intercept,omitempty" yaml:"intercept,omitempty"`
	Coef      []float64 `json:"coef,omitempty" yaml:"coef,omitempty"`
}

// Pipeline turns a validated schema.Input into model Features. It is declared
// in the bundle; Fit computes its learned values (modes, medians, regression
// coefficients) from training rows.
//
// A Pipeline must be compiled (Compile, or obtained from Fit or Load) before
// Transform. A compiled Pipeline is immutable and safe for concurrent use.
type Pipeline struct {
	Inputs []InputField `json:"inputs" yaml:"inputs,omitempty"`
	Steps  []Step       `json:"steps" yaml:"steps,omitempty"`

	names []string // feature names, shared by every Features
	steps []cstep
}

// ref locates a step input: an earlier output slot, or a raw field.
type ref struct {
	slot int // ≥ 0: output slot; -1: raw field
	raw  string
	typ  schema.Type
}

// opKind is Step.Op compiled to an integer for the hot path.
type opKind uint8

const (
	kindPass opKind = iota
	kindCategoryMap
	kindImpute
	kindIndicator
	kindSum
)

var opKinds = map[string]opKind{OpPass: kindPass, OpCategoryMap: kindCategoryMap, OpImpute: kindImpute, OpIndicator: kindIndicator, OpSum: kindSum}

type cstep struct {
	op         opKind
	in         ref
	ins        []ref
	preds      []ref
	out        int
	table      map[string]float64
	sentinels  []float64
	constant   float64
	value      float64 // NaN when unset
	intercept  float64
	coef       []float64
	regression bool
}

// Errors returned by Transform.
var (
	ErrNotCompiled = errors.New("pipeline not compiled")
)

// Features returns the feature names in output order. The slice is shared;
// do not modify it.
func (p *Pipeline) Features() []string { return p.names }

// Compile validates the pipeline (spec or fitted) and prepares it for
// Transform. requireFitted demands every learned value be present, as in a
// bundle. Errors name the offending field as a path ("steps[3].input").
func (p *Pipeline) Compile(requireFitted bool) error {
	p.names, p.steps = nil, nil
	raw := make(map[string]schema.Type, len(p.Inputs))
	for i, f := range p.Inputs {
		if f.Name == "" {
			return fieldErr(fmt.Sprintf("inputs[%d].name", i), "missing")
		}
		switch f.Type {
		case schema.TypeInteger, schema.TypeNumber, schema.TypeString, schema.TypeBoolean:
		default:
			return fieldErr(fmt.Sprintf("inputs[%d].type", i), fmt.Sprintf("unknown type %q", f.Type))
		}
		if _, dup := raw[f.Name]; dup {
			return fieldErr(fmt.Sprintf("inputs[%d].name", i), fmt.Sprintf("duplicate input %q", f.Name))
		}
		raw[f.Name] = f.Type
	}
	if len(p.Steps) == 0 {
		return fieldErr("steps", "missing (a pipeline needs at least one step)")
	}
	outs := map[string]int{}
	resolve := func(path, name string) (ref, error) {
		if name == "" {
			return ref{}, fieldErr(path, "missing")
		}
		if s, ok := outs[name]; ok {
			return ref{slot: s, raw: name, typ: schema.TypeNumber}, nil
		}
		if t, ok := raw[name]; ok {
			return ref{slot: -1, raw: name, typ: t}, nil
		}
		return ref{}, fieldErr(path, fmt.Sprintf("unknown input %q (not a declared input nor an earlier step's output)", name))
	}
	steps := make([]cstep, 0, len(p.Steps))
	names := make([]string, 0, len(p.Steps))
	for i, s := range p.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		if err := unusedKeys(s); err != nil {
			return prefix(path+".", err)
		}
		c := cstep{op: opKinds[s.Op], value: math.NaN(), sentinels: s.Sentinels, constant: s.Constant}
		if s.Value != nil {
			c.value = *s.Value
		}
		var err error
		needInput := s.Op != OpSum
		if needInput {
			if c.in, err = resolve(path+".input", s.Input); err != nil {
				return err
			}
		}
		switch s.Op {
		case OpPass:
			if c.in.typ == schema.TypeString {
				return fieldErr(path+".input", fmt.Sprintf("%q is a string; use category_map", s.Input))
			}
		case OpIndicator:
		case OpCategoryMap:
			if c.in.slot >= 0 || c.in.typ == schema.TypeInteger || c.in.typ == schema.TypeNumber {
				return fieldErr(path+".input", fmt.Sprintf("%q is not a string or boolean input", s.Input))
			}
			if len(s.Map) == 0 {
				return fieldErr(path+".map", "missing")
			}
			c.table = s.Map
			switch s.Method {
			case "", MethodConstant:
			case MethodMode:
				if requireFitted && s.Value == nil {
					return fieldErr(path+".value", "missing (method mode must be fitted)")
				}
			default:
				return fieldErr(path+".method", fmt.Sprintf("unknown method %q for category_map (want constant or mode)", s.Method))
			}
		case OpImpute:
			switch s.Method {
			case MethodConstant:
				if s.Value == nil {
					return fieldErr(path+".value", "missing (method constant needs a value)")
				}
			case MethodMode, MethodMedian, MethodMean:
				if requireFitted && s.Value == nil {
					return fieldErr(path+".value", fmt.Sprintf("missing (method %s must be fitted)", s.Method))
				}
			case MethodLinearRegression:
				c.regression = true
				if len(s.Predictors) == 0 {
					return fieldErr(path+".predictors", "missing")
				}
				for j, name := range s.Predictors {
					r, err := resolve(fmt.Sprintf("%s.predictors[%d]", path, j), name)
					if err != nil {
						return err
					}
					if r.typ == schema.TypeString {
						return fieldErr(fmt.Sprintf("%s.predictors[%d]", path, j), fmt.Sprintf("%q is a string", name))
					}
					c.preds = append(c.preds, r)
				}
				if requireFitted || s.Intercept != nil || s.Coef != nil {
					if s.Intercept == nil {
						return fieldErr(path+".intercept", "missing")
					}
					if len(s.Coef) != len(s.Predictors) {
						return fieldErr(path+".coef", fmt.Sprintf("has %d values for %d predictors", len(s.Coef), len(s.Predictors)))
					}
					if s.Value == nil {
						return fieldErr(path+".value", "missing (fallback when a predictor is missing)")
					}
					c.intercept, c.coef = *s.Intercept, s.Coef
				}
			case "":
				return fieldErr(path+".method", "missing")
			default:
				return fieldErr(path+".method", fmt.Sprintf("unknown method %q", s.Method))
			}
			if c.in.typ == schema.TypeString {
				return fieldErr(path+".input", fmt.Sprintf("%q is a string; use category_map", s.Input))
			}
		case OpSum:
			if len(s.Inputs) == 0 {
				return fieldErr(path+".inputs", "missing")
			}
			for j, name := range s.Inputs {
				r, err := resolve(fmt.Sprintf("%s.inputs[%d]", path, j), name)
				if err != nil {
					return err
				}
				if r.typ == schema.TypeString {
					return fieldErr(fmt.Sprintf("%s.inputs[%d]", path, j), fmt.Sprintf("%q is a string", name))
				}
				c.ins = append(c.ins, r)
			}
		case "":
			return fieldErr(path+".op", "missing")
		default:
			return fieldErr(path+".op", fmt.Sprintf("unknown op %q (want pass, category_map, impute, indicator or sum)", s.Op))
		}
		if s.Output == "" {
			return fieldErr(path+".output", "missing")
		}
		if _, dup := outs[s.Output]; dup {
			return fieldErr(path+".output", fmt.Sprintf("duplicate output %q", s.Output))
		}
		c.out = len(names)
		outs[s.Output] = c.out
		names = append(names, s.Output)
		steps = append(steps, c)
	}
	p.names, p.steps = names, steps
	return nil
}

// Transform computes the features of one input. The returned Features share
// Names with every other call and own a fresh Values slice (one allocation).
// A value of the wrong type, or a feature left missing by the pipeline, is an
// error naming the field.
func (p *Pipeline) Transform(in schema.Input) (Features, error) {
	if p.steps == nil {
		return Features{}, ErrNotCompiled
	}
	vals := make([]float64, len(p.steps))
	if err := p.transformInto(in, vals); err != nil {
		return Features{}, err
	}
	return Features{Names: p.names, Values: vals}, nil
}

// transformInto writes the features of in into vals (len = number of steps).
func (p *Pipeline) transformInto(in schema.Input, vals []float64) error {
	for i := range p.steps {
		if err := p.steps[i].apply(in, vals); err != nil {
			return err
		}
	}
	for i, v := range vals {
		if math.IsNaN(v) {
			return fmt.Errorf("feature %q: missing value and no imputation step fills it", p.names[i])
		}
	}
	return nil
}

// number reads r from the row: NaN when missing.
func (r *ref) number(in schema.Input, vals []float64) (float64, error) {
	if r.slot >= 0 {
		return vals[r.slot], nil
	}
	switch v := in[r.raw].(type) {
	case nil:
		return math.NaN(), nil
	case float64:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case int:
		return float64(v), nil
	default:
		return 0, fmt.Errorf("field %q: want a number, got %T", r.raw, v)
	}
}

// category reads r as a category; ok is false when missing.
func (r *ref) category(in schema.Input) (string, bool, error) {
	switch v := in[r.raw].(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	case bool:
		return strconv.FormatBool(v), true, nil
	default:
		return "", false, fmt.Errorf("field %q: want a string, got %T", r.raw, v)
	}
}

func (c *cstep) isMissing(v float64) bool {
	return math.IsNaN(v) || slices.Contains(c.sentinels, v)
}

func (c *cstep) apply(in schema.Input, vals []float64) error {
	switch c.op {
	case kindPass:
		v, err := c.in.number(in, vals)
		if err != nil {
			return err
		}
		vals[c.out] = v
	case kindCategoryMap:
		s, ok, err := c.in.category(in)
		if err != nil {
			return err
		}
		v := c.value
		if ok {
			if code, known := c.table[s]; known {
				v = code
			}
		}
		vals[c.out] = v
	case kindImpute:
		v, err := c.in.number(in, vals)
		if err != nil {
			return err
		}
		if c.isMissing(v) {
			v = c.value
			if c.regression {
				v = c.predict(in, vals)
			}
		}
		vals[c.out] = v
	case kindIndicator:
		var missing bool
		if c.in.slot < 0 && (c.in.typ == schema.TypeString || c.in.typ == schema.TypeBoolean) {
			missing = in[c.in.raw] == nil
		} else {
			v, err := c.in.number(in, vals)
			if err != nil {
				return err
			}
			missing = c.isMissing(v)
		}
		vals[c.out] = 0
		if missing {
			vals[c.out] = 1
		}
	case kindSum:
		s := c.constant
		for i := range c.ins {
			v, err := c.ins[i].number(in, vals)
			if err != nil {
				return err
			}
			s += v
		}
		vals[c.out] = s
	}
	return nil
}

func (c *cstep) predict(in schema.Input, vals []float64) float64 {
	if c.coef == nil {
		return math.NaN()
	}
	s := c.intercept
	for i := range c.preds {
		x, err := c.preds[i].number(in, vals)
		if err != nil || math.IsNaN(x) {
			return c.value
		}
		s += c.coef[i] * x
	}
	return s
}

// Fit learns the pipeline's values from training rows and returns a fitted,
// compiled copy; spec is not modified. Steps are fitted in order, each on the
// outputs of the steps before it, so a regression imputer sees exactly the
// features it will see when serving.
func (p *Pipeline) Fit(rows []schema.Input) (*Pipeline, error) {
	if len(rows) == 0 {
		return nil, errors.New("fit pipeline: no training rows")
	}
	out := &Pipeline{Inputs: slices.Clone(p.Inputs), Steps: make([]Step, len(p.Steps))}
	for i, s := range p.Steps {
		s.Map = cloneMap(s.Map)
		s.Sentinels = slices.Clone(s.Sentinels)
		s.Predictors = slices.Clone(s.Predictors)
		s.Inputs = slices.Clone(s.Inputs)
		s.Coef = slices.Clone(s.Coef)
		out.Steps[i] = s
	}
	if err := out.Compile(false); err != nil {
		return nil, err
	}
	n := len(out.Steps)
	vals := make([][]float64, len(rows))
	for r := range rows {
		vals[r] = make([]float64, n)
	}
	for i := range out.Steps {
		s := &out.Steps[i]
		c := &out.steps[i]
		path := fmt.Sprintf("steps[%d] (%s)", i, s.Output)
		switch {
		case s.Op == OpCategoryMap && s.Method == MethodMode:
			counts := map[string]int{}
			for r, row := range rows {
				cat, ok, err := c.in.category(row)
				if err != nil {
					return nil, fmt.Errorf("fit %s: row %d: %w", path, r+1, err)
				}
				if _, known := s.Map[cat]; ok && known {
					counts[cat]++
				}
			}
			if len(counts) == 0 {
				return nil, fmt.Errorf("fit %s: no known category in the training rows", path)
			}
			mode := modeString(counts)
			v := s.Map[mode]
			s.Value = &v
		case s.Op == OpImpute && s.Method != MethodConstant:
			var obs []float64
			var idx []int
			for r, row := range rows {
				v, err := c.in.number(row, vals[r])
				if err != nil {
					return nil, fmt.Errorf("fit %s: row %d: %w", path, r+1, err)
				}
				if !c.isMissing(v) {
					obs = append(obs, v)
					idx = append(idx, r)
				}
			}
			if len(obs) == 0 {
				return nil, fmt.Errorf("fit %s: every training value of %q is missing", path, s.Input)
			}
			var v float64
			switch s.Method {
			case MethodMode:
				v = modeFloat(obs)
			case MethodMedian:
				v = Quantile(sortedCopy(obs), 0.5)
			case MethodMean:
				v = mean(obs)
			case MethodLinearRegression:
				v = mean(obs)
				icpt, coef, err := fitOLS(c.preds, rows, vals, idx, obs)
				if err != nil {
					return nil, fmt.Errorf("fit %s: %w", path, err)
				}
				s.Intercept, s.Coef = &icpt, coef
				c.intercept, c.coef = icpt, coef
			}
			s.Value = &v
		}
		if s.Value != nil {
			c.value = *s.Value
		}
		for r, row := range rows {
			if err := c.apply(row, vals[r]); err != nil {
				return nil, fmt.Errorf("fit %s: row %d: %w", path, r+1, err)
			}
		}
	}
	if err := out.Compile(true); err != nil {
		return nil, err
	}
	return out, nil
}

// fitOLS solves ordinary least squares of y on the predictors (plus an
// intercept) over the rows in idx. Rows with a missing predictor are skipped.
func fitOLS(preds []ref, rows []schema.Input, vals [][]float64, idx []int, y []float64) (float64, []float64, error) {
	p := len(preds)
	var data, ys []float64
	for k, r := range idx {
		row := make([]float64, 0, p+1)
		row = append(row, 1)
		ok := true
		for j := range preds {
			x, err := preds[j].number(rows[r], vals[r])
			if err != nil {
				return 0, nil, err
			}
			if math.IsNaN(x) {
				ok = false
				break
			}
			row = append(row, x)
		}
		if ok {
			data = append(data, row...)
			ys = append(ys, y[k])
		}
	}
	if len(ys) <= p {
		return 0, nil, fmt.Errorf("linear regression needs more than %d complete rows, have %d", p, len(ys))
	}
	X := mat.NewDense(len(ys), p+1, data)
	var beta mat.VecDense
	if err := beta.SolveVec(X, mat.NewVecDense(len(ys), ys)); err != nil {
		return 0, nil, fmt.Errorf("linear regression: %w", err)
	}
	coef := make([]float64, p)
	for j := range coef {
		coef[j] = beta.AtVec(j + 1)
	}
	return beta.AtVec(0), coef, nil
}

func cloneMap(m map[string]float64) map[string]float64 {
	if m == nil {
		return nil
	}
	c := make(map[string]float64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// modeString returns the most frequent key; ties go to the smallest key.
func modeString(counts map[string]int) string {
	var best string
	n := -1
	for k, c := range counts {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	return best
}

// modeFloat returns the most frequent value; ties go to the smallest value.
func modeFloat(xs []float64) float64 {
	s := sortedCopy(xs)
	best, n := s[0], 0
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > n {
			best, n = s[i], j-i
		}
		i = j
	}
	return best
}

func sortedCopy(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.SortFunc(s, cmp.Compare[float64])
	return s
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Quantile returns the q-quantile of sorted xs by linear interpolation
// between closest ranks (numpy's default "linear" method). NaN when empty.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	h := q * float64(len(sorted)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// fieldError is a bundle problem at a field path.
type fieldError struct{ path, problem string }

func (e *fieldError) Error() string { return e.path + ": " + e.problem }

func fieldErr(path, problem string) error { return &fieldError{path, problem} }

// CheckInputs reports the first declared pipeline input that the given
// schema fields lack or type differently (integer and number are
// interchangeable: both arrive as float64). A gateway calls it at startup so
// a bundle that cannot be fed by the configured schema fails early.
func (p *Pipeline) CheckInputs(fields []schema.Field) error {
	numeric := func(t schema.Type) bool { return t == schema.TypeInteger || t == schema.TypeNumber }
	for _, in := range p.Inputs {
		i := slices.IndexFunc(fields, func(f schema.Field) bool { return f.Name == in.Name })
		if i < 0 {
			return fmt.Errorf("pipeline input %q is not a schema field", in.Name)
		}
		if t := fields[i].Type; t != in.Type && !(numeric(t) && numeric(in.Type)) {
			return fmt.Errorf("pipeline input %q is %s but the schema declares %s", in.Name, in.Type, t)
		}
	}
	return nil
}

// unusedKeys rejects keys the step's op does not read, so a typo such as a
// sum with "input" instead of "inputs" is an error, not a silent no-op.
func unusedKeys(s Step) error {
	allowed := map[string][]string{
		OpPass:        {"input"},
		OpCategoryMap: {"input", "map", "method", "value"},
		OpImpute:      {"input", "method", "sentinels", "predictors", "value", "intercept", "coef"},
		OpIndicator:   {"input", "sentinels"},
		OpSum:         {"inputs", "constant"},
	}[s.Op]
	if allowed == nil {
		return nil // unknown op: reported by Compile
	}
	set := []struct {
		key string
		set bool
	}{
		{"input", s.Input != ""}, {"inputs", s.Inputs != nil}, {"map", s.Map != nil},
		{"method", s.Method != ""}, {"sentinels", s.Sentinels != nil}, {"predictors", s.Predictors != nil},
		{"constant", s.Constant != 0}, {"value", s.Value != nil}, {"intercept", s.Intercept != nil}, {"coef", s.Coef != nil},
	}
	for _, k := range set {
		if k.set && !slices.Contains(allowed, k.key) {
			return fieldErr(k.key, fmt.Sprintf("not used by op %s", s.Op))
		}
	}
	if s.Op == OpImpute && s.Method != MethodLinearRegression {
		for _, k := range []struct {
			key string
			set bool
		}{{"predictors", s.Predictors != nil}, {"intercept", s.Intercept != nil}, {"coef", s.Coef != nil}} {
			if k.set {
				return fieldErr(k.key, fmt.Sprintf("only used by method %s", MethodLinearRegression))
			}
		}
	}
	return nil
}
