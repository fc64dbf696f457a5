package analysis

import (
	"fmt"
	"time"
)

// Promotion gate requirements (config promotion.require).
const (
	// RequireNotProductionBetter (the default) passes unless production is
	// significantly better.
	RequireNotProductionBetter = "not_production_better"
	// RequireNotWorse passes when the interval's lower bound is above
	// −margin (non-inferiority).
	RequireNotWorse = "not_worse"
	// RequireChallengerBetter passes only on the verdict challenger_better.
	RequireChallengerBetter = "challenger_better"
)

// GateRule is what a challenger must show to be promoted. Every rule also
// needs the comparison's minimum of labelled pairs.
type GateRule struct {
	// Require is one of the Require constants ("" selects
	// RequireNotProductionBetter).
	Require string `json:"require"`
	// Margin is the non-inferiority margin of not_worse as a share of
	// accuracy (0.02: the challenger may be up to 2 accuracy points worse).
	Margin float64 `json:"margin"`
	// MaxP99Latency, when > 0, caps the challenger's live p99 latency.
	MaxP99Latency time.Duration `json:"-"`
	// CountReplay lets a challenger with no live answer be judged on its
	// replay results (rendezvous replay; config promotion.count_replay).
	CountReplay bool `json:"count_replay,omitempty"`
}

// GateResult is the gate's answer with the figures it read.
type GateResult struct {
	Pass bool   `json:"pass"`
	Rule string `json:"rule"`
	// Refusals says why the gate refused (empty when it passed).
	Refusals   []string   `json:"refusals,omitempty"`
	Comparison Comparison `json:"comparison"`
	// CountedReplay is true when Comparison is on the challenger's replay
	// results (GateRule.CountReplay and no live answer): the deployment
	// event records it.
	CountedReplay bool    `json:"counted_replay,omitempty"`
	Margin        float64 `json:"margin,omitempty"`
	// ChallengerP99MS and MaxP99MS are the latency check's figures (absent
	// without a latency ceiling).
	ChallengerP99MS *float64 `json:"challenger_p99_ms,omitempty"`
	MaxP99MS        *float64 `json:"max_p99_ms,omitempty"`
}

// Gate applies rule to a live comparison and the challenger's p99 latency
// in milliseconds (nil when unknown).
func Gate(c Comparison, p99MS *float64, rule GateRule) GateResult {
	if rule.Require == "" {
		rule.Require = RequireNotProductionBetter
	}
	g := GateResult{Rule: rule.Require, Comparison: c}
	refuse := func(format string, args ...any) { g.Refusals = append(g.Refusals, fmt.Sprintf(format, args...)) }
	if c.Verdict == VerdictInsufficientData {
		refuse("%d labelled pairs, %d needed (analysis.min_labelled_pairs)", c.Pairs, c.MinPairs)
	} else {
		switch rule.Require {
		case RequireNotProductionBetter:
			if c.Verdict == VerdictProductionBetter {
				refuse("production is better: accuracy %s vs %s, McNemar p = %s", pct(c.ProductionAccuracy), pct(c.ChallengerAccuracy), num(c.McNemarPValue))
			}
		case RequireNotWorse:
			g.Margin = rule.Margin
			if c.CI95Low == nil || *c.CI95Low <= -rule.Margin {
				refuse("not shown non-inferior: the 95 %% interval's lower bound %s is not above −%.4g (promotion.margin)", num(c.CI95Low), rule.Margin)
			}
		case RequireChallengerBetter:
			if c.Verdict != VerdictChallengerBetter {
				refuse("verdict %s, challenger_better required (McNemar p = %s)", c.Verdict, num(c.McNemarPValue))
			}
		default:
			refuse("unknown promotion.require %q", rule.Require)
		}
	}
	if rule.MaxP99Latency > 0 {
		g.MaxP99MS = ptr(float64(rule.MaxP99Latency.Microseconds()) / 1000)
		g.ChallengerP99MS = p99MS
		switch {
		case p99MS == nil:
			refuse("no latency measured for %s (promotion.max_p99_latency %v)", c.Challenger, rule.MaxP99Latency)
		case *p99MS > *g.MaxP99MS:
			refuse("p99 latency %.3g ms above promotion.max_p99_latency %v", *p99MS, rule.MaxP99Latency)
		}
	}
	g.Pass = len(g.Refusals) == 0
	return g
}

func num(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4g", *p)
}

func pct(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100**p)
}
