package engine

import (
	"context"
	"iter"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/tidwall/btree"
)

// Stats is db-stats: how many datoms the database holds, in all and per
// attribute (by ident), in db's view.
type Stats struct {
	Datoms int
	Attrs  map[string]int
}

// Stats counts db's datoms.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Attrs: map[string]int{}}
	r := newRd(ctx)
	db.scan(r, datom.AEVT, datom.Datom{}, func(datom.Datom) bool { return true }, func(d datom.Datom) bool {
		s.Datoms++
		if at, ok := db.schema.Attr(d.A); ok {
			s.Attrs[at.Ident]++
		}
		return true
	})
	return s, r.err
}

// IndexRange returns the datoms of attribute a in AVET order with start <=
// v < end; an invalid (zero) start or end leaves that side open.
func (db *DB) IndexRange(ctx context.Context, a datom.E, start, end datom.Value) iter.Seq2[datom.Datom, error] {
	return func(yield func(datom.Datom, error) bool) {
		at, ok := db.schema.Attr(a)
		if !ok {
			yield(datom.Datom{}, anomaly.New(anomaly.Incorrect, "index-range", "%d is not an attribute", a))
			return
		}
		for _, v := range []datom.Value{start, end} {
			if v.IsValid() && v.Type() != at.Type {
				yield(datom.Datom{}, anomaly.New(anomaly.Incorrect, "index-range", "bound %s is not a %s, the type of :%s", v, at.Type, at.Ident))
				return
			}
		}
		r := newRd(ctx)
		more := true
		db.scan(r, datom.AVET, datom.Datom{A: a, V: start}, func(d datom.Datom) bool {
			return d.A == a && (!end.IsValid() || datom.CompareValue(d.V, end) < 0)
		}, func(d datom.Datom) bool { more = yield(d, nil); return more })
		if more && r.err != nil {
			yield(datom.Datom{}, r.err)
		}
	}
}

// IndexPull pulls, in AVET order of attribute a's values from start on,
// the entities that have them (Datomic's index-pull).
func (db *DB) IndexPull(ctx context.Context, a datom.E, start datom.Value, pattern any) iter.Seq2[map[any]any, error] {
	return func(yield func(map[any]any, error) bool) {
		pat, err := db.compilePattern(pattern, 0)
		if err != nil {
			yield(nil, err)
			return
		}
		for d, err := range db.IndexRange(ctx, a, start, datom.Value{}) {
			if err != nil {
				yield(nil, err)
				return
			}
			r := newRd(ctx)
			m := db.pull(r, pat, d.E, map[datom.E]bool{}, 0)
			if r.err != nil {
				yield(nil, r.err)
				return
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// TxEntry is one transaction of the log: its t and its datoms.
type TxEntry struct {
	T    datom.T
	Data []datom.Datom
}

// txLog is the log of transactions since the database was created (the
// transactor keeps the durable log; this is the engine's view of it).
type txLog = btree.BTreeG[TxEntry]

func newTxLog() *txLog {
	return btree.NewBTreeGOptions(func(a, b TxEntry) bool { return a.T < b.T }, treeOpts)
}

// TxRange returns the transactions with start <= t < end (end 0: open),
// in order of t, up to db's basis.
func (db *DB) TxRange(start, end datom.T) iter.Seq[TxEntry] {
	return func(yield func(TxEntry) bool) {
		db.mem.log.Ascend(TxEntry{T: start}, func(e TxEntry) bool {
			if (end != 0 && e.T >= end) || e.T > db.basis {
				return false
			}
			return yield(e)
		})
	}
}
