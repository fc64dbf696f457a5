package builtin

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFitLogistic_MatchesHandSolvedCases(t *testing.T) {
	tests := []struct {
		name          string
		l2            float64
		X             [][]float64
		y             []int
		wantIntercept float64
		wantCoef      float64 // on the standardised scale
	}{
		{
			// x = 0: one positive in four (p = 1/4); x = 1: three in four.
			// Standardised x = ±1, so the MLE is b = 0, w = ln 3.
			name:     "unregularised MLE reproduces the group rates",
			l2:       0,
			X:        [][]float64{{0}, {0}, {0}, {0}, {1}, {1}, {1}, {1}},
			y:        []int{0, 0, 0, 1, 1, 1, 1, 0},
			wantCoef: math.Log(3),
		},
		{
			// Two rows z = ±1 with labels 0, 1: the gradient 2(σ(w) − 1) + λw
			// vanishes at w = ln 3 when λ = 0.5 / ln 3.
			name:     "L2 penalty shrinks the separable case to w = ln 3",
			l2:       0.5 / math.Log(3),
			X:        [][]float64{{-5}, {5}},
			y:        []int{0, 1},
			wantCoef: math.Log(3),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultLogisticParams()
			p.L2 = tt.l2
			m, err := FitLogistic(p, []string{"x"}, tt.X, tt.y)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(m.Intercept-tt.wantIntercept) > 1e-8 || math.Abs(m.Coef[0]-tt.wantCoef) > 1e-8 {
				t.Errorf("intercept %v coef %v, want %v %v", m.Intercept, m.Coef[0], tt.wantIntercept, tt.wantCoef)
			}
		})
	}
	// The fitted probabilities of the first case are the group rates.
	p := DefaultLogisticParams()
	p.L2 = 0
	m, _ := FitLogistic(p, []string{"x"}, tests[0].X, tests[0].y)
	if got := m.Prob([]float64{0}); math.Abs(got-0.25) > 1e-8 {
		t.Errorf("P(x=0) = %v, want 0.25", got)
	}
}

// xor returns points in four quadrants labelled by the sign of x·y.
func xor(n int, seed uint64) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float64, n)
	y := make([]int, n)
	for i := range n {
		a, b := rng.Float64()*2-1, rng.Float64()*2-1
		X[i] = []float64{a, b}
		if a*b > 0 {
			y[i] = 1
		}
	}
	return X, y
}

func accuracy(m Model, X [][]float64, y []int) float64 {
	ok := 0
	for i, x := range X {
		c := 0
		if m.Prob(x) >= 0.5 {
			c = 1
		}
		if c == y[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(y))
}

func TestFitGBT_LearnsXORWhereLogisticCannot(t *testing.T) {
	X, y := xor(400, 1)
	Xt, yt := xor(400, 2)
	features := []string{"a", "b"}
	g, err := FitGBT(GBTParams{Trees: 100, Depth: 2, LearningRate: 0.2, MinLeaf: 5, Subsample: 0.8, Seed: 1}, features, X, y)
	if err != nil {
		t.Fatal(err)
	}
	l, err := FitLogistic(DefaultLogisticParams(), features, X, y)
	if err != nil {
		t.Fatal(err)
	}
	ga, la := accuracy(g, Xt, yt), accuracy(l, Xt, yt)
	if ga < 0.9 {
		t.Errorf("gbt held-out accuracy on XOR = %.3f, want ≥ 0.9", ga)
	}
	if la > 0.65 {
		t.Errorf("logistic held-out accuracy on XOR = %.3f; a linear model should be near chance", la)
	}
}

func TestFitGBT_SameSeedSameModelDifferentSeedDifferentModel(t *testing.T) {
	X, y := xor(300, 3)
	p := DefaultGBTParams()
	p.Trees = 30
	enc := func(p GBTParams) string {
		m, err := FitGBT(p, []string{"a", "b"}, X, y)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	a, b := enc(p), enc(p)
	if a != b {
		t.Error("two fits with the same seed differ")
	}
	p.Seed = 2
	if enc(p) == a {
		t.Error("a different seed gave the same subsamples")
	}
}

func TestFitGBT_SingleStumpSplitsAtMidpoint(t *testing.T) {
	X := [][]float64{{1}, {2}, {3}, {4}}
	y := []int{0, 0, 1, 1}
	m, err := FitGBT(GBTParams{Trees: 1, Depth: 1, LearningRate: 1, MinLeaf: 1, Subsample: 1, Seed: 1}, []string{"x"}, X, y)
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Trees[0]
	if tr.Feature[0] != 0 || tr.Threshold[0] != 2.5 {
		t.Fatalf("root split x ≤ %v on feature %d, want x ≤ 2.5", tr.Threshold[0], tr.Feature[0])
	}
	// Init = logit(0.5) = 0; residuals ±0.5, hessian 0.25 → leaf = ∓2.
	if tr.Value[tr.Left[0]] != -2 || tr.Value[tr.Right[0]] != 2 {
		t.Errorf("leaf values %v, %v, want -2, 2", tr.Value[tr.Left[0]], tr.Value[tr.Right[0]])
	}
	if got := m.Prob([]float64{4}); math.Abs(got-1/(1+math.Exp(-2))) > 1e-12 {
		t.Errorf("Prob = %v", got)
	}
}

func TestFitRules_FirstMatchWinsAndProbabilitiesAreSmoothedRates(t *testing.T) {
	// features: gender (0 = female), age
	X := [][]float64{{0, 30}, {0, 40}, {1, 5}, {1, 30}, {1, 50}, {0, 5}}
	y := []int{1, 0, 1, 0, 0, 1}
	half := 0.5
	p := RuleParams{Smoothing: 0, Rules: []Rule{
		{Name: "female", When: []Condition{{Feature: "gender", Op: "==", Value: 0}}},
		{Name: "child", When: []Condition{{Feature: "age", Op: "<", Value: 10}}},
		{Name: "fixed", When: []Condition{{Feature: "age", Op: ">=", Value: 100}}, Probability: &half},
	}}
	m, err := FitRules(p, []string{"gender", "age"}, X, y)
	if err != nil {
		t.Fatal(err)
	}
	// female: rows 0, 1, 5 → 2/3; child (male only, by order): row 2 → 1; default: rows 3, 4 → 0.
	for _, tt := range []struct {
		x    []float64
		want float64
	}{{[]float64{0, 5}, 2.0 / 3}, {[]float64{1, 5}, 1}, {[]float64{1, 200}, 0.5}, {[]float64{1, 30}, 0}} {
		if got := m.Prob(tt.x); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Prob(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
	if m.Rules[0].Support != 3 || m.Rules[1].Support != 1 {
		t.Errorf("supports %d, %d, want 3, 1", m.Rules[0].Support, m.Rules[1].Support)
	}
}

func TestNewParams_RejectsUnknownAndBadValues(t *testing.T) {
	tests := []struct {
		algo string
		kv   map[string]string
		want string
	}{
		{"forest", nil, `unknown algorithm "forest"`},
		{AlgoGBT, map[string]string{"tres": "3"}, `bad parameter "tres" (known: depth, l2, learning_rate, min_leaf, seed, subsample, trees)`},
		{AlgoGBT, map[string]string{"depth": "deep"}, `bad parameter depth="deep": not a number`},
		{AlgoGBT, map[string]string{"subsample": "1.5"}, `bad parameter subsample=1.5: must be in (0, 1]`},
		{AlgoLogistic, map[string]string{"l2": "-1"}, `bad parameter l2=-1: must be ≥ 0`},
		{AlgoRule, nil, `rule algorithm needs at least one rule`},
	}
	for _, tt := range tests {
		_, err := NewParams(tt.algo, tt.kv, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewParams(%s, %v) = %v, want %q", tt.algo, tt.kv, err, tt.want)
		}
	}
	p, err := NewParams(AlgoGBT, map[string]string{"trees": "7", "learning_rate": "0.5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.(*GBTParams); g.Trees != 7 || g.LearningRate != 0.5 || g.Depth != 3 {
		t.Errorf("overrides gave %+v", g)
	}
}

func TestDecode_RejectsInconsistentModels(t *testing.T) {
	params := json.RawMessage(`{"trees":1,"depth":1,"learning_rate":1,"min_leaf":1,"subsample":1,"l2":0,"seed":1}`)
	tests := []struct {
		model string
		want  string
	}{
		{`{"features":["x"],"init":0,"trees":[{"feature":[0,-1,-1],"threshold":[1,0,0],"left":[1,-1,-1],"right":[0,-1,-1],"value":[0,1,2]}]}`, "model.trees[0].left[0]"},
		{`{"features":["x"],"init":0,"trees":[{"feature":[3,-1,-1],"threshold":[1,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"value":[0,1,2]}]}`, "model.trees[0].feature[0]: index 3 out of range"},
		{`{"features":["y"],"init":0,"trees":[]}`, `model.features[0]: is "y"`},
		{`{"features":["x"],"init":0,"trees":[{"feature":[-1],"threshold":[0],"left":[-1],"right":[-1]}]}`, "model.trees[0].value: has 0 entries"},
	}
	for _, tt := range tests {
		_, _, err := Decode(AlgoGBT, params, json.RawMessage(tt.model), []string{"x"})
		var fe *FieldError
		if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%s) = %v, want %q", tt.model, err, tt.want)
		}
	}
}

func TestExp_AgreesWithMathExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		x := rng.Float64()*80 - 40
		got, want := exp(x), math.Exp(x)
		if math.Abs(got-want) > 4e-16*want { // within 2 ulp of the (possibly FMA) library
			t.Fatalf("exp(%v) = %v, math.Exp = %v", x, got, want)
		}
	}
	for _, x := range []float64{0, 1e-30, 710, -746, math.Inf(1), math.Inf(-1)} {
		if got, want := exp(x), math.Exp(x); got != want {
			t.Errorf("exp(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestGBT_CompleteLayoutScoresLikeTheTrees(t *testing.T) {
	X, y := xor(500, 5)
	// Depth 4 with large leaves leaves some branches shallow (padded).
	m, err := FitGBT(GBTParams{Trees: 50, Depth: 4, LearningRate: 0.1, MinLeaf: 40, Subsample: 0.7, Seed: 3}, []string{"a", "b"}, X, y)
	if err != nil {
		t.Fatal(err)
	}
	if m.cFeat == nil || m.small == nil || m.depth != 4 {
		t.Fatalf("complete layout not built (depth %d)", m.depth)
	}
	shallow := false
	for _, tr := range m.Trees {
		if len(tr.Feature) < 31 {
			shallow = true
		}
	}
	if !shallow {
		t.Fatal("no shallow tree: the padding path is untested")
	}
	Xt, _ := xor(500, 6)
	Xt = append(Xt, []float64{math.NaN(), 0.3}, []float64{math.Inf(1), math.Inf(-1)})
	for _, x := range Xt {
		want := m.Init
		for i := range m.Trees {
			want += m.Trees[i].eval(x)
		}
		if got := m.completeSum(x); got != want {
			t.Fatalf("x=%v: complete layout %v, trees %v", x, got, want)
		}
		if got := m.smallSum(x); got != want {
			t.Fatalf("x=%v: fixed-size layout %v, trees %v", x, got, want)
		}
	}
}
