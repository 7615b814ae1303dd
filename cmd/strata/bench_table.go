package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/stratadb/strata/bench"
)

// ---- bench table ----

// runBenchTable renders `go test -bench` output (a file, or stdin) as the
// per-stratum latency table with ratios, which is what `make bench` prints.
func runBenchTable(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s [FILE]\n\n", c.path)
		fmt.Fprintf(w, "Reads `go test -bench` output from FILE (or stdin, or when FILE is -) and prints\n"+
			"the per-stratum latency table of BenchmarkStratum, BenchmarkStratumCold and\n"+
			"BenchmarkStratumEmulated (package bench): p50/p99/p999 of a block read served by\n"+
			"each stratum, its reference measured in the same loop and their ratio; then the\n"+
			"benchmarks that were skipped or failed, and the ratios the other benchmarks report\n"+
			"(segment codec overhead, io_uring against fio) with issue 2's targets.\n"+
			"A benchmark run several times (-count) shows the median of its runs.\n")
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
	if flags.NArg() > 1 {
		fmt.Fprintf(c.stderr, "%s: one input file at most, have %d (see -h)\n", c.path, flags.NArg())
		return exitUsage
	}
	in, name := io.Reader(os.Stdin), "stdin"
	if path := flags.Arg(0); path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(c.stderr, "%s: %v\n", c.path, err)
			return exitUsage
		}
		defer f.Close()
		in, name = f, path
	}
	out, err := bench.ParseBenchOutput(in)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %s: %v\n", c.path, name, err)
		return exitUsage
	}
	if len(out.Results) == 0 && len(out.Skips) == 0 && len(out.FailedPkgs) == 0 {
		fmt.Fprintf(c.stderr, "%s: %s holds no benchmark results (is it `go test -bench` output?)\n", c.path, name)
		return exitUsage
	}
	if err := bench.WriteStratumTable(c.stdout, out); err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.path, err)
		return exitFailure
	}
	return exitOK
}
