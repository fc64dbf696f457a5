package schema

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzJSONSeeds = []string{
	`{"pclass":3,"sex":"male","age":22,"sibsp":1,"parch":0,"fare":7.25,"embarked":"S","vip":true}`,
	`{"pclass":1,"sex":"female","age":-1,"sibsp":0,"parch":0,"fare":-1}`,
	`{"i":20,"n":120.25,"sent":-1,"ienum":3,"senum":"C","s5":"abcde","sdef":"12345678","b":false}`,
	`{"i":21,"n":-1.5000000000000002,"s5":"aééb","zzz":null}`,
	`{"instances":[{"entity_id":"1","input":{"pclass":3}},{"input":{"pclass":3,"pclass":2}}]}`,
	`{"a":"\u0061","\u0061":1}`, "{\"a\":\"\xff\"}", `[1,2,{"x":[{}]}]`, `"x"`, `1e400`, `-0`,
	`{"i":1.0e1,"n":1E-7}`, `{}`, ``, `{"a":1}{}`, `{"a":{"b":{"c":{"d":[[[[1]]]]}}}}`,
}

// FuzzDecodeJSON: DecodeJSON never panics; every error is ErrMalformedJSON;
// an accepted document is valid UTF-8 JSON without a repeated key, and it
// round-trips: encoding the value and decoding it again gives it back.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeJSON(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedJSON) || err.Error() == "" {
				t.Fatalf("%q: error %v is not ErrMalformedJSON", data, err)
			}
			var de *DuplicateKeyError
			if errors.As(err, &de) && (de.Offset < 0 || de.Offset >= int64(len(data)) || data[de.Offset] != '"') {
				t.Fatalf("%q: duplicate key offset %d is not at a key", data, de.Offset)
			}
			if !json.Valid(data) {
				return
			}
			if utf8.Valid(data) && de == nil {
				t.Fatalf("%q: valid JSON rejected: %v", data, err)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("%q: accepted invalid JSON or UTF-8", data)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%q: accepted value does not encode: %v", data, err)
		}
		again, err := DecodeJSON(enc)
		if err != nil {
			t.Fatalf("%q: re-encoded %s is rejected: %v", data, enc, err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("%q: round trip %#v != %#v", data, v, again)
		}
	})
}

// FuzzValidate: Validate over any decoded object never panics; every
// problem names a field; an accepted Input has every declared field, values
// of the declared type within the declared bounds, and validates again to
// itself (round trip).
func FuzzValidate(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add([]byte(s))
	}
	fields := append(titanicFields(), boundsFields()...)
	v, err := New(Options{Fields: fields, MaxStringBytes: 8})
	if err != nil {
		f.Fatal(err)
	}
	lenient, err := New(Options{Fields: fields, AllowUnknown: true, MaxStringBytes: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := DecodeObject(data)
		if err != nil {
			return
		}
		for _, val := range []*Validator{v, lenient} {
			in, errs := val.Validate(raw, "p.")
			if errs != nil {
				if in != nil {
					t.Fatalf("%q: both an Input and problems", data)
				}
				for _, e := range errs {
					if !strings.HasPrefix(e.Field, "p.") || e.Problem == "" {
						t.Fatalf("%q: problem %+v", data, e)
					}
				}
				continue
			}
			if len(in) != len(fields) {
				t.Fatalf("%q: Input has %d fields, want %d", data, len(in), len(fields))
			}
			for _, fd := range fields {
				checkInputValue(t, data, fd, in[fd.Name], val == v)
			}
			raw2 := make(map[string]any, len(in))
			for k, x := range in {
				if x != nil {
					raw2[k] = x
				}
			}
			in2, errs := val.Validate(raw2, "")
			if errs != nil || !reflect.DeepEqual(in, in2) {
				// sentinel values become nil, then the default applies
				// (there is none with a sentinel in these fields)
				t.Fatalf("%q: Input %v does not validate to itself: %v %v", data, in, in2, errs)
			}
		}
	})
}

func checkInputValue(t *testing.T, data []byte, f Field, x any, limited bool) {
	t.Helper()
	if x == nil {
		if f.Required {
			t.Fatalf("%q: required field %s is nil", data, f.Name)
		}
		return
	}
	switch f.Type {
	case TypeInteger, TypeNumber:
		n, ok := x.(float64)
		if !ok || math.IsNaN(n) || math.IsInf(n, 0) || (f.Type == TypeInteger && n != math.Trunc(n)) {
			t.Fatalf("%q: %s = %#v is not a finite %s", data, f.Name, x, f.Type)
		}
		if len(f.Allowed) == 0 && ((f.Min != nil && n < *f.Min) || (f.Max != nil && n > *f.Max)) {
			t.Fatalf("%q: %s = %v is out of range", data, f.Name, n)
		}
	case TypeString:
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%q: %s = %#v is not a string", data, f.Name, x)
		}
		limit := f.MaxBytes
		if limit == 0 {
			limit = 8
		}
		if limited && len(f.Allowed) == 0 && len(s) > limit {
			t.Fatalf("%q: %s is %d bytes long, over %d", data, f.Name, len(s), limit)
		}
	case TypeBoolean:
		if _, ok := x.(bool); !ok {
			t.Fatalf("%q: %s = %#v is not a boolean", data, f.Name, x)
		}
	}
	if len(f.Allowed) > 0 {
		for _, a := range f.Allowed {
			if av, _ := f.convert(a); av == x {
				return
			}
		}
		t.Fatalf("%q: %s = %#v is not allowed", data, f.Name, x)
	}
}
