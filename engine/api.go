package engine

import (
	"context"
	"iter"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
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
			m := db.pull(r, pat, d.E, &pullPath{}, 0)
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
// transactor keeps the durable log; this is the engine's view of it): a
// persistent, append-only list, newest first, with skip pointers (Myers, "An
// applicative random-access stack", IPL 1983) so that finding a t takes
// O(log n) steps. Appending allocates one node and copies nothing, so two
// database values that share a past share its log.
type txLog struct {
	e     TxEntry
	depth int // entries below this one
	prev  *txLog
	jump  *txLog
}

// push returns the log l with e on top (l may be nil: the empty log).
func (l *txLog) push(e TxEntry) *txLog {
	n := &txLog{e: e, prev: l}
	if l == nil {
		return n
	}
	n.depth = l.depth + 1
	n.jump = l
	if l.jump != nil && l.jump.jump != nil && l.depth-l.jump.depth == l.jump.depth-l.jump.jump.depth {
		n.jump = l.jump.jump
	}
	return n
}

// before returns the newest entry with T < t (nil if none).
func (l *txLog) before(t datom.T) *txLog {
	for l != nil && l.e.T >= t {
		if l.jump != nil && l.jump.e.T >= t {
			l = l.jump
		} else {
			l = l.prev
		}
	}
	return l
}

// TxRange returns the transactions with start <= t < end (end 0: open),
// in order of t, up to db's basis.
func (db *DB) TxRange(start, end datom.T) iter.Seq[TxEntry] {
	return func(yield func(TxEntry) bool) {
		top := db.log
		if end != 0 {
			top = top.before(end)
		}
		top = top.before(db.basis + 1)
		var stack []*txLog
		for l := top; l != nil && l.e.T >= start; l = l.prev {
			stack = append(stack, l)
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if !yield(stack[i].e) {
				return
			}
		}
	}
}
