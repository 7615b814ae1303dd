package main

// strata loadgen: a workload against a live node, measured (package
// loadgen).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/stratadb/strata/client"
	"github.com/stratadb/strata/loadgen"
)

// Defaults of strata loadgen's flags.
const (
	defaultLoadgenWarmup   = 5 * time.Second
	defaultLoadgenDuration = 30 * time.Second
	// maxLoadgenConns bounds the idle connections kept to the node.
	maxLoadgenConns = 4096
)

func runLoadgen(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	retries := flags.Int("retries", 0, "retries of a failed request (busy, unavailable); 0 counts every failure as it happens")
	db := flags.String("db", loadgen.DefaultDB, "the database's `name`")
	setup := flags.Bool("setup", true, "create the database, the schema and the --entities that are missing (false: use the database as it is)")
	entities := flags.Int("entities", loadgen.DefaultEntities, "`N` entities (keys 0 to N-1) that reads, writes and the default query choose from")
	workload := flags.String("workload", "read", "read (pull by id), query, write (small transactions), import (batches of new entities) or mixed (see --mix)")
	mixFlag := flags.String("mix", "", "the mixed workload's `weights`, e.g. read=8,write=2 (the default) or read=6,query=3,write=1")
	distFlag := flags.String("dist", "uniform", "key `distribution`: uniform, zipf[:S] (S > 1, default 1.1) or hot[:X/Y] (X% of requests on Y% of keys, default 90/10)")
	rate := flags.Float64("rate", 0, "target `requests/s`, all operations together: an open loop (0: a closed loop of --concurrency workers)")
	concurrency := flags.Int("concurrency", loadgen.DefaultConcurrency, "closed loop: `workers`, each sending when its last request is answered")
	maxOut := flags.Int("max-outstanding", loadgen.DefaultMaxOutstanding, "open loop: at most `N` requests in flight; the ones due past it are dropped and counted")
	warmup := flags.Duration("warmup", defaultLoadgenWarmup, "run this long first, unrecorded")
	duration := flags.Duration("duration", defaultLoadgenDuration, "measure this long after the warm-up")
	pattern := flags.String("pattern", loadgen.DefaultPattern, "reads' pull `pattern`")
	query := flags.String("query", loadgen.DefaultQuery, "the query workload's `query`; its inputs after $ are one parameter set")
	params := flags.String("params", "", "a `query` whose result is the parameter sets the query draws from (default: the keys 0 to N-1)")
	ids := flags.String("ids", "", "a `query` whose result is the entity ids reads pull, [:find [?e ...] …] (default: the loadgen entities)")
	txSize := flags.Int("tx-size", loadgen.DefaultTxSize, "write: `datoms` per transaction")
	batch := flags.Int("batch", loadgen.DefaultBatch, "import: new `entities` per transaction")
	jsonPath := flags.String("json", "", "write the full result (percentile spectrum, timeline) as JSON to `FILE`")
	pngPath := flags.String("png", "", "draw latency over time and the percentile spectrum as a PNG to `FILE`")
	seed := flags.Uint64("seed", 0, "seed of the choice of operations and keys (0: from the clock)")
	every := flags.Duration("every", time.Second, "how often the live display is redrawn (a terminal) or a line is printed")
	pos, code := parseArgs(c, flags, args, "[--workload read|query|write|import|mixed] [--rate R | --concurrency N] [flags]",
		"Loads a node with a workload and measures it: HDR histograms of latency per operation\n"+
			"(p50, p90, p99, p99.9, max), rate, errors by category. A live display on stdout\n"+
			"(redrawn every second on a terminal, a line a second otherwise), then a summary table;\n"+
			"--json and --png write the full result and a report.\n\n"+
			"With --rate the loop is open: each request is sent when it is due, answered or not, and\n"+
			"its latency counts from then, so a stall shows as latency of everything due during it\n"+
			"(no coordinated omission); past --max-outstanding in flight, requests are dropped and\n"+
			"counted. Without --rate, --concurrency workers each send when answered (a closed loop).\n\n"+
			"The first run creates the database (--db), a schema of :loadgen/* attributes and\n"+
			"--entities entities; later runs reuse them. Exit status 1 if every request failed.",
		"strata loadgen --workload mixed --mix read=8,write=2 --dist zipf --rate 500 --duration 1m --png run.png --json run.json")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 0, 0, "flags only"); err != nil {
		return failClient(c, err)
	}
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })

	mix, err := loadgen.ParseMix(*workload)
	switch {
	case err != nil || (*workload != "mixed" && len(mix) > 1):
		return failClient(c, usagef("--workload %q: want read, query, write, import or mixed", *workload))
	case *mixFlag != "" && *workload != "mixed":
		return failClient(c, usagef("--mix is for --workload mixed"))
	case *mixFlag != "":
		if mix, err = loadgen.ParseMix(*mixFlag); err != nil {
			return failClient(c, usagef("--mix: %v", err))
		}
	}
	dist, err := loadgen.ParseDist(*distFlag)
	if err != nil {
		return failClient(c, usagef("--dist: %v", err))
	}
	switch {
	case *rate > 0 && set["concurrency"]:
		return failClient(c, usagef("--concurrency is for a closed loop; with --rate, --max-outstanding bounds the requests in flight"))
	case *rate == 0 && set["max-outstanding"]:
		return failClient(c, usagef("--max-outstanding is for an open loop (--rate)"))
	case *retries < 0 || *retries > 100:
		return failClient(c, usagef("--retries %d: want 0 to 100", *retries))
	case *every <= 0:
		return failClient(c, usagef("--every %s: want a positive period", *every))
	}
	// Package loadgen reads 0 as "the default"; on the command line, the
	// default is the flag's.
	for name, v := range map[string]int{"entities": *entities, "concurrency": *concurrency, "max-outstanding": *maxOut, "tx-size": *txSize, "batch": *batch} {
		if v < 1 {
			return failClient(c, usagef("--%s %d: want at least 1", name, v))
		}
	}
	cfg := loadgen.Config{Mix: mix, Dist: dist, Rate: *rate, Concurrency: *concurrency, MaxOutstanding: *maxOut,
		Warmup: *warmup, Duration: *duration, Seed: *seed, Every: *every}
	scfg := loadgen.StrataConfig{DB: *db, Setup: *setup, Entities: *entities, Pattern: *pattern, Query: *query,
		Params: *params, IDs: *ids, TxSize: *txSize, Batch: *batch}
	if err := loadgen.CheckConfig(cfg, scfg); err != nil {
		return failClient(c, usagef("%v", err))
	}
	// Create the output files first: a typo in a path should not cost
	// a whole run.
	jsonOut, pngOut, err := createOutputs(*jsonPath, *pngPath)
	if err != nil {
		return failClient(c, err)
	}
	defer jsonOut.discard()
	defer pngOut.discard()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conns := *concurrency
	if *rate > 0 {
		conns = *maxOut
	}
	cl, endpoint, err := loadgenConnect(ctx, cf, *retries, min(conns, maxLoadgenConns))
	if err != nil {
		return failClient(c, err)
	}
	start := time.Now()
	scfg.SetupProgress = func(done, total int) {
		if done == total {
			fmt.Fprintf(c.stderr, "%s: %s holds %d loadgen entities (%.1fs)\n", c.path, *db, total, time.Since(start).Seconds())
		}
	}
	target, err := loadgen.NewStrata(ctx, cl, scfg, mix)
	if err != nil {
		return failClient(c, err)
	}
	display := loadgen.NewDisplay(c.stdout, isTerminal(c.stdout))
	cfg.Progress = display.Update
	res, err := loadgen.Run(ctx, target, cfg)
	if err != nil {
		return failClient(c, usagef("%v", err))
	}
	res.Info = map[string]string{"endpoint": endpoint, "db": *db, "workload": *workload}
	if mix.Has(loadgen.OpRead) {
		res.Info["pattern"] = *pattern
	}
	if mix.Has(loadgen.OpQuery) {
		res.Info["query"] = *query
	}
	if mix.Has(loadgen.OpWrite) {
		res.Info["tx_size"] = strconv.Itoa(*txSize)
	}
	if mix.Has(loadgen.OpImport) {
		res.Info["batch"] = strconv.Itoa(*batch)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(c.stderr, "%s: interrupted: the results cover %.1fs\n", c.path, res.MeasuredSec)
	}
	fmt.Fprintln(c.stdout)
	if err := res.WriteSummary(c.stdout); err != nil {
		return failClient(c, err)
	}
	if err := jsonOut.write(res.WriteJSON); err != nil {
		return failClient(c, err)
	}
	if err := pngOut.write(res.WritePNG); err != nil {
		return failClient(c, err)
	}
	var requests, ok int64
	for _, o := range res.Ops {
		if o.Op != "all" {
			requests += o.Requests
			ok += o.OK
		}
	}
	if requests > 0 && ok == 0 {
		fmt.Fprintf(c.stderr, "%s: every request failed\n", c.path)
		return exitFailure
	}
	return exitOK
}

// loadgenConnect connects as clientFlags.connect does (the same endpoint
// and key, from the same flags, environment and credentials file), with
// the retries asked for and a transport that keeps a connection per
// request in flight: clientFlags.connect takes no client.Config, and the
// client's default of 64 idle connections would make an open loop of
// more requests in flight open and close connections all the time.
func loadgenConnect(ctx context.Context, cf *clientFlags, retries, conns int) (*client.Client, string, error) {
	cfg, err := cf.config()
	if err != nil {
		return nil, "", err
	}
	cfg.MaxRetries = -1 // no retries unless asked: a busy node shows as busy
	if retries > 0 {
		cfg.MaxRetries = retries
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = client.DefaultEndpoint
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(conns, 64)
	t.MaxIdleConnsPerHost = max(conns, 64)
	cfg.HTTPClient = &http.Client{Transport: t}
	cl, err := client.Connect(ctx, cfg)
	if err != nil {
		var ce *client.Error
		if !errors.As(err, &ce) {
			err = fmt.Errorf("%s: %w", cfg.Endpoint, err)
		}
		return nil, "", err
	}
	return cl, cl.Endpoint(), nil
}
