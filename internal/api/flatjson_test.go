package api

import (
	"errors"
	"reflect"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

var flatJSONCases = []string{
	`{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}`,
	` { "a" : -0.5e+3 , "b":true,"c":false,"d":null , "e":"" } ` + "\n",
	`{}`, `{ }`, `{"a":1,"a":2}`, `{"a":1E5,"b":-0,"c":0.0}`,
	// every one of these must fall back (or fail) exactly like schema.DecodeJSON
	``, ` `, `[]`, `1`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":1}{}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1x}`, `{"a":tru}`, `{"a":truex}`,
	`{"a":nul}`, `{"a":"\u00e9"}`, `{"a":"Zoë"}`, `{"a\"b":1}`, `{"a":{"b":1}}`, `{"a":[1]}`,
	"{\"a\":\"tab\there\"}", `{"a":1,"b":2,"a":1}`, "{\"a\":\"\xff\"}", "{\"\xc3\":1}", `{"a":1 "b":2}`, `{a:1}`, `{"a":"x\\y"}`, `{"entity_id":"892","input":{"pclass":3}}`,
}

func TestDecodeFlat_AgreesWithSchemaDecodeJSON(t *testing.T) {
	for _, c := range flatJSONCases {
		checkDecodeFlat(t, []byte(c))
	}
}

func FuzzDecodeFlat(f *testing.F) {
	for _, c := range flatJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeFlat(t, b) })
}

// checkDecodeFlat: when the fast path accepts b, the general decoder must
// accept it too and return the same value; when the general decoder
// rejects b as a duplicate key or invalid UTF-8, the fast path must not
// accept it.
func checkDecodeFlat(t *testing.T, b []byte) {
	t.Helper()
	got, ok := decodeFlat(b)
	if !ok {
		return
	}
	want, err := schema.DecodeJSON(b)
	if err != nil {
		t.Fatalf("%q: fast path accepted what schema.DecodeJSON rejects: %v", b, err)
	}
	if !reflect.DeepEqual(any(got), want) {
		t.Fatalf("%q: fast path %#v, schema.DecodeJSON %#v", b, got, want)
	}
}

func TestDecodeFlat_TakesTheBenchmarkBody(t *testing.T) {
	if _, ok := decodeFlat([]byte(flatJSONCases[0])); !ok {
		t.Fatal("the common flat body fell back to the general decoder")
	}
}

func TestDecodeFlat_LeavesDuplicateKeysToTheGeneralDecoder(t *testing.T) {
	for _, b := range []string{`{"a":1,"a":2}`, `{"a":1,"b":"x","a":null}`} {
		if _, ok := decodeFlat([]byte(b)); ok {
			t.Errorf("%s: fast path accepted a duplicate key", b)
		}
		_, err := schema.DecodeJSON([]byte(b))
		var de *schema.DuplicateKeyError
		if !errors.As(err, &de) || de.Path != "a" {
			t.Errorf("%s: general decoder: %v", b, err)
		}
	}
}
