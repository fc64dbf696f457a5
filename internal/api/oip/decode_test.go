package oip

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestServer_StrictInputIs400NamingTheKey(t *testing.T) {
	f := newFixture(t, threeModels())
	sex := `{"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]}`
	for _, tc := range []struct{ name, body, want string }{
		{"duplicate top-level key", `{"id": "a", "inputs": [` + sex + `], "id": "b"}`, `duplicate key "id"`},
		{"duplicate key in a tensor", `{"inputs": [{"name": "pclass", "name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]}]}`, `duplicate key "inputs[0].name"`},
		{"duplicate parameter", `{"inputs": [` + sex + `], "parameters": {"x": 1, "x": 2}}`, `duplicate key "parameters.x"`},
		{"invalid UTF-8", "{\"inputs\": [{\"name\": \"sex\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"m\xffle\"]}]}", "invalid UTF-8 at byte offset 74"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := f.do(t, "POST", "/v2/models/prod-rule/infer", tc.body)
			var e specError
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %s is not {\"error\": ...}", b)
			}
			if code != 400 || !strings.Contains(e.Error, tc.want) {
				t.Errorf("status %d error %q, want 400 mentioning %q", code, e.Error, tc.want)
			}
		})
	}
	if n := len(f.records(t)); n != 0 {
		t.Errorf("%d bad requests were routed", n)
	}
}

// FuzzDecodeInferRequest feeds arbitrary bodies through the OIP request
// decoder and row builder. Invariants: no panic; a rejected body names each
// problem's field; an accepted body yields 1 to MaxBatch validated rows
// whose inputs validate again to the same values (round trip through the
// schema).
func FuzzDecodeInferRequest(f *testing.F) {
	for _, s := range []string{
		onePassenger,
		`{"inputs": [{"name": "pclass", "shape": [2], "datatype": "INT64", "data": [1, 3]}, {"name": "sex", "shape": [2, 1], "datatype": "BYTES", "data": [["male"], ["female"]]}]}`,
		`{"inputs": [{"name": "pclass", "shape": [1], "datatype": "INT64", "data": [1]}, {"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]}], "outputs": [{"name": "probability"}]}`,
		`{"inputs": [{"name": "x", "name": "y"}]}`,
		`{"inputs": [{"name": "pclass", "shape": [-1], "datatype": "INT64", "data": [1]}]}`,
		`{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [1e400]}]}`,
		`{"inputs": []}`, `{}`, `[]`, `null`, "{\"id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	s, err := New(Params{Gateway: newGateway(f, threeModels(), nil), MaxBatch: 8})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req inferRequest
		if err := json.Unmarshal(body, &req); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		rows, problems := s.decodeRows(req.Inputs)
		if len(problems) > 0 {
			for _, p := range problems {
				if p.Field == "" || p.Problem == "" {
					t.Fatalf("%q: problem without a field or text: %+v", body, p)
				}
			}
			return
		}
		if len(rows) < 1 || len(rows) > 8 {
			t.Fatalf("%q: %d rows accepted", body, len(rows))
		}
		for _, row := range rows {
			raw := make(map[string]any, len(row.in))
			for k, v := range row.in {
				raw[k] = v
			}
			again, errs := s.gw.Validator().Validate(raw, "")
			if errs != nil {
				t.Fatalf("%q: accepted row %v does not validate again: %v", body, row.in, errs)
			}
			for k, v := range row.in {
				if v != nil && again[k] != v {
					t.Fatalf("%q: field %s: %v became %v", body, k, v, again[k])
				}
			}
		}
	})
}
