package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/builtin"
)

// runModel dispatches "rendezvous model <subcommand>".
func runModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		groupHelp(stdout, "model", "Look into a model bundle (the JSON file 'rendezvous train' writes and 'serve' loads).",
			[]subcommand{{"inspect", "a bundle's name, version, artifact id, pipeline, metrics and profile"}})
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand (want inspect)", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "inspect":
		return runModelInspect(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown subcommand %q (want inspect)", errUsage, args[0])
}

// inspectView is the --json document: everything but the reference rows.
type inspectView struct {
	model.Info
	FormatVersion int                `json:"format_version"`
	CreatedAt     string             `json:"created_at,omitempty"`
	Labels        model.Labels       `json:"labels"`
	Inputs        []model.InputField `json:"inputs"`
	Steps         []model.Step       `json:"steps"`
	Features      []string           `json:"features"`
	Params        json.RawMessage    `json:"params"`
	Metrics       model.Metrics      `json:"metrics"`
	TrainingData  model.TrainingData `json:"training_data"`
	Profile       inspectProfile     `json:"profile"`
	ReferenceRows int                `json:"reference_sample_rows"`
}

type inspectProfile struct {
	Rows         int                  `json:"rows"`
	PositiveRate float64              `json:"positive_rate"`
	Inputs       []model.FieldProfile `json:"inputs"`
	Features     []model.FieldProfile `json:"features"`
	Probability  model.FieldProfile   `json:"probability"`
}

func runModelInspect(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("model inspect FILE [--json]",
		"Print a bundle's identity, artifact id, pipeline, training metrics and\n"+
			"reference profile summary.", stderr)
	asJSON := fs.Bool("json", false, "print JSON (everything but the reference sample rows)")
	// Accept the flag before or after the file.
	var file string
	var rest []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") && file == "" {
			file = a
			continue
		}
		rest = append(rest, a)
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("%w: missing bundle FILE", errUsage)
	}
	b, err := model.Load(file)
	if err != nil {
		return err
	}
	if *asJSON {
		v := inspectView{
			Info: b.Info(), FormatVersion: b.FormatVersion, CreatedAt: b.CreatedAt, Labels: b.Labels,
			Inputs: b.Pipeline.Inputs, Steps: b.Pipeline.Steps, Features: b.Pipeline.Features(),
			Params: b.Params, Metrics: b.Metrics, TrainingData: b.TrainingData,
			Profile: inspectProfile{Rows: b.Profile.Rows, PositiveRate: b.Profile.PositiveRate,
				Inputs: b.Profile.Inputs, Features: b.Profile.Features, Probability: b.Profile.Probability},
			ReferenceRows: len(b.Profile.ReferenceSample.Rows),
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "name\t%s\n", b.Name)
	fmt.Fprintf(w, "version\t%s\n", b.Version)
	fmt.Fprintf(w, "algorithm\t%s\n", b.Algorithm)
	fmt.Fprintf(w, "artifact\t%s\n", b.Artifact())
	fmt.Fprintf(w, "created_at\t%s\n", b.CreatedAt)
	fmt.Fprintf(w, "labels\t%d = %q (positive, p ≥ %g), %d = %q\n", b.Labels.Positive, b.Labels.Words[b.Labels.Positive],
		b.Labels.Threshold, b.Labels.Negative, b.Labels.Words[b.Labels.Negative])
	fmt.Fprintf(w, "params\t%s\n", compactParams(b.Params))
	fmt.Fprintf(w, "training data\t%s  %d rows  sha256:%s  seed %d\n", b.TrainingData.File, b.TrainingData.Rows, b.TrainingData.SHA256, b.TrainingData.Seed)
	w.Flush()

	fmt.Fprintln(stdout, "\npipeline:")
	for i, s := range b.Pipeline.Steps {
		fmt.Fprintf(stdout, "  %d. %s\n", i+1, describeStep(s))
	}
	fmt.Fprintln(stdout, "\nmodel:")
	describeModel(stdout, b)
	fmt.Fprintln(stdout, "\nmetrics:")
	w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  \trows\taccuracy\tauc\tlog-loss\tbrier")
	row := func(name string, s model.Scores) {
		fmt.Fprintf(w, "  %s\t%d\t%s\t%s\t%s\t%s\n", name, s.Rows, model.FormatFloat(s.Accuracy), model.FormatFloat(s.AUC),
			model.FormatFloat(s.LogLoss), model.FormatFloat(s.Brier))
	}
	if cv := b.Metrics.CV; cv != nil {
		row(fmt.Sprintf("cv %d-fold mean", cv.Folds), cv.Mean)
		row(fmt.Sprintf("cv %d-fold std", cv.Folds), cv.Std)
		row("cv pooled", cv.Pooled)
	}
	row("train (in sample)", b.Metrics.Train)
	w.Flush()

	fmt.Fprintf(stdout, "\nprofile: %d rows, positive rate %s, reference sample %d rows\n", b.Profile.Rows,
		model.FormatFloat(b.Profile.PositiveRate), len(b.Profile.ReferenceSample.Rows))
	w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  \tfield\ttype\tmissing\tsummary")
	for _, p := range b.Profile.Inputs {
		fmt.Fprintf(w, "  input\t%s\t%s\t%s\t%s\n", p.Name, p.Type, model.FormatFloat(p.MissingRate), summarize(p))
	}
	for _, p := range b.Profile.Features {
		fmt.Fprintf(w, "  feature\t%s\t%s\t%s\t%s\n", p.Name, p.Type, model.FormatFloat(p.MissingRate), summarize(p))
	}
	fmt.Fprintf(w, "  output\tprobability\tnumber\t-\t%s\n", summarize(b.Profile.Probability))
	return w.Flush()
}

func compactParams(raw json.RawMessage) string {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return string(raw)
	}
	if r, ok := m["rules"].([]any); ok {
		m["rules"] = fmt.Sprintf("%d rules", len(r))
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func describeStep(s model.Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %s", s.Op, s.Output)
	switch s.Op {
	case model.OpSum:
		fmt.Fprintf(&b, " = %s", strings.Join(s.Inputs, " + "))
		if s.Constant != 0 {
			fmt.Fprintf(&b, " + %g", s.Constant)
		}
	default:
		fmt.Fprintf(&b, " ← %s", s.Input)
	}
	if s.Map != nil {
		m, _ := json.Marshal(s.Map)
		fmt.Fprintf(&b, " map %s", m)
	}
	if s.Method != "" {
		fmt.Fprintf(&b, " method %s", s.Method)
	}
	if len(s.Sentinels) > 0 {
		fmt.Fprintf(&b, " sentinels %v", s.Sentinels)
	}
	if s.Method == model.MethodLinearRegression && s.Intercept != nil {
		fmt.Fprintf(&b, " = %.4g", *s.Intercept)
		for i, p := range s.Predictors {
			fmt.Fprintf(&b, " %+.4g·%s", s.Coef[i], p)
		}
		fmt.Fprintf(&b, " (fallback %.4g)", *s.Value)
	} else if s.Value != nil {
		fmt.Fprintf(&b, " fill %g", *s.Value)
	}
	return b.String()
}

func summarize(p model.FieldProfile) string {
	var parts []string
	if n := p.Numeric; n != nil {
		med := 0.0
		for _, q := range n.Quantiles {
			if q.Q == 0.5 {
				med = q.Value
			}
		}
		parts = append(parts, fmt.Sprintf("min %.4g  median %.4g  mean %.4g  max %.4g  std %.4g", n.Min, med, n.Mean, n.Max, n.Std))
	}
	if len(p.Categories) > 0 && (p.Numeric == nil || p.Numeric.Distinct <= 5) {
		var cs []string
		for _, c := range p.Categories {
			cs = append(cs, fmt.Sprintf("%s %.0f%%", c.Value, 100*c.Freq))
		}
		parts = append(parts, strings.Join(cs, ", "))
	}
	return strings.Join(parts, "  ")
}

// describeModel prints the fitted model: rules with their probabilities,
// logistic coefficients, or the ensemble's shape and splits per feature.
func describeModel(w io.Writer, b *model.Bundle) {
	switch b.Algorithm {
	case builtin.AlgoRule:
		var m builtin.Rules
		if json.Unmarshal(b.Model, &m) != nil {
			return
		}
		for i, r := range m.Rules {
			var conds []string
			for _, c := range r.When {
				conds = append(conds, fmt.Sprintf("%s %s %g", c.Feature, c.Op, c.Value))
			}
			fmt.Fprintf(w, "  %d. %-10s if %s → p %.4f (first match for %d training rows)\n", i+1, r.Name, strings.Join(conds, " and "), *r.Probability, r.Support)
		}
		fmt.Fprintf(w, "  otherwise → p %.4f\n", m.Default)
	case builtin.AlgoLogistic:
		var m builtin.Logistic
		if json.Unmarshal(b.Model, &m) != nil {
			return
		}
		fmt.Fprintf(w, "  intercept %.4f; coefficients per standard deviation:\n", m.Intercept)
		for j, f := range m.Features {
			fmt.Fprintf(w, "    %-12s %+.4f\n", f, m.Coef[j])
		}
	case builtin.AlgoGBT:
		var m builtin.GBT
		if json.Unmarshal(b.Model, &m) != nil {
			return
		}
		splits := make([]int, len(m.Features))
		nodes, total := 0, 0
		for _, t := range m.Trees {
			nodes += len(t.Feature)
			for _, f := range t.Feature {
				if f >= 0 && int(f) < len(splits) {
					splits[f]++
					total++
				}
			}
		}
		fmt.Fprintf(w, "  %d trees, %d nodes, init log-odds %.4f; splits per feature:\n", len(m.Trees), nodes, m.Init)
		for j, f := range m.Features {
			fmt.Fprintf(w, "    %-12s %5d  (%.1f%%)\n", f, splits[j], 100*float64(splits[j])/float64(max(total, 1)))
		}
	}
}
