package monitor

import (
	"context"
	"fmt"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// OverlapThreshold is the share of a comparison's evaluated inputs found
// in a model's training rows above which its verdict is flagged: a model
// scored on rows it was fitted on looks better than it is.
const OverlapThreshold = 0.05

// TrainingOverlap says how many of a comparison's evaluated inputs (its
// labelled pairs) each model was trained on, from the training-row
// fingerprints of the bundles (model.RowFingerprint).
type TrainingOverlap struct {
	// Evaluated is the number of labelled pairs.
	Evaluated  int64        `json:"evaluated"`
	Production ModelOverlap `json:"production"`
	Challenger ModelOverlap `json:"challenger"`
	// Threshold is OverlapThreshold; Flagged is true when either model's
	// Share exceeds it: then read Clean beside the verdict.
	Threshold float64 `json:"threshold"`
	Flagged   bool    `json:"flagged"`
	// Clean is the comparison on the pairs neither model was trained on;
	// ChallengerUnseen on the pairs the challenger was not trained on
	// (production may have been: when it was trained on everything, as the
	// shipped example is, Clean is empty and this is the figure to read).
	Clean            analysis.Comparison `json:"clean"`
	ChallengerUnseen analysis.Comparison `json:"challenger_unseen"`
}

// ModelOverlap is one model's part of a TrainingOverlap.
type ModelOverlap struct {
	Model string `json:"model"`
	// Fingerprinted is false when the model's bundle has no training-row
	// fingerprint (or the model is not a bundle): nothing can be said.
	Fingerprinted bool `json:"fingerprinted"`
	// InTraining of the evaluated inputs are training rows of the model;
	// Share is InTraining / Evaluated (null without pairs or fingerprint).
	InTraining int64    `json:"in_training"`
	Share      *float64 `json:"share"`
}

// overlapCounter accumulates a TrainingOverlap during a report's scan.
type overlapCounter struct {
	challenger string
	sets       map[string]model.TrainingSet // fingerprinted models
	evaluated  int64
	in         map[string]int64 // model → evaluated inputs it was trained on (production by its own name)
	prodIn     int64            // evaluated inputs the record's production was trained on
	prodKnown  bool
	clean      analysis.PairedCounts
	unseen     analysis.PairedCounts // pairs the challenger was not trained on
}

// newOverlapCounter returns nil when no configured model has a
// fingerprint (the scan then decodes no input).
func (m *Monitor) newOverlapCounter(challenger string) *overlapCounter {
	sets := map[string]model.TrainingSet{}
	for _, md := range m.models {
		if md.Bundle != nil && md.Bundle.TrainingSet().Known() {
			sets[md.Name] = md.Bundle.TrainingSet()
		}
	}
	if len(sets) == 0 {
		return nil
	}
	return &overlapCounter{challenger: challenger, sets: sets, in: map[string]int64{}}
}

// add counts one record whose models are final (after the replay join),
// under the accumulator's pairing rule: labelled 0 or 1, production (the
// smallest name claiming the role) and the challenger both answered.
func (o *overlapCounter) add(s *record.Summary, label int, labelled bool) {
	if !labelled || (label != 0 && label != 1) || s.Input == nil {
		return
	}
	var prod, chal *record.ModelSummary
	for i := range s.Models {
		r := &s.Models[i]
		if r.Role == model.RoleProduction && (prod == nil || r.Name < prod.Name) {
			prod = r
		}
	}
	for i := range s.Models {
		if r := &s.Models[i]; r.Name == o.challenger && r != prod {
			chal = r
		}
	}
	if prod == nil || chal == nil || prod.Prediction == nil || chal.Prediction == nil {
		return
	}
	o.evaluated++
	ps, pk := o.sets[prod.Name]
	cs, ck := o.sets[chal.Name]
	inProd, inChal := pk && ps.Contains(s.Input), ck && cs.Contains(s.Input)
	o.prodKnown = o.prodKnown || pk
	if inProd {
		o.prodIn++
	}
	if inChal {
		o.in[chal.Name]++
	}
	if !inChal {
		o.unseen.Add(*prod.Prediction == label, *chal.Prediction == label)
		if !inProd {
			o.clean.Add(*prod.Prediction == label, *chal.Prediction == label)
		}
	}
}

// result builds the TrainingOverlap of comparison c.
func (o *overlapCounter) result(c analysis.Comparison, minPairs int) *TrainingOverlap {
	share := func(n int64, known bool) *float64 {
		if !known || o.evaluated == 0 {
			return nil
		}
		v := float64(n) / float64(o.evaluated)
		return &v
	}
	_, ck := o.sets[o.challenger]
	t := &TrainingOverlap{
		Evaluated:  o.evaluated,
		Production: ModelOverlap{Model: c.Production, Fingerprinted: o.prodKnown, InTraining: o.prodIn, Share: share(o.prodIn, o.prodKnown)},
		Challenger: ModelOverlap{Model: o.challenger, Fingerprinted: ck, InTraining: o.in[o.challenger], Share: share(o.in[o.challenger], ck)},
		Threshold:  OverlapThreshold,
		Clean:      analysis.ComparePairs(c.Production, c.Challenger, o.clean, minPairs),
	}
	t.ChallengerUnseen = analysis.ComparePairs(c.Production, c.Challenger, o.unseen, minPairs)
	if !t.Production.Fingerprinted {
		if _, ok := o.sets[c.Production]; ok {
			t.Production.Fingerprinted = true
			t.Production.Share = share(0, true)
		}
	}
	for _, mo := range []ModelOverlap{t.Production, t.Challenger} {
		if mo.Share != nil && *mo.Share > OverlapThreshold {
			t.Flagged = true
		}
	}
	return t
}

// ModelTrainingOverlap is, for one model, how many of the labelled
// requests it answered in a window (its evaluated inputs) were its
// training rows.
type ModelTrainingOverlap struct {
	Model      string   `json:"model"`
	Evaluated  int64    `json:"evaluated"`
	InTraining int64    `json:"in_training"`
	Share      *float64 `json:"share"`
	// Flagged: Share is over OverlapThreshold; the model's labelled
	// figures in the window flatter it.
	Flagged bool `json:"flagged"`
}

// TrainingOverlap states, per fingerprinted model, the share of its
// evaluated inputs in w that are its training rows (GET
// /v1/metrics?overlap=true). It reads every input of the window: a scan of
// its own, asked for, not part of every metrics call. Empty when no
// configured bundle has a fingerprint.
func (m *Monitor) TrainingOverlap(ctx context.Context, w Window) ([]ModelTrainingOverlap, error) {
	sets := map[string]model.TrainingSet{}
	var names []string
	for _, md := range m.models {
		if md.Bundle != nil && md.Bundle.TrainingSet().Known() {
			sets[md.Name] = md.Bundle.TrainingSet()
			names = append(names, md.Name)
		}
	}
	out := []ModelTrainingOverlap{}
	if len(sets) == 0 {
		return out, nil
	}
	labels, release, err := m.acquireLabels(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	evaluated, in := map[string]int64{}, map[string]int64{}
	lc := labels.cursor()
	err = store.ScanSummaries(ctx, m.store, store.SummaryParams{ScanParams: w.scan(), Inputs: true}, func(s *record.Summary) error {
		if s.Status == record.RequestRejected || s.Input == nil {
			return nil
		}
		label, ok := lc.get(s.ID)
		if !ok || (label != 0 && label != 1) {
			return nil
		}
		for i := range s.Models {
			r := &s.Models[i]
			set, known := sets[r.Name]
			if !known || r.Prediction == nil {
				continue
			}
			evaluated[r.Name]++
			if set.Contains(s.Input) {
				in[r.Name]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan records: %w", err)
	}
	for _, name := range names {
		o := ModelTrainingOverlap{Model: name, Evaluated: evaluated[name], InTraining: in[name]}
		if o.Evaluated > 0 {
			v := float64(o.InTraining) / float64(o.Evaluated)
			o.Share, o.Flagged = &v, v > OverlapThreshold
		}
		out = append(out, o)
	}
	return out, nil
}
