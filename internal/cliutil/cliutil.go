// Package cliutil holds what strata's commands share: exit statuses,
// usage errors, flag parsing with help on stdout, and error reporting with
// the error's category.
package cliutil

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/stratadb/strata/anomaly"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed
	ExitUsage   = 2 // the command line or its input is wrong
)

// UsageError is a wrong command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// ParseFlags parses args with flags for the command named path; -h prints
// the usage (synopsis, about, an example and the flags) to stdout, a bad
// flag a short error to stderr. It returns the exit status to stop with,
// or -1 to go on.
func ParseFlags(stdout, stderr io.Writer, path string, flags *flag.FlagSet, args []string, synopsis, about, example string) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s %s\n\n%s\n", path, synopsis, about)
		if example != "" {
			fmt.Fprintf(w, "\nexample:\n  %s\n", example)
		}
		fmt.Fprintf(w, "\nflags:\n")
		flags.SetOutput(w)
		flags.PrintDefaults()
		flags.SetOutput(io.Discard)
	}
	flags.SetOutput(io.Discard)
	flags.Usage = func() {}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return ExitOK
		}
		fmt.Fprintf(stderr, "%s: %v (see -h)\n", path, err)
		return ExitUsage
	}
	return -1
}

// Fail prints err for the command named path, with its category, and
// returns the exit status: 2 for a usage error or incorrect input, 1
// otherwise.
func Fail(stderr io.Writer, path string, err error) int {
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return ExitUsage
	}
	cat := anomaly.CategoryOf(err)
	msg := err.Error()
	if !strings.HasPrefix(msg, cat.String()+":") {
		msg = cat.String() + ": " + msg
	}
	fmt.Fprintf(stderr, "%s: %s\n", path, msg)
	if cat == anomaly.Incorrect {
		return ExitUsage
	}
	return ExitFailure
}
