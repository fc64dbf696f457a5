package record

import (
	"math"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestCountInputs_CountsEachDistinctValueOfEachField(t *testing.T) {
	p := 0.5
	ss := []Summary{
		{Status: "ok", Input: schema.Input{"age": 22.0, "sex": "male"}, Models: []ModelSummary{{Name: "m", Probability: &p}}},
		{Status: "ok", Input: schema.Input{"age": 22, "sex": "female"}, Models: []ModelSummary{{Name: "m", Probability: &p}}},
		{Status: "ok", Input: schema.Input{"age": math.Copysign(0, -1)}, Models: []ModelSummary{{Name: "m"}}},
		{Status: RequestRejected, Input: schema.Input{"age": 1.0}},
	}
	c := CountInputs(ss)
	if c.Rows != 3 {
		t.Fatalf("Rows = %d, want 3", c.Rows)
	}
	tests := []struct {
		field string
		total int
		n     int // distinct values
	}{
		{"age", 3, 2}, // 22 (float64 and int alike) and -0
		{"sex", 2, 2},
	}
	for _, tt := range tests {
		var f *FieldCounts
		for i := range c.Fields {
			if c.Fields[i].Name == tt.field {
				f = &c.Fields[i]
			}
		}
		if f == nil {
			t.Fatalf("no counts for %s", tt.field)
		}
		if f.Total() != tt.total || len(f.Values) != tt.n {
			t.Errorf("%s: total %d over %d values, want %d over %d", tt.field, f.Total(), len(f.Values), tt.total, tt.n)
		}
	}
	if len(c.Probabilities) != 1 || c.Probabilities[0].Total() != 2 || len(c.Probabilities[0].Values) != 1 {
		t.Errorf("probabilities %+v, want model m with 0.5 twice", c.Probabilities)
	}
}
