package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stratadb/strata/fleet/cfn"
	"github.com/stratadb/strata/fleet/local"
)

// fleetCfn runs a subcommand of strata fleet on AWS (fleet/cfn.RunFleet).
func fleetCfn(name string) func(c *cli, args []string) int {
	return func(c *cli, args []string) int {
		return cfn.RunFleet(strings.TrimSuffix(c.path, " "+name), append([]string{name}, args...), c.stdout, c.stderr)
	}
}

// queryGroups is --query-group NAME=N, repeatable.
type queryGroups map[string]int

func (q queryGroups) String() string { return fmt.Sprint(map[string]int(q)) }

func (q queryGroups) Set(s string) error {
	name, n, ok := strings.Cut(s, "=")
	count, err := strconv.Atoi(n)
	if !ok || name == "" || err != nil || count < 1 {
		return fmt.Errorf("%q: want NAME=N, e.g. analytics=1", s)
	}
	q[name] = count
	return nil
}

func runFleetLocalUp(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	dir := flags.String("dir", "strata-fleet", "the fleet's `dir`ectory: shared data, each node's SSD tier and log, fleet.json")
	primary := flags.Int("primary", 2, "primary `nodes`")
	groups := queryGroups{}
	flags.Var(groups, "query-group", "a query group, `NAME=N` nodes (repeatable)")
	lease := flags.Duration("lease-ttl", 0, "the nodes' writer lease (default the node's, 10s)")
	var st local.Storage
	flags.StringVar(&st.DynamoTable, "dynamodb-table", "", "share a DynamoDB `table` (with --s3-bucket) instead of files")
	flags.StringVar(&st.DynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB `url` (DynamoDB Local)")
	flags.BoolVar(&st.CreateTable, "create-table", false, "create the table if it is missing")
	flags.StringVar(&st.S3Bucket, "s3-bucket", "", "S3 `bucket` for segments")
	flags.StringVar(&st.S3Prefix, "s3-prefix", "", "key `prefix`, ending in /")
	flags.StringVar(&st.S3Endpoint, "s3-endpoint", "", "S3 `url` (MinIO)")
	flags.StringVar(&st.Region, "region", "", "AWS `region`")
	if code := parseFlags(c, flags, args, "[--dir DIR] [--primary N] [--query-group NAME=N …] [storage flags]",
		"Starts strata's production topology on this machine: a primary group and query groups as\n"+
			"`strata node` processes on 127.0.0.1, sharing files under --dir (or the DynamoDB table and S3\n"+
			"bucket given, e.g. DynamoDB Local and MinIO). Writes sent to any node reach the database's\n"+
			"writer; a query-group node serves reads from its own caches. Prints each node's endpoint.",
		"strata fleet local up --primary 2 --query-group analytics=1"); code >= 0 {
		return code
	}
	if flags.NArg() > 0 {
		return failWith(c, usagef("unexpected argument %q (flags only; see -h)", flags.Arg(0)))
	}
	bin, err := os.Executable()
	if err != nil {
		return failWith(c, err)
	}
	s, err := local.Up(context.Background(), local.Spec{Dir: *dir, Binary: bin, Primary: *primary, QueryGroups: groups, Storage: st, LeaseTTL: *lease})
	if err != nil {
		return failWith(c, err)
	}
	for _, m := range s.Members {
		fmt.Fprintf(c.stdout, "%-14s %-10s %s  pid %d  log %s\n", m.Name, m.Group, m.Endpoint(), m.PID, m.Log)
	}
	fmt.Fprintf(c.stdout, "try: STRATA_ENDPOINT=%s strata db create demo\n", s.Members[0].Endpoint())
	return exitOK
}

func runFleetLocalDown(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	dir := flags.String("dir", "strata-fleet", "the fleet's `dir`ectory")
	grace := flags.Duration("grace", 30*time.Second, "how long nodes get to finish their requests before SIGKILL")
	if code := parseFlags(c, flags, args, "[--dir DIR]",
		"Stops the fleet in --dir: SIGTERM to each node (it finishes its requests), SIGKILL after --grace.\n"+
			"The data stays in --dir.", "strata fleet local down"); code >= 0 {
		return code
	}
	if err := local.Down(*dir, *grace); err != nil {
		return failWith(c, err)
	}
	fmt.Fprintf(c.stdout, "fleet in %s stopped\n", *dir)
	return exitOK
}

func runFleetLocalStatus(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	dir := flags.String("dir", "strata-fleet", "the fleet's `dir`ectory")
	if code := parseFlags(c, flags, args, "[--dir DIR]",
		"Shows each node of the fleet in --dir: its process and whether it answers /ready.", "strata fleet local status"); code >= 0 {
		return code
	}
	sts, err := local.Status(context.Background(), *dir)
	if err != nil {
		return failWith(c, err)
	}
	down := 0
	for _, m := range sts {
		state := "ready"
		switch {
		case !m.Alive:
			state, down = "down", down+1
		case !m.Ready:
			state, down = "not ready", down+1
		}
		fmt.Fprintf(c.stdout, "%-14s %-10s %s  pid %d  %s\n", m.Name, m.Group, m.Endpoint(), m.PID, state)
	}
	if down > 0 {
		return exitFailure
	}
	return exitOK
}
