package analysis

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

func TestMetricsAccumulator_AddSummaryEqualsAddOfTheRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	roles := []model.Role{model.RoleProduction, model.RoleCanary, model.RoleChallenger}
	statuses := []record.Status{record.StatusOK, record.StatusOK, record.StatusTimeout, record.StatusLate, record.StatusError, record.StatusSkipped}
	for _, bucket := range []time.Duration{0, time.Hour} {
		full := NewMetricsAccumulator(MetricsOptions{Bucket: bucket})
		lean := NewMetricsAccumulator(MetricsOptions{Bucket: bucket})
		var s record.Summary
		for i := range 5000 {
			rec := record.Record{ID: fmt.Sprint(i), ReceivedAt: t0.Add(time.Duration(rng.IntN(1e6)) * time.Millisecond), Status: record.RequestOK, Models: map[string]record.ModelResult{}}
			for j, name := range []string{"prod", "canary", "dev", "dev2"}[:2+rng.IntN(3)] {
				r := record.ModelResult{Role: roles[min(j, 2)], Version: fmt.Sprint(rng.IntN(2)), Status: statuses[rng.IntN(len(statuses))], LatencyUS: int64(rng.IntN(500))}
				if r.Status == record.StatusOK || r.Status == record.StatusLate {
					r.Prediction, r.Probability = new(rng.IntN(2)), new(float64(rng.IntN(100))/100)
				}
				rec.Models[name] = r
			}
			if rng.IntN(10) > 0 {
				reason := []string{"preferred", "fallback"}[rng.IntN(2)]
				rec.Decision = &record.Decision{ServedBy: []string{"prod", "canary"}[rng.IntN(2)], Reason: reason}
			}
			var label *int
			if rng.IntN(3) == 0 {
				label = new(rng.IntN(3)) // 2 counts as unlabelled
			}
			full.Add(&rec, label)
			record.Summarize(&rec, &s, false)
			lean.AddSummary(&s, label)
		}
		if got, want := lean.Result(), full.Result(); !reflect.DeepEqual(got, want) {
			t.Fatalf("bucket %v: AddSummary gave\n%+v\nAdd gave\n%+v", bucket, got, want)
		}
		for _, c := range []string{"canary", "dev", "dev2"} {
			got, err1 := lean.Compare(c, 10)
			want, err2 := full.Compare(c, 10)
			if !reflect.DeepEqual(got, want) || (err1 == nil) != (err2 == nil) {
				t.Errorf("compare %s: %+v %v, want %+v %v", c, got, err1, want, err2)
			}
		}
	}
}
