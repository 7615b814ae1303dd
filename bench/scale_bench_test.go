package bench

import (
	"context"
	"fmt"
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
)

// BenchmarkScale loads STRATA_SCALE_DATOMS datoms (default 1,000,000; make
// bench runs 10,000,000) into an embedded database in transactions of
// 1,000 datoms, indexes them into segment trees in a directory store
// (written through to an ssd tier), and pulls random entities: from a cold
// ssd tier (no memory tier: every block read with O_DIRECT) and from warm
// memory. It runs once whatever b.N is (-benchtime 1x):
//
//	STRATA_SCALE_DATOMS=10000000 go test -run '^$' -bench Scale -benchtime 1x -timeout 60m ./bench/
//
// Metrics: load-datoms/s, mem-index-B/datom (live heap after the load),
// index-s, disk-B/datom (segments of the eight
// trees over the datoms loaded), cold-ssd-pull-p50-ns/-p99-ns,
// warm-pull-p50-ns/-p99-ns (pull [:scale/name :scale/age :scale/email] of
// one random entity); then a tenth more entities indexed into the loaded
// database and, the same ones, into an empty one: index-tenth-into-full-s,
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

const scaleAttrsPerEntity = 8 // name, age, email, city, score, 2 tags, friend

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

func scaleSchema() []engine.Op {
	return []engine.Op{
		schemaAttr("scale/name", datom.TypeString, false, false), schemaAttr("scale/age", datom.TypeLong, false, false),
		schemaAttr("scale/email", datom.TypeString, false, true), schemaAttr("scale/city", datom.TypeString, false, false),
		schemaAttr("scale/score", datom.TypeDouble, false, false), schemaAttr("scale/tag", datom.TypeKeyword, true, false),
		schemaAttr("scale/friend", datom.TypeRef, true, false),
	}
}

var scaleCities = []string{"Oslo", "Lima", "Pune", "Kyiv", "Accra", "Perth", "Quito", "Turku"}

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
	entities := n / scaleAttrsPerEntity
	// The embedded default store, written through to an ssd tier; loads
	// past the first chunk read the trees through a memory tier, as a node.
	dir := b.TempDir()
	store, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: filepath.Join(dir, "store")})
	if err != nil {
		b.Fatal(err)
	}
	ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{Dir: filepath.Join(dir, "ssd"), CapacityBytes: 8 << 30, AllowBuffered: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ssd.Close()
	writer, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: []cachetiers.Tier{ssd, store}, WriteThrough: true})
	if err != nil {
		b.Fatal(err)
	}
	// Past scaleChunk datoms the load goes in chunks, each indexed before
	// the next (as a node's indexing job keeps its memory index bounded):
	// a 100M-datom memory index would not fit in 24 GiB.
	chunk := scaleChunkDatoms(b, n) / scaleAttrsPerEntity
	loadMem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	loadStore, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: loadMem, Tiers: []cachetiers.Tier{ssd, store}, WriteThrough: true})
	if err != nil {
		b.Fatal(err)
	}
	var ids []datom.E
	var load, indexing time.Duration
	var ist engine.IndexStats
	var root engine.IndexRoot
	memReported := false
	rounds := 0
	for first := 0; first < entities; first += chunk {
		t0 := time.Now()
		db, ids = loadScale(b, ctx, db, rng, first, min(chunk, entities-first), ids)
		load += time.Since(t0)
		if !memReported {
			// The memory index's bytes per datom: the live heap after the
			// (first) load, the ids slice (8 bytes per entity) included.
			b.ReportMetric(float64(heapBytes()-heap0)/float64(db.MemDatoms()), "mem-index-B/datom")
			memReported = true
		}
		last := first+chunk >= entities
		through := loadStore
		if last {
			through = writer
		}
		t0 = time.Now()
		var st engine.IndexStats
		if db, root, st, err = db.Index(ctx, through, engine.TreeOptions{}); err != nil {
			b.Fatal(err)
		}
		indexing += time.Since(t0)
		rounds++
		if last {
			ist = st
		}
		if !last {
			b.Logf("loaded %d of %d entities (%.0f datoms/s so far), indexed in %s", first+chunk, entities,
				float64((first+chunk)*scaleAttrsPerEntity)/load.Seconds(), time.Since(t0).Round(time.Second))
		}
	}
	st, err := db.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Datoms)/load.Seconds(), "load-datoms/s")
	b.ReportMetric(float64(st.Datoms), "datoms")
	b.ReportMetric(indexing.Seconds(), "index-s")
	// A node serves the indexed database, not the memory index it came
	// from: let that go, so the pulls below run on the heap a node has.
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

	pattern := []any{engine.Keyword("scale/name"), engine.Keyword("scale/age"), engine.Keyword("scale/email")}
	pulls := func(s *cachetiers.Stratified, k int) (p50, p99 float64) {
		rdb, err := engine.Open(ctx, s, engine.TreeOptions{}, root)
		if err != nil {
			b.Fatal(err)
		}
		lat := make([]int64, 0, k)
		for range k {
			e := ids[rng.IntN(len(ids))]
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
	cold, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: []cachetiers.Tier{ssd, store}})
	if err != nil {
		b.Fatal(err)
	}
	p50, p99 := pulls(cold, 2000)
	b.ReportMetric(p50, "cold-ssd-pull-p50-ns")
	b.ReportMetric(p99, "cold-ssd-pull-p99-ns")
	mem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	warm, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: []cachetiers.Tier{ssd, store}})
	if err != nil {
		b.Fatal(err)
	}
	pulls(warm, 20000) // warm up
	p50, p99 = pulls(warm, 20000)
	b.ReportMetric(p50, "warm-pull-p50-ns")
	b.ReportMetric(p99, "warm-pull-p99-ns")

	// Indexing follows the size of the change, not of the database: the
	// same tenth of new datoms indexed into this database and into an
	// empty one (same generator, same store kind).
	more := entities / 10
	// As a node would: over the memory tier (the lookups of the new
	// transactions, then the leaves the merge rewrites).
	big, err := engine.Open(ctx, warm, engine.TreeOptions{}, root)
	if err != nil {
		b.Fatal(err)
	}
	big, _ = loadScale(b, ctx, big, rand.New(rand.NewPCG(9, 9)), entities, more, ids)
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
	sdb, _ := loadScale(b, ctx, small.DBAfter, rand.New(rand.NewPCG(9, 9)), entities, more, ids)
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

// loadScale transacts count entities numbered from first (transactions of
// 1,000 datoms), each maybe naming a random earlier one as its friend,
// and returns the database and ids with the new entities appended.
func loadScale(b *testing.B, ctx context.Context, db *engine.DB, rng *rand.Rand, first, count int, ids []datom.E) (*engine.DB, []datom.E) {
	const perTx = 1000 / scaleAttrsPerEntity
	end := first + count
	for i := first; i < end; i += perTx {
		ops := make([]engine.Op, 0, perTx)
		for j := i; j < min(i+perTx, end); j++ {
			m := engine.Map{ID: engine.TempID(strconv.Itoa(j)), Attrs: []engine.KV{
				{A: engine.Keyword("scale/name"), V: fmt.Sprintf("name-%d", j)},
				{A: engine.Keyword("scale/age"), V: int64(rng.IntN(100))},
				{A: engine.Keyword("scale/email"), V: fmt.Sprintf("p%d@example.org", j)},
				{A: engine.Keyword("scale/city"), V: scaleCities[rng.IntN(len(scaleCities))]},
				{A: engine.Keyword("scale/score"), V: rng.Float64()},
				{A: engine.Keyword("scale/tag"), V: []any{engine.Keyword(fmt.Sprintf("tag/t%d", rng.IntN(50))), engine.Keyword(fmt.Sprintf("tag/u%d", rng.IntN(50)))}},
			}}
			if len(ids) > 0 && j > 0 {
				// A friend among the entities of this database (in the
				// empty-database run, the first ones have none).
				if f := ids[rng.IntN(min(len(ids), j))]; f.N() < db.NextN() {
					m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("scale/friend"), V: f})
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
