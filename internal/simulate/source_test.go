package simulate

import (
	"os"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func TestFromDataset_KeepsIDsLabelsAndMissingValues(t *testing.T) {
	data, err := os.ReadFile("testdata/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	v, err := schema.New(schema.Options{Fields: titanicFields, AllowUnknown: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Read("small.csv", data, dataset.Mapping{
		Fields: titanicFields, Validator: v, Columns: titanicTraining.Columns,
		IDColumn: titanicTraining.IDColumn, LabelColumn: titanicTraining.LabelColumn,
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	rows := FromDataset(ds)
	if len(rows) != 5 {
		t.Fatalf("got %d rows, want 5", len(rows))
	}
	first := rows[0]
	want := schema.Input{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"}
	for k, v := range want {
		if first.Input[k] != v {
			t.Errorf("row 1 %s = %#v, want %#v", k, first.Input[k], v)
		}
	}
	if first.EntityID != "1" || !first.HasLabel || first.Label != 0 || rows[1].Label != 1 {
		t.Errorf("rows 1-2 id/label = %q/%v/%d/%d, want 1/true/0/1", first.EntityID, first.HasLabel, first.Label, rows[1].Label)
	}
	if v := rows[3].Input["age"]; v != nil {
		t.Errorf("empty Age cell = %#v, want nil", v)
	}
	if v := rows[4].Input["embarked"]; v != nil {
		t.Errorf("empty Embarked cell = %#v, want nil", v)
	}
}

func TestSample_DrawsWholeRowsSoCorrelationsSurvive(t *testing.T) {
	rows := syntheticRows(200) // fare = 2·age, label 1 iff female
	s, err := NewSample(rows)
	if err != nil {
		t.Fatal(err)
	}
	gen := NewGenerator(s, mustInjector(t, "embarked:missing=0.5", rows), 42, 1)
	seen := map[float64]bool{}
	for range 5000 {
		r := gen.Next(1)
		age, fare := r.Input["age"].(float64), r.Input["fare"].(float64)
		if fare != 2*age {
			t.Fatalf("sampled row broke the joint distribution: age %v fare %v", age, fare)
		}
		if (r.Input["sex"] == "female") != (r.Label == 1) {
			t.Fatalf("sampled row's label does not belong to it: %v label %d", r.Input, r.Label)
		}
		if !strings.HasPrefix(r.EntityID, "sim-") {
			t.Fatalf("sampled row entity id = %q, want a fresh sim- id", r.EntityID)
		}
		seen[age] = true
	}
	if len(seen) != 50 {
		t.Errorf("sampling saw %d distinct ages, want all 50", len(seen))
	}
}

func TestReplay_ReturnsRowsInOrderAndWrapsAround(t *testing.T) {
	rows := syntheticRows(3)
	rows[0].EntityID, rows[1].EntityID, rows[2].EntityID = "a", "b", "c"
	r, err := NewReplay(rows)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 5 {
		got = append(got, r.Next(nil).EntityID)
	}
	if strings.Join(got, "") != "abcab" {
		t.Errorf("replay order = %v, want a b c a b", got)
	}
}

func TestFromReference_KeepsLabelsAndIDs(t *testing.T) {
	ref := model.ReferenceSample{
		Fields: []string{"age"},
		IDs:    []string{"7", ""},
		Rows:   []schema.Input{{"age": 3.0}, {"age": nil}},
		Labels: []int{1, 0},
	}
	rows := FromReference(ref)
	if len(rows) != 2 || rows[0].EntityID != "7" || rows[0].Label != 1 || !rows[1].HasLabel || rows[1].Input["age"] != nil {
		t.Errorf("FromReference = %+v", rows)
	}
	if _, err := NewSample(nil); err == nil {
		t.Error("NewSample(nil) succeeded, want an error")
	}
}
