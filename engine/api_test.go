package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stratadb/strata/datom"
)

func mustStats(t *testing.T, db *DB) Stats {
	t.Helper()
	s, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStatsRangesAndLog(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	var ops []Op
	for i := range 10 {
		ops = append(ops, Map{Attrs: []KV{{kw("person/email"), string(rune('a'+i)) + "@x"}, {kw("person/age"), int64(i)}}})
	}
	rep := mustWith(t, db, ops...)
	db = rep.DBAfter
	st := mustStats(t, db)
	if st.Attrs["person/email"] != 10 || st.Attrs["person/age"] != 10 {
		t.Fatalf("stats %v", st.Attrs)
	}
	age, _ := db.Schema().AttrByIdent("person/age")
	var got []int64
	for d, err := range db.IndexRange(ctx, age.ID, datom.Long(3), datom.Long(7)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.V.Long())
	}
	if !slices.Equal(got, []int64{3, 4, 5, 6}) {
		t.Fatalf("index-range %v", got)
	}
	bad := true
	for _, err := range db.IndexRange(ctx, age.ID, datom.String("x"), datom.Value{}) {
		bad = err == nil
	}
	if bad {
		t.Fatal("index-range with a bound of the wrong type accepted")
	}
	email, _ := db.Schema().AttrByIdent("person/email")
	var ages []any
	for m, err := range db.IndexPull(ctx, []any{kw("person/age")}, IndexPullOptions{Start: Components{A: email.ID, HasA: true, V: datom.String("h@x")}}) {
		if err != nil {
			t.Fatal(err)
		}
		ages = append(ages, m[kw("person/age")])
	}
	if !slices.Equal(ages, []any{int64(7), int64(8), int64(9)}) {
		t.Fatalf("index-pull %v", ages)
	}
	var ts []datom.T
	for e := range db.TxRange(0, 0) {
		ts = append(ts, e.T)
	}
	if len(ts) != 2 || ts[1] != db.BasisT() {
		t.Fatalf("tx-range %v", ts)
	}
	n := 0
	for e := range db.TxRange(db.BasisT(), 0) {
		n++
		if !slices.EqualFunc(e.Data, rep.TxData, func(a, b datom.Datom) bool { return datom.Compare(datom.EAVT, a, b) == 0 }) {
			t.Fatal("tx-range data differ from the report's")
		}
	}
	if n != 1 {
		t.Fatalf("tx-range from basis: %d entries", n)
	}
}

func TestTimePoints(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	var ts []datom.T
	var at []time.Time
	for i := range 3 {
		rep := mustWith(t, db, Add{E: TempID("p"), A: kw("person/email"), V: "p@x"}, Add{E: TempID("p"), A: kw("person/age"), V: int64(i)})
		db = rep.DBAfter
		ts = append(ts, db.BasisT())
		at = append(at, clock)
	}
	age, _ := db.Schema().AttrByIdent("person/age")
	ageAt := func(v *DB) int64 {
		for d, err := range v.Datoms(ctx, datom.AEVT, Components{A: age.ID, HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			return d.V.Long()
		}
		return -1
	}
	for i := range 3 {
		for _, p := range []any{ts[i], datom.TxE(ts[i]), at[i], at[i].Add(500 * time.Millisecond)} {
			v, err := db.AsOfPoint(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := ageAt(v); got != int64(i) {
				t.Fatalf("as-of %v: age %d, want %d", p, got, i)
			}
		}
	}
	if v, _ := db.AsOfPoint(ctx, at[0].Add(-time.Hour)); ageAt(v) != -1 {
		t.Fatal("as-of an instant before every transaction sees data")
	}
	if _, err := db.AsOfPoint(ctx, "yesterday"); err == nil {
		t.Fatal("a string point accepted")
	}
	if v, _ := db.SincePoint(ctx, at[1]); ageAt(v) != 2 {
		t.Fatal("since an instant")
	}
}

func TestTxLogSkipList(t *testing.T) {
	var l *txLog
	for i := 1; i <= 1000; i++ {
		l = l.push(TxEntry{T: datom.T(i * 2)})
	}
	for _, probe := range []datom.T{0, 1, 2, 3, 4, 999, 1000, 1001, 2000, 2001, 5000} {
		got := l.before(probe)
		var want datom.T
		for i := 1000; i >= 1; i-- {
			if datom.T(i*2) < probe {
				want = datom.T(i * 2)
				break
			}
		}
		switch {
		case want == 0 && got != nil:
			t.Fatalf("before(%d) = %d, want none", probe, got.e.T)
		case want != 0 && (got == nil || got.e.T != want):
			t.Fatalf("before(%d) = %v, want %d", probe, got, want)
		}
	}
}

// index-pull's options: index, start, reverse, offset, and its refusals.
func TestIndexPullOptions(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	var ops []Op
	for i := range 10 {
		// Ages 0, 0, 1, 1, … : two entities per value.
		ops = append(ops, Map{ID: TempID(string(rune('a' + i))), Attrs: []KV{{kw("person/email"), string(rune('a'+i)) + "@x"}, {kw("person/age"), int64(i / 2)}}})
	}
	rep := mustWith(t, db, ops...)
	db = rep.DBAfter
	age, _ := db.Schema().AttrByIdent("person/age")
	name := func(e datom.E) string {
		for tid, id := range rep.TempIDs {
			if id == e {
				return string(tid)
			}
		}
		return "?"
	}
	pulled := func(opts IndexPullOptions) (string, error) {
		out := ""
		for m, err := range db.IndexPull(ctx, []any{kw("db/id")}, opts) {
			if err != nil {
				return out, err
			}
			out += name(m[kw("db/id")].(datom.E))
		}
		return out, nil
	}
	a := Components{A: age.ID, HasA: true}
	// Entities in E order are a…j; ages pair them: (a b) (c d) (e f) (g h) (i j).
	at := func(v int64) Components { c := a; c.V = datom.Long(v); return c }
	atE := func(v int64, tid string) Components {
		c := at(v)
		c.E, c.HasE = rep.TempIDs[TempID(tid)], true
		return c
	}
	aevt := func(tid string) Components { c := a; c.E, c.HasE = rep.TempIDs[TempID(tid)], true; return c }
	for _, c := range []struct {
		opts IndexPullOptions
		want string
	}{
		{IndexPullOptions{Start: a}, "abcdefghij"},
		{IndexPullOptions{Start: at(2)}, "efghij"},
		{IndexPullOptions{Start: atE(2, "f")}, "fghij"},
		{IndexPullOptions{Start: at(2), Offset: 3}, "hij"},
		{IndexPullOptions{Start: a, Reverse: true}, "jihgfedcba"},
		{IndexPullOptions{Start: at(2), Reverse: true}, "fedcba"},
		{IndexPullOptions{Start: atE(2, "e"), Reverse: true}, "edcba"},
		{IndexPullOptions{Start: at(2), Reverse: true, Offset: 4}, "ba"},
		{IndexPullOptions{Index: datom.AEVT, Start: aevt("c")}, "cdefghij"},
		{IndexPullOptions{Index: datom.AEVT, Start: aevt("c"), Reverse: true}, "cba"},
		{IndexPullOptions{Start: at(9)}, ""},
	} {
		got, err := pulled(c.opts)
		if err != nil || got != c.want {
			t.Errorf("index-pull %+v: %q, %v; want %q", c.opts, got, err, c.want)
		}
	}
	for _, bad := range []IndexPullOptions{
		{},
		{Index: datom.VAET, Start: a},
		{Start: a, Offset: -1},
		{Start: Components{A: age.ID, HasA: true, V: datom.String("x")}},
		{Start: Components{A: age.ID, HasA: true, E: 5, HasE: true}}, // AVET: an entity without a value
	} {
		if _, err := pulled(bad); err == nil {
			t.Errorf("index-pull %+v accepted", bad)
		}
	}
}

// SeekDatoms starts at a position and runs to the end of the index, over
// the memory index, over trees (chunks decoded once and then served by the
// chunk cache), and in an as-of view.
func TestSeekDatoms(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	var ops []Op
	for i := range 40 {
		ops = append(ops, Map{Attrs: []KV{{kw("person/email"), string(rune('a'+i)) + "@x"}, {kw("person/age"), int64(i)}}})
	}
	db = mustWith(t, db, ops...).DBAfter
	age, _ := db.Schema().AttrByIdent("person/age")
	email, _ := db.Schema().AttrByIdent("person/email")
	seek := func(db *DB, e datom.E) (ages []int64, after int) {
		for d, err := range db.SeekDatoms(ctx, datom.AEVT, Components{A: age.ID, HasA: true, E: e, HasE: true}) {
			if err != nil {
				t.Fatal(err)
			}
			if d.A != age.ID {
				after++ // past the attribute: the seek runs on
				continue
			}
			ages = append(ages, d.V.Long())
		}
		return ages, after
	}
	var es []datom.E
	for d, err := range db.Datoms(ctx, datom.AEVT, Components{A: age.ID, HasA: true}) {
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, d.E)
	}
	check := func(name string, db *DB, n int) {
		t.Helper()
		ages, after := seek(db, es[30])
		if len(ages) != n-30 || ages[0] != 30 {
			t.Fatalf("%s: from the 31st person: %v", name, ages)
		}
		if after == 0 && email.ID > age.ID {
			t.Fatalf("%s: the seek stopped at the attribute's end", name)
		}
		// A position between datoms starts at the next one.
		if ages, _ := seek(db, es[10]+1); len(ages) != n-11 || ages[0] != 11 {
			t.Fatalf("%s: between the 11th and 12th: %v", name, ages)
		}
	}
	check("memory", db, 40)
	hits0, _ := ChunkCacheStats()
	idx, _, _, err := db.Index(ctx, testStore(t), TreeOptions{ChunkDatoms: 4, LeafDatoms: 8, Fanout: 4})
	if err != nil {
		t.Fatal(err)
	}
	check("trees", idx, 40)
	check("trees again", idx, 40)
	if hits, _ := ChunkCacheStats(); hits == hits0 {
		t.Fatal("the second read of the same chunks did not hit the chunk cache")
	}
	// A newer value over the trees, read as of the indexed one.
	newer := mustWith(t, idx, Map{Attrs: []KV{{kw("person/email"), "zz@x"}, {kw("person/age"), int64(99)}}}).DBAfter
	check("as of", newer.AsOf(idx.BasisT()), 40)
	if ages, _ := seek(newer, es[30]); len(ages) != 11 || ages[10] != 99 {
		t.Fatalf("newer: %v", ages)
	}
	if _, err := func() (d datom.Datom, err error) {
		for d, err = range db.SeekDatoms(ctx, datom.AEVT, Components{E: 5, HasE: true}) {
			break
		}
		return
	}(); err == nil {
		t.Fatal("components that are not a leading run accepted")
	}
}
