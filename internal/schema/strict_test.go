package schema

import (
	"errors"
	"testing"
)

func TestDecodeJSON_RejectsDuplicateKeysNamingThePath(t *testing.T) {
	tests := []struct {
		body   string
		path   string
		offset int64
	}{
		{`{"a":1,"a":2}`, "a", 7},
		{`{"a":1,"b":2,"a":1}`, "a", 13},
		{`{"a":1,"\u0061":2}`, "a", 7},
		{`{"entity_id":"1","input":{"age":3,"sex":"m","age":4}}`, "input.age", 44},
		{`{"instances":[{"input":{}},{"input":{"x":1,"x":1}}]}`, "instances[1].input.x", 43},
		{`[{"a":1},{"b":[{"c":1,"c":2}]}]`, "[1].b[0].c", 22},
		{`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k3":3}`, "k3", 71},
	}
	for _, tt := range tests {
		_, err := DecodeJSON([]byte(tt.body))
		var de *DuplicateKeyError
		if !errors.As(err, &de) || !errors.Is(err, ErrMalformedJSON) {
			t.Errorf("%s: got %v, want *DuplicateKeyError", tt.body, err)
			continue
		}
		if de.Path != tt.path || de.Offset != tt.offset {
			t.Errorf("%s: got path %q offset %d, want %q %d", tt.body, de.Path, de.Offset, tt.path, tt.offset)
		}
	}
	// the same key in different objects, and look-alike keys, are fine
	for _, ok := range []string{
		`{"a":{"a":1},"b":{"a":2}}`, `[{"a":1},{"a":2}]`, `{"a":1,"A":2,"a ":3,"\u00e9":4,"é ":5}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":"}"}`,
		`{"a\"":1,"a\\":2,"a":3}`, `"{\"a\":1,\"a\":2}"`,
	} {
		if _, err := DecodeJSON([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestDecodeJSON_RejectsInvalidUTF8(t *testing.T) {
	tests := []struct {
		body   string
		offset int64
	}{
		{"{\"a\":\"\xff\"}", 6},
		{"{\"a\xc3\":1}", 3},                  // truncated sequence in a key
		{"{\"a\":\"ok é \xed\xa0\x80\"}", 12}, // encoded surrogate
		{"[\"\xc0\xaf\"]", 2},                 // overlong
	}
	for _, tt := range tests {
		_, err := DecodeJSON([]byte(tt.body))
		var ue *InvalidUTF8Error
		if !errors.As(err, &ue) || !errors.Is(err, ErrMalformedJSON) {
			t.Errorf("%q: got %v, want *InvalidUTF8Error", tt.body, err)
			continue
		}
		if ue.Offset != tt.offset {
			t.Errorf("%q: offset %d, want %d", tt.body, ue.Offset, tt.offset)
		}
	}
	if _, err := DecodeJSON([]byte(`{"a":"Zoë 🚢"}`)); err != nil {
		t.Errorf("valid UTF-8: %v", err)
	}
}

func TestDecodeJSON_ErrorMessagesNameTheProblem(t *testing.T) {
	for body, want := range map[string]string{
		`{"input":{"age":1,"age":2}}`: `duplicate key "input.age" at byte offset 18`,
		"{\"a\":\"\xfe\"}":            "invalid UTF-8 at byte offset 6",
		`{"a":`:                       "malformed JSON at byte offset 5: unexpected end of input",
	} {
		_, err := DecodeJSON([]byte(body))
		if err == nil || err.Error() != want || !errors.Is(err, ErrMalformedJSON) {
			t.Errorf("%q: got %v, want %q", body, err, want)
		}
	}
}
