// Package schema declares the gateway's input schema (fields, types, ranges,
// sentinel values meaning "missing") and turns raw JSON objects into validated
// Inputs with field-level errors.
//
// Nothing here is specific to any one model or data set: the Titanic example is
// configuration.
package schema

// Type is the declared type of an input field.
type Type string

// The supported field types.
const (
	TypeInteger Type = "integer"
	TypeNumber  Type = "number"
	TypeString  Type = "string"
	TypeBoolean Type = "boolean"
)

// Input is one validated input record keyed by field name.
//
// Contract for every consumer (feature pipelines, models, recorder):
//   - integer and number fields hold float64;
//   - string fields hold string;
//   - boolean fields hold bool;
//   - a missing value (absent optional field without default, or a configured
//     sentinel such as -1 for age) is present with a nil value.
//
// An Input is never mutated after validation, so it may be shared by the
// goroutines of one request without locking.
type Input map[string]any

// Float returns the numeric value of field name and whether it is present
// and numeric (false for nil, missing or non-numeric values).
func (in Input) Float(name string) (float64, bool) {
	v, ok := in[name].(float64)
	return v, ok
}

// String returns the string value of field name and whether it is present
// and a string.
func (in Input) String(name string) (string, bool) {
	v, ok := in[name].(string)
	return v, ok
}

// FieldError is one problem with one field of a request. Field is a path
// such as "age" or "instances[3].age".
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// Error implements error.
func (e FieldError) Error() string { return e.Field + ": " + e.Problem }
