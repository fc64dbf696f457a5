package schema

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Options configures a Validator.
type Options struct {
	Fields []Field
	// AllowUnknown accepts (and drops) fields the schema does not declare;
	// by default they are rejected with "unknown field".
	AllowUnknown bool
	// MaxStringBytes caps the length in bytes of every string field's value
	// that does not set its own MaxBytes (0: DefaultMaxStringBytes;
	// negative: no limit).
	MaxStringBytes int
}

// Default limits on received strings.
const (
	DefaultMaxStringBytes   = 1024
	DefaultMaxEntityIDBytes = 256
)

// Validator turns raw decoded objects into Inputs. It is immutable after New
// and safe for concurrent use.
type Validator struct {
	fields       []Field
	index        map[string]int
	allowUnknown bool
	maxString    int // < 0: none
}

// ErrInvalidSchema is wrapped by New when a field declaration is invalid.
var ErrInvalidSchema = errors.New("invalid schema")

// New builds a Validator. It returns an error wrapping ErrInvalidSchema that
// lists every problem when a declaration is invalid or a name is repeated.
func New(opts Options) (*Validator, error) {
	v := &Validator{
		fields:       slices.Clone(opts.Fields),
		index:        make(map[string]int, len(opts.Fields)),
		allowUnknown: opts.AllowUnknown,
		maxString:    opts.MaxStringBytes,
	}
	if v.maxString == 0 {
		v.maxString = DefaultMaxStringBytes
	}
	var problems []string
	if len(v.fields) == 0 {
		problems = append(problems, "fields: at least one field is required")
	}
	for i, f := range v.fields {
		for _, p := range f.Problems() {
			problems = append(problems, fmt.Sprintf("fields[%d].%s: %s", i, p.Field, p.Problem))
		}
		if j, dup := v.index[f.Name]; dup && f.Name != "" {
			problems = append(problems, fmt.Sprintf("fields[%d].name: %q already declared by fields[%d]", i, f.Name, j))
			continue
		}
		v.index[f.Name] = i
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSchema, strings.Join(problems, "; "))
	}
	return v, nil
}

// Fields returns a copy of the declared fields in declaration order.
func (v *Validator) Fields() []Field { return slices.Clone(v.fields) }

// Field returns the declaration of the named field.
func (v *Validator) Field(name string) (Field, bool) {
	i, ok := v.index[name]
	if !ok {
		return Field{}, false
	}
	return v.fields[i], true
}

// AllowsUnknown reports whether undeclared fields are accepted (and dropped).
func (v *Validator) AllowsUnknown() bool { return v.allowUnknown }

// Validate checks raw (a decoded JSON object; numbers may be json.Number,
// float64 or int) against the schema and returns the Input and every problem,
// in declaration order then unknown fields by name. prefix is prepended to
// field paths ("instances[3]." gives "instances[3].age"). The Input is nil
// when there are problems.
//
// Rules: an absent or null field takes its default, else is "required" or
// nil; a configured sentinel becomes nil; integers must be integral; values
// must be in Allowed and within [Min, Max]; strings not in Allowed must be
// at most MaxBytes (or Options.MaxStringBytes) long; undeclared fields are rejected
// unless AllowUnknown.
func (v *Validator) Validate(raw map[string]any, prefix string) (Input, []FieldError) {
	in := make(Input, len(v.fields))
	var errs []FieldError
	for _, f := range v.fields {
		rv, present := raw[f.Name]
		if !present || rv == nil {
			switch {
			case f.Default != nil:
				d, _ := f.convert(f.Default) // checked by New
				if f.isMissing(d) {
					d = nil
				}
				in[f.Name] = d
			case f.Required:
				errs = append(errs, FieldError{Field: prefix + f.Name, Problem: "required"})
			default:
				in[f.Name] = nil
			}
			continue
		}
		cv, p := f.Check(rv)
		if s, ok := cv.(string); ok && p == "" && len(f.Allowed) == 0 {
			p = checkLength(s, cmp.Or(f.MaxBytes, v.maxString))
		}
		if p != "" {
			errs = append(errs, FieldError{Field: prefix + f.Name, Problem: p})
			continue
		}
		in[f.Name] = cv
	}
	if !v.allowUnknown {
		var unknown []string
		for k := range raw {
			if _, ok := v.index[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			errs = append(errs, FieldError{Field: prefix + k, Problem: "unknown field"})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// ValidateJSON decodes data as one JSON object (numbers kept exact with
// UseNumber) and validates it. A body that is not a JSON object is reported
// as a single problem on prefix-less field "body".
func (v *Validator) ValidateJSON(data []byte) (Input, []FieldError) {
	raw, err := DecodeObject(data)
	if err != nil {
		return nil, []FieldError{{Field: "body", Problem: err.Error()}}
	}
	return v.Validate(raw, "")
}

// DecodeObject decodes data as exactly one JSON object with UseNumber.
func DecodeObject(data []byte) (map[string]any, error) {
	val, err := DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := val.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a JSON object, got %s", describe(val))
	}
	return m, nil
}

// SyntaxError is a malformed JSON document; Offset is the zero-based byte
// offset of the offending byte (len(data) when the input ended early).
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte offset %d: %s", e.Offset, e.Msg)
}

// DecodeJSON decodes data as exactly one JSON value with UseNumber. Syntax
// problems (including an empty body and trailing data) are *SyntaxError; a
// key given twice in one object is *DuplicateKeyError and invalid UTF-8 is
// *InvalidUTF8Error (see CheckStrict). Every error matches ErrMalformedJSON.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var val any
	if err := dec.Decode(&val); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// se.Offset counts the bytes read, the offending one included.
			return nil, &SyntaxError{Offset: max(se.Offset-1, 0), Msg: se.Error()}
		case errors.Is(err, io.EOF):
			return nil, &SyntaxError{Offset: 0, Msg: "empty body"}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &SyntaxError{Offset: int64(len(data)), Msg: "unexpected end of input"}
		default:
			return nil, &SyntaxError{Offset: dec.InputOffset(), Msg: err.Error()}
		}
	}
	off := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		// skip whitespace to point at the first extra byte
		rest := data[off:]
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		return nil, &SyntaxError{Offset: off + int64(len(rest)-len(trimmed)), Msg: "unexpected data after the JSON value"}
	}
	if err := CheckStrict(data); err != nil {
		return nil, err
	}
	return val, nil
}

// checkLength returns "" when s is at most limit bytes long (any length
// when limit < 0), else the problem.
func checkLength(s string, limit int) string {
	if limit < 0 || len(s) <= limit {
		return ""
	}
	return fmt.Sprintf("must be at most %d bytes long, got %d bytes", limit, len(s))
}

// CheckEntityID checks a received entity id against the limit in bytes
// (0: DefaultMaxEntityIDBytes; negative: none) and returns nil or the
// problem, on field "entity_id" (the caller may rewrite Field to its own
// path, e.g. "instances[3].entity_id" or a compatibility route's key). The
// HTTP layer answers it 422 like any schema problem.
func CheckEntityID(s string, limit int) *FieldError {
	if limit == 0 {
		limit = DefaultMaxEntityIDBytes
	}
	if p := checkLength(s, limit); p != "" {
		return &FieldError{Field: "entity_id", Problem: p}
	}
	return nil
}
