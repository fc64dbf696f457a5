package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// rewriteCSV writes a copy of src into dir, keeping rows for which keep(i)
// holds and passing each kept row through edit.
func rewriteCSV(t *testing.T, src, name string, keep func(i int) bool, edit func(header, row []string)) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(recs[0])
	for i, r := range recs[1:] {
		if keep != nil && !keep(i) {
			continue
		}
		if edit != nil {
			edit(recs[0], r)
		}
		_ = w.Write(r)
	}
	w.Flush()
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func addToColumn(col string, delta float64) func(header, row []string) {
	return func(header, row []string) {
		for j, h := range header {
			if h == col && row[j] != "" {
				v, _ := strconv.ParseFloat(row[j], 64)
				row[j] = strconv.FormatFloat(v+delta, 'g', -1, 64)
			}
		}
	}
}

type driftJSON struct {
	ReferenceRows int `json:"reference_rows"`
	CurrentRows   int `json:"current_rows"`
	Columns       []struct {
		Column    string   `json:"column"`
		Type      string   `json:"type"`
		Method    string   `json:"method"`
		Statistic *float64 `json:"statistic"`
		PValue    *float64 `json:"p_value"`
		Threshold float64  `json:"threshold"`
		Drifted   bool     `json:"drifted"`
		Verdict   string   `json:"verdict"`
		PSI       *float64 `json:"psi"`
	} `json:"columns"`
	DriftedColumns int     `json:"drifted_columns"`
	TestedColumns  int     `json:"tested_columns"`
	MinSample      int     `json:"min_sample"`
	DriftShare     float64 `json:"drift_share"`
	DatasetDrift   bool    `json:"dataset_drift"`
}

func runDriftJSON(t *testing.T, args ...string) driftJSON {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(t.Context(), append([]string{"drift", "--json"}, args...), &out, &errb); code != 0 {
		t.Fatalf("drift exited %d: %s", code, errb.String())
	}
	var rep driftJSON
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode: %v\n%s", err, out.String())
	}
	return rep
}

func TestDrift_AgePlus15YearsDriftsAndNothingElseDoes(t *testing.T) {
	ref := testenv.TrainingCSV(t)
	cur := rewriteCSV(t, ref, "shifted.csv", nil, addToColumn("Age", 15))
	rep := runDriftJSON(t, "--reference", ref, "--current", cur)
	if rep.ReferenceRows != 891 || rep.CurrentRows != 891 {
		t.Fatalf("rows = %d/%d, want 891/891", rep.ReferenceRows, rep.CurrentRows)
	}
	for _, c := range rep.Columns {
		switch c.Column {
		case "Age":
			if !c.Drifted || c.Method != "ks" || c.Type != "numeric" || c.PValue == nil || *c.PValue >= 0.05 {
				t.Errorf("Age: drifted=%v method=%s type=%s p=%v, want a KS drift", c.Drifted, c.Method, c.Type, c.PValue)
			}
			if c.PSI == nil || *c.PSI <= 0.25 {
				t.Errorf("Age PSI = %v, want > 0.25 (significant)", c.PSI)
			}
		default:
			if c.Drifted {
				t.Errorf("%s drifted, want only Age", c.Column)
			}
		}
	}
	if rep.DatasetDrift {
		t.Error("dataset drift with 1 of 12 columns drifted")
	}
}

func TestDrift_UnshiftedSampleDoesNotDrift(t *testing.T) {
	ref := testenv.TrainingCSV(t)
	// Every other passenger: a sample of the same population.
	cur := rewriteCSV(t, ref, "half.csv", func(i int) bool { return i%2 == 0 }, nil)
	rep := runDriftJSON(t, "--reference", ref, "--current", cur, "--columns", "Pclass,Sex,Age,SibSp,Parch,Fare,Embarked")
	if len(rep.Columns) != 7 {
		t.Fatalf("%d columns, want 7", len(rep.Columns))
	}
	for _, c := range rep.Columns {
		if c.Drifted {
			t.Errorf("%s drifted (statistic %v, p %v)", c.Column, *c.Statistic, c.PValue)
		}
	}
	if rep.DriftShare != 0 || rep.DatasetDrift {
		t.Errorf("drift share %v, dataset drift %v", rep.DriftShare, rep.DatasetDrift)
	}
}

func TestDrift_MethodOverrideAndTypes(t *testing.T) {
	ref := testenv.TrainingCSV(t)
	cur := rewriteCSV(t, ref, "shifted.csv", nil, addToColumn("Fare", 40))
	rep := runDriftJSON(t, "--reference", ref, "--current", cur, "--columns", "Fare,Sex,Pclass", "--method", "Fare=psi")
	want := map[string][2]string{"Fare": {"numeric", "psi"}, "Sex": {"binary", "z"}, "Pclass": {"categorical", "chisquare"}}
	for _, c := range rep.Columns {
		w := want[c.Column]
		if c.Type != w[0] || c.Method != w[1] {
			t.Errorf("%s: type %s method %s, want %s %s", c.Column, c.Type, c.Method, w[0], w[1])
		}
		if c.Column == "Fare" {
			if c.PValue != nil {
				t.Errorf("Fare p_value = %v, want null for a distance", *c.PValue)
			}
			if !c.Drifted || c.Threshold != 0.1 || *c.Statistic != *c.PSI {
				t.Errorf("Fare: drifted=%v threshold=%v statistic=%v psi=%v", c.Drifted, c.Threshold, *c.Statistic, *c.PSI)
			}
		}
	}
}

func TestDrift_TextTableListsEveryColumn(t *testing.T) {
	ref := testenv.TrainingCSV(t)
	cur := rewriteCSV(t, ref, "shifted.csv", nil, addToColumn("Age", 15))
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"drift", "--reference", ref, "--current", cur, "--columns", "Age,Sex"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "Age ") || !strings.Contains(lines[1], "DRIFT") || !strings.HasPrefix(lines[2], "Sex ") {
		t.Fatalf("unexpected table:\n%s", out.String())
	}
	if !strings.Contains(lines[4], "1 of 2 columns drifted") || !strings.Contains(lines[4], "dataset drift: YES") {
		t.Errorf("summary line %q", lines[4])
	}
}

func TestDrift_BadInputIsOneLineNamingFileOrColumn(t *testing.T) {
	ref := testenv.TrainingCSV(t)
	dir := t.TempDir()
	ragged := filepath.Join(dir, "ragged.csv")
	if err := os.WriteFile(ragged, []byte("a,b\n1,2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noAge := rewriteCSV(t, ref, "noage.csv", nil, nil)
	b, _ := os.ReadFile(noAge)
	_ = os.WriteFile(noAge, bytes.Replace(b, []byte("Age,"), []byte("Years,"), 1), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"missing file", []string{"--reference", filepath.Join(dir, "nope.csv"), "--current", ref}, 1, []string{"nope.csv"}},
		{"ragged row", []string{"--reference", ref, "--current", ragged}, 1, []string{"ragged.csv", "line 3"}},
		{"empty file", []string{"--reference", empty, "--current", ref}, 1, []string{"empty.csv"}},
		{"unknown column", []string{"--reference", ref, "--current", ref, "--columns", "Age,Height"}, 1, []string{"titanic_train.csv", `"Height"`}},
		{"column missing in current", []string{"--reference", ref, "--current", noAge}, 1, []string{"noage.csv", `"Age"`}},
		{"bad method", []string{"--reference", ref, "--current", ref, "--method", "Age=magic"}, 2, []string{"magic"}},
		{"method on text column", []string{"--reference", ref, "--current", ref, "--method", "Sex=ks"}, 1, []string{`"Sex"`, "ks"}},
		{"no flags", nil, 2, []string{"--reference"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), append([]string{"drift"}, tc.args...), &out, &errb)
			msg := errb.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.HasPrefix(msg, "rendezvous drift: ") {
				t.Errorf("want one line starting 'rendezvous drift: ', got %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}
