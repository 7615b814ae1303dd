package main

// strata bench strata and strata bench compare: the per-stratum latency
// suite run in-process or read off a node, and two runs side by side.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stratadb/strata/bench"
	"github.com/stratadb/strata/internal/chart"
	"github.com/stratadb/strata/loadgen"
)

// Defaults of strata bench strata --endpoint.
const (
	defaultBenchNodeDuration    = 5 * time.Second
	defaultBenchNodeConcurrency = 8
	defaultBenchNodeEntities    = 1000
	// maxMetricsBytes bounds the /metrics body read.
	maxMetricsBytes = 16 << 20
)

func runBenchStrata(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	jsonPath := flags.String("json", "", "also write the results as JSON to `FILE` (for strata bench compare)")
	pngPath := flags.String("png", "", "also draw each row's p50 and p99, ours and the reference's, on a log scale as a PNG to `FILE`")
	reads := flags.Int("reads", bench.StratumSuiteReadsDefault, "local: `N` samples of each kind (ours, reference) per row: reads, or batches of 64 memory hits")
	dir := flags.String("dir", "", "local: `directory` for the suite's temporary files (default $TMPDIR; O_DIRECT needs a disk, not tmpfs)")
	duration := flags.Duration("duration", defaultBenchNodeDuration, "--endpoint: how long loadgen pulls before the metrics are read")
	concurrency := flags.Int("concurrency", defaultBenchNodeConcurrency, "--endpoint: loadgen's closed-loop `workers`")
	entities := flags.Int("entities", defaultBenchNodeEntities, "--endpoint: `N` loadgen entities the reads pull (created if missing)")
	db := flags.String("db", loadgen.DefaultDB, "--endpoint: the loadgen database's `name`")
	pos, code := parseArgs(c, flags, args, "[--json FILE] [--png FILE] [--reads N] | --endpoint URL [--duration D] [--json FILE] [--png FILE]",
		"Runs the per-stratum latency suite and prints one table: for each stratum, p50, p99 and p999 of\n"+
			"reading one decoded block through it, the reference measured in the same loop, and the ratio.\n\n"+
			"Locally (no --endpoint) it runs BenchmarkStratum's memory, ssd and efs rows in this process: the\n"+
			"same segments, loop and references as `go test -bench '^BenchmarkStratum$' ./bench/` (package\n"+
			"bench, stratum.go). The s3, cold and emulated-AWS rows need MinIO or minutes: make bench runs them.\n\n"+
			"With --endpoint URL on the command line (not from $STRATA_ENDPOINT) it drives pulls against the node with loadgen (--duration, --concurrency) and\n"+
			"then reads the node's /metrics: strata_stratum_read_seconds per stratum (quantiles over every\n"+
			"read since the node started), the node's memory stratum as the others' reference, and the\n"+
			"pulls' end-to-end latency as loadgen measured it.\n\n"+
			"--png draws the table as horizontal bars: a group per row, ours and the reference at p50 (dark)\n"+
			"and p99 (light) on a logarithmic latency axis, titled with the machine and the samples per row.",
		"strata bench strata --json before.json --png before.png")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 0, 0, "flags only"); err != nil {
		return failClient(c, err)
	}
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	node := set["endpoint"]
	for _, name := range []string{"reads", "dir"} {
		if node && set[name] {
			return failClient(c, usagef("--%s is for the local suite, not --endpoint", name))
		}
	}
	for _, name := range []string{"duration", "concurrency", "entities", "db", "key"} {
		if !node && set[name] {
			return failClient(c, usagef("--%s is for --endpoint", name))
		}
	}
	switch {
	case *reads < 1 || *reads > bench.StratumSuiteReadsMax:
		return failClient(c, usagef("--reads %d: want 1 to %d", *reads, bench.StratumSuiteReadsMax))
	case *duration <= 0:
		return failClient(c, usagef("--duration %s: want a positive duration", *duration))
	case *concurrency < 1 || *concurrency > maxLoadgenConns:
		return failClient(c, usagef("--concurrency %d: want 1 to %d", *concurrency, maxLoadgenConns))
	case *entities < 1:
		return failClient(c, usagef("--entities %d: want at least 1", *entities))
	}
	// The outputs are created first: a typo in a path should not cost a
	// run.
	out, pngOut, err := createOutputs(*jsonPath, *pngPath)
	if err != nil {
		return failClient(c, err)
	}
	defer out.discard()
	defer pngOut.discard()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep *bench.StratumReport
	if node {
		rep, err = benchNode(ctx, c, cf, *db, *entities, *concurrency, *duration)
	} else {
		rep, err = benchLocal(ctx, c, *reads, *dir)
	}
	if err != nil {
		return failClient(c, err)
	}
	if err := rep.WriteTable(c.stdout); err != nil {
		return failClient(c, err)
	}
	if err := out.write(rep.WriteJSON); err != nil {
		return failClient(c, err)
	}
	if pngOut != nil {
		if err := pngOut.write(stratumChart(rep).WritePNG); err != nil {
			return failClient(c, err)
		}
	}
	return exitOK
}

// output is a file an option asked for, written to a temporary file
// beside its path and renamed over the path only when complete (commit):
// a run that fails leaves neither an empty file nor a truncated old one.
type output struct {
	path string
	f    *os.File
	done bool
}

// createOutput starts the file at path that --name asked for, so that a
// bad path fails before any work. No path, no file: a nil *output, whose
// discard does nothing.
func createOutput(name, path string) (*output, error) {
	if path == "" {
		return nil, nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, usagef("--%s: open %s: is a directory", name, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, usagef("--%s: %v", name, err)
	}
	return &output{path: path, f: f}, nil
}

func (o *output) Write(p []byte) (int, error) { return o.f.Write(p) }

// commit closes the file and puts it at its path.
func (o *output) commit() error {
	o.done = true
	if err := o.f.Close(); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	if err := os.Chmod(o.f.Name(), 0o644); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	if err := os.Rename(o.f.Name(), o.path); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	return nil
}

// createOutputs starts the files of --json and --png (either may be "").
func createOutputs(jsonPath, pngPath string) (jsonOut, pngOut *output, err error) {
	if jsonOut, err = createOutput("json", jsonPath); err != nil {
		return nil, nil, err
	}
	if pngOut, err = createOutput("png", pngPath); err != nil {
		jsonOut.discard()
		return nil, nil, err
	}
	return jsonOut, pngOut, nil
}

// write fills o with fill and puts it at its path; a nil o writes
// nothing. Its errors name the path.
func (o *output) write(fill func(io.Writer) error) error {
	if o == nil {
		return nil
	}
	if err := fill(o); err != nil {
		return fmt.Errorf("%s: %w", o.path, err)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("%s: %w", o.path, err)
	}
	return nil
}

// discard removes the temporary file unless it was committed.
func (o *output) discard() {
	if o == nil || o.done {
		return
	}
	o.done = true
	o.f.Close()
	os.Remove(o.f.Name())
}

// Colours of the charts' series: ours and the reference, or runs A and B.
var (
	colorOurs = chart.Blue
	colorRef  = chart.Vermillion
)

// stratumChart draws rep's rows as bars: per row, ours and the
// reference, each at p50 and p99.
func stratumChart(rep *bench.StratumReport) *chart.Bars {
	what := "each row's p50 and p99, ours and the reference measured in the same loop"
	if !strings.HasPrefix(rep.Source, "local") {
		what = "each stratum's p50 and p99 as the node reports them, the reference its memory stratum"
	}
	b := &chart.Bars{
		Title:    []string{"strata bench strata: " + what, runLine(rep) + "; " + samplesLine(rep.Rows)},
		Series:   []chart.BarSeries{{Name: "ours", Color: colorOurs}, {Name: "reference", Color: colorRef}},
		Segments: []string{"p50", "p99"},
		AxisName: "latency, log scale",
		Tick:     nsTick,
		Value:    bench.FormatNs,
	}
	for _, r := range rep.Rows {
		b.Groups = append(b.Groups, chart.BarGroup{Label: rowLabel(r), Values: [][]float64{{r.P50Ns, r.P99Ns}, {r.RefP50Ns, r.RefP99Ns}}})
	}
	return b
}

// rowLabel names a row: its stratum, what served it and its reference.
func rowLabel(r bench.StratumRow) string {
	s := r.Stratum
	if r.Served != "" {
		s += ": " + r.Served
	}
	if r.Reference != "" && r.Reference != "-" {
		s += " vs " + r.Reference
	}
	return s
}

// runLine names a report's run: the machine (goos/goarch, cpu) of a
// local run, the node and its driver otherwise; and when.
func runLine(rep *bench.StratumReport) string {
	var parts []string
	if goos, goarch := rep.Env["goos"], rep.Env["goarch"]; goos != "" || goarch != "" {
		parts = append(parts, strings.Trim(goos+"/"+goarch, "/"))
	} else if rep.Source != "" {
		parts = append(parts, rep.Source)
	}
	for _, k := range []string{"cpu", "driver"} {
		if v := rep.Env[k]; v != "" {
			parts = append(parts, v)
		}
	}
	if !rep.Time.IsZero() {
		parts = append(parts, rep.Time.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return strings.Join(parts, ", ")
}

// samplesLine says how many samples are behind the rows: "2000 samples
// per row", or their range.
func samplesLine(rows []bench.StratumRow) string {
	var lo, hi int64
	for _, r := range rows {
		if r.Samples <= 0 {
			continue
		}
		if lo == 0 || r.Samples < lo {
			lo = r.Samples
		}
		hi = max(hi, r.Samples)
	}
	switch {
	case hi == 0:
		return "samples not recorded"
	case lo == hi:
		return fmt.Sprintf("%d samples per row", hi)
	}
	return fmt.Sprintf("%d to %d samples per row", lo, hi)
}

// nsTick labels a tick of a latency axis in nanoseconds: "100 ns",
// "1 µs", "20 ms", "1 s".
func nsTick(ns float64) string {
	for _, u := range []struct {
		name  string
		scale float64
	}{{"ns", 1}, {"µs", 1e3}, {"ms", 1e6}} {
		if v := ns / u.scale; v < 999.5 {
			return strconv.FormatFloat(math.Round(v*1e3)/1e3, 'g', -1, 64) + " " + u.name
		}
	}
	return strconv.FormatFloat(math.Round(ns/1e9*1e3)/1e3, 'g', -1, 64) + " s"
}

// benchLocal runs the suite in this process.
func benchLocal(ctx context.Context, c *cli, reads int, dir string) (*bench.StratumReport, error) {
	start := time.Now()
	res, err := bench.RunStratumSuite(ctx, bench.StratumSuiteOptions{Reads: reads, Dir: dir,
		Progress: func(name string) { fmt.Fprintf(c.stderr, "%s: %s\n", c.path, name) }})
	if err != nil {
		return nil, err
	}
	env := res.Env
	env["cpu"] = strings.TrimSpace(env["cpu"] + " (" + strconv.Itoa(runtime.NumCPU()) + " cores)")
	return &bench.StratumReport{
		Source: "local (in-process BenchmarkStratum rows)", Time: start, Env: env,
		Rows: bench.StratumRows(res), Skips: res.Skips,
		Notes: []string{fmt.Sprintf("%d samples of each kind per row, ours and the reference alternating in one loop; ratio = ours / reference.\n"+
			"Below memory both sides include the same decode (checksum + decompression): the ratio is the cache machinery's cost.\n"+
			"Memory hits are timed in batches of 64 consecutive reads, one sample per batch (its mean): the tail is understated.", reads)},
	}, nil
}

// benchNode drives pulls against a node with loadgen and reads its
// per-stratum latencies from /metrics.
func benchNode(ctx context.Context, c *cli, cf *clientFlags, db string, entities, concurrency int, duration time.Duration) (*bench.StratumReport, error) {
	cl, endpoint, err := loadgenConnect(ctx, cf, 0, concurrency)
	if err != nil {
		return nil, err
	}
	metricsURL := strings.TrimSuffix(endpoint, "/") + "/metrics"
	before, err := nodeStrata(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	mix := loadgen.Mix{{Op: loadgen.OpRead, Weight: 1}}
	start := time.Now()
	target, err := loadgen.NewStrata(ctx, cl, loadgen.StrataConfig{DB: db, Setup: true, Entities: entities}, mix)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "%s: pulling from %s for %s (%d workers)\n", c.path, endpoint, duration, concurrency)
	warmup := min(duration/5, time.Second)
	res, err := loadgen.Run(ctx, target, loadgen.Config{Mix: mix, Concurrency: concurrency, Warmup: warmup, Duration: duration})
	if err != nil {
		return nil, err
	}
	after, err := nodeStrata(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	hits := make(map[string]int64)
	for _, s := range after {
		hits[s.Name] = s.Hits
	}
	for _, s := range before {
		hits[s.Name] -= s.Hits
	}
	rows := bench.NodeStratumRows(after, hits)
	if op, ok := res.Op("read"); ok && op.OK > 0 {
		rows = append(rows, bench.StratumRow{Name: "node/pull", Stratum: "pull (client)",
			Served: fmt.Sprintf("HTTP pull end to end, %d requests, %d failed", op.Requests, op.Requests-op.OK),
			P50Ns:  op.Latency.P50Ms * 1e6, P99Ns: op.Latency.P99Ms * 1e6, P999Ns: op.Latency.P999Ms * 1e6,
			Reference: "-", Samples: op.Requests})
	}
	return &bench.StratumReport{
		Source: endpoint, Time: start,
		Env:  map[string]string{"driver": fmt.Sprintf("loadgen read, %d workers, %s after %s warm-up, %d entities of %s", concurrency, duration, warmup, entities, db)},
		Rows: rows,
		Notes: []string{"Per-stratum quantiles are the node's own (strata_stratum_read_seconds), over every read each stratum\n" +
			"served since the node started, not only during this load; \"hits during the load\" says how many this run added.\n" +
			"ratio = the stratum's latency / the node's memory stratum's. A pull the memory index answers touches no stratum."},
	}, nil
}

// nodeStrata reads the node's per-stratum metrics.
func nodeStrata(ctx context.Context, url string) ([]bench.NodeStratum, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the node's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read the node's metrics: %s: %s", url, resp.Status)
	}
	strata, err := bench.ParseNodeStrata(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if len(strata) == 0 {
		return nil, fmt.Errorf("%s: no strata_stratum_read_seconds (is it a strata node?)", url)
	}
	return strata, nil
}

// ---- bench compare ----

func runBenchCompare(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	pngPath := flags.String("png", "", "also draw each row's p50 and p99 of A and of B on a log scale as a PNG to `FILE`")
	pos, code := parseArgs(c, flags, args, "A.json B.json [--png FILE]",
		"Shows two runs of strata bench strata (their --json files) side by side: for each row, p50, p99\n"+
			"and p999 of A and of B and B/A (above 1: B is slower), and each run's own ratio to its\n"+
			"reference. Rows are matched by name; a row only one run has shows \"–\" for the other.\n"+
			"--png draws ours of each row in A and in B as bars, p50 dark and p99 light, on a log scale.",
		"strata bench compare before.json after.json --png compare.png")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 2, 2, "two report files, A.json B.json"); err != nil {
		return failClient(c, err)
	}
	var reps [2]*bench.StratumReport
	for i, path := range pos {
		f, err := os.Open(path)
		if err != nil {
			return failClient(c, usagef("%v", err))
		}
		reps[i], err = bench.ReadStratumReport(f)
		f.Close()
		if err != nil {
			return failClient(c, usagef("%s: %v", path, err))
		}
	}
	pngOut, err := createOutput("png", *pngPath)
	if err != nil {
		return failClient(c, err)
	}
	defer pngOut.discard()
	if err := bench.WriteStratumCompare(c.stdout, reps[0], reps[1]); err != nil {
		return failClient(c, err)
	}
	if pngOut != nil {
		if err := pngOut.write(compareChart(reps[0], reps[1]).WritePNG); err != nil {
			return failClient(c, err)
		}
	}
	return exitOK
}

// compareChart draws ours of each row of a and b as bars, in
// WriteStratumCompare's order: a's rows, then b's new ones.
func compareChart(a, b *bench.StratumReport) *chart.Bars {
	ch := &chart.Bars{
		Title: []string{"strata bench compare: each row's p50 and p99 (ours) in run A and in run B",
			"A: " + runLine(a) + "; " + samplesLine(a.Rows), "B: " + runLine(b) + "; " + samplesLine(b.Rows)},
		Series:   []chart.BarSeries{{Name: "A", Color: colorOurs}, {Name: "B", Color: chart.Orange}},
		Segments: []string{"p50", "p99"},
		AxisName: "latency, log scale",
		Tick:     nsTick,
		Value:    bench.FormatNs,
	}
	index := make(map[string]int)
	add := func(run int, r bench.StratumRow) {
		i, ok := index[r.Name]
		if !ok {
			i = len(ch.Groups)
			index[r.Name] = i
			ch.Groups = append(ch.Groups, chart.BarGroup{Label: rowLabel(r), Values: make([][]float64, 2)})
		}
		ch.Groups[i].Values[run] = []float64{r.P50Ns, r.P99Ns}
	}
	for _, r := range a.Rows {
		add(0, r)
	}
	for _, r := range b.Rows {
		add(1, r)
	}
	return ch
}
