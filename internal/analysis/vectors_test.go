package analysis

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// The shared reference vectors were computed with scipy 1.10.1 and
// scikit-learn 1.2.1 by the project lead; every case must be reproduced to
// 1e-9.
const vectorTol = 1e-9

type vectorFile struct {
	GeneratedWith string   `json:"generated_with"`
	Vectors       []vector `json:"vectors"`
}

type vector struct {
	Name     string                     `json:"name"`
	Kind     string                     `json:"kind"`
	Inputs   map[string]json.RawMessage `json:"inputs"`
	Expected map[string]float64         `json:"expected"`
}

// readShared reads a file of the shared folder (testenv.SharedFile: a
// missing file fails under CI=true and skips otherwise).
func readShared(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.SharedFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (v vector) floats(t *testing.T, key string) []float64 {
	t.Helper()
	var out []float64
	if err := json.Unmarshal(v.Inputs[key], &out); err != nil {
		t.Fatalf("input %s: %v", key, err)
	}
	return out
}

func (v vector) ints(t *testing.T, key string) []int {
	t.Helper()
	var out []int
	if err := json.Unmarshal(v.Inputs[key], &out); err != nil {
		t.Fatalf("input %s: %v", key, err)
	}
	return out
}

func (v vector) float(t *testing.T, key string) float64 {
	t.Helper()
	var out float64
	if err := json.Unmarshal(v.Inputs[key], &out); err != nil {
		t.Fatalf("input %s: %v", key, err)
	}
	return out
}

func (v vector) has(key string) bool {
	raw, ok := v.Inputs[key]
	return ok && string(raw) != "null"
}

// assertClose fails unless got is within tol of want, absolutely or
// relatively (whichever is looser).
func assertClose(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsInf(want, 0) && got == want {
		return
	}
	diff := math.Abs(got - want)
	if !(diff <= tol || diff <= tol*math.Abs(want)) {
		t.Errorf("%s = %.17g, want %.17g (diff %.3g)", what, got, want, diff)
	}
}

func TestStats_ReproducesSharedVectors(t *testing.T) {
	var vf vectorFile
	if err := json.Unmarshal(readShared(t, "testdata/stats_vectors.json"), &vf); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(vf.Vectors) == 0 {
		t.Fatal("no vectors in the shared file")
	}
	kinds := map[string]int{}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			kinds[v.Kind]++
			checkVector(t, v)
		})
	}
	for _, k := range []string{"psi", "ks_2samp", "chisquare", "chi2_contingency", "jensenshannon", "kl_divergence", "wasserstein", "wasserstein_normed", "hellinger", "ztest_proportions", "classification"} {
		if kinds[k] == 0 {
			t.Errorf("no vector of kind %s was checked", k)
		}
	}
}

func checkVector(t *testing.T, v vector) {
	exp := v.Expected
	switch v.Kind {
	case "psi":
		got, err := PSI(v.floats(t, "reference"), v.floats(t, "current"))
		mustOK(t, err)
		assertClose(t, "psi", got, exp["psi"], vectorTol)
	case "ks_2samp":
		var mode KSMode
		if err := json.Unmarshal(v.Inputs["method"], &mode); err != nil {
			t.Fatal(err)
		}
		r, err := KS2Samp(v.floats(t, "reference"), v.floats(t, "current"), mode)
		mustOK(t, err)
		if r.Mode != mode {
			t.Errorf("mode = %s, want %s", r.Mode, mode)
		}
		assertClose(t, "statistic", r.Statistic, exp["statistic"], vectorTol)
		assertClose(t, "pvalue", r.PValue, exp["pvalue"], vectorTol)
	case "chisquare":
		var r TestResult
		var err error
		if v.has("f_obs") {
			r, err = ChiSquare(v.floats(t, "f_obs"), nil)
		} else {
			r, err = DriftChiSquare(v.floats(t, "reference_counts"), v.floats(t, "current_counts"))
		}
		mustOK(t, err)
		assertClose(t, "statistic", r.Statistic, exp["statistic"], vectorTol)
		assertClose(t, "pvalue", r.PValue, exp["pvalue"], vectorTol)
	case "chi2_contingency":
		var table [][]float64
		if err := json.Unmarshal(v.Inputs["table"], &table); err != nil {
			t.Fatal(err)
		}
		r, err := Chi2Contingency(table, true)
		mustOK(t, err)
		assertClose(t, "statistic", r.Statistic, exp["statistic"], vectorTol)
		assertClose(t, "pvalue", r.PValue, exp["pvalue"], vectorTol)
		if float64(r.DOF) != exp["dof"] {
			t.Errorf("dof = %d, want %v", r.DOF, exp["dof"])
		}
	case "jensenshannon":
		base := 0.0
		if v.has("base") {
			base = v.float(t, "base")
		}
		got, err := JensenShannon(v.floats(t, "p"), v.floats(t, "q"), base)
		mustOK(t, err)
		assertClose(t, "distance", got, exp["distance"], vectorTol)
	case "kl_divergence":
		got, err := KLDivergence(v.floats(t, "p"), v.floats(t, "q"))
		mustOK(t, err)
		assertClose(t, "kl", got, exp["kl"], vectorTol)
	case "hellinger":
		got, err := Hellinger(v.floats(t, "p"), v.floats(t, "q"))
		mustOK(t, err)
		assertClose(t, "distance", got, exp["distance"], vectorTol)
	case "wasserstein":
		var uw, vw []float64
		if v.has("u_weights") {
			uw, vw = v.floats(t, "u_weights"), v.floats(t, "v_weights")
		}
		got, err := Wasserstein1Weighted(v.floats(t, "u"), v.floats(t, "v"), uw, vw)
		mustOK(t, err)
		assertClose(t, "distance", got, exp["distance"], vectorTol)
	case "wasserstein_normed":
		got, err := WassersteinNormed(v.floats(t, "reference"), v.floats(t, "current"))
		mustOK(t, err)
		assertClose(t, "distance", got, exp["distance"], vectorTol)
	case "ztest_proportions":
		r, err := ZTestProportions(v.float(t, "x1"), v.float(t, "n1"), v.float(t, "x2"), v.float(t, "n2"))
		mustOK(t, err)
		assertClose(t, "z", r.Statistic, exp["z"], vectorTol)
		assertClose(t, "pvalue", r.PValue, exp["pvalue"], vectorTol)
	case "classification":
		m, err := Classify(v.ints(t, "y_true"), v.floats(t, "y_score"), v.float(t, "threshold"))
		mustOK(t, err)
		for name, got := range map[string]float64{
			"accuracy": m.Accuracy, "precision": m.Precision, "recall": m.Recall, "f1": m.F1,
			"roc_auc": m.ROCAUC, "log_loss": m.LogLoss, "brier": m.Brier,
		} {
			want, ok := exp[name]
			if !ok {
				t.Errorf("vector lacks expected %s", name)
				continue
			}
			assertClose(t, name, got, want, vectorTol)
		}
	default:
		t.Fatalf("unknown vector kind %q: add it to checkVector", v.Kind)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
