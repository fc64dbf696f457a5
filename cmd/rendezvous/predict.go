package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/model/train"
)

func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict --model FILE --data CSV [--out FILE] [--features] [--config FILE]",
		"Score a CSV offline with a model bundle, through the same validation and\n"+
			"Model.Predict the server uses. Writes one row per input row: id, prediction,\n"+
			"label, probability. When the CSV has the outcome column, prints accuracy,\n"+
			"ROC AUC and log-loss to stderr.", stderr)
	modelPath := fs.String("model", "", "model bundle (required)")
	data := fs.String("data", "", "CSV to score (required)")
	out := fs.String("out", "", "output CSV (default stdout)")
	cfgPath := fs.String("config", "", "configuration whose schema and training mapping read the CSV (default: the embedded Titanic example)")
	withFeatures := fs.Bool("features", false, "also write the transformed features, one column each")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelPath == "" || *data == "" {
		return fmt.Errorf("%w: --model and --data are required", errUsage)
	}
	b, err := model.Load(*modelPath)
	if err != nil {
		return err
	}
	cfg, err := loadTrainingConfig(*cfgPath)
	if err != nil {
		return err
	}
	mapping, err := cfg.TrainingMapping()
	if err != nil {
		return err
	}
	ds, err := dataset.ReadFile(*data, mapping, false)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	head := []string{"id", "prediction", "label", "probability"}
	if *withFeatures {
		head = append(head, b.Pipeline.Features()...)
	}
	_ = cw.Write(head)
	rec := make([]string, 0, len(head))
	var y []int
	probs := make([]float64, 0, len(ds.Rows))
	correct := 0
	for i, row := range ds.Rows {
		p, err := b.Predict(ctx, row)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", *data, ds.Lines[i], err)
		}
		rec = append(rec[:0], ds.IDs[i], strconv.Itoa(p.Class), p.Label, strconv.FormatFloat(p.Probability, 'g', -1, 64))
		if *withFeatures {
			for _, v := range p.Features.Values {
				rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		_ = cw.Write(rec)
		probs = append(probs, p.Probability)
		if ds.HasLabels() {
			if p.Class == ds.Labels[i] {
				correct++
			}
			yi := 0
			if ds.Labels[i] == b.Labels.Positive {
				yi = 1
			}
			y = append(y, yi)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	if *out != "" {
		if err := w.(*os.File).Close(); err != nil {
			return fmt.Errorf("write predictions: %w", err)
		}
	}
	fmt.Fprintf(stderr, "scored %d rows with %s %s (%s)\n", len(ds.Rows), b.Name, b.Version, b.Artifact())
	if ds.HasLabels() {
		s := train.Score(y, probs, b.Labels.Threshold)
		fmt.Fprintf(stderr, "accuracy %s (%d/%d)  auc %s  log-loss %s\n", model.FormatFloat(float64(correct)/float64(len(ds.Rows))),
			correct, len(ds.Rows), model.FormatFloat(s.AUC), model.FormatFloat(s.LogLoss))
	}
	return nil
}
