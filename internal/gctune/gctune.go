// Package gctune paces the garbage collector by headroom in bytes rather
// than by a fixed percentage of the live heap.
//
// Go's default (GOGC=100) lets the heap grow by as much as is live before
// the next collection. A gateway's live heap is small — connection buffers,
// the recorder's queue, the models — and it allocates fast, so with the
// default it collects many times a second under load; each collection
// scans every goroutine's stack and shrinks the idle ones, and with
// thousands of client connections the regrowth of those stacks on their
// next request costs more than the collection itself (measured in
// BENCHMARKS.md, "Overload"). A Tuner instead lets the heap grow by a fixed
// headroom over the live heap: after every collection it sets the GC
// percentage to Headroom/(live heap + stacks + globals), never under 100
// (Go's default: a large heap is collected exactly as without the Tuner,
// so it cannot make the collector run more often) and never over
// MaxPercent.
package gctune

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Defaults for zero Options fields.
const (
	DefaultHeadroom   = 48 << 20
	DefaultMaxPercent = 400
	// MinPercent is Go's default GOGC: the Tuner never collects more often
	// than Go would without it.
	MinPercent = 100
)

// The runtime's figures the next heap goal is computed from: Go's pacer
// sets it to live + (live + stacks + globals) × percent/100.
var goalMetrics = []string{
	"/gc/heap/live:bytes",    // the heap that survived the last collection
	"/gc/scan/stack:bytes",   // stack bytes scanned in the last cycle
	"/gc/scan/globals:bytes", // scannable globals
}

// Options configure a Tuner.
type Options struct {
	// Headroom is how many bytes the heap may grow over the live heap
	// before the next collection (default DefaultHeadroom).
	Headroom int64
	// MaxPercent caps the GC percentage (default DefaultMaxPercent).
	MaxPercent int
	// Logger receives a debug line when the percentage changes.
	Logger *slog.Logger
}

// Tuner re-sets the GC percentage after every collection. Start one per
// process.
type Tuner struct {
	opts    Options
	stopped atomic.Bool
	percent atomic.Int64 // the percentage set last
	tunes   atomic.Int64 // collections seen

	mu     sync.Mutex
	sample []metrics.Sample
	prev   int // the percentage before Start, restored by Stop
}

// Percent returns the GC percentage the Tuner set last.
func (t *Tuner) Percent() int { return int(t.percent.Load()) }

// Collections returns how many collections the Tuner has seen.
func (t *Tuner) Collections() int64 { return t.tunes.Load() }

// Start sets the GC percentage for the current live heap and re-sets it
// after every collection until Stop.
func Start(o Options) *Tuner {
	if o.Headroom <= 0 {
		o.Headroom = DefaultHeadroom
	}
	if o.MaxPercent < MinPercent {
		o.MaxPercent = DefaultMaxPercent
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tuner{opts: o, sample: make([]metrics.Sample, len(goalMetrics))}
	for i, name := range goalMetrics {
		t.sample[i].Name = name
	}
	t.prev = debug.SetGCPercent(MinPercent)
	t.percent.Store(MinPercent)
	t.tune()
	t.arm()
	return t
}

// Stop ends the tuning and restores the GC percentage Start found.
func (t *Tuner) Stop() {
	if t.stopped.Swap(true) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	debug.SetGCPercent(t.prev)
}

// sentinel is an allocation whose cleanup runs after the collection that
// found it unreachable: a hook called once per GC cycle.
type sentinel struct{ _ [16]byte }

func (t *Tuner) arm() {
	s := new(sentinel)
	runtime.AddCleanup(s, func(t *Tuner) {
		if t.stopped.Load() {
			return
		}
		t.tunes.Add(1)
		t.tune()
		t.arm()
	}, t)
}

// tune sets the percentage for the current heap, when it moved by a tenth
// or more.
func (t *Tuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.sample)
	var base uint64 // live heap + stacks + globals
	for _, s := range t.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			base += s.Value.Uint64()
		}
	}
	p := Percent(base, t.opts.Headroom, t.opts.MaxPercent)
	old := int(t.percent.Load())
	if d := p - old; max(d, -d) < old/10 {
		return
	}
	debug.SetGCPercent(p)
	t.percent.Store(int64(p))
	t.opts.Logger.Debug("gc percent set", "percent", p, "base_bytes", base)
}

// Percent is the GC percentage that lets the heap grow by headroom bytes
// when base is the live heap plus the stacks and globals (the pacer's
// goal is live + base × percent/100): headroom/base × 100, within
// [MinPercent, maxPercent]. A zero base gets maxPercent.
func Percent(base uint64, headroom int64, maxPercent int) int {
	if base == 0 {
		return maxPercent
	}
	p := float64(headroom) / float64(base) * 100
	switch {
	case p < MinPercent:
		return MinPercent
	case p > float64(maxPercent):
		return maxPercent
	}
	return int(p)
}
