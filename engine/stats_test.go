package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stratadb/strata/datom"
)

// AttrCount is exact for the newest value of a chain of transactions:
// assertions, retractions, cardinality-one replacements, retractEntity,
// failed transactions (taken back), indexing (the counts go into the root),
// rebasing onto an older value's trees, and reopening from the root alone.
func TestAttrCount(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	db := mustWith(t, peopleSchema(t), attr("s/score", datom.TypeLong, false, KV{kw("db.attr/preds"), Symbol("s/small?")})).DBAfter
	opts := TxOptions{Preds: map[string]Pred{"s/small?": func(_ *DB, _ datom.E, v datom.Value) bool { return v.Long() < 5 }}}
	store := testStore(t)
	treeOpts := TreeOptions{ChunkDatoms: 4, LeafDatoms: 8, Fanout: 4}
	attrs := []string{"person/email", "person/name", "person/age", "person/alias", "person/friend", "s/score"}
	failed := 0
	var ents []datom.E
	var prev *DB
	for step := range 500 {
		var ops []Op
		switch k := rng.IntN(10); {
		case k < 5 || len(ents) < 3:
			m := Map{ID: TempID("n"), Attrs: []KV{{kw("person/email"), fmt.Sprint("p", step, "@x")}, {kw("person/age"), int64(rng.IntN(50))}}}
			if rng.IntN(2) == 0 {
				m.Attrs = append(m.Attrs, KV{kw("person/alias"), []any{"a", fmt.Sprint("b", rng.IntN(3))}})
			}
			if len(ents) > 0 {
				m.Attrs = append(m.Attrs, KV{kw("person/friend"), ents[rng.IntN(len(ents))]})
			}
			ops = append(ops, m)
		case k < 7:
			ops = append(ops, Add{E: ents[rng.IntN(len(ents))], A: kw("person/age"), V: int64(rng.IntN(50))})
		case k < 8:
			ops = append(ops, Retract{E: ents[rng.IntN(len(ents))], A: kw("person/alias"), V: "a"})
		case k < 9:
			ops = append(ops, RetractEntity{E: ents[rng.IntN(len(ents))]})
		default:
			// Fails after writing its layer when the score is 5 or more
			// (an attribute predicate): the writes are taken back.
			e := ents[rng.IntN(len(ents))]
			ops = append(ops, Add{E: e, A: kw("s/score"), V: int64(rng.IntN(8))}, RetractEntity{E: ents[rng.IntN(len(ents))]},
				Add{E: e, A: kw("person/age"), V: int64(99)})
		}
		rep, err := db.With(ctx, ops, opts)
		if err != nil {
			failed++
		} else {
			prev, db = db, rep.DBAfter
			if e, ok := rep.TempIDs["n"]; ok {
				ents = append(ents, e)
			}
		}
		if rng.IntN(25) == 0 {
			from := db
			if prev != nil && rng.IntN(2) == 0 {
				from = prev
			}
			idx, root, _, err := from.Index(ctx, store, treeOpts)
			if err != nil {
				t.Fatal(err)
			}
			if from == db {
				db = idx
				if rng.IntN(2) == 0 {
					if db, err = Open(ctx, store, treeOpts, root); err != nil {
						t.Fatal(err)
					}
				}
			} else if db, err = db.Rebase(idx, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, ident := range attrs {
			at, _ := db.Schema().AttrByIdent(ident)
			want := int64(0)
			for _, err := range db.Datoms(ctx, datom.AEVT, Components{A: at.ID, HasA: true}) {
				if err != nil {
					t.Fatal(err)
				}
				want++
			}
			if got := db.AttrCount(at.ID); got != want {
				t.Fatalf("step %d: :%s counted %d, holds %d (indexed t %d)", step, ident, got, want, db.IndexedT())
			}
		}
	}
	if db.IndexedT() == 0 || failed < 10 {
		t.Fatalf("indexed t %d, %d transactions failed: the test did not do what it says", db.IndexedT(), failed)
	}
}

// Rebasing a single layer over trees onto trees indexed from an older
// value keeps what changed after them: assertions, retractions of datoms
// in the trees (tombstones), retractions of datoms asserted before the
// older value; every view of the rebased value equals the original's, and
// its counts stay exact.
func TestRebaseSingleLayer(t *testing.T) {
	ctx := context.Background()
	store := testStore(t)
	opts := TreeOptions{ChunkDatoms: 4, LeafDatoms: 8, Fanout: 4}
	db := peopleSchema(t)
	rep := mustWith(t, db, Map{ID: TempID("a"), Attrs: []KV{{kw("person/email"), "a@x"}, {kw("person/age"), int64(1)}}},
		Map{ID: TempID("b"), Attrs: []KV{{kw("person/email"), "b@x"}, {kw("person/age"), int64(2)}}})
	a, b := rep.TempIDs["a"], rep.TempIDs["b"]
	idx0, _, _, err := rep.DBAfter.Index(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	rep = mustWith(t, idx0, Retract{E: a, A: kw("person/age"), V: int64(1)},
		Map{ID: TempID("c"), Attrs: []KV{{kw("person/email"), "c@x"}, {kw("person/age"), int64(3)}}})
	db1, c := rep.DBAfter, rep.TempIDs["c"]
	db2 := mustWith(t, db1, Retract{E: b, A: kw("person/age"), V: int64(2)}, Retract{E: c, A: kw("person/age"), V: int64(3)},
		Map{Attrs: []KV{{kw("person/email"), "d@x"}, {kw("person/age"), int64(4)}}}).DBAfter
	idx1, _, _, err := db1.Index(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := db2.Rebase(idx1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, view := range map[string]func(*DB) *DB{
		"current":  func(d *DB) *DB { return d },
		"history":  func(d *DB) *DB { return d.History() },
		"as of t1": func(d *DB) *DB { return d.AsOf(db1.BasisT()) },
		"since t1": func(d *DB) *DB { return d.Since(db1.BasisT()) },
	} {
		if got, want := fmt.Sprint(allDatoms(t, view(r))), fmt.Sprint(allDatoms(t, view(db2))); got != want {
			t.Errorf("%s: rebased\n %s\nwant\n %s", name, got, want)
		}
	}
	age, _ := r.Schema().AttrByIdent("person/age")
	if n := r.AttrCount(age.ID); n != 1 {
		t.Errorf("ages counted %d after the rebase, want 1", n)
	}
}
