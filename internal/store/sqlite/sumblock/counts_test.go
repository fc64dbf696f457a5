package sumblock

import (
	"math"
	"reflect"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestCounts_RoundTripExactly(t *testing.T) {
	p1, p2 := 0.25, 1.0/3
	ss := []record.Summary{
		{Status: "ok", Input: schema.Input{"age": 22.0, "fare": 7.25, "sex": "male", "vip": true, "neg": math.Copysign(0, -1), "list": []any{1.0, "x"}, "none": nil},
			Models: []record.ModelSummary{{Name: "a", Probability: &p1}, {Name: "b"}}},
		{Status: "ok", Input: schema.Input{"age": 22.0, "sex": "fémale \"q\"", "vip": false, "big": 1e300},
			Models: []record.ModelSummary{{Name: "a", Probability: &p2}, {Name: "b", Probability: &p1}}},
		{Status: record.RequestRejected, Input: schema.Input{"age": 99.0}},
		{Status: "ok"}, // no input: not counted
	}
	want := record.CountInputs(ss)
	if want.Rows != 2 {
		t.Fatalf("counted %d rows, want 2 (rejected and input-less records are left out)", want.Rows)
	}
	b, err := AppendCounts(nil, &want)
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var got record.InputCounts
	if err := d.DecodeCounts(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n %+v\nwant\n %+v", got, want)
	}
	for i := range got.Fields {
		for _, v := range got.Fields[i].Values {
			if x, ok := v.Value.(float64); ok && x == 0 && !math.Signbit(x) && got.Fields[i].Name == "neg" {
				t.Errorf("-0 came back as +0")
			}
		}
	}
	// Every truncation is an error, never a silent partial result.
	for n := range len(b) {
		if err := d.DecodeCounts(b[:n], &got); err == nil {
			t.Fatalf("DecodeCounts of the first %d of %d bytes: no error", n, len(b))
		}
	}
}
