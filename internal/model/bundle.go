package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/model/builtin"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// FormatVersion is the bundle format this code reads and writes.
const FormatVersion = 1

// Bundle is one trained model version loaded from a bundle file. A loaded
// Bundle implements Model: Predict runs the bundle's pipeline and algorithm
// in process. It is immutable after Load and safe for concurrent use; the
// exported fields must not be modified.
type Bundle struct {
	FormatVersion int    `json:"format_version"`
	Name          string `json:"name"`
	Version       string `json:"version"`
	Algorithm     string `json:"algorithm"`
	// CreatedAt is an RFC 3339 time given at training (never the wall
	// clock, so training is reproducible); may be empty.
	CreatedAt string `json:"created_at,omitempty"`
	Labels    Labels `json:"labels"`
	// Pipeline is the fitted feature pipeline (compiled on load).
	Pipeline *Pipeline `json:"pipeline"`
	// Params are the algorithm's hyperparameters; Model its fitted state.
	// Both are algorithm-specific JSON documents (see package builtin).
	Params       json.RawMessage `json:"params"`
	Model        json.RawMessage `json:"model"`
	Metrics      Metrics         `json:"metrics"`
	TrainingData TrainingData    `json:"training_data"`
	Profile      Profile         `json:"profile"`

	artifact string
	training TrainingSet
	scorer   builtin.Model
	posWord  string
	negWord  string
}

// Labels names the classes of a binary model. Class is Positive when the
// positive-class probability is ≥ Threshold, otherwise Negative.
type Labels struct {
	Positive  int            `json:"positive"`
	Negative  int            `json:"negative"`
	Threshold float64        `json:"threshold"`
	Words     map[int]string `json:"words"`
}

// Metrics are the model's quality figures from training.
type Metrics struct {
	// CV holds k-fold cross-validated figures; the pipeline and model are
	// refitted inside every fold (no leakage from the held-out fold).
	CV *CVMetrics `json:"cv,omitempty"`
	// Train are the figures of the final model on its own training rows.
	Train Scores `json:"train"`
}

// Scores are classification figures on one set of rows.
type Scores struct {
	Rows     int     `json:"rows"`
	Accuracy float64 `json:"accuracy"`
	AUC      float64 `json:"auc"`
	LogLoss  float64 `json:"log_loss"`
	Brier    float64 `json:"brier"`
}

// CVMetrics are cross-validation results: Mean and Std over folds (as
// scikit-learn's cross_val_score reports), per-fold scores, and Pooled scores
// over all out-of-fold predictions.
type CVMetrics struct {
	Folds int    `json:"folds"`
	Seed  uint64 `json:"seed"`
	// Unshuffled marks folds assigned in file order within each class
	// (scikit-learn's StratifiedKFold(shuffle=False)); otherwise they are
	// shuffled with Seed.
	Unshuffled bool     `json:"unshuffled,omitempty"`
	Mean       Scores   `json:"mean"`
	Std        Scores   `json:"std"`
	Pooled     Scores   `json:"pooled"`
	PerFold    []Scores `json:"per_fold"`
}

// TrainingData fingerprints the training file.
type TrainingData struct {
	// File is the base name of the CSV.
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows"`
	Seed   uint64 `json:"seed"`
	// Holdout is the share of the file's rows kept out of training
	// (rendezvous train --holdout), HoldoutRows how many; Rows counts the
	// rows trained on.
	Holdout     float64 `json:"holdout,omitempty"`
	HoldoutRows int     `json:"holdout_rows,omitempty"`
	// Fingerprint identifies the training rows (no value kept), so the
	// share of evaluated inputs the model was trained on can be stated;
	// absent in bundles trained before it existed.
	Fingerprint *RowFingerprint `json:"fingerprint,omitempty"`
}

// Load reads and validates the bundle file at path.
func Load(path string) (*Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidBundle, path, err)
	}
	return LoadBytes(path, data)
}

// LoadBytes parses and validates a bundle; name (a path or embedded name)
// appears in errors, which wrap ErrInvalidBundle and name the field:
// "invalid model bundle models/x.json: pipeline.steps[2].input: unknown input "foo"".
func LoadBytes(name string, data []byte) (*Bundle, error) {
	b, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidBundle, name, err)
	}
	sum := sha256.Sum256(data)
	b.artifact = "sha256:" + hex.EncodeToString(sum[:])
	return b, nil
}

func decode(data []byte) (*Bundle, error) {
	// Check the format version first so a future format gets a clear error
	// rather than an unknown-field complaint.
	var head struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonErr(err)
	}
	if head.FormatVersion == nil {
		return nil, fieldErr("format_version", "missing")
	}
	if *head.FormatVersion != FormatVersion {
		return nil, fieldErr("format_version", fmt.Sprintf("unsupported version %d (this build reads %d)", *head.FormatVersion, FormatVersion))
	}
	b := &Bundle{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(b); err != nil {
		return nil, jsonErr(err)
	}
	if err := b.init(); err != nil {
		return nil, err
	}
	return b, nil
}

// jsonErr turns a decoding error into a field error where it can.
func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fieldErr(te.Field, fmt.Sprintf("cannot hold a JSON %s", te.Value))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON at byte %d: %w", se.Offset, err)
	}
	return err
}

// init validates b and prepares it for Predict.
func (b *Bundle) init() error {
	switch {
	case b.Name == "":
		return fieldErr("name", "missing")
	case b.Version == "":
		return fieldErr("version", "missing")
	case b.Algorithm == "":
		return fieldErr("algorithm", "missing")
	case b.Pipeline == nil:
		return fieldErr("pipeline", "missing")
	}
	if err := b.Labels.validate(); err != nil {
		return err
	}
	if err := b.Pipeline.Compile(true); err != nil {
		return prefix("pipeline.", err)
	}
	_, m, err := builtin.Decode(b.Algorithm, b.Params, b.Model, b.Pipeline.Features())
	if err != nil {
		var fe *builtin.FieldError
		if errors.As(err, &fe) {
			return fieldErr(fe.Path, fe.Problem)
		}
		return err
	}
	b.scorer = m
	b.posWord, b.negWord = b.Labels.Words[b.Labels.Positive], b.Labels.Words[b.Labels.Negative]
	if fp := b.TrainingData.Fingerprint; fp != nil {
		if b.training, err = fp.Set(); err != nil {
			return prefix("training_data.fingerprint.", err)
		}
	}
	return nil
}

// TrainingSet returns the set of the bundle's training rows (not Known
// when the bundle has no fingerprint).
func (b *Bundle) TrainingSet() TrainingSet { return b.training }

func (l *Labels) validate() error {
	if l.Positive == l.Negative {
		return fieldErr("labels.negative", fmt.Sprintf("equals the positive class %d", l.Positive))
	}
	if !(l.Threshold > 0 && l.Threshold < 1) {
		return fieldErr("labels.threshold", fmt.Sprintf("%g is not in (0, 1)", l.Threshold))
	}
	for _, c := range []int{l.Positive, l.Negative} {
		if l.Words[c] == "" {
			return fieldErr("labels.words", fmt.Sprintf("no word for class %d", c))
		}
	}
	return nil
}

func prefix(p string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fieldErr(p+fe.path, fe.problem)
	}
	return err
}

// Artifact returns "sha256:<hex>" of the bundle file bytes.
func (b *Bundle) Artifact() string { return b.artifact }

// Info implements Model.
func (b *Bundle) Info() Info {
	return Info{Name: b.Name, Version: b.Version, Algorithm: b.Algorithm, Artifact: b.artifact}
}

// Predict implements Model: it runs the pipeline, then the algorithm. It
// ignores ctx (in-process and fast) and allocates only the feature values.
// An input the pipeline cannot transform is an error naming the field.
func (b *Bundle) Predict(_ context.Context, in schema.Input) (Prediction, error) {
	f, err := b.Pipeline.Transform(in)
	if err != nil {
		return Prediction{}, fmt.Errorf("model %s: %w", b.Name, err)
	}
	p := b.scorer.Prob(f.Values)
	pr := Prediction{Class: b.Labels.Negative, Label: b.negWord, Probability: p, Features: f}
	if p >= b.Labels.Threshold {
		pr.Class, pr.Label = b.Labels.Positive, b.posWord
	}
	return pr, nil
}

// Inline implements Inliner: a bundle is in-process and CPU-bound (a
// pipeline and a scorer with no I/O), so the rendezvous calls it on the
// request's own goroutine.
func (b *Bundle) Inline() bool { return true }

// Score returns the positive-class probability for already transformed
// feature values (pipeline output order).
func (b *Bundle) Score(values []float64) float64 { return b.scorer.Prob(values) }

// Encode returns the bundle file bytes: deterministic JSON (fixed field
// order, sorted map keys, shortest round-trip floats), objects indented and
// arrays of scalars on one line, with a final newline.
func (b *Bundle) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("encode bundle %s: %w", b.Name, err)
	}
	return prettyJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// prettyJSON indents compact JSON objects by one space per level but keeps
// arrays that contain no object on one line.
func prettyJSON(src []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(src) + len(src)/4)
	depth := 0
	newline := func() {
		out.WriteByte('\n')
		for range depth {
			out.WriteByte(' ')
		}
	}
	// flat > 0 while inside an array printed on one line.
	flat := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"':
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			out.Write(src[i : j+1])
			i = j
		case flat > 0:
			out.WriteByte(c)
			switch c {
			case '[':
				flat++
			case ']':
				flat--
			case ',':
				out.WriteByte(' ')
			}
		case c == '[' && !arrayHasObject(src, i):
			flat = 1
			out.WriteByte(c)
		case c == '{' || c == '[':
			out.WriteByte(c)
			if src[i+1] == '}' || src[i+1] == ']' {
				out.WriteByte(src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case c == '}' || c == ']':
			depth--
			newline()
			out.WriteByte(c)
		case c == ',':
			out.WriteByte(c)
			newline()
		case c == ':':
			out.WriteString(": ")
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// arrayHasObject reports whether the array starting at src[i] contains an object.
func arrayHasObject(src []byte, i int) bool {
	depth := 0
	for ; i < len(src); i++ {
		switch src[i] {
		case '"':
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case '{':
			return true
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				return false
			}
		}
	}
	return false
}

// FormatFloat formats a metric for display with four decimals.
func FormatFloat(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}
