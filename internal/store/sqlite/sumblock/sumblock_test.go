package sumblock

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestBlock_RoundTripsEveryFieldExactly(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 2, 3, 4, 5000, time.UTC)
	ss := []record.Summary{
		{ID: "a", ReceivedAt: t0, Status: record.RequestOK, ServedBy: "prod", DecisionReason: "fallback",
			Input: schema.Input{"age": 34.5, "pclass": 3.0, "big": 1e300, "minus": -7.0, "sex": "male", "vip": true, "x": false, "gone": nil, "neg": math.Copysign(0, -1), "tiny": 5e-324},
			Models: []record.ModelSummary{
				{Name: "canary", Role: model.RoleCanary, Version: "1", Status: record.StatusOK, Prediction: new(1), Probability: new(0.1 + 0.2), LatencyUS: 3},
				{Name: "prod", Role: model.RoleProduction, Version: "v", Status: record.StatusTimeout, LatencyUS: 50000},
			}},
		{ID: "b", ReceivedAt: t0.Add(-time.Hour), Status: record.RequestRejected},
		{ID: "c", ReceivedAt: t0, Status: record.RequestOK, Input: schema.Input{}},
	}
	Sort(ss)
	data, inputs, err := Append(nil, nil, ss)
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var blk Block
	if err := d.Decode(data, inputs, &blk); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(blk.Summaries, ss) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", blk.Summaries, ss)
	}
	if math.Signbit(blk.Summaries[1].Input["neg"].(float64)) == false {
		t.Error("negative zero lost its sign")
	}
	if err := d.Decode(data, nil, &blk); err != nil || blk.Summaries[1].Input != nil {
		t.Errorf("without inputs: input %v, err %v", blk.Summaries[1].Input, err)
	}
}

func TestBlock_TruncatedDataIsCorruptNotAPanic(t *testing.T) {
	ss := []record.Summary{{ID: "a", Status: "ok", Input: schema.Input{"k": "v"},
		Models: []record.ModelSummary{{Name: "m", Prediction: new(0), Probability: new(0.5)}}}}
	data, inputs, err := Append(nil, nil, ss)
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var blk Block
	for n := range len(data) {
		if err := d.Decode(data[:n], inputs, &blk); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("data %d of %d bytes: err %v, want ErrCorrupt", n, len(data), err)
		}
	}
	for n := range len(inputs) {
		if err := d.Decode(data, inputs[:n], &blk); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("inputs %d of %d bytes: err %v, want ErrCorrupt", n, len(inputs), err)
		}
	}
}
