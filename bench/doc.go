// Package bench measures strata: `go test -bench` suites per stratum and per
// API, the load generator library, and the rendering of their reports.
//
// # Cache trace replay
//
// This part replays a block-reference trace against the memory tier's
// eviction policy, against LRU and against Bélády's optimal policy, and
// reports each one's hit ratio. It is what `strata bench cache`
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
// # Latency per stratum
//
// BenchmarkStratum (stratum_bench_test.go) measures the latency of reading
// one decoded block of a realistic segment (8 blocks of 32 KiB decoded,
// datom-like records, lz4 and zstd) when each stratum serves it, through
// cachetiers.Stratified configured so that this stratum is the one that
// serves: memory holds the segment's index (as on a node once the segment
// has been read) and the block is dropped from memory before each read,
// untimed. Each sub-benchmark runs, in the same loop and alternating which
// goes first, a reference: the cheapest raw way to get the same bytes from
// the same place.
//
//	stratum=memory  Stratified.Block, a memory hit     otter GetIfPresent on a plain otter cache holding the same blocks
//	                                                   (ref=otter); cachetiers.WTinyLFU.Get, the tier's policy core,
//	                                                   under a mutex as in one of the tier's shards (ref=wtinylfu)
//	stratum=ssd     the ssd tier (io_uring or pread)   pread(2) O_DIRECT of the same 4 KiB-aligned range of the same cache file
//	stratum=efs     the efs tier (a directory here)    open, pread, close of the same range (ref=pread);
//	                                                   os.ReadFile of the whole segment file (ref=readfile)
//	stratum=s3      S3Store against MinIO on loopback  the SDK's ranged GetObject over the store's own client
//
// What is fair: below memory, Stratified verifies the block's checksum and
// decompresses it; a raw read does neither. So every reference below memory
// is the raw read followed by the same segment.DecodeBlock into a fresh
// buffer, and the ratio (ours / reference, "ratio-p50") isolates what the
// cache machinery costs: the memory lookups, the single-flight bookkeeping,
// the tier's bookkeeping, promotion into memory. The raw read
// alone is reported too ("ref-read-p50-ns"), so decode's share shows.
//
// Memory hits cost about as much as a clock read (some 50 ns here), so they
// are timed in batches of 64 consecutive reads and each batch's mean is one
// sample: their percentiles are of those means, and understate the tail.
// Everything else is timed read by read.
//
// Metrics, per sub-benchmark: p50-ns, p99-ns, p999-ns (ours), ref-p50-ns …
// (the reference), ref-read-p50-ns … (the reference's I/O alone), ratio-p50,
// ratio-p99, ratio-p999, samples, ours-allocs/op (Go's allocs/op counts ours
// and the reference together). Latencies go into HDR histograms (1 ns to
// 60 s, 3 significant figures; see Latency).
//
// BenchmarkStratumCold reads one key of a segment of which nothing is cached
// (Stratified.Get: index, then block), from S3 (MinIO), and counts round
// trips to the store: store-gets/op on the read path (DESIGN.md: at most 1–2
// once the root is cached) and fill-gets/op for the promotion of the segment
// into ssd and efs, which runs in the background (tiers=ssd+efs+store).
//
// BenchmarkStratumEmulated repeats the efs and S3 rows and the cold read
// under ProfileAWS: a DelayTier adds latency drawn from a distribution
// (EFS 0.25–1 ms, S3 8–30 ms, DESIGN.md) to a local directory, and the
// reference waits the same draws. Its names carry profile=aws, and the table
// labels its rows "emulated". Reads take milliseconds: bound it with
// -benchtime=Nx.
//
// # The engine
//
// BenchmarkPeople (people_bench_test.go) runs datascript-bench's people
// workload on the engine and on Datascript (node, bench/datascript) in the
// same run and reports speedup-vs-datascript per task; BenchmarkPeopleIndex
// reports the bytes on disk per datom of each index after indexing it;
// BenchmarkScale loads STRATA_SCALE_DATOMS datoms, indexes them and pulls
// from a cold ssd tier and from warm memory.
//
// `make bench` (scripts/bench) runs all of these with MinIO and fio, writes
// the raw output to bench-results/latest.txt and prints the table that
// ParseBenchOutput and WriteStratumTable make of it (`strata bench table`).
//
// # Concurrency
//
// Trace readers and SimulateCache may be called from several goroutines on
// different data. A Policy is not safe for concurrent use: a replay is one
// sequence of accesses, and their order is the measurement.
package bench
