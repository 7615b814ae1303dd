package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stratadb/strata/datom"
)

// Database values are shared between goroutines: readers of older values
// run while a writer transacts and indexes new ones (the copy-on-write trees
// must never change a node a reader can see). Run under -race.
func TestConcurrentReadersAndWriter(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	store := testStore(t)
	var mu sync.Mutex
	latest := db
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
				v := latest
				mu.Unlock()
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
				_ = n
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
		mu.Lock()
		latest = cur
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}
