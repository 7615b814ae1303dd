package bench

import (
	"context"
	"testing"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// BenchmarkPeopleIndex indexes the people database (db100k of
// BenchmarkPeople) into segment trees in a directory store and reports the
// bytes on disk per datom of each index (current and history trees; the
// goal of issue 3 is at most 16) and the time to index.
//
//	go test -run '^$' -bench PeopleIndex -benchtime 3x ./bench/
func BenchmarkPeopleIndex(b *testing.B) {
	ctx := context.Background()
	f := peopleFixtureOnce(b, peopleWorkload())
	st, err := f.db100k.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var ist engine.IndexStats
	for b.Loop() {
		b.StopTimer()
		store, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: []cachetiers.Tier{store}})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, _, ist, err = f.db100k.Index(ctx, s, engine.TreeOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	var total int64
	for x := range datom.NumIndexes {
		b.ReportMetric(float64(ist.Bytes[x])/float64(st.Datoms), x.String()+"-B/datom")
		total += ist.Bytes[x]
	}
	b.ReportMetric(float64(total)/float64(st.Datoms), "all-B/datom")
	b.ReportMetric(float64(st.Datoms), "datoms")
}
