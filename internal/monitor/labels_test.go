package monitor

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

func TestLabelSet_AgreesWithAnalysisLabelsOnEveryIdShapeAndTie(t *testing.T) {
	ids := []string{
		"0193a000-0000-7000-8000-000000000001",
		"0193A000-0000-7000-8000-000000000001", // upper case: another id
		"0193a000-0000-7000-8000-00000000000g", // not hex
		"0193a000-0000-7000-8000_000000000001", // not a dash
		"892", "", "request-é",
	}
	rng := rand.New(rand.NewPCG(9, 10))
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	want := analysis.NewLabels()
	got := newLabelSet()
	for range 2000 {
		fb := record.Feedback{
			RequestID:  ids[rng.IntN(len(ids))],
			Label:      rng.IntN(3),
			ReceivedAt: t0.Add(time.Duration(rng.IntN(5)) * time.Nanosecond).Add(time.Duration(rng.IntN(3)) * time.Second),
		}
		if rng.IntN(50) == 0 {
			fb.Label = 1 << 40
		}
		want.Add(fb)
		got.add(fb)
		for _, id := range ids {
			w := want.Get(id)
			g, ok := got.get(id)
			normalize := func(v int) int { return map[bool]int{true: v, false: 2}[v == 0 || v == 1] }
			if (w != nil) != ok || (ok && normalize(*w) != normalize(g)) {
				t.Fatalf("id %q after %+v: got %d %v, want %v", id, fb, g, ok, w)
			}
		}
	}
	if got.len() != want.Len() {
		t.Errorf("%d labelled requests, want %d", got.len(), want.Len())
	}
}
