package mongo

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)

func roundTrip(t *testing.T, rec record.Record) record.Record {
	t.Helper()
	doc, err := encodeRecord(nil, &rec)
	if err != nil {
		t.Fatalf("encodeRecord: %v", err)
	}
	if err := bsoncore.Document(doc).Validate(); err != nil {
		t.Fatalf("encodeRecord wrote invalid BSON: %v", err)
	}
	var got record.Record
	if err := decodeRecord(doc, &got); err != nil {
		t.Fatalf("decodeRecord: %v", err)
	}
	return got
}

func TestCodec_RoundTripsFullRecordWithMicrosecondTime(t *testing.T) {
	rec := storetest.FullRecord("req-1", t0)
	got := roundTrip(t, rec)
	want := rec
	want.ReceivedAt = record.Timestamp(rec.ReceivedAt)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
	}
	if got.ReceivedAt.Nanosecond() != 123456000 || got.ReceivedAt.Location() != time.UTC {
		t.Errorf("ReceivedAt = %s, want microseconds kept (…123456) in UTC", got.ReceivedAt.Format(time.RFC3339Nano))
	}
}

func TestCodec_EscapesKeysFerretDBRefusesAndRestoresThem(t *testing.T) {
	names := []string{"a.b", "$where", "x$", "100%", "%2E", "nul\x00here", "", "ok", "日.本"}
	feat := model.Features{Names: names, Values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	in := schema.Input{}
	models := map[string]record.ModelResult{}
	for _, n := range names {
		in[n] = n
		models[n] = record.ModelResult{Role: model.RoleChallenger, Status: record.StatusOK, Features: feat}
	}
	rec := record.Record{ID: "k", ReceivedAt: t0, Status: record.RequestOK, Input: in, Models: models}
	doc, err := encodeRecord(nil, &rec)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(d bsoncore.Document)
	walk = func(d bsoncore.Document) {
		_ = eachElement(d, func(key []byte, v bsoncore.Value) error {
			keys = append(keys, string(key))
			if sub, ok := v.DocumentOK(); ok {
				walk(sub)
			}
			return nil
		})
	}
	walk(doc)
	for _, k := range keys {
		if strings.ContainsAny(k, ".\x00") || (strings.HasPrefix(k, "$")) {
			t.Errorf("stored key %q would be refused by FerretDB (or is not valid BSON)", k)
		}
	}
	got := roundTrip(t, rec)
	want := rec
	want.ReceivedAt = record.Timestamp(t0)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
	}
}

func TestEscapeKey(t *testing.T) {
	tests := []struct{ in, stored string }{
		{"plain", "plain"},
		{"a.b", "a%2Eb"},
		{"$set", "%24set"},
		{"a$b", "a$b"},
		{"50%", "50%25"},
		{"%2E", "%252E"},
		{"\x00", "%00"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	}
	for _, tc := range tests {
		if got := escapeKey(tc.in); got != tc.stored {
			t.Errorf("escapeKey(%q) = %q, want %q", tc.in, got, tc.stored)
		}
		if back := unescapeKey(tc.stored); back != strings.ToValidUTF8(tc.in, "\uFFFD") {
			t.Errorf("unescapeKey(%q) = %q, want %q", tc.stored, back, tc.in)
		}
	}
	// Keys written by someone else keep a "%" that starts no escape.
	for _, k := range []string{"%", "a%", "%zz", "%2"} {
		if got := unescapeKey(k); got != k {
			t.Errorf("unescapeKey(%q) = %q, want it unchanged", k, got)
		}
	}
}

func TestCodec_StoresNonFiniteNumbersAsStrings(t *testing.T) {
	rec := record.Record{ID: "nf", ReceivedAt: t0, Status: record.RequestOK,
		Models: map[string]record.ModelResult{"m": {
			Role: model.RoleProduction, Status: record.StatusOK, Probability: new(math.Inf(1)),
			Features: model.Features{Names: []string{"a", "b", "c"}, Values: []float64{math.NaN(), math.Inf(1), math.Inf(-1)}},
		}}}
	doc, err := encodeRecord(nil, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := bsoncore.Document(doc).Lookup("models", "m", "features", "a").StringValueOK(); !ok || s != "NaN" {
		t.Errorf(`features.a stored as %v, want the string "NaN"`, bsoncore.Document(doc).Lookup("models", "m", "features", "a"))
	}
	got := roundTrip(t, rec)
	m := got.Models["m"]
	if v := m.Features.Values; !math.IsNaN(v[0]) || !math.IsInf(v[1], 1) || !math.IsInf(v[2], -1) || !math.IsInf(*m.Probability, 1) {
		t.Errorf("non-finite values came back as %v, probability %v", v, *m.Probability)
	}
}

func TestCodec_WritesValidUTF8(t *testing.T) {
	rec := record.Record{ID: "u", ReceivedAt: t0, Raw: "head\xff\xfetail", Status: record.RequestRejected}
	got := roundTrip(t, rec)
	if got.Raw != "head\uFFFDtail" {
		t.Errorf("Raw = %q, want %q", got.Raw, "head\uFFFDtail")
	}
}

func TestCodec_DecodesNumbersOfAnyBSONTypeAndFallsBackToMilliseconds(t *testing.T) {
	// A document written by hand (mongosh stores plain numbers as doubles or
	// int32) without received_us.
	doc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: "by-hand"},
		{Key: "received_at", Value: bson.NewDateTimeFromTime(t0)},
		{Key: "status", Value: "ok"},
		{Key: "input", Value: bson.D{{Key: "age", Value: int32(40)}, {Key: "fare", Value: int64(7)}, {Key: "a%2Eb", Value: 1.5}}},
		{Key: "models", Value: bson.D{{Key: "m", Value: bson.D{
			{Key: "role", Value: "production"}, {Key: "prediction", Value: 1.0}, {Key: "probability", Value: int32(1)},
			{Key: "latency_us", Value: 12.0}, {Key: "status", Value: "ok"},
		}}}},
		{Key: "decision", Value: bson.D{{Key: "reason", Value: "preferred"}, {Key: "deadline_ms", Value: int32(50)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got record.Record
	if err := decodeRecord(doc, &got); err != nil {
		t.Fatal(err)
	}
	want := record.Record{
		ID: "by-hand", ReceivedAt: t0.Truncate(time.Millisecond), Status: "ok",
		Input: schema.Input{"age": 40.0, "fare": 7.0, "a.b": 1.5},
		Models: map[string]record.ModelResult{"m": {Role: model.RoleProduction, Prediction: new(1), Probability: new(1.0),
			LatencyUS: 12, Status: record.StatusOK}},
		Decision: &record.Decision{Reason: "preferred", DeadlineMS: 50},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decode:\n got %#v\nwant %#v", got, want)
	}
}

func TestCodec_DecodeErrorNamesRecordAndField(t *testing.T) {
	doc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: "broken"}, {Key: "received_us", Value: int64(1)},
		{Key: "models", Value: bson.D{{Key: "prod", Value: bson.D{{Key: "latency_us", Value: "slow"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var rec record.Record
	err = decodeRecord(doc, &rec)
	if !errors.Is(err, errDecode) || !strings.Contains(err.Error(), `"broken"`) || !strings.Contains(err.Error(), "models: prod: latency_us") {
		t.Errorf("decodeRecord error = %v, want one naming record \"broken\" and models: prod: latency_us", err)
	}
}

func TestCodec_FeedbackRoundTrips(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	fb := record.Feedback{RequestID: "r", EntityID: "e", Label: 1, ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6789, paris)}
	doc := encodeFeedback(nil, bson.NewObjectID(), 42, &fb)
	got, err := decodeFeedback(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := fb
	want.ReceivedAt = record.Timestamp(fb.ReceivedAt)
	if got != want || got.ReceivedAt.Location() != time.UTC {
		t.Errorf("feedback round trip = %+v, want %+v", got, want)
	}
}

// TestCodec_StoredDocumentMatchesGolden pins the document layout that
// docs/STORES.md shows and mongosh queries rely on.
func TestCodec_StoredDocumentMatchesGolden(t *testing.T) {
	rec := storetest.FullRecord("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", t0)
	doc, err := encodeRecord(nil, &rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bson.MarshalExtJSONIndent(bson.Raw(doc), false, false, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "record.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stored document differs from %s (go test -update to accept):\n%s", path, got)
	}
}

func BenchmarkEncodeRecord(b *testing.B) {
	rec := storetest.FullRecord("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", t0)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = encodeRecord(buf[:0], &rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := storetest.FullRecord("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", t0)
	doc, err := encodeRecord(nil, &rec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var got record.Record
		if err := decodeRecord(doc, &got); err != nil {
			b.Fatal(err)
		}
	}
}
