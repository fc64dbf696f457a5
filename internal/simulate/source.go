package simulate

import (
	"errors"
	"math/rand/v2"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/model/dataset"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Row is one example of traffic: an input as the gateway's schema sees it
// (see schema.Input: numbers are float64, a missing value is nil or absent),
// its entity id when known, and its outcome when known.
type Row struct {
	EntityID string
	Input    schema.Input
	Label    int
	HasLabel bool
}

// Source hands out rows. Implementations need not be safe for concurrent
// use: the generator calls them from one goroutine.
type Source interface {
	// Rows returns every row of the source (for base rates of drift).
	Rows() []Row
	// Next returns the next row to send, using rng for any randomness.
	Next(rng *rand.Rand) Row
}

// Sample draws whole rows uniformly with replacement, so the joint
// distribution of the fields (their correlations) survives. Since one row
// may be drawn many times, drawn rows carry no entity id (the generator
// gives each request a fresh one).
type Sample struct{ rows []Row }

// NewSample returns a Source sampling from rows, which must not be empty.
func NewSample(rows []Row) (*Sample, error) {
	if len(rows) == 0 {
		return nil, errors.New("reference sample is empty")
	}
	return &Sample{rows: rows}, nil
}

// Rows implements Source.
func (s *Sample) Rows() []Row { return s.rows }

// Next implements Source.
func (s *Sample) Next(rng *rand.Rand) Row {
	r := s.rows[rng.IntN(len(s.rows))]
	r.EntityID = ""
	return r
}

// Replay returns rows in order, starting again from the first after the last.
type Replay struct {
	rows []Row
	next int
}

// NewReplay returns a Source replaying rows, which must not be empty.
func NewReplay(rows []Row) (*Replay, error) {
	if len(rows) == 0 {
		return nil, errors.New("no rows to replay")
	}
	return &Replay{rows: rows}, nil
}

// Rows implements Source.
func (s *Replay) Rows() []Row { return s.rows }

// Next implements Source.
func (s *Replay) Next(*rand.Rand) Row {
	r := s.rows[s.next]
	s.next = (s.next + 1) % len(s.rows)
	return r
}

// FromDataset turns a CSV read by package dataset (validated through the
// configuration's training mapping, as the gateway would see the rows) into
// rows with their entity ids and, when the file has them, their labels.
func FromDataset(d *dataset.Dataset) []Row {
	rows := make([]Row, len(d.Rows))
	for i, in := range d.Rows {
		rows[i] = Row{Input: in}
		if i < len(d.IDs) {
			rows[i].EntityID = d.IDs[i]
		}
		if d.HasLabels() && i < len(d.Labels) {
			rows[i].Label, rows[i].HasLabel = d.Labels[i], true
		}
	}
	return rows
}

// FromReference turns a bundle's reference sample into rows, each with its
// outcome label and entity id (empty ids are filled by the generator).
func FromReference(s model.ReferenceSample) []Row {
	rows := make([]Row, len(s.Rows))
	for i, in := range s.Rows {
		rows[i] = Row{Input: in, HasLabel: i < len(s.Labels)}
		if i < len(s.Labels) {
			rows[i].Label = s.Labels[i]
		}
		if i < len(s.IDs) {
			rows[i].EntityID = s.IDs[i]
		}
	}
	return rows
}
