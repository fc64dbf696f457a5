// Package sumblock encodes blocks of record summaries (record.Summary) in a
// compact binary form, for stores that keep them beside the full records so
// analytics scans read about a hundred bytes per record instead of decoding
// whole JSON documents (features included).
//
// A block holds the summaries of one write batch, sorted by (ReceivedAt,
// ID), in two parts a store keeps apart so metrics never read the inputs:
// Data (everything but the inputs) and Inputs. Integers are varints,
// strings a length then bytes. Data:
//
//	version=2  symbol-count  symbols…  count  id-lengths…  id-bytes
//	per summary: Δreceived_at(µs, zig-zag, from the previous one; the first from 0)
//	             #status  #served_by  #decision_reason  model-count
//	             per model: #name #role #version #status flags [prediction] [probability: 8 bytes LE] latency_us
//
// Inputs: per summary, input-count+1 (0: nil input), then per field
// #key kind value. #x is the index of string x in the block's symbol table
// (every string but the ids), so repeated names cost a byte or two; the ids
// are contiguous so a decoded block holds them in one string.
//
// Input values are kinds: null, number (8 bytes LE), integral number (a
// zig-zag varint, for integers below 2^53 in magnitude other than −0),
// string, true, false, or JSON text for any other value (decoded with
// encoding/json, as a full record's JSON would be). The encoding is exact:
// floats keep their bits.
package sumblock

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Version is the block format version written.
const Version = 2

// ErrCorrupt: a block does not decode.
var ErrCorrupt = errors.New("corrupt summary block")

const (
	kindNull = iota
	kindNumber
	kindString
	kindTrue
	kindFalse
	kindJSON
	kindInteger
)

const (
	flagPrediction = 1 << iota
	flagProbability
)

// Sort sorts summaries by (ReceivedAt, ID), the order of a store scan.
func Sort(ss []record.Summary) {
	slices.SortFunc(ss, func(a, b record.Summary) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Append encodes ss (sorted by the caller, see Sort) as one block, its
// data part appended to data and its inputs part to inputs. ReceivedAt is
// stored in microseconds (stores keep that precision). It fails on an input
// value encoding/json cannot encode.
func Append(data, inputs []byte, ss []record.Summary) ([]byte, []byte, error) {
	e := encoder{index: map[string]uint64{}}
	var body []byte
	var prev int64
	for i := range ss {
		s := &ss[i]
		at := s.ReceivedAt.UnixMicro()
		body = binary.AppendVarint(body, at-prev)
		prev = at
		body = e.sym(body, s.Status)
		body = e.sym(body, s.ServedBy)
		body = e.sym(body, s.DecisionReason)
		body = binary.AppendUvarint(body, uint64(len(s.Models)))
		for j := range s.Models {
			m := &s.Models[j]
			body = e.sym(body, m.Name)
			body = e.sym(body, string(m.Role))
			body = e.sym(body, m.Version)
			body = e.sym(body, string(m.Status))
			var flags byte
			if m.Prediction != nil {
				flags |= flagPrediction
			}
			if m.Probability != nil {
				flags |= flagProbability
			}
			body = append(body, flags)
			if m.Prediction != nil {
				body = binary.AppendVarint(body, int64(*m.Prediction))
			}
			if m.Probability != nil {
				body = binary.LittleEndian.AppendUint64(body, math.Float64bits(*m.Probability))
			}
			body = binary.AppendVarint(body, m.LatencyUS)
		}
		var err error
		if inputs, err = e.input(inputs, s.Input); err != nil {
			return data, inputs, fmt.Errorf("summary of %q: %w", s.ID, err)
		}
	}
	data = append(data, Version)
	data = binary.AppendUvarint(data, uint64(len(e.syms)))
	for _, sym := range e.syms {
		data = appendString(data, sym)
	}
	data = binary.AppendUvarint(data, uint64(len(ss)))
	for i := range ss {
		data = binary.AppendUvarint(data, uint64(len(ss[i].ID)))
	}
	for i := range ss {
		data = append(data, ss[i].ID...)
	}
	return append(data, body...), inputs, nil
}

// encoder builds a block's symbol table.
type encoder struct {
	index map[string]uint64
	syms  []string
}

func (e *encoder) sym(b []byte, s string) []byte {
	i, ok := e.index[s]
	if !ok {
		i = uint64(len(e.syms))
		e.index[s] = i
		e.syms = append(e.syms, s)
	}
	return binary.AppendUvarint(b, i)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// maxExactInt bounds the integral numbers written as varints.
const maxExactInt = 1 << 53

func (e *encoder) input(b []byte, in schema.Input) ([]byte, error) {
	if in == nil {
		return binary.AppendUvarint(b, 0), nil
	}
	b = binary.AppendUvarint(b, uint64(len(in))+1)
	for k, v := range in {
		b = e.sym(b, k)
		switch x := v.(type) {
		case nil:
			b = append(b, kindNull)
		case float64:
			b = appendNumber(b, x)
		case string:
			b = append(b, kindString)
			b = e.sym(b, x)
		case bool:
			if x {
				b = append(b, kindTrue)
			} else {
				b = append(b, kindFalse)
			}
		default:
			// What a stored JSON document would give back.
			j, err := json.Marshal(x)
			if err != nil {
				return b, fmt.Errorf("input field %q: %w", k, err)
			}
			b = append(b, kindJSON)
			b = appendString(b, string(j))
		}
	}
	return b, nil
}

// appendNumber writes a number with its kind: an integral varint when that
// is exact (below 2^53 in magnitude, not −0), else its 8 bytes.
func appendNumber(b []byte, x float64) []byte {
	if x == math.Trunc(x) && math.Abs(x) < maxExactInt && !(x == 0 && math.Signbit(x)) {
		return binary.AppendVarint(append(b, kindInteger), int64(x))
	}
	return binary.LittleEndian.AppendUint64(append(b, kindNumber), math.Float64bits(x))
}

// Decoder decodes blocks. It interns the short strings that repeat from
// record to record (statuses, model names, roles, versions, input keys and
// categorical values), so decoding allocates little beyond the ids. The
// zero value is ready to use. Not safe for concurrent use.
type Decoder struct {
	intern map[string]string
	syms   []string // the current block's symbols
}

// sym reads a symbol index.
func (d *Decoder) sym(r *reader) string {
	i := r.uvarint()
	if i >= uint64(len(d.syms)) {
		r.fail()
		return ""
	}
	return d.syms[i]
}

// maxIntern bounds the interned strings (free text beyond it is allocated
// per value).
const maxIntern = 4096

// Block is one decoded block. Its summaries share backing arrays owned by
// the Block; decoding into a Block again overwrites them.
type Block struct {
	Summaries []record.Summary
	models    []record.ModelSummary
	preds     []int
	probs     []float64
	idLens    []int
	counts    []int // models per summary
}

// pending and pendingF mark a present prediction and probability until
// Decode points them at their final place.
var (
	pending  int
	pendingF float64
)

// Decode decodes a block into blk: its data part, and its inputs part
// when inputs is not nil (nil inputs leave every Summary.Input nil).
func (d *Decoder) Decode(data, inputs []byte, blk *Block) error {
	if d.intern == nil {
		d.intern = make(map[string]string, 64)
	}
	r := reader{b: data}
	n, err := d.header(&r)
	if err != nil {
		return err
	}
	ids, err := blk.reset(&r, n)
	if err != nil {
		return err
	}
	var prev int64
	var ir reader
	if inputs != nil {
		ir = reader{b: inputs}
	}
	off := 0
	for i := range blk.Summaries {
		s := &blk.Summaries[i]
		*s = record.Summary{}
		s.ID = ids[off : off+blk.idLens[i]]
		off += blk.idLens[i]
		prev += r.varint()
		s.ReceivedAt = time.UnixMicro(prev).UTC()
		s.Status = d.sym(&r)
		s.ServedBy = d.sym(&r)
		s.DecisionReason = d.sym(&r)
		if err := d.models(&r, blk); err != nil {
			return err
		}
		if inputs != nil {
			var err error
			if s.Input, err = d.input(&ir); err != nil {
				return err
			}
		}
	}
	if r.err != nil || r.left() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, r.left())
	}
	if inputs != nil && (ir.err != nil || ir.left() != 0) {
		return fmt.Errorf("%w: inputs: %d trailing bytes", ErrCorrupt, ir.left())
	}
	blk.link()
	return nil
}

// header reads the version and the block's symbols, and returns the
// number of summaries.
func (d *Decoder) header(r *reader) (uint64, error) {
	if v := r.byte(); v != Version {
		return 0, fmt.Errorf("%w: version %d", ErrCorrupt, v)
	}
	ns := r.uvarint()
	if r.err != nil || ns > uint64(len(r.b)) {
		return 0, fmt.Errorf("%w: symbol count", ErrCorrupt)
	}
	d.syms = slices.Grow(d.syms[:0], int(ns))[:ns]
	for i := range d.syms {
		d.syms[i] = d.str(r.bytes())
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return 0, fmt.Errorf("%w: count", ErrCorrupt)
	}
	return n, nil
}

// reset sizes blk for n summaries and reads their ids (one string for
// all, which Decode slices).
func (blk *Block) reset(r *reader, n uint64) (string, error) {
	blk.Summaries = slices.Grow(blk.Summaries[:0], int(n))[:n]
	blk.models = blk.models[:0]
	blk.preds = blk.preds[:0]
	blk.probs = blk.probs[:0]
	blk.idLens = slices.Grow(blk.idLens[:0], int(n))[:n]
	blk.counts = blk.counts[:0]
	total := 0
	for i := range blk.idLens {
		l := r.uvarint()
		if l > uint64(r.left()) {
			r.fail()
		}
		blk.idLens[i] = int(l)
		total += int(l)
	}
	if r.err != nil || total > r.left() {
		return "", fmt.Errorf("%w: ids", ErrCorrupt)
	}
	ids := string(r.b[r.i : r.i+total]) // one allocation for every id
	r.i += total
	return ids, nil
}

// models reads one summary's models into blk.
func (d *Decoder) models(r *reader, blk *Block) error {
	nm := r.uvarint()
	if r.err != nil || nm > uint64(r.left()) {
		return fmt.Errorf("%w: model count", ErrCorrupt)
	}
	for range nm {
		m := record.ModelSummary{
			Name:    d.sym(r),
			Role:    model.Role(d.sym(r)),
			Version: d.sym(r),
			Status:  record.Status(d.sym(r)),
		}
		flags := r.byte()
		// Prediction and Probability point into preds and probs once
		// every model is read (appends may move the arrays).
		if flags&flagPrediction != 0 {
			blk.preds = append(blk.preds, int(r.varint()))
			m.Prediction = &pending
		}
		if flags&flagProbability != 0 {
			blk.probs = append(blk.probs, math.Float64frombits(r.uint64()))
			m.Probability = &pendingF
		}
		m.LatencyUS = r.varint()
		blk.models = append(blk.models, m)
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, r.err)
	}
	blk.counts = append(blk.counts, int(nm))
	return nil
}

// link points the models' predictions and probabilities at their final
// place and gives each summary its models.
func (blk *Block) link() {
	pi, qi := 0, 0
	for i := range blk.models {
		m := &blk.models[i]
		if m.Prediction != nil {
			m.Prediction = &blk.preds[pi]
			pi++
		}
		if m.Probability != nil {
			m.Probability = &blk.probs[qi]
			qi++
		}
	}
	from := 0
	for i := range blk.Summaries {
		if c := blk.counts[i]; c > 0 {
			blk.Summaries[i].Models = blk.models[from : from+c : from+c]
			from += c
		} else {
			blk.Summaries[i].Models = nil
		}
	}
}

func (d *Decoder) input(r *reader) (schema.Input, error) {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil, r.err
	}
	n--
	if n > uint64(r.left()) {
		return nil, fmt.Errorf("%w: input count", ErrCorrupt)
	}
	in := make(schema.Input, n)
	for range n {
		k := d.sym(r)
		kind := r.byte()
		if kind == kindString {
			in[k] = d.sym(r) // strings are symbols in the inputs part
			continue
		}
		v, err := d.scalar(r, kind)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", k, err)
		}
		in[k] = v
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: input", ErrCorrupt)
	}
	return in, nil
}

// str returns b as a string, interned.
func (d *Decoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < maxIntern && len(s) <= 64 {
		d.intern[s] = s
	}
	return s
}

// reader reads varints and strings, remembering the first error.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) left() int { return len(r.b) - r.i }

func (r *reader) fail() {
	if r.err == nil {
		r.err = ErrCorrupt
	}
	r.i = len(r.b)
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.fail()
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.i += n
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.i += n
	return v
}

func (r *reader) uint64() uint64 {
	if r.left() < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.i:])
	r.i += 8
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(r.left()) {
		r.fail()
		return nil
	}
	b := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return b
}
