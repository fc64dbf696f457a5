package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/rendezvous-gw/rendezvous/internal/model"
	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// oipTensor is one OIP v2 input tensor.
type oipTensor struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

type oipRequest struct {
	Inputs []oipTensor `json:"inputs"`
}

// oipOutput is one OIP v2 output tensor; Data is kept raw because servers
// send it flat or nested.
type oipOutput struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type oipResponse struct {
	ModelName    string      `json:"model_name"`
	ModelVersion string      `json:"model_version"`
	Outputs      []oipOutput `json:"outputs"`
	Error        string      `json:"error"`
}

// encodeOIP builds the infer request body for one row.
func (m *Model) encodeOIP(c columns) ([]byte, error) {
	var req oipRequest
	if m.layout == LayoutTensor {
		t := oipTensor{Name: m.cfg.TensorName, Shape: []int{1, len(c.values)}, Datatype: m.cfg.TensorDatatype}
		f64 := make([]float64, len(c.values))
		for i, v := range c.values {
			switch v := v.(type) {
			case float64:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("value %q is %v, which JSON cannot carry", c.names[i], v)
				}
				f64[i] = v
			case bool:
				if v {
					f64[i] = 1
				}
			case nil:
				return nil, fmt.Errorf("value %q is missing and a numeric tensor cannot carry null; impute it in a pipeline or use layout %q", c.names[i], LayoutFields)
			default:
				return nil, fmt.Errorf("value %q is a %T, not a number; use layout %q or a pipeline", c.names[i], v, LayoutFields)
			}
		}
		t.Data = f64
		if m.cfg.TensorDatatype == "FP32" {
			f32 := make([]float32, len(f64))
			for i, v := range f64 {
				f32[i] = float32(v)
			}
			t.Data = f32
		}
		req.Inputs = []oipTensor{t}
		return json.Marshal(req)
	}
	req.Inputs = make([]oipTensor, len(c.values))
	for i, v := range c.values {
		var typ schema.Type
		if c.types != nil {
			typ = c.types[i]
		}
		t, err := fieldTensor(c.names[i], typ, v)
		if err != nil {
			return nil, err
		}
		req.Inputs[i] = t
	}
	return json.Marshal(req)
}

// fieldTensor is the [1]-shaped tensor of one value. A missing value is sent
// as a null element (servers that cannot take it answer 4xx).
func fieldTensor(name string, typ schema.Type, v any) (oipTensor, error) {
	t := oipTensor{Name: name, Shape: []int{1}}
	if typ == "" {
		switch v.(type) {
		case string:
			typ = schema.TypeString
		case bool:
			typ = schema.TypeBoolean
		default:
			typ = schema.TypeNumber
		}
	}
	switch typ {
	case schema.TypeInteger:
		t.Datatype = "INT64"
	case schema.TypeNumber:
		t.Datatype = "FP64"
	case schema.TypeString:
		t.Datatype = "BYTES"
	case schema.TypeBoolean:
		t.Datatype = "BOOL"
	}
	switch v := v.(type) {
	case nil:
		t.Data = []any{nil}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return t, fmt.Errorf("value %q is %v, which JSON cannot carry", name, v)
		}
		if typ == schema.TypeInteger {
			if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
				return t, fmt.Errorf("value %q is %v, not an integer", name, v)
			}
			t.Data = []int64{int64(v)}
		} else {
			t.Data = []float64{v}
		}
	case string:
		if typ != schema.TypeString {
			return t, fmt.Errorf("value %q is a string but the field is declared %s", name, typ)
		}
		t.Data = []string{v}
	case bool:
		t.Data = []bool{v}
	default:
		return t, fmt.Errorf("value %q has unsupported type %T", name, v)
	}
	return t, nil
}

// decodeOIP reads the class and/or probability from an infer response.
//
// With ClassOutput or ProbabilityOutput set, those outputs must exist. With
// neither, the first output is read: an integer, boolean or BYTES datatype
// is a class; a floating-point one is a probability (two elements: the
// classes' probabilities, the second being the positive class's).
func (m *Model) decodeOIP(data []byte) (model.Prediction, error) {
	var resp oipResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return model.Prediction{}, fmt.Errorf("decode infer response: %w", err)
	}
	if len(resp.Outputs) == 0 {
		if resp.Error != "" {
			return model.Prediction{}, fmt.Errorf("infer response has no outputs: error %q", m.redact(resp.Error))
		}
		return model.Prediction{}, errors.New("infer response has no outputs")
	}
	find := func(name string) (oipOutput, error) {
		for _, o := range resp.Outputs {
			if o.Name == name {
				return o, nil
			}
		}
		have := make([]string, len(resp.Outputs))
		for i, o := range resp.Outputs {
			have[i] = strconv.Quote(o.Name)
		}
		return oipOutput{}, fmt.Errorf("infer response has no output %q (outputs: %s)", name, strings.Join(have, ", "))
	}
	var classOut, probOut *oipOutput
	switch {
	case m.cfg.ClassOutput == "" && m.cfg.ProbabilityOutput == "":
		o := resp.Outputs[0]
		if isFloatType(o.Datatype) {
			probOut = &o
		} else {
			classOut = &o
		}
	default:
		if m.cfg.ClassOutput != "" {
			o, err := find(m.cfg.ClassOutput)
			if err != nil {
				return model.Prediction{}, err
			}
			classOut = &o
		}
		if m.cfg.ProbabilityOutput != "" {
			o, err := find(m.cfg.ProbabilityOutput)
			if err != nil {
				return model.Prediction{}, err
			}
			probOut = &o
		}
	}
	var class *int
	var prob *float64
	if classOut != nil {
		vals, err := outputValues(*classOut)
		if err != nil {
			return model.Prediction{}, err
		}
		if len(vals) != 1 {
			return model.Prediction{}, fmt.Errorf("output %q has shape %v: want one class ([1] or [1,1])", classOut.Name, classOut.Shape)
		}
		c, err := m.classValue(vals[0])
		if err != nil {
			return model.Prediction{}, fmt.Errorf("output %q: %w", classOut.Name, err)
		}
		class = &c
	}
	if probOut != nil {
		vals, err := outputValues(*probOut)
		if err != nil {
			return model.Prediction{}, err
		}
		p, err := probValue(vals)
		if err != nil {
			return model.Prediction{}, fmt.Errorf("output %q has shape %v: %w", probOut.Name, probOut.Shape, err)
		}
		prob = &p
	}
	return m.prediction(class, prob), nil
}

func isFloatType(dt string) bool {
	return dt == "FP16" || dt == "FP32" || dt == "FP64" || dt == "BF16"
}

// outputValues flattens an output's data and checks it against its shape.
func outputValues(o oipOutput) ([]any, error) {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(o.Data))
	dec.UseNumber()
	if len(o.Data) == 0 {
		return nil, fmt.Errorf("output %q has no data", o.Name)
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("output %q: decode data: %w", o.Name, err)
	}
	var flat []any
	var walk func(v any)
	walk = func(v any) {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				walk(e)
			}
			return
		}
		flat = append(flat, v)
	}
	walk(raw)
	if len(o.Shape) > 0 {
		n := int64(1)
		for _, d := range o.Shape {
			if d < 0 {
				return nil, fmt.Errorf("output %q has a negative dimension in shape %v", o.Name, o.Shape)
			}
			n *= d
		}
		if n != int64(len(flat)) {
			return nil, fmt.Errorf("output %q has shape %v but %d data elements", o.Name, o.Shape, len(flat))
		}
		if len(o.Shape) > 2 || (len(o.Shape) == 2 && o.Shape[0] != 1) {
			return nil, fmt.Errorf("output %q has shape %v: want [1], [2], [1,1] or [1,2] for one row", o.Name, o.Shape)
		}
	}
	return flat, nil
}

// probValue reads the positive-class probability from one element (the
// positive class's probability) or two (both classes'; the second is the
// positive class's).
func probValue(vals []any) (float64, error) {
	var v any
	switch len(vals) {
	case 1:
		v = vals[0]
	case 2:
		v = vals[1]
	default:
		return 0, fmt.Errorf("want 1 probability or 2 class probabilities, got %d values", len(vals))
	}
	p, ok := number(v)
	if !ok {
		return 0, fmt.Errorf("probability %v is not a number", v)
	}
	if p < 0 || p > 1 || math.IsNaN(p) {
		return 0, fmt.Errorf("probability %v is not in [0, 1]", p)
	}
	return p, nil
}

// classValue reads a class from a number, boolean, numeric string or label
// word.
func (m *Model) classValue(v any) (int, error) {
	if s, ok := v.(string); ok {
		if c, ok := m.labelOf[s]; ok {
			return c, nil
		}
	}
	if b, ok := v.(bool); ok {
		if b {
			return 1, nil
		}
		return 0, nil
	}
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, fmt.Errorf("class %v is neither an integer nor a configured label", v)
	}
	return int(f), nil
}

// number reads a JSON number, numeric string or boolean.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// prediction combines a class and/or a probability. A probability alone
// gives class 1 at or above the threshold; a class alone gives probability
// 1 for class 1 and 0 otherwise (the remote reported no probability).
func (m *Model) prediction(class *int, prob *float64) model.Prediction {
	var p model.Prediction
	switch {
	case class != nil:
		p.Class = *class
		if prob != nil {
			p.Probability = *prob
		} else if p.Class == 1 {
			p.Probability = 1
		}
	case prob != nil:
		p.Probability = *prob
		if p.Probability >= m.cfg.Threshold {
			p.Class = 1
		}
	}
	p.Label = m.cfg.Labels[p.Class]
	if p.Label == "" {
		p.Label = strconv.Itoa(p.Class)
	}
	return p
}
