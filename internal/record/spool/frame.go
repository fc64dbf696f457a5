// Package spool is the recorder's local disk spool: an append-only log of
// checksummed frames in segment files, read back oldest first and deleted
// segment by segment once every frame in a segment is acknowledged.
//
// # Format
//
// A spool is a directory of segment files named by the sequence number of
// their first frame ("00000000000000000042.seg"). Each segment starts with
// the 8-byte magic "RDVSPL1\n", then frames, back to back:
//
//	uint32 LE  n: length of the body
//	uint32 LE  CRC-32C (Castagnoli) of the body
//	body:      kind (1 byte) · seq (uint64 LE) · payload (n-9 bytes)
//
// kind says what the payload holds (KindRecords, KindFeedback); seq numbers
// frames in append order across segments and restarts. A frame whose
// header is incomplete, whose length runs past the end of the file, whose
// checksum does not match or whose kind or seq is impossible ends what is
// read of its segment: after a crash mid-append that is the torn last
// frame, which Open skips, counts (Stats.Corrupt) and logs.
//
// A small file "acked" holds the highest acknowledged seq (rewritten
// atomically at each Ack, without fsync), so that frames acknowledged in a
// segment still in use are not read again after a restart; if it is stale,
// some frames are read twice, which the spool's user must tolerate.
//
// Durability: Append writes a group of frames with one write and one fsync
// (group commit); a new segment's directory entry is fsynced too. A frame
// Append returned for survives a crash of the process or of the machine.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Kind says what a frame's payload holds.
type Kind byte

// Frame kinds. Zero is never a valid kind.
const (
	// KindRecords: a batch of records (encoded by package record).
	KindRecords Kind = 1
	// KindFeedback: a batch of feedback labels.
	KindFeedback Kind = 2
	// maxKind is the highest kind a reader accepts.
	maxKind = KindFeedback
)

func (k Kind) String() string {
	switch k {
	case KindRecords:
		return "records"
	case KindFeedback:
		return "feedback"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Frame is one entry of the spool.
type Frame struct {
	Kind Kind
	// Seq is the frame's sequence number (assigned by Append, from 1).
	Seq  uint64
	Data []byte
}

// Frame layout sizes.
const (
	// headerSize is the length and checksum before the body.
	headerSize = 8
	// bodyPrefix is the kind and seq at the start of the body.
	bodyPrefix = 9
	// Overhead is what a frame adds to its payload on disk.
	Overhead = headerSize + bodyPrefix
	// MaxPayload bounds one frame's payload (a reader refuses longer
	// lengths as corrupt without allocating).
	MaxPayload = 1<<30 - Overhead
)

// magic starts every segment file (the format's version).
const magic = "RDVSPL1\n"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors ReadFrame reports; both mean "nothing valid from here on".
var (
	// ErrTorn: the bytes end inside the frame (a write cut short).
	ErrTorn = errors.New("spool: torn frame")
	// ErrCorrupt: the frame is complete but invalid (checksum, kind,
	// length).
	ErrCorrupt = errors.New("spool: corrupt frame")
)

// AppendFrame appends f encoded as a frame to dst. It panics if f.Kind is
// zero or the payload is longer than MaxPayload (a programming error).
func AppendFrame(dst []byte, f Frame) []byte {
	if f.Kind == 0 || f.Kind > maxKind || len(f.Data) > MaxPayload {
		panic(fmt.Sprintf("spool: cannot frame %v payload of %d bytes", f.Kind, len(f.Data)))
	}
	n := bodyPrefix + len(f.Data)
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // checksum, below
	dst = append(dst, byte(f.Kind))
	dst = binary.LittleEndian.AppendUint64(dst, f.Seq)
	dst = append(dst, f.Data...)
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+headerSize:], castagnoli))
	return dst
}

// ReadFrame decodes the frame at the start of b and returns it with the
// number of bytes it takes. f.Data aliases b. It returns ErrTorn when b
// ends inside the frame and ErrCorrupt when the frame is invalid; it never
// panics and never allocates for the payload, whatever b holds.
func ReadFrame(b []byte) (f Frame, n int, err error) {
	if len(b) < headerSize {
		return Frame{}, 0, ErrTorn
	}
	size := binary.LittleEndian.Uint32(b)
	if size < bodyPrefix || size > MaxPayload+bodyPrefix {
		return Frame{}, 0, fmt.Errorf("%w: body length %d", ErrCorrupt, size)
	}
	if uint64(len(b)-headerSize) < uint64(size) {
		return Frame{}, 0, ErrTorn
	}
	body := b[headerSize : headerSize+int(size)]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[4:]); got != want {
		return Frame{}, 0, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	f = Frame{Kind: Kind(body[0]), Seq: binary.LittleEndian.Uint64(body[1:]), Data: body[bodyPrefix:]}
	if f.Kind == 0 || f.Kind > maxKind || f.Seq == 0 {
		return Frame{}, 0, fmt.Errorf("%w: kind %d, seq %d", ErrCorrupt, f.Kind, f.Seq)
	}
	return f, headerSize + int(size), nil
}

// ReadSegment decodes the frames of a segment's contents (magic included),
// calling fn with each frame and its offset, in order, until the first
// frame that is torn or corrupt or whose seq is not above the previous
// one. It returns the offset where valid frames end and the error that
// ended them (nil when everything was valid). A missing or wrong magic is
// ErrCorrupt at offset 0.
func ReadSegment(b []byte, fn func(f Frame, off int)) (end int, err error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		if len(b) < len(magic) && string(b) == magic[:len(b)] {
			return 0, ErrTorn
		}
		return 0, fmt.Errorf("%w: not a spool segment", ErrCorrupt)
	}
	off := len(magic)
	var last uint64
	for off < len(b) {
		f, n, err := ReadFrame(b[off:])
		if err != nil {
			return off, err
		}
		if f.Seq <= last {
			return off, fmt.Errorf("%w: seq %d after %d", ErrCorrupt, f.Seq, last)
		}
		last = f.Seq
		fn(f, off)
		off += n
	}
	return off, nil
}
