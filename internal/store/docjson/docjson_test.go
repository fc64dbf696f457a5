package docjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/record"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
	"github.com/rendezvous-gw/rendezvous/internal/store/storetest"
)

// stdlib is the reference encoding.
func stdlib(t testing.TB, rec *record.Record) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(rec)
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), err
}

func sameAsStdlib(t *testing.T, rec *record.Record) {
	t.Helper()
	want, werr := stdlib(t, rec)
	got, gerr := AppendRecord(nil, rec)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("encoding/json error %v, AppendRecord error %v", werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("AppendRecord differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

func TestAppendRecord_MatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC)
	full := storetest.FullRecord("id-1", at)
	tricky := "<&>\u2028\u2029\x00\x01\x1f\b\f\n\r\t\"\\ é 🚢 \xff\xfe end"
	cases := map[string]record.Record{
		"full":    full,
		"minimal": {ID: "x", ReceivedAt: at, Status: "ok"},
		"zero":    {},
		"offset":  {ID: "x", ReceivedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 5*3600+1800))},
		"tricky strings": {ID: tricky, ReceivedAt: at, Endpoint: tricky, EntityID: tricky, Raw: tricky, RawBytes: 1 << 40, RawSHA256: tricky, Status: tricky,
			Input:    schema.Input{tricky: tricky, "n": nil, "b": true, "f": false},
			Problems: []schema.FieldError{{Field: tricky, Problem: tricky}},
			Models: map[string]record.ModelResult{tricky: {Role: model.Role(tricky), Version: tricky, Artifact: tricky, Label: tricky, Error: tricky,
				Status: record.Status(tricky), Features: model.Features{Names: []string{tricky, "<b>"}, Values: []float64{1, 2}}}},
			Decision: &record.Decision{ServedBy: tricky, Reason: tricky}},
		"numbers": {ID: "n", ReceivedAt: at, Input: schema.Input{
			"a": 0.0, "b": math.Copysign(0, -1), "c": 1e21, "d": 1e20, "e": 1e-6, "f": 1e-7, "g": 123456789.125, "h": math.MaxFloat64,
			"i": math.SmallestNonzeroFloat64, "j": -1.5e-300, "k": 3.0, "l": 0.1 + 0.2,
			"m": 999999999999999, "n": 1e15, "o": -1e15, "p": 1e16, "q": -3, "r": 4503599627370497},
			Models: map[string]record.ModelResult{"m": {Features: model.Features{
				Names:  []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"},
				Values: []float64{0, 1e21, 1e-7, math.MaxFloat64, -2.5, 1e20, 999999, 1e6, -999999, -1e6, math.Copysign(0, -1), 123456.5}}, Probability: new(1e-9), Prediction: new(-3), LatencyUS: -1}},
			Decision: &record.Decision{DeadlineMS: math.MaxInt64, LatencyUS: math.MinInt64, Deployment: 42}},
		"empty collections": {ID: "e", Input: schema.Input{}, Problems: []schema.FieldError{}, Models: map[string]record.ModelResult{
			"empty-features": {Features: model.Features{Names: []string{}, Values: []float64{}}},
			"nil-values":     {Features: model.Features{Names: []string{}}},
		}},
		"other input types": {ID: "o", Input: schema.Input{"int": 3, "slice": []any{1.0, "x"}, "map": map[string]any{"k": "<v>"}, "num": json.Number("12.50")}},
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) { sameAsStdlib(t, &rec) })
	}
}

func TestAppendRecord_RejectsWhatJSONCannotHold(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cases := map[string]record.Record{
		"NaN input":         {ID: "a", ReceivedAt: at, Input: schema.Input{"x": math.NaN()}},
		"Inf probability":   {ID: "b", ReceivedAt: at, Models: map[string]record.ModelResult{"m": {Probability: new(math.Inf(1))}}},
		"NaN feature":       {ID: "c", ReceivedAt: at, Models: map[string]record.ModelResult{"m": {Features: model.Features{Names: []string{"f"}, Values: []float64{math.NaN()}}}}},
		"features mismatch": {ID: "d", ReceivedAt: at, Models: map[string]record.ModelResult{"m": {Features: model.Features{Names: []string{"f"}}}}},
		"year out of range": {ID: "e", ReceivedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := stdlib(t, &rec); err == nil {
				t.Fatalf("encoding/json accepts it; the case is wrong")
			}
			dst := []byte("prefix")
			out, err := AppendRecord(dst, &rec)
			if err == nil {
				t.Fatalf("AppendRecord accepted it: %s", out)
			}
			if string(out) != "prefix" {
				t.Errorf("AppendRecord left %q in dst after an error", out)
			}
		})
	}
	_, err := AppendRecord(nil, &record.Record{ReceivedAt: at, Input: schema.Input{"x": math.Inf(-1)}})
	if !errors.Is(err, ErrUnsupportedValue) {
		t.Errorf("error %v does not wrap ErrUnsupportedValue", err)
	}
}

func FuzzAppendRecord_MatchesEncodingJSON(f *testing.F) {
	f.Add("plain", "<&>", 1.5, "name")
	f.Add("\xff\u2028", "\x00", -1e-7, "\u2029")
	f.Fuzz(func(t *testing.T, s1, s2 string, v float64, feat string) {
		rec := record.Record{ID: s1, ReceivedAt: time.Unix(0, 0).UTC(), EntityID: s2, Raw: s1 + s2, Status: s2,
			Input: schema.Input{s1: v, s2: s1},
			Models: map[string]record.ModelResult{s2: {Label: s1, Probability: &v,
				Features: model.Features{Names: []string{feat}, Values: []float64{v}}}},
			Problems: []schema.FieldError{{Field: s1, Problem: s2}},
		}
		sameAsStdlib(t, &rec)
	})
}

// TestRecordShape_IsTheOneThisEncoderKnows fails when a field is added to,
// removed from or re-tagged in the types AppendRecord writes by hand: update
// AppendRecord and this list together.
func TestRecordShape_IsTheOneThisEncoderKnows(t *testing.T) {
	want := map[reflect.Type]string{
		reflect.TypeFor[record.Record]():      `ID:"_id" ReceivedAt:"received_at" Endpoint:"endpoint" EntityID:"entity_id,omitempty" Input:"input,omitempty" Raw:"raw,omitempty" RawBytes:"raw_bytes,omitempty" RawSHA256:"raw_sha256,omitempty" Status:"status" Problems:"problems,omitempty" Models:"models,omitempty" Decision:"decision,omitempty"`,
		reflect.TypeFor[record.ModelResult](): `Role:"role" Version:"version,omitempty" Artifact:"artifact,omitempty" Features:"features,omitzero" Prediction:"prediction,omitempty" Label:"label,omitempty" Probability:"probability,omitempty" LatencyUS:"latency_us" Status:"status" Error:"error,omitempty"`,
		reflect.TypeFor[record.Decision]():    `ServedBy:"served_by,omitempty" Reason:"reason" DeadlineMS:"deadline_ms" LatencyUS:"latency_us" Deployment:"deployment,omitempty"`,
		reflect.TypeFor[schema.FieldError]():  `Field:"field" Problem:"problem"`,
		reflect.TypeFor[model.Features]():     `Names:"" Values:""`,
	}
	for typ, w := range want {
		var fields []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			fields = append(fields, f.Name+":"+`"`+f.Tag.Get("json")+`"`+":"+f.Type.String())
		}
		var wantFields []string
		for _, spec := range strings.Fields(w) {
			name, _, _ := strings.Cut(spec, ":")
			f, _ := typ.FieldByName(name)
			wantFields = append(wantFields, spec+":"+f.Type.String())
		}
		if strings.Join(fields, " ") != strings.Join(wantFields, " ") {
			t.Errorf("%v changed; update docjson.AppendRecord and this test:\n got %s\nwant %s", typ, strings.Join(fields, " "), strings.Join(wantFields, " "))
		}
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	rec := storetest.FullRecord("0192f1a2-7c3e-7d1a-9b2c-3f4e5d6c7b8a", time.Now().UTC())
	var buf []byte
	for b.Loop() {
		buf, _ = AppendRecord(buf[:0], &rec)
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	rec := storetest.FullRecord("0192f1a2-7c3e-7d1a-9b2c-3f4e5d6c7b8a", time.Now().UTC())
	for b.Loop() {
		stdlib(b, &rec)
	}
}

func TestAppendShortDecimal_WritesWhatStrconvWritesOrDeclines(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		got, ok := appendShortDecimal(nil, v)
		if !ok {
			return
		}
		for _, format := range []byte{'f', 'g'} {
			if want := strconv.FormatFloat(v, format, -1, 64); string(got) != want {
				t.Fatalf("appendShortDecimal(%v) = %q, strconv '%c' writes %q", v, got, format, want)
			}
		}
	}
	taken := func(v float64) bool { _, ok := appendShortDecimal(nil, v); return ok }
	tenth := 0.1
	for _, tc := range []struct {
		v    float64
		want bool
	}{
		{1.125, true}, {71.28, true}, {-0.5, true}, {0.001, true}, {0.005, true}, {-0.012, true}, {999999.5, true},
		{tenth + 0.2, false}, {0.0009, false}, {1e6 + 0.5, false}, {999999.9996, false}, {3, false}, {0, false},
		{math.Copysign(0, -1), false}, {1.0001, false}, {math.Pi, false}, {math.NaN(), false}, {math.Inf(1), false},
	} {
		if got := taken(tc.v); got != tc.want {
			t.Errorf("appendShortDecimal(%v) took it: %v, want %v", tc.v, got, tc.want)
		}
		check(tc.v)
	}
	// Every decimal with up to three fraction digits near the ends of the
	// range and a pseudo-random sample in between, as parsed and one ulp
	// either side.
	r := rand.New(rand.NewPCG(1, 2))
	var vs []float64
	for m := range 3000 {
		vs = append(vs, float64(m)/1000, 999000+float64(m)/1000)
	}
	for range 200000 {
		k := r.IntN(4)
		vs = append(vs, float64(r.Int64N(1_000_000_000))/math.Pow(10, float64(k)), r.Float64()*2e6-1e6)
	}
	for _, v := range vs {
		for _, w := range []float64{v, -v, math.Nextafter(v, 0), math.Nextafter(v, 2e6)} {
			check(w)
		}
	}
}
