package monitor_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// genFields are the Titanic example's input fields, in configuration order.
var genFields = []string{"pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"}

// genT0 is the received_at of the first generated record.
var genT0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// genModels loads the Titanic example's three bundles.
func genModels(tb testing.TB) []monitor.Model {
	tb.Helper()
	var out []monitor.Model
	for _, m := range []struct {
		name string
		role model.Role
	}{{"prod-gbt", model.RoleProduction}, {"canary-rule", model.RoleCanary}, {"dev-logreg", model.RoleChallenger}} {
		data, err := titanic.FS.ReadFile("models/" + m.name + ".json")
		if err != nil {
			tb.Fatal(err)
		}
		b, err := model.LoadBytes(m.name, data)
		if err != nil {
			tb.Fatalf("load bundle %s: %v", m.name, err)
		}
		out = append(out, monitor.Model{Name: m.name, Role: m.role, Bundle: b})
	}
	return out
}

// generator produces realistic records: inputs drawn from the production
// bundle's reference sample (ages and fares jittered, a drift in the second
// half), every model really scored (features, probability), varied
// latencies, some timeouts, errors, late answers, rejected and unavailable
// requests, and labels for about a third of the requests.
type generator struct {
	rng    *rand.Rand
	models []monitor.Model
	rows   []schema.Input
	step   time.Duration
}

func newGenerator(models []monitor.Model, n int) *generator {
	span := 30 * 24 * time.Hour
	return &generator{
		rng:    rand.New(rand.NewPCG(1, 2)),
		models: models,
		rows:   models[0].Bundle.Profile.ReferenceSample.Rows,
		step:   span / time.Duration(max(n, 1)),
	}
}

// record returns the i-th record and, when it is labelled, its label.
func (g *generator) record(i, n int) (record.Record, *int) {
	r := g.rng
	at := genT0.Add(time.Duration(i)*g.step + time.Duration(r.IntN(1000))*time.Microsecond)
	rec := record.Record{
		// A UUIDv7 as the gateway makes them (time-ordered, lower case).
		ID:         fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", 0x0193a000+i, r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Int64N(1<<48)),
		ReceivedAt: at,
		Endpoint:   "/v1/predict",
		EntityID:   fmt.Sprint(892 + r.IntN(50000)),
	}
	u := r.Float64()
	if u < 0.004 {
		rec.Status = record.RequestRejected
		rec.Raw = `{"pclass": 7, "sex": "unknown"}`
		rec.Problems = []schema.FieldError{{Field: "pclass", Problem: "must be one of 1, 2, 3"}}
		return rec, nil
	}
	src := g.rows[r.IntN(len(g.rows))]
	in := make(schema.Input, len(src))
	for k, v := range src {
		in[k] = v
	}
	drift := i > n/2
	if a, ok := in.Float("age"); ok {
		a += math.Round(r.NormFloat64()*4) / 2
		if drift {
			a += 3
		}
		in["age"] = math.Max(0.42, math.Min(80, a))
	}
	if f, ok := in.Float("fare"); ok && r.IntN(3) == 0 {
		in["fare"] = math.Round(f*(0.9+0.2*r.Float64())*10000) / 10000
	}
	rec.Input = in
	rec.Models = make(map[string]record.ModelResult, len(g.models))
	unavailable := u < 0.006
	for j, m := range g.models {
		pr, err := m.Bundle.Predict(context.Background(), in)
		if err != nil {
			panic(fmt.Sprintf("predict %s: %v", m.Name, err))
		}
		res := record.ModelResult{
			Role: m.Role, Version: m.Bundle.Version, Artifact: m.Bundle.Artifact(),
			Features: pr.Features, Label: pr.Label, Status: record.StatusOK,
			LatencyUS: int64(10*(j+1)) + int64(math.Exp(r.NormFloat64()*0.6)*float64(40*(j+1))),
		}
		v := r.Float64()
		switch {
		case unavailable || (j == 2 && v < 0.01):
			res.Status, res.LatencyUS, res.Features, res.Label = record.StatusTimeout, 50_000, model.Features{}, ""
		case j == 2 && v < 0.015:
			res.Status, res.Error, res.Features, res.Label = record.StatusError, "remote: 500 Internal Server Error", model.Features{}, ""
		case j == 2 && v < 0.02:
			res.Status, res.LatencyUS = record.StatusLate, 50_000+int64(r.IntN(20_000))
			fallthrough
		default:
			c, p := pr.Class, pr.Probability
			res.Prediction, res.Probability = &c, &p
		}
		rec.Models[m.Name] = res
	}
	if unavailable {
		rec.Status = record.RequestUnavailable
		rec.Decision = &record.Decision{Reason: "unavailable", DeadlineMS: 50, LatencyUS: 50_100}
		return rec, nil
	}
	rec.Status = record.RequestOK
	rec.Decision = &record.Decision{ServedBy: "prod-gbt", Reason: "preferred", DeadlineMS: 50, LatencyUS: rec.Models["prod-gbt"].LatencyUS + 40}
	if r.IntN(3) != 0 {
		return rec, nil
	}
	p := *rec.Models["prod-gbt"].Probability
	if drift {
		p *= 0.8 // the model gets worse on drifted traffic
	}
	label := 0
	if r.Float64() < p {
		label = 1
	}
	return rec, &label
}

// fill writes n generated records and their feedback (labels a day later,
// a few relabelled later, at the same instant, or with an older time) to s.
func fill(ctx context.Context, s store.Store, models []monitor.Model, n int) error {
	g := newGenerator(models, n)
	const batch = 1000
	recs := make([]record.Record, 0, batch)
	var fbs []record.Feedback
	flush := func() error {
		if err := s.WriteRecords(ctx, recs); err != nil {
			return err
		}
		recs = recs[:0]
		if len(fbs) >= 10000 {
			if err := s.WriteFeedback(ctx, fbs); err != nil {
				return err
			}
			fbs = fbs[:0]
		}
		return nil
	}
	for i := range n {
		rec, label := g.record(i, n)
		recs = append(recs, rec)
		if label != nil {
			at := rec.ReceivedAt.Add(24 * time.Hour)
			fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: *label, ReceivedAt: at})
			switch g.rng.IntN(100) {
			case 0, 1: // corrected later
				fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: 1 - *label, ReceivedAt: at.Add(time.Hour)})
			case 2: // corrected at the same instant: the row added last wins
				fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: 1 - *label, ReceivedAt: at})
			case 3: // an older label sent late does not count
				fbs = append(fbs, record.Feedback{RequestID: rec.ID, Label: 1 - *label, ReceivedAt: at.Add(-time.Hour)})
			}
		}
		if len(recs) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(recs) > 0 {
		if err := s.WriteRecords(ctx, recs); err != nil {
			return err
		}
	}
	if len(fbs) > 0 {
		return s.WriteFeedback(ctx, fbs)
	}
	return nil
}
