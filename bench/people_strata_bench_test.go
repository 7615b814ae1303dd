package bench

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// BenchmarkPeopleStrata prices a stratum miss for the people queries: the
// db100k database indexed into trees (engine.Index), read through the
// strata, in two states:
//
//	stratum=memory  the memory tier and the decoded-chunk cache hold every
//	                segment the query reads (warm);
//	stratum=ssd     cold in memory, warm on the SSD tier: every run starts
//	                with an empty memory tier and chunk cache, so each
//	                segment comes from the SSD tier (O_DIRECT reads through
//	                io_uring) and is decoded again.
//
// Each reports Datascript's time for the same query (in memory: it has no
// strata) and the speedup against it, and the ssd runs report ssd/memory,
// the price of the miss:
//
//	go test -run '^$' -bench PeopleStrata -benchtime 20x ./bench/
//
// The ssd runs open the database from its root before each timed run
// (reading the schema's segments), so those are warm; the query's own
// leaves are cold.
func BenchmarkPeopleStrata(b *testing.B) {
	f := peopleFixtureOnce(b, peopleWorkload())
	dir := b.TempDir()
	store, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: filepath.Join(dir, "store")})
	if err != nil {
		b.Fatal(err)
	}
	ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{Dir: filepath.Join(dir, "ssd"), CapacityBytes: 256 << 20, RegionSize: 4 << 20})
	if err != nil {
		b.Skipf("ssd tier unavailable here: %v", err)
	}
	b.Cleanup(func() { ssd.Close() })
	strata := func(b *testing.B) *cachetiers.Stratified {
		mem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 256 << 20})
		if err != nil {
			b.Fatal(err)
		}
		s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: []cachetiers.Tier{ssd, store}})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s := strata(b)
	_, root, _, err := f.db100k.Index(peopleCtx, s, engine.TreeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	open := func(b *testing.B, s *cachetiers.Stratified) *engine.DB {
		db, err := engine.Open(peopleCtx, s, engine.TreeOptions{}, root)
		if err != nil {
			b.Fatal(err)
		}
		return db
	}
	// Warm the SSD tier: every segment read once from the store, promoted.
	warm := open(b, s)
	for x := range datom.NumIndexes {
		for _, err := range warm.SeekDatoms(peopleCtx, x, engine.Components{}) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.WaitFills(peopleCtx); err != nil {
		b.Fatal(err)
	}
	s.Close()
	for _, task := range peopleTasks {
		if !strings.HasPrefix(task.name, "q") {
			continue
		}
		ds := datascriptPeople(b, task.name)
		var memNs float64
		b.Run("task="+task.name+"/stratum=memory", func(b *testing.B) {
			s := strata(b)
			defer s.Close()
			g := *f
			g.db100k = open(b, s)
			run := task.setup(b, &g)
			if got := run(); got != ds.Check {
				b.Fatalf("%s: strata's check %d, Datascript's %d", task.name, got, ds.Check)
			}
			n := 0
			for b.Loop() {
				run()
				n++
			}
			memNs = float64(b.Elapsed().Nanoseconds()) / float64(n)
			b.ReportMetric(ds.NsPerOp, "datascript-ns/op")
			b.ReportMetric(ds.NsPerOp/memNs, "speedup-vs-datascript")
		})
		b.Run("task="+task.name+"/stratum=ssd", func(b *testing.B) {
			g := *f
			var timed float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				engine.SetChunkCacheBytes(engine.DefaultChunkCacheBytes) // empty
				s := strata(b)
				g.db100k = open(b, s)
				run := task.setup(b, &g)
				b.StartTimer()
				if got := run(); got != ds.Check {
					b.Fatalf("%s: strata's check %d, Datascript's %d", task.name, got, ds.Check)
				}
				b.StopTimer()
				s.Close()
			}
			timed = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ds.NsPerOp, "datascript-ns/op")
			b.ReportMetric(ds.NsPerOp/timed, "speedup-vs-datascript")
			if memNs > 0 {
				b.ReportMetric(timed/memNs, "ssd/memory")
			}
		})
	}
	engine.SetChunkCacheBytes(engine.DefaultChunkCacheBytes)
}
