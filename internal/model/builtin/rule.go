package builtin

import (
	"fmt"
	"math"
)

// Condition compares one feature with a constant.
type Condition struct {
	Feature string  `json:"feature" yaml:"feature"`
	Op      string  `json:"op" yaml:"op"` // ==, !=, <, <=, >, >=
	Value   float64 `json:"value" yaml:"value"`

	idx int
}

// Rule fires when all its conditions hold. Probability is the positive-class
// probability it answers; when nil in the params, FitRules estimates it from
// the training rows the rule is the first to match.
type Rule struct {
	Name        string      `json:"name,omitempty" yaml:"name"`
	When        []Condition `json:"when" yaml:"when"`
	Probability *float64    `json:"probability,omitempty" yaml:"probability"`
	// Support is the number of training rows this rule was the first to
	// match (fitted; informational).
	Support int `json:"support,omitempty" yaml:"-"`
}

// RuleParams configure the rule algorithm: ordered rules (first match wins)
// and the probability when none matches (estimated when nil). Smoothing is
// the Laplace pseudo-count used when estimating probabilities.
type RuleParams struct {
	Rules     []Rule   `json:"rules"`
	Default   *float64 `json:"default"`
	Smoothing float64  `json:"smoothing"`
}

// DefaultRuleParams returns the defaults (smoothing 1, no rules).
func DefaultRuleParams() RuleParams { return RuleParams{Smoothing: 1} }

// Algorithm implements Params.
func (*RuleParams) Algorithm() string { return AlgoRule }

func (p *RuleParams) validate() error {
	if len(p.Rules) == 0 {
		return fmt.Errorf("%w: rule algorithm needs at least one rule", ErrBadParam)
	}
	if p.Smoothing < 0 {
		return fmt.Errorf("%w smoothing=%g: must be ≥ 0", ErrBadParam, p.Smoothing)
	}
	if p.Default != nil && !isProb(*p.Default) {
		return fmt.Errorf("%w default=%g: must be in [0, 1]", ErrBadParam, *p.Default)
	}
	for i, r := range p.Rules {
		if err := checkRule(r); err != nil {
			return fmt.Errorf("%w: rules[%d]: %v", ErrBadParam, i, err)
		}
	}
	return nil
}

func isProb(p float64) bool { return p >= 0 && p <= 1 }

func checkRule(r Rule) error {
	if len(r.When) == 0 {
		return fmt.Errorf("when: missing (a rule needs at least one condition)")
	}
	for j, c := range r.When {
		switch c.Op {
		case "==", "!=", "<", "<=", ">", ">=":
		default:
			return fmt.Errorf("when[%d].op: unknown operator %q (want ==, !=, <, <=, >, >=)", j, c.Op)
		}
		if c.Feature == "" {
			return fmt.Errorf("when[%d].feature: missing", j)
		}
	}
	if r.Probability != nil && !isProb(*r.Probability) {
		return fmt.Errorf("probability: %g is not in [0, 1]", *r.Probability)
	}
	return nil
}

// Rules is a fitted rule model: the first rule whose conditions all hold
// gives the probability, otherwise Default.
type Rules struct {
	Rules   []Rule  `json:"rules"`
	Default float64 `json:"default"`
}

// FitRules binds the rules to features and fills every probability the
// params leave unset with the smoothed positive rate of the training rows the
// rule is first to match: (positives + s·prior) / (rows + s).
func FitRules(p RuleParams, features []string, X [][]float64, y []int) (*Rules, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	m := &Rules{Rules: make([]Rule, len(p.Rules))}
	for i, r := range p.Rules {
		r.When = append([]Condition(nil), r.When...)
		m.Rules[i] = r
	}
	if err := m.resolve(features); err != nil {
		return nil, err
	}
	var prior float64
	for _, v := range y {
		prior += float64(v)
	}
	prior /= float64(len(y))
	pos := make([]float64, len(m.Rules)+1)
	n := make([]int, len(m.Rules)+1)
	for i, x := range X {
		k := m.match(x)
		if k < 0 {
			k = len(m.Rules)
		}
		n[k]++
		pos[k] += float64(y[i])
	}
	est := func(k int) float64 {
		return (pos[k] + p.Smoothing*prior) / (float64(n[k]) + p.Smoothing)
	}
	for k := range m.Rules {
		m.Rules[k].Support = n[k]
		if m.Rules[k].Probability == nil {
			if n[k] == 0 && p.Smoothing == 0 {
				return nil, fmt.Errorf("rule %d matches no training row; give it a probability", k)
			}
			v := est(k)
			m.Rules[k].Probability = &v
		}
	}
	if p.Default != nil {
		m.Default = *p.Default
	} else {
		if n[len(m.Rules)] == 0 && p.Smoothing == 0 {
			return nil, fmt.Errorf("no training row falls through the rules; give a default probability")
		}
		m.Default = est(len(m.Rules))
	}
	return m, nil
}

func (m *Rules) bind(features []string) error {
	if !isProb(m.Default) {
		return fieldErr("default", "%g is not in [0, 1]", m.Default)
	}
	for i := range m.Rules {
		if m.Rules[i].Probability == nil {
			return fieldErr(fmt.Sprintf("rules[%d].probability", i), "missing")
		}
	}
	return m.resolve(features)
}

// resolve checks the rules and binds condition features to indices.
func (m *Rules) resolve(features []string) error {
	if len(m.Rules) == 0 {
		return fieldErr("rules", "missing")
	}
	for i := range m.Rules {
		r := &m.Rules[i]
		if err := checkRule(*r); err != nil {
			return fieldErr(fmt.Sprintf("rules[%d]", i), "%v", err)
		}
		for j := range r.When {
			c := &r.When[j]
			c.idx = featureIndex(features, c.Feature)
			if c.idx < 0 {
				return fieldErr(fmt.Sprintf("rules[%d].when[%d].feature", i, j), "unknown feature %q", c.Feature)
			}
		}
	}
	return nil
}

// match returns the index of the first matching rule, or -1.
func (m *Rules) match(x []float64) int {
	for i := range m.Rules {
		ok := true
		for j := range m.Rules[i].When {
			if !m.Rules[i].When[j].holds(x) {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

func (c *Condition) holds(x []float64) bool {
	v := x[c.idx]
	switch c.Op {
	case "==":
		return v == c.Value
	case "!=":
		return v != c.Value
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case ">":
		return v > c.Value
	case ">=":
		return v >= c.Value
	}
	return false
}

// Prob implements Model.
func (m *Rules) Prob(x []float64) float64 {
	if k := m.match(x); k >= 0 {
		if p := m.Rules[k].Probability; p != nil {
			return *p
		}
		return math.NaN()
	}
	return m.Default
}
