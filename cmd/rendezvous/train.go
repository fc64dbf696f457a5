package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/model/train"
)

// paramFlags collects repeated --param key=value flags.
type paramFlags map[string]string

func (p paramFlags) String() string { return fmt.Sprint(map[string]string(p)) }

func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	p[k] = v
	return nil
}

func runTrain(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train --data CSV --out FILE [--spec FILE] [--algo gbt|logistic|rule] [--name N --version V] [flags]",
		"Fit a feature pipeline and model on a labelled CSV, print k-fold cross-validated\n"+
			"accuracy, ROC AUC and log-loss, and write a model bundle. The same data, spec and\n"+
			"seed give a byte-identical bundle. Progress goes to stderr.", stderr)
	data := fs.String("data", "../shared/data/titanic_train.csv", "training CSV (Kaggle format)")
	cfgPath := fs.String("config", "", "configuration whose schema, labels and training mapping read the CSV (default: the embedded Titanic example)")
	specPath := fs.String("spec", "", "YAML training spec (name, version, algorithm, params, pipeline, rules)")
	algo := fs.String("algo", "", "algorithm: gbt, logistic or rule (overrides the spec)")
	name := fs.String("name", "", "model name (overrides the spec)")
	version := fs.String("version", "", "model version (overrides the spec)")
	out := fs.String("out", "", "bundle file to write (required)")
	seed := fs.Uint64("seed", 1, "seed for folds, subsampling and reference sampling")
	folds := fs.Int("folds", 5, "cross-validation folds (0 or 1 to skip)")
	unshuffled := fs.Bool("cv-unshuffled", false, "assign CV folds in file order within each class, as scikit-learn's cross_val_score (default: stratified, shuffled with --seed)")
	createdAt := fs.String("created-at", "", "created_at stored in the bundle, RFC 3339 (default $SOURCE_DATE_EPOCH, else empty)")
	holdout := fs.Float64("holdout", 0, "share of the rows (0‥1, stratified by class, shuffled with --seed) kept out of training and written to --holdout-out")
	holdoutOut := fs.String("holdout-out", "", "CSV file of the held-out rows (default: the bundle's path with -holdout.csv for .json)")
	params := paramFlags{}
	fs.Var(params, "param", "algorithm parameter key=value (repeatable; overrides the spec)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	if !(*holdout >= 0 && *holdout < 1) {
		return fmt.Errorf("%w: --holdout: want a share in [0, 1), got %g", errUsage, *holdout)
	}
	if *holdoutOut == "" {
		*holdoutOut = holdoutPath(*out)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var spec train.Spec
	if *specPath != "" {
		var err error
		if spec, err = train.LoadSpec(*specPath); err != nil {
			return err
		}
	}
	for _, o := range []struct{ val, dst *string }{{algo, &spec.Algorithm}, {name, &spec.Name}, {version, &spec.Version}} {
		if *o.val != "" {
			*o.dst = *o.val
		}
	}
	if spec.Params == nil {
		spec.Params = map[string]string{}
	}
	for k, v := range params {
		spec.Params[k] = v
	}
	if spec.Algorithm == "" {
		return fmt.Errorf("%w: --algo (or a spec with an algorithm) is required", errUsage)
	}
	if *createdAt == "" {
		if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
			var secs int64
			if _, err := fmt.Sscan(epoch, &secs); err != nil {
				return fmt.Errorf("SOURCE_DATE_EPOCH %q: not an integer", epoch)
			}
			*createdAt = unixRFC3339(secs)
		}
	}
	cfg, err := loadTrainingConfig(*cfgPath)
	if err != nil {
		return err
	}
	mapping, err := cfg.TrainingMapping()
	if err != nil {
		return err
	}
	ds, err := dataset.ReadFile(*data, mapping, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "read %d rows from %s\n", len(ds.Rows), *data)
	held := 0
	if *holdout > 0 {
		if ds, held, err = splitHoldout(ds, *data, *holdout, *seed, *holdoutOut); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "held out %d rows (stratified) → %s; training on %d\n", held, *holdoutOut, len(ds.Rows))
	}
	res, err := train.Run(train.Options{
		Spec: spec, Data: ds, Positive: cfg.Labels.Positive, Words: cfg.Labels.Words,
		Seed: *seed, Folds: *folds, Unshuffled: *unshuffled, CreatedAt: *createdAt, Progress: stderr,
		Holdout: *holdout, HoldoutRows: held,
	})
	if err != nil {
		return err
	}
	if dir := filepath.Dir(*out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	if err := os.WriteFile(*out, res.Bytes, 0o644); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	printTrained(stdout, res.Bundle, *out)
	return nil
}

// printTrained prints what train wrote: identity, artifact, CV and
// in-sample figures.
func printTrained(stdout io.Writer, b *model.Bundle, out string) {
	fmt.Fprintf(stdout, "%s %s (%s) → %s\n", b.Name, b.Version, b.Algorithm, out)
	fmt.Fprintf(stdout, "artifact %s\n", b.Artifact())
	if cv := b.Metrics.CV; cv != nil {
		fmt.Fprintf(stdout, "cv %d-fold  accuracy %s ± %s  auc %s  log-loss %s\n", cv.Folds,
			model.FormatFloat(cv.Mean.Accuracy), model.FormatFloat(cv.Std.Accuracy),
			model.FormatFloat(cv.Mean.AUC), model.FormatFloat(cv.Mean.LogLoss))
	}
	t := b.Metrics.Train
	fmt.Fprintf(stdout, "train      accuracy %s  auc %s  log-loss %s\n",
		model.FormatFloat(t.Accuracy), model.FormatFloat(t.AUC), model.FormatFloat(t.LogLoss))
}

// loadTrainingConfig reads the configuration's schema, labels and training
// mapping from path, or from the embedded example when path is empty. It
// does not validate bundle paths, so training works before bundles exist.
func loadTrainingConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.LoadUnvalidated(path)
	}
	data, err := titanic.FS.ReadFile(titanic.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("read embedded config: %w", err)
	}
	return config.ParseUnvalidated("embedded "+titanic.ConfigFile, data)
}

func unixRFC3339(secs int64) string { return time.Unix(secs, 0).UTC().Format(time.RFC3339) }
