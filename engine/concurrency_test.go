package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stratadb/strata/datom"
)

// Database values are shared between goroutines: readers of older values
// run while a writer transacts in place into the memory layer they read and
// indexes new ones; every value keeps answering exactly what it held when
// it was published. Run under -race.
func TestConcurrentReadersAndWriter(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	store := testStore(t)
	var mu sync.Mutex
	type published struct {
		db *DB
		n  int // AEVT datoms at publication
	}
	countAEVT := func(v *DB) int {
		n := 0
		for _, err := range v.Datoms(ctx, datom.AEVT, Components{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	values := []published{{db, countAEVT(db)}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				p := values[(i*7+r)%len(values)]
				if i%2 == 0 {
					p = values[len(values)-1]
				}
				mu.Unlock()
				v := p.db
				n := 0
				for d, err := range v.Datoms(ctx, datom.AEVT, Components{}) {
					if err != nil {
						t.Error(err)
						return
					}
					if d.T() > v.BasisT() {
						t.Errorf("reader %d: datom %s after basis %d", r, d, v.BasisT())
						return
					}
					n++
				}
				if _, err := v.AsOf(v.BasisT() / 2).Stats(ctx); err != nil {
					t.Error(err)
					return
				}
				if n != p.n {
					t.Errorf("reader %d: the value at %d held %d datoms when published, now %d", r, v.BasisT(), p.n, n)
					return
				}
			}
		}()
	}
	cur := db
	for i := range 200 {
		rep, err := cur.With(ctx, []Op{
			Map{Attrs: []KV{{kw("person/email"), fmt.Sprint(i%50, "@x")}, {kw("person/age"), int64(i)}, {kw("person/alias"), []any{fmt.Sprint("a", i)}}}},
		}, TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur = rep.DBAfter
		if i%40 == 39 {
			if cur, _, _, err = cur.Index(ctx, store, TreeOptions{ChunkDatoms: 8, LeafDatoms: 32, Fanout: 4}); err != nil {
				t.Fatal(err)
			}
		}
		n := countAEVT(cur)
		mu.Lock()
		values = append(values, published{cur, n})
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}

// Transactions on one value from many goroutines at once: one writes the
// value's layer in place, the others fork it; each result holds the value's
// datoms and its own, and the value is unchanged. Run under -race.
func TestConcurrentWithOnOneValue(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	for i := range 50 {
		db = mustWith(t, db, Map{Attrs: []KV{{kw("person/email"), fmt.Sprint(i, "@base")}}}).DBAfter
	}
	before := allDatoms(t, db)
	const n = 8
	reps := make([]*TxReport, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			rep, err := db.With(ctx, []Op{Map{Attrs: []KV{{kw("person/email"), fmt.Sprint(g, "@g")}, {kw("person/age"), int64(g)}}}}, TxOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			reps[g] = rep
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	inPlace := 0
	for g, rep := range reps {
		if rep.DBAfter.mem == db.mem {
			inPlace++
		}
		got := allDatoms(t, rep.DBAfter)
		if len(got) != len(before)+3 { // email, age, the transaction's instant
			t.Errorf("goroutine %d: %d datoms after, want %d", g, len(got), len(before)+3)
		}
		for g2 := range n {
			e, err := rep.DBAfter.Lookup(ctx, rep.DBAfter.schema.idents["person/email"], datom.String(fmt.Sprint(g2, "@g")))
			if (err == nil) != (g2 == g) {
				t.Errorf("goroutine %d's value: lookup of %d@g: %v, %v", g, g2, e, err)
			}
		}
	}
	if inPlace != 1 {
		t.Errorf("%d transactions wrote the value's layer in place, want 1", inPlace)
	}
	if !slices.EqualFunc(allDatoms(t, db), before, datomEq) {
		t.Error("the value changed")
	}
}
