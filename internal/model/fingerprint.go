package model

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// FingerprintMethod names how RowFingerprint hashes a row: FNV-1a (64-bit)
// over the canonical values of Fields, in that order.
const FingerprintMethod = "fnv1a64-canonical-v1"

// RowFingerprint is a bundle's fingerprint of its training rows: one 64-bit
// hash per distinct training row, computed over the raw input fields the
// pipeline reads (Fields), sorted and stored as base64 of 8-byte
// big-endian values. It keeps no value of any row, so it can ship with the
// bundle; it answers one question: was this input one of the training
// rows? (A collision between two different rows has a probability of about
// n²/2⁶⁵: nil for training sets of any realistic size.)
type RowFingerprint struct {
	Method string   `json:"method"`
	Fields []string `json:"fields"`
	Rows   int      `json:"rows"` // distinct rows hashed
	Hashes string   `json:"hashes"`
}

// RowHash is the hash of in's canonical values of fields: for each field,
// its name, then a type tag and the value (numbers in shortest 'g' form,
// strings length-prefixed, booleans, null for a missing value or an
// absent field), so inputs that differ in any of the fields hash apart.
func RowHash(fields []string, in schema.Input) uint64 {
	var buf [64]byte
	h := uint64(14695981039346656037)
	write := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	for _, f := range fields {
		write([]byte(f))
		b := buf[:0]
		switch v := in[f].(type) {
		case float64:
			if v == 0 {
				v = 0 // -0 and 0 are the same value
			}
			b = append(b, 'f')
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		case int:
			b = append(b, 'f')
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 64)
		case string:
			b = append(b, 's')
			b = strconv.AppendInt(b, int64(len(v)), 10)
			b = append(b, ':')
			write(b)
			write([]byte(v))
			b = b[:0]
		case bool:
			b = append(b, 'b')
			b = strconv.AppendBool(b, v)
		default:
			b = append(b, 'n')
		}
		b = append(b, 0x1e)
		write(b)
	}
	return h
}

// NewRowFingerprint fingerprints rows over fields.
func NewRowFingerprint(fields []string, rows []schema.Input) *RowFingerprint {
	hs := make([]uint64, len(rows))
	for i, in := range rows {
		hs[i] = RowHash(fields, in)
	}
	slices.Sort(hs)
	hs = slices.Compact(hs)
	raw := make([]byte, 8*len(hs))
	for i, v := range hs {
		binary.BigEndian.PutUint64(raw[8*i:], v)
	}
	return &RowFingerprint{Method: FingerprintMethod, Fields: slices.Clone(fields), Rows: len(hs), Hashes: base64.StdEncoding.EncodeToString(raw)}
}

// TrainingSet answers whether an input was one of a bundle's training rows.
// The zero value (no fingerprint) contains nothing and is not Known.
type TrainingSet struct {
	fields []string
	hashes []uint64 // sorted
}

// Known reports whether the set comes from a fingerprint.
func (s TrainingSet) Known() bool { return s.fields != nil }

// Contains reports whether in's values of the fingerprinted fields equal
// those of a training row.
func (s TrainingSet) Contains(in schema.Input) bool {
	if s.fields == nil {
		return false
	}
	_, ok := slices.BinarySearch(s.hashes, RowHash(s.fields, in))
	return ok
}

// Set decodes the fingerprint.
func (f *RowFingerprint) Set() (TrainingSet, error) {
	if f.Method != FingerprintMethod {
		return TrainingSet{}, fieldErr("method", fmt.Sprintf("unknown fingerprint method %q (this build knows %s)", f.Method, FingerprintMethod))
	}
	raw, err := base64.StdEncoding.DecodeString(f.Hashes)
	if err != nil {
		return TrainingSet{}, fieldErr("hashes", "not base64: "+err.Error())
	}
	if len(raw)%8 != 0 || len(raw)/8 != f.Rows {
		return TrainingSet{}, fieldErr("hashes", fmt.Sprintf("%d bytes for %d rows, want 8 per row", len(raw), f.Rows))
	}
	hs := make([]uint64, f.Rows)
	for i := range hs {
		hs[i] = binary.BigEndian.Uint64(raw[8*i:])
		if i > 0 && hs[i] <= hs[i-1] {
			return TrainingSet{}, fieldErr("hashes", "not sorted and distinct")
		}
	}
	fields := f.Fields
	if fields == nil {
		fields = []string{}
	}
	return TrainingSet{fields: fields, hashes: hs}, nil
}
