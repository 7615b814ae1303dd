// Package loadgen measures a live strata node the way its users load it:
// requests of a workload sent at a target rate or by a fixed number of
// workers, their latencies in HDR histograms per operation, a live display,
// a summary table, JSON, and a PNG report. strata loadgen is its command.
//
// # Workloads
//
// A Mix weighs operations (Op): read pulls an entity by id; query runs a
// query with one set of parameters; write commits a small transaction
// (TxSize datoms of :loadgen/value); import commits a batch of new entities.
// Each request chooses a key, the index of its entity or parameter set, from
// a Dist: uniform, Zipf (math/rand/v2's, s > 1) or a hot set (X% of the
// requests on Y% of the keys), popular keys scattered over the key space.
// Strata is the Target that makes the requests through package client;
// NewStrata sets its database up: the schema (Schema) and N entities of
// keys 0 to N-1, those missing created, so a second run reuses them.
//
// # Open and closed loops
//
// With a rate (Config.Rate), the loop is open: request i is due at
// begin + i/rate and sent then, whether or not earlier ones were answered,
// and its latency counts from when it was due. A stalled server, or a
// sender that fell behind, shows as latency of every request due during
// the stall: nothing is left out because the generator waited (coordinated
// omission; wrk2 corrects it the same way). Requests in flight are bounded
// (MaxOutstanding); one due past the bound is not sent and is counted as
// dropped, which the reports show next to the latencies. Without a rate,
// the loop is closed: Concurrency workers each send a request when their
// last one is answered, and latency counts from the send. A warm-up runs
// first and is not recorded. Errors are counted by anomaly category, and
// their latencies are recorded too: a timeout is the slowest answer.
//
// # Reports
//
// Run returns a Result: per operation the requests, rate, p50, p90, p99,
// p99.9 and maximum, errors by category, dropped requests, the percentile
// spectrum (latency at percentiles evenly spaced on a log scale of
// 1/(1-p)), and a timeline of p50/p99/max per second. WriteSummary prints
// the table, WriteJSON the whole result, WritePNG a report of the timeline
// and the spectrum (drawn with image/png and a built-in bitmap font).
// Display draws Progress live: a block redrawn every second on a terminal,
// plain lines otherwise.
//
// Run, NewStrata and a Strata's methods are safe for concurrent use; a
// Result is a plain value.
//
//	c, _ := client.Connect(ctx, client.Config{Endpoint: "http://127.0.0.1:4334"})
//	mix, _ := loadgen.ParseMix("read=8,write=2")
//	t, err := loadgen.NewStrata(ctx, c, loadgen.StrataConfig{Setup: true, Entities: 10_000}, mix)
//	res, err := loadgen.Run(ctx, t, loadgen.Config{Mix: mix, Rate: 500, Warmup: 5 * time.Second, Duration: 30 * time.Second})
//	res.WriteSummary(os.Stdout)
//
// # Usage
//
// Against a node (make run, or strata node):
//
//	strata loadgen --workload read --rate 1000 --duration 30s
//	strata loadgen --workload mixed --mix read=8,write=2 --dist zipf:1.2 --rate 500 \
//	    --duration 1m --json run.json --png run.png
//	strata loadgen --workload query --query '[:find ?v . :in $ ?k :where [?e :loadgen/key ?k] [?e :loadgen/value ?v]]' \
//	    --dist hot:90/10 --concurrency 16 --duration 30s
//	strata loadgen --workload import --batch 1000 --concurrency 4 --duration 1m
//
// --endpoint and --key (or STRATA_ENDPOINT and STRATA_KEY) say which node
// and key, as for every client command. The first run creates the database
// "loadgen" (--db), its schema and --entities N entities; later runs reuse
// them (--setup=false: use the database as it is). --rate R makes an open
// loop (--max-outstanding bounds it), without it --concurrency N workers
// make a closed one. The client does not retry (--retries 0): a busy node
// shows as busy errors, not as slower answers. The live display goes to
// stdout, the summary table at the end; --json FILE and --png FILE write the
// full result and the report.
package loadgen
