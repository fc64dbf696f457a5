package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Features is an ordered set of named feature values. Names is shared by every
// prediction of one pipeline and must be treated as read-only; Values is owned
// by the prediction. It encodes to and from a JSON object in Names order.
type Features struct {
	Names  []string
	Values []float64
}

// Len returns the number of features.
func (f Features) Len() int { return len(f.Values) }

// Get returns the value of the named feature.
func (f Features) Get(name string) (float64, bool) {
	for i, n := range f.Names {
		if n == name && i < len(f.Values) {
			return f.Values[i], true
		}
	}
	return 0, false
}

// Map returns the features as a newly allocated map.
func (f Features) Map() map[string]float64 {
	m := make(map[string]float64, len(f.Values))
	for i, v := range f.Values {
		m[f.Names[i]] = v
	}
	return m
}

// MarshalJSON encodes the features as an object in Names order.
func (f Features) MarshalJSON() ([]byte, error) {
	if len(f.Values) != len(f.Names) {
		return nil, fmt.Errorf("features: %d names but %d values", len(f.Names), len(f.Values))
	}
	var b bytes.Buffer
	b.Grow(16 * len(f.Values))
	b.WriteByte('{')
	for i, v := range f.Values {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.Names[i])
		b.Write(name)
		b.WriteByte(':')
		b.Write(strconv.AppendFloat(nil, v, 'g', -1, 64))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON decodes an object, keeping its key order. null decodes to
// empty features.
func (f *Features) UnmarshalJSON(data []byte) error {
	f.Names, f.Values = nil, nil
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("features: want a JSON object, got %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		name, _ := tok.(string)
		var v float64
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("features: value of %q: %w", name, err)
		}
		f.Names = append(f.Names, name)
		f.Values = append(f.Values, v)
	}
	_, err = dec.Token()
	return err
}
