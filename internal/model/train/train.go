// Package train fits a feature pipeline and a builtin algorithm on a
// dataset, cross-validates them, profiles the training data and assembles a
// model bundle. Given the same data, spec and seed it produces the same
// bundle bytes.
package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/builtin"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Spec declares what to train: identity, algorithm, hyperparameters, the
// feature pipeline (unfitted) and, for the rule algorithm, the rules. It is
// read from a YAML training spec; command-line flags override it.
type Spec struct {
	Name      string            `yaml:"name"`
	Version   string            `yaml:"version"`
	Algorithm string            `yaml:"algorithm"`
	Params    map[string]string `yaml:"params"`
	// Pipeline steps; Inputs default to every schema field. Without a
	// pipeline, DefaultPipeline is used.
	Pipeline *model.Pipeline `yaml:"pipeline"`
	Rules    []builtin.Rule  `yaml:"rules"`
}

// LoadSpec reads a YAML training spec strictly (unknown keys are errors).
func LoadSpec(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("read spec: %w", err)
	}
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("read spec %s: %w", path, err)
	}
	return s, nil
}

// Options for Run.
type Options struct {
	Spec Spec
	Data *dataset.Dataset
	// Positive is the positive class; Words name the two classes.
	Positive int
	Words    map[int]string
	// Seed drives fold assignment, row subsampling and reference sampling.
	Seed uint64
	// Folds for cross-validation (0 or 1: none).
	Folds int
	// Unshuffled assigns folds in file order within each class, as
	// scikit-learn's StratifiedKFold(shuffle=False) — cross_val_score's
	// default — for comparisons with scikit-learn figures. Default: shuffled
	// with Seed.
	Unshuffled bool
	// CreatedAt is stored as is (RFC 3339 or empty); never the wall clock.
	CreatedAt string
	// Progress receives one line per stage (nil: discarded).
	Progress io.Writer
	// Holdout and HoldoutRows are recorded in the bundle's training data
	// when Data is what remains of a file after a holdout (see Holdout).
	Holdout     float64
	HoldoutRows int
}

// Result is a trained bundle and its file bytes.
type Result struct {
	Bundle *model.Bundle
	Bytes  []byte
}

// DefaultPipeline derives a generic pipeline from the schema: numbers and
// integers pass through with median imputation, strings and booleans are
// coded 1…k in their declared Allowed order with missing and unknown values
// set to the training mode. A field of another kind is an error.
func DefaultPipeline(fields []schema.Field) (*model.Pipeline, error) {
	p := &model.Pipeline{}
	for _, f := range fields {
		switch f.Type {
		case schema.TypeInteger, schema.TypeNumber:
			p.Steps = append(p.Steps, model.Step{Op: model.OpImpute, Input: f.Name, Output: f.Name, Method: model.MethodMedian})
		case schema.TypeBoolean:
			p.Steps = append(p.Steps, model.Step{Op: model.OpCategoryMap, Input: f.Name, Output: f.Name,
				Map: map[string]float64{"false": 0, "true": 1}, Method: model.MethodMode})
		case schema.TypeString:
			if len(f.Allowed) == 0 {
				return nil, fmt.Errorf("default pipeline: string field %q has no allowed values to code; give a pipeline in the spec", f.Name)
			}
			m := map[string]float64{}
			for i, a := range f.Allowed {
				m[fmt.Sprint(a)] = float64(i + 1)
			}
			p.Steps = append(p.Steps, model.Step{Op: model.OpCategoryMap, Input: f.Name, Output: f.Name, Map: m, Method: model.MethodMode})
		}
	}
	return p, nil
}

// Run trains, cross-validates and assembles the bundle.
func Run(o Options) (*Result, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	s := o.Spec
	switch {
	case s.Name == "":
		return nil, errors.New("train: name is required")
	case s.Version == "":
		return nil, errors.New("train: version is required")
	case o.Data == nil || !o.Data.HasLabels():
		return nil, errors.New("train: the data has no label column")
	}
	if o.CreatedAt != "" {
		if _, err := time.Parse(time.RFC3339, o.CreatedAt); err != nil {
			return nil, fmt.Errorf("train: created_at %q is not RFC 3339", o.CreatedAt)
		}
	}
	labels, err := makeLabels(o.Positive, o.Words)
	if err != nil {
		return nil, err
	}
	y := make([]int, len(o.Data.Labels))
	for i, l := range o.Data.Labels {
		if l == labels.Positive {
			y[i] = 1
		}
	}
	spec, err := pipelineSpec(s.Pipeline, o.Data.Fields)
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for k, v := range s.Params {
		kv[k] = v
	}
	if _, ok := kv["seed"]; !ok && s.Algorithm == builtin.AlgoGBT {
		kv["seed"] = fmt.Sprint(o.Seed)
	}
	params, err := builtin.NewParams(s.Algorithm, kv, s.Rules)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	rows := o.Data.Rows

	var cv *model.CVMetrics
	if o.Folds > 1 {
		if o.Folds > len(rows) {
			return nil, fmt.Errorf("train: %d folds for %d rows", o.Folds, len(rows))
		}
		fold := Folds(y, o.Folds, o.Seed)
		if o.Unshuffled {
			fold = OrderedFolds(y, o.Folds)
		}
		cv, err = crossValidate(spec, params, rows, y, fold, o.Folds, o.Seed, labels.Threshold, progress)
		if err != nil {
			return nil, err
		}
		cv.Unshuffled = o.Unshuffled
		fmt.Fprintf(progress, "cv %d-fold: accuracy %s ± %s, auc %s, log-loss %s\n", cv.Folds,
			model.FormatFloat(cv.Mean.Accuracy), model.FormatFloat(cv.Std.Accuracy),
			model.FormatFloat(cv.Mean.AUC), model.FormatFloat(cv.Mean.LogLoss))
	}
	fmt.Fprintf(progress, "fitting %s on all %d rows\n", s.Algorithm, len(rows))
	pipe, X, fitted, err := fit(spec, params, rows, y)
	if err != nil {
		return nil, err
	}
	probs := make([]float64, len(X))
	for i, x := range X {
		probs[i] = fitted.Prob(x)
	}
	paramsJSON, err := marshal(params)
	if err != nil {
		return nil, fmt.Errorf("train: encode params: %w", err)
	}
	modelJSON, err := marshal(fitted)
	if err != nil {
		return nil, fmt.Errorf("train: encode model: %w", err)
	}
	b := &model.Bundle{
		FormatVersion: model.FormatVersion,
		Name:          s.Name,
		Version:       s.Version,
		Algorithm:     s.Algorithm,
		CreatedAt:     o.CreatedAt,
		Labels:        labels,
		Pipeline:      pipe,
		Params:        paramsJSON,
		Model:         modelJSON,
		Metrics:       model.Metrics{CV: cv, Train: Score(y, probs, labels.Threshold)},
		TrainingData: model.TrainingData{
			File: o.Data.Base(), SHA256: o.Data.SHA256, Rows: len(rows), Seed: o.Seed,
			Holdout: o.Holdout, HoldoutRows: o.HoldoutRows,
			Fingerprint: model.NewRowFingerprint(inputNames(pipe.Inputs), rows),
		},
		Profile: model.NewProfile(model.ProfileData{
			Inputs: pipe.Inputs, Rows: rows, IDs: o.Data.IDs, Labels: o.Data.Labels,
			Positive: labels.Positive, Features: pipe.Features(), X: X, Probs: probs, Seed: o.Seed,
		}),
	}
	data, err := b.Encode()
	if err != nil {
		return nil, err
	}
	loaded, err := model.LoadBytes(s.Name, data)
	if err != nil {
		return nil, fmt.Errorf("train: the bundle does not load back: %w", err)
	}
	return &Result{Bundle: loaded, Bytes: data}, nil
}

func makeLabels(positive int, words map[int]string) (model.Labels, error) {
	if len(words) != 2 {
		return model.Labels{}, fmt.Errorf("train: want exactly two classes in the label words, have %d", len(words))
	}
	if words[positive] == "" {
		return model.Labels{}, fmt.Errorf("train: the positive class %d has no label word", positive)
	}
	l := model.Labels{Positive: positive, Threshold: 0.5, Words: words}
	for k := range words {
		if k != positive {
			l.Negative = k
		}
	}
	return l, nil
}

// pipelineSpec fills the pipeline's inputs from the schema and checks it.
func pipelineSpec(p *model.Pipeline, fields []schema.Field) (*model.Pipeline, error) {
	var err error
	if p == nil {
		if p, err = DefaultPipeline(fields); err != nil {
			return nil, err
		}
	}
	spec := *p
	if len(spec.Inputs) == 0 {
		for _, f := range fields {
			spec.Inputs = append(spec.Inputs, model.InputField{Name: f.Name, Type: f.Type})
		}
	}
	if err := spec.Compile(false); err != nil {
		return nil, fmt.Errorf("train: pipeline: %w", err)
	}
	return &spec, nil
}

// fit fits the pipeline, transforms the rows and fits the algorithm.
func fit(spec *model.Pipeline, params builtin.Params, rows []schema.Input, y []int) (*model.Pipeline, [][]float64, builtin.Model, error) {
	pipe, err := spec.Fit(rows)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("train: %w", err)
	}
	X, err := Transform(pipe, rows)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := builtin.Fit(params, pipe.Features(), X, y)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("train: %w", err)
	}
	return pipe, X, m, nil
}

// Transform runs a fitted pipeline over rows (the serving code path).
func Transform(p *model.Pipeline, rows []schema.Input) ([][]float64, error) {
	X := make([][]float64, len(rows))
	for i, r := range rows {
		f, err := p.Transform(r)
		if err != nil {
			return nil, fmt.Errorf("transform row %d: %w", i+1, err)
		}
		X[i] = f.Values
	}
	return X, nil
}

// Folds assigns each row a fold in [0, k), stratified by label: each class's
// rows are shuffled with seed and dealt round-robin.
func Folds(y []int, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0xf01d))
	fold := make([]int, len(y))
	next := 0
	for _, class := range []int{1, 0} {
		var idx []int
		for i, v := range y {
			if v == class {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			fold[i] = next % k
			next++
		}
	}
	return fold
}

// Holdout picks a stratified holdout of about frac of the rows, shuffled
// with seed: rows with the same key (model.RowHash of their inputs) go to
// the same side, so no held-out input is also a training input. Groups are
// taken in shuffled order while they fit every class's quota (frac of its
// rows, rounded), so each class is held out in its share, give or take a
// group. keys nil: every row is its own group. held[i] is true for the
// rows kept out of training.
func Holdout(y []int, keys []uint64, frac float64, seed uint64) []bool {
	rng := rand.New(rand.NewPCG(seed, 0x401d))
	groupOf := map[uint64]int{}
	var groups [][]int
	for i := range y {
		k := uint64(i)
		if keys != nil {
			k = keys[i]
		}
		g, ok := groupOf[k]
		if !ok {
			g = len(groups)
			groupOf[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	quota, taken := map[int]int{}, map[int]int{}
	for _, v := range y {
		quota[v]++
	}
	for c, n := range quota {
		quota[c] = int(math.Round(frac * float64(n)))
	}
	rng.Shuffle(len(groups), func(a, b int) { groups[a], groups[b] = groups[b], groups[a] })
	held := make([]bool, len(y))
	for _, g := range groups {
		need := map[int]int{}
		for _, i := range g {
			need[y[i]]++
		}
		fits := true
		for c, n := range need {
			fits = fits && taken[c]+n <= quota[c]
		}
		if !fits {
			continue
		}
		for c, n := range need {
			taken[c] += n
		}
		for _, i := range g {
			held[i] = true
		}
	}
	return held
}

// inputNames are the names of a pipeline's raw inputs, in order.
func inputNames(in []model.InputField) []string {
	out := make([]string, len(in))
	for i, f := range in {
		out[i] = f.Name
	}
	return out
}

// OrderedFolds assigns folds as scikit-learn's StratifiedKFold without
// shuffling: fold i gets the i-th share of each class's rows, taken in file
// order, with the sizes scikit-learn computes (the class counts of
// sorted(y)[i::k]).
func OrderedFolds(y []int, k int) []int {
	var n [2]int
	for _, v := range y {
		n[v]++
	}
	// sorted(y) is n[0] zeros then n[1] ones; fold i takes every k-th from i.
	var alloc [][2]int
	for i := range k {
		var a [2]int
		for j := i; j < len(y); j += k {
			if j < n[0] {
				a[0]++
			} else {
				a[1]++
			}
		}
		alloc = append(alloc, a)
	}
	fold := make([]int, len(y))
	for class := range 2 {
		f, used := 0, 0
		for i, v := range y {
			if v != class {
				continue
			}
			for used == alloc[f][class] {
				f, used = f+1, 0
			}
			fold[i] = f
			used++
		}
	}
	return fold
}

// crossValidate refits pipeline and model inside every fold and scores the
// held-out rows.
func crossValidate(spec *model.Pipeline, params builtin.Params, rows []schema.Input, y []int, fold []int, k int, seed uint64, threshold float64, progress io.Writer) (*model.CVMetrics, error) {
	oof := make([]float64, len(rows))
	cv := &model.CVMetrics{Folds: k, Seed: seed}
	for _, f := range fold {
		if f < 0 || f >= k {
			return nil, fmt.Errorf("train: fold %d outside [0, %d)", f, k)
		}
	}
	for f := range k {
		var trRows, teRows []schema.Input
		var trY, teY []int
		var teIdx []int
		for i, r := range rows {
			if fold[i] == f {
				teRows, teY, teIdx = append(teRows, r), append(teY, y[i]), append(teIdx, i)
			} else {
				trRows, trY = append(trRows, r), append(trY, y[i])
			}
		}
		pipe, _, m, err := fit(spec, params, trRows, trY)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", f+1, err)
		}
		Xte, err := Transform(pipe, teRows)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", f+1, err)
		}
		probs := make([]float64, len(Xte))
		for i, x := range Xte {
			probs[i] = m.Prob(x)
			oof[teIdx[i]] = probs[i]
		}
		s := Score(teY, probs, threshold)
		cv.PerFold = append(cv.PerFold, s)
		fmt.Fprintf(progress, "fold %d/%d: accuracy %s, auc %s, log-loss %s\n", f+1, k,
			model.FormatFloat(s.Accuracy), model.FormatFloat(s.AUC), model.FormatFloat(s.LogLoss))
	}
	cv.Pooled = Score(y, oof, threshold)
	cv.Mean, cv.Std = meanStd(cv.PerFold)
	return cv, nil
}

func meanStd(ss []model.Scores) (model.Scores, model.Scores) {
	get := []func(*model.Scores) *float64{
		func(s *model.Scores) *float64 { return &s.Accuracy },
		func(s *model.Scores) *float64 { return &s.AUC },
		func(s *model.Scores) *float64 { return &s.LogLoss },
		func(s *model.Scores) *float64 { return &s.Brier },
	}
	var mean, std model.Scores
	n := float64(len(ss))
	for _, g := range get {
		var sum float64
		for i := range ss {
			sum += *g(&ss[i])
		}
		mu := sum / n
		var v float64
		for i := range ss {
			d := *g(&ss[i]) - mu
			v += d * d
		}
		*g(&mean), *g(&std) = mu, math.Sqrt(v/n)
	}
	for _, s := range ss {
		mean.Rows += s.Rows
	}
	mean.Rows /= max(len(ss), 1)
	return mean, std
}

// Score computes accuracy (class = positive when p ≥ threshold), ROC AUC
// (Mann–Whitney, ties count half; 0.5 when one class is absent), log-loss
// (probabilities clipped to [1e-15, 1−1e-15]) and Brier score. y holds 1 for
// the positive class.
func Score(y []int, p []float64, threshold float64) model.Scores {
	s := model.Scores{Rows: len(y)}
	if len(y) == 0 {
		return s
	}
	var correct int
	for i, v := range y {
		pred := 0
		if p[i] >= threshold {
			pred = 1
		}
		if pred == v {
			correct++
		}
		q := min(max(p[i], 1e-15), 1-1e-15)
		if v == 1 {
			s.LogLoss -= math.Log(q)
		} else {
			s.LogLoss -= math.Log(1 - q)
		}
		d := p[i] - float64(v)
		s.Brier += d * d
	}
	n := float64(len(y))
	s.Accuracy = float64(correct) / n
	s.LogLoss /= n
	s.Brier /= n
	s.AUC = AUC(y, p)
	return s
}

// AUC is the area under the ROC curve by average ranks.
func AUC(y []int, p []float64) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	var npos, nneg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1 … j
		for _, k := range idx[i:j] {
			if y[k] == 1 {
				rankSum += avg
			}
		}
		i = j
	}
	for _, v := range y {
		if v == 1 {
			npos++
		} else {
			nneg++
		}
	}
	if npos == 0 || nneg == 0 {
		return 0.5
	}
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}

// marshal encodes v as compact JSON without HTML escaping ("<" stays "<").
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
