package bench

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/engine/query"
)

// BenchmarkScale loads about STRATA_SCALE_DATOMS datoms (default 1,000,000;
// make bench runs 10,000,000) of people, generated as the people workload's
// (Datascript's random-man: name, last-name, full-name, aliases, sex, age,
// salary) with each person following a random earlier one, into an
// embedded database in transactions of about 1,000 datoms; indexes them
// into segment trees in a directory store (written through to an ssd
// tier); and reads the database from each stratum. It runs once whatever
// b.N is (-benchtime 1x):
//
//	STRATA_SCALE_DATOMS=10000000 go test -run '^$' -bench Scale -benchtime 1x -timeout 60m ./bench/
//
// Metrics: load-datoms/s, mem-index-B/datom (live heap after the (first)
// load), index-s, disk-B/datom (segments over the datoms loaded),
// STRATUM-pull-p50-ns/-p99-ns (pull [:name :age :salary] of one random
// person: cold strata without a memory tier, over every person; memory
// over a warmed working set of 10,000, memory-pull-deeper-reads counting
// any block a deeper stratum served) and the people queries' times QUERY-STRATUM-ms (the median of a
// few runs, each checked against the count the generator kept), where
// STRATUM is (coldStrata and memory)
//
//	memory  warm: the memory tier and decoded-chunk cache hold what is read;
//	ssd     an empty memory tier and chunk cache over the ssd tier (every
//	        segment an O_DIRECT read);
//	efs     the same over the efs tier (a directory here: buffered reads);
//	store   an empty memory tier and chunk cache over the directory store
//	        alone (buffered reads: the OS page cache may hold the files).
//
// Then a tenth more people indexed into the loaded database and, the same
// ones, into an empty one: index-tenth-into-full-s,
// index-tenth-into-empty-s, index-time-ratio and index-bytes-ratio (full
// over empty: 1 would mean the cost follows the change alone).
func BenchmarkScale(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("STRATA_SCALE_DATOMS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10_000 {
			b.Fatalf("STRATA_SCALE_DATOMS=%q: want a count >= 10000", s)
		}
		n = v
	}
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		runScale(b, ctx, n)
	}
}

// scaleDatomsPerPerson is the people's average datoms (6 attributes, 3.59
// distinct aliases, one follows), to turn a datom count into people.
const scaleDatomsPerPerson = 10.59

// scaleChunkDatoms is how many datoms BenchmarkScale loads before each
// indexing round: STRATA_SCALE_CHUNK, else all of them up to 10M, else 10M.
func scaleChunkDatoms(b *testing.B, n int) int {
	if s := os.Getenv("STRATA_SCALE_CHUNK"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10_000 {
			b.Fatalf("STRATA_SCALE_CHUNK=%q: want a count >= 10000", s)
		}
		return v
	}
	if n <= 10_000_000 {
		return n
	}
	return 10_000_000
}

// schemaAttr is the map form that installs an attribute.
func schemaAttr(ident string, t datom.Type, many, unique bool) engine.Op {
	card := engine.Keyword("db.cardinality/one")
	if many {
		card = "db.cardinality/many"
	}
	kv := []engine.KV{{A: engine.Keyword("db/ident"), V: engine.Keyword(ident)},
		{A: engine.Keyword("db/valueType"), V: engine.Keyword(t.Ident())}, {A: engine.Keyword("db/cardinality"), V: card}}
	if unique {
		kv = append(kv, engine.KV{A: engine.Keyword("db/unique"), V: engine.Keyword("db.unique/identity")})
	}
	return engine.Map{Attrs: kv}
}

// scaleSchema is the people workload's schema.
func scaleSchema() []engine.Op {
	var schema []engine.Op
	for _, a := range peopleAttrs {
		schema = append(schema, schemaAttr(a.ident, a.typ, a.many, false))
	}
	return schema
}

// scaleCounts are what the people queries must return on the loaded
// people, counted as they are generated.
type scaleCounts struct {
	ivan, ivanMale, salaryOver50k int
}

// scaleQueries are the people queries (BenchmarkPeople's q tasks) and the
// count each must return.
var scaleQueries = []struct {
	name, src string
	args      []any
	want      func(scaleCounts) int
}{
	{"q1", `[:find ?e :where [?e :name "Ivan"]]`, nil, func(c scaleCounts) int { return c.ivan }},
	{"q2", `[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]`, nil, func(c scaleCounts) int { return c.ivan }},
	{"q2-swapped", `[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]`, nil, func(c scaleCounts) int { return c.ivan }},
	{"q3", `[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex :male]]`, nil, func(c scaleCounts) int { return c.ivanMale }},
	{"q4", `[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex :male]]`, nil,
		func(c scaleCounts) int { return c.ivanMale }},
	{"qpred1", `[:find ?e ?s :where [?e :salary ?s] [(> ?s 50000)]]`, nil, func(c scaleCounts) int { return c.salaryOver50k }},
	{"qpred2", `[:find ?e ?s :in $ ?min_s :where [?e :salary ?s] [(> ?s ?min_s)]]`, []any{int64(50000)},
		func(c scaleCounts) int { return c.salaryOver50k }},
}

// coldStrata are the strata the scale run reads cold, each over the
// directory store (written through to all of them as the run indexes).
var coldStrata = []string{"ssd", "efs", "store"}

func heapBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func runScale(b *testing.B, ctx context.Context, n int) {
	heap0 := heapBytes()
	db := engine.Empty()
	rep, err := db.With(ctx, scaleSchema(), engine.TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db = rep.DBAfter
	rng := rand.New(rand.NewPCG(7, 7))
	people := int(float64(n) / scaleDatomsPerPerson)
	// The embedded default store, written through to an ssd tier; loads
	// past the first chunk read the trees through a memory tier, as a node.
	dir := b.TempDir()
	store, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: filepath.Join(dir, "store")})
	if err != nil {
		b.Fatal(err)
	}
	ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{Dir: filepath.Join(dir, "ssd"), CapacityBytes: min(max(int64(n)*64, 256<<20), 16<<30), AllowBuffered: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ssd.Close()
	efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: filepath.Join(dir, "efs")})
	if err != nil {
		b.Fatal(err)
	}
	defer efs.Close()
	// tiersOf is the tiers below memory a stratum's reads go through: from
	// it down to the store.
	tiersOf := func(stratum string) []cachetiers.Tier {
		switch stratum {
		case "ssd":
			return []cachetiers.Tier{ssd, store}
		case "efs":
			return []cachetiers.Tier{efs, store}
		case "store":
			return []cachetiers.Tier{store}
		}
		return []cachetiers.Tier{ssd, efs, store}
	}
	writer, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: tiersOf("all"), WriteThrough: true})
	if err != nil {
		b.Fatal(err)
	}
	// Past scaleChunk datoms the load goes in chunks, each indexed before
	// the next (as a node's indexing job keeps its memory index bounded):
	// a 100M-datom memory index would not fit in 24 GiB.
	chunk := max(1, int(float64(scaleChunkDatoms(b, n))/scaleDatomsPerPerson))
	loadMem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	loadStore, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: loadMem, Tiers: tiersOf("all"), WriteThrough: true})
	if err != nil {
		b.Fatal(err)
	}
	var ids []datom.E
	var counts scaleCounts
	var load, indexing time.Duration
	var ist engine.IndexStats
	var root engine.IndexRoot
	memReported := false
	rounds, loaded := 0, 0
	for first := 0; first < people; first += chunk {
		t0 := time.Now()
		db, ids = loadScale(b, ctx, db, rng, first, min(chunk, people-first), ids, &counts)
		load += time.Since(t0)
		loaded += db.MemDatoms()
		if !memReported {
			// The memory index's bytes per datom: the live heap after the
			// (first) load, the ids slice (8 bytes per person) included.
			b.ReportMetric(float64(heapBytes()-heap0)/float64(db.MemDatoms()), "mem-index-B/datom")
			memReported = true
		}
		last := first+chunk >= people
		through := loadStore
		if last {
			through = writer
		}
		t0 = time.Now()
		var st engine.IndexStats
		if db, root, st, err = db.Index(ctx, through, engine.TreeOptions{}); err != nil {
			b.Fatal(err)
		}
		// As a node's writer rebases on what it indexed, keeping in memory
		// only the transactions after it (Index's value keeps the log).
		if db, err = db.Rebase(db, nil); err != nil {
			b.Fatal(err)
		}
		indexing += time.Since(t0)
		rounds++
		if last {
			ist = st
		}
		b.Logf("loaded %d of %d people (%.0f datoms/s so far), round %d indexed in %s", min(first+chunk, people), people,
			float64(loaded)/load.Seconds(), rounds, time.Since(t0).Round(time.Second))
	}
	st, err := db.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Datoms)/load.Seconds(), "load-datoms/s")
	b.ReportMetric(float64(st.Datoms), "datoms")
	b.ReportMetric(float64(people), "people")
	b.ReportMetric(indexing.Seconds(), "index-s")
	// A node serves the indexed database, not the memory index it came
	// from: let that go, so the reads below run on the heap a node has.
	db = nil
	runtime.GC()
	var disk int64
	filepath.WalkDir(filepath.Join(dir, "store"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	// With several rounds the store also holds the segments later rounds
	// replaced (copy-on-write; nothing deletes from the store of record).
	b.ReportMetric(float64(disk)/float64(st.Datoms), "disk-B/datom")
	b.ReportMetric(float64(rounds), "index-rounds")
	if rounds == 1 {
		for x := range datom.NumIndexes {
			b.ReportMetric(float64(ist.Bytes[x])/float64(st.Datoms), x.String()+"-B/datom")
		}
	}

	// The strata the reads go through. A cold one starts with an empty
	// memory tier and decoded-chunk cache.
	mem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	warm, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: tiersOf("all")})
	if err != nil {
		b.Fatal(err)
	}
	cold := func(stratum string) *cachetiers.Stratified {
		engine.SetChunkCacheBytes(engine.DefaultChunkCacheBytes) // empty
		m, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 4 << 30})
		if err != nil {
			b.Fatal(err)
		}
		s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: m, Tiers: tiersOf(stratum)})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	open := func(s *cachetiers.Stratified) *engine.DB {
		rdb, err := engine.Open(ctx, s, engine.TreeOptions{}, root)
		if err != nil {
			b.Fatal(err)
		}
		return rdb
	}

	pattern := []any{engine.Keyword("name"), engine.Keyword("age"), engine.Keyword("salary")}
	pulls := func(rdb *engine.DB, from []datom.E, k int) (p50, p99 float64) {
		lat := make([]int64, 0, k)
		for range k {
			e := from[rng.IntN(len(from))]
			t := time.Now()
			m, err := rdb.Pull(ctx, pattern, e)
			lat = append(lat, int64(time.Since(t)))
			if err != nil || m == nil {
				b.Fatalf("pull %d: %v %v", e, m, err)
			}
		}
		slices.Sort(lat)
		return float64(lat[len(lat)/2]), float64(lat[len(lat)*99/100])
	}
	// Cold: 2,000 pulls of random people from the stratum itself, with no
	// memory tier (every block read from it; the decoded-chunk cache,
	// emptied first, comes to hold the upper levels of the trees as a
	// node's would).
	for _, stratum := range coldStrata {
		engine.SetChunkCacheBytes(engine.DefaultChunkCacheBytes) // empty
		s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: tiersOf(stratum)})
		if err != nil {
			b.Fatal(err)
		}
		p50, p99 := pulls(open(s), ids, 2000)
		s.Close()
		b.ReportMetric(p50, stratum+"-pull-p50-ns")
		b.ReportMetric(p99, stratum+"-pull-p99-ns")
	}
	// Warm: pulls of a working set of 10,000 random people, each read
	// before (memory-pull-deeper-reads counts the blocks a deeper stratum
	// served during the timed pulls: 0 when every one was a memory hit).
	hot := make([]datom.E, min(10_000, len(ids)))
	for i := range hot {
		hot[i] = ids[rng.IntN(len(ids))]
	}
	wdb := open(warm)
	for _, e := range hot {
		if _, err := wdb.Pull(ctx, pattern, e); err != nil {
			b.Fatal(err)
		}
	}
	before := tierHits(warm)
	p50, p99 := pulls(wdb, hot, 20000)
	deeper := int64(0)
	for name, n := range tierHits(warm) {
		if name != "memory" {
			deeper += n - before[name]
		}
	}
	b.ReportMetric(p50, "memory-pull-p50-ns")
	b.ReportMetric(p99, "memory-pull-p99-ns")
	b.ReportMetric(float64(deeper), "memory-pull-deeper-reads")

	// The people queries at this size, from each stratum, each checked
	// against the generator's count.
	runs := 3
	if s := os.Getenv("STRATA_SCALE_QUERY_RUNS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			runs = v
		}
	}
	for _, sq := range scaleQueries {
		q, err := query.Parse([]byte(sq.src))
		if err != nil {
			b.Fatal(err)
		}
		run := func(rdb *engine.DB) time.Duration {
			t := time.Now()
			out, err := query.Run(ctx, q, append([]any{rdb}, sq.args...)...)
			d := time.Since(t)
			if err != nil {
				b.Fatalf("%s: %v", sq.name, err)
			}
			if got, want := len(out.([][]any)), sq.want(counts); got != want {
				b.Fatalf("%s: %d results, the generator counted %d", sq.name, got, want)
			}
			return d
		}
		median := func(f func() time.Duration) float64 {
			ds := make([]time.Duration, runs)
			for i := range ds {
				ds[i] = f()
				runtime.GC() // each run starts with the garbage of the last collected
			}
			slices.Sort(ds)
			return float64(ds[len(ds)/2]) / 1e6
		}
		run(wdb) // warm the memory tier and chunk cache
		memMs := median(func() time.Duration { return run(wdb) })
		b.ReportMetric(memMs, sq.name+"-memory-ms")
		for _, stratum := range coldStrata {
			ms := median(func() time.Duration {
				s := cold(stratum)
				defer s.Close()
				return run(open(s))
			})
			b.ReportMetric(ms, sq.name+"-"+stratum+"-ms")
		}
		b.ReportMetric(float64(sq.want(counts)), sq.name+"-results")
		b.Logf("%s: %d results; memory %.1f ms", sq.name, sq.want(counts), memMs)
		engine.SetChunkCacheBytes(engine.DefaultChunkCacheBytes)
		wdb = open(warm)
	}

	// Indexing follows the size of the change, not of the database: the
	// same tenth of new people indexed into this database and into an
	// empty one (same generator, same store kind).
	more := people / 10
	// As a node would: over the memory tier (the lookups of the new
	// transactions, then the leaves the merge rewrites).
	big := open(warm)
	big, _ = loadScale(b, ctx, big, rand.New(rand.NewPCG(9, 9)), people, more, ids, nil)
	t0 := time.Now()
	_, _, into, err := big.Index(ctx, warm, engine.TreeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	intoBig := time.Since(t0)
	small, err := engine.Empty().With(ctx, scaleSchema(), engine.TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sdb, _ := loadScale(b, ctx, small.DBAfter, rand.New(rand.NewPCG(9, 9)), people, more, ids, nil)
	emptyDir, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: filepath.Join(dir, "store-empty")})
	if err != nil {
		b.Fatal(err)
	}
	emptyStore, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: []cachetiers.Tier{emptyDir}})
	if err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	_, _, fresh, err := sdb.Index(ctx, emptyStore, engine.TreeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	intoEmpty := time.Since(t0)
	b.ReportMetric(intoBig.Seconds(), "index-tenth-into-full-s")
	b.ReportMetric(intoEmpty.Seconds(), "index-tenth-into-empty-s")
	b.ReportMetric(intoBig.Seconds()/intoEmpty.Seconds(), "index-time-ratio")
	b.ReportMetric(float64(into.BytesWritten)/float64(fresh.BytesWritten), "index-bytes-ratio")
	b.ReportMetric(float64(into.Datoms), "index-tenth-datoms")
	b.ReportMetric(float64(fresh.Datoms), "index-tenth-datoms-empty")
}

// loadScale transacts count people numbered from first (transactions of
// about 1,000 datoms), each following a random earlier one of this
// database when there is one, and returns the database and ids with the
// new people appended; counts, when not nil, counts what the people
// queries must find.
func loadScale(b *testing.B, ctx context.Context, db *engine.DB, rng *rand.Rand, first, count int, ids []datom.E, counts *scaleCounts) (*engine.DB, []datom.E) {
	const perTx = 94 // about 1,000 datoms at scaleDatomsPerPerson
	end := first + count
	for i := first; i < end; i += perTx {
		ops := make([]engine.Op, 0, perTx)
		for j := i; j < min(i+perTx, end); j++ {
			p := NewPerson(rng)
			if counts != nil && p.Name == "Ivan" {
				counts.ivan++
				if p.Sex == "male" {
					counts.ivanMale++
				}
			}
			if counts != nil && p.Salary > 50000 {
				counts.salaryOver50k++
			}
			m := personMap(p, engine.TempID(strconv.Itoa(j)))
			if len(ids) > 0 && j > 0 {
				// Someone among the people of this database (in the
				// empty-database run, the first ones follow no one).
				if f := ids[rng.IntN(min(len(ids), j))]; f.N() < db.NextN() {
					m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("follows"), V: f})
				}
			}
			ops = append(ops, m)
		}
		rep, err := db.With(ctx, ops, engine.TxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		db = rep.DBAfter
		for j := i; j < min(i+perTx, end); j++ {
			ids = append(ids, rep.TempIDs[engine.TempID(strconv.Itoa(j))])
		}
	}
	return db, ids
}

// TestScaleRun runs the scale benchmark small, in chunks (three indexing
// rounds), so that make test checks what the scale run reports: every
// query's results equal the generator's counts (runScale fails otherwise),
// the rounds, and metrics in plausible ranges.
func TestScaleRun(t *testing.T) {
	t.Setenv("STRATA_SCALE_CHUNK", "10000")
	t.Setenv("STRATA_SCALE_QUERY_RUNS", "1")
	res := testing.Benchmark(func(b *testing.B) { runScale(b, context.Background(), 30_000) })
	if res.N != 1 {
		t.Fatalf("the scale run failed (run with -bench Scale to see why): %+v", res)
	}
	m := res.Extra
	if got := m["index-rounds"]; got != 3 {
		t.Errorf("index-rounds %v, want 3 (30,000 datoms in chunks of 10,000)", got)
	}
	if got := m["datoms"]; got < 27_000 || got > 33_000 {
		t.Errorf("datoms %v, want about 30,000", got)
	}
	if got := m["people"]; got != 2832 { // 30,000 / scaleDatomsPerPerson
		t.Errorf("people %v", got)
	}
	for _, q := range scaleQueries {
		if m[q.name+"-results"] <= 0 {
			t.Errorf("%s: %v results", q.name, m[q.name+"-results"])
		}
		for _, st := range append([]string{"memory"}, coldStrata...) {
			if m[q.name+"-"+st+"-ms"] <= 0 {
				t.Errorf("%s from %s: no time reported", q.name, st)
			}
		}
	}
	// q1 finds Ivans: an eighth of the people, give or take.
	if r := m["q1-results"] / m["people"]; r < 0.08 || r > 0.17 {
		t.Errorf("q1 found %v of %v people", m["q1-results"], m["people"])
	}
	for _, k := range []string{"disk-B/datom", "load-datoms/s", "memory-pull-p50-ns", "ssd-pull-p99-ns", "store-pull-p50-ns"} {
		if m[k] <= 0 {
			t.Errorf("%s not reported", k)
		}
	}
}
