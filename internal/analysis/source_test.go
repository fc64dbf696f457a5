package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func result(role model.Role, pred int, prob float64) record.ModelResult {
	return record.ModelResult{Role: role, Version: "1", Status: record.StatusOK, Prediction: &pred, Probability: &prob, LatencyUS: 1000}
}

func TestScanMetrics_FromSQLiteUsesTheLatestLabel(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var recs []record.Record
	for i := range 40 {
		p := float64(i%10) / 10
		pred := 0
		if p >= 0.5 {
			pred = 1
		}
		recs = append(recs, record.Record{
			ID: fmt.Sprintf("req-%02d", i), ReceivedAt: t0.Add(time.Duration(i) * time.Second), Endpoint: "/v1/predict",
			Status: record.RequestOK, Input: schema.Input{"age": float64(20 + i), "sex": []string{"male", "female"}[i%2]},
			Models: map[string]record.ModelResult{
				"prod": result(model.RoleProduction, pred, p),
				"dev":  result(model.RoleChallenger, 1-pred, 1-p),
			},
		})
	}
	recs = append(recs, record.Record{ID: "bad", ReceivedAt: t0.Add(time.Hour), Status: record.RequestRejected, Raw: "{"})
	if err := s.WriteRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Every even request labelled 1; req-00 first labelled 1, then 0 later.
	var fb []record.Feedback
	for i := 0; i < 40; i += 2 {
		fb = append(fb, record.Feedback{RequestID: recs[i].ID, Label: 1, ReceivedAt: t0.Add(2 * time.Hour)})
	}
	fb = append(fb, record.Feedback{RequestID: "req-00", Label: 0, ReceivedAt: t0.Add(3 * time.Hour)})
	if err := s.WriteFeedback(ctx, fb); err != nil {
		t.Fatal(err)
	}

	got, err := analysis.ScanMetrics(ctx, s, store.ScanParams{Until: t0.Add(30 * time.Second)}, analysis.MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.NewMetricsAccumulator(analysis.MetricsOptions{})
	for i := range 30 {
		var label *int
		if i%2 == 0 {
			l := 1
			if i == 0 {
				l = 0
			}
			label = &l
		}
		want.Add(&recs[i], label)
	}
	gj, _ := json.Marshal(got.Result())
	wj, _ := json.Marshal(want.Result())
	if string(gj) != string(wj) {
		t.Errorf("metrics from the store differ from direct accumulation:\n%s\n%s", gj, wj)
	}
	if r := got.Result(); r.Requests != 30 || r.Labelled != 15 {
		t.Errorf("requests %d labelled %d, want 30 and 15", r.Requests, r.Labelled)
	}

	tab, err := analysis.ScanInputs(ctx, s, store.ScanParams{}, nil, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows != 40 || len(tab.Columns) != 3 || tab.Columns[2].Name != "prod.probability" {
		t.Fatalf("input table %d rows, columns %v", tab.Rows, tab.Names())
	}
	age, _ := tab.Column("age")
	if !age.IsNumeric() || age.Numbers[39] != 59 {
		t.Errorf("age column %v", age.Numbers)
	}
	ref := analysis.TableFromInputs([]schema.Input{{"age": 20.0, "sex": "male"}, {"age": 25.0, "sex": "female"}}, nil)
	if _, err := analysis.ComputeDrift(ref, tab, analysis.DriftOptions{}); err != nil {
		t.Errorf("drift on scanned inputs: %v", err)
	}
}
