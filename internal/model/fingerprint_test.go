package model_test

import (
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestRowHash_DiffersWhenAnyFingerprintedValueOrTypeDiffers(t *testing.T) {
	fields := []string{"age", "sex", "vip"}
	base := schema.Input{"age": 22.0, "sex": "male", "vip": false, "ignored": "x"}
	same := []schema.Input{
		{"age": 22.0, "sex": "male", "vip": false, "ignored": "y"}, // an unfingerprinted field
		{"age": 22.0, "sex": "male", "vip": false},
	}
	differ := []schema.Input{
		{"age": 22.5, "sex": "male", "vip": false},
		{"age": nil, "sex": "male", "vip": false},
		{"sex": "male", "vip": false, "age": "22"},
		{"age": 22.0, "sex": "male ", "vip": false},
		{"age": 22.0, "sex": "male", "vip": true},
		{"age": 22.0, "sex": "male", "vip": nil},
	}
	h := model.RowHash(fields, base)
	for _, in := range same {
		if model.RowHash(fields, in) != h {
			t.Errorf("%v hashes apart from %v", in, base)
		}
	}
	for _, in := range differ {
		if model.RowHash(fields, in) == h {
			t.Errorf("%v hashes like %v", in, base)
		}
	}
	if model.RowHash([]string{"a", "b"}, schema.Input{"a": "x", "b": "y"}) == model.RowHash([]string{"a", "b"}, schema.Input{"a": "xy", "b": ""}) {
		t.Error("string boundaries are not part of the hash")
	}
	if model.RowHash(fields, schema.Input{"age": 0.0}) != model.RowHash(fields, schema.Input{"age": -1 * 0.0}) {
		t.Error("0 and -0 hash apart")
	}
}

func TestRowFingerprint_ContainsExactlyTheTrainingRowsAfterARoundTrip(t *testing.T) {
	fields := []string{"x", "c"}
	rows := []schema.Input{{"x": 1.0, "c": "a"}, {"x": 2.0, "c": "b"}, {"x": 1.0, "c": "a"}}
	fp := model.NewRowFingerprint(fields, rows)
	if fp.Rows != 2 || fp.Method != model.FingerprintMethod {
		t.Fatalf("fingerprint = %+v, want 2 distinct rows", fp)
	}
	set, err := fp.Set()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range rows {
		if !set.Contains(in) {
			t.Errorf("%v not found", in)
		}
	}
	if set.Contains(schema.Input{"x": 1.0, "c": "b"}) || (model.TrainingSet{}).Contains(rows[0]) {
		t.Error("found a row that was not trained on")
	}
	bad := *fp
	bad.Rows = 3
	if _, err := bad.Set(); err == nil {
		t.Error("a row count that disagrees with the hashes decoded")
	}
}
