package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/examples/titanic"
	"github.com/rendezvous-gw/rendezvous/internal/analysis"
	"github.com/rendezvous-gw/rendezvous/internal/config"
	"github.com/rendezvous-gw/rendezvous/internal/gateway"
	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/replay"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
	"github.com/rendezvous-gw/rendezvous/internal/testenv"
)

// candidate is the challenger of the example configuration: shadowed live
// in one store, replayed in the other.
const candidate = "dev-logreg"

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// traffic is the training CSV as requests: one every 47 minutes (so about
// four weeks of days), and a label for four of every five.
type traffic struct {
	inputs []schema.Input
	labels []int
}

func loadTraffic(t *testing.T, cfg *config.Config) traffic {
	t.Helper()
	m, err := cfg.TrainingMapping()
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.ReadFile(testenv.TrainingCSV(t), m, true)
	if err != nil {
		t.Fatal(err)
	}
	return traffic{inputs: d.Rows, labels: d.Labels}
}

func reqID(i int) string    { return fmt.Sprintf("req-%05d", i) }
func reqAt(i int) time.Time { return t0.Add(time.Duration(i) * 47 * time.Minute) }
func labelled(i int) bool   { return i%5 != 4 }
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serve sends tr through a gateway with the configuration's models minus
// drop, recording into st, then stores the labels.
func serve(t *testing.T, cfg *config.Config, st store.Store, tr traffic, drop string) {
	t.Helper()
	c := *cfg
	c.Models = nil
	for _, m := range cfg.Models {
		if m.Name != drop {
			// Deadlines no loaded machine misses: every model answers
			// every request, live as in the replay.
			m.Deadline = time.Minute
			c.Models = append(c.Models, m)
		}
	}
	c.Policy.OverallDeadline = 2 * time.Minute
	dep, err := gateway.FromConfig(&c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewRecorder(st, record.RecorderOptions{})
	g, err := gateway.New(gateway.Params{Deployment: dep, Recorder: rec, Store: st, MaxInFlight: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, in := range tr.inputs {
		if _, err := g.Predict(ctx, gateway.Request{ID: reqID(i), Endpoint: "/v1/predict", Received: reqAt(i), Input: in}); err != nil {
			t.Fatalf("predict %d: %v", i, err)
		}
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var fb []record.Feedback
	for i, l := range tr.labels {
		if labelled(i) {
			fb = append(fb, record.Feedback{ID: "fb-" + reqID(i), RequestID: reqID(i), Label: l, ReceivedAt: reqAt(i).Add(time.Hour)})
		}
	}
	if err := st.WriteFeedback(ctx, fb); err != nil {
		t.Fatal(err)
	}
}

func bundles(t *testing.T, cfg *config.Config) map[string]*model.Bundle {
	t.Helper()
	out := map[string]*model.Bundle{}
	for _, m := range cfg.Models {
		data, err := cfg.ReadBundle(m.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.LoadBytes(m.Bundle, data)
		if err != nil {
			t.Fatal(err)
		}
		out[m.Name] = b
	}
	return out
}

func newMonitor(t *testing.T, cfg *config.Config, st store.Reader, bs map[string]*model.Bundle) *monitor.Monitor {
	t.Helper()
	var models []monitor.Model
	for _, m := range cfg.Models {
		models = append(models, monitor.Model{Name: m.Name, Role: model.Role(m.Role), Bundle: bs[m.Name]})
	}
	var fields []string
	for _, f := range cfg.Schema.Fields {
		fields = append(fields, f.Name)
	}
	mon, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	return mon
}

func TestReplay_GivesTheReportLiveShadowingGives(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	tr := loadTraffic(t, cfg)
	bs := bundles(t, cfg)

	live := openStore(t)
	serve(t, cfg, live, tr, "")
	replayed := openStore(t)
	serve(t, cfg, replayed, tr, candidate)

	cand := bs[candidate]
	st, err := replay.Run(t.Context(), replay.Params{
		Source: replayed, Sink: replayed, Candidate: cand, Name: candidate,
		Inputs: cand.Pipeline.Inputs, Concurrency: 2, BatchSize: 100, PageSize: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(tr.inputs))
	if st.Read != n || st.Scored != n || st.Written != n || st.SkippedTotal() != 0 || st.Errors != 0 {
		t.Fatalf("stats = %+v, want all %d read, scored and written", st, n)
	}

	want, err := newMonitor(t, cfg, live, bs).Report(t.Context(), monitor.ReportParams{Challenger: candidate})
	if err != nil {
		t.Fatal(err)
	}
	got, err := newMonitor(t, cfg, replayed, bs).Report(t.Context(), monitor.ReportParams{Challenger: candidate})
	if err != nil {
		t.Fatal(err)
	}
	if want.Source != monitor.SourceLive || got.Source != monitor.SourceReplay || got.ReplayVersion != cand.Version {
		t.Fatalf("sources = %q and %q (version %q), want live and replay (%q)", want.Source, got.Source, got.ReplayVersion, cand.Version)
	}
	if want.Pairs < 500 || len(want.Days) < 20 || want.PredictionDrift == nil {
		t.Fatalf("live report too thin to compare: %d pairs, %d days, drift %v", want.Pairs, len(want.Days), want.PredictionDrift)
	}
	got.Source, got.ReplayVersion = want.Source, want.ReplayVersion
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("replay report differs from the live one:\n got %s\nwant %s", g, w)
	}
	t.Logf("live and replay agree: %d pairs, production %.4f, challenger %.4f, p = %.4g, verdict %s, agreement %.4f, %d days",
		want.Pairs, *want.ProductionAccuracy, *want.ChallengerAccuracy, *want.McNemarPValue, want.Verdict, *want.Agreement, len(want.Days))
}

// fixture serves the example traffic without the candidate into a fresh
// store.
func fixture(t *testing.T) (*config.Config, traffic, map[string]*model.Bundle, *sqlite.Store) {
	t.Helper()
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	tr := loadTraffic(t, cfg)
	st := openStore(t)
	serve(t, cfg, st, tr, candidate)
	return cfg, tr, bundles(t, cfg), st
}

func countReplay(t *testing.T, st store.ReplayStore, name string) int {
	t.Helper()
	n := 0
	if err := st.ScanReplayResults(t.Context(), store.ReplayScanParams{Candidate: name}, func(*store.ReplayResult) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReplay_RerunWritesNothingNewAndLeavesRecordsAlone(t *testing.T) {
	_, tr, bs, st := fixture(t)
	before, err := st.GetRecord(t.Context(), reqID(7))
	if err != nil {
		t.Fatal(err)
	}
	cand := bs[candidate]
	p := replay.Params{Source: st, Sink: st, Candidate: cand, Inputs: cand.Pipeline.Inputs, Concurrency: 2}
	first, err := replay.Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	second, err := replay.Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(tr.inputs))
	if first.Written != n || first.AlreadyStored != 0 {
		t.Fatalf("first run wrote %d (already %d), want %d new", first.Written, first.AlreadyStored, n)
	}
	if second.Written != 0 || second.AlreadyStored != n || second.Scored != n {
		t.Fatalf("rerun wrote %d new (already %d, scored %d), want 0 new and %d already stored", second.Written, second.AlreadyStored, second.Scored, n)
	}
	if got := countReplay(t, st, candidate); got != int(n) {
		t.Fatalf("stored results = %d, want %d", got, n)
	}
	after, err := st.GetRecord(t.Context(), reqID(7))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("the record changed:\n before %+v\n after  %+v", before, after)
	}
}

func TestReplay_CountsInputsLackingARequiredFieldAsSkippedWithTheReason(t *testing.T) {
	_, tr, bs, st := fixture(t)
	// The candidate's pipeline reads one more field, which no archived
	// input has.
	data, err := bs[candidate].Encode()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	pl := doc["pipeline"].(map[string]any)
	pl["inputs"] = append(pl["inputs"].([]any), map[string]any{"name": "cabin_deck", "type": "string"})
	data, _ = json.Marshal(doc)
	wider, err := model.LoadBytes("wider.json", data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := replay.Run(t.Context(), replay.Params{Source: st, Sink: st, Candidate: wider, Name: "wider", Inputs: wider.Pipeline.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(tr.inputs))
	want := map[string]int64{`missing field "cabin_deck"`: n}
	if !reflect.DeepEqual(got.Skipped, want) || got.Scored != 0 || got.Written != 0 || got.Read != n {
		t.Fatalf("stats = %+v, want all %d read and skipped as %v", got, n, want)
	}
	if c := countReplay(t, st, "wider"); c != 0 {
		t.Fatalf("stored %d results for a candidate that took no input", c)
	}
}

func TestReplay_SampleAndWindowSelectTheSameRequestsEveryRun(t *testing.T) {
	_, _, bs, st := fixture(t)
	cand := bs[candidate]
	p := replay.Params{Source: st, Sink: st, Candidate: cand, Inputs: cand.Pipeline.Inputs,
		Sample: 0.25, Since: reqAt(100), Until: reqAt(500)}
	a, err := replay.Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if a.Read != 400 || a.Scored+a.NotSampled != 400 || a.Scored < 60 || a.Scored > 140 {
		t.Fatalf("stats = %+v, want 400 read, about a quarter scored", a)
	}
	b, err := replay.Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if b.Scored != a.Scored || b.Written != 0 {
		t.Fatalf("rerun scored %d (wrote %d), want the same %d requests again and nothing new", b.Scored, b.Written, a.Scored)
	}
}

func TestCheck_NamesTheFieldAndTheProblem(t *testing.T) {
	fields := []model.InputField{{Name: "age", Type: schema.TypeNumber}, {Name: "sex", Type: schema.TypeString}, {Name: "vip", Type: schema.TypeBoolean}}
	tests := []struct {
		name string
		in   schema.Input
		want string
	}{
		{"every field present", schema.Input{"age": 3.0, "sex": "f", "vip": true}, ""},
		{"null is a missing value, not a mismatch", schema.Input{"age": nil, "sex": nil, "vip": nil}, ""},
		{"absent field", schema.Input{"age": 3.0, "vip": false}, `missing field "sex"`},
		{"string for a number", schema.Input{"age": "3", "sex": "f", "vip": true}, `field "age": want number, got string`},
		{"number for a boolean", schema.Input{"age": 3.0, "sex": "f", "vip": 1.0}, `field "vip": want boolean, got number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replay.Check(fields, tt.in); got != tt.want {
				t.Fatalf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReport_StatesTheExactShareOfEvaluatedInputsInEachTrainingSet(t *testing.T) {
	cfg, err := titanic.Config()
	if err != nil {
		t.Fatal(err)
	}
	all := loadTraffic(t, cfg)
	// 300 training rows as they are, then 300 others with a fare no
	// training row has: exactly half of the inputs were trained on.
	var tr traffic
	for i := range 600 {
		in := all.inputs[i]
		if i >= 300 {
			c := maps.Clone(in)
			c["fare"] = 1000 + float64(i)/7
			in = c
		}
		tr.inputs = append(tr.inputs, in)
		tr.labels = append(tr.labels, all.labels[i])
	}
	st := openStore(t)
	serve(t, cfg, st, tr, "")
	rep, err := newMonitor(t, cfg, st, bundles(t, cfg)).Report(t.Context(), monitor.ReportParams{Challenger: candidate})
	if err != nil {
		t.Fatal(err)
	}
	o := rep.TrainingOverlap
	if o == nil {
		t.Fatal("no training overlap in the report")
	}
	const pairs = 480 // four labelled of every five
	if o.Evaluated != pairs || rep.Pairs != pairs {
		t.Fatalf("evaluated %d, pairs %d, want %d", o.Evaluated, rep.Pairs, pairs)
	}
	for _, mo := range []monitor.ModelOverlap{o.Production, o.Challenger} {
		if !mo.Fingerprinted || mo.InTraining != pairs/2 || mo.Share == nil || *mo.Share != 0.5 {
			t.Errorf("%s: fingerprinted %v, in training %d, share %v; want exactly %d, 0.5", mo.Model, mo.Fingerprinted, mo.InTraining, mo.Share, pairs/2)
		}
	}
	if !o.Flagged || o.Clean.Pairs != pairs/2 || o.ChallengerUnseen.Pairs != pairs/2 {
		t.Errorf("flagged %v, clean pairs %d; want flagged with the figure on the %d unseen rows", o.Flagged, o.Clean.Pairs, pairs/2)
	}
	// The same per model over the window (GET /v1/metrics?overlap=true).
	per, err := newMonitor(t, cfg, st, bundles(t, cfg)).TrainingOverlap(t.Context(), monitor.Window{})
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != 3 {
		t.Fatalf("per-model overlap = %+v, want the three fingerprinted models", per)
	}
	for _, mo := range per {
		if mo.Evaluated != pairs || mo.InTraining != pairs/2 || mo.Share == nil || *mo.Share != 0.5 || !mo.Flagged {
			t.Errorf("%s: %+v, want %d of %d, share exactly 0.5, flagged", mo.Model, mo, pairs/2, pairs)
		}
	}
}

func TestPromotionGate_CountsReplayPairsOnlyWhenAllowed(t *testing.T) {
	cfg, tr, bs, replayed := fixture(t)
	live := openStore(t)
	serve(t, cfg, live, tr, "")
	cand := bs[candidate]
	if _, err := replay.Run(t.Context(), replay.Params{Source: replayed, Sink: replayed, Candidate: cand, Inputs: cand.Pipeline.Inputs}); err != nil {
		t.Fatal(err)
	}
	rule := analysis.GateRule{Require: analysis.RequireNotWorse, Margin: 0.02}
	without, err := newMonitor(t, cfg, replayed, bs).PromotionGate(t.Context(), candidate, rule)
	if err != nil {
		t.Fatal(err)
	}
	if without.CountedReplay || without.Comparison.Pairs != 0 || without.Pass {
		t.Fatalf("without count_replay: %+v, want no pairs and a refusal", without)
	}
	rule.CountReplay = true
	with, err := newMonitor(t, cfg, replayed, bs).PromotionGate(t.Context(), candidate, rule)
	if err != nil {
		t.Fatal(err)
	}
	want, err := newMonitor(t, cfg, live, bs).PromotionGate(t.Context(), candidate, rule)
	if err != nil {
		t.Fatal(err)
	}
	if !with.CountedReplay || want.CountedReplay {
		t.Fatalf("counted_replay: replay store %v, live store %v; want true and false", with.CountedReplay, want.CountedReplay)
	}
	if !reflect.DeepEqual(with.Comparison, want.Comparison) || with.Pass != want.Pass || !reflect.DeepEqual(with.Refusals, want.Refusals) {
		t.Fatalf("gate on replay = %+v\nwant the live gate's %+v", with, want)
	}
	if b, _ := json.Marshal(with); !strings.Contains(string(b), `"counted_replay":true`) {
		t.Fatalf("gate JSON (what the deployment event stores) lacks counted_replay: %s", b)
	}
}

// declining is a model whose circuit is open on every other input.
type declining struct {
	*model.Bundle
	n atomic.Int64
}

func (d *declining) Predict(ctx context.Context, in schema.Input) (model.Prediction, error) {
	if d.n.Add(1)%2 == 0 {
		return model.Prediction{}, fmt.Errorf("remote x: %w", model.ErrDeclined)
	}
	return d.Bundle.Predict(ctx, in)
}

func TestReplay_DeclinedInputsAreNotStoredAndARerunTriesThemAgain(t *testing.T) {
	_, tr, bs, st := fixture(t)
	cand := &declining{Bundle: bs[candidate]}
	p := replay.Params{Source: st, Sink: st, Candidate: cand, Name: "flaky", Inputs: cand.Pipeline.Inputs}
	first, err := replay.Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(tr.inputs))
	if d := first.Skipped[replay.ReasonDeclined]; d != n/2 || first.Written != n-n/2 || first.Errors != 0 {
		t.Fatalf("first run: %+v, want %d declined and %d written", first, n/2, n-n/2)
	}
	cand.n.Store(1) // the other half declines now
	second, err := replay.Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := countReplay(t, st, "flaky"); second.Written+first.Written != int64(got) || got == int(first.Written) {
		t.Fatalf("after the rerun %d stored (wrote %d then %d), want the rerun to add the declined ones", got, first.Written, second.Written)
	}
}
