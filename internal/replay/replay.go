// Package replay scores archived requests through a candidate model after
// the fact: it reads the validated inputs of the accepted requests a store
// holds, in record order, runs them through the candidate exactly as the
// gateway does (model.Model.Predict: for a bundle, its pipeline and
// algorithm), and stores each answer as a store.ReplayResult beside the
// request's record. It never writes a record, so what production answered
// stays as it was.
//
// A replay is idempotent: results are keyed by (request, candidate,
// version) and a rerun over the same window writes nothing new. Inputs the
// candidate cannot take (a field its pipeline reads is absent, or of
// another type) are counted by reason and skipped, never fatal.
//
// Memory is bounded: one page of records is read at a time (keyset pages,
// store.ScanPages), a fixed number of inputs are in flight between the
// scanner, the scoring workers and the writer, and results are written in
// batches.
package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/rendezvous"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store"
)

// Defaults of Params.
const (
	DefaultBatchSize = 1024
	DefaultPageSize  = 1024
)

// Params configures Run.
type Params struct {
	// Source holds the archived records; Sink receives the results (often
	// the same store).
	Source store.RecordScanner
	Sink   store.ReplayStore
	// Candidate is the model replayed. Name overrides Candidate.Info().Name
	// as the name results are stored under (the challenger name a
	// comparison asks for).
	Candidate model.Model
	Name      string
	// Inputs are the raw fields the candidate reads (a bundle's
	// Pipeline.Inputs); an input lacking one, or holding a value of
	// another type, is skipped and counted by reason. Nil: no check.
	Inputs []model.InputField
	// Since (inclusive) and Until (exclusive) bound the requests'
	// ReceivedAt; zero means unbounded.
	Since, Until time.Time
	// Sample in (0, 1) replays only that share of the requests, chosen by
	// request id (rendezvous.SampleHash below Sample), so reruns and
	// other candidates see the same requests. 0 or 1: every request.
	Sample float64
	// Concurrency is the number of scoring goroutines (default 1).
	Concurrency int
	// BatchSize results per write (default DefaultBatchSize); PageSize
	// records per read (default DefaultPageSize).
	BatchSize, PageSize int
	// Progress, when set, is called from one goroutine after each page is
	// handed to the workers, with the running statistics.
	Progress func(s Stats)
	// Now is the clock of ReplayedAt (default time.Now).
	Now func() time.Time
}

// Stats counts what a replay did.
type Stats struct {
	Candidate string `json:"candidate"`
	Version   string `json:"version"`
	Artifact  string `json:"artifact,omitempty"`
	// Read is the records read in the window (rejected ones included);
	// Rejected were rejected requests (no validated input); NotSampled
	// fell outside Sample.
	Read       int64 `json:"read"`
	Rejected   int64 `json:"rejected"`
	NotSampled int64 `json:"not_sampled"`
	// Skipped are the inputs the candidate cannot take, by reason
	// ("missing field \"x\"", "field \"x\": want number, got string").
	Skipped map[string]int64 `json:"skipped"`
	// Scored is how many inputs the candidate was called on; Errors of
	// them failed (stored with status error, as a live shadow's would be).
	Scored int64 `json:"scored"`
	Errors int64 `json:"errors"`
	// Written results were new; AlreadyStored were stored by an earlier
	// replay (same request, candidate and version).
	Written       int64 `json:"written"`
	AlreadyStored int64 `json:"already_stored"`
	// Position is the ReceivedAt of the last record read (for progress).
	Position time.Time `json:"-"`
	// Elapsed is the wall time so far.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// SkippedTotal is the sum of Skipped.
func (s Stats) SkippedTotal() int64 {
	var n int64
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// Rate is the records read per second so far.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Read) / s.Elapsed.Seconds()
}

// Reasons returns the skip reasons sorted by count (largest first), then
// by name.
func (s Stats) Reasons() []string {
	out := make([]string, 0, len(s.Skipped))
	for r := range s.Skipped {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if s.Skipped[out[i]] != s.Skipped[out[j]] {
			return s.Skipped[out[i]] > s.Skipped[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// ReasonDeclined is the skip reason of an input the candidate declined
// without trying (model.ErrDeclined: a remote model's open circuit). Such
// inputs are not stored, so a rerun tries them again; every other error is
// an answer (status error), stored as a live shadow's would be.
const ReasonDeclined = "declined by the model (circuit open); a rerun tries again"

// ErrParams is wrapped by Run's errors about its parameters.
var ErrParams = errors.New("invalid replay parameters")

// job is one input to score.
type job struct {
	id string
	at time.Time
	in schema.Input
}

// counters are the statistics the goroutines update.
type counters struct {
	read, rejected, notSampled, scored, errors, written, existing atomic.Int64
	position                                                      atomic.Int64 // µs
	mu                                                            sync.Mutex
	skipped                                                       map[string]int64
}

func (c *counters) skip(reason string) {
	c.mu.Lock()
	c.skipped[reason]++
	c.mu.Unlock()
}

func (c *counters) stats(info model.Info, name string, start time.Time) Stats {
	c.mu.Lock()
	sk := make(map[string]int64, len(c.skipped))
	for k, v := range c.skipped {
		sk[k] = v
	}
	c.mu.Unlock()
	return Stats{
		Candidate: name, Version: info.Version, Artifact: info.Artifact,
		Read: c.read.Load(), Rejected: c.rejected.Load(), NotSampled: c.notSampled.Load(),
		Skipped: sk, Scored: c.scored.Load(), Errors: c.errors.Load(),
		Written: c.written.Load(), AlreadyStored: c.existing.Load(), Elapsed: time.Since(start),
		Position: time.UnixMicro(c.position.Load()).UTC(),
	}
}

// Run replays the selected archived requests through p.Candidate and
// stores the results. It returns the statistics, also on error (what was
// written stays written: a rerun completes it).
func Run(ctx context.Context, p Params) (Stats, error) {
	if p.Source == nil || p.Sink == nil || p.Candidate == nil {
		return Stats{}, fmt.Errorf("%w: source, sink and candidate are required", ErrParams)
	}
	if p.Sample < 0 || p.Sample > 1 || p.Sample != p.Sample {
		return Stats{}, fmt.Errorf("%w: sample %v: must be in [0, 1]", ErrParams, p.Sample)
	}
	info := p.Candidate.Info()
	name := p.Name
	if name == "" {
		name = info.Name
	}
	if name == "" {
		return Stats{}, fmt.Errorf("%w: the candidate has no name", ErrParams)
	}
	p.Concurrency = max(p.Concurrency, 1)
	p.BatchSize = cmpOr(p.BatchSize, DefaultBatchSize)
	p.PageSize = cmpOr(p.PageSize, DefaultPageSize)
	if p.Now == nil {
		p.Now = time.Now
	}
	start := time.Now()
	c := &counters{skipped: map[string]int64{}}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan []job, 2*p.Concurrency)
	results := make(chan []store.ReplayResult, 2*p.Concurrency)
	var workers sync.WaitGroup
	for range p.Concurrency {
		workers.Go(func() { score(ctx, p, info, name, c, jobs, results) })
	}
	writeErr := make(chan error, 1)
	go func() { writeErr <- write(ctx, cancel, p, c, results) }()

	scanErr := scan(ctx, p, c, jobs, func() {
		if p.Progress != nil {
			p.Progress(c.stats(info, name, start))
		}
	})
	close(jobs)
	workers.Wait()
	close(results)
	werr := <-writeErr
	st := c.stats(info, name, start)
	switch {
	case werr != nil:
		return st, werr
	case scanErr != nil:
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return st, cause
		}
		return st, scanErr
	}
	return st, nil
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// scan reads the window in keyset pages and hands the inputs to score to
// the workers, in chunks.
func scan(ctx context.Context, p Params, c *counters, jobs chan<- []job, progress func()) error {
	pp := store.PageParams{ScanParams: store.ScanParams{Since: p.Since, Until: p.Until}, Size: p.PageSize}
	const chunk = 256
	err := store.ScanPages(ctx, p.Source, pp, func(page []record.Record) error {
		var buf []job
		for i := range page {
			rec := &page[i]
			c.read.Add(1)
			if rec.Status == record.RequestRejected || rec.Input == nil {
				c.rejected.Add(1)
				continue
			}
			if p.Sample > 0 && p.Sample < 1 && rendezvous.SampleHash(rec.ID) >= p.Sample {
				c.notSampled.Add(1)
				continue
			}
			if reason := Check(p.Inputs, rec.Input); reason != "" {
				c.skip(reason)
				continue
			}
			buf = append(buf, job{id: rec.ID, at: record.Timestamp(rec.ReceivedAt), in: rec.Input})
			if len(buf) == chunk {
				select {
				case jobs <- buf:
				case <-ctx.Done():
					return ctx.Err()
				}
				buf = nil
			}
		}
		if len(buf) > 0 {
			select {
			case jobs <- buf:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		c.position.Store(record.Timestamp(page[len(page)-1].ReceivedAt).UnixMicro())
		progress()
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay: read records: %w", err)
	}
	return nil
}

// Check returns why in cannot be given to a model reading fields ("" when
// it can): a field absent from in, or a non-null value of another type.
// Integer and number fields both hold float64 (schema.Input's contract).
func Check(fields []model.InputField, in schema.Input) string {
	for _, f := range fields {
		v, ok := in[f.Name]
		if !ok {
			return fmt.Sprintf("missing field %q", f.Name)
		}
		if v == nil {
			continue // a missing value: the pipeline imputes it or fails
		}
		var good bool
		switch f.Type {
		case schema.TypeInteger, schema.TypeNumber:
			_, good = v.(float64)
		case schema.TypeString:
			_, good = v.(string)
		case schema.TypeBoolean:
			_, good = v.(bool)
		default:
			good = true
		}
		if !good {
			return fmt.Sprintf("field %q: want %s, got %s", f.Name, f.Type, typeName(v))
		}
	}
	return ""
}

func typeName(v any) string {
	switch v.(type) {
	case float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// score runs the candidate on each job, as the gateway's rendezvous does,
// and builds the result as the gateway's record builder does.
func score(ctx context.Context, p Params, info model.Info, name string, c *counters, jobs <-chan []job, out chan<- []store.ReplayResult) {
	for js := range jobs {
		rs := make([]store.ReplayResult, 0, len(js))
		// One allocation for the chunk's predictions and probabilities.
		classes, probs := make([]int, len(js)), make([]float64, len(js))
		now := record.Timestamp(p.Now())
		for i, j := range js {
			t0 := time.Now()
			pr, err := predict(ctx, p.Candidate, j.in)
			lat := time.Since(t0)
			if errors.Is(err, model.ErrDeclined) {
				// A remote's open circuit: not an answer, and not kept, so
				// a rerun tries the input again.
				c.skip(ReasonDeclined)
				continue
			}
			mr := record.ModelResult{
				Role: model.Role(store.ReplayRole), Version: info.Version, Artifact: info.Artifact,
				Features: pr.Features, LatencyUS: lat.Microseconds(), Status: record.StatusOK,
			}
			if err != nil {
				mr.Status, mr.Error = record.StatusError, err.Error()
				c.errors.Add(1)
			} else {
				classes[i], probs[i] = pr.Class, pr.Probability
				mr.Prediction, mr.Probability, mr.Label = &classes[i], &probs[i], pr.Label
			}
			rs = append(rs, store.ReplayResult{RequestID: j.id, ReceivedAt: j.at, Candidate: name, Version: info.Version, Result: mr, ReplayedAt: now})
		}
		c.scored.Add(int64(len(rs)))
		select {
		case out <- rs:
		case <-ctx.Done():
			return
		}
	}
}

// predict calls m, turning a panic into an error as the rendezvous does.
func predict(ctx context.Context, m model.Model, in schema.Input) (pr model.Prediction, err error) {
	defer func() {
		if v := recover(); v != nil {
			pr, err = model.Prediction{}, fmt.Errorf("%w: %v", rendezvous.ErrPanic, v)
		}
	}()
	return m.Predict(ctx, in)
}

// write stores the results in batches of p.BatchSize; on failure it
// cancels the replay and drains the channel.
func write(ctx context.Context, cancel context.CancelCauseFunc, p Params, c *counters, in <-chan []store.ReplayResult) error {
	var batch []store.ReplayResult
	var failed error
	flush := func() {
		if failed != nil || len(batch) == 0 {
			batch = batch[:0]
			return
		}
		n, err := p.Sink.WriteReplayResults(ctx, batch)
		if err != nil {
			failed = fmt.Errorf("replay: write %d results: %w", len(batch), err)
			cancel(failed)
		}
		c.written.Add(int64(n))
		c.existing.Add(int64(len(batch) - n))
		batch = batch[:0]
	}
	for rs := range in {
		if failed != nil {
			continue
		}
		batch = append(batch, rs...)
		if len(batch) >= p.BatchSize {
			flush()
		}
	}
	flush()
	return failed
}
