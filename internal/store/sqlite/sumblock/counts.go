package sumblock

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/rendezvous-gw/rendezvous/internal/record"
)

// CountsVersion is the format version of an encoded record.InputCounts.
const CountsVersion = 1

// AppendCounts encodes c (a block's input value counts, for drift) and
// appends it to dst:
//
//	version=1  rows  field-count
//	per field: name  distinct  per value: kind value  n
//	model-count
//	per model: name  distinct  per value: probability (8 bytes LE)  n
//
// Strings are a length then bytes; value kinds are those of the inputs
// part (numbers as integral varints when exact). It fails on a value that
// encoding/json cannot encode.
func AppendCounts(dst []byte, c *record.InputCounts) ([]byte, error) {
	dst = append(dst, CountsVersion)
	dst = binary.AppendUvarint(dst, uint64(c.Rows))
	dst = binary.AppendUvarint(dst, uint64(len(c.Fields)))
	for _, f := range c.Fields {
		dst = appendString(dst, f.Name)
		dst = binary.AppendUvarint(dst, uint64(len(f.Values)))
		for _, v := range f.Values {
			var err error
			if dst, err = appendValue(dst, v.Value); err != nil {
				return dst, fmt.Errorf("input field %q: %w", f.Name, err)
			}
			dst = binary.AppendUvarint(dst, uint64(v.N))
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Probabilities)))
	for _, p := range c.Probabilities {
		dst = appendString(dst, p.Model)
		dst = binary.AppendUvarint(dst, uint64(len(p.Values)))
		for _, v := range p.Values {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Value))
			dst = binary.AppendUvarint(dst, uint64(v.N))
		}
	}
	return dst, nil
}

// appendValue writes one input value with its kind (strings inline).
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, kindNull), nil
	case float64:
		return appendNumber(b, x), nil
	case string:
		return appendString(append(b, kindString), x), nil
	case bool:
		if x {
			return append(b, kindTrue), nil
		}
		return append(b, kindFalse), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return appendString(append(b, kindJSON), string(j)), nil
}

// DecodeCounts decodes an encoding of AppendCounts into c, reusing c's
// slices. Value strings are interned like the blocks' symbols.
func (d *Decoder) DecodeCounts(b []byte, c *record.InputCounts) error {
	if d.intern == nil {
		d.intern = make(map[string]string, 64)
	}
	r := reader{b: b}
	if v := r.byte(); v != CountsVersion {
		return fmt.Errorf("%w: counts version %d", ErrCorrupt, v)
	}
	c.Rows = int(r.uvarint())
	nf := r.uvarint()
	if r.err != nil || nf > uint64(r.left()) {
		return fmt.Errorf("%w: counts field count", ErrCorrupt)
	}
	c.Fields = growTo(c.Fields, int(nf))
	for i := range c.Fields {
		f := &c.Fields[i]
		f.Name = d.str(r.bytes())
		nv := r.uvarint()
		if r.err != nil || nv > uint64(r.left()) {
			return fmt.Errorf("%w: counts of %q", ErrCorrupt, f.Name)
		}
		f.Values = growTo(f.Values, int(nv))
		for j := range f.Values {
			v, err := d.value(&r)
			if err != nil {
				return fmt.Errorf("counts of %q: %w", f.Name, err)
			}
			f.Values[j] = record.ValueCount{Value: v, N: int(r.uvarint())}
		}
	}
	np := r.uvarint()
	if r.err != nil || np > uint64(r.left()) {
		return fmt.Errorf("%w: counts model count", ErrCorrupt)
	}
	c.Probabilities = growTo(c.Probabilities, int(np))
	for i := range c.Probabilities {
		p := &c.Probabilities[i]
		p.Model = d.str(r.bytes())
		nv := r.uvarint()
		if r.err != nil || nv > uint64(r.left()) {
			return fmt.Errorf("%w: probability counts of %q", ErrCorrupt, p.Model)
		}
		p.Values = growTo(p.Values, int(nv))
		for j := range p.Values {
			p.Values[j] = record.FloatCount{Value: math.Float64frombits(r.uint64()), N: int(r.uvarint())}
		}
	}
	if r.err != nil || r.left() != 0 {
		return fmt.Errorf("%w: counts: %d trailing bytes", ErrCorrupt, r.left())
	}
	return nil
}

// value reads one value written by appendValue, as the inputs part
// decodes it.
func (d *Decoder) value(r *reader) (any, error) {
	kind := r.byte()
	if kind == kindString {
		return d.str(r.bytes()), r.err // inline here, not a symbol
	}
	return d.scalar(r, kind)
}

// scalar reads a value of the given kind other than a string: the kinds the
// inputs part and the counts share.
func (d *Decoder) scalar(r *reader, kind byte) (any, error) {
	switch kind {
	case kindNull:
		return nil, r.err
	case kindNumber:
		return math.Float64frombits(r.uint64()), r.err
	case kindInteger:
		return float64(r.varint()), r.err
	case kindTrue:
		return true, r.err
	case kindFalse:
		return false, r.err
	case kindJSON:
		var v any
		if err := json.Unmarshal(r.bytes(), &v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("%w: value kind %d", ErrCorrupt, kind)
	}
}

// growTo returns s resized to n elements, reusing its array when it can.
func growTo[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}
