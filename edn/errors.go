package edn

import (
	"strconv"

	"github.com/stratadb/strata/anomaly"
)

// SyntaxError is the error of every read that fails because of the input:
// bad syntax, a value EDN forbids (a duplicate set element or map key, an
// invalid #inst), an input or a nesting beyond the configured limits, or a
// tag handler's error (then Err is that error).
//
// It matches anomaly.Incorrect with errors.Is, and anomaly.CategoryOf
// returns Incorrect for it: the input is the caller's.
type SyntaxError struct {
	Line   int    // 1-based line of the problem
	Column int    // 1-based column, counted in UTF-8 characters (runes), not bytes
	Offset int64  // byte offset of the problem from the start of the input (or stream)
	Msg    string // what was wrong and what was expected
	Err    error  // the cause, e.g. a tag handler's error; may be nil
}

// Error returns e.g. "edn: line 3, column 14: unterminated string starting at line 3, column 5".
func (e *SyntaxError) Error() string {
	b := make([]byte, 0, 32+len(e.Msg))
	b = append(b, "edn: line "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, ", column "...)
	b = strconv.AppendInt(b, int64(e.Column), 10)
	b = append(b, ": "...)
	b = append(b, e.Msg...)
	return string(b)
}

// Is reports true for anomaly.Incorrect.
func (e *SyntaxError) Is(target error) bool { return target == anomaly.Incorrect }

// As sets a *anomaly.Category target to anomaly.Incorrect, so that
// anomaly.CategoryOf classifies a SyntaxError as the caller's mistake.
func (e *SyntaxError) As(target any) bool {
	if c, ok := target.(*anomaly.Category); ok {
		*c = anomaly.Incorrect
		return true
	}
	return false
}

// Unwrap returns the cause, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }

// marshalError reports a value Marshal cannot print: category anomaly.Incorrect.
func marshalError(format string, args ...any) error {
	return anomaly.New(anomaly.Incorrect, "edn marshal", format, args...)
}
