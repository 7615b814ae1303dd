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
