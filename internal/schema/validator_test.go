package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr(f float64) *float64 { return &f }

// titanicFields mirrors the example configuration's schema.
func titanicFields() []Field {
	return []Field{
		{Name: "pclass", Type: TypeInteger, Required: true, Allowed: []any{1, 2, 3}},
		{Name: "sex", Type: TypeString, Required: true, Allowed: []any{"male", "female"}},
		{Name: "age", Type: TypeNumber, Min: ptr(0), Max: ptr(120), Missing: []any{-1}},
		{Name: "sibsp", Type: TypeInteger, Required: true, Min: ptr(0), Max: ptr(20)},
		{Name: "parch", Type: TypeInteger, Required: true, Min: ptr(0), Max: ptr(20)},
		{Name: "fare", Type: TypeNumber, Min: ptr(0), Max: ptr(10000), Missing: []any{-1}},
		{Name: "embarked", Type: TypeString, Allowed: []any{"S", "C", "Q"}},
		{Name: "vip", Type: TypeBoolean, Default: false},
	}
}

func mustNew(t *testing.T, opts Options) *Validator {
	t.Helper()
	v, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidator_ValidateJSON(t *testing.T) {
	v := mustNew(t, Options{Fields: titanicFields()})
	tests := []struct {
		name string
		body string
		want Input
		errs []FieldError
	}{
		{
			name: "complete valid input",
			body: `{"pclass":3,"sex":"male","age":22,"sibsp":1,"parch":0,"fare":7.25,"embarked":"S","vip":true}`,
			want: Input{"pclass": 3.0, "sex": "male", "age": 22.0, "sibsp": 1.0, "parch": 0.0, "fare": 7.25, "embarked": "S", "vip": true},
		},
		{
			name: "sentinels and absent optional fields become nil, defaults apply",
			body: `{"pclass":1,"sex":"female","age":-1,"sibsp":0,"parch":0,"fare":-1}`,
			want: Input{"pclass": 1.0, "sex": "female", "age": nil, "sibsp": 0.0, "parch": 0.0, "fare": nil, "embarked": nil, "vip": false},
		},
		{
			name: "null is treated as absent",
			body: `{"pclass":2,"sex":"male","age":null,"sibsp":0,"parch":0,"vip":null}`,
			want: Input{"pclass": 2.0, "sex": "male", "age": nil, "sibsp": 0.0, "parch": 0.0, "fare": nil, "embarked": nil, "vip": false},
		},
		{
			name: "integral float is an integer",
			body: `{"pclass":3.0,"sex":"male","sibsp":0,"parch":2.0}`,
			want: Input{"pclass": 3.0, "sex": "male", "age": nil, "sibsp": 0.0, "parch": 2.0, "fare": nil, "embarked": nil, "vip": false},
		},
		{
			name: "every problem is listed in declaration order, unknown fields last",
			body: `{"pclass":4,"age":"abc","sibsp":2.5,"parch":-3,"fare":20000,"embarked":"X","vip":"yes","zeta":1,"alpha":2}`,
			errs: []FieldError{
				{"pclass", "must be one of 1, 2, 3, got 4"},
				{"sex", "required"},
				{"age", `must be a number between 0 and 120, got "abc"`},
				{"sibsp", "must be an integer between 0 and 20, got 2.5"},
				{"parch", "must be an integer between 0 and 20, got -3"},
				{"fare", "must be a number between 0 and 10000, got 20000"},
				{"embarked", `must be one of S, C, Q, got "X"`},
				{"vip", `must be true or false, got "yes"`},
				{"alpha", "unknown field"},
				{"zeta", "unknown field"},
			},
		},
		{
			name: "wrong JSON types are named",
			body: `{"pclass":"3","sex":1,"sibsp":[],"parch":{}}`,
			errs: []FieldError{
				{"pclass", `must be one of 1, 2, 3, got "3"`},
				{"sex", "must be one of male, female, got 1"},
				{"sibsp", "must be an integer between 0 and 20, got an array"},
				{"parch", "must be an integer between 0 and 20, got an object"},
			},
		},
		{
			name: "not an object",
			body: `[1,2]`,
			errs: []FieldError{{"body", "must be a JSON object, got an array"}},
		},
		{
			name: "malformed JSON names the offset",
			body: `{"pclass":3,}`,
			errs: []FieldError{{"body", "malformed JSON at byte offset 12: invalid character '}' looking for beginning of object key string"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := v.ValidateJSON([]byte(tt.body))
			if !reflect.DeepEqual(errs, tt.errs) {
				t.Fatalf("errors:\n got %q\nwant %q", errs, tt.errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("input:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestValidator_PrefixesBatchPaths(t *testing.T) {
	v := mustNew(t, Options{Fields: titanicFields()})
	_, errs := v.Validate(map[string]any{"pclass": 3, "sex": "male", "sibsp": 0}, "instances[7].")
	want := []FieldError{{"instances[7].parch", "required"}}
	if !reflect.DeepEqual(errs, want) {
		t.Fatalf("got %q, want %q", errs, want)
	}
}

func TestValidator_AllowUnknownDropsUndeclaredFields(t *testing.T) {
	v := mustNew(t, Options{Fields: titanicFields()[:2], AllowUnknown: true})
	in, errs := v.ValidateJSON([]byte(`{"pclass":1,"sex":"male","cabin":"C85"}`))
	if errs != nil {
		t.Fatal(errs)
	}
	if _, ok := in["cabin"]; ok || len(in) != 2 {
		t.Fatalf("undeclared field kept: %v", in)
	}
}

func TestDecodeJSON_SyntaxErrorsNameTheOffset(t *testing.T) {
	tests := []struct {
		body   string
		offset int64
		msg    string
	}{
		{``, 0, "empty body"},
		{`{"a":`, 5, "unexpected end of input"},
		{`{"a":1} {"b":2}`, 8, "unexpected data after the JSON value"},
		{`{"a":tru}`, 8, "invalid character"},
	}
	for _, tt := range tests {
		_, err := DecodeJSON([]byte(tt.body))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("%q: got %v, want *SyntaxError", tt.body, err)
		}
		if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("%q: got offset %d %q, want %d %q", tt.body, se.Offset, se.Msg, tt.offset, tt.msg)
		}
	}
}

func TestNew_ReportsEveryDeclarationProblem(t *testing.T) {
	_, err := New(Options{Fields: []Field{
		{Name: "age", Type: "flaot"},
		{Name: "age", Type: TypeNumber, Min: ptr(10), Max: ptr(1)},
		{Name: "2bad", Type: TypeString, Min: ptr(0), Allowed: []any{"a", 3}},
		{Name: "n", Type: TypeInteger, Required: true, Default: 1.5, Missing: []any{"x"}},
		{Name: "m", Type: TypeNumber, Default: 500, Max: ptr(100)},
	}})
	if !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{
		`fields[0].type: unknown type "flaot" (want integer, number, string, boolean)`,
		`fields[1].max: must be >= min (10), got 1`,
		`fields[1].name: "age" already declared by fields[0]`,
		`fields[2].name: must match`,
		`fields[2].allowed[1]: must be a string, got 3`,
		`fields[2].min: only integer and number fields take a range`,
		`fields[3].missing[0]: must be an integer, got "x"`,
		`fields[3].default: a required field cannot have a default`,
		`fields[3].default: must be an integer, got 1.5`,
		`fields[4].default: must be a number <= 100, got 500`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
}
