package mongo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// Field names of a stored record document. The layout is the record's JSON
// shape ("_id" first, models as keys) plus received_us.
const (
	fID         = "_id"
	fReceivedAt = "received_at" // BSON date (milliseconds): for people and mongosh
	fReceivedUS = "received_us" // int64 microseconds since the Unix epoch: what the store scans and sorts on
	fEndpoint   = "endpoint"
	fEntityID   = "entity_id"
	fInput      = "input"
	fRaw        = "raw"
	fRawBytes   = "raw_bytes"
	fRawSHA256  = "raw_sha256"
	fStatus     = "status"
	fProblems   = "problems"
	fModels     = "models"
	fDecision   = "decision"

	// Feedback documents: _id is the feedback's ID (a string) or, for a row
	// without one, an ObjectID; seq orders rows written at the same
	// received_us.
	fRequestID = "request_id"
	fLabel     = "label"
	fSeq       = "seq"
)

// errDecode is wrapped by every error about a stored document that does not
// have the shape this package writes.
var errDecode = errors.New("malformed document")

// encodeRecord appends rec as one BSON document to dst.
//
// Strings are written as valid UTF-8 (invalid bytes become U+FFFD). Keys that
// come from data (input fields, model and feature names) are escaped with
// escapeKey. Non-finite floats, which FerretDB refuses (NaN even drops the
// connection), are written as the strings "NaN", "Infinity", "-Infinity".
func encodeRecord(dst []byte, rec *record.Record) ([]byte, error) {
	at := record.Timestamp(rec.ReceivedAt)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendStringElement(dst, fID, validUTF8(rec.ID))
	dst = bsoncore.AppendDateTimeElement(dst, fReceivedAt, at.UnixMilli())
	dst = bsoncore.AppendInt64Element(dst, fReceivedUS, at.UnixMicro())
	dst = bsoncore.AppendStringElement(dst, fEndpoint, validUTF8(rec.Endpoint))
	if rec.EntityID != "" {
		dst = bsoncore.AppendStringElement(dst, fEntityID, validUTF8(rec.EntityID))
	}
	if len(rec.Input) > 0 {
		var err error
		if dst, err = appendInput(dst, rec.Input); err != nil {
			return nil, err
		}
	}
	if rec.Raw != "" {
		dst = bsoncore.AppendStringElement(dst, fRaw, validUTF8(rec.Raw))
	}
	if rec.RawBytes != 0 {
		dst = bsoncore.AppendInt64Element(dst, fRawBytes, rec.RawBytes)
	}
	if rec.RawSHA256 != "" {
		dst = bsoncore.AppendStringElement(dst, fRawSHA256, rec.RawSHA256)
	}
	dst = bsoncore.AppendStringElement(dst, fStatus, validUTF8(rec.Status))
	if len(rec.Problems) > 0 {
		var aidx int32
		aidx, dst = bsoncore.AppendArrayElementStart(dst, fProblems)
		for i, p := range rec.Problems {
			var pidx int32
			pidx, dst = bsoncore.AppendDocumentElementStart(dst, strconv.Itoa(i))
			dst = bsoncore.AppendStringElement(dst, "field", validUTF8(p.Field))
			dst = bsoncore.AppendStringElement(dst, "problem", validUTF8(p.Problem))
			dst, _ = bsoncore.AppendDocumentEnd(dst, pidx)
		}
		dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	}
	if len(rec.Models) > 0 {
		names := make([]string, 0, len(rec.Models))
		for name := range rec.Models {
			names = append(names, name)
		}
		slices.Sort(names)
		var midx int32
		midx, dst = bsoncore.AppendDocumentElementStart(dst, fModels)
		for _, name := range names {
			var err error
			if dst, err = appendModel(dst, name, rec.Models[name]); err != nil {
				return nil, err
			}
		}
		dst, _ = bsoncore.AppendDocumentEnd(dst, midx)
	}
	if d := rec.Decision; d != nil {
		var didx int32
		didx, dst = bsoncore.AppendDocumentElementStart(dst, fDecision)
		if d.ServedBy != "" {
			dst = bsoncore.AppendStringElement(dst, "served_by", validUTF8(d.ServedBy))
		}
		dst = bsoncore.AppendStringElement(dst, "reason", validUTF8(d.Reason))
		dst = appendInt64(dst, "deadline_ms", d.DeadlineMS)
		dst = appendInt64(dst, "latency_us", d.LatencyUS)
		if d.Deployment != 0 {
			dst = appendInt64(dst, "deployment", d.Deployment)
		}
		dst, _ = bsoncore.AppendDocumentEnd(dst, didx)
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendInput appends the input object, keys sorted so equal inputs give
// equal documents.
func appendInput(dst []byte, in schema.Input) ([]byte, error) {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	idx, dst := bsoncore.AppendDocumentElementStart(dst, fInput)
	for _, k := range keys {
		var err error
		if dst, err = appendAny(dst, escapeKey(k), in[k]); err != nil {
			return nil, fmt.Errorf("input field %q: %w", k, err)
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendAny appends one input value. The validated Input holds float64,
// string, bool and nil; integers, nested objects and arrays are accepted too
// so a record never fails to store because of its input.
func appendAny(dst []byte, key string, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return bsoncore.AppendNullElement(dst, key), nil
	case float64:
		return appendFloat(dst, key, v), nil
	case float32:
		return appendFloat(dst, key, float64(v)), nil
	case string:
		return bsoncore.AppendStringElement(dst, key, validUTF8(v)), nil
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, v), nil
	case int:
		return bsoncore.AppendInt64Element(dst, key, int64(v)), nil
	case int32:
		return bsoncore.AppendInt32Element(dst, key, v), nil
	case int64:
		return bsoncore.AppendInt64Element(dst, key, v), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
		for _, k := range keys {
			var err error
			if dst, err = appendAny(dst, escapeKey(k), v[k]); err != nil {
				return nil, err
			}
		}
		return bsoncore.AppendDocumentEnd(dst, idx)
	case []any:
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		for i, e := range v {
			var err error
			if dst, err = appendAny(dst, strconv.Itoa(i), e); err != nil {
				return nil, err
			}
		}
		return bsoncore.AppendArrayEnd(dst, idx)
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}

// appendModel appends one model's result under its (escaped) name.
func appendModel(dst []byte, name string, m record.ModelResult) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, escapeKey(name))
	dst = bsoncore.AppendStringElement(dst, "role", validUTF8(string(m.Role)))
	if m.Version != "" {
		dst = bsoncore.AppendStringElement(dst, "version", validUTF8(m.Version))
	}
	if m.Artifact != "" {
		dst = bsoncore.AppendStringElement(dst, "artifact", validUTF8(m.Artifact))
	}
	if len(m.Features.Names) > 0 || len(m.Features.Values) > 0 {
		if len(m.Features.Names) != len(m.Features.Values) {
			return nil, fmt.Errorf("model %q: features: %d names but %d values", name, len(m.Features.Names), len(m.Features.Values))
		}
		var fidx int32
		fidx, dst = bsoncore.AppendDocumentElementStart(dst, "features")
		for i, v := range m.Features.Values {
			dst = appendFloat(dst, escapeKey(m.Features.Names[i]), v)
		}
		dst, _ = bsoncore.AppendDocumentEnd(dst, fidx)
	}
	if m.Prediction != nil {
		dst = appendInt(dst, "prediction", *m.Prediction)
	}
	if m.Label != "" {
		dst = bsoncore.AppendStringElement(dst, "label", validUTF8(m.Label))
	}
	if m.Probability != nil {
		dst = appendFloat(dst, "probability", *m.Probability)
	}
	dst = appendInt64(dst, "latency_us", m.LatencyUS)
	dst = bsoncore.AppendStringElement(dst, "status", validUTF8(string(m.Status)))
	if m.Error != "" {
		dst = bsoncore.AppendStringElement(dst, "error", validUTF8(m.Error))
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// encodeFeedback appends one feedback document: _id is fb.ID when it has
// one (so a second insert of the row is a duplicate key), else id.
func encodeFeedback(dst []byte, id [12]byte, seq int64, fb *record.Feedback) []byte {
	at := record.Timestamp(fb.ReceivedAt)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	if fb.ID != "" {
		dst = bsoncore.AppendStringElement(dst, fID, validUTF8(fb.ID))
	} else {
		dst = bsoncore.AppendObjectIDElement(dst, fID, id)
	}
	dst = bsoncore.AppendStringElement(dst, fRequestID, validUTF8(fb.RequestID))
	if fb.EntityID != "" {
		dst = bsoncore.AppendStringElement(dst, fEntityID, validUTF8(fb.EntityID))
	}
	dst = appendInt(dst, fLabel, fb.Label)
	dst = bsoncore.AppendDateTimeElement(dst, fReceivedAt, at.UnixMilli())
	dst = bsoncore.AppendInt64Element(dst, fReceivedUS, at.UnixMicro())
	dst = bsoncore.AppendInt64Element(dst, fSeq, seq)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// appendInt writes an int as int32 when it fits (mongosh shows a plain
// number rather than Long('…')), int64 otherwise.
func appendInt(dst []byte, key string, v int) []byte {
	return appendInt64(dst, key, int64(v))
}

// appendInt64 is appendInt for int64. Readers accept either width.
func appendInt64(dst []byte, key string, v int64) []byte {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		return bsoncore.AppendInt32Element(dst, key, int32(v))
	}
	return bsoncore.AppendInt64Element(dst, key, v)
}

// Spellings of the non-finite floats, as JavaScript's Number() parses them.
const (
	nanString    = "NaN"
	posInfString = "Infinity"
	negInfString = "-Infinity"
)

func appendFloat(dst []byte, key string, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return bsoncore.AppendStringElement(dst, key, nanString)
	case math.IsInf(v, 1):
		return bsoncore.AppendStringElement(dst, key, posInfString)
	case math.IsInf(v, -1):
		return bsoncore.AppendStringElement(dst, key, negInfString)
	}
	return bsoncore.AppendDoubleElement(dst, key, v)
}

// validUTF8 replaces each run of invalid UTF-8 bytes with U+FFFD; valid
// strings are returned as they are, without copying.
func validUTF8(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// escapeKey makes a name from the data usable as a BSON key on every server:
// a BSON key cannot hold U+0000, and FerretDB refuses keys that contain "." or
// start with "$". Those bytes, and "%" itself, are percent-escaped ("." is
// "%2E"); every other name is stored as it is. unescapeKey reverses it.
func escapeKey(k string) string {
	k = validUTF8(k)
	if !strings.ContainsAny(k, "%.\x00") && !strings.HasPrefix(k, "$") {
		return k
	}
	var b strings.Builder
	b.Grow(len(k) + 8)
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '%':
			b.WriteString("%25")
		case c == '.':
			b.WriteString("%2E")
		case c == 0:
			b.WriteString("%00")
		case c == '$' && i == 0:
			b.WriteString("%24")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeKey reverses escapeKey. A "%" not followed by one of the four
// escapes is kept as it is (a key written by someone else).
func unescapeKey(k string) string {
	if !strings.Contains(k, "%") {
		return k
	}
	var b strings.Builder
	b.Grow(len(k))
	for i := 0; i < len(k); i++ {
		if k[i] == '%' && i+2 < len(k) {
			var c byte
			switch k[i+1 : i+3] {
			case "25":
				c = '%'
			case "2E", "2e":
				c = '.'
			case "00":
				c = 0
			case "24":
				c = '$'
			default:
				b.WriteByte('%')
				continue
			}
			b.WriteByte(c)
			i += 2
			continue
		}
		b.WriteByte(k[i])
	}
	return b.String()
}

// decodeRecord decodes a document written by encodeRecord into rec, which
// must be the zero Record. Unknown fields are ignored.
func decodeRecord(doc bsoncore.Document, rec *record.Record) error {
	var (
		haveUS bool
		atMS   int64
		haveMS bool
	)
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		var err error
		switch string(key) {
		case fID:
			rec.ID, err = str(v)
		case fReceivedUS:
			var us int64
			if us, err = integer(v); err == nil {
				rec.ReceivedAt = time.UnixMicro(us).UTC()
				haveUS = true
			}
		case fReceivedAt:
			atMS, haveMS = v.DateTimeOK()
		case fEndpoint:
			rec.Endpoint, err = str(v)
		case fEntityID:
			rec.EntityID, err = str(v)
		case fInput:
			rec.Input, err = decodeInput(v)
		case fRaw:
			rec.Raw, err = str(v)
		case fRawBytes:
			rec.RawBytes, err = integer(v)
		case fRawSHA256:
			rec.RawSHA256, err = str(v)
		case fStatus:
			rec.Status, err = str(v)
		case fProblems:
			rec.Problems, err = decodeProblems(v)
		case fModels:
			rec.Models, err = decodeModels(v)
		case fDecision:
			rec.Decision, err = decodeDecision(v)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("decode record %q: %w", rec.ID, err)
	}
	if !haveUS {
		if !haveMS {
			return fmt.Errorf("decode record %q: %w: no %s or %s", rec.ID, errDecode, fReceivedUS, fReceivedAt)
		}
		rec.ReceivedAt = time.UnixMilli(atMS).UTC()
	}
	return nil
}

func decodeInput(v bsoncore.Value) (schema.Input, error) {
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, wrongType("an object", v)
	}
	in := schema.Input{}
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		val, err := decodeAny(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		in[unescapeKey(string(key))] = val
		return nil
	})
	if len(in) == 0 {
		in = nil
	}
	return in, err
}

// decodeAny reverses appendAny: numbers come back as float64 (the Input
// contract), objects as map[string]any and arrays as []any.
func decodeAny(v bsoncore.Value) (any, error) {
	switch v.Type {
	case bsoncore.TypeNull, bsoncore.TypeUndefined:
		return nil, nil
	case bsoncore.TypeDouble, bsoncore.TypeInt32, bsoncore.TypeInt64:
		return v.AsFloat64(), nil
	case bsoncore.TypeString:
		return v.StringValue(), nil
	case bsoncore.TypeBoolean:
		return v.Boolean(), nil
	case bsoncore.TypeEmbeddedDocument:
		m := map[string]any{}
		err := eachElement(v.Document(), func(key []byte, v bsoncore.Value) error {
			val, err := decodeAny(v)
			m[unescapeKey(string(key))] = val
			return err
		})
		return m, err
	case bsoncore.TypeArray:
		var out []any
		vals, err := v.Array().Values()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errDecode, err)
		}
		for _, e := range vals {
			val, err := decodeAny(e)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	}
	return nil, wrongType("a number, string, boolean, null, object or array", v)
}

func decodeProblems(v bsoncore.Value) ([]schema.FieldError, error) {
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, wrongType("an array", v)
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDecode, err)
	}
	out := make([]schema.FieldError, 0, len(vals))
	for i, e := range vals {
		doc, ok := e.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("%d: %w", i, wrongType("an object", e))
		}
		var fe schema.FieldError
		err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
			var err error
			switch string(key) {
			case "field":
				fe.Field, err = str(v)
			case "problem":
				fe.Problem, err = str(v)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%d: %w", i, err)
		}
		out = append(out, fe)
	}
	if len(out) == 0 {
		out = nil
	}
	return out, nil
}

func decodeModels(v bsoncore.Value) (map[string]record.ModelResult, error) {
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, wrongType("an object", v)
	}
	models := map[string]record.ModelResult{}
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		m, err := decodeModel(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		models[unescapeKey(string(key))] = m
		return nil
	})
	if len(models) == 0 {
		models = nil
	}
	return models, err
}

func decodeModel(v bsoncore.Value) (record.ModelResult, error) {
	var m record.ModelResult
	doc, ok := v.DocumentOK()
	if !ok {
		return m, wrongType("an object", v)
	}
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		var err error
		switch string(key) {
		case "role":
			var s string
			s, err = str(v)
			m.Role = model.Role(s)
		case "version":
			m.Version, err = str(v)
		case "artifact":
			m.Artifact, err = str(v)
		case "features":
			m.Features, err = decodeFeatures(v)
		case "prediction":
			if v.Type == bsoncore.TypeNull {
				return nil
			}
			var p int64
			if p, err = integer(v); err == nil {
				m.Prediction = new(int(p))
			}
		case "label":
			m.Label, err = str(v)
		case "probability":
			if v.Type == bsoncore.TypeNull {
				return nil
			}
			var p float64
			if p, err = float(v); err == nil {
				m.Probability = &p
			}
		case "latency_us":
			m.LatencyUS, err = integer(v)
		case "status":
			var s string
			s, err = str(v)
			m.Status = record.Status(s)
		case "error":
			m.Error, err = str(v)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	return m, err
}

// decodeFeatures keeps the stored key order. An empty object decodes to the
// zero Features, as the JSON encoding does.
func decodeFeatures(v bsoncore.Value) (model.Features, error) {
	var f model.Features
	doc, ok := v.DocumentOK()
	if !ok {
		return f, wrongType("an object", v)
	}
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		x, err := float(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		f.Names = append(f.Names, unescapeKey(string(key)))
		f.Values = append(f.Values, x)
		return nil
	})
	return f, err
}

func decodeDecision(v bsoncore.Value) (*record.Decision, error) {
	if v.Type == bsoncore.TypeNull {
		return nil, nil
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, wrongType("an object", v)
	}
	d := &record.Decision{}
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		var err error
		switch string(key) {
		case "served_by":
			d.ServedBy, err = str(v)
		case "reason":
			d.Reason, err = str(v)
		case "deadline_ms":
			d.DeadlineMS, err = integer(v)
		case "latency_us":
			d.LatencyUS, err = integer(v)
		case "deployment":
			d.Deployment, err = integer(v)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	return d, err
}

// decodeFeedback decodes a document written by encodeFeedback.
func decodeFeedback(doc bsoncore.Document) (record.Feedback, error) {
	var (
		fb             record.Feedback
		haveUS, haveMS bool
		atMS           int64
	)
	err := eachElement(doc, func(key []byte, v bsoncore.Value) error {
		var err error
		switch string(key) {
		case fID:
			if s, ok := v.StringValueOK(); ok {
				fb.ID = s
			}
		case fRequestID:
			fb.RequestID, err = str(v)
		case fEntityID:
			fb.EntityID, err = str(v)
		case fLabel:
			var l int64
			l, err = integer(v)
			fb.Label = int(l)
		case fReceivedUS:
			var us int64
			if us, err = integer(v); err == nil {
				fb.ReceivedAt = time.UnixMicro(us).UTC()
				haveUS = true
			}
		case fReceivedAt:
			atMS, haveMS = v.DateTimeOK()
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return fb, fmt.Errorf("decode feedback for request %q: %w", fb.RequestID, err)
	}
	if !haveUS {
		if !haveMS {
			return fb, fmt.Errorf("decode feedback for request %q: %w: no %s or %s", fb.RequestID, errDecode, fReceivedUS, fReceivedAt)
		}
		fb.ReceivedAt = time.UnixMilli(atMS).UTC()
	}
	return fb, nil
}

// eachElement calls fn for each element of doc in stored order.
func eachElement(doc bsoncore.Document, fn func(key []byte, v bsoncore.Value) error) error {
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok || int(length) > len(doc) || length < 5 {
		return fmt.Errorf("%w: bad document length", errDecode)
	}
	rem = rem[:length-5] // drop the length prefix and the trailing NUL
	for len(rem) > 0 {
		elem, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return fmt.Errorf("%w: truncated element", errDecode)
		}
		key, err := elem.KeyBytesErr()
		if err != nil {
			return fmt.Errorf("%w: %w", errDecode, err)
		}
		val, err := elem.ValueErr()
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errDecode, key, err)
		}
		if err := fn(key, val); err != nil {
			return err
		}
		rem = next
	}
	return nil
}

func str(v bsoncore.Value) (string, error) {
	switch v.Type {
	case bsoncore.TypeString:
		return v.StringValue(), nil
	case bsoncore.TypeNull:
		return "", nil
	}
	return "", wrongType("a string", v)
}

func integer(v bsoncore.Value) (int64, error) {
	switch v.Type {
	case bsoncore.TypeInt32, bsoncore.TypeInt64:
		return v.AsInt64(), nil
	case bsoncore.TypeDouble:
		f := v.Double()
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f), nil
		}
	}
	return 0, wrongType("an integer", v)
}

func float(v bsoncore.Value) (float64, error) {
	switch v.Type {
	case bsoncore.TypeDouble, bsoncore.TypeInt32, bsoncore.TypeInt64:
		return v.AsFloat64(), nil
	case bsoncore.TypeString:
		switch v.StringValue() {
		case nanString:
			return math.NaN(), nil
		case posInfString:
			return math.Inf(1), nil
		case negInfString:
			return math.Inf(-1), nil
		}
	}
	return 0, wrongType("a number", v)
}

func wrongType(want string, v bsoncore.Value) error {
	return fmt.Errorf("%w: want %s, got BSON %s", errDecode, want, v.Type)
}
