package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/rendezvous-gw/rendezvous/internal/model"
)

type mlflowRequest struct {
	DataframeSplit mlflowSplit `json:"dataframe_split"`
}

type mlflowSplit struct {
	Columns []string `json:"columns"`
	Data    [][]any  `json:"data"`
}

// encodeMLflow builds {"dataframe_split": {"columns": [...], "data": [[...]]}}
// for one row; a missing value is null (NaN in the server's DataFrame).
func encodeMLflow(c columns) ([]byte, error) {
	for i, v := range c.values {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("value %q is %v, which JSON cannot carry", c.names[i], f)
		}
	}
	return json.Marshal(mlflowRequest{DataframeSplit: mlflowSplit{Columns: c.names, Data: [][]any{c.values}}})
}

// decodeMLflow reads {"predictions": X} (or a bare X, as MLflow 1.x sent)
// where X holds one row:
//   - [v]: a class, or a probability when ProbabilityOutput is set (with
//     neither output set, an integer is a class and a fraction a
//     probability);
//   - [[p]] or [[p0, p1]]: probabilities;
//   - [{"key": v, …}]: ClassOutput and ProbabilityOutput name the keys
//     (defaults: "prediction" and "probability"; either may be absent
//     but not both).
func (m *Model) decodeMLflow(data []byte) (model.Prediction, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return model.Prediction{}, fmt.Errorf("decode invocations response: %w", err)
	}
	if obj, ok := raw.(map[string]any); ok {
		p, ok := obj["predictions"]
		if !ok {
			return model.Prediction{}, errors.New(`invocations response has no "predictions"`)
		}
		raw = p
	}
	rows, ok := raw.([]any)
	if !ok {
		return model.Prediction{}, fmt.Errorf("predictions: want a list, got %s", jsonKind(raw))
	}
	if len(rows) != 1 {
		return model.Prediction{}, fmt.Errorf("predictions: want 1 row for 1 input, got %d", len(rows))
	}
	switch row := rows[0].(type) {
	case []any:
		p, err := probValue(row)
		if err != nil {
			return model.Prediction{}, fmt.Errorf("predictions[0]: %w", err)
		}
		return m.prediction(nil, &p), nil
	case map[string]any:
		return m.mlflowObject(row)
	default:
		return m.mlflowScalar(row, m.cfg.ProbabilityOutput != "")
	}
}

func (m *Model) mlflowScalar(v any, isProb bool) (model.Prediction, error) {
	if !isProb && m.cfg.ClassOutput == "" {
		// Neither configured: a fraction can only be a probability.
		if f, ok := v.(json.Number); ok {
			if x, err := f.Float64(); err == nil && x != math.Trunc(x) {
				isProb = true
			}
		}
	}
	if isProb {
		p, err := probValue([]any{v})
		if err != nil {
			return model.Prediction{}, fmt.Errorf("predictions[0]: %w", err)
		}
		return m.prediction(nil, &p), nil
	}
	c, err := m.classValue(v)
	if err != nil {
		return model.Prediction{}, fmt.Errorf("predictions[0]: %w", err)
	}
	return m.prediction(&c, nil), nil
}

func (m *Model) mlflowObject(row map[string]any) (model.Prediction, error) {
	classKey, probKey := m.cfg.ClassOutput, m.cfg.ProbabilityOutput
	if classKey == "" && probKey == "" {
		classKey, probKey = "prediction", "probability"
	}
	var class *int
	var prob *float64
	if v, ok := row[classKey]; ok && classKey != "" {
		c, err := m.classValue(v)
		if err != nil {
			return model.Prediction{}, fmt.Errorf("predictions[0].%s: %w", classKey, err)
		}
		class = &c
	} else if m.cfg.ClassOutput != "" {
		return model.Prediction{}, fmt.Errorf("predictions[0] has no key %q", classKey)
	}
	if v, ok := row[probKey]; ok && probKey != "" {
		vals, isList := v.([]any)
		if !isList {
			vals = []any{v}
		}
		p, err := probValue(vals)
		if err != nil {
			return model.Prediction{}, fmt.Errorf("predictions[0].%s: %w", probKey, err)
		}
		prob = &p
	} else if m.cfg.ProbabilityOutput != "" {
		return model.Prediction{}, fmt.Errorf("predictions[0] has no key %q", probKey)
	}
	if class == nil && prob == nil {
		return model.Prediction{}, fmt.Errorf("predictions[0] has neither %q nor %q", classKey, probKey)
	}
	return m.prediction(class, prob), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}
