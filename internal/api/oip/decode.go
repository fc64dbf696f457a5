package oip

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// numericTypes are the OIP datatypes accepted for numeric fields.
var numericTypes = map[string]bool{
	"UINT8": true, "UINT16": true, "UINT32": true, "UINT64": true,
	"INT8": true, "INT16": true, "INT32": true, "INT64": true,
	"FP16": true, "FP32": true, "FP64": true, "BF16": true,
}

// UnmarshalJSON decodes an inference request strictly: on top of
// encoding/json's grammar, a key given twice in one object
// (*schema.DuplicateKeyError naming its path, e.g. "inputs[0].name") and
// invalid UTF-8 (*schema.InvalidUTF8Error), which encoding/json would let
// through (last value wins, U+FFFD), are errors. The handler answers them
// 400 like any other undecodable request.
func (r *inferRequest) UnmarshalJSON(b []byte) error {
	if err := schema.CheckStrict(b); err != nil {
		return err
	}
	type plain inferRequest // without this method
	return json.Unmarshal(b, (*plain)(r))
}

// decodeRows turns the request's tensors (one per schema field, shape [N] or
// [N,1]) into N validated rows. Every problem is reported, each with a path
// into the request ("inputs[1].shape") or, from the schema, the field name
// (prefixed "row[j]." when N > 1).
func (s *Server) decodeRows(inputs []requestInput) ([]row, []schema.FieldError) {
	if len(inputs) == 0 {
		return nil, []schema.FieldError{{Field: "inputs", Problem: "at least one input tensor is required"}}
	}
	var problems []schema.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, schema.FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	n := -1
	cols := make(map[string][]any, len(inputs))
	for i, t := range inputs {
		at := fmt.Sprintf("inputs[%d]", i)
		switch {
		case t.Name == "":
			bad(at+".name", "required")
			continue
		case cols[t.Name] != nil:
			bad(at+".name", "tensor %q given twice", t.Name)
			continue
		}
		if !(len(t.Shape) == 1 || (len(t.Shape) == 2 && t.Shape[1] == 1)) {
			bad(at+".shape", "tensor %q has shape %v: want [N] or [N, 1] (one value per row)", t.Name, t.Shape)
			continue
		}
		rows := t.Shape[0]
		if rows < 1 || rows > int64(s.p.MaxBatch) {
			bad(at+".shape", "tensor %q has %d rows: want 1 to %d", t.Name, rows, s.p.MaxBatch)
			continue
		}
		if n >= 0 && rows != int64(n) {
			bad(at+".shape", "tensor %q has %d rows but earlier tensors have %d", t.Name, rows, n)
			continue
		}
		n = int(rows)
		if t.Datatype != "BYTES" && t.Datatype != "BOOL" && !numericTypes[t.Datatype] {
			bad(at+".datatype", "unknown datatype %q", t.Datatype)
			continue
		}
		vals, err := flatten(t.Data)
		if err != nil {
			bad(at+".data", "%v", err)
			continue
		}
		if len(vals) != n {
			bad(at+".data", "tensor %q has %d elements for shape %v", t.Name, len(vals), t.Shape)
			continue
		}
		ok := true
		for j, v := range vals {
			if v == nil {
				continue // missing
			}
			var good bool
			switch v.(type) {
			case string:
				good = t.Datatype == "BYTES"
			case bool:
				good = t.Datatype == "BOOL"
			case json.Number:
				good = numericTypes[t.Datatype]
			}
			if !good {
				bad(fmt.Sprintf("%s.data[%d]", at, j), "%s is not a %s element", describe(v), t.Datatype)
				ok = false
				break
			}
		}
		if ok {
			cols[t.Name] = vals
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	rows := make([]row, n)
	for j := range rows {
		raw := make(map[string]any, len(cols))
		for name, vals := range cols {
			raw[name] = vals[j]
		}
		prefix := ""
		if n > 1 {
			prefix = fmt.Sprintf("row[%d].", j)
		}
		in, errs := s.gw.Validator().Validate(raw, prefix)
		problems = append(problems, errs...)
		rows[j].in = in
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return rows, nil
}

// flatten decodes tensor data (flat or nested, row-major) into its elements.
func flatten(data json.RawMessage) ([]any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("required")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode: %v", err)
	}
	top, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want an array, got %s", describe(v))
	}
	var out []any
	var walk func(a []any)
	walk = func(a []any) {
		for _, e := range a {
			if sub, ok := e.([]any); ok {
				walk(sub)
				continue
			}
			out = append(out, e)
		}
	}
	walk(top)
	return out, nil
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case json.Number:
		return "number " + v.String()
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
