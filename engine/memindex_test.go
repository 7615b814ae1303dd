package engine

import (
	"context"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stratadb/strata/datom"
)

// The memory layer's per-index orders are datom.Compare written out on
// pointers: they must agree with it on every pair.
func TestLessIndexAgreesWithCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	values := []datom.Value{
		datom.Long(-1), datom.Long(3), datom.String("a"), datom.String("b"), datom.Keyword("k/a"),
		datom.Ref(1000), datom.Ref(1001), datom.Boolean(true), datom.Double(0.5), datom.BigInt(big.NewInt(7)),
		datom.Tuple(datom.Long(1), datom.String("x")), datom.Tuple(datom.Long(1)),
	}
	ds := make([]datom.Datom, 400)
	for i := range ds {
		ds[i] = datom.Datom{
			E: datom.E(1000 + rng.IntN(3)), A: datom.E(50 + rng.IntN(3)), V: values[rng.IntN(len(values))],
			Tx: datom.TxE(datom.T(rng.IntN(3))), Added: rng.IntN(2) == 0,
		}
	}
	for x := range datom.NumIndexes {
		for i := range ds {
			for j := range ds {
				a, b := &entry{d: ds[i]}, &entry{d: ds[j]}
				if got, want := lessIndex[x](a, b), datom.Compare(x, ds[i], ds[j]) < 0; got != want {
					t.Fatalf("%s: less(%s, %s) = %v, Compare says %v", x, ds[i], ds[j], got, want)
				}
			}
		}
	}
}

// A writer's layer is its own: speculative transactions on its newest
// value fork, and the writer goes on in place.
func TestWriterOwnsItsLayer(t *testing.T) {
	ctx := context.Background()
	w := NewWriter()
	db := peopleSchema(t)
	tx := func(db *DB, w *Writer, email string) *DB {
		t.Helper()
		rep, err := db.With(ctx, []Op{Map{Attrs: []KV{{kw("person/email"), email}}}}, TxOptions{Writer: w})
		if err != nil {
			t.Fatal(err)
		}
		return rep.DBAfter
	}
	head := tx(db, w, "a@x")
	spec := tx(head, nil, "spec@x")
	if spec.mem == head.mem {
		t.Fatal("a speculative transaction wrote the writer's layer")
	}
	next := tx(head, w, "b@x")
	if next.mem != head.mem {
		t.Fatal("the writer forked its own layer after a speculative transaction")
	}
	other := tx(next, NewWriter(), "c@x")
	if other.mem == next.mem {
		t.Fatal("another writer wrote the writer's layer")
	}
	email := next.schema.idents["person/email"]
	for _, c := range []struct {
		db   *DB
		want []string
	}{{head, []string{"a@x"}}, {spec, []string{"a@x", "spec@x"}}, {next, []string{"a@x", "b@x"}}, {other, []string{"a@x", "b@x", "c@x"}}} {
		var got []string
		for d, err := range c.db.Datoms(ctx, datom.AVET, Components{A: email, HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d.V.Str())
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.db, got, c.want)
		}
	}
}
