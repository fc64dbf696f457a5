package train

import (
	"io"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/builtin"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// TestCrossValidate_RefitsThePipelineInsideEachFold builds data where the
// mode of x over all rows (100) differs from its mode over the training
// folds of fold 0 (1). Held-out rows with x missing must be imputed with
// the training folds' mode, so the rule "x ≥ 50" does not fire for them.
func TestCrossValidate_RefitsThePipelineInsideEachFold(t *testing.T) {
	n := 120
	y := make([]int, n)
	for i := range y {
		y[i] = i % 2
	}
	const seed = 3
	fold := Folds(y, 2, seed)
	rows := make([]schema.Input, n)
	var missing0 []int
	k1 := 0
	for i := range rows {
		switch {
		case fold[i] == 0 && i%6 == 0:
			rows[i] = schema.Input{"x": nil}
			missing0 = append(missing0, i)
		case fold[i] == 0:
			rows[i] = schema.Input{"x": 100.0}
		default:
			// Fold 1: x = 1 five times, otherwise distinct values, so its
			// mode is 1 while the mode over all rows is 100.
			v := 1.0
			if k1 >= 5 {
				v = float64(1000 + k1)
			}
			k1++
			rows[i] = schema.Input{"x": v}
		}
	}
	spec := &model.Pipeline{
		Inputs: []model.InputField{{Name: "x", Type: schema.TypeNumber}},
		Steps:  []model.Step{{Op: model.OpImpute, Input: "x", Output: "x", Method: model.MethodMode}},
	}
	if err := spec.Compile(false); err != nil {
		t.Fatal(err)
	}
	// The leak would show: over all rows the mode is 100.
	all, err := spec.Fit(rows)
	if err != nil {
		t.Fatal(err)
	}
	if v := *all.Steps[0].Value; v != 100 {
		t.Fatalf("test data broken: mode over all rows %v, want 100", v)
	}
	hi, lo := 0.9, 0.1
	params, err := builtin.NewParams(builtin.AlgoRule, map[string]string{"default": "0.1"},
		[]builtin.Rule{{When: []builtin.Condition{{Feature: "x", Op: ">=", Value: 50}}, Probability: &hi}})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := crossValidate(spec, params, rows, y, fold, 2, seed, 0.5, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Expected fold-0 scores: observed rows p = 0.9, missing rows p = 0.1.
	var fy []int
	var fp []float64
	for i := range rows {
		if fold[i] != 0 {
			continue
		}
		p := hi
		if rows[i]["x"] == nil {
			p = lo
		}
		fy, fp = append(fy, y[i]), append(fp, p)
	}
	if want := Score(fy, fp, 0.5); cv.PerFold[0] != want {
		t.Errorf("fold 0 scores %+v, want %+v (pipeline fitted on the held-out rows?)", cv.PerFold[0], want)
	}
	if len(missing0) == 0 {
		t.Fatal("no missing rows in fold 0")
	}
}
