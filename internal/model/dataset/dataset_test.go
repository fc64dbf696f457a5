package dataset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
)

func titanicMapping(t *testing.T) dataset.Mapping {
	t.Helper()
	data, err := titanic.FS.ReadFile(titanic.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.ParseUnvalidated("rendezvous.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.TrainingMapping()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const header = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"

func TestRead_MapsColumnsAndMissingValues(t *testing.T) {
	csv := header +
		`1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S` + "\n" +
		`6,0,3,"Moran, Mr. James",male,,0,0,330877,8.4583,,Q` + "\n" +
		`62,1,1,"Icard, Miss. Amelie",female,38,0,0,113572,80,B28,` + "\n" +
		`900,1,2,"Sentinel, Mr. X",male,-1,0,0,1,-1,,C` + "\n"
	d, err := dataset.Read("train.csv", []byte(csv), titanicMapping(t), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != 4 || !d.HasLabels() || d.Labels[2] != 1 || d.IDs[1] != "6" || d.Lines[3] != 5 {
		t.Fatalf("rows %d labels %v ids %v lines %v", len(d.Rows), d.Labels, d.IDs, d.Lines)
	}
	r := d.Rows[0]
	if r["pclass"] != 3.0 || r["sex"] != "male" || r["age"] != 22.0 || r["sibsp"] != 1.0 || r["fare"] != 7.25 || r["embarked"] != "S" {
		t.Errorf("row 1 = %v", r)
	}
	if v, ok := d.Rows[1]["age"]; !ok || v != nil {
		t.Errorf("empty Age = %v (present %v), want nil", v, ok)
	}
	if v, ok := d.Rows[2]["embarked"]; !ok || v != nil {
		t.Errorf("empty Embarked = %v (present %v), want nil", v, ok)
	}
	if d.Rows[3]["age"] != nil || d.Rows[3]["fare"] != nil {
		t.Errorf("sentinel -1 not turned into nil: %v", d.Rows[3])
	}
	if len(d.SHA256) != 64 {
		t.Errorf("sha256 %q", d.SHA256)
	}
}

func TestRead_UnlabelledFileIsAllowedForScoring(t *testing.T) {
	csv := "PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n892,3,\"Kelly, Mr. James\",male,34.5,0,0,330911,7.8292,,Q\n"
	d, err := dataset.Read("test.csv", []byte(csv), titanicMapping(t), false)
	if err != nil {
		t.Fatal(err)
	}
	if d.HasLabels() || len(d.Rows) != 1 || d.IDs[0] != "892" {
		t.Errorf("labels %v rows %d ids %v", d.Labels, len(d.Rows), d.IDs)
	}
}

func TestRead_BadFilesGiveOneLineNamingFileLineAndColumn(t *testing.T) {
	row := `1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S` + "\n"
	tests := []struct {
		name, csv, want string
	}{
		{"empty file", "", "train.csv line 1: empty file (want a header row)"},
		{"header only", header, "train.csv line 2: no data rows after the header"},
		{"missing column", strings.Replace(header, ",Fare", ",Price", 1) + row, `train.csv line 1: missing column "Fare" (mapped to field "fare")`},
		{"missing label column", strings.Replace(header, "Survived", "Lived", 1) + row, `train.csv line 1: missing label column "Survived"`},
		{"bad number", header + row + strings.Replace(row, ",22,", ",twenty,", 1), `train.csv line 3, column 6 (Age): invalid number "twenty"`},
		{"value outside the schema", header + strings.Replace(row, ",S\n", ",X\n", 1), `train.csv line 2, column 12 (Embarked): field embarked: must be one of`},
		{"integer field with a fraction", header + strings.Replace(row, ",1,0,A/5", ",1.5,0,A/5", 1), `train.csv line 2, column 7 (SibSp): field sibsp:`},
		{"bad label", header + strings.Replace(row, "1,0,3", "1,yes,3", 1), `train.csv line 2, column 2 (Survived): invalid label "yes"`},
		{"unknown class", header + strings.Replace(row, "1,0,3", "1,2,3", 1), `train.csv line 2, column 2 (Survived): label 2 is not a configured class [0 1]`},
		{"ragged row", header + "1,0,3\n", "train.csv line 2, column 1: wrong number of fields"},
		{"duplicate column", strings.Replace(header, "Ticket", "Fare", 1) + row, `train.csv line 1, column 10 (Fare): duplicate column`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataset.Read("train.csv", []byte(tt.csv), titanicMapping(t), true)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, dataset.ErrBadCSV) {
				t.Errorf("error does not wrap ErrBadCSV: %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}
