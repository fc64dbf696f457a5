package record

import (
	"hash/maphash"
	"slices"
)

// spoolIndex is the recorder's index of the records in the spool and not
// yet written, for Lookup: per frame, oldest first, the sorted 64-bit
// hashes of its records' ids. It costs 8 bytes per record (plus a few
// dozen per frame of up to BatchSize records), where a map of id strings
// cost about 100 (a 10-minute outage at 1,000 requests/s spools 600,000
// records: about 5 MB instead of 60). A hash names a candidate frame only:
// Lookup reads the frame and compares the ids themselves, so a collision
// costs a frame read, never a wrong record. Not safe for concurrent use
// (the recorder holds r.mu).
type spoolIndex struct {
	seed   maphash.Seed
	frames []frameIDs
}

type frameIDs struct {
	seq    uint64
	hashes []uint64 // sorted
}

func newSpoolIndex() *spoolIndex { return &spoolIndex{seed: maphash.MakeSeed()} }

func (x *spoolIndex) hash(id string) uint64 { return maphash.String(x.seed, id) }

// add indexes frame seq's ids; frames are added in spool order.
func (x *spoolIndex) add(seq uint64, ids []string) {
	h := make([]uint64, len(ids))
	for i, id := range ids {
		h[i] = x.hash(id)
	}
	slices.Sort(h)
	x.frames = append(x.frames, frameIDs{seq: seq, hashes: h})
}

// candidates returns the frames that may hold id, newest first.
func (x *spoolIndex) candidates(id string) []uint64 {
	h := x.hash(id)
	var seqs []uint64
	for i := len(x.frames) - 1; i >= 0; i-- {
		if _, ok := slices.BinarySearch(x.frames[i].hashes, h); ok {
			seqs = append(seqs, x.frames[i].seq)
		}
	}
	return seqs
}

// forget drops frame seq (written to the store): usually the oldest.
func (x *spoolIndex) forget(seq uint64) {
	for i := range x.frames {
		if x.frames[i].seq == seq {
			x.frames[i] = frameIDs{}
			if i == 0 {
				x.frames = x.frames[1:]
			} else {
				x.frames = slices.Delete(x.frames, i, i+1)
			}
			if len(x.frames) == 0 {
				x.frames = nil // let the backing array go
			}
			return
		}
	}
}
