package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC)

func sampleRecords() []record.Record {
	feat := model.Features{Names: []string{"pclass", "gender"}, Values: []float64{3, 1}}
	return []record.Record{
		{
			ID: "r1", ReceivedAt: t0, Endpoint: "/v1/predict", EntityID: "892", Status: record.RequestOK,
			Input: schema.Input{"pclass": 3.0, "sex": "male", "age": nil},
			Models: map[string]record.ModelResult{
				"prod": {Role: model.RoleProduction, Features: feat, Prediction: ptr(0), Probability: ptr(0.11), LatencyUS: 38, Status: record.StatusOK},
				"dev":  {Role: model.RoleChallenger, LatencyUS: 50000, Status: record.StatusTimeout, Error: "deadline"},
			},
			Decision: &record.Decision{ServedBy: "prod", Reason: "preferred", Deployment: 3},
		},
		{
			ID: "r2", ReceivedAt: t0.Add(time.Second), Endpoint: "/v1/predict", Status: record.RequestRejected,
			Raw: `{"pclass":"x"}`,
		},
	}
}

func plan() Plan {
	p := NewPlanner([]Field{{"pclass", schema.TypeInteger}, {"sex", schema.TypeString}, {"age", schema.TypeNumber}},
		[]ModelColumns{{Name: "prod"}})
	for _, r := range sampleRecords() {
		p.Observe(&r)
	}
	return p.Plan()
}

func write(t *testing.T, f Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(f, &buf, plan())
	if err != nil {
		t.Fatal(err)
	}
	recs := sampleRecords()
	if err := w.Write(&recs[0], &monitor.Label{Class: 1, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&recs[1], nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var wantHeader = "request_id,received_at,entity_id,status,served_by,deployment,input_pclass,input_sex,input_age," +
	"prod_prediction,prod_probability,prod_status,prod_latency_us,prod_pclass,prod_gender," +
	"dev_prediction,dev_probability,dev_status,dev_latency_us,label,label_at"

func TestPlanner_KeepsConfiguredOrderAndAddsModelsFoundInRecords(t *testing.T) {
	cols := plan().columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	if got := strings.Join(names, ","); got != wantHeader {
		t.Fatalf("columns\n got %s\nwant %s", got, wantHeader)
	}
}

func TestCSV_OneRowPerRequestWithEmptyCellsForNulls(t *testing.T) {
	rows, err := csv.NewReader(bytes.NewReader(write(t, CSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want header + 2", len(rows))
	}
	if got := strings.Join(rows[0], ","); got != wantHeader {
		t.Fatalf("header %s", got)
	}
	want1 := "r1,2026-11-24T12:00:00.123456Z,892,ok,prod,3,3,male,,0,0.11,ok,38,3,1,,,timeout,50000,1,2026-11-24T13:00:00.123456Z"
	if got := strings.Join(rows[1], ","); got != want1 {
		t.Fatalf("row 1\n got %s\nwant %s", got, want1)
	}
	want2 := "r2,2026-11-24T12:00:01.123456Z,,rejected,,,,,,,,,,,,,,,,,"
	if got := strings.Join(rows[2], ","); got != want2 {
		t.Fatalf("row 2\n got %s\nwant %s", got, want2)
	}
}

func TestJSONL_NullsAreNullAndNumbersAreNumbers(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(write(t, JSONL))), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	if row["input_age"] != nil || row["dev_prediction"] != nil {
		t.Fatalf("nulls not null: %v %v", row["input_age"], row["dev_prediction"])
	}
	if row["prod_probability"] != 0.11 || row["input_pclass"] != 3.0 || row["label"] != 1.0 {
		t.Fatalf("values: %v", row)
	}
	if !strings.HasPrefix(lines[0], `{"request_id":"r1","received_at":`) {
		t.Fatalf("keys not in column order: %s", lines[0][:40])
	}
}

func TestParquet_ReadsBackWithTimestampsAndNulls(t *testing.T) {
	data := write(t, Parquet)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 2 {
		t.Fatalf("rows = %d", f.NumRows())
	}
	r := parquet.NewReader(f)
	rows := make([]parquet.Row, 2)
	n, err := r.ReadRows(rows)
	if n != 2 || (err != nil && !errors.Is(err, io.EOF)) {
		t.Fatalf("read %d rows: %v", n, err)
	}
	byName := func(row parquet.Row, name string) parquet.Value {
		for i, path := range f.Schema().Columns() {
			if path[0] == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return parquet.Value{}
	}
	if got := byName(rows[0], "request_id").String(); got != "r1" {
		t.Fatalf("request_id = %q", got)
	}
	if got := byName(rows[0], "received_at").Int64(); got != t0.UnixMicro() {
		t.Fatalf("received_at = %d", got)
	}
	if got := byName(rows[0], "prod_probability").Double(); got != 0.11 {
		t.Fatalf("prod_probability = %v", got)
	}
	if !byName(rows[0], "input_age").IsNull() || !byName(rows[1], "prod_status").IsNull() {
		t.Fatal("missing values should be null")
	}
	if got := byName(rows[0], "label").Int64(); got != 1 {
		t.Fatalf("label = %d", got)
	}
	col, ok := f.Schema().Lookup("received_at")
	if !ok {
		t.Fatal("no received_at column")
	}
	if lt := col.Node.Type().LogicalType(); lt == nil || !strings.HasPrefix(lt.String(), "TIMESTAMP") {
		t.Fatalf("received_at is not a timestamp column: %v", lt)
	}
}

func TestParseFormat_RejectsUnknown(t *testing.T) {
	if _, err := ParseFormat("xlsx"); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("err = %v", err)
	}
}

func TestPlanner_OrdersUnconfiguredFieldsByName(t *testing.T) {
	for range 20 { // map iteration order varies from run to run
		p := NewPlanner(nil, nil)
		p.Observe(&record.Record{Input: schema.Input{"zeta": 1.0, "alpha": "a", "mid": true, "beta": nil}})
		var got []string
		for _, f := range p.Plan().Inputs {
			got = append(got, f.Name)
		}
		if strings.Join(got, ",") != "alpha,beta,mid,zeta" {
			t.Fatalf("inputs %v, want sorted by name", got)
		}
	}
}
