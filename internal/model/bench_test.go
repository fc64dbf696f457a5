package model_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/model/train"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// gbt200x3 trains a gbt bundle with exactly 200 trees of depth 3 on the
// reference rows, through the production pipeline.
func gbt200x3(b *testing.B) *model.Bundle {
	b.Helper()
	ref, _ := loadShipped(b, "prod-gbt")
	spec, err := train.LoadSpec(filepath.Join("..", "..", "examples", "titanic", "train", "prod-gbt.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	spec.Params["trees"], spec.Params["depth"], spec.Params["min_leaf"] = "200", "3", "1"
	s := ref.Profile.ReferenceSample
	var fields []schema.Field
	for _, f := range ref.Pipeline.Inputs {
		fields = append(fields, schema.Field{Name: f.Name, Type: f.Type})
	}
	r, err := train.Run(train.Options{
		Spec: spec, Data: &dataset.Dataset{Name: "ref.csv", Fields: fields, Rows: s.Rows, IDs: s.IDs, Labels: s.Labels},
		Positive: ref.Labels.Positive, Words: ref.Labels.Words, Seed: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r.Bundle
}

// BenchmarkPredict measures Bundle.Predict including the feature pipeline,
// cycling through the 891 training passengers (a fixed input would let the
// branch predictor memorise one path through the trees, which live traffic
// does not allow).
func BenchmarkPredict(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name   string
		bundle func() *model.Bundle
	}{
		{"rule", func() *model.Bundle { m, _ := loadShipped(b, "canary-rule"); return m }},
		{"logistic", func() *model.Bundle { m, _ := loadShipped(b, "dev-logreg"); return m }},
		{"gbt", func() *model.Bundle { return gbt200x3(b) }},
		{"gbt-prod", func() *model.Bundle { m, _ := loadShipped(b, "prod-gbt"); return m }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			m := c.bundle()
			rows := m.Profile.ReferenceSample.Rows
			i := 0
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu0 := threadCPU()
			for b.Loop() {
				if _, err := m.Predict(ctx, rows[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(rows) {
					i = 0
				}
			}
			if cpu := threadCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
