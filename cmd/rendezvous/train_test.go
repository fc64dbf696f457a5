package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// writeTitanicCSV writes the shipped reference rows back out as a
// Kaggle-format CSV (the columns the example config maps) and returns its path.
func writeTitanicCSV(t *testing.T, labelled bool) string {
	t.Helper()
	data, err := titanic.FS.ReadFile("models/canary-rule.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.LoadBytes("canary-rule.json", data)
	if err != nil {
		t.Fatal(err)
	}
	s := b.Profile.ReferenceSample
	var buf bytes.Buffer
	cols := []struct{ col, field string }{{"Pclass", "pclass"}, {"Sex", "sex"}, {"Age", "age"}, {"SibSp", "sibsp"}, {"Parch", "parch"}, {"Fare", "fare"}, {"Embarked", "embarked"}}
	buf.WriteString("PassengerId")
	if labelled {
		buf.WriteString(",Survived")
	}
	for _, c := range cols {
		buf.WriteString("," + c.col)
	}
	buf.WriteByte('\n')
	for i, r := range s.Rows {
		buf.WriteString(s.IDs[i])
		if labelled {
			buf.WriteString("," + strconv.Itoa(s.Labels[i]))
		}
		for _, c := range cols {
			buf.WriteByte(',')
			switch v := r[c.field].(type) {
			case float64:
				buf.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			case string:
				buf.WriteString(v)
			}
		}
		buf.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "titanic.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTrain_WritesABundleThatPredictAndInspectRead(t *testing.T) {
	csv := writeTitanicCSV(t, true)
	out := filepath.Join(t.TempDir(), "m.json")
	code, stdout, stderr := runCmd("train", "--data", csv, "--spec", "../../examples/titanic/train/prod-gbt.yaml",
		"--param", "trees=20", "--version", "test", "--folds", "3", "--out", out)
	if code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "cv 3-fold  accuracy") || !strings.Contains(stderr, "fold 3/3") {
		t.Errorf("train output:\n%s\nstderr:\n%s", stdout, stderr)
	}
	b, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != "test" || b.CreatedAt != "" {
		t.Errorf("version %q created_at %q", b.Version, b.CreatedAt)
	}

	preds := filepath.Join(t.TempDir(), "p.csv")
	code, _, stderr = runCmd("predict", "--model", out, "--data", csv, "--out", preds)
	if code != 0 {
		t.Fatalf("predict exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(preds)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 892 || lines[0] != "id,prediction,label,probability" || !strings.HasPrefix(lines[1], "1,") {
		t.Errorf("predict wrote %d lines, first %q %q", len(lines), lines[0], lines[1])
	}
	if !strings.Contains(stderr, "accuracy ") {
		t.Errorf("predict on a labelled CSV did not report accuracy: %s", stderr)
	}
	// Offline answers equal Model.Predict on the same rows.
	row1 := strings.Split(lines[1], ",")
	p, _ := b.Predict(context.Background(), b.Profile.ReferenceSample.Rows[0])
	if row1[1] != strconv.Itoa(p.Class) || row1[2] != p.Label || row1[3] != strconv.FormatFloat(p.Probability, 'g', -1, 64) {
		t.Errorf("predict row %v, Model.Predict %+v", row1, p)
	}

	code, stdout, stderr = runCmd("predict", "--model", out, "--data", csv, "--features")
	first := strings.SplitN(stdout, "\n", 3)
	if code != 0 || first[0] != "id,prediction,label,probability,"+strings.Join(b.Pipeline.Features(), ",") {
		t.Errorf("predict --features exit %d header %q: %s", code, first[0], stderr)
	}
	// Passenger 1: pclass 3, male, age 22, 1 sibling, fare 7.25, S.
	if len(first) > 1 && !strings.HasSuffix(first[1], ",3,1,0,1,0,7.25,1,22,2") {
		t.Errorf("predict --features row %q", first[1])
	}

	code, stdout, _ = runCmd("model", "inspect", out)
	if code != 0 || !strings.Contains(stdout, b.Artifact()) || !strings.Contains(stdout, "pipeline:") || !strings.Contains(stdout, "cv 3-fold mean") {
		t.Errorf("inspect exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runCmd("model", "inspect", "--json", out)
	var v map[string]any
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v["artifact"] != b.Artifact() {
		t.Errorf("inspect --json exit %d err %v: %.200s", code, err, stdout)
	}
}

func TestTrain_SameSeedWritesIdenticalFiles(t *testing.T) {
	csv := writeTitanicCSV(t, true)
	dir := t.TempDir()
	for _, name := range []string{"a.json", "b.json"} {
		if code, _, stderr := runCmd("train", "--data", csv, "--spec", "../../examples/titanic/train/canary-rule.yaml",
			"--created-at", "2026-01-01T00:00:00Z", "--out", filepath.Join(dir, name)); code != 0 {
			t.Fatalf("train: %s", stderr)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.json"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.json"))
	if !bytes.Equal(a, b) || !bytes.Contains(a, []byte(`"created_at": "2026-01-01T00:00:00Z"`)) {
		t.Error("same data and seed gave different files (or created_at not stored)")
	}
}

func TestTrainPredictInspect_FailuresExitNonZeroWithOneLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("PassengerId,Survived,Pclass,Sex,Age,SibSp,Parch,Fare,Embarked\n1,0,3,male,old,1,0,7.25,S\n"), 0o644)
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, nil, 0o644)
	noFare := filepath.Join(dir, "nofare.csv")
	os.WriteFile(noFare, []byte("PassengerId,Survived,Pclass,Sex,Age,SibSp,Parch,Embarked\n1,0,3,male,22,1,0,S\n"), 0o644)
	badBundle := filepath.Join(dir, "bundle.json")
	os.WriteFile(badBundle, []byte(`{"format_version": 2}`), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", "--algo", "gbt", "--name", "x", "--version", "1", "--data", bad, "--out", filepath.Join(dir, "x.json")}, 1,
			fmt.Sprintf(`rendezvous train: bad CSV: %s line 2, column 5 (Age): invalid number "old"`, bad)},
		{[]string{"train", "--algo", "gbt", "--name", "x", "--version", "1", "--data", empty, "--out", filepath.Join(dir, "x.json")}, 1,
			fmt.Sprintf("rendezvous train: bad CSV: %s line 1: empty file (want a header row)", empty)},
		{[]string{"train", "--algo", "gbt", "--name", "x", "--version", "1", "--data", noFare, "--out", filepath.Join(dir, "x.json")}, 1,
			fmt.Sprintf(`rendezvous train: bad CSV: %s line 1: missing column "Fare" (mapped to field "fare")`, noFare)},
		{[]string{"train", "--data", bad}, 2, "rendezvous train: usage: --out is required"},
		{[]string{"train", "--algo", "gbt", "--name", "x", "--version", "1", "--param", "trees", "--out", "x"}, 2, `rendezvous train: usage: invalid value "trees" for flag -param: want key=value, got "trees"`},
		{[]string{"predict", "--model", badBundle, "--data", bad}, 1,
			fmt.Sprintf("rendezvous predict: invalid model bundle %s: format_version: unsupported version 2 (this build reads 1)", badBundle)},
		{[]string{"model", "inspect", badBundle}, 1,
			fmt.Sprintf("rendezvous model: invalid model bundle %s: format_version: unsupported version 2 (this build reads 1)", badBundle)},
		{[]string{"model", "explain"}, 2, `rendezvous model: usage: unknown subcommand "explain" (want inspect)`},
	}
	for _, tt := range tests {
		code, _, stderr := runCmd(tt.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		last := lines[len(lines)-1]
		if code != tt.code || last != tt.want {
			t.Errorf("%v: exit %d, stderr last line\n%q\nwant exit %d and\n%q", tt.args, code, last, tt.code, tt.want)
		}
	}
}

func TestTrain_HoldoutKeepsAStratifiedShareOutAndWritesItAsCSV(t *testing.T) {
	data := testenv.TrainingCSV(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"train", "--data", data, "--algo", "logistic", "--name", "m", "--version", "1",
		"--folds", "0", "--seed", "3", "--holdout", "0.2", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	td := b.TrainingData
	// 891 rows: 549 did not survive, 342 did; 20 % of each is 110 and 68.
	if td.Holdout != 0.2 || td.HoldoutRows != 178 || td.Rows != 891-178 || td.Fingerprint == nil || td.Fingerprint.Rows == 0 {
		t.Fatalf("training data = %+v", td)
	}
	held, err := os.ReadFile(filepath.Join(dir, "m-holdout.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(held)), "\n")
	orig, _ := os.ReadFile(data)
	if len(lines) != 179 || lines[0] != strings.SplitN(string(orig), "\n", 2)[0] {
		t.Fatalf("holdout CSV has %d lines (header %q), want the header and 178 rows", len(lines), lines[0])
	}
	// No held-out row is in the training set, unless an identical row was
	// also trained on.
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.TrainingMapping()
	hd, err := dataset.ReadFile(filepath.Join(dir, "m-holdout.csv"), m, true)
	if err != nil {
		t.Fatal(err)
	}
	survived := 0
	for _, l := range hd.Labels {
		survived += l
	}
	if survived != 68 {
		t.Errorf("holdout has %d survivors, want 68 (stratified)", survived)
	}
	for i, r := range hd.Rows {
		if b.TrainingSet().Contains(r) {
			t.Errorf("held-out row %d (line %d) is a training input", i, hd.Lines[i])
		}
	}
}
