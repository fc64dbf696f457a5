package docjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

// shared is one Decoder used across every call of sameAsUnmarshal in a
// test binary run, so its interned state meets many documents.
var shared Decoder

// sameAsUnmarshal checks that DecodeRecord, and a long-lived Decoder, give
// what json.Unmarshal gives.
func sameAsUnmarshal(t *testing.T, data []byte) {
	t.Helper()
	sameAs(t, data, DecodeRecord)
	sameAs(t, data, shared.Decode)
}

func sameAs(t *testing.T, data []byte, decode func([]byte, *record.Record) error) {
	t.Helper()
	var want, got record.Record
	werr := json.Unmarshal(data, &want)
	gerr := decode(data, &got)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%s\njson.Unmarshal error %v, DecodeRecord error %v", data, werr, gerr)
	}
	if werr != nil {
		if werr.Error() != gerr.Error() {
			t.Errorf("%s\nerror %q, want %q", data, gerr, werr)
		}
		return
	}
	// time.Time values: compare as instants and locations, then the rest.
	if !got.ReceivedAt.Equal(want.ReceivedAt) || got.ReceivedAt.Location().String() != want.ReceivedAt.Location().String() {
		t.Errorf("%s\nReceivedAt %v, want %v", data, got.ReceivedAt, want.ReceivedAt)
	}
	got.ReceivedAt, want.ReceivedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s\n got %#v\nwant %#v", data, got, want)
	}
}

func TestDecodeRecord_MatchesUnmarshalOnStoredDocuments(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC)
	recs := []record.Record{
		storetest.FullRecord("full", at),
		{ID: "min", ReceivedAt: at, Status: "ok"},
		{ID: "rej", ReceivedAt: at, Raw: "{\"a\":\x00\xff}", Status: "rejected",
			Problems: []schema.FieldError{{Field: "a", Problem: "\"bad\" <&> \u2028 é 🚢"}}},
		{ID: "nested", Input: schema.Input{"obj": map[string]any{"k": []any{1.0, "x", nil, true, map[string]any{}}}, "e": "", "": -0.5e-9}},
		{ID: "empties", Input: schema.Input{}, Problems: []schema.FieldError{}, Models: map[string]record.ModelResult{
			"m": {Features: model.Features{Names: []string{}, Values: []float64{}}}}, Decision: &record.Decision{}},
	}
	for _, rec := range recs {
		doc, err := AppendRecord(nil, &rec)
		if err != nil {
			t.Fatal(err)
		}
		sameAsUnmarshal(t, doc)
		// As jsonb returns it: ", " and ": " separators, keys reordered.
		var spaced bytes.Buffer
		json.Indent(&spaced, doc, "", " ")
		sameAsUnmarshal(t, spaced.Bytes())
		var generic map[string]any
		json.Unmarshal(doc, &generic)
		reordered, _ := json.Marshal(generic) // sorted keys
		sameAsUnmarshal(t, reordered)
	}
}

func TestDecodeRecord_MatchesUnmarshalOnOddDocuments(t *testing.T) {
	for _, doc := range []string{
		``, `null`, `[]`, `{}`, `{"_id":"a"} x`, `{"_id":"a",}`, `{"_id":null}`, `{"_ID":"case"}`, `{"_id":"a","_id":"b"}`,
		`{"unknown":1}`, `{"received_at":"2026-11-24T12:00:00+01:00"}`, `{"received_at":"2026-13-01T00:00:00Z"}`,
		`{"received_at":null}`, `{"input":null}`, `{"input":{"a":01}}`, `{"input":{"a":1e400}}`, `{"input":{"a":"\ud800"}}`,
		`{"input":{"a":1,"a":2}}`, `{"problems":null}`, `{"problems":[{"field":"f","extra":1}]}`,
		`{"models":{"m":null}}`, `{"models":{"m":{"prediction":1.5}}}`, `{"models":{"m":{"prediction":null,"probability":null}}}`,
		`{"models":{"m":{"features":null}}}`, `{"models":{"m":{"features":{"a":null}}}}`, `{"models":{"m":{"features":[]}}}`,
		`{"models":{"m":{"latency_us":9223372036854775808}}}`, `{"models":{"m":{}},"models":{"n":{}}}`,
		`{"decision":null}`, `{"decision":{"reason":"r","deadline_ms":-1}}`, "{\"raw\":\"tab\there\"}", `{"raw":"\u0000"}`,
		` { "_id" : "sp" , "status" : "ok" } `, `{"input":{"deep":` + string(bytes.Repeat([]byte("["), 200)) + string(bytes.Repeat([]byte("]"), 200)) + `}}`,
	} {
		sameAsUnmarshal(t, []byte(doc))
	}
}

func TestDecoder_SharesFeatureNamesBetweenDocuments(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	a, b := storetest.FullRecord("a", at), storetest.FullRecord("b", at)
	other := storetest.FullRecord("c", at)
	m := other.Models["prod-gbt"]
	m.Features = model.Features{Names: []string{"pclass", "gender", "x"}, Values: []float64{1, 2, 3}}
	other.Models["prod-gbt"] = m
	var dec Decoder
	var got [3]record.Record
	for i, rec := range []record.Record{a, b, other} {
		doc, _ := AppendRecord(nil, &rec)
		if err := dec.Decode(doc, &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	n0, n1 := got[0].Models["prod-gbt"].Features.Names, got[1].Models["prod-gbt"].Features.Names
	if &n0[0] != &n1[0] {
		t.Error("equal feature names of one model were not shared between documents")
	}
	if n2 := got[2].Models["prod-gbt"].Features.Names; !reflect.DeepEqual(n2, []string{"pclass", "gender", "x"}) {
		t.Errorf("changed feature names decoded as %v", n2)
	}
	if !reflect.DeepEqual(n0, a.Models["prod-gbt"].Features.Names) {
		t.Errorf("a later document altered shared names: %v", n0)
	}
}

func FuzzDecodeRecord_MatchesUnmarshal(f *testing.F) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC)
	full := storetest.FullRecord("full", at)
	doc, _ := AppendRecord(nil, &full)
	f.Add(doc)
	f.Add([]byte(`{"models":{"m":{"features":{"b":1,"a":2}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameAsUnmarshal(t, data) })
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := storetest.FullRecord("0192f1a2-7c3e-7d1a-9b2c-3f4e5d6c7b8a", time.Now().UTC())
	doc, _ := AppendRecord(nil, &rec)
	var out record.Record
	for b.Loop() {
		if err := DecodeRecord(doc, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	rec := storetest.FullRecord("0192f1a2-7c3e-7d1a-9b2c-3f4e5d6c7b8a", time.Now().UTC())
	doc, _ := AppendRecord(nil, &rec)
	for b.Loop() {
		var out record.Record
		if err := json.Unmarshal(doc, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeModelResult_RoundTripsWhatAppendModelResultWrites(t *testing.T) {
	rec := storetest.FullRecord("full", time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))
	var c Decoder
	for name, m := range rec.Models {
		data, err := AppendModelResult(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		var got record.ModelResult
		if err := c.DecodeModelResult(data, &got, name); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: got %+v, want %+v", name, got, m)
		}
		var viaJSON record.ModelResult
		if err := c.DecodeModelResult(append(data, []byte(" trailing")...), &viaJSON, name); err == nil {
			t.Errorf("%s: trailing text decoded", name)
		}
	}
}
