package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Field declares one input field. The YAML tags are the configuration's
// (schema.fields[i] in rendezvous.yaml): package config aliases this type.
type Field struct {
	Name     string `yaml:"name" json:"name"`
	Type     Type   `yaml:"type" json:"type"`
	Required bool   `yaml:"required" json:"required,omitempty"`
	// Default is used when the field is absent or null (such a field is
	// never required).
	Default any `yaml:"default" json:"default,omitempty"`
	// Allowed lists the permitted values (strings, numbers or booleans of
	// the field's type). Empty: any value of the type.
	Allowed []any `yaml:"allowed" json:"allowed,omitempty"`
	// Min and Max bound integer and number fields (inclusive).
	Min *float64 `yaml:"min" json:"min,omitempty"`
	Max *float64 `yaml:"max" json:"max,omitempty"`
	// MaxBytes caps the length in bytes of a string field's value (0: the
	// schema's default, Options.MaxStringBytes). It does not apply to
	// values listed in Allowed.
	MaxBytes int `yaml:"max_bytes" json:"max_bytes,omitempty"`
	// Missing lists sentinel values that mean "missing" (e.g. -1 for an
	// unknown age): they validate to nil and bypass Allowed, Min and Max.
	Missing     []any  `yaml:"missing" json:"missing,omitempty"`
	Description string `yaml:"description" json:"description,omitempty"`
}

// Valid reports whether t is one of the supported types.
func (t Type) Valid() bool {
	return t == TypeInteger || t == TypeNumber || t == TypeString || t == TypeBoolean
}

// numeric reports whether t holds float64 values.
func (t Type) numeric() bool { return t == TypeInteger || t == TypeNumber }

var fieldNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Problems checks the declaration itself and returns its problems, each with
// Field set to the key within the declaration ("type", "allowed[1]", …) so a
// caller can prefix its own path (e.g. "schema.fields[2].").
func (f Field) Problems() []FieldError {
	var ps []FieldError
	add := func(key, format string, args ...any) {
		ps = append(ps, FieldError{Field: key, Problem: fmt.Sprintf(format, args...)})
	}
	switch {
	case f.Name == "":
		add("name", "required")
	case !fieldNameRE.MatchString(f.Name):
		add("name", "must match %s, got %q", fieldNameRE, f.Name)
	}
	if !f.Type.Valid() {
		if f.Type == "" {
			add("type", "required (want integer, number, string, boolean)")
		} else {
			add("type", "unknown type %q (want integer, number, string, boolean)", string(f.Type))
		}
		return ps // the value checks below need a type
	}
	for i, v := range f.Allowed {
		if _, ok := f.convert(v); !ok {
			add(fmt.Sprintf("allowed[%d]", i), "must be %s, got %s", f.Type.noun(), describe(v))
		}
	}
	for i, v := range f.Missing {
		if _, ok := f.convert(v); !ok {
			add(fmt.Sprintf("missing[%d]", i), "must be %s, got %s", f.Type.noun(), describe(v))
		}
	}
	if !f.Type.numeric() {
		if f.Min != nil {
			add("min", "only integer and number fields take a range")
		}
		if f.Max != nil {
			add("max", "only integer and number fields take a range")
		}
	} else if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		add("max", "must be >= min (%s), got %s", fmtFloat(*f.Min), fmtFloat(*f.Max))
	}
	switch {
	case f.MaxBytes < 0:
		add("max_bytes", "must be > 0, got %d", f.MaxBytes)
	case f.MaxBytes > 0 && f.Type != TypeString:
		add("max_bytes", "only string fields take a length limit")
	}
	if f.Required && f.Default != nil {
		add("default", "a required field cannot have a default")
	}
	if f.Default != nil {
		v, ok := f.convert(f.Default)
		switch {
		case !ok:
			add("default", "must be %s, got %s", f.Type.noun(), describe(f.Default))
		case !f.isMissing(v):
			if p := f.checkValue(v, f.Default); p != "" {
				add("default", "%s", p)
			}
		}
	}
	return ps
}

// Check validates one non-nil received value against the declaration, as
// Validator.Validate does, and returns its Input value (nil for a sentinel)
// and "" or the problem ("must be one of S, C, Q, got \"X\"").
func (f Field) Check(v any) (any, string) {
	cv, ok := f.convert(v)
	if !ok {
		return nil, f.expectation() + ", got " + describe(v)
	}
	if f.isMissing(cv) {
		return nil, ""
	}
	if p := f.checkValue(cv, v); p != "" {
		return nil, p
	}
	return cv, ""
}

// noun names the type for messages ("a number").
func (t Type) noun() string {
	switch t {
	case TypeInteger:
		return "an integer"
	case TypeNumber:
		return "a number"
	case TypeString:
		return "a string"
	case TypeBoolean:
		return "true or false"
	}
	return string(t)
}

// convert turns a decoded value (JSON with or without UseNumber, or YAML)
// into the Input representation of f's type; ok is false on a type mismatch.
// Integers must be integral (3 and 3.0 are; 3.5 is not).
func (f Field) convert(v any) (any, bool) {
	switch f.Type {
	case TypeInteger, TypeNumber:
		x, ok := ToFloat(v)
		if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		if f.Type == TypeInteger && x != math.Trunc(x) {
			return nil, false
		}
		return x, true
	case TypeString:
		s, ok := v.(string)
		return s, ok
	case TypeBoolean:
		b, ok := v.(bool)
		return b, ok
	}
	return nil, false
}

// ToFloat converts the numeric representations decoders produce (JSON
// numbers kept exact, float64, YAML's int, any Go integer or float type) to
// float64; anything else, nil included, reports false.
func ToFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// isMissing reports whether the converted value v is one of f's sentinels.
func (f Field) isMissing(v any) bool {
	for _, m := range f.Missing {
		if mv, ok := f.convert(m); ok && mv == v {
			return true
		}
	}
	return false
}

// checkValue checks a converted value against Allowed and the range; raw is
// the value as received (for the message). It returns "" when v is fine.
func (f Field) checkValue(v, raw any) string {
	if len(f.Allowed) > 0 {
		for _, a := range f.Allowed {
			if av, ok := f.convert(a); ok && av == v {
				return ""
			}
		}
		return f.expectation() + ", got " + describe(raw)
	}
	if x, ok := v.(float64); ok {
		if (f.Min != nil && x < *f.Min) || (f.Max != nil && x > *f.Max) {
			return f.expectation() + ", got " + describe(raw)
		}
	}
	return ""
}

// expectation describes what f accepts: "must be one of S, C, Q",
// "must be a number between 0 and 120", "must be an integer >= 0", …
func (f Field) expectation() string {
	if len(f.Allowed) > 0 {
		parts := make([]string, len(f.Allowed))
		for i, a := range f.Allowed {
			if av, ok := f.convert(a); ok {
				a = av
			}
			parts[i] = plain(a)
		}
		return "must be one of " + strings.Join(parts, ", ")
	}
	s := "must be " + f.Type.noun()
	switch {
	case f.Min != nil && f.Max != nil:
		s += " between " + fmtFloat(*f.Min) + " and " + fmtFloat(*f.Max)
	case f.Min != nil:
		s += " >= " + fmtFloat(*f.Min)
	case f.Max != nil:
		s += " <= " + fmtFloat(*f.Max)
	}
	return s
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// plain formats an allowed value without quotes (S, 3, true).
func plain(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmtFloat(x)
	}
	if x, ok := ToFloat(v); ok {
		return fmtFloat(x)
	}
	return fmt.Sprint(v)
}

// describe renders a received value for an error message, JSON-style:
// strings quoted, numbers as sent, and composite values by kind.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 64 {
			x = x[:64] + "…"
		}
		return strconv.Quote(x)
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if f, ok := ToFloat(v); ok {
		return fmtFloat(f)
	}
	return fmt.Sprintf("%v", v)
}
