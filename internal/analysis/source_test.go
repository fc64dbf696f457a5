package analysis_test

import (
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/record"
)

func TestLabels_LatestReceivedWinsAndTiesGoToTheLastAdded(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	l := analysis.NewLabels()
	for _, fb := range []record.Feedback{
		{RequestID: "a", Label: 1, ReceivedAt: t0.Add(time.Hour)},
		{RequestID: "a", Label: 0, ReceivedAt: t0}, // older: ignored
		{RequestID: "b", Label: 0, ReceivedAt: t0},
		{RequestID: "b", Label: 1, ReceivedAt: t0}, // same time, added later: wins
		{RequestID: "", Label: 1, ReceivedAt: t0},  // no request id: ignored
	} {
		l.Add(fb)
	}
	if got := l.Get("a"); got == nil || *got != 1 {
		t.Errorf("a = %v, want 1 (the later label)", got)
	}
	if got := l.Get("b"); got == nil || *got != 1 {
		t.Errorf("b = %v, want 1 (the last added of equal times)", got)
	}
	if l.Get("c") != nil || l.Len() != 2 {
		t.Errorf("unlabelled c = %v, len %d", l.Get("c"), l.Len())
	}
}
