package api

import (
	"encoding/json"
)

// decodeFlat is the fast path of decode for the common request body: one
// JSON object whose values are all plain strings, numbers, booleans or
// null, with keys and strings of printable ASCII without escapes, and
// nothing but white space after it. It returns exactly what
// schema.DecodeJSON returns for such a body (numbers as json.Number), or
// ok=false for any other body, valid or not (a key given twice included),
// which the caller then hands to schema.DecodeJSON for the general case and
// its error messages (*schema.DuplicateKeyError, *schema.SyntaxError, …).
// Printable ASCII is valid UTF-8, so the fast path never sees invalid UTF-8.
func decodeFlat(b []byte) (_ map[string]any, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipWS(b, i+1)
	m := make(map[string]any, 8)
	if i < len(b) && b[i] == '}' {
		return m, skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		key, next, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		i = skipWS(b, next)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		var v any
		switch c := b[i]; {
		case c == '"':
			s, next, ok := plainString(b, i)
			if !ok {
				return nil, false
			}
			v, i = s, next
		case c == '-' || c >= '0' && c <= '9':
			end, ok := number(b, i)
			if !ok {
				return nil, false
			}
			v, i = json.Number(b[i:end]), end
		case hasLiteral(b, i, "true"):
			v, i = true, i+4
		case hasLiteral(b, i, "false"):
			v, i = false, i+5
		case hasLiteral(b, i, "null"):
			v, i = nil, i+4
		default: // objects, arrays, anything else: the general decoder
			return nil, false
		}
		if _, dup := m[key]; dup {
			return nil, false
		}
		m[key] = v
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return m, skipWS(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// skipWS returns the index of the first byte at or after i that is not
// JSON white space.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the string starting at the quote b[i] when it holds
// only printable ASCII other than the backslash; it returns the string and
// the index after its closing quote.
func plainString(b []byte, i int) (string, int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

// number returns the end of the JSON number starting at b[i], checked
// against the JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	// A number must end at a delimiter ("01", "1x" are not numbers).
	if i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r', ',', '}':
		default:
			return 0, false
		}
	}
	return i, true
}

// hasLiteral reports whether b holds lit at i.
func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}
