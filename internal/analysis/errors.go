package analysis

import "errors"

// Sentinel errors of the package. Errors of the statistics, the drift engine
// and Compare wrap one of them; ReadCSV and the store scans return the
// underlying parse or store error with context.
var (
	// ErrEmptySample: a statistic needs at least one value on each side.
	ErrEmptySample = errors.New("empty sample")
	// ErrNaN: a NaN reached a function that needs the caller to drop them.
	ErrNaN = errors.New("NaN in sample")
	// ErrLengthMismatch: paired inputs of different lengths.
	ErrLengthMismatch = errors.New("length mismatch")
	// ErrInvalidInput: negative counts or weights, probabilities outside
	// [0, 1], labels other than 0/1, a table with an empty row or column.
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnknownMethod: a drift method or KS mode that does not exist.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrMethodNotApplicable: a method that cannot run on that column type.
	ErrMethodNotApplicable = errors.New("method not applicable to column")
	// ErrUnknownColumn: a requested column is absent.
	ErrUnknownColumn = errors.New("unknown column")
	// ErrUnknownModel: Compare was asked about a model never seen, or about
	// the production model itself.
	ErrUnknownModel = errors.New("unknown model")
)
