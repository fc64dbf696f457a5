package spool_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
)

var quiet = slog.New(slog.DiscardHandler)

func open(t *testing.T, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := spool.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func payload(i int) []byte {
	return fmt.Appendf(nil, "payload %d %s", i, bytes.Repeat([]byte{byte(i)}, i%50))
}

func appendN(t *testing.T, s *spool.Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, _, err := s.Append(spool.KindRecords, payload(i)); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
}

// drain reads and acknowledges every pending frame, returning the payloads.
func drain(t *testing.T, s *spool.Spool) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		f, ok, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, f.Data)
		if err := s.Ack(f.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func wantPayloads(t *testing.T, got [][]byte, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("%d frames, want %d", len(got), to-from)
	}
	for i, p := range got {
		if !bytes.Equal(p, payload(from+i)) {
			t.Fatalf("frame %d = %q, want %q", i, p, payload(from+i))
		}
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpool_GroupAppendIsOneFsyncAndReadsBackInOrder(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{})
	before := s.Stats().Fsyncs
	first, last, err := s.Append(spool.KindRecords, payload(0), payload(1), payload(2))
	if err != nil || first != 1 || last != 3 {
		t.Fatalf("Append = %d, %d, %v; want 1, 3", first, last, err)
	}
	if st := s.Stats(); st.Fsyncs != before+1 || st.Frames != 3 || st.LastSeq != 3 {
		t.Errorf("stats = %+v, want one fsync for three frames", st)
	}
	f, err := s.Read(2)
	if err != nil || !bytes.Equal(f.Data, payload(1)) || f.Kind != spool.KindRecords {
		t.Errorf("Read(2) = %+v, %v", f, err)
	}
	wantPayloads(t, drain(t, s), 0, 3)
}

func TestSpool_RestartReplaysWhatIsLeftInOrder(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{SegmentBytes: 4096})
	appendN(t, s, 0, 300)
	for range 100 { // the first 100 were written to the store
		f, _, _ := s.Peek()
		if err := s.Ack(f.Seq); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // no flush, no marker: as after a crash
	s = open(t, dir, spool.Options{SegmentBytes: 4096})
	if st := s.Stats(); st.Frames != 200 || st.Corrupt != 0 {
		t.Fatalf("after reopening stats = %+v, want 200 frames", st)
	}
	appendN(t, s, 300, 310)
	wantPayloads(t, drain(t, s), 100, 310)
}

func TestSpool_RotatesAndDeletesWrittenSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{SegmentBytes: 4096})
	appendN(t, s, 0, 500)
	if n := len(segments(t, dir)); n < 5 {
		t.Fatalf("%d segments after 500 frames of ~50 bytes with 4 KiB segments", n)
	}
	full := s.Stats().Bytes
	half := 0
	for range 250 {
		f, _, _ := s.Peek()
		s.Ack(f.Seq)
		half++
	}
	if b := s.Stats().Bytes; b >= full*3/4 {
		t.Errorf("%d bytes after acknowledging half of %d: written segments not deleted", b, full)
	}
	drain(t, s)
	st := s.Stats()
	if segs := segments(t, dir); len(segs) != 1 || st.Segments != 1 || st.Bytes != 8 {
		t.Errorf("after draining: segments %v, stats %+v; want one empty segment", segs, st)
	}
}

func TestSpool_FullRefusesAndFreesAsWritten(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{MaxBytes: 16 << 10})
	big := bytes.Repeat([]byte("x"), 1000)
	n := 0
	for {
		_, _, err := s.Append(spool.KindRecords, big)
		if errors.Is(err, spool.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if st := s.Stats(); st.Bytes > st.MaxBytes || n < 10 {
		t.Fatalf("%d appended, stats %+v", n, st)
	}
	got := drain(t, s)
	if len(got) != n {
		t.Fatalf("read back %d of %d", len(got), n)
	}
	if _, _, err := s.Append(spool.KindRecords, big); err != nil {
		t.Errorf("after draining, Append = %v", err)
	}
}

func TestSpool_TornLastFrameIsSkippedCountedAndTheRestKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut inside the payload", func(b []byte) []byte { return b[:len(b)-3] }},
		{"cut inside the header", func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"garbage frame", func(b []byte) []byte {
			return append(b, 20, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 0, 0, 0, 0, 9, 'a', 'b', 'c')
		}},
		{"flipped bit in the last payload", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, spool.Options{})
			appendN(t, s, 0, 10)
			s.Close()
			segs := segments(t, dir)
			last := segs[len(segs)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, spool.Options{})
			st := s.Stats()
			if st.Corrupt != 1 || st.CorruptBytes == 0 {
				t.Errorf("stats = %+v, want one corrupt tail counted", st)
			}
			got := drain(t, s)
			want := 10
			if len(got) == 10 && !bytes.Equal(got[9], payload(9)) || tc.name == "cut inside the payload" || tc.name == "flipped bit in the last payload" {
				want = 9
			}
			wantPayloads(t, got, 0, want)
			// Appends after the damaged tail are read back too.
			appendN(t, s, 100, 102)
			wantPayloads(t, drain(t, s), 100, 102)
		})
	}
}

func TestSpool_SeqsKeepRisingAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{})
	appendN(t, s, 0, 3)
	s.Close()
	s = open(t, dir, spool.Options{})
	first, _, err := s.Append(spool.KindFeedback, []byte("label"))
	if err != nil || first != 4 {
		t.Fatalf("Append after restart = seq %d, %v; want 4", first, err)
	}
	f, err := s.Read(4)
	if err != nil || f.Kind != spool.KindFeedback {
		t.Errorf("Read(4) = %+v, %v", f, err)
	}
}

func TestOpen_RefusesADirectoryAnotherSpoolHasOpen(t *testing.T) {
	dir := t.TempDir()
	first, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spool.Open(dir, spool.Options{}); !errors.Is(err, spool.ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}
