package model_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// FuzzLoadBytes: bundle loading never panics; a rejected bundle is one
// line wrapping ErrInvalidBundle; an accepted bundle predicts without
// panicking (a probability in [0, 1], or an error) and round-trips: its
// Encode loads again to the same encoding.
func FuzzLoadBytes(f *testing.F) {
	for _, name := range []string{"canary-rule", "dev-logreg"} {
		_, data := loadShipped(f, name)
		// the reference sample makes most of the file; a seed without it
		// keeps the fuzzer's mutations on the model and pipeline
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			f.Fatal(err)
		}
		if p, ok := m["profile"].(map[string]any); ok {
			delete(p, "reference_sample")
		}
		small, _ := json.Marshal(m)
		f.Add(small)
	}
	for _, s := range []string{`{`, `{"format_version":1}`, `{"format_version":99}`, `[]`, `null`, ``} {
		f.Add([]byte(s))
	}
	inputs := []schema.Input{
		{},
		{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S"},
		{"pclass": nil, "sex": "x", "age": math.MaxFloat64, "sibsp": -1e308, "parch": 0.0, "fare": nil, "embarked": ""},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := model.LoadBytes("fuzz.json", data)
		if err != nil {
			if !errors.Is(err, model.ErrInvalidBundle) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: error %q", data, err)
			}
			return
		}
		for _, in := range inputs {
			p, err := b.Predict(context.Background(), in)
			if err == nil && !(p.Probability >= 0 && p.Probability <= 1) && !math.IsNaN(p.Probability) {
				t.Fatalf("%q: probability %v", data, p.Probability)
			}
		}
		enc, err := b.Encode()
		if err != nil {
			return // e.g. a NaN the decoder accepted cannot be encoded
		}
		b2, err := model.LoadBytes("fuzz.json", enc)
		if err != nil {
			t.Fatalf("%q: encoded bundle\n%s\ndoes not load: %v", data, enc, err)
		}
		enc2, err := b2.Encode()
		if err != nil || string(enc) != string(enc2) {
			t.Fatalf("%q: round trip changed the encoding", data)
		}
	})
}
