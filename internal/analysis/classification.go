package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// LogLossEps clips probabilities to [LogLossEps, 1 − LogLossEps] in log-loss.
const LogLossEps = 1e-15

// Confusion is a binary confusion matrix (JSON: named counts tn, fp, fn,
// tp; Matrix gives scikit-learn's [[tn, fp], [fn, tp]] layout).
type Confusion struct {
	TN int64 `json:"tn"`
	FP int64 `json:"fp"`
	FN int64 `json:"fn"`
	TP int64 `json:"tp"`
}

// Add counts one (truth, prediction) pair of 0/1 classes.
func (c *Confusion) Add(truth, pred int) {
	switch {
	case truth == 1 && pred == 1:
		c.TP++
	case truth == 1:
		c.FN++
	case pred == 1:
		c.FP++
	default:
		c.TN++
	}
}

// Matrix returns [[tn, fp], [fn, tp]] (sklearn.metrics.confusion_matrix).
func (c Confusion) Matrix() [2][2]int64 { return [2][2]int64{{c.TN, c.FP}, {c.FN, c.TP}} }

// N is the number of pairs counted.
func (c Confusion) N() int64 { return c.TN + c.FP + c.FN + c.TP }

// Accuracy is (tp + tn)/n; NaN for an empty matrix.
func (c Confusion) Accuracy() float64 {
	return safeDiv(float64(c.TP+c.TN), float64(c.N()))
}

// Precision is tp/(tp + fp), 0 when nothing was predicted positive
// (scikit-learn's zero_division=0).
func (c Confusion) Precision() float64 { return zeroDiv(float64(c.TP), float64(c.TP+c.FP)) }

// Recall is tp/(tp + fn), 0 when there are no positives (zero_division=0).
func (c Confusion) Recall() float64 { return zeroDiv(float64(c.TP), float64(c.TP+c.FN)) }

// F1 is 2tp/(2tp + fp + fn), 0 when that denominator is 0.
func (c Confusion) F1() float64 {
	return zeroDiv(float64(2*c.TP), float64(2*c.TP+c.FP+c.FN))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func zeroDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ClassificationMetrics are scikit-learn's binary classification metrics.
// ROCAUC is NaN when only one class is present (scikit-learn raises).
type ClassificationMetrics struct {
	N         int
	Accuracy  float64
	Precision float64
	Recall    float64
	F1        float64
	ROCAUC    float64
	LogLoss   float64
	Brier     float64
	Confusion Confusion
}

// Classify computes ClassificationMetrics for 0/1 labels yTrue and
// positive-class scores in [0, 1]; the predicted class is score ≥ threshold.
func Classify(yTrue []int, score []float64, threshold float64) (ClassificationMetrics, error) {
	pred := make([]int, len(score))
	for i, s := range score {
		if s >= threshold {
			pred[i] = 1
		}
	}
	return ClassifyPredictions(yTrue, pred, score)
}

// ClassifyPredictions is Classify with the predicted classes given
// explicitly (a model's own decision), the scores used for ROC AUC,
// log-loss and Brier.
func ClassifyPredictions(yTrue, pred []int, score []float64) (ClassificationMetrics, error) {
	n := len(yTrue)
	if len(pred) != n || len(score) != n {
		return ClassificationMetrics{}, fmt.Errorf("classification: %w: %d labels, %d predictions, %d scores", ErrLengthMismatch, n, len(pred), len(score))
	}
	if n == 0 {
		return ClassificationMetrics{}, fmt.Errorf("classification: %w", ErrEmptySample)
	}
	var m ClassificationMetrics
	var ll, brier float64
	var auc AUCCounter
	for i := range n {
		y, p, s := yTrue[i], pred[i], score[i]
		if (y != 0 && y != 1) || (p != 0 && p != 1) {
			return ClassificationMetrics{}, fmt.Errorf("classification: %w: label or prediction %d is not 0/1", ErrInvalidInput, i)
		}
		if !(s >= 0 && s <= 1) {
			return ClassificationMetrics{}, fmt.Errorf("classification: %w: score %d = %v outside [0, 1]", ErrInvalidInput, i, s)
		}
		m.Confusion.Add(y, p)
		ll += LogLossTerm(y, s)
		brier += (s - float64(y)) * (s - float64(y))
		auc.Add(s, y)
	}
	m.N = n
	m.Accuracy = m.Confusion.Accuracy()
	m.Precision = m.Confusion.Precision()
	m.Recall = m.Confusion.Recall()
	m.F1 = m.Confusion.F1()
	m.LogLoss = ll / float64(n)
	m.Brier = brier / float64(n)
	m.ROCAUC = auc.AUC()
	return m, nil
}

// LogLossTerm is −[y·ln p + (1−y)·ln(1−p)] with p clipped to
// [LogLossEps, 1−LogLossEps].
func LogLossTerm(y int, p float64) float64 {
	p = math.Min(math.Max(p, LogLossEps), 1-LogLossEps)
	if y == 1 {
		return -math.Log(p)
	}
	return -math.Log(1 - p)
}

// AUCCounter accumulates (score, label) pairs for an exact ROC AUC with tied
// scores averaged (scikit-learn's roc_auc_score). It stores one entry per
// distinct score, so memory grows with the number of distinct scores, not
// with the number of pairs. The zero value is ready to use; not safe for
// concurrent use.
type AUCCounter struct {
	index  map[uint64]int32 // math.Float64bits(score) → position in counts
	scores []float64        // distinct scores, first-seen order
	counts [][2]int64       // per score: [negatives, positives]
}

// scoreKey maps a score to its map key; −0 and +0 share one key.
func scoreKey(s float64) uint64 {
	if s == 0 {
		s = 0
	}
	return math.Float64bits(s)
}

// Add records one pair; label 1 is positive, anything else negative.
func (a *AUCCounter) Add(score float64, label int) {
	a.addN(score, label == 1, 1)
}

func (a *AUCCounter) addN(score float64, positive bool, n int64) {
	if a.index == nil {
		a.index = make(map[uint64]int32)
	}
	k := scoreKey(score)
	i, ok := a.index[k]
	if !ok {
		i = int32(len(a.counts))
		a.index[k] = i
		a.scores = append(a.scores, math.Float64frombits(k))
		a.counts = append(a.counts, [2]int64{})
	}
	if positive {
		a.counts[i][1] += n
	} else {
		a.counts[i][0] += n
	}
}

// Distinct is the number of distinct scores held.
func (a *AUCCounter) Distinct() int { return len(a.counts) }

// Merge adds the pairs of b into a.
func (a *AUCCounter) Merge(b *AUCCounter) {
	for i, s := range b.scores {
		c := b.counts[i]
		if c[0] > 0 {
			a.addN(s, false, c[0])
		}
		if c[1] > 0 {
			a.addN(s, true, c[1])
		}
	}
}

// AUC returns Pr(score⁺ > score⁻) + ½·Pr(score⁺ = score⁻) — the area under
// the ROC curve with ties averaged; NaN unless both classes are present.
func (a *AUCCounter) AUC() float64 {
	order := make([]int32, len(a.scores))
	var pos, neg int64
	for i, c := range a.counts {
		order[i] = int32(i)
		neg += c[0]
		pos += c[1]
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	slices.SortFunc(order, func(x, y int32) int { return cmp.Compare(a.scores[x], a.scores[y]) })
	// Σ over positives of (#negatives below + ½ #negatives tied).
	var negBelow int64
	var num float64
	for _, i := range order {
		c := a.counts[i]
		num += float64(c[1]) * (float64(negBelow) + float64(c[0])/2)
		negBelow += c[0]
	}
	return num / (float64(pos) * float64(neg))
}

// CBPE holds expected confusion-matrix entries from calibrated probabilities
// (NannyML's confidence-based performance estimation): over rows predicted
// positive TP += p̂, FP += 1 − p̂; over rows predicted negative FN += p̂,
// TN += 1 − p̂. The zero value is ready to use.
type CBPE struct {
	TP, FP, FN, TN float64
	N              int64
}

// Add records one unlabelled prediction: predicted class (1 positive) and the
// model's probability of the positive class.
func (c *CBPE) Add(pred int, prob float64) {
	c.N++
	if pred == 1 {
		c.TP += prob
		c.FP += 1 - prob
	} else {
		c.FN += prob
		c.TN += 1 - prob
	}
}

// Accuracy is the expected accuracy (TP + TN)/n; NaN when empty.
func (c CBPE) Accuracy() float64 { return safeDiv(c.TP+c.TN, float64(c.N)) }

// Precision is TP/(TP + FP), 0 when nothing was predicted positive.
func (c CBPE) Precision() float64 { return zeroDiv(c.TP, c.TP+c.FP) }

// Recall is TP/(TP + FN), 0 when the expected positives are 0.
func (c CBPE) Recall() float64 { return zeroDiv(c.TP, c.TP+c.FN) }

// F1 is 2TP/(2TP + FP + FN), 0 when that denominator is 0.
func (c CBPE) F1() float64 { return zeroDiv(2*c.TP, 2*c.TP+c.FP+c.FN) }

// PairedCounts tallies two models' correctness on the same labelled
// requests: Both right, only A right, only B right, both wrong.
type PairedCounts struct {
	BothRight int64 `json:"both_right"`
	OnlyA     int64 `json:"only_a_right"`
	OnlyB     int64 `json:"only_b_right"`
	BothWrong int64 `json:"both_wrong"`
}

// Add records one labelled pair: whether A and B predicted the label.
func (p *PairedCounts) Add(aRight, bRight bool) {
	switch {
	case aRight && bRight:
		p.BothRight++
	case aRight:
		p.OnlyA++
	case bRight:
		p.OnlyB++
	default:
		p.BothWrong++
	}
}

// N is the number of pairs.
func (p PairedCounts) N() int64 { return p.BothRight + p.OnlyA + p.OnlyB + p.BothWrong }

// Z95 is the two-sided 95 % standard normal quantile.
const Z95 = 1.959963984540054

// PairedAccuracyDiffExact returns accuracy(B) − accuracy(A) on paired
// samples and its exact conditional 95 % interval: given the m = b + c
// discordant pairs (b = OnlyA, c = OnlyB), c ~ Binomial(m, π) and the
// difference is (m/n)(2π − 1), so the Clopper–Pearson interval (L, U) of π
// maps to ((m/n)(2L − 1), (m/n)(2U − 1)). It is the interval McNemar's exact
// test inverts: it excludes 0 exactly when McNemarExact(b, c) has p < 0.05,
// so a verdict never contradicts the interval printed beside it (the Wald
// interval can: it is narrower than the exact test near the boundary).
// Without discordant pairs the interval is the point 0 (the models agree on
// every pair). NaNs when n = 0.
func PairedAccuracyDiffExact(p PairedCounts) (diff, lo, hi float64) {
	n := float64(p.N())
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	b, c := p.OnlyA, p.OnlyB
	m := b + c
	diff = float64(c-b) / n
	if m == 0 {
		return 0, 0, 0
	}
	l, u := ClopperPearson(int(c), int(m), 0.95)
	scale := float64(m) / n
	return diff, scale * (2*l - 1), scale * (2*u - 1)
}

// PairedAccuracyDiff returns accuracy(B) − accuracy(A) on paired samples and
// its 95 % Wald interval for the difference of paired proportions:
// d = (c − b)/n, se = √(b + c − (c − b)²/n)/n with b = OnlyA, c = OnlyB.
// NaNs when n = 0.
func PairedAccuracyDiff(p PairedCounts) (diff, lo, hi float64) {
	n := float64(p.N())
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	b, c := float64(p.OnlyA), float64(p.OnlyB)
	diff = (c - b) / n
	v := b + c - (c-b)*(c-b)/n
	se := math.Sqrt(math.Max(v, 0)) / n
	return diff, diff - Z95*se, diff + Z95*se
}
