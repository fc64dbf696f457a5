package monitor_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/monitor"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/store"
	"github.com/rendezvous-gw/rendezvous/internal/store/sqlite"
)

// feedbackCounter counts the feedback rows the monitor reads from the log.
type feedbackCounter struct {
	*sqlite.Store
	rows int
}

func (c *feedbackCounter) ScanFeedbackLog(ctx context.Context, after int64, fn func(int64, record.Feedback) error) error {
	return c.Store.ScanFeedbackLog(ctx, after, func(pos int64, fb record.Feedback) error {
		c.rows++
		return fn(pos, fb)
	})
}

var _ store.FeedbackLogScanner = (*feedbackCounter)(nil)

func TestMonitor_WarmLabelsReadsTheFeedbackLogSoTheFirstCallDoesNot(t *testing.T) {
	st, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	models := genModels(t)
	if err := fill(t.Context(), st, models, 1500); err != nil {
		t.Fatal(err)
	}
	counted := &feedbackCounter{Store: st}
	warm, err := monitor.New(monitor.Params{Store: counted, Models: models, Fields: genFields})
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.WarmLabels(t.Context()); err != nil {
		t.Fatal(err)
	}
	if counted.rows == 0 {
		t.Fatal("WarmLabels read no feedback: the generated store has labels")
	}
	before := counted.rows
	got, err := warm.Metrics(t.Context(), monitor.Window{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if counted.rows != before {
		t.Errorf("the first Metrics after WarmLabels read %d feedback rows again, want none", counted.rows-before)
	}
	cold, err := monitor.New(monitor.Params{Store: st, Models: models, Fields: genFields})
	if err != nil {
		t.Fatal(err)
	}
	want, err := cold.Metrics(t.Context(), monitor.Window{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Labelled == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("metrics after WarmLabels differ from a cold monitor's (labelled %d vs %d)", got.Labelled, want.Labelled)
	}
}
