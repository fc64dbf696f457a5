package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// res builds a ModelResult; pred < 0 means no answer.
func res(role model.Role, status record.Status, pred int, prob float64, latencyUS int64) record.ModelResult {
	r := record.ModelResult{Role: role, Version: "v-" + string(role), Status: status, LatencyUS: latencyUS}
	if pred >= 0 {
		p, pr := pred, prob
		r.Prediction, r.Probability = &p, &pr
	}
	return r
}

func lbl(v int) *int { return &v }

type labelled struct {
	rec   *record.Record
	label *int
}

// handRecords are six requests to production "prod", canary "canary" and
// challenger "dev", one minute apart; four are labelled.
func handRecords() []labelled {
	P, C, D := model.RoleProduction, model.RoleCanary, model.RoleChallenger
	ok, late, timeout, errS, skipped := record.StatusOK, record.StatusLate, record.StatusTimeout, record.StatusError, record.StatusSkipped
	rows := []struct {
		label             *int
		prod, canary, dev record.ModelResult
	}{
		{lbl(1), res(P, ok, 1, 0.8, 1000), res(C, ok, 1, 0.6, 200), res(D, ok, 0, 0.3, 3000)},
		{lbl(0), res(P, ok, 0, 0.2, 2000), res(C, ok, 1, 0.7, 100), res(D, late, 0, 0.4, 5000)},
		{lbl(1), res(P, ok, 0, 0.45, 3000), res(C, ok, 0, 0.1, 300), res(D, timeout, -1, 0, 50000)},
		{nil, res(P, ok, 1, 0.9, 4000), res(C, errS, -1, 0, 10), res(D, ok, 1, 0.7, 1000)},
		{nil, res(P, ok, 0, 0.3, 5000), res(C, skipped, -1, 0, 0), res(D, ok, 0, 0.2, 2000)},
		{lbl(0), res(P, timeout, -1, 0, 50000), res(C, ok, 0, 0.2, 200), res(D, ok, 1, 0.6, 1500)},
	}
	out := make([]labelled, len(rows))
	for i, r := range rows {
		out[i] = labelled{label: r.label, rec: &record.Record{
			ID:         fmt.Sprintf("r%d", i+1),
			ReceivedAt: t0.Add(time.Duration(i) * time.Minute),
			Status:     record.RequestOK,
			Models:     map[string]record.ModelResult{"prod": r.prod, "canary": r.canary, "dev": r.dev},
		}}
	}
	return out
}

func modelByName(t *testing.T, ms []ModelMetrics, name string) ModelMetrics {
	t.Helper()
	for _, m := range ms {
		if m.Model == name {
			return m
		}
	}
	t.Fatalf("model %s absent", name)
	return ModelMetrics{}
}

func val(p *float64) float64 {
	if p == nil {
		return -999
	}
	return *p
}

func TestMetricsAccumulator_HandBuiltRecords(t *testing.T) {
	acc := NewMetricsAccumulator(MetricsOptions{})
	for _, r := range handRecords() {
		acc.Add(r.rec, r.label)
	}
	acc.Add(nil, nil) // ignored
	rep := acc.Result()
	if rep.Requests != 6 || rep.Labelled != 4 || !rep.From.Equal(t0) || !rep.To.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("totals %d/%d from %v to %v", rep.Requests, rep.Labelled, rep.From, rep.To)
	}
	if len(rep.Models) != 3 || rep.Models[0].Model != "prod" || rep.Models[1].Model != "canary" || rep.Models[2].Model != "dev" {
		t.Fatalf("model order %+v", rep.Models)
	}

	prod := modelByName(t, rep.Models, "prod")
	if prod.Role != model.RoleProduction || prod.Version != "v-production" || prod.Requests != 6 || prod.Answered != 5 {
		t.Errorf("prod identity/counts %+v", prod)
	}
	if prod.Status != (StatusCounts{OK: 5, Timeout: 1}) {
		t.Errorf("prod status %+v", prod.Status)
	}
	// Latencies 1..5 ms: numpy.percentile linear → 3, 4.8, 4.96.
	assertClose(t, "p50", val(prod.LatencyMS.P50), 3, 1e-12)
	assertClose(t, "p95", val(prod.LatencyMS.P95), 4.8, 1e-12)
	assertClose(t, "p99", val(prod.LatencyMS.P99), 4.96, 1e-12)
	assertClose(t, "positive rate", val(prod.PositiveRate), 0.4, 1e-15)
	if prod.Agreement != nil {
		t.Errorf("production agreement with itself = %v, want null", *prod.Agreement)
	}
	// Labelled: r1 (1→1), r2 (0→0), r3 (1→0); r6 unanswered.
	want, err := ClassifyPredictions([]int{1, 0, 1}, []int{1, 0, 0}, []float64{0.8, 0.2, 0.45})
	mustOK(t, err)
	checkLabelled(t, "prod", prod.Labelled, want)
	if prod.Labelled.Confusion != [2][2]int64{{1, 0}, {1, 1}} {
		t.Errorf("prod confusion %v", prod.Labelled.Confusion)
	}
	// CBPE over r4 (1, .9) and r5 (0, .3): TP .9 FP .1 FN .3 TN .7.
	if prod.Estimated.N != 2 {
		t.Errorf("prod estimated n %d", prod.Estimated.N)
	}
	assertClose(t, "cbpe accuracy", val(prod.Estimated.Accuracy), 0.8, 1e-15)
	assertClose(t, "cbpe precision", val(prod.Estimated.Precision), 0.9, 1e-15)
	assertClose(t, "cbpe recall", val(prod.Estimated.Recall), 0.75, 1e-15)
	assertClose(t, "cbpe f1", val(prod.Estimated.F1), 1.8/2.2, 1e-15)

	dev := modelByName(t, rep.Models, "dev")
	if dev.Status != (StatusCounts{OK: 4, Late: 1, Timeout: 1}) || dev.Answered != 5 {
		t.Errorf("dev status %+v answered %d", dev.Status, dev.Answered)
	}
	// Both answered on r1 (differ), r2, r4, r5 (agree).
	if dev.AgreementN != 4 {
		t.Errorf("dev agreement n %d", dev.AgreementN)
	}
	assertClose(t, "dev agreement", val(dev.Agreement), 0.75, 1e-15)
	// Latencies 1, 1.5, 2, 3, 5 ms.
	assertClose(t, "dev p50", val(dev.LatencyMS.P50), 2, 1e-12)
	wantDev, err := ClassifyPredictions([]int{1, 0, 0}, []int{0, 0, 1}, []float64{0.3, 0.4, 0.6})
	mustOK(t, err)
	checkLabelled(t, "dev", dev.Labelled, wantDev)

	canary := modelByName(t, rep.Models, "canary")
	if canary.Status != (StatusCounts{OK: 4, Error: 1, Skipped: 1}) || canary.Estimated.N != 0 || canary.Estimated.Accuracy != nil {
		t.Errorf("canary %+v", canary)
	}
	// Canary and production both answered r1, r2, r3: agree on r1, r3.
	assertClose(t, "canary agreement", val(canary.Agreement), 2.0/3, 1e-15)

	b, err := json.Marshal(rep)
	mustOK(t, err)
	var back map[string]any
	mustOK(t, json.Unmarshal(b, &back))
	m0 := back["models"].([]any)[0].(map[string]any)
	for _, key := range []string{"model", "role", "version", "requests", "status", "latency_ms", "positive_rate", "agreement", "labelled", "estimated"} {
		if _, ok := m0[key]; !ok {
			t.Errorf("JSON model lacks %q: %s", key, b)
		}
	}
}

func checkLabelled(t *testing.T, name string, got LabelledMetrics, want ClassificationMetrics) {
	t.Helper()
	if got.N != int64(want.N) || got.ProbabilityN != int64(want.N) {
		t.Errorf("%s labelled n %d/%d, want %d", name, got.N, got.ProbabilityN, want.N)
	}
	for k, pair := range map[string][2]float64{
		"accuracy": {val(got.Accuracy), want.Accuracy}, "precision": {val(got.Precision), want.Precision},
		"recall": {val(got.Recall), want.Recall}, "f1": {val(got.F1), want.F1},
		"roc_auc": {val(got.ROCAUC), want.ROCAUC}, "log_loss": {val(got.LogLoss), want.LogLoss}, "brier": {val(got.Brier), want.Brier},
	} {
		assertClose(t, name+" "+k, pair[0], pair[1], 1e-15)
	}
}

func TestMetricsAccumulator_BucketsPartitionTheWindow(t *testing.T) {
	acc := NewMetricsAccumulator(MetricsOptions{Bucket: 3 * time.Minute})
	for _, r := range handRecords() {
		acc.Add(r.rec, r.label)
	}
	rep := acc.Result()
	if rep.BucketSeconds != 180 || len(rep.Buckets) != 2 {
		t.Fatalf("buckets %+v", rep.Buckets)
	}
	b0, b1 := rep.Buckets[0], rep.Buckets[1]
	if !b0.Start.Equal(t0) || !b1.Start.Equal(t0.Add(3*time.Minute)) || b0.Requests != 3 || b1.Requests != 3 || b0.Labelled != 3 || b1.Labelled != 1 {
		t.Errorf("bucket starts/counts %v %d/%d, %v %d/%d", b0.Start, b0.Requests, b0.Labelled, b1.Start, b1.Requests, b1.Labelled)
	}
	p0, p1 := modelByName(t, b0.Models, "prod"), modelByName(t, b1.Models, "prod")
	if p0.Labelled.N != 3 || p1.Labelled.N != 0 || p0.Estimated.N != 0 || p1.Estimated.N != 2 {
		t.Errorf("prod per bucket: labelled %d/%d estimated %d/%d", p0.Labelled.N, p1.Labelled.N, p0.Estimated.N, p1.Estimated.N)
	}
	assertClose(t, "bucket 0 p50", val(p0.LatencyMS.P50), 2, 1e-12)
}

func TestMetricsAccumulator_MergeEqualsOnePass(t *testing.T) {
	recs := handRecords()
	one := NewMetricsAccumulator(MetricsOptions{Bucket: time.Hour})
	a := NewMetricsAccumulator(MetricsOptions{Bucket: time.Hour})
	b := NewMetricsAccumulator(MetricsOptions{Bucket: time.Hour})
	for i, r := range recs {
		one.Add(r.rec, r.label)
		if i%2 == 0 {
			a.Add(r.rec, r.label)
		} else {
			b.Add(r.rec, r.label)
		}
	}
	mustOK(t, a.Merge(b))
	// Sums may differ in the last bit (another order of addition).
	assertJSONClose(t, one.Result(), a.Result())
	c1, err := one.Compare("dev", 1)
	mustOK(t, err)
	c2, err := a.Compare("dev", 1)
	mustOK(t, err)
	if !reflect.DeepEqual(c1, c2) {
		t.Errorf("merged comparison differs: %+v vs %+v", c1, c2)
	}
	if err := a.Merge(NewMetricsAccumulator(MetricsOptions{})); err == nil {
		t.Error("merging different bucket widths must fail")
	}
}

// pairedRecords returns n labelled records where production is right on
// the first prodRight and the challenger on the first devRight (of a
// shuffled-by-stride order, so the discordant pairs mix).
func pairedRecords(n, prodRight, devRight int) []labelled {
	out := make([]labelled, n)
	for i := range n {
		y := i % 2
		pp, dp := 1-y, 1-y
		if (i*7)%n < prodRight {
			pp = y
		}
		if (i*13)%n < devRight {
			dp = y
		}
		out[i] = labelled{label: lbl(y), rec: &record.Record{
			ID: fmt.Sprint(i), ReceivedAt: t0.Add(time.Duration(i) * time.Second),
			Models: map[string]record.ModelResult{
				"prod": res(model.RoleProduction, record.StatusOK, pp, 0.5, 1000),
				"dev":  res(model.RoleChallenger, record.StatusOK, dp, 0.5, 1000),
			},
		}}
	}
	return out
}

func TestMetricsAccumulator_CompareVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name              string
		n, prodRight, dev int
		minPairs          int
		verdict           Verdict
	}{
		{"challenger much better", 400, 240, 340, 0, VerdictChallengerBetter},
		{"production much better", 400, 340, 240, 0, VerdictProductionBetter},
		{"same accuracy", 400, 300, 300, 0, VerdictNoDifference},
		{"too few pairs", 150, 60, 140, 0, VerdictInsufficientData},
		{"too few pairs for a custom minimum", 400, 240, 340, 500, VerdictInsufficientData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := NewMetricsAccumulator(MetricsOptions{})
			for _, r := range pairedRecords(tc.n, tc.prodRight, tc.dev) {
				acc.Add(r.rec, r.label)
			}
			c, err := acc.Compare("dev", tc.minPairs)
			mustOK(t, err)
			if c.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s (%+v)", c.Verdict, tc.verdict, c)
			}
			if c.Pairs != int64(tc.n) || c.Production != "prod" || c.Challenger != "dev" {
				t.Errorf("pairs %d production %s", c.Pairs, c.Production)
			}
			assertClose(t, "production accuracy", val(c.ProductionAccuracy), float64(tc.prodRight)/float64(tc.n), 1e-15)
			assertClose(t, "challenger accuracy", val(c.ChallengerAccuracy), float64(tc.dev)/float64(tc.n), 1e-15)
			assertClose(t, "difference", val(c.Difference), float64(tc.dev-tc.prodRight)/float64(tc.n), 1e-15)
			if !(val(c.CI95Low) <= val(c.Difference) && val(c.Difference) <= val(c.CI95High)) {
				t.Errorf("interval [%v, %v] misses %v", val(c.CI95Low), val(c.CI95High), val(c.Difference))
			}
			relClose(t, "mcnemar", val(c.McNemarPValue), exactMcNemarP(int(c.ProductionOnlyRight), int(c.ChallengerOnlyRight)), 1e-12)
			wantMin := tc.minPairs
			if wantMin == 0 {
				wantMin = DefaultMinPairs
			}
			if c.MinPairs != wantMin {
				t.Errorf("min pairs %d", c.MinPairs)
			}
		})
	}
	acc := NewMetricsAccumulator(MetricsOptions{})
	for _, r := range handRecords() {
		acc.Add(r.rec, r.label)
	}
	if _, err := acc.Compare("ghost", 0); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown challenger: %v", err)
	}
	if _, err := acc.Compare("prod", 0); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("production as challenger: %v", err)
	}
	// Hand records: only r1 and r2 are labelled and answered by both.
	c, err := acc.Compare("dev", 0)
	mustOK(t, err)
	if c.Pairs != 2 || c.ProductionOnlyRight != 1 || c.ChallengerOnlyRight != 0 || c.Verdict != VerdictInsufficientData {
		t.Errorf("hand comparison %+v", c)
	}
	empty, err := acc.Compare("canary", 0)
	mustOK(t, err)
	if empty.Pairs != 3 {
		t.Errorf("canary pairs %d, want 3 (r1, r2, r3)", empty.Pairs)
	}
}

// assertJSONClose compares the JSON forms of a and b, numbers to 1e-12.
func assertJSONClose(t *testing.T, a, b any) {
	t.Helper()
	var x, y any
	for _, p := range []struct {
		v   any
		out *any
	}{{a, &x}, {b, &y}} {
		raw, err := json.Marshal(p.v)
		mustOK(t, err)
		mustOK(t, json.Unmarshal(raw, p.out))
	}
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		switch xv := x.(type) {
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok || len(xv) != len(yv) {
				t.Errorf("%s: %v vs %v", path, x, y)
				return
			}
			for k := range xv {
				walk(path+"."+k, xv[k], yv[k])
			}
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				t.Errorf("%s: %v vs %v", path, x, y)
				return
			}
			for i := range xv {
				walk(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i])
			}
		case float64:
			yv, ok := y.(float64)
			if !ok {
				t.Errorf("%s: %v vs %v", path, x, y)
				return
			}
			assertClose(t, path, xv, yv, 1e-12)
		default:
			if !reflect.DeepEqual(x, y) {
				t.Errorf("%s: %v vs %v", path, x, y)
			}
		}
	}
	walk("", x, y)
}

func TestMetricsAccumulator_CountsServedAnswersAndFallbacks(t *testing.T) {
	one := 1
	rec := func(at time.Duration, servedBy, reason string) *record.Record {
		return &record.Record{
			ID: servedBy + at.String(), ReceivedAt: t0.Add(at),
			Models: map[string]record.ModelResult{
				"prod":   {Role: model.RoleProduction, Status: record.StatusOK, Prediction: &one},
				"canary": {Role: model.RoleCanary, Status: record.StatusOK, Prediction: &one},
			},
			Decision: &record.Decision{ServedBy: servedBy, Reason: reason},
		}
	}
	acc := NewMetricsAccumulator(MetricsOptions{Bucket: time.Hour})
	acc.Add(rec(0, "prod", "preferred"), nil)
	acc.Add(rec(time.Minute, "canary", "fallback"), nil)
	acc.Add(rec(2*time.Hour, "prod", "preferred"), nil)
	acc.Add(rec(2*time.Hour+time.Minute, "", "unavailable"), nil)
	rep := acc.Result()
	if rep.Fallbacks != 1 {
		t.Errorf("fallbacks = %d, want 1", rep.Fallbacks)
	}
	if got := modelByName(t, rep.Models, "prod").Served; got != 2 {
		t.Errorf("prod served %d, want 2", got)
	}
	if got := modelByName(t, rep.Models, "canary").Served; got != 1 {
		t.Errorf("canary served %d, want 1", got)
	}
	if len(rep.Buckets) != 2 || rep.Buckets[0].Fallbacks != 1 || rep.Buckets[1].Fallbacks != 0 {
		t.Errorf("bucket fallbacks %+v", rep.Buckets)
	}
}

func TestMetricsAccumulator_CompareBucketsSplitsThePairsByBucket(t *testing.T) {
	recs := pairedRecords(400, 240, 340) // one a second from t0
	for _, tc := range []struct {
		name    string
		bucket  time.Duration
		buckets int
	}{
		{"one bucket holds everything", time.Hour, 1},
		{"100-second buckets", 100 * time.Second, distinctBuckets(400, 100*time.Second)},
		{"no buckets", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := NewMetricsAccumulator(MetricsOptions{Bucket: tc.bucket})
			for _, r := range recs {
				acc.Add(r.rec, r.label)
			}
			whole, err := acc.Compare("dev", 10)
			mustOK(t, err)
			days := acc.CompareBuckets("dev", 10)
			if len(days) != tc.buckets {
				t.Fatalf("%d buckets, want %d", len(days), tc.buckets)
			}
			var sum PairedCounts
			for i, d := range days {
				if i > 0 && !d.Start.After(days[i-1].Start) {
					t.Errorf("bucket %d starts at %v, not after %v", i, d.Start, days[i-1].Start)
				}
				if d.Production != "prod" || d.Challenger != "dev" || d.MinPairs != 10 {
					t.Errorf("bucket %d: %+v", i, d.Comparison)
				}
				sum.OnlyA += d.ProductionOnlyRight
				sum.OnlyB += d.ChallengerOnlyRight
				sum.BothRight += d.Pairs
			}
			if tc.buckets > 0 && (sum.BothRight != whole.Pairs || sum.OnlyA != whole.ProductionOnlyRight || sum.OnlyB != whole.ChallengerOnlyRight) {
				t.Errorf("buckets add up to %d pairs (%d/%d discordant), whole range %d (%d/%d)", sum.BothRight, sum.OnlyA, sum.OnlyB,
					whole.Pairs, whole.ProductionOnlyRight, whole.ChallengerOnlyRight)
			}
			if len(days) == 1 && !reflect.DeepEqual(days[0].Comparison, whole) {
				t.Errorf("the one bucket %+v differs from the whole range %+v", days[0].Comparison, whole)
			}
		})
	}
}

// distinctBuckets is how many buckets of width w the n seconds from t0 span.
func distinctBuckets(n int, w time.Duration) int {
	seen := map[time.Time]bool{}
	for i := range n {
		seen[t0.Add(time.Duration(i)*time.Second).UTC().Truncate(w)] = true
	}
	return len(seen)
}
