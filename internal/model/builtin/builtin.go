// Package builtin implements the in-process learning algorithms in pure Go:
// rule (ordered declarative rules), logistic (L2-regularised logistic
// regression on standardised features) and gbt (gradient-boosted decision
// trees on log-loss).
//
// The package works on dense feature vectors: it knows feature names only to
// bind rules and to check a bundle, and nothing about pipelines or bundles.
// Fitted models are immutable and safe for concurrent use; Prob does not
// allocate.
package builtin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The algorithm names.
const (
	AlgoRule     = "rule"
	AlgoLogistic = "logistic"
	AlgoGBT      = "gbt"
)

// Algorithms lists the supported algorithm names.
var Algorithms = []string{AlgoRule, AlgoLogistic, AlgoGBT}

// Model is a fitted binary classifier over a fixed feature order.
type Model interface {
	// Prob returns the probability of the positive class for x, which has
	// one value per feature in the order the model was fitted or bound with.
	Prob(x []float64) float64
}

// Params are an algorithm's hyperparameters.
type Params interface {
	Algorithm() string
}

// Errors.
var (
	ErrUnknownAlgorithm = errors.New("unknown algorithm")
	ErrBadParam         = errors.New("bad parameter")
)

// FieldError is a problem with one field of a params or model document.
type FieldError struct {
	Path    string
	Problem string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// NewParams returns algo's default parameters with overrides applied
// (key=value strings as given on the command line). rules are the ordered
// rules of the rule algorithm (ignored by others).
func NewParams(algo string, overrides map[string]string, rules []Rule) (Params, error) {
	var p Params
	switch algo {
	case AlgoRule:
		rp := DefaultRuleParams()
		rp.Rules = rules
		if err := applyOverrides(&rp, overrides); err != nil {
			return nil, err
		}
		p = &rp
	case AlgoLogistic:
		lp := DefaultLogisticParams()
		if err := applyOverrides(&lp, overrides); err != nil {
			return nil, err
		}
		p = &lp
	case AlgoGBT:
		gp := DefaultGBTParams()
		if err := applyOverrides(&gp, overrides); err != nil {
			return nil, err
		}
		p = &gp
	default:
		return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownAlgorithm, algo, strings.Join(Algorithms, ", "))
	}
	if err := validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Fit trains p's algorithm on rows X (one feature vector each, in features
// order) with binary labels y (1 = positive).
func Fit(p Params, features []string, X [][]float64, y []int) (Model, error) {
	if len(X) == 0 || len(X) != len(y) {
		return nil, fmt.Errorf("fit %s: %d rows and %d labels", p.Algorithm(), len(X), len(y))
	}
	for i, v := range y {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("fit %s: row %d: label %d is not 0 or 1", p.Algorithm(), i+1, v)
		}
	}
	switch p := p.(type) {
	case *RuleParams:
		return FitRules(*p, features, X, y)
	case *LogisticParams:
		return FitLogistic(*p, features, X, y)
	case *GBTParams:
		return FitGBT(*p, features, X, y)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownAlgorithm, p.Algorithm())
}

// Decode reads an algorithm's params and fitted model documents (as stored in
// a bundle) and binds the model to features. Errors are *FieldError with
// paths below "params" or "model".
func Decode(algo string, params, model json.RawMessage, features []string) (Params, Model, error) {
	var p Params
	var m interface {
		Model
		bind(features []string) error
	}
	switch algo {
	case AlgoRule:
		p, m = &RuleParams{}, &Rules{}
	case AlgoLogistic:
		p, m = &LogisticParams{}, &Logistic{}
	case AlgoGBT:
		p, m = &GBTParams{}, &GBT{}
	default:
		return nil, nil, fieldErr("algorithm", "unknown algorithm %q (want %s)", algo, strings.Join(Algorithms, ", "))
	}
	if len(params) == 0 {
		return nil, nil, fieldErr("params", "missing")
	}
	if err := strictUnmarshal(params, p); err != nil {
		return nil, nil, fieldErr("params", "%v", err)
	}
	if err := validate(p); err != nil {
		return nil, nil, fieldErr("params", "%v", err)
	}
	if len(model) == 0 || string(model) == "null" {
		return nil, nil, fieldErr("model", "missing")
	}
	if err := strictUnmarshal(model, m); err != nil {
		return nil, nil, fieldErr("model", "%v", err)
	}
	if err := m.bind(features); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, nil, fieldErr("model."+fe.Path, "%s", fe.Problem)
		}
		return nil, nil, fieldErr("model", "%v", err)
	}
	return p, m, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type validator interface{ validate() error }

func validate(p Params) error {
	if v, ok := p.(validator); ok {
		return v.validate()
	}
	return nil
}

// applyOverrides sets the JSON-tagged fields of p from key=value strings.
func applyOverrides(p any, kv map[string]string) error {
	if len(kv) == 0 {
		return nil
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Round-trip through JSON so keys use the documented names.
	var doc map[string]json.RawMessage
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &doc)
	for _, k := range keys {
		old, ok := doc[k]
		if !ok || k == "rules" {
			known := make([]string, 0, len(doc))
			for name := range doc {
				if name != "rules" {
					known = append(known, name)
				}
			}
			slices.Sort(known)
			return fmt.Errorf("%w %q (known: %s)", ErrBadParam, k, strings.Join(known, ", "))
		}
		v := kv[k]
		switch {
		case len(old) > 0 && old[0] == '"':
			doc[k], _ = json.Marshal(v)
		default:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%w %s=%q: not a number", ErrBadParam, k, v)
			}
			doc[k] = json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	b, _ = json.Marshal(doc)
	if err := json.Unmarshal(b, p); err != nil {
		return fmt.Errorf("%w: %v", ErrBadParam, err)
	}
	return nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + exp(-z))
	}
	e := exp(z)
	return e / (1 + e)
}

func featureIndex(features []string, name string) int {
	return slices.Index(features, name)
}
