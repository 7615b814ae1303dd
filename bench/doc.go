// Package bench measures strata: `go test -bench` suites per stratum and per
// API, the load generator library, and the rendering of their reports.
//
// # Cache trace replay
//
// The part that exists today replays a block-reference trace against the
// memory tier's eviction policy, against LRU and against Bélády's optimal
// policy, and reports each one's hit ratio. It is what `strata bench cache`
// runs:
//
//	keys, err := bench.ReadTraceFile("gli.trace.gz", bench.FormatLIRS, 0)
//	if err != nil { … }
//	results, err := bench.SimulateCache(keys, []int{500, 1000})
//	for _, r := range results {
//		fmt.Println(r) // capacity=500 policy=memory-tier hit=NN.NN%
//	}
//
// A hit ratio is hits / accesses over the whole trace: every access counts,
// including the cold misses of a key's first access, and there is no warm-up
// period that is left out. Capacities are counted in entries, every key
// weighing one.
//
// Trace formats (see ReadLIRS and ReadCache2k for the details and the errors):
//
//   - lirs: text, one integer key per line, "*" lines are checkpoints and are
//     skipped, as published with the LIRS paper (Jiang and Zhang, SIGMETRICS
//     2002) and redistributed by Caffeine's simulator.
//   - cache2k: binary, one 4-byte big-endian unsigned key per access.
//
// Either may be gzip-compressed. A trace is held in memory as a []uint64
// because Bélády's policy needs all of its future anyway; TraceKeysMaxDefault
// bounds it.
//
// # Concurrency
//
// Trace readers and SimulateCache may be called from several goroutines on
// different data. A Policy is not safe for concurrent use: a replay is one
// sequence of accesses, and their order is the measurement.
package bench
