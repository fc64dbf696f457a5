package docjson

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// DecodeRecord decodes a stored JSON document into rec, replacing all of
// rec. The result (and any error) is exactly what json.Unmarshal into a
// zero record.Record gives: a hand-written parser handles documents of the
// expected shape — in any key order and spacing, as jsonb returns them —
// several times faster, and hands anything else (unknown or repeated keys,
// nulls where a value is expected, malformed JSON) to encoding/json.
func DecodeRecord(data []byte, rec *record.Record) error {
	return decode(data, rec, nil)
}

// Decoder decodes many documents in a row (a scan) like DecodeRecord, and
// shares what repeats between them: object keys are interned, and a model's
// feature names, when they are the same as in the previous document, are the
// same []string (Features.Names is read-only by contract). The zero value is
// ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	keys  map[string]string   // interned object keys
	names map[string][]string // model name → its last feature names
}

// maxInterned bounds the interned keys (input keys come from clients).
const maxInterned = 4096

// Decode decodes data into rec, replacing all of rec, exactly as
// DecodeRecord does.
func (c *Decoder) Decode(data []byte, rec *record.Record) error {
	if c.keys == nil {
		c.keys, c.names = map[string]string{}, map[string][]string{}
	}
	return decode(data, rec, c)
}

func decode(data []byte, rec *record.Record, c *Decoder) error {
	*rec = record.Record{}
	d := decoder{b: data, c: c}
	if d.record(rec) {
		return nil
	}
	*rec = record.Record{}
	return json.Unmarshal(data, rec)
}

// decoder is a cursor over JSON text. Its methods return false when the
// text is not of the shape they expect; the caller then falls back to
// encoding/json, which decides what it means.
type decoder struct {
	b []byte
	i int
	c *Decoder // nil: nothing shared
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte (0 at the end).
func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) consume(c byte) bool {
	if d.peek() != c {
		return false
	}
	d.i++
	return true
}

func (d *decoder) literal(lit string) bool {
	d.ws()
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return false
	}
	d.i += len(lit)
	return true
}

// null consumes a null literal if one is next.
func (d *decoder) null() bool {
	if d.peek() == 'n' {
		return d.literal("null")
	}
	return false
}

// stringToken returns the next string token including its quotes, and
// whether it holds no escape and only valid UTF-8 (so its content can be
// used as is).
func (d *decoder) stringToken() (tok []byte, plain, ok bool) {
	if d.peek() != '"' {
		return nil, false, false
	}
	start := d.i
	d.i++
	plain = true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			tok = d.b[start:d.i]
			if plain && !utf8.Valid(tok) {
				plain = false
			}
			return tok, plain, true
		case c == '\\':
			plain = false
			d.i += 2
		case c < 0x20:
			return nil, false, false
		default:
			d.i++
		}
	}
	return nil, false, false
}

func (d *decoder) str() (string, bool) {
	tok, plain, ok := d.stringToken()
	if !ok {
		return "", false
	}
	return unquote(tok, plain)
}

func unquote(tok []byte, plain bool) (string, bool) {
	if plain {
		return string(tok[1 : len(tok)-1]), true
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", false
	}
	return s, true
}

// key decodes an object key, interned when the decoder shares state.
func (d *decoder) key() (string, bool) {
	tok, plain, ok := d.stringToken()
	if !ok {
		return "", false
	}
	if d.c == nil || !plain {
		return unquote(tok, plain)
	}
	raw := tok[1 : len(tok)-1]
	if s, ok := d.c.keys[string(raw)]; ok {
		return s, true
	}
	s := string(raw)
	if len(d.c.keys) < maxInterned {
		d.c.keys[s] = s
	}
	return s, true
}

// numberToken returns the next number token if it follows the JSON grammar.
func (d *decoder) numberToken() ([]byte, bool) {
	d.ws()
	start, b := d.i, d.b
	i := d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], true
}

func (d *decoder) float() (float64, bool) {
	tok, ok := d.numberToken()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	return f, err == nil
}

func (d *decoder) int() (int64, bool) {
	tok, ok := d.numberToken()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(tok), 10, 64)
	return n, err == nil
}

// object calls field for each key of the next object, with the decoder
// before the key's value; field reports whether it consumed the value.
func (d *decoder) object(field func(key string) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		key, ok := d.key()
		if !ok || !d.consume(':') || !field(key) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// value decodes any JSON value as encoding/json does into an interface{}.
func (d *decoder) value(depth int) (any, bool) {
	if depth > 100 {
		return nil, false
	}
	switch d.peek() {
	case '"':
		return d.str()
	case 'n':
		return nil, d.literal("null")
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case '{':
		m := map[string]any{}
		ok := d.object(func(k string) bool {
			v, ok := d.value(depth + 1)
			m[k] = v
			return ok
		})
		return m, ok
	case '[':
		d.i++
		a := []any{}
		if d.consume(']') {
			return a, true
		}
		for {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			if d.consume(',') {
				continue
			}
			return a, d.consume(']')
		}
	default:
		return d.float()
	}
}

// seen tracks the keys of one object so that a repeated key (which
// encoding/json merges) sends the document to the fallback.
type seen uint32

func (s *seen) first(bit uint) bool {
	if *s&(1<<bit) != 0 {
		return false
	}
	*s |= 1 << bit
	return true
}

func (d *decoder) record(rec *record.Record) bool {
	var keys seen
	ok := d.object(func(k string) bool {
		switch k {
		case "_id":
			return keys.first(0) && d.strInto(&rec.ID)
		case "received_at":
			if !keys.first(1) {
				return false
			}
			tok, _, ok := d.stringToken()
			return ok && rec.ReceivedAt.UnmarshalJSON(tok) == nil
		case "endpoint":
			return keys.first(2) && d.strInto(&rec.Endpoint)
		case "entity_id":
			return keys.first(3) && d.strInto(&rec.EntityID)
		case "input":
			if !keys.first(4) || d.peek() != '{' {
				return false
			}
			in := schema.Input{}
			rec.Input = in
			return d.object(func(k string) bool {
				v, ok := d.value(0)
				in[k] = v
				return ok
			})
		case "raw":
			return keys.first(5) && d.strInto(&rec.Raw)
		case "raw_bytes":
			n, ok := d.int()
			rec.RawBytes = n
			return keys.first(10) && ok
		case "raw_sha256":
			return keys.first(11) && d.strInto(&rec.RawSHA256)
		case "status":
			return keys.first(6) && d.strInto(&rec.Status)
		case "problems":
			return keys.first(7) && d.problems(rec)
		case "models":
			return keys.first(8) && d.models(rec)
		case "decision":
			if !keys.first(9) {
				return false
			}
			if d.null() {
				return true
			}
			rec.Decision = &record.Decision{}
			return d.decision(rec.Decision)
		}
		return false
	})
	return ok && d.peek() == 0 && d.i == len(d.b)
}

func (d *decoder) strInto(dst *string) bool {
	s, ok := d.str()
	*dst = s
	return ok
}

func (d *decoder) problems(rec *record.Record) bool {
	if !d.consume('[') {
		return false
	}
	rec.Problems = []schema.FieldError{}
	if d.consume(']') {
		return true
	}
	for {
		var p schema.FieldError
		var keys seen
		ok := d.object(func(k string) bool {
			switch k {
			case "field":
				return keys.first(0) && d.strInto(&p.Field)
			case "problem":
				return keys.first(1) && d.strInto(&p.Problem)
			}
			return false
		})
		if !ok {
			return false
		}
		rec.Problems = append(rec.Problems, p)
		if d.consume(',') {
			continue
		}
		return d.consume(']')
	}
}

func (d *decoder) models(rec *record.Record) bool {
	if d.peek() != '{' {
		return false
	}
	rec.Models = map[string]record.ModelResult{}
	return d.object(func(name string) bool {
		if _, dup := rec.Models[name]; dup {
			return false
		}
		var m record.ModelResult
		if !d.model(&m, name) {
			return false
		}
		rec.Models[name] = m
		return true
	})
}

func (d *decoder) model(m *record.ModelResult, name string) bool {
	var keys seen
	return d.object(func(k string) bool {
		switch k {
		case "role":
			var s string
			ok := keys.first(0) && d.strInto(&s)
			m.Role = model.Role(s)
			return ok
		case "version":
			return keys.first(1) && d.strInto(&m.Version)
		case "artifact":
			return keys.first(2) && d.strInto(&m.Artifact)
		case "features":
			return keys.first(3) && d.features(&m.Features, name)
		case "prediction":
			if !keys.first(4) {
				return false
			}
			if d.null() {
				return true
			}
			n, ok := d.int()
			if !ok || int64(int(n)) != n {
				return false
			}
			p := int(n)
			m.Prediction = &p
			return true
		case "label":
			return keys.first(5) && d.strInto(&m.Label)
		case "probability":
			if !keys.first(6) {
				return false
			}
			if d.null() {
				return true
			}
			f, ok := d.float()
			m.Probability = &f
			return ok
		case "latency_us":
			n, ok := d.int()
			m.LatencyUS = n
			return keys.first(7) && ok
		case "status":
			var s string
			ok := keys.first(8) && d.strInto(&s)
			m.Status = record.Status(s)
			return ok
		case "error":
			return keys.first(9) && d.strInto(&m.Error)
		}
		return false
	})
}

// features decodes what model.Features.UnmarshalJSON accepts: an object of
// numbers in order (null: empty features). With shared state, names equal
// to the model's previous ones are that same slice.
func (d *decoder) features(f *model.Features, modelName string) bool {
	if d.null() {
		return true
	}
	if !d.consume('{') {
		return false
	}
	var cached []string
	if d.c != nil {
		cached = d.c.names[modelName]
	}
	var names []string // nil while every name so far equals cached's
	vals := make([]float64, 0, max(len(cached), 4))
	n := 0
	if !d.consume('}') {
		for {
			tok, plain, ok := d.stringToken()
			if !ok {
				return false
			}
			if names == nil && n < len(cached) && plain && string(tok[1:len(tok)-1]) == cached[n] {
				// same name as last time: nothing to allocate
			} else {
				name, ok := unquote(tok, plain)
				if !ok {
					return false
				}
				if names == nil {
					names = make([]string, n, max(n+1, len(cached)))
					copy(names, cached[:n])
				}
				names = append(names, name)
			}
			if !d.consume(':') {
				return false
			}
			v, ok := d.float()
			if !ok {
				return false
			}
			vals = append(vals, v)
			n++
			if d.consume(',') {
				continue
			}
			if !d.consume('}') {
				return false
			}
			break
		}
	}
	switch {
	case n == 0: // {} leaves Features empty, as UnmarshalJSON does
		return true
	case names == nil && n == len(cached):
		f.Names = cached
	case names == nil:
		f.Names = cached[:n:n]
	default:
		f.Names = names
		if d.c != nil && len(d.c.names) < maxInterned {
			d.c.names[modelName] = names
		}
	}
	f.Values = vals
	return true
}

func (d *decoder) decision(dec *record.Decision) bool {
	var keys seen
	return d.object(func(k string) bool {
		switch k {
		case "served_by":
			return keys.first(0) && d.strInto(&dec.ServedBy)
		case "reason":
			return keys.first(1) && d.strInto(&dec.Reason)
		case "deadline_ms":
			n, ok := d.int()
			dec.DeadlineMS = n
			return keys.first(2) && ok
		case "latency_us":
			n, ok := d.int()
			dec.LatencyUS = n
			return keys.first(3) && ok
		case "deployment":
			n, ok := d.int()
			dec.Deployment = n
			return keys.first(4) && ok
		}
		return false
	})
}

// DecodeModelResult decodes one model result as AppendModelResult writes
// it (as under "models" in a record), replacing all of m, with the fast
// parser and encoding/json as the fallback. modelName keys the shared
// feature names of c (nil: nothing shared).
func (c *Decoder) DecodeModelResult(data []byte, m *record.ModelResult, modelName string) error {
	if c.keys == nil {
		c.keys, c.names = map[string]string{}, map[string][]string{}
	}
	*m = record.ModelResult{}
	d := decoder{b: data, c: c}
	if d.model(m, modelName) {
		d.ws()
		if d.i == len(d.b) {
			return nil
		}
	}
	*m = record.ModelResult{}
	return json.Unmarshal(data, m)
}
