package main

import (
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// handFigures are the figures computed by hand from the stored records,
// with production taken per segment (before the promotion prod-gbt, after
// it dev-logreg), not from anything the analytics read.
type handFigures struct {
	requests, served, labelledN, labelledRight map[string]int64
	agreeN, agreeEq                            map[string]int64
	// pairs[model] = {both right, only production right, only model right, both wrong}
	pairs map[string]*[4]int64
}

func computeByHand(t *testing.T, recs []record.Record, prodOf func(id string) string, truth map[string]int) handFigures {
	t.Helper()
	h := handFigures{requests: map[string]int64{}, served: map[string]int64{}, labelledN: map[string]int64{},
		labelledRight: map[string]int64{}, agreeN: map[string]int64{}, agreeEq: map[string]int64{}, pairs: map[string]*[4]int64{}}
	for _, rec := range recs {
		prod := prodOf(rec.ID)
		label, labelled := truth[rec.ID]
		pr := rec.Models[prod].Prediction
		for name, r := range rec.Models {
			h.requests[name]++
			if rec.Decision != nil && rec.Decision.ServedBy == name {
				h.served[name]++
			}
			if r.Prediction == nil {
				continue
			}
			if labelled {
				h.labelledN[name]++
				if *r.Prediction == label {
					h.labelledRight[name]++
				}
			}
			if name == prod || pr == nil {
				continue
			}
			h.agreeN[name]++
			if *r.Prediction == *pr {
				h.agreeEq[name]++
			}
			if !labelled {
				continue
			}
			p := h.pairs[name]
			if p == nil {
				p = &[4]int64{}
				h.pairs[name] = p
			}
			switch a, b := *pr == label, *r.Prediction == label; {
			case a && b:
				p[0]++
			case a:
				p[1]++
			case b:
				p[2]++
			default:
				p[3]++
			}
		}
	}
	return h
}

func near(a *float64, b float64) bool { return a != nil && math.Abs(*a-b) < 1e-12 }

// TestAnalytics_AcrossAPromotionUseTheRoleAtTheTimeOfEachRequest predicts
// 200 training rows, promotes dev-logreg (forced), predicts 200 more, labels
// three in four, and checks /v1/metrics and /v1/compare against figures
// computed by hand from the stored records with production taken per
// segment: a model's figures never mix with another's, and "production" in
// a comparison is whichever model was production for each request.
func TestAnalytics_AcrossAPromotionUseTheRoleAtTheTimeOfEachRequest(t *testing.T) {
	cfg := generousConfig(t)
	cfg.Server.MaxInFlight = 1000
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "promotion.db")
	var logs syncBuffer
	s := startOn(t, cfg, storeURL, &logs)
	ids, bodies := trainingRequests(t, cfg)
	truth := trainingLabels(t, cfg)
	const seg = 200
	segment := map[string]int{} // request id → 1 before the promotion, 2 after
	var feedback []map[string]any
	labels := map[string]int{}
	predict := func(from, to, n int) {
		instances := make([]any, 0, to-from)
		for i := from; i < to; i++ {
			var v any
			if err := json.Unmarshal(bodies[i], &v); err != nil {
				t.Fatal(err)
			}
			instances = append(instances, v)
		}
		var ans struct {
			Results []struct {
				RequestID string `json:"request_id"`
			} `json:"results"`
		}
		doJSON(t, "POST", s.base+"/v1/predict", map[string]any{"instances": instances}, http.StatusOK, &ans)
		for k, r := range ans.Results {
			segment[r.RequestID] = n
			if (from+k)%4 != 3 {
				l := truth[ids[from+k]]
				labels[r.RequestID] = l
				feedback = append(feedback, map[string]any{"request_id": r.RequestID, "label": l})
			}
		}
	}
	predict(0, seg, 1)
	doJSON(t, "POST", s.base+"/v1/models/dev-logreg/promote", map[string]any{"force": true, "reason": "analytics test"}, http.StatusOK, nil)
	predict(seg, 2*seg, 2)
	doJSON(t, "POST", s.base+"/v1/feedback", map[string]any{"feedback": feedback}, http.StatusOK, nil)
	s.stop() // a clean shutdown writes every record and label

	recs := storedRecords(t, storeURL)
	if len(recs) != 2*seg {
		t.Fatalf("%d records stored, want %d", len(recs), 2*seg)
	}
	prodOf := func(id string) string {
		if segment[id] == 1 {
			return "prod-gbt"
		}
		return "dev-logreg"
	}
	for _, rec := range recs {
		if got := rec.Models[prodOf(rec.ID)].Role; got != "production" {
			t.Fatalf("record %s (segment %d) names %s's role %q, want production", rec.ID, segment[rec.ID], prodOf(rec.ID), got)
		}
	}
	hand := computeByHand(t, recs, prodOf, labels)

	s = startOn(t, cfg, storeURL, &logs)
	var rep analysis.MetricsReport
	doJSON(t, "GET", s.base+"/v1/metrics", nil, http.StatusOK, &rep)
	if rep.Requests != 2*seg || rep.Labelled != int64(len(labels)) {
		t.Fatalf("metrics over %d requests, %d labelled; want %d, %d", rep.Requests, rep.Labelled, 2*seg, len(labels))
	}
	checkMetricsByHand(t, rep, hand)
	for _, ch := range []string{"canary-rule", "prod-gbt"} {
		var c analysis.Comparison
		doJSON(t, "GET", s.base+"/v1/compare?challenger="+ch, nil, http.StatusOK, &c)
		p := hand.pairs[ch]
		n := p[0] + p[1] + p[2] + p[3]
		if c.Production != "dev-logreg" || c.Pairs != n || c.ProductionOnlyRight != p[1] || c.ChallengerOnlyRight != p[2] ||
			!near(c.ProductionAccuracy, float64(p[0]+p[1])/float64(n)) || !near(c.ChallengerAccuracy, float64(p[0]+p[2])/float64(n)) {
			t.Errorf("compare %s: %+v\nwant by hand: production dev-logreg, %d pairs, both right %d, only production %d, only %s %d",
				ch, c, n, p[0], p[1], ch, p[2])
		}
	}
	// prod-gbt pairs only after the promotion: before it, it was production.
	if n := hand.pairs["prod-gbt"]; n[0]+n[1]+n[2]+n[3] != int64(3*seg/4) {
		t.Errorf("prod-gbt has %v pairs, want the %d labelled requests after the promotion", *n, 3*seg/4)
	}
}

func checkMetricsByHand(t *testing.T, rep analysis.MetricsReport, hand handFigures) {
	t.Helper()
	for _, m := range rep.Models {
		name := m.Model
		if m.Requests != hand.requests[name] || m.Served != hand.served[name] || m.Labelled.N != hand.labelledN[name] ||
			!near(m.Labelled.Accuracy, float64(hand.labelledRight[name])/float64(hand.labelledN[name])) {
			t.Errorf("metrics of %s: requests %d served %d labelled %d accuracy %v; by hand %d, %d, %d, %d/%d",
				name, m.Requests, m.Served, m.Labelled.N, ptrVal(m.Labelled.Accuracy),
				hand.requests[name], hand.served[name], hand.labelledN[name], hand.labelledRight[name], hand.labelledN[name])
		}
		if n := hand.agreeN[name]; n > 0 && (m.AgreementN != n || !near(m.Agreement, float64(hand.agreeEq[name])/float64(n))) {
			t.Errorf("agreement of %s with production: %v over %d; by hand %d/%d", name, ptrVal(m.Agreement), m.AgreementN, hand.agreeEq[name], n)
		}
	}
	if len(rep.Models) != 3 {
		t.Errorf("%d models in the report, want 3", len(rep.Models))
	}
}

func ptrVal(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// storedRecords reads every record of the store at url.
func storedRecords(t *testing.T, url string) []record.Record {
	t.Helper()
	st, err := sqlite.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []record.Record
	if err := st.ScanRecords(t.Context(), store.ScanParams{}, func(rec *record.Record) error {
		out = append(out, *rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
