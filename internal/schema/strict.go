package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrMalformedJSON is matched (errors.Is) by every error DecodeJSON returns:
// *SyntaxError, *DuplicateKeyError and *InvalidUTF8Error. The HTTP layer
// answers them 400 with the error's message.
var ErrMalformedJSON = errors.New("malformed JSON")

// Is makes errors.Is(err, ErrMalformedJSON) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrMalformedJSON }

// DuplicateKeyError is a JSON object that names the same key twice. Path
// locates the second occurrence ("age", "instances[3].age", "inputs[0].name");
// Offset is the byte offset of its opening quote.
type DuplicateKeyError struct {
	Path   string
	Offset int64
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("duplicate key %s at byte offset %d", strconv.Quote(e.Path), e.Offset)
}

// Is makes errors.Is(err, ErrMalformedJSON) true.
func (e *DuplicateKeyError) Is(target error) bool { return target == ErrMalformedJSON }

// InvalidUTF8Error is a body that is not valid UTF-8; Offset is the byte
// offset of the first invalid byte.
type InvalidUTF8Error struct {
	Offset int64
}

func (e *InvalidUTF8Error) Error() string {
	return fmt.Sprintf("invalid UTF-8 at byte offset %d", e.Offset)
}

// Is makes errors.Is(err, ErrMalformedJSON) true.
func (e *InvalidUTF8Error) Is(target error) bool { return target == ErrMalformedJSON }

// CheckStrict reports what encoding/json lets through silently in a
// syntactically valid JSON document: invalid UTF-8 (which it replaces with
// U+FFFD) as *InvalidUTF8Error, and an object key given twice (where it keeps
// the last value) as *DuplicateKeyError. Keys are compared after unescaping
// ("a" and "\u0061" are the same key). data must already have decoded
// without a syntax error; CheckStrict does not re-check the grammar.
func CheckStrict(data []byte) error {
	if !utf8.Valid(data) {
		return &InvalidUTF8Error{Offset: int64(firstInvalidUTF8(data))}
	}
	c := strictChecker{b: data}
	return c.value()
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// strictChecker walks a valid JSON document looking for duplicate keys; path
// holds the keys and indexes leading to the current value, rendered only
// for an error.
type strictChecker struct {
	b    []byte
	i    int
	path []pathSeg
}

type pathSeg struct {
	key []byte
	idx int // -1 for a key
}

func (c *strictChecker) ws() {
	for c.i < len(c.b) && (c.b[c.i] == ' ' || c.b[c.i] == '\t' || c.b[c.i] == '\n' || c.b[c.i] == '\r') {
		c.i++
	}
}

func (c *strictChecker) value() error {
	c.ws()
	if c.i >= len(c.b) {
		return nil
	}
	switch c.b[c.i] {
	case '{':
		return c.object()
	case '[':
		return c.array()
	case '"':
		c.str()
	default: // number or literal
		for c.i < len(c.b) {
			switch c.b[c.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return nil
			}
			c.i++
		}
	}
	return nil
}

// str skips the string at c.i and returns its raw contents (between the
// quotes) and whether they hold an escape.
func (c *strictChecker) str() ([]byte, bool) {
	start := c.i + 1
	esc := false
	for c.i++; c.i < len(c.b); c.i++ {
		switch c.b[c.i] {
		case '\\':
			esc = true
			c.i++
		case '"':
			c.i++
			return c.b[start : c.i-1], esc
		}
	}
	return c.b[start:], esc
}

func (c *strictChecker) object() error {
	c.i++ // {
	var buf [8][]byte
	small := buf[:0]             // the keys so far, while there are few
	var seen map[string]struct{} // then a set
	for {
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] == '}' {
			c.i++
			return nil
		}
		off := c.i
		key, esc := c.str()
		if esc {
			var s string
			if err := json.Unmarshal(c.b[off:c.i], &s); err == nil {
				key = []byte(s)
			}
		}
		dup := false
		if seen != nil {
			_, dup = seen[string(key)]
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range small {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			if len(small) < len(buf) {
				small = append(small, key)
			} else {
				seen = make(map[string]struct{}, 2*len(buf))
				for _, k := range small {
					seen[string(k)] = struct{}{}
				}
				seen[string(key)] = struct{}{}
			}
		}
		if dup {
			c.path = append(c.path, pathSeg{key: key, idx: -1})
			return &DuplicateKeyError{Path: c.render(), Offset: int64(off)}
		}
		c.ws()
		c.i++ // :
		if err := c.member(pathSeg{key: key, idx: -1}); err != nil {
			return err
		}
	}
}

// member checks the object member's or array element's value at c.i, with
// seg on the path, and skips the comma after it.
func (c *strictChecker) member(seg pathSeg) error {
	c.path = append(c.path, seg)
	if err := c.value(); err != nil {
		return err
	}
	c.path = c.path[:len(c.path)-1]
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ',' {
		c.i++
	}
	return nil
}

func (c *strictChecker) array() error {
	c.i++ // [
	for n := 0; ; n++ {
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] == ']' {
			c.i++
			return nil
		}
		if err := c.member(pathSeg{idx: n}); err != nil {
			return err
		}
	}
}

// render formats the path as the API's field paths do: "a.b[2].c"; the
// top-level array's elements are "[2]".
func (c *strictChecker) render() string {
	var b []byte
	for _, s := range c.path {
		if s.idx >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.idx), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	return string(b)
}
