// Package docjson encodes a record.Record as the JSON document the SQL stores
// keep, and decodes it back, several times faster than encoding/json (which
// spends most of its time on reflection and on re-validating the output of
// Features.MarshalJSON).
//
// Encoding (AppendRecord): the output is byte for byte what a json.Encoder
// with SetEscapeHTML(false) writes for the record (without the trailing
// newline); the tests hold it to that on every field and on fuzzed strings,
// and fail when record.Record, ModelResult, Decision or schema.FieldError
// gain a field this encoder does not know.
//
// Decoding (DecodeRecord, Decoder): a hand-written parser reads documents of
// the shape the encoder writes, in any key order and spacing (as jsonb
// returns them), and gives exactly what json.Unmarshal into a zero
// record.Record gives; anything else (unknown or repeated keys, nulls where
// a value is expected, malformed JSON) falls back to encoding/json, so the
// result and the error are encoding/json's in every case.
package docjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// ErrUnsupportedValue is wrapped when a record holds a value JSON cannot
// represent (NaN, ±Inf, a year outside 0–9999).
var ErrUnsupportedValue = errors.New("value not representable in JSON")

// AppendRecord appends the JSON document of rec to dst. It is safe for
// concurrent use (it keeps no state).
func AppendRecord(dst []byte, rec *record.Record) ([]byte, error) {
	var err error
	b := append(dst, `{"_id":`...)
	b = appendString(b, rec.ID, false)
	b = append(b, `,"received_at":`...)
	if b, err = appendTime(b, rec.ReceivedAt); err != nil {
		return dst, err
	}
	b = append(b, `,"endpoint":`...)
	b = appendString(b, rec.Endpoint, false)
	if rec.EntityID != "" {
		b = append(b, `,"entity_id":`...)
		b = appendString(b, rec.EntityID, false)
	}
	if len(rec.Input) > 0 {
		b = append(b, `,"input":`...)
		if b, err = appendInput(b, rec.Input); err != nil {
			return dst, fmt.Errorf("input: %w", err)
		}
	}
	if rec.Raw != "" {
		b = append(b, `,"raw":`...)
		b = appendString(b, rec.Raw, false)
	}
	if rec.RawBytes != 0 {
		b = append(b, `,"raw_bytes":`...)
		b = strconv.AppendInt(b, rec.RawBytes, 10)
	}
	if rec.RawSHA256 != "" {
		b = append(b, `,"raw_sha256":`...)
		b = appendString(b, rec.RawSHA256, false)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, rec.Status, false)
	if len(rec.Problems) > 0 {
		b = append(b, `,"problems":[`...)
		for i, p := range rec.Problems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendProblem(b, p)
		}
		b = append(b, ']')
	}
	if len(rec.Models) > 0 {
		b = append(b, `,"models":{`...)
		var stack [8]string
		names := stack[:0]
		for name := range rec.Models {
			names = append(names, name)
		}
		sortStrings(names)
		for i, name := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name, false)
			b = append(b, ':')
			m := rec.Models[name]
			if b, err = appendModel(b, &m); err != nil {
				return dst, fmt.Errorf("model %q: %w", name, err)
			}
		}
		b = append(b, '}')
	}
	if d := rec.Decision; d != nil {
		b = append(b, `,"decision":{`...)
		if d.ServedBy != "" {
			b = append(b, `"served_by":`...)
			b = appendString(b, d.ServedBy, false)
			b = append(b, ',')
		}
		b = append(b, `"reason":`...)
		b = appendString(b, d.Reason, false)
		b = append(b, `,"deadline_ms":`...)
		b = strconv.AppendInt(b, d.DeadlineMS, 10)
		b = append(b, `,"latency_us":`...)
		b = strconv.AppendInt(b, d.LatencyUS, 10)
		if d.Deployment != 0 {
			b = append(b, `,"deployment":`...)
			b = strconv.AppendInt(b, d.Deployment, 10)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendProblem(b []byte, p schema.FieldError) []byte {
	b = append(b, `{"field":`...)
	b = appendString(b, p.Field, false)
	b = append(b, `,"problem":`...)
	b = appendString(b, p.Problem, false)
	return append(b, '}')
}

func appendModel(b []byte, m *record.ModelResult) ([]byte, error) {
	var err error
	b = append(b, `{"role":`...)
	b = appendString(b, string(m.Role), false)
	if m.Version != "" {
		b = append(b, `,"version":`...)
		b = appendString(b, m.Version, false)
	}
	if m.Artifact != "" {
		b = append(b, `,"artifact":`...)
		b = appendString(b, m.Artifact, false)
	}
	if m.Features.Names != nil || m.Features.Values != nil { // omitzero
		b = append(b, `,"features":`...)
		if b, err = appendFeatures(b, m.Features); err != nil {
			return b, err
		}
	}
	if m.Prediction != nil {
		b = append(b, `,"prediction":`...)
		b = strconv.AppendInt(b, int64(*m.Prediction), 10)
	}
	if m.Label != "" {
		b = append(b, `,"label":`...)
		b = appendString(b, m.Label, false)
	}
	if m.Probability != nil {
		b = append(b, `,"probability":`...)
		if b, err = appendFloat(b, *m.Probability); err != nil {
			return b, fmt.Errorf("probability: %w", err)
		}
	}
	b = append(b, `,"latency_us":`...)
	b = strconv.AppendInt(b, m.LatencyUS, 10)
	b = append(b, `,"status":`...)
	b = appendString(b, string(m.Status), false)
	if m.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, m.Error, false)
	}
	return append(b, '}'), nil
}

// appendFeatures writes what model.Features.MarshalJSON writes: names
// escaped as json.Marshal does (HTML characters included), values in 'g'
// format.
func appendFeatures(b []byte, f model.Features) ([]byte, error) {
	if len(f.Values) != len(f.Names) {
		return b, fmt.Errorf("features: %d names but %d values", len(f.Names), len(f.Values))
	}
	b = append(b, '{')
	for i, v := range f.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return b, fmt.Errorf("feature %q is %v: %w", f.Names[i], v, ErrUnsupportedValue)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.Names[i], true)
		b = append(b, ':')
		if v == math.Trunc(v) && math.Abs(v) < 1e6 && (v != 0 || !math.Signbit(v)) {
			// What 'g' writes for these, without its shortest-digits search.
			b = strconv.AppendInt(b, int64(v), 10)
		} else if d, ok := appendShortDecimal(b, v); ok {
			b = d
		} else {
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
	}
	return append(b, '}'), nil
}

// field is one input field, for sorting by key.
type field struct {
	key   string
	value any
}

func appendInput(b []byte, in schema.Input) ([]byte, error) {
	var stack [16]field
	fields := stack[:0]
	for k, v := range in {
		fields = append(fields, field{k, v})
	}
	if len(fields) <= insertionMax {
		for i := 1; i < len(fields); i++ {
			for j := i; j > 0 && fields[j].key < fields[j-1].key; j-- {
				fields[j], fields[j-1] = fields[j-1], fields[j]
			}
		}
	} else {
		slices.SortFunc(fields, func(x, y field) int { return strings.Compare(x.key, y.key) })
	}
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.key, false)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, f.value); err != nil {
			return b, fmt.Errorf("field %q: %w", f.key, err)
		}
	}
	return append(b, '}'), nil
}

// insertionMax is the longest slice sortStrings and appendInput sort by
// insertion (map keys: the few names of a record's inputs and models).
const insertionMax = 16

// sortStrings sorts s in increasing order.
func sortStrings(s []string) {
	if len(s) > insertionMax {
		slices.Sort(s)
		return
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// appendValue writes the value types an Input holds directly and hands any
// other to encoding/json.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case float64:
		return appendFloat(b, v)
	case string:
		return appendString(b, v, false), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return b, err
		}
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...), nil
	}
}

// appendFloat writes f as encoding/json does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%v: %w", f, ErrUnsupportedValue)
	}
	abs := math.Abs(f)
	if f == math.Trunc(f) && abs < 1e15 && (f != 0 || !math.Signbit(f)) {
		// What 'f' writes for these, without its shortest-digits search.
		return strconv.AppendInt(b, int64(f), 10), nil
	}
	if d, ok := appendShortDecimal(b, f); ok {
		return d, nil
	}
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// pow10 holds the powers of ten appendShortDecimal tries, exact in float64.
var pow10 = [...]float64{1, 10, 100, 1000}

// appendShortDecimal appends v in plain decimal notation and reports true
// when v is not an integer, 1e-3 <= |v| < 1e6, and v is the float64
// nearest a decimal with at most three fraction digits (1.125, 71.28,
// -0.5): that text is what strconv's shortest 'g' and 'f' formats write,
// found without their digit search. It is the shortest text that reads
// back as v, since the fewest fraction digits are tried first (a decimal
// with k digits reads back as v only if it is round(|v|·10^k)/10^k, and
// m/10^k == |v| in float64 exactly when the decimal reads back as v), and
// the only one of its length, since below 1e6 an ulp is far finer than
// 10^-3.
func appendShortDecimal(b []byte, v float64) ([]byte, bool) {
	a := math.Abs(v)
	if !(a >= 1e-3 && a < 1e6) || a == math.Trunc(a) {
		return b, false
	}
	for k := 1; k < len(pow10); k++ {
		m := math.Round(a * pow10[k])
		if m/pow10[k] != a {
			continue
		}
		if v < 0 {
			b = append(b, '-')
		}
		n, p := int64(m), int64(pow10[k])
		b = strconv.AppendInt(b, n/p, 10)
		b = append(b, '.')
		frac := n % p // not 0: a is not an integer (or k-1 digits would have done)
		for q := p / 10; q > 1 && frac < q; q /= 10 {
			b = append(b, '0') // leading zeros of the k fraction digits
		}
		return strconv.AppendInt(b, frac, 10), true
	}
	return b, false
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("received_at year %d: %w", y, ErrUnsupportedValue)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, exactly as a json.Encoder with
// SetEscapeHTML(false) writes it.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s, false) }

// plain[c] (plainHTML[c] when escaping HTML) says the ASCII byte c stands
// for itself inside a JSON string; bytes from utf8.RuneSelf up are false.
var plain, plainHTML = func() (p, h [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		p[c] = c != '"' && c != '\\'
		h[c] = p[c] && c != '<' && c != '>' && c != '&'
	}
	return p, h
}()

// appendString writes s as a JSON string exactly as encoding/json does.
func appendString(b []byte, s string, escapeHTML bool) []byte {
	safe := &plain
	if escapeHTML {
		safe = &plainHTML
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendModelResult appends the JSON of one model result, as it appears
// under "models" in a record document (encoding/json decodes it into a
// record.ModelResult). Replay results are stored with it.
func AppendModelResult(dst []byte, m *record.ModelResult) ([]byte, error) {
	return appendModel(dst, m)
}
