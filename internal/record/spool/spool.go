package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSegmentBytes = 64 << 20
)

// ErrFull is returned by Append when the frames do not fit under
// Options.MaxBytes.
var ErrFull = errors.New("spool: full")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("spool: closed")

// Options configures a Spool.
type Options struct {
	// MaxBytes bounds the bytes of all segment files (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size past which appends go to a new segment
	// (default 64 MiB, at most MaxBytes/4 so that deleting written
	// segments frees room in time).
	SegmentBytes int64
	// Logger receives corrupt frames found by Open (default slog.Default()).
	Logger *slog.Logger
}

// Stats is a point-in-time view of a Spool.
type Stats struct {
	// Frames counts frames appended and not yet acknowledged; Bytes the
	// size of every segment file (acknowledged frames included until their
	// segment is deleted); MaxBytes is the bound.
	Frames          int
	Bytes, MaxBytes int64
	Segments        int
	// Appended and Acked count frames since Open; Fsyncs the group
	// commits.
	Appended, Acked, Fsyncs uint64
	// LastSeq is the seq of the last frame appended (durable).
	LastSeq uint64
	// Corrupt counts the torn or corrupt frames Open found and skipped,
	// CorruptBytes the bytes skipped with them.
	Corrupt      uint64
	CorruptBytes int64
}

// Spool is an append-only frame log on disk: Append at the tail, Peek and
// Ack at the head. It is safe for concurrent use (typically one appender,
// one reader acknowledging, and lookups with Read).
type Spool struct {
	lock *os.File // holds an exclusive flock on the directory's LOCK file
	dir  string
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one takes appends
	pending []entry    // frames not yet acknowledged, oldest first
	nextSeq uint64
	acked   uint64 // the highest seq acknowledged (also in ackedFile)
	bytes   int64
	stats   Stats
	buf     []byte
	closed  bool
}

type segment struct {
	first   uint64 // seq in the file name
	path    string
	f       *os.File
	size    int64
	pending int // frames of this segment not yet acknowledged
}

type entry struct {
	seg  *segment
	off  int64 // of the frame's header
	size int   // whole frame
	seq  uint64
	kind Kind
}

// Open opens the spool in dir (created when missing), reads every segment
// left by an earlier run, skipping (counting and logging) a torn or
// corrupt frame and whatever follows it in its segment, and starts a new
// segment for appends. The frames found are pending, in their order.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	opts.SegmentBytes = max(min(opts.SegmentBytes, opts.MaxBytes/4), 4096)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, opts: opts, log: opts.Logger, nextSeq: 1, lock: lock}
	s.stats.MaxBytes = opts.MaxBytes
	s.acked = readAcked(filepath.Join(dir, ackedFile))
	fail := func(err error) (*Spool, error) {
		s.closeFiles()
		lock.Close()
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	names, err := segmentNames(dir)
	if err != nil {
		return fail(err)
	}
	for _, name := range names {
		if err := s.load(name); err != nil {
			return fail(err)
		}
	}
	if err := s.rotate(); err != nil {
		return fail(err)
	}
	s.stats.LastSeq = s.nextSeq - 1
	return s, nil
}

// segmentNames lists dir's segment files, oldest first.
func segmentNames(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		if _, ok := segmentSeq(de.Name()); ok && de.Type().IsRegular() {
			names = append(names, de.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		x, _ := segmentSeq(a)
		y, _ := segmentSeq(b)
		return cmpUint(x, y)
	})
	return names, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func segmentSeq(name string) (uint64, bool) {
	num, ok := strings.CutSuffix(name, ".seg")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// load reads one segment left by an earlier run.
func (s *Spool) load(name string) error {
	path := filepath.Join(s.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	first, _ := segmentSeq(name)
	seg := &segment{first: first, path: path, size: int64(len(data))}
	var frames []entry
	end, rerr := ReadSegment(data, func(f Frame, off int) {
		if f.Seq < s.nextSeq { // seqs go on rising across segments
			return
		}
		if f.Seq <= s.acked { // acknowledged before the restart
			s.nextSeq = f.Seq + 1
			return
		}
		frames = append(frames, entry{seg: seg, off: int64(off), size: Overhead + len(f.Data), seq: f.Seq, kind: f.Kind})
	})
	if rerr != nil {
		s.stats.Corrupt++
		s.stats.CorruptBytes += int64(len(data) - end)
		s.log.Warn("spool: skipped a torn or corrupt frame and the rest of its segment (a write cut short by a crash, or damage)",
			"segment", path, "offset", end, "bytes_skipped", len(data)-end, "frames_kept", len(frames), "err", rerr)
	}
	s.nextSeq = max(s.nextSeq, first)
	if len(frames) == 0 {
		return removeFile(path)
	}
	seg.f, err = os.Open(path)
	if err != nil {
		return err
	}
	seg.pending = len(frames)
	s.segs = append(s.segs, seg)
	s.pending = append(s.pending, frames...)
	s.bytes += seg.size
	s.nextSeq = frames[len(frames)-1].seq + 1
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// rotate starts a new segment for appends. s.mu is held (or s is not
// shared yet).
func (s *Spool) rotate() error {
	path := filepath.Join(s.dir, segmentName(s.nextSeq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.WriteString(magic); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("new segment: %w", err)
	}
	s.segs = append(s.segs, &segment{first: s.nextSeq, path: path, f: f, size: int64(len(magic))})
	s.bytes += int64(len(magic))
	s.stats.Fsyncs++
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append appends one frame of kind per payload, in order, with a single
// write and a single fsync, and returns the seq of the first and last.
// Once it returns nil every frame is on disk. It returns ErrFull (and
// writes nothing) when the frames do not fit under MaxBytes.
func (s *Spool) Append(kind Kind, payloads ...[]byte) (first, last uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	if len(payloads) == 0 {
		return 0, 0, nil
	}
	need := int64(0)
	for _, p := range payloads {
		need += int64(Overhead + len(p))
	}
	active := s.segs[len(s.segs)-1]
	if active.size > int64(len(magic)) && active.size+need > s.opts.SegmentBytes {
		if s.bytes+need+int64(len(magic)) > s.opts.MaxBytes {
			return 0, 0, ErrFull
		}
		if err := s.rotate(); err != nil {
			return 0, 0, fmt.Errorf("spool append: %w", err)
		}
		active = s.segs[len(s.segs)-1]
	}
	if s.bytes+need > s.opts.MaxBytes {
		return 0, 0, ErrFull
	}
	buf := s.buf[:0]
	first = s.nextSeq
	for i, p := range payloads {
		buf = AppendFrame(buf, Frame{Kind: kind, Seq: first + uint64(i), Data: p})
	}
	if _, err := active.f.WriteAt(buf, active.size); err != nil {
		// Whatever part was written is beyond active.size and is
		// overwritten by the next append (or skipped as torn on Open).
		return 0, 0, fmt.Errorf("spool append: %w", err)
	}
	if err := active.f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("spool append: fsync: %w", err)
	}
	off := active.size
	for i, p := range payloads {
		size := Overhead + len(p)
		s.pending = append(s.pending, entry{seg: active, off: off, size: size, seq: first + uint64(i), kind: kind})
		off += int64(size)
	}
	active.pending += len(payloads)
	active.size += need
	s.bytes += need
	s.nextSeq += uint64(len(payloads))
	s.stats.Appended += uint64(len(payloads))
	s.stats.Fsyncs++
	s.stats.LastSeq = s.nextSeq - 1
	if cap(buf) <= maxKeptBuffer {
		s.buf = buf[:0]
	} else {
		s.buf = nil
	}
	return first, s.nextSeq - 1, nil
}

// maxKeptBuffer bounds the append buffer kept between appends.
const maxKeptBuffer = 4 << 20

// Len returns the number of frames not yet acknowledged.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Peek returns the oldest frame not yet acknowledged, and false when there
// is none. Its Data is the caller's.
func (s *Spool) Peek() (Frame, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Frame{}, false, ErrClosed
	}
	if len(s.pending) == 0 {
		return Frame{}, false, nil
	}
	f, err := s.read(s.pending[0])
	return f, err == nil, err
}

// Read returns the pending frame with that seq.
func (s *Spool) Read(seq uint64) (Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Frame{}, ErrClosed
	}
	i, ok := slices.BinarySearchFunc(s.pending, seq, func(e entry, seq uint64) int { return cmpUint(e.seq, seq) })
	if !ok {
		return Frame{}, fmt.Errorf("spool: frame %d is not pending", seq)
	}
	return s.read(s.pending[i])
}

// Scan calls fn with every pending frame, oldest first; an error from fn
// stops it and is returned. Appends and acknowledgements wait meanwhile.
func (s *Spool) Scan(fn func(Frame) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, e := range s.pending {
		f, err := s.read(e)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// read reads and checks one pending frame. s.mu is held.
func (s *Spool) read(e entry) (Frame, error) {
	b := make([]byte, e.size)
	if _, err := e.seg.f.ReadAt(b, e.off); err != nil {
		return Frame{}, fmt.Errorf("spool: read frame %d: %w", e.seq, err)
	}
	f, _, err := ReadFrame(b)
	if err == nil && f.Seq != e.seq {
		err = fmt.Errorf("%w: seq %d where %d was written", ErrCorrupt, f.Seq, e.seq)
	}
	if err != nil {
		return Frame{}, fmt.Errorf("spool: read frame %d of %s: %w", e.seq, e.seg.path, err)
	}
	return f, nil
}

// Ack acknowledges every pending frame up to and including seq: they will
// not be read again, and a segment all of whose frames are acknowledged is
// deleted (the segment taking appends is replaced by a new one first).
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	n := 0
	for n < len(s.pending) && s.pending[n].seq <= seq {
		s.pending[n].seg.pending--
		n++
	}
	if n == 0 {
		return nil
	}
	s.pending = slices.Delete(s.pending, 0, n)
	if len(s.pending) == 0 {
		s.pending = nil
	}
	s.stats.Acked += uint64(n)
	s.acked = max(s.acked, seq)
	s.saveAcked()
	if active := s.segs[len(s.segs)-1]; active.pending == 0 && active.size > int64(len(magic)) {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("spool ack: %w", err)
		}
	}
	var errs []error
	keep := s.segs[:0]
	for i, seg := range s.segs {
		if seg.pending > 0 || i == len(s.segs)-1 {
			keep = append(keep, seg)
			continue
		}
		seg.f.Close()
		if err := removeFile(seg.path); err != nil {
			errs = append(errs, err)
		}
		s.bytes -= seg.size
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	if len(errs) > 0 {
		return fmt.Errorf("spool ack: delete segment: %w", errors.Join(errs...))
	}
	return nil
}

// ackedFile holds the highest acknowledged seq, so that a restart does not
// read acknowledged frames of a segment still in use again. It is written
// without fsync: after a machine crash an older value at worst makes
// some frames be read twice, which the spool's user tolerates (its writes
// are idempotent).
const ackedFile = "acked"

func readAcked(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// saveAcked replaces ackedFile atomically (write and rename). A failure
// only costs frames read twice after a restart, so it is logged, not
// returned.
func (s *Spool) saveAcked() {
	path := filepath.Join(s.dir, ackedFile)
	err := os.WriteFile(path+".tmp", strconv.AppendUint(nil, s.acked, 10), 0o644)
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		s.log.Warn("spool: cannot save the acknowledged position; frames may be read twice after a restart", "err", err)
	}
}

// Stats returns a point-in-time view of the spool.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Frames = len(s.pending)
	st.Bytes = s.bytes
	st.Segments = len(s.segs)
	return st
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Close closes the segment files. Pending frames stay on disk and are
// pending again when the spool is next opened. Calling Close again does
// nothing.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.closeFiles()
	_ = s.lock.Close() // releases the flock
	return err
}

// ErrInUse is wrapped by Open's error when another process (or another
// Spool in this one) has the directory open.
var ErrInUse = errors.New("spool directory in use")

// lockDir takes an exclusive, non-blocking flock on dir/LOCK, so two
// recorders never append to (and delete) the same segments.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("open spool %s: %w (another rendezvous process uses it; give each its own recorder.spool_dir): %v", dir, ErrInUse, err)
	}
	return f, nil
}

func (s *Spool) closeFiles() error {
	var errs []error
	for _, seg := range s.segs {
		if seg.f != nil {
			errs = append(errs, seg.f.Close())
		}
	}
	return errors.Join(errs...)
}
