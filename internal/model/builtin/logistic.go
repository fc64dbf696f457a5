package builtin

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// LogisticParams configure L2-regularised logistic regression. The objective
// minimised is Σ log-loss + (L2/2)·‖w‖² over standardised features; the
// intercept is not penalised. It is solved by Newton's method (exact, so the
// fit is deterministic) until the largest step is below Tol.
type LogisticParams struct {
	L2      float64 `json:"l2"`
	MaxIter int     `json:"max_iter"`
	Tol     float64 `json:"tol"`
}

// DefaultLogisticParams returns the defaults (L2 1, 100 iterations, tol 1e-10).
func DefaultLogisticParams() LogisticParams {
	return LogisticParams{L2: 1, MaxIter: 100, Tol: 1e-10}
}

// Algorithm implements Params.
func (*LogisticParams) Algorithm() string { return AlgoLogistic }

func (p *LogisticParams) validate() error {
	switch {
	case p.L2 < 0:
		return fmt.Errorf("%w l2=%g: must be ≥ 0", ErrBadParam, p.L2)
	case p.MaxIter < 1:
		return fmt.Errorf("%w max_iter=%d: must be ≥ 1", ErrBadParam, p.MaxIter)
	case p.Tol <= 0:
		return fmt.Errorf("%w tol=%g: must be > 0", ErrBadParam, p.Tol)
	}
	return nil
}

// Logistic is a fitted logistic regression: p = σ(Intercept + Σ Coef_j·(x_j −
// Mean_j)/Scale_j). Coef are on the standardised scale.
type Logistic struct {
	Features  []string  `json:"features"`
	Mean      []float64 `json:"mean"`
	Scale     []float64 `json:"scale"`
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
	// Iterations is the number of Newton steps the fit took.
	Iterations int `json:"iterations"`
}

// FitLogistic fits p on X, y. Features with zero variance get scale 1.
func FitLogistic(p LogisticParams, features []string, X [][]float64, y []int) (*Logistic, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	n, d := len(X), len(features)
	m := &Logistic{
		Features: append([]string(nil), features...),
		Mean:     make([]float64, d),
		Scale:    make([]float64, d),
		Coef:     make([]float64, d),
	}
	for j := range d {
		var s float64
		for i := range n {
			s += X[i][j]
		}
		mu := s / float64(n)
		var v float64
		for i := range n {
			v += (X[i][j] - mu) * (X[i][j] - mu)
		}
		sd := math.Sqrt(v / float64(n))
		if sd == 0 {
			sd = 1
		}
		m.Mean[j], m.Scale[j] = mu, sd
	}
	// Z has a leading column of ones for the intercept.
	Z := make([][]float64, n)
	for i := range n {
		z := make([]float64, d+1)
		z[0] = 1
		for j := range d {
			z[j+1] = (X[i][j] - m.Mean[j]) / m.Scale[j]
		}
		Z[i] = z
	}
	beta := make([]float64, d+1)
	H := mat.NewSymDense(d+1, nil)
	g := mat.NewVecDense(d+1, nil)
	var step mat.VecDense
	var chol mat.Cholesky
	for it := 1; it <= p.MaxIter; it++ {
		H.Zero()
		g.Zero()
		for i := range n {
			var eta float64
			for j, zj := range Z[i] {
				eta += beta[j] * zj
			}
			pr := sigmoid(eta)
			w := pr * (1 - pr)
			r := pr - float64(y[i])
			for a, za := range Z[i] {
				g.SetVec(a, g.AtVec(a)+r*za)
				for b := a; b < d+1; b++ {
					H.SetSym(a, b, H.At(a, b)+w*za*Z[i][b])
				}
			}
		}
		for j := 1; j <= d; j++ {
			g.SetVec(j, g.AtVec(j)+p.L2*beta[j])
			H.SetSym(j, j, H.At(j, j)+p.L2)
		}
		// A tiny ridge keeps separable data (L2 = 0) solvable.
		for j := range d + 1 {
			H.SetSym(j, j, H.At(j, j)+1e-12)
		}
		if ok := chol.Factorize(H); !ok {
			return nil, fmt.Errorf("logistic: Hessian not positive definite at iteration %d (collinear features with l2=0?)", it)
		}
		if err := chol.SolveVecTo(&step, g); err != nil {
			return nil, fmt.Errorf("logistic: Newton step: %w", err)
		}
		var maxStep float64
		for j := range beta {
			beta[j] -= step.AtVec(j)
			maxStep = math.Max(maxStep, math.Abs(step.AtVec(j)))
		}
		m.Iterations = it
		if maxStep < p.Tol {
			break
		}
	}
	for j, b := range beta {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return nil, fmt.Errorf("logistic: coefficient %d diverged (separable data? raise l2)", j)
		}
	}
	m.Intercept = beta[0]
	copy(m.Coef, beta[1:])
	return m, nil
}

func (m *Logistic) bind(features []string) error {
	d := len(features)
	if len(m.Features) != d {
		return fieldErr("features", "has %d names but the pipeline produces %d features", len(m.Features), d)
	}
	for j, f := range m.Features {
		if f != features[j] {
			return fieldErr(fmt.Sprintf("features[%d]", j), "is %q but the pipeline's feature %d is %q", f, j, features[j])
		}
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"mean", m.Mean}, {"scale", m.Scale}, {"coef", m.Coef}} {
		if len(c.v) != d {
			return fieldErr(c.name, "has %d values for %d features", len(c.v), d)
		}
	}
	for j, s := range m.Scale {
		if !(s > 0) {
			return fieldErr(fmt.Sprintf("scale[%d]", j), "must be > 0")
		}
	}
	return nil
}

// Prob implements Model.
func (m *Logistic) Prob(x []float64) float64 {
	z := m.Intercept
	for j, c := range m.Coef {
		z += c * (x[j] - m.Mean[j]) / m.Scale[j]
	}
	return sigmoid(z)
}
