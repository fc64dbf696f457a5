package analysis

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// testdata/scipy_vectors.json is produced by testdata/gen_scipy_vectors.py
// with scipy 1.10.1 / scikit-learn 1.2.1 / statsmodels 0.13.5, the versions
// of the shared vectors. It covers every branch of the Kolmogorov
// distribution and KS on random samples up to 20,000 values.
type scipyVectors struct {
	Kstwo []struct {
		N   int     `json:"n"`
		X   float64 `json:"x"`
		SF  float64 `json:"sf"`
		CDF float64 `json:"cdf"`
	} `json:"kstwo"`
	Smirnov []struct {
		N  int     `json:"n"`
		X  float64 `json:"x"`
		SF float64 `json:"sf"`
	} `json:"smirnov"`
	KS []struct {
		Reference []float64 `json:"reference"`
		Current   []float64 `json:"current"`
		Statistic float64   `json:"statistic"`
		PValue    float64   `json:"pvalue"`
	} `json:"ks_2samp"`
	McNemar []struct {
		B, C      int
		Statistic float64 `json:"statistic"`
		PValue    float64 `json:"pvalue"`
	} `json:"mcnemar"`
	Classification []struct {
		YTrue     []int     `json:"y_true"`
		YScore    []float64 `json:"y_score"`
		Threshold float64   `json:"threshold"`
		Accuracy  float64   `json:"accuracy"`
		Precision float64   `json:"precision"`
		Recall    float64   `json:"recall"`
		F1        float64   `json:"f1"`
		ROCAUC    float64   `json:"roc_auc"`
		LogLoss   float64   `json:"log_loss"`
		Brier     float64   `json:"brier"`
	} `json:"classification"`
	ChiSquare []struct {
		FObs      []float64 `json:"f_obs"`
		FExp      []float64 `json:"f_exp"`
		Statistic float64   `json:"statistic"`
		PValue    float64   `json:"pvalue"`
	} `json:"chisquare"`
}

func loadScipyVectors(t *testing.T) scipyVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/scipy_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v scipyVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// relClose checks |got − want| ≤ tol·max(|want|, tiny) — a relative check that
// still accepts exact zeros.
func relClose(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	d := got - want
	if d < 0 {
		d = -d
	}
	scale := want
	if scale < 0 {
		scale = -scale
	}
	if scale < 1e-300 {
		scale = 1e-300
	}
	if !(d <= tol*scale) {
		t.Errorf("%s = %.17g, want %.17g (rel diff %.3g)", what, got, want, d/scale)
	}
}

func TestKolmogorovSF_MatchesScipyKstwoOnEveryBranch(t *testing.T) {
	v := loadScipyVectors(t)
	if len(v.Kstwo) < 100 {
		t.Fatalf("only %d kstwo vectors", len(v.Kstwo))
	}
	for _, c := range v.Kstwo {
		name := fmt.Sprintf("n=%d,x=%.6g", c.N, c.X)
		assertClose(t, name+" sf", KolmogorovSF(c.X, c.N), c.SF, vectorTol)
		assertClose(t, name+" cdf", KolmogorovCDF(c.X, c.N), c.CDF, vectorTol)
		if c.SF > 1e-300 && c.SF < 0.5 { // tails: relative accuracy
			relClose(t, name+" sf (relative)", KolmogorovSF(c.X, c.N), c.SF, 1e-9)
		}
	}
}

func TestSmirnovSF_MatchesScipy(t *testing.T) {
	for _, c := range loadScipyVectors(t).Smirnov {
		got := SmirnovSF(c.N, c.X)
		assertClose(t, fmt.Sprintf("smirnov(%d, %g)", c.N, c.X), got, c.SF, vectorTol)
		if c.SF > 1e-300 {
			relClose(t, fmt.Sprintf("smirnov(%d, %g) relative", c.N, c.X), got, c.SF, 1e-9)
		}
	}
}

func TestKS2Samp_MatchesScipyOnRandomSamples(t *testing.T) {
	for _, c := range loadScipyVectors(t).KS {
		name := fmt.Sprintf("n1=%d,n2=%d", len(c.Reference), len(c.Current))
		t.Run(name, func(t *testing.T) {
			r, err := KS2Samp(c.Reference, c.Current, KSAuto)
			mustOK(t, err)
			wantMode := KSExact
			if max(len(c.Reference), len(c.Current)) > KSMaxExactN {
				wantMode = KSAsymp
			}
			if r.Mode != wantMode {
				t.Errorf("mode = %s, want %s", r.Mode, wantMode)
			}
			assertClose(t, "statistic", r.Statistic, c.Statistic, vectorTol)
			assertClose(t, "pvalue", r.PValue, c.PValue, vectorTol)
			relClose(t, "pvalue (relative)", r.PValue, c.PValue, 1e-9)
		})
	}
}

func TestMcNemarExact_MatchesStatsmodels(t *testing.T) {
	for _, c := range loadScipyVectors(t).McNemar {
		r := McNemarExact(c.B, c.C)
		name := fmt.Sprintf("b=%d,c=%d", c.B, c.C)
		assertClose(t, name+" statistic", r.Statistic, c.Statistic, 0)
		relClose(t, name+" pvalue", r.PValue, c.PValue, 1e-9)
	}
}

func TestClassify_MatchesScikitLearnWithTiesAndClipping(t *testing.T) {
	for _, c := range loadScipyVectors(t).Classification {
		m, err := Classify(c.YTrue, c.YScore, c.Threshold)
		mustOK(t, err)
		for name, pair := range map[string][2]float64{
			"accuracy": {m.Accuracy, c.Accuracy}, "precision": {m.Precision, c.Precision},
			"recall": {m.Recall, c.Recall}, "f1": {m.F1, c.F1}, "roc_auc": {m.ROCAUC, c.ROCAUC},
			"log_loss": {m.LogLoss, c.LogLoss}, "brier": {m.Brier, c.Brier},
		} {
			assertClose(t, fmt.Sprintf("n=%d %s", len(c.YTrue), name), pair[0], pair[1], vectorTol)
		}
	}
}

func TestChiSquare_MatchesScipy(t *testing.T) {
	for _, c := range loadScipyVectors(t).ChiSquare {
		r, err := ChiSquare(c.FObs, c.FExp)
		mustOK(t, err)
		relClose(t, "statistic", r.Statistic, c.Statistic, 1e-12)
		relClose(t, "pvalue", r.PValue, c.PValue, 1e-12)
	}
}
