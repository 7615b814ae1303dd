package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/server"
)

// runNode is `strata node` (server.RunNode).
func runNode(c *cli, args []string) int { return server.RunNode(c.path, args, c.stdout, c.stderr) }

// parseFlags parses args with flags; help prints usage to stdout. It
// returns the exit status to stop with, or -1 to go on.
func parseFlags(c *cli, flags *flag.FlagSet, args []string, synopsis, about, example string) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s %s\n\n%s\n", c.path, synopsis, about)
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
			usage(c.stdout)
			return exitOK
		}
		fmt.Fprintf(c.stderr, "%s: %v (see -h)\n", c.path, err)
		return exitUsage
	}
	return -1
}

// fail prints err with its category and returns the exit status: 2 for
// incorrect input, 1 otherwise.
func failWith(c *cli, err error) int {
	cat := anomaly.CategoryOf(err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.path, err)
		return exitUsage
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, cat.String()+":") {
		msg = cat.String() + ": " + msg
	}
	fmt.Fprintf(c.stderr, "%s: %s\n", c.path, msg)
	if cat == anomaly.Incorrect {
		return exitUsage
	}
	return exitFailure
}
