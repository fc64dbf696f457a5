package monitor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

func TestLabelSet_LatestReceivedWinsAndTiesGoToTheLastAdded(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	l := newLabelSet()
	for _, fb := range []record.Feedback{
		{RequestID: "a", Label: 1, ReceivedAt: t0.Add(time.Hour)},
		{RequestID: "a", Label: 0, ReceivedAt: t0}, // older: ignored
		{RequestID: "b", Label: 0, ReceivedAt: t0},
		{RequestID: "b", Label: 1, ReceivedAt: t0}, // same time, added later: wins
		{RequestID: "", Label: 1, ReceivedAt: t0},  // no request id: ignored
	} {
		l.add(fb)
	}
	if got, ok := l.get("a"); !ok || got != 1 {
		t.Errorf("a = %d %v, want 1 (the later label)", got, ok)
	}
	if got, ok := l.get("b"); !ok || got != 1 {
		t.Errorf("b = %d %v, want 1 (the last added of equal times)", got, ok)
	}
	if got, ok := l.get("c"); ok || l.len() != 2 {
		t.Errorf("unlabelled c = %d %v, len %d", got, ok, l.len())
	}
}

// refLabels is the label rule written plainly: the oracle of the label
// set's compact layout.
type refLabels map[string]record.Feedback

func (r refLabels) add(fb record.Feedback) {
	if cur, ok := r[fb.RequestID]; fb.RequestID != "" && (!ok || !fb.ReceivedAt.Before(cur.ReceivedAt)) {
		r[fb.RequestID] = fb
	}
}

func TestLabelSet_AgreesWithThePlainRuleOnEveryIdShapeAndTie(t *testing.T) {
	ids := []string{
		"0193a000-0000-7000-8000-000000000001",
		"0193A000-0000-7000-8000-000000000001", // upper case: another id
		"0193a000-0000-7000-8000-00000000000g", // not hex
		"0193a000-0000-7000-8000_000000000001", // not a dash
		"892", "", "request-é",
	}
	rng := rand.New(rand.NewPCG(9, 10))
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	want := refLabels{}
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
		want.add(fb)
		got.add(fb)
		got.sort()
		c := got.cursor()
		for _, id := range ids {
			w, wok := want[id]
			g, ok := got.get(id)
			if cg, cok := c.get(id); cg != g || cok != ok {
				t.Fatalf("id %q: cursor gives %d %v, map %d %v", id, cg, cok, g, ok)
			}
			normalize := func(v int) int { return map[bool]int{true: v, false: 2}[v == 0 || v == 1] }
			if wok != ok || (ok && normalize(w.Label) != normalize(g)) {
				t.Fatalf("id %q after %+v: got %d %v, want %+v", id, fb, g, ok, w)
			}
		}
		all := got.all()
		if len(all) != len(want) {
			t.Fatalf("all has %d labelled requests, want %d", len(all), len(want))
		}
		for id, w := range want {
			if g := all[id]; g.Class != w.Label || !g.At.Equal(w.ReceivedAt) || g.At.Location() != time.UTC {
				t.Fatalf("all()[%q] = %+v, want %+v", id, g, w)
			}
		}
	}
	if got.len() != len(want) {
		t.Errorf("%d labelled requests, want %d", got.len(), len(want))
	}
}

func TestLabelCursor_FindsEveryKeyInAnyLookupOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	l := newLabelSet()
	var ids []string
	for i := range 3000 {
		id := fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", 0x0193a000+i*3, rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48))
		ids = append(ids, id)
		if rng.IntN(3) == 0 {
			l.add(record.Feedback{RequestID: id, Label: i % 2, ReceivedAt: time.Unix(int64(i), 0)})
		}
	}
	l.sort()
	orders := map[string][]string{"ascending": ids, "descending": slices.Clone(ids), "shuffled": slices.Clone(ids)}
	slices.Reverse(orders["descending"])
	rng.Shuffle(len(ids), func(i, j int) {
		orders["shuffled"][i], orders["shuffled"][j] = orders["shuffled"][j], orders["shuffled"][i]
	})
	for name, order := range orders {
		c := l.cursor()
		for _, id := range order {
			wv, wok := l.get(id)
			gv, gok := c.get(id)
			if wv != gv || wok != gok {
				t.Fatalf("%s: id %s: cursor %d %v, map %d %v", name, id, gv, gok, wv, wok)
			}
		}
	}
}
