package spool_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/record/spool"
)

// FuzzReadSegment feeds arbitrary bytes to the segment reader: it must
// never panic, must stop at the first invalid frame with ErrTorn or
// ErrCorrupt, and every frame it returns must encode back to exactly the
// bytes it was read from, with rising seqs. The seed corpus (testdata/fuzz)
// holds valid segments, torn ones and damaged ones.
func FuzzReadSegment(f *testing.F) {
	seg := []byte("RDVSPL1\n")
	seg = spool.AppendFrame(seg, spool.Frame{Kind: spool.KindRecords, Seq: 1, Data: []byte("a batch")})
	seg = spool.AppendFrame(seg, spool.Frame{Kind: spool.KindFeedback, Seq: 2, Data: nil})
	f.Add(seg)
	f.Add(seg[:len(seg)-2])
	f.Add([]byte("RDVSPL1\n\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var last uint64
		end, err := spool.ReadSegment(b, func(fr spool.Frame, off int) {
			if fr.Seq <= last || fr.Kind == 0 {
				t.Fatalf("frame at %d: seq %d after %d, kind %d", off, fr.Seq, last, fr.Kind)
			}
			last = fr.Seq
			re := spool.AppendFrame(nil, fr)
			if off+len(re) > len(b) || !bytes.Equal(re, b[off:off+len(re)]) {
				t.Fatalf("frame at %d does not encode back to its bytes", off)
			}
		})
		if end < 0 || end > len(b) {
			t.Fatalf("end %d outside 0..%d", end, len(b))
		}
		if err == nil && end != len(b) || err != nil && end == len(b) && end != 0 {
			t.Fatalf("end %d of %d with err %v", end, len(b), err)
		}
		if err != nil && !errors.Is(err, spool.ErrTorn) && !errors.Is(err, spool.ErrCorrupt) {
			t.Fatalf("err %v is neither torn nor corrupt", err)
		}
		if err == nil && len(b) >= 8 {
			// Whatever valid prefix: cutting the last byte tears it.
			if _, err := spool.ReadSegment(b[:len(b)-1], func(spool.Frame, int) {}); err == nil && last > 0 {
				t.Fatal("a segment cut by one byte reads as valid")
			}
		}
	})
}
