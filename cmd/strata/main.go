// Command strata is strata's one binary. Today it has
//
//	strata node [flags]
//	strata db create|list|delete [NAME]
//	strata transact --db NAME FILE|-
//	strata q --db NAME [--json|--table] QUERY [ARG…]
//	strata pull --db NAME PATTERN EID
//	strata datoms --db NAME [--index eavt] [COMPONENT…]
//	strata import --db NAME [--format edn|csv] [--map col=:attr,…] [--batch N] FILE|-
//	strata keys create|list|revoke
//	strata bench cache --trace FILE --format lirs|cache2k --capacity N[,N…]
//	strata help [COMMAND…]
//	strata version
//
// and grows a subcommand per feature (node, db, transact, q, …): each is one
// entry of a command table, so adding one is adding a row and a function.
//
// The commands that talk to a node take --endpoint (or STRATA_ENDPOINT;
// default http://127.0.0.1:4334) and --key ID:SECRET (or STRATA_KEY, or a
// line `key = ID:SECRET` in ~/.strata/credentials), and put an error's
// category in its message.
//
// Exit status: 0 on success, 1 when a command fails while running, 2 for a
// usage error (unknown command, bad or missing flag, unreadable or malformed
// input file). Errors go to stderr; stdout carries only a command's output so
// that scripts can read it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/stratadb/strata/bench"
	"github.com/stratadb/strata/internal/cliutil"
)

// Exit statuses.
const (
	exitOK      = cliutil.ExitOK
	exitFailure = cliutil.ExitFailure // the command ran and failed
	exitUsage   = cliutil.ExitUsage   // the command line or its input is wrong
)

// version is the release, set at link time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module's build info is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one row of a command table: a name, a one-line summary for
// help, and either a function that runs it or a table of subcommands.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) int // nil when sub is set
	sub     []command
}

// commands is the top-level table. Keep rows sorted by how often they are
// used, help and version last.
func commands() []command {
	return []command{
		{name: "node", summary: "run a strata node (the embedded default with no flags)", run: runNode},
		{name: "db", summary: "create, list and delete databases", sub: []command{
			{name: "create", summary: "create a database", run: runDBCreate},
			{name: "list", summary: "list the databases", run: runDBList},
			{name: "delete", summary: "delete a database and its data", run: runDBDelete},
		}},
		{name: "transact", summary: "commit EDN transaction data from a file or stdin", run: runTransact},
		{name: "q", summary: "run a query; the result as EDN, JSON or a table", run: runQ},
		{name: "pull", summary: "pull an entity", run: runPull},
		{name: "datoms", summary: "print the datoms of an index", run: runDatoms},
		{name: "import", summary: "load EDN or CSV in pipelined batches, with progress", run: runImport},
		{name: "keys", summary: "create, list and revoke API keys (in the catalog)", sub: []command{
			{name: "create", summary: "make an API key; prints its id and secret", run: runKeysCreate},
			{name: "list", summary: "list the API keys (never their secrets)", run: runKeysList},
			{name: "revoke", summary: "revoke an API key", run: runKeysRevoke},
		}},
		{name: "fleet", summary: "run strata's topologies: on AWS (CloudFormation) or locally", sub: []command{
			{name: "render", summary: "write the CloudFormation templates", run: fleetCfn("render")},
			{name: "validate", summary: "cfn-lint and the security checks of the templates", run: fleetCfn("validate")},
			{name: "up", summary: "create or update a system's stacks", run: fleetCfn("up")},
			{name: "down", summary: "delete a system's compute stacks (and storage, when asked)", run: fleetCfn("down")},
			{name: "status", summary: "show a system's stacks", run: fleetCfn("status")},
			{name: "deploy", summary: "roll a node version over a compute group, one node at a time", run: fleetCfn("deploy")},
			{name: "local", summary: "the production topology as processes on this machine", sub: []command{
				{name: "up", summary: "start a primary group and query groups on 127.0.0.1", run: runFleetLocalUp},
				{name: "down", summary: "stop the fleet", run: runFleetLocalDown},
				{name: "status", summary: "show the fleet's nodes", run: runFleetLocalStatus},
			}},
		}},
		{name: "loadgen", summary: "load a node with a workload at a rate or concurrency; latency percentiles, JSON, PNG", run: runLoadgen},
		{name: "bench", summary: "measure strata", sub: []command{
			{name: "cache", summary: "replay a cache trace: hit ratio of the memory tier's policy, LRU and Bélády's optimal", run: runBenchCache},
			{name: "table", summary: "render `go test -bench` output as the per-stratum latency table with ratios", run: runBenchTable},
			{name: "strata", summary: "run the per-stratum latency suite (in-process, or a node's via --endpoint): one table, --json", run: runBenchStrata},
			{name: "compare", summary: "two runs of bench strata (--json files) side by side, with B/A per row", run: runBenchCompare},
		}},
		{name: "help", summary: "show the commands, or help for one", run: runHelp},
		{name: "version", summary: "print strata's version", run: runVersion},
	}
}

// cli is what a command needs from its invocation.
type cli struct {
	stdout, stderr io.Writer
	path           string // the command's full name, e.g. "strata bench cache"
}

// usageError is a wrong command line; run prints it and exits 2.
type usageError = cliutil.UsageError

func usagef(format string, args ...any) error { return cliutil.Usagef(format, args...) }

// run executes the command line args (without the program name) and returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return dispatch(&cli{stdout: stdout, stderr: stderr, path: "strata"}, commands(), args)
}

func dispatch(c *cli, table []command, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(c.stderr, "%s: missing command\n\n", c.path)
		writeCommandList(c.stderr, c.path, table)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		writeCommandList(c.stdout, c.path, table)
		return exitOK
	}
	cmd, ok := find(table, name)
	if !ok {
		fmt.Fprintf(c.stderr, "%s: unknown command %q\n\n", c.path, name)
		writeCommandList(c.stderr, c.path, table)
		return exitUsage
	}
	sub := &cli{stdout: c.stdout, stderr: c.stderr, path: c.path + " " + cmd.name}
	if cmd.sub != nil {
		return dispatch(sub, cmd.sub, args[1:])
	}
	return cmd.run(sub, args[1:])
}

func find(table []command, name string) (command, bool) {
	for _, cmd := range table {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

func writeCommandList(w io.Writer, path string, table []command) {
	fmt.Fprintf(w, "usage: %s <command> [arguments]\n\ncommands:\n", path)
	width := 0
	for _, cmd := range table {
		width = max(width, len(cmd.name))
	}
	for _, cmd := range table {
		fmt.Fprintf(w, "  %-*s  %s\n", width, cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", path)
}

// ---- help, version ----

func runHelp(c *cli, args []string) int {
	table, path := commands(), "strata"
	for i, name := range args {
		cmd, ok := find(table, name)
		if !ok {
			fmt.Fprintf(c.stderr, "strata help: unknown command %q\n", strings.Join(args[:i+1], " "))
			return exitUsage
		}
		path += " " + name
		if cmd.sub == nil {
			// A leaf: its own -h prints its summary and flags.
			return cmd.run(&cli{stdout: c.stdout, stderr: c.stderr, path: path}, []string{"-h"})
		}
		table = cmd.sub
	}
	writeCommandList(c.stdout, path, table)
	return exitOK
}

func runVersion(c *cli, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(c.stderr, "%s: takes no arguments\n", c.path)
		return exitUsage
	}
	v, rev := version, ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					rev += "+dirty"
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(c.stdout, "strata %s", v)
	if rev != "" {
		fmt.Fprintf(c.stdout, " %s", rev)
	}
	fmt.Fprintf(c.stdout, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// ---- bench cache ----

func runBenchCache(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	trace := flags.String("trace", "", "trace `FILE` to replay (gzip-compressed if it ends in .gz)")
	format := flags.String("format", "", "trace format: lirs (text, one key per line) or cache2k (4-byte big-endian keys)")
	capacities := flags.String("capacity", "", "comma-separated cache `capacities` in entries, e.g. 500,1000")
	policies := flags.String("policies", strings.Join(bench.DefaultPolicies, ","),
		"comma-separated `policies` to replay, of "+strings.Join(bench.KnownPolicies, ", "))
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s --trace FILE --format lirs|cache2k --capacity N[,N…]\n\n", c.path)
		fmt.Fprintf(w, "Replays a block-reference trace and prints, per capacity and policy, one line\n"+
			"  capacity=N policy=NAME hit=NN.NN%%\n"+
			"for the policies memory-tier (otter W-TinyLFU, as the memory tier configures it),\n"+
			"lru and optimal (Bélády's MIN, with bypass); --policies adds wtinylfu (our adaptive\n"+
			"W-TinyLFU, cachetiers.WTinyLFU) or selects others. The hit ratio counts every access,\n"+
			"cold misses included. A summary of the gaps between policies goes to stderr.\n\nflags:\n")
		flags.SetOutput(w)
		flags.PrintDefaults()
	}
	// The flag package would print its error and the usage to stderr itself;
	// this command prints them, so that -h goes to stdout and an error stays short.
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
	if err := benchCache(c, flags, *trace, *format, *capacities, *policies); err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.path, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func benchCache(c *cli, flags *flag.FlagSet, tracePath, formatName, capacityList, policyList string) error {
	if flags.NArg() > 0 {
		return usagef("unexpected argument %q (flags only; see -h)", flags.Arg(0))
	}
	if tracePath == "" {
		return usagef("--trace is required")
	}
	if formatName == "" {
		return usagef("--format is required (lirs or cache2k)")
	}
	format, err := bench.ParseTraceFormat(formatName)
	if err != nil {
		return usagef("--format: unknown format %q (want lirs or cache2k)", formatName)
	}
	if capacityList == "" {
		return usagef("--capacity is required (entries, e.g. --capacity 500,1000)")
	}
	capacities, err := parseCapacities(capacityList)
	if err != nil {
		return err
	}
	var policies []string
	for _, name := range strings.Split(policyList, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(bench.KnownPolicies, name) {
			return usagef("--policies: unknown policy %q (want some of %s)", name, strings.Join(bench.KnownPolicies, ","))
		}
		policies = append(policies, name)
	}
	keys, err := bench.ReadTraceFile(tracePath, format, 0)
	if err != nil {
		// Unreadable or malformed input is a usage error: the caller must fix the command line or the file.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return usagef("--trace: cannot %s %s: %v", pe.Op, pe.Path, pe.Err)
		}
		return usagef("--trace: %v", err)
	}
	results, err := bench.SimulateCachePolicies(keys, capacities, policies)
	if err != nil {
		return err
	}
	for _, r := range results {
		if _, err := fmt.Fprintln(c.stdout, r); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.stderr, "%s: %d accesses\n", tracePath, len(keys))
	return bench.WriteCacheGaps(c.stderr, results)
}

// parseCapacities parses "N[,N…]" into positive entry counts.
func parseCapacities(s string) ([]int, error) {
	var out []int
	for _, field := range strings.Split(s, ",") {
		field = strings.TrimSpace(field)
		n, err := strconv.Atoi(field)
		switch {
		case err != nil:
			return nil, usagef("--capacity: %q is not a number (want positive entry counts, e.g. 500,1000)", field)
		case n < 1:
			return nil, usagef("--capacity: %d is not a positive number of entries", n)
		case n > bench.CapacityMax:
			return nil, usagef("--capacity: %d exceeds the maximum of %d entries", n, bench.CapacityMax)
		}
		out = append(out, n)
	}
	return out, nil
}
