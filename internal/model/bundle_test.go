package model_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

var shipped = []string{"prod-gbt", "canary-rule", "dev-logreg"}

func loadShipped(t testing.TB, name string) (*model.Bundle, []byte) {
	t.Helper()
	data, err := titanic.FS.ReadFile("models/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.LoadBytes(name+".json", data)
	if err != nil {
		t.Fatal(err)
	}
	return b, data
}

// passenger returns the reference row with the given PassengerId.
func passenger(t *testing.T, b *model.Bundle, id string) schema.Input {
	t.Helper()
	s := b.Profile.ReferenceSample
	for i, v := range s.IDs {
		if v == id {
			return s.Rows[i]
		}
	}
	t.Fatalf("no passenger %s in the reference sample", id)
	return nil
}

func TestBundle_ShippedBundlesImplementModel(t *testing.T) {
	for _, name := range shipped {
		b, data := loadShipped(t, name)
		var m model.Model = b
		info := m.Info()
		if info.Name != name || info.Version == "" || !strings.HasPrefix(info.Artifact, "sha256:") || len(info.Artifact) != 71 {
			t.Errorf("%s: Info() = %+v", name, info)
		}
		b2, _ := model.LoadBytes("again", data)
		if b2.Artifact() != b.Artifact() {
			t.Errorf("%s: artifact id not stable", name)
		}
		if got := len(b.Profile.ReferenceSample.Rows); got != 891 {
			t.Errorf("%s: reference sample has %d rows, want all 891", name, got)
		}
	}
}

// TestBundle_ReproducesOriginalTransformsOnNamedPassengers checks the
// original service's transformations on passengers of the training file.
func TestBundle_ReproducesOriginalTransformsOnNamedPassengers(t *testing.T) {
	b, _ := loadShipped(t, "prod-gbt")
	ctx := context.Background()
	step := func(out string) model.Step {
		for _, s := range b.Pipeline.Steps {
			if s.Output == out {
				return s
			}
		}
		t.Fatalf("no step %s", out)
		return model.Step{}
	}
	age := step("age")
	regression := func(f model.Features) float64 {
		v := *age.Intercept
		for i, p := range age.Predictors {
			x, _ := f.Get(p)
			v += age.Coef[i] * x
		}
		return v
	}
	tests := []struct {
		id, who string
		want    map[string]float64
		ageReg  bool
	}{
		// 1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S
		{"1", "Braund, Mr. Owen Harris", map[string]float64{"pclass": 3, "gender": 1, "age": 22, "sibsp": 1, "parch": 0, "fare": 7.25, "embarked": 1, "age_missing": 0, "family_size": 2}, false},
		// 2,1,1,"Cumings, Mrs. John Bradley",female,38,1,0,PC 17599,71.2833,C85,C
		{"2", "Cumings, Mrs. John Bradley", map[string]float64{"pclass": 1, "gender": 0, "age": 38, "sibsp": 1, "parch": 0, "fare": 71.2833, "embarked": 2, "age_missing": 0}, false},
		// 6,0,3,"Moran, Mr. James",male,,0,0,330877,8.4583,,Q — age from the regression
		{"6", "Moran, Mr. James", map[string]float64{"pclass": 3, "gender": 1, "sibsp": 0, "parch": 0, "fare": 8.4583, "embarked": 3, "age_missing": 1, "family_size": 1}, true},
		// 62,1,1,"Icard, Miss. Amelie",female,38,0,0,113572,80,B28, — embarked missing → mode S = 1
		{"62", "Icard, Miss. Amelie", map[string]float64{"pclass": 1, "gender": 0, "age": 38, "fare": 80, "embarked": 1}, false},
	}
	for _, tt := range tests {
		p, err := b.Predict(ctx, passenger(t, b, tt.id))
		if err != nil {
			t.Fatalf("%s: %v", tt.who, err)
		}
		for name, want := range tt.want {
			if got, _ := p.Features.Get(name); got != want {
				t.Errorf("%s: %s = %v, want %v", tt.who, name, got, want)
			}
		}
		if tt.ageReg {
			got, _ := p.Features.Get("age")
			if want := regression(p.Features); math.Abs(got-want) > 1e-9 || got < 20 || got > 40 {
				t.Errorf("%s: imputed age %v, want regression value %v (a plausible adult age)", tt.who, got, want)
			}
		}
	}
	// fare -1 → the most common training fare.
	in := schema.Input{"pclass": 3.0, "sex": "male", "age": 30.0, "sibsp": 0.0, "parch": 0.0, "fare": -1.0, "embarked": "S"}
	p, err := b.Predict(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Features.Get("fare"); got != 8.05 {
		t.Errorf("fare -1 imputed as %v, want 8.05", got)
	}
	if p.Label != b.Labels.Words[p.Class] {
		t.Errorf("label %q for class %d", p.Label, p.Class)
	}
}

// TestBundle_AgeModelIsOLSOnTheOtherFeatures refits the original's age model
// independently (normal equations on the rows with a known age) and compares.
func TestBundle_AgeModelIsOLSOnTheOtherFeatures(t *testing.T) {
	b, _ := loadShipped(t, "prod-gbt")
	var age model.Step
	for _, s := range b.Pipeline.Steps {
		if s.Output == "age" {
			age = s
		}
	}
	code := map[string]float64{"S": 1, "C": 2, "Q": 3}
	var X, y []float64
	n := 0
	for _, r := range b.Profile.ReferenceSample.Rows {
		a, ok := r.Float("age")
		if !ok {
			continue
		}
		sex, _ := r.String("sex")
		emb, ok := r.String("embarked")
		e := 1.0 // training mode S
		if ok {
			e = code[emb]
		}
		g := 0.0
		if sex == "male" {
			g = 1
		}
		pc, _ := r.Float("pclass")
		sb, _ := r.Float("sibsp")
		pa, _ := r.Float("parch")
		fa, _ := r.Float("fare")
		X = append(X, 1, pc, g, sb, pa, fa, e)
		y = append(y, a)
		n++
	}
	A := mat.NewDense(n, 7, X)
	var ata mat.Dense
	ata.Mul(A.T(), A)
	var aty mat.VecDense
	aty.MulVec(A.T(), mat.NewVecDense(n, y))
	var beta mat.VecDense
	if err := beta.SolveVec(&ata, &aty); err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(beta.AtVec(0) - *age.Intercept); d > 1e-6 {
		t.Errorf("intercept %v, independent fit %v", *age.Intercept, beta.AtVec(0))
	}
	for i, c := range age.Coef {
		if d := math.Abs(beta.AtVec(i+1) - c); d > 1e-6 {
			t.Errorf("coef %s = %v, independent fit %v", age.Predictors[i], c, beta.AtVec(i+1))
		}
	}
}

func TestBundle_SaveLoadGivesIdenticalPredictionsOnAllRows(t *testing.T) {
	ctx := context.Background()
	for _, name := range shipped {
		b, data := loadShipped(t, name)
		enc, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if string(enc) != string(data) {
			t.Errorf("%s: re-encoding a loaded bundle changes its bytes", name)
		}
		path := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
		b2, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range b.Profile.ReferenceSample.Rows {
			p1, err1 := b.Predict(ctx, row)
			p2, err2 := b2.Predict(ctx, row)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s row %d: %v %v", name, i, err1, err2)
			}
			if p1.Probability != p2.Probability || p1.Class != p2.Class || p1.Label != p2.Label {
				t.Fatalf("%s row %d: %+v != %+v", name, i, p1, p2)
			}
		}
	}
}

func TestLoadBytes_BadBundlesNameFileAndField(t *testing.T) {
	_, good := loadShipped(t, "prod-gbt")
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	steps := func(m map[string]any) []any { return m["pipeline"].(map[string]any)["steps"].([]any) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not json", []byte("{"), "not valid JSON"},
		{"unknown format version", mutate(func(m map[string]any) { m["format_version"] = 7 }), "format_version: unsupported version 7"},
		{"missing format version", mutate(func(m map[string]any) { delete(m, "format_version") }), "format_version: missing"},
		{"unknown algorithm", mutate(func(m map[string]any) { m["algorithm"] = "xgboost" }), `algorithm: unknown algorithm "xgboost"`},
		{"missing name", mutate(func(m map[string]any) { delete(m, "name") }), "name: missing"},
		{"missing pipeline", mutate(func(m map[string]any) { delete(m, "pipeline") }), "pipeline: missing"},
		{"step names unknown input", mutate(func(m map[string]any) { steps(m)[0].(map[string]any)["input"] = "deck" }), `pipeline.steps[0].input: unknown input "deck"`},
		{"unfitted step", mutate(func(m map[string]any) { delete(steps(m)[5].(map[string]any), "value") }), "pipeline.steps[5].value: missing"},
		{"missing model", mutate(func(m map[string]any) { delete(m, "model") }), "model: missing"},
		{"tree child out of range", mutate(func(m map[string]any) {
			m["model"].(map[string]any)["trees"].([]any)[3].(map[string]any)["left"].([]any)[0] = 999
		}), "model.trees[3].left[0]"},
		{"no label word", mutate(func(m map[string]any) { m["labels"].(map[string]any)["words"] = map[string]any{"1": "Survived"} }), "labels.words: no word for class 0"},
		{"unknown field", mutate(func(m map[string]any) { m["colour"] = "red" }), `unknown field "colour"`},
		{"wrong type", mutate(func(m map[string]any) { m["version"] = 3 }), "version: cannot hold a JSON number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := model.LoadBytes("models/bad.json", tt.data)
			if err == nil {
				t.Fatal("loaded a bad bundle")
			}
			if !errors.Is(err, model.ErrInvalidBundle) {
				t.Errorf("error does not wrap ErrInvalidBundle: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid model bundle models/bad.json: ") || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line naming the file and %q", msg, tt.want)
			}
		})
	}
	if _, err := model.Load(filepath.Join(t.TempDir(), "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("Load(absent) = %v", err)
	}
}

func TestBundle_PredictAllocatesOnce(t *testing.T) {
	ctx := context.Background()
	for _, name := range shipped {
		b, _ := loadShipped(t, name)
		in := b.Profile.ReferenceSample.Rows[5] // age missing
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := b.Predict(ctx, in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("%s: Predict allocates %v times, want ≤ 1", name, allocs)
		}
	}
}

func TestBundle_PredictIsSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	b, _ := loadShipped(t, "prod-gbt")
	rows := b.Profile.ReferenceSample.Rows
	want := make([]model.Prediction, len(rows))
	for i, r := range rows {
		want[i], _ = b.Predict(ctx, r)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := g; i < len(rows); i += 2 {
				p, err := b.Predict(ctx, rows[i])
				if err != nil || p.Probability != want[i].Probability || p.Features.Values[0] != want[i].Features.Values[0] {
					errs <- fmt.Errorf("row %d: %v %+v", i, err, p)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
