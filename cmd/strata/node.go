package main

import (
	"flag"

	"github.com/stratadb/strata/internal/cliutil"
	"github.com/stratadb/strata/server"
)

// runNode is `strata node` (server.RunNode).
func runNode(c *cli, args []string) int { return server.RunNode(c.path, args, c.stdout, c.stderr) }

// parseFlags parses args with flags; help prints usage to stdout. It
// returns the exit status to stop with, or -1 to go on.
func parseFlags(c *cli, flags *flag.FlagSet, args []string, synopsis, about, example string) int {
	return cliutil.ParseFlags(c.stdout, c.stderr, c.path, flags, args, synopsis, about, example)
}

// failWith prints err with its category and returns the exit status: 2
// for a usage error or incorrect input, 1 otherwise.
func failWith(c *cli, err error) int { return cliutil.Fail(c.stderr, c.path, err) }
