// Package anomaly gives every strata error a category that a caller can branch on.
//
// The categories are the ones users of Datomic's programming model know:
// unavailable, interrupted and busy are retryable; incorrect, forbidden,
// unsupported, not-found, conflict and fault are not.
//
// A Category is itself an error value, so callers match with errors.Is:
//
//	if errors.Is(err, anomaly.Unavailable) { retry() }
//
// Errors made here wrap their cause with %w semantics, so errors.Is and
// errors.As also see through to sentinel errors such as segment.ErrCorrupt.
// Everything in this package is safe for concurrent use.
package anomaly

import (
	"context"
	"errors"
	"fmt"
)

// Category classifies an error. The zero value is not a category.
type Category uint8

const (
	_ Category = iota
	// Unavailable: a dependency (store, log, network peer) could not be reached. Retryable.
	Unavailable
	// Interrupted: the operation was cancelled or timed out before it finished. Retryable.
	Interrupted
	// Busy: a bounded resource (queue, concurrency limit) is full. Retryable after backoff.
	Busy
	// Incorrect: the caller's input is wrong. Not retryable.
	Incorrect
	// Forbidden: the caller may not do this. Not retryable.
	Forbidden
	// Unsupported: the operation or feature is not supported here. Not retryable.
	Unsupported
	// NotFound: the named thing does not exist. Not retryable.
	NotFound
	// Conflict: the operation lost a race or violates a uniqueness rule. Not retryable as is.
	Conflict
	// Fault: something broke inside strata (corruption, a bug). Not retryable.
	Fault
)

var names = [...]string{
	Unavailable: "unavailable",
	Interrupted: "interrupted",
	Busy:        "busy",
	Incorrect:   "incorrect",
	Forbidden:   "forbidden",
	Unsupported: "unsupported",
	NotFound:    "not-found",
	Conflict:    "conflict",
	Fault:       "fault",
}

// String returns the category's name, e.g. "not-found".
func (c Category) String() string {
	if int(c) < len(names) && names[c] != "" {
		return names[c]
	}
	return fmt.Sprintf("category(%d)", uint8(c))
}

// Error makes a Category usable as an errors.Is target.
func (c Category) Error() string { return c.String() }

// Retryable reports whether an operation that failed with c may succeed if retried.
func (c Category) Retryable() bool {
	return c == Unavailable || c == Interrupted || c == Busy
}

// Parse returns the category named s, as printed by String.
func Parse(s string) (Category, bool) {
	for i, n := range names {
		if n == s && n != "" {
			return Category(i), true
		}
	}
	return 0, false
}

// Error is an error with a category, the operation that failed and an optional cause.
type Error struct {
	Category Category
	Op       string // what was being done, e.g. "store get 7f3a…"
	Msg      string // what went wrong, in words
	Err      error  // the cause, may be nil
}

func (e *Error) Error() string {
	s := e.Category.String()
	if e.Op != "" {
		s += ": " + e.Op
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches a Category target against the error's category.
func (e *Error) Is(target error) bool {
	c, ok := target.(Category)
	return ok && c == e.Category
}

// New returns an error of category c for operation op with a formatted message.
func New(c Category, op, format string, args ...any) error {
	return &Error{Category: c, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns err with category c and operation op. It returns nil if err is nil.
func Wrap(c Category, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Category: c, Op: op, Err: err}
}

// CategoryOf returns the category of err: the outermost *Error's category,
// Interrupted for context errors, and Fault for any other non-nil error.
// It returns 0 for a nil error.
func CategoryOf(err error) Category {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Category
	}
	var c Category
	if errors.As(err, &c) {
		return c
	}
	// An error type that says its category through an Is method.
	for c := Unavailable; c <= Fault; c++ {
		if errors.Is(err, c) {
			return c
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Interrupted
	}
	return Fault
}
