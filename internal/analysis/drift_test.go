package analysis

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func seq(n int, f func(i int) float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func repeatStrings(n int, vals ...string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = vals[i%len(vals)]
	}
	return out
}

// normals draws n normal values with a fixed seed.
func normals(seed uint64, n int, mean, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	return seq(n, func(int) float64 { return mean + sd*r.NormFloat64() })
}

func TestComputeDrift_InfersTypesAndPicksEvidentlyDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ref, cur  Column
		typ       ColumnType
		method    Method
		hasPValue bool
		threshold float64
	}{
		{"numeric small reference", NumericColumn("x", normals(1, 500, 0, 1)), NumericColumn("x", normals(2, 300, 0, 1)), TypeNumeric, MethodKS, true, 0.05},
		{"numeric large reference", NumericColumn("x", normals(1, 1001, 0, 1)), NumericColumn("x", normals(2, 300, 0, 1)), TypeNumeric, MethodWasserstein, false, 0.1},
		{"numeric with 5 values is categorical", NumericColumn("x", seq(100, func(i int) float64 { return float64(i % 5) })), NumericColumn("x", seq(50, func(i int) float64 { return float64(i % 5) })), TypeCategorical, MethodChiSquare, true, 0.05},
		{"numeric with 6 values is numeric", NumericColumn("x", seq(100, func(i int) float64 { return float64(i % 6) })), NumericColumn("x", seq(50, func(i int) float64 { return float64(i % 6) })), TypeNumeric, MethodKS, true, 0.05},
		{"numeric 0/1 is binary", NumericColumn("x", seq(100, func(i int) float64 { return float64(i % 2) })), NumericColumn("x", seq(50, func(i int) float64 { return float64(i % 2) })), TypeBinary, MethodZ, true, 0.05},
		{"text binary", TextColumn("x", repeatStrings(100, "male", "female")), TextColumn("x", repeatStrings(50, "female", "male")), TypeBinary, MethodZ, true, 0.05},
		{"text categorical", TextColumn("x", repeatStrings(100, "C", "Q", "S")), TextColumn("x", repeatStrings(50, "S", "Q", "C")), TypeCategorical, MethodChiSquare, true, 0.05},
		{"text large reference", TextColumn("x", repeatStrings(2000, "C", "Q", "S")), TextColumn("x", repeatStrings(50, "S")), TypeCategorical, MethodJensenShannon, false, 0.1},
		{"binary large reference", TextColumn("x", repeatStrings(2000, "a", "b")), TextColumn("x", repeatStrings(50, "b")), TypeBinary, MethodJensenShannon, false, 0.1},
		{"numeric vs text compares as text", NumericColumn("x", seq(10, func(i int) float64 { return float64(i % 3) })), TextColumn("x", repeatStrings(10, "0", "1", "x")), TypeCategorical, MethodChiSquare, true, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := ComputeDrift(Table{Rows: tc.ref.Len(), Columns: []Column{tc.ref}}, Table{Rows: tc.cur.Len(), Columns: []Column{tc.cur}}, DriftOptions{})
			mustOK(t, err)
			c := rep.Columns[0]
			if c.Type != tc.typ || c.Method != tc.method || (c.PValue != nil) != tc.hasPValue || c.Threshold != tc.threshold {
				t.Errorf("got type %s method %s p %v threshold %v; want %s %s p? %v %v", c.Type, c.Method, c.PValue, c.Threshold, tc.typ, tc.method, tc.hasPValue, tc.threshold)
			}
			if math.IsNaN(float64(c.PSI)) {
				t.Error("PSI missing")
			}
		})
	}
}

func TestComputeDrift_InjectedShiftDriftsAtEveryMethodAndNoShiftDoesNot(t *testing.T) {
	// Ages like the Titanic's (mean 30, sd 14): +15 years must drift with
	// the small-reference test and the large-reference distance alike.
	for _, n := range []int{700, 5000} {
		ref := normals(10, n, 30, 14)
		same := normals(11, n/2, 30, 14)
		shifted := seq(len(same), func(i int) float64 { return same[i] + 15 })
		for _, tc := range []struct {
			cur   []float64
			drift bool
		}{{same, false}, {shifted, true}} {
			rep, err := ComputeDrift(
				Table{Rows: n, Columns: []Column{NumericColumn("age", ref)}},
				Table{Rows: len(tc.cur), Columns: []Column{NumericColumn("age", tc.cur)}}, DriftOptions{})
			mustOK(t, err)
			c := rep.Columns[0]
			if c.Drifted != tc.drift || rep.DatasetDrift != tc.drift {
				t.Errorf("n=%d shifted=%v: method %s statistic %v p %v drifted %v", n, tc.drift, c.Method, c.Statistic, c.PValue, c.Drifted)
			}
			if tc.drift == (float64(c.PSI) < 0.1) {
				t.Errorf("n=%d shifted=%v: psi %v on the wrong side of 0.1", n, tc.drift, c.PSI)
			}
		}
	}
}

func TestComputeDrift_CategoryShiftAndUnseenCategory(t *testing.T) {
	ref := TextColumn("port", repeatStrings(300, "S", "S", "S", "C", "Q"))
	cur := TextColumn("port", repeatStrings(200, "S", "C", "C", "Q", "Q"))
	rep, err := ComputeDrift(Table{Rows: 300, Columns: []Column{ref}}, Table{Rows: 200, Columns: []Column{cur}}, DriftOptions{})
	mustOK(t, err)
	if c := rep.Columns[0]; !c.Drifted || c.Method != MethodChiSquare {
		t.Errorf("category shift: %+v", c)
	}
	unseen := TextColumn("port", repeatStrings(200, "S", "S", "S", "C", "X"))
	rep, err = ComputeDrift(Table{Rows: 300, Columns: []Column{ref}}, Table{Rows: 200, Columns: []Column{unseen}}, DriftOptions{})
	mustOK(t, err)
	c := rep.Columns[0]
	if !c.Drifted || !math.IsInf(float64(c.Statistic), 1) || *c.PValue != 0 {
		t.Errorf("unseen category: %+v", c)
	}
	b, err := json.Marshal(c)
	mustOK(t, err)
	if !strings.Contains(string(b), `"statistic":null`) || !strings.Contains(string(b), `"p_value":0`) {
		t.Errorf("JSON %s: want statistic null, p_value 0", b)
	}
}

func TestComputeDrift_MissingValuesAreDroppedAndCounted(t *testing.T) {
	ref := NumericColumn("age", []float64{1, 2, math.NaN(), 4, 5, 6, 7, math.Inf(1)})
	cur := NumericColumn("age", []float64{math.NaN(), math.NaN(), math.NaN()})
	port := TextColumn("port", []string{"S", "", "C", "Q", "S", "S", "C", "Q"})
	port2 := TextColumn("port", []string{"S", "C", ""})
	rep, err := ComputeDrift(Table{Rows: 8, Columns: []Column{ref, port}}, Table{Rows: 3, Columns: []Column{cur, port2}}, DriftOptions{})
	mustOK(t, err)
	age, p := rep.Columns[0], rep.Columns[1]
	if age.ReferenceMissing != 2 || age.CurrentMissing != 3 || age.ReferenceN != 6 || age.CurrentN != 0 {
		t.Errorf("age missing counts: %+v", age)
	}
	if age.Drifted || !math.IsNaN(float64(age.Statistic)) || age.PValue != nil {
		t.Errorf("age without current values must be reported without a statistic: %+v", age)
	}
	if p.ReferenceMissing != 1 || p.CurrentMissing != 1 || p.ReferenceN != 7 || p.CurrentN != 2 {
		t.Errorf("port missing counts: %+v", p)
	}
	b, err := json.Marshal(rep)
	mustOK(t, err)
	if strings.Contains(string(b), "missing") {
		t.Errorf("JSON shape must not grow: %s", b)
	}
}

func TestComputeDrift_OptionsAndErrors(t *testing.T) {
	ref := Table{Rows: 100, Columns: []Column{
		NumericColumn("age", normals(1, 100, 30, 10)),
		TextColumn("sex", repeatStrings(100, "m", "f")),
		TextColumn("port", repeatStrings(100, "S", "C", "Q")),
	}}
	cur := Table{Rows: 100, Columns: []Column{
		NumericColumn("age", normals(1, 100, 30, 10)), // same values: PSI 0
		TextColumn("sex", repeatStrings(100, "m", "f", "f", "f")),
		TextColumn("port", repeatStrings(100, "S", "C", "Q")),
	}}
	rep, err := ComputeDrift(ref, cur, DriftOptions{
		Columns:    []string{"sex", "age"},
		Methods:    map[string]Method{"age": MethodPSI, "sex": MethodJensenShannon},
		Thresholds: map[string]float64{"sex": 0.01},
	})
	mustOK(t, err)
	if len(rep.Columns) != 2 || rep.Columns[0].Column != "sex" || rep.Columns[1].Column != "age" {
		t.Fatalf("columns %+v", rep.Columns)
	}
	if s := rep.Columns[0]; s.Method != MethodJensenShannon || s.Threshold != 0.01 || !s.Drifted {
		t.Errorf("sex override: %+v", s)
	}
	if a := rep.Columns[1]; a.Method != MethodPSI || a.Statistic != a.PSI {
		t.Errorf("age psi override: %+v", a)
	}
	if rep.DriftShare != 0.5 || !rep.DatasetDrift {
		t.Errorf("share %v dataset %v, want 0.5 true (≥ 50%%)", rep.DriftShare, rep.DatasetDrift)
	}
	for _, tc := range []struct {
		name string
		opts DriftOptions
		cur  Table
		want error
		msg  string
	}{
		{"unknown column", DriftOptions{Columns: []string{"height"}}, cur, ErrUnknownColumn, `"height"`},
		{"column absent from current", DriftOptions{}, Table{Rows: 1, Columns: cur.Columns[:1]}, ErrUnknownColumn, `"sex"`},
		{"method on unselected column", DriftOptions{Columns: []string{"age"}, Methods: map[string]Method{"sex": MethodZ}}, cur, ErrUnknownColumn, `"sex"`},
		{"ks on text", DriftOptions{Methods: map[string]Method{"sex": MethodKS}}, cur, ErrMethodNotApplicable, `"sex"`},
		{"z on three categories", DriftOptions{Methods: map[string]Method{"port": MethodZ}}, cur, ErrMethodNotApplicable, `"port"`},
		{"unknown method", DriftOptions{Methods: map[string]Method{"age": "magic"}}, cur, ErrUnknownMethod, "magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ComputeDrift(ref, tc.cur, tc.opts)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v naming %s", err, tc.want, tc.msg)
			}
		})
	}
}

func TestTableFromInputs_TypesAndMissing(t *testing.T) {
	rows := []schema.Input{
		{"age": 22.0, "sex": "male", "vip": true, "fare": nil},
		{"age": nil, "sex": "female", "vip": false},
		{"age": 40.0, "sex": "male", "vip": true, "fare": 7.25},
	}
	tab := TableFromInputs(rows, nil)
	if tab.Rows != 3 || strings.Join(tab.Names(), ",") != "age,fare,sex,vip" {
		t.Fatalf("table %d rows, names %v", tab.Rows, tab.Names())
	}
	age, _ := tab.Column("age")
	if !age.IsNumeric() || age.Numbers[0] != 22 || !math.IsNaN(age.Numbers[1]) {
		t.Errorf("age %+v", age)
	}
	fare, _ := tab.Column("fare")
	if !fare.IsNumeric() || !math.IsNaN(fare.Numbers[0]) || !math.IsNaN(fare.Numbers[1]) || fare.Numbers[2] != 7.25 {
		t.Errorf("fare %+v", fare)
	}
	vip, _ := tab.Column("vip")
	if vip.IsNumeric() || strings.Join(vip.Strings, ",") != "true,false,true" {
		t.Errorf("vip %+v", vip)
	}
	sel := TableFromInputs(rows, []string{"sex", "nope"})
	nope, _ := sel.Column("nope")
	if len(sel.Columns) != 2 || nope.Len() != 3 || !math.IsNaN(nope.Numbers[0]) {
		t.Errorf("selected %+v", sel)
	}
	// The drift engine runs on inputs directly.
	rep, err := ComputeDrift(tab, TableFromInputs(rows[:2], nil), DriftOptions{Columns: []string{"sex", "vip"}})
	mustOK(t, err)
	if rep.Columns[0].Type != TypeBinary || rep.Columns[1].Type != TypeBinary {
		t.Errorf("types %s %s", rep.Columns[0].Type, rep.Columns[1].Type)
	}
}

func TestReadCSV_InfersTypesAndMissingWords(t *testing.T) {
	tab, err := ReadCSV(strings.NewReader("\ufeffid,age,port,flag\n1,22,S,1\n2,NA,,0\n3,4.5e1,C,NaN\n"))
	mustOK(t, err)
	if tab.Rows != 3 || strings.Join(tab.Names(), ",") != "id,age,port,flag" {
		t.Fatalf("rows %d names %v", tab.Rows, tab.Names())
	}
	age, _ := tab.Column("age")
	if !age.IsNumeric() || age.Numbers[2] != 45 || !math.IsNaN(age.Numbers[1]) {
		t.Errorf("age %+v", age)
	}
	port, _ := tab.Column("port")
	if port.IsNumeric() || port.Strings[1] != "" || port.Strings[2] != "C" {
		t.Errorf("port %+v", port)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "no header"},
		{"a,a\n1,2\n", `duplicate column "a"`},
		{"a,\n1,2\n", "column 2 has no name"},
		{"a,b\n1,2\n3\n", "line 3"},
	} {
		if _, err := ReadCSV(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadCSV(%q) err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestDriftReport_WriteTextMatchesGolden(t *testing.T) {
	p := 0.0123
	rep := DriftReport{ReferenceRows: 891, CurrentRows: 400, DriftShare: 0.5, DatasetDrift: true, Columns: []ColumnDrift{
		{Column: "Age", Type: TypeNumeric, Method: MethodKS, Statistic: 0.4692, PValue: ptr(2.18e-71), Threshold: 0.05, Drifted: true, PSI: 1.6286, ReferenceMissing: 177, CurrentMissing: 80},
		{Column: "Embarked", Type: TypeCategorical, Method: MethodChiSquare, Statistic: Number(math.Inf(1)), PValue: ptr(0), Threshold: 0.05, Drifted: true, PSI: 0.3},
		{Column: "Sex", Type: TypeBinary, Method: MethodZ, Statistic: -0.5, PValue: &p, Threshold: 0.05, PSI: 0.001},
		{Column: "Fare", Type: TypeNumeric, Method: MethodWasserstein, Statistic: 0.05, Threshold: 0.1, PSI: 0.02},
	}}
	rep.DriftShare = 0.5
	var buf bytes.Buffer
	mustOK(t, rep.WriteText(&buf))
	golden := filepath.Join("testdata", "drift_table.golden")
	if *update {
		mustOK(t, os.WriteFile(golden, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	mustOK(t, err)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s (run with -update):\n%s", golden, buf.String())
	}
}

func TestDriftFromInputs_AgeShiftOnRawInputs(t *testing.T) {
	ages := normals(5, 600, 30, 14)
	ref := make([]schema.Input, 600)
	same := make([]schema.Input, 300)
	shifted := make([]schema.Input, 300)
	sexes := []string{"male", "female", "male"}
	for i := range ref {
		ref[i] = schema.Input{"age": ages[i], "sex": sexes[i%3], "pclass": float64(1 + i%3)}
		if i%4 == 0 {
			ref[i]["age"] = nil // missing ages, as in the Titanic data
		}
	}
	later := normals(6, 300, 30, 14)
	for i := range same {
		same[i] = schema.Input{"age": later[i], "sex": sexes[(i+1)%3], "pclass": float64(1 + (i+2)%3)}
		shifted[i] = schema.Input{"age": later[i] + 15, "sex": sexes[(i+1)%3], "pclass": float64(1 + (i+2)%3)}
	}
	for _, tc := range []struct {
		name  string
		cur   []schema.Input
		drift bool
	}{{"unshifted", same, false}, {"age + 15", shifted, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := DriftFromInputs(ref, tc.cur, DriftOptions{})
			mustOK(t, err)
			if len(rep.Columns) != 3 || rep.Columns[0].Column != "age" {
				t.Fatalf("columns %+v", rep.Columns)
			}
			age := rep.Columns[0]
			if age.Drifted != tc.drift || age.Method != MethodKS || age.ReferenceMissing != 150 {
				t.Errorf("age: drifted %v method %s p %v missing %d", age.Drifted, age.Method, age.PValue, age.ReferenceMissing)
			}
			for _, c := range rep.Columns[1:] {
				if c.Drifted {
					t.Errorf("%s drifted", c.Column)
				}
			}
			if rep.Columns[1].Type != TypeCategorical || rep.Columns[2].Type != TypeBinary {
				t.Errorf("types pclass %s sex %s", rep.Columns[1].Type, rep.Columns[2].Type)
			}
		})
	}
}

// TestComputeDrift_BelowMinSampleIsInsufficientData: two current rows far
// from the reference give a huge PSI but no verdict; the columns count
// neither as drifted nor as tested, and the dataset does not drift. With
// enough rows (or the minimum lowered) the verdict comes back.
func TestComputeDrift_BelowMinSampleIsInsufficientData(t *testing.T) {
	ref := Table{Rows: 700, Columns: []Column{NumericColumn("age", normals(10, 700, 30, 14)), TextColumn("sex", seqText(700))}}
	cur := Table{Rows: 2, Columns: []Column{NumericColumn("age", []float64{90, 95}), TextColumn("sex", []string{"female", "female"})}}
	rep, err := ComputeDrift(ref, cur, DriftOptions{})
	mustOK(t, err)
	for _, c := range rep.Columns {
		if c.Verdict != "insufficient_data" || c.Drifted {
			t.Errorf("%s: verdict %q drifted %v, want insufficient_data", c.Column, c.Verdict, c.Drifted)
		}
	}
	if rep.TestedColumns != 0 || rep.DriftedColumns != 0 || rep.DatasetDrift || rep.MinSample != DefaultMinSample {
		t.Errorf("report %+v", rep)
	}
	var b strings.Builder
	mustOK(t, rep.WriteText(&b))
	if !strings.Contains(b.String(), "0 of 0 columns drifted (2 more with fewer than 30 current values: insufficient_data)") {
		t.Errorf("text:\n%s", b.String())
	}
	rep, err = ComputeDrift(ref, cur, DriftOptions{MinSample: 2})
	mustOK(t, err)
	if rep.TestedColumns != 2 || rep.Columns[0].Verdict != "drift" {
		t.Errorf("min sample 2: %+v", rep)
	}
}

func seqText(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = []string{"male", "female"}[i%3/2]
	}
	return out
}
