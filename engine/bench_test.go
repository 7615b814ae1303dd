package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/stratadb/strata/datom"
)

// BenchmarkTransact: transactions of 100 entities × 6 attributes (map
// forms with tempids) into a growing database; reports datoms/s.
func BenchmarkTransact(b *testing.B) {
	ctx := context.Background()
	db := Empty()
	rep, err := db.With(ctx, []Op{
		attr("b/name", datom.TypeString, false), attr("b/age", datom.TypeLong, false),
		attr("b/email", datom.TypeString, false, KV{kw("db/unique"), kw("db.unique/identity")}),
		attr("b/city", datom.TypeString, false), attr("b/tag", datom.TypeKeyword, true),
	}, TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db = rep.DBAfter
	n := 0
	datoms := 0
	b.ResetTimer()
	for b.Loop() {
		ops := make([]Op, 0, 100)
		for range 100 {
			n++
			ops = append(ops, Map{ID: TempID(fmt.Sprint(n)), Attrs: []KV{
				{kw("b/name"), fmt.Sprint("name", n)}, {kw("b/age"), int64(n % 90)},
				{kw("b/email"), fmt.Sprint(n, "@x")}, {kw("b/city"), fmt.Sprint("city", n%20)},
				{kw("b/tag"), []any{kw("t/a"), kw(fmt.Sprint("t/", n%30))}},
			}})
		}
		rep, err := db.With(ctx, ops, TxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		datoms += len(rep.TxData)
		db = rep.DBAfter
	}
	b.ReportMetric(float64(datoms)/b.Elapsed().Seconds(), "datoms/s")
}

// BenchmarkPullIndexed: point pulls of three attributes from segment trees
// served by the memory tier (warm), as in bench.BenchmarkScale.
func BenchmarkPullIndexed(b *testing.B) {
	ctx := context.Background()
	db := Empty()
	rep, err := db.With(ctx, []Op{attr("b/name", datom.TypeString, false), attr("b/age", datom.TypeLong, false),
		attr("b/email", datom.TypeString, false, KV{kw("db/unique"), kw("db.unique/identity")})}, TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db = rep.DBAfter
	var ids []datom.E
	for i := 0; i < 100_000; i += 1000 {
		ops := make([]Op, 0, 1000)
		for j := i; j < i+1000; j++ {
			ops = append(ops, Map{ID: TempID(fmt.Sprint(j)), Attrs: []KV{{kw("b/name"), fmt.Sprint("n", j)}, {kw("b/age"), int64(j % 90)}, {kw("b/email"), fmt.Sprint(j, "@x")}}})
		}
		rep, err := db.With(ctx, ops, TxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		db = rep.DBAfter
		for j := i; j < i+1000; j++ {
			ids = append(ids, rep.TempIDs[TempID(fmt.Sprint(j))])
		}
	}
	store := testStore(b)
	_, root, _, err := db.Index(ctx, store, TreeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db, err = Open(ctx, store, TreeOptions{}, root)
	if err != nil {
		b.Fatal(err)
	}
	pat := []any{kw("b/name"), kw("b/age"), kw("b/email")}
	for _, e := range ids {
		db.Pull(ctx, pat, e) // warm the memory tier
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := db.Pull(ctx, pat, ids[(i*7919)%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransactSmall: one datom per transaction into a database of
// 100,000 datoms (datascript-bench's add-1 shape).
func BenchmarkTransactSmall(b *testing.B) {
	ctx := context.Background()
	db := Empty()
	rep, err := db.With(ctx, []Op{attr("b/name", datom.TypeString, false), attr("b/age", datom.TypeLong, false)}, TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db = rep.DBAfter
	for i := 0; i < 50_000; i += 1000 {
		ops := make([]Op, 0, 1000)
		for j := i; j < i+1000; j++ {
			ops = append(ops, Map{Attrs: []KV{{kw("b/name"), fmt.Sprint("n", j)}, {kw("b/age"), int64(j)}}})
		}
		rep, err := db.With(ctx, ops, TxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		db = rep.DBAfter
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		rep, err := db.With(ctx, []Op{Add{E: TempID("x"), A: kw("b/age"), V: int64(n)}}, TxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		db = rep.DBAfter
	}
}

// BenchmarkDatomsLookup: the EAVT datoms of one entity and attribute, from
// the memory index (datascript-bench's slice-eavt step).
func BenchmarkDatomsLookup(b *testing.B) {
	ctx := context.Background()
	rep, err := Empty().With(ctx, []Op{attr("b/name", datom.TypeString, false)}, TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db := rep.DBAfter
	ops := make([]Op, 0, 20000)
	for j := range 20000 {
		ops = append(ops, Map{ID: TempID(fmt.Sprint(j)), Attrs: []KV{{kw("b/name"), fmt.Sprint("n", j)}}})
	}
	rep, err = db.With(ctx, ops, TxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	db = rep.DBAfter
	ids := make([]datom.E, 0, 20000)
	for j := range 20000 {
		ids = append(ids, rep.TempIDs[TempID(fmt.Sprint(j))])
	}
	name, _ := db.Schema().AttrByIdent("b/name")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		for d, err := range db.Datoms(ctx, datom.EAVT, Components{E: ids[(i*7919)%len(ids)], HasE: true, A: name.ID, HasA: true}) {
			if err != nil || !d.V.IsValid() {
				b.Fatal(err)
			}
		}
	}
}
