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

// SeekDatoms returns the datoms of index x from the first at or after the
// position c names (a leading run of components, as for Datoms) to the end
// of the index, in index order, as seen by db's view (Datomic's
// seek-datoms). The caller stops when it has read enough.
func (db *DB) SeekDatoms(ctx context.Context, x datom.Index, c Components) iter.Seq2[datom.Datom, error] {
	return db.datomsFrom(ctx, x, c, func(datom.Datom) bool { return true })
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

// IndexPullOptions are index-pull's arguments beside the pattern
// (Datomic's :index, :start, :reverse and :offset).
type IndexPullOptions struct {
	// Index is AVET (the default, the zero Index is EAVT and means AVET
	// here) or AEVT.
	Index datom.Index
	// Start holds the attribute (required) and optionally the leading
	// components after it in Index's order: AVET a value then an entity,
	// AEVT an entity then a value.
	Start Components
	// Reverse walks from Start toward the attribute's first datom. The
	// datoms from there to Start are buffered (8 bytes each).
	Reverse bool
	// Offset skips that many datoms first.
	Offset int
}

// IndexPull pulls pattern for the entity of each datom of one attribute in
// index order from opts.Start on (or, reversed, up to it): Datomic's
// index-pull.
func (db *DB) IndexPull(ctx context.Context, pattern any, opts IndexPullOptions) iter.Seq2[map[any]any, error] {
	return func(yield func(map[any]any, error) bool) {
		x := opts.Index
		if x == datom.EAVT {
			x = datom.AVET
		}
		fail := func(format string, args ...any) {
			yield(nil, anomaly.New(anomaly.Incorrect, "index-pull", format, args...))
		}
		switch {
		case x != datom.AVET && x != datom.AEVT:
			fail("index %s: want avet or aevt", x)
			return
		case !opts.Start.HasA:
			fail("start names no attribute")
			return
		case opts.Offset < 0:
			fail("offset %d is negative", opts.Offset)
			return
		}
		if err := opts.Start.check(x); err != nil {
			yield(nil, err)
			return
		}
		at, ok := db.schema.Attr(opts.Start.A)
		if !ok {
			fail("%d is not an attribute", opts.Start.A)
			return
		}
		if v := opts.Start.V; v.IsValid() && v.Type() != at.Type {
			fail("start value %s is not a %s, the type of :%s", v, at.Type, at.Ident)
			return
		}
		pat, err := db.compilePattern(pattern, 0)
		if err != nil {
			yield(nil, err)
			return
		}
		a := at.ID
		start := opts.Start.probe()
		r := newRd(ctx)
		skip := opts.Offset
		more := true
		pull := func(e datom.E) bool {
			if skip > 0 {
				skip--
				return true
			}
			m := db.pull(r, pat, e, &pullPath{}, 0)
			if r.err != nil {
				return false
			}
			more = yield(m, nil)
			return more
		}
		inAttr := func(d datom.Datom) bool { return d.A == a }
		if !opts.Reverse {
			db.scan(r, x, start, inAttr, func(d datom.Datom) bool { return pull(d.E) })
		} else {
			// The datoms up to Start: from the attribute's first datom
			// while not after Start's components.
			var es []datom.E
			db.scan(r, x, datom.Datom{A: a}, func(d datom.Datom) bool {
				return d.A == a && !afterStart(x, d, opts.Start)
			}, func(d datom.Datom) bool { es = append(es, d.E); return true })
			for i := len(es) - 1; i >= 0 && r.err == nil; i-- {
				if !pull(es[i]) {
					break
				}
			}
		}
		if more && r.err != nil {
			yield(nil, r.err)
		}
	}
}

// afterStart reports whether d (of the start's attribute) comes after the
// start components c in index x (AVET or AEVT): a datom that matches every
// component c sets is not after it.
func afterStart(x datom.Index, d datom.Datom, c Components) bool {
	if x == datom.AEVT {
		if !c.HasE || d.E != c.E {
			return c.HasE && d.E > c.E
		}
		return c.V.IsValid() && datom.CompareValue(d.V, c.V) > 0
	}
	if !c.V.IsValid() {
		return false
	}
	if cv := datom.CompareValue(d.V, c.V); cv != 0 {
		return cv > 0
	}
	return c.HasE && d.E > c.E
}

// TxEntry is one transaction of the log: its t, the counter of t and
// entity numbers after it, and its datoms (in EAVT order).
type TxEntry struct {
	T     datom.T
	NextN uint64
	Data  []datom.Datom
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
