package feedback_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/feedback"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

var (
	t0     = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	labels = map[int]string{0: "Did Not Survive", 1: "Survived"}
)

// openStore returns a real SQLite store holding requests r1, r2 (entity
// 892) and r3 (entity 893).
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "fb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	recs := []record.Record{
		{ID: "r1", ReceivedAt: t0, EntityID: "892", Status: record.RequestOK, Endpoint: "/v1/predict"},
		{ID: "r2", ReceivedAt: t0.Add(time.Second), EntityID: "892", Status: record.RequestOK, Endpoint: "/v1/predict"},
		{ID: "r3", ReceivedAt: t0.Add(2 * time.Second), EntityID: "893", Status: record.RequestOK, Endpoint: "/v1/predict"},
	}
	if err := st.WriteRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	return st
}

func stored(t *testing.T, st store.Store) []record.Feedback {
	t.Helper()
	var out []record.Feedback
	if err := st.ScanFeedback(t.Context(), store.FeedbackScanParams{}, func(fb record.Feedback) error {
		out = append(out, fb)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func decode(t *testing.T, body string) []feedback.Item {
	t.Helper()
	items, _, err := feedback.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestSubmit_KeepsEveryLabelAndLabelsEveryStoredRequestOfAnEntity(t *testing.T) {
	st := openStore(t)
	svc := feedback.New(st, nil, labels, func() time.Time { return t0.Add(time.Hour) })
	items := decode(t, `{"feedback":[{"request_id":"r3","label":1},{"entity_id":"892","label":"Did Not Survive"},{"request_id":"ghost","label":0},{"entity_id":"999","label":"1"}]}`)
	res, err := svc.Submit(context.Background(), items, true)
	if err != nil {
		t.Fatal(err)
	}
	wantEntities := []feedback.EntityResult{{EntityID: "892", Requests: 2}, {EntityID: "999", Requests: 0}}
	if res.Accepted != 4 || res.Labelled != 3 || !slices.Equal(res.Pending, []string{"ghost", "999"}) ||
		!slices.Equal(res.Entities, wantEntities) || res.StoredIn != feedback.StoredInStore {
		t.Errorf("result = %+v", res)
	}
	type row struct {
		entity string
		label  int
	}
	got := map[string]row{}
	ids := map[string]bool{}
	for _, fb := range stored(t, st) {
		got[fb.RequestID] = row{fb.EntityID, fb.Label}
		ids[fb.ID] = true
		if !fb.ReceivedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("%s received at %v", fb.RequestID, fb.ReceivedAt)
		}
	}
	// ghost waits for its record; the entity label of 999 (no stored
	// request) is kept with no request id.
	want := map[string]row{"r1": {"892", 0}, "r2": {"892", 0}, "r3": {"", 1}, "ghost": {"", 0}, "": {"999", 1}}
	if !maps.Equal(got, want) || len(ids) != 5 || ids[""] {
		t.Errorf("stored labels %v (ids %v), want %v, each row with its own id", got, ids, want)
	}
}

// downStore is a real store whose Match and WriteFeedback fail on demand.
type downStore struct {
	store.Store
	down bool
}

func (d *downStore) Match(ctx context.Context, p store.MatchParams) (store.MatchResult, error) {
	if d.down {
		return store.MatchResult{}, errors.New("dial tcp: connection refused")
	}
	return d.Store.Match(ctx, p)
}

func (d *downStore) WriteFeedback(ctx context.Context, fb []record.Feedback) error {
	if d.down {
		return errors.New("dial tcp: connection refused")
	}
	return d.Store.WriteFeedback(ctx, fb)
}

// spoolSink stands for the recorder's spool: it keeps what it is given.
type spoolSink struct{ rows []record.Feedback }

func (s *spoolSink) EnqueueFeedback(_ context.Context, fb []record.Feedback) (string, error) {
	s.rows = append(s.rows, fb...)
	return record.FeedbackSpooled, nil
}

func TestSubmit_WithTheStoreDownRequestLabelsGoToTheSinkAndEntityLabelsAreRefused(t *testing.T) {
	st := &downStore{Store: openStore(t), down: true}
	sink := &spoolSink{}
	svc := feedback.New(st, sink, labels, nil)
	res, err := svc.Submit(t.Context(), decode(t, `{"feedback":[{"request_id":"r1","label":1},{"request_id":"r9","label":0}]}`), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Labelled != 0 || !slices.Equal(res.Pending, []string{"r1", "r9"}) || res.StoredIn != feedback.StoredInSpool || len(sink.rows) != 2 {
		t.Errorf("result = %+v, sink %v", res, sink.rows)
	}
	_, err = svc.Submit(t.Context(), decode(t, `{"feedback":[{"request_id":"r1","label":1},{"entity_id":"892","label":0}]}`), true)
	if !errors.Is(err, feedback.ErrUnavailable) || len(sink.rows) != 2 {
		t.Errorf("entity label with the store down: %v (sink %d rows); want ErrUnavailable and nothing written", err, len(sink.rows))
	}
	// Without a spool, a store that cannot write is unavailable too.
	direct := feedback.New(st, nil, labels, nil)
	if _, err := direct.Submit(t.Context(), decode(t, `{"request_id":"r1","label":1}`), false); !errors.Is(err, feedback.ErrUnavailable) {
		t.Errorf("store down without a spool: %v, want ErrUnavailable", err)
	}
}

func TestSubmit_IsAppendOnlyAndNeverRewritesRecords(t *testing.T) {
	st := openStore(t)
	svc := feedback.New(st, nil, labels, nil)
	for _, body := range []string{`{"request_id":"r1","label":0}`, `{"request_id":"r1","label":1}`} {
		if _, err := svc.Submit(t.Context(), decode(t, body), false); err != nil {
			t.Fatal(err)
		}
	}
	fbs := stored(t, st)
	if len(fbs) != 2 || fbs[0].Label != 0 || fbs[1].Label != 1 {
		t.Errorf("feedback rows %+v; want both labels kept, in order", fbs)
	}
	rec, err := st.GetRecord(t.Context(), "r1")
	if err != nil || rec.EntityID != "892" || rec.Status != record.RequestOK {
		t.Errorf("record changed: %+v, %v", rec, err)
	}
}

func TestSubmit_InvalidItemsAreAllReportedAndNothingIsWritten(t *testing.T) {
	st := openStore(t)
	svc := feedback.New(st, nil, labels, nil)
	items := decode(t, `{"feedback":[{"request_id":"r1","label":1},{"label":0},{"request_id":"r2","entity_id":"892","label":1},{"request_id":"r3","label":"Maybe"},{"request_id":"r3","label":2},{"request_id":"r3"},{"request_id":"r3","label":0.5}]}`)
	_, err := svc.Submit(t.Context(), items, true)
	ve, ok := feedback.IsValidation(err)
	if !ok {
		t.Fatalf("err = %v, want a validation error", err)
	}
	want := []string{"feedback[1].request_id", "feedback[2].request_id", "feedback[3].label", "feedback[4].label", "feedback[5].label", "feedback[6].label"}
	var fields []string
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
	}
	if !slices.Equal(fields, want) {
		t.Errorf("fields %v, want %v", fields, want)
	}
	if n := len(stored(t, st)); n != 0 {
		t.Errorf("%d feedback rows written by an invalid batch", n)
	}
}

func TestSubmit_RefusesOversizedAndEmptyBatches(t *testing.T) {
	svc := feedback.New(openStore(t), nil, labels, nil)
	items := make([]feedback.Item, feedback.MaxBatch+1)
	if _, err := svc.Submit(t.Context(), items, true); !errors.Is(err, feedback.ErrTooMany) {
		t.Errorf("oversized batch: %v", err)
	}
	if _, err := svc.Submit(t.Context(), nil, true); err == nil {
		t.Error("empty batch accepted")
	}
}

func TestDecode_RejectsUnknownFieldsAndMalformedJSON(t *testing.T) {
	for _, body := range []string{`{"request_id":"r1","lable":1}`, `{"feedback":[{"request_id":"r1","label":1,"x":2}]}`, `{"request_id":`} {
		if _, _, err := feedback.Decode([]byte(body)); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}
