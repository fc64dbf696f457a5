package simulate

import (
	"math"
	"testing"
	"time"
)

func TestHistogram_QuantilesWithinHalfAPercent(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * 100 * time.Microsecond) // 0.1 ms … 1 s
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Millisecond},
		{0.9, 900 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{0.0001, 100 * time.Microsecond},
		{1, time.Second},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if rel := math.Abs(float64(got-tt.want)) / float64(tt.want); rel > 0.005 {
			t.Errorf("Quantile(%v) = %v, want %v ±0.5%%", tt.q, got, tt.want)
		}
	}
	if h.Max() != time.Second || h.Count() != 10000 {
		t.Errorf("Max %v Count %d, want 1s and 10000", h.Max(), h.Count())
	}
	if m := h.Mean(); m != 500050*time.Microsecond {
		t.Errorf("Mean = %v, want 500.05ms", m)
	}
}

func TestHistogram_EmptyAndTinyValues(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Error("empty histogram should report 0")
	}
	h.Record(-time.Second)
	h.Record(200 * time.Nanosecond)
	if got := h.Quantile(1); got != 200*time.Nanosecond {
		t.Errorf("Quantile(1) of sub-µs values = %v, want 200ns (the max)", got)
	}
}
