package model

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestNewProfile_ReservoirSamplesLargeDataWithTheSeed(t *testing.T) {
	n := 12000
	rows := make([]schema.Input, n)
	ids := make([]string, n)
	labels := make([]int, n)
	for i := range rows {
		rows[i] = schema.Input{"x": float64(i)}
		ids[i] = strconv.Itoa(i)
		labels[i] = i % 2
	}
	d := ProfileData{Inputs: []InputField{{Name: "x", Type: schema.TypeNumber}}, Rows: rows, IDs: ids, Labels: labels, Positive: 1, Seed: 1}
	a := NewProfile(d).ReferenceSample
	if len(a.Rows) != MaxReferenceSample {
		t.Fatalf("sample has %d rows, want %d", len(a.Rows), MaxReferenceSample)
	}
	late := 0
	for i, r := range a.Rows {
		x := r["x"].(float64)
		if a.IDs[i] != strconv.Itoa(int(x)) || a.Labels[i] != int(x)%2 {
			t.Fatalf("row %d: id %s label %d for x %v", i, a.IDs[i], a.Labels[i], x)
		}
		if i > 0 && x <= a.Rows[i-1]["x"].(float64) {
			t.Fatal("sample not in file order")
		}
		if x >= float64(MaxReferenceSample) {
			late++
		}
	}
	// Uniform sampling keeps about 7000/12000 of the sample past row 5000.
	if late < 2600 || late > 3200 {
		t.Errorf("%d sampled rows come after row 5000, want about 2917", late)
	}
	if b := NewProfile(d).ReferenceSample; !reflect.DeepEqual(a, b) {
		t.Error("same seed gave a different sample")
	}
	d.Seed = 2
	if c := NewProfile(d).ReferenceSample; reflect.DeepEqual(a, c) {
		t.Error("different seed gave the same sample")
	}
}

func TestReferenceSample_JSONRoundTripKeepsInputTypes(t *testing.T) {
	s := ReferenceSample{
		Fields: []string{"n", "s", "b"},
		IDs:    []string{"1", "2"},
		Rows:   []schema.Input{{"n": 1.5, "s": "a", "b": true}, {"n": nil, "s": nil, "b": false}},
		Labels: []int{1, 0},
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"fields":["n","s","b"],"ids":["1","2"],"labels":[1,0],"rows":[[1.5,"a",true],[null,null,false]]}`; string(data) != want {
		t.Errorf("JSON %s\nwant %s", data, want)
	}
	var back ReferenceSample
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip %+v, want %+v", back, s)
	}
	if err := json.Unmarshal([]byte(`{"fields":["n"],"ids":["1"],"labels":[1],"rows":[[1,2]]}`), &back); err == nil {
		t.Error("accepted a row with more values than fields")
	}
}

func TestNewProfile_NumericAndCategoryStatistics(t *testing.T) {
	rows := []schema.Input{{"x": 1.0, "c": "a"}, {"x": 2.0, "c": "b"}, {"x": 3.0, "c": "a"}, {"x": 10.0, "c": nil}, {"x": nil, "c": "a"}}
	p := NewProfile(ProfileData{
		Inputs: []InputField{{Name: "x", Type: schema.TypeNumber}, {Name: "c", Type: schema.TypeString}},
		Rows:   rows, Labels: []int{1, 0, 0, 1, 0}, Positive: 1,
		Features: []string{"x"}, X: [][]float64{{1}, {2}, {3}, {10}, {4}}, Probs: []float64{.1, .2, .3, .4, .5},
	})
	x := p.Inputs[0]
	if x.Count != 4 || x.Missing != 1 || x.MissingRate != 0.2 {
		t.Errorf("x counts %+v", x)
	}
	n := x.Numeric
	// numpy: mean 4, std(ddof=0) = sqrt(((9+4+1+36)/4)) = sqrt(12.5)
	if n.Min != 1 || n.Max != 10 || n.Mean != 4 || n.Std != 3.5355339059327378 || n.Distinct != 4 {
		t.Errorf("x stats %+v", n)
	}
	if n.Quantiles[3].Value != 1.75 || n.Quantiles[4].Value != 2.5 || n.Quantiles[5].Value != 4.75 {
		t.Errorf("x quantiles %+v", n.Quantiles)
	}
	if want := []int{1, 1, 1, 0, 0, 0, 0, 0, 0, 1}; !reflect.DeepEqual(n.Histogram.Counts, want) || n.Histogram.Edges[1] != 1.9 {
		t.Errorf("x histogram %+v", n.Histogram)
	}
	c := p.Inputs[1]
	if c.Missing != 1 || len(c.Categories) != 2 || c.Categories[0] != (CategoryFreq{Value: "a", Count: 3, Freq: 0.75}) {
		t.Errorf("c profile %+v", c)
	}
	if p.PositiveRate != 0.4 || p.Probability.Count != 5 || p.Features[0].Count != 5 {
		t.Errorf("positive rate %v probability %+v", p.PositiveRate, p.Probability)
	}
}
