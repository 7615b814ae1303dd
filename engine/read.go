package engine

import (
	"context"
	"iter"

	"github.com/stratadb/strata/datom"
)

// The read layer: a database value's datoms are the persistent trees
// (indexed up to base.t, read through the cache strata) merged with the
// memory index (everything since), and a view (as-of, since, history)
// filters the merge.

// rd carries the context of a read and its first error: a read from the
// storage strata can fail (unavailable after bounded retries), and the
// scans below are push-style, so they record the error and stop, and the
// exported operation returns it.
type rd struct {
	ctx context.Context
	err error
}

func newRd(ctx context.Context) *rd {
	if ctx == nil {
		ctx = context.Background()
	}
	return &rd{ctx: ctx}
}

func (r *rd) fail(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

// indexBase is the persistent part of a database value: one tree of
// current datoms and one of history per index, indexed up to t.
type indexBase struct {
	store SegmentStore
	opts  TreeOptions
	t     datom.T
	cur   [datom.NumIndexes]TreeRef
	hist  [datom.NumIndexes]TreeRef
	// counts: current datoms per attribute in cur (nil: not known).
	counts map[datom.E]int64
}

// treeSource returns the push-style scan of one persistent tree from
// probe, or nil when there is none.
func (db *DB) treeSource(r *rd, x datom.Index, root TreeRef, probe datom.Datom) func(func(datom.Datom) bool) {
	if db.base == nil || root.IsEmpty() {
		return nil
	}
	return func(yield func(datom.Datom) bool) {
		t := treeIO{store: db.base.store, opts: db.base.opts, x: x}
		r.fail(t.ascend(r.ctx, root, &probe, yield))
	}
}

// mergeSources yields the union of two ordered, disjoint streams in order.
func mergeSources(x datom.Index, a, b func(func(datom.Datom) bool), yield func(datom.Datom) bool) {
	switch {
	case a == nil && b == nil:
		return
	case a == nil:
		b(yield)
		return
	case b == nil:
		a(yield)
		return
	}
	next, stop := iter.Pull(b)
	defer stop()
	bd, bok := next()
	more := true
	a(func(d datom.Datom) bool {
		for bok && datom.Compare(x, bd, d) < 0 {
			if more = yield(bd); !more {
				return false
			}
			bd, bok = next()
		}
		more = yield(d)
		return more
	})
	for more && bok {
		more = yield(bd)
		bd, bok = next()
	}
}

// source returns the push-style scan of db's datoms in index x from probe
// on: with full false, the current datoms; with full true, every assertion
// and retraction up to db's basis (for as-of and history views). inRange
// bounds the scan: it must hold for a prefix of the index from probe on.
func (db *DB) source(r *rd, x datom.Index, probe datom.Datom, inRange func(datom.Datom) bool, full bool) func(func(datom.Datom) bool) {
	var trees func(func(datom.Datom) bool)
	if db.base != nil {
		trees = db.treeSource(r, x, db.base.cur[x], probe)
		if full {
			if h := db.treeSource(r, x, db.base.hist[x], probe); h != nil {
				c := trees
				trees = func(yield func(datom.Datom) bool) { mergeSources(x, c, h, yield) }
			}
		}
	}
	return layerSource(db.mem, db.basis, trees, x, probe, inRange, full)
}

// layerSource merges layer l's view at b over what lies below it: its
// parent's view at the fork's basis, or the persistent trees.
func layerSource(l *memLayer, b datom.T, trees func(func(datom.Datom) bool), x datom.Index, probe datom.Datom,
	inRange func(datom.Datom) bool, full bool) func(func(datom.Datom) bool) {
	lower := trees
	if l.parent != nil {
		lower = layerSource(l.parent, l.cut, trees, x, probe, inRange, full)
	}
	if l.size.Load() == 0 {
		return lower
	}
	return func(yield func(datom.Datom) bool) {
		mergeLayer(x, lower, newLayerIter(l, x, b, full, probe, inRange), yield)
	}
}

// mergeLayer yields the union of a lower stream and a layer's items in
// index order; a marker drops the lower datom at its key.
func mergeLayer(x datom.Index, lower func(func(datom.Datom) bool), up *layerIter, yield func(datom.Datom) bool) {
	u, marker, uok := up.next()
	more := true
	if lower != nil {
		lower(func(d datom.Datom) bool {
			for uok {
				c := datom.Compare(x, u, d)
				if c > 0 {
					break
				}
				if c == 0 && marker {
					u, marker, uok = up.next()
					return true
				}
				if !marker {
					if more = yield(u); !more {
						return false
					}
				}
				u, marker, uok = up.next()
			}
			more = yield(d)
			return more
		})
	}
	for more && uok {
		if !marker {
			more = yield(u)
		}
		u, marker, uok = up.next()
	}
}

// scanCur visits the current datoms of index x (ignoring the view) from
// probe on, while inRange holds, until yield returns false.
func (db *DB) scanCur(r *rd, x datom.Index, probe datom.Datom, inRange, yield func(datom.Datom) bool) {
	if db.base == nil && db.mem.parent == nil {
		// Only one layer: no merge (the common case of a point read
		// before the first indexing).
		it := iterPool.Get().(*layerIter)
		it.init(db.mem, x, db.basis, false, probe, inRange)
		defer func() {
			it.release()
			iterPool.Put(it)
		}()
		for d, marker, ok := it.next(); ok; d, marker, ok = it.next() {
			if !marker && !yield(d) {
				return
			}
		}
		return
	}
	src := db.source(r, x, probe, inRange, false)
	if src == nil {
		return
	}
	src(func(d datom.Datom) bool { return inRange(d) && yield(d) })
}

// scan visits db's view of index x from probe on, while inRange holds, and
// yields the datoms of the view until yield returns false.
func (db *DB) scan(r *rd, x datom.Index, probe datom.Datom, inRange, yield func(datom.Datom) bool) {
	switch {
	case !db.filtered():
		db.scanCur(r, x, probe, inRange, yield)
		return
	case !db.history && !db.hasAsOf:
		// Since alone: the current datoms added after it.
		db.scanCur(r, x, probe, inRange, func(d datom.Datom) bool { return !db.inTime(d) || yield(d) })
		return
	}
	// History and as-of read every assertion and retraction in index
	// order; datoms of one fact (e, a, v) are adjacent, ordered by t.
	src := db.source(r, x, probe, inRange, true)
	if src == nil {
		return
	}
	wanted := true
	view := db.viewOf(func(d datom.Datom) bool { wanted = yield(d); return wanted })
	src(func(d datom.Datom) bool { return inRange(d) && view(d) })
	if wanted {
		view(datom.Datom{}) // flush the last fact
	}
}

// viewOf turns the merged, ordered stream of current and history datoms
// into db's view, calling yield for what the view holds: with history,
// every datom in time; for as-of, per fact, the last datom up to as-of if it
// is an assertion (and, with since too, added after since). A zero Datom
// flushes. The returned func reports whether to go on.
func (db *DB) viewOf(yield func(datom.Datom) bool) func(datom.Datom) bool {
	if db.history {
		return func(d datom.Datom) bool {
			return !d.V.IsValid() || !db.inTime(d) || yield(d)
		}
	}
	var last datom.Datom
	have := false
	return func(d datom.Datom) bool {
		if have && (!d.V.IsValid() || !sameFact(last, d)) {
			have = false
			if last.Added && (!db.hasSince || last.T() > db.since) && !yield(last) {
				return false
			}
		}
		if d.V.IsValid() && d.T() <= db.asOf {
			last, have = d, true
		}
		return true
	}
}

func sameFact(a, b datom.Datom) bool {
	return a.E == b.E && a.A == b.A && datom.EqualValue(a.V, b.V)
}

// current returns the current datom for e, a, v, if there is one.
func (db *DB) current(r *rd, e, a datom.E, v datom.Value) (datom.Datom, bool) {
	var found datom.Datom
	ok := false
	db.scanCur(r, datom.EAVT, datom.Datom{E: e, A: a, V: v}, func(d datom.Datom) bool {
		return d.E == e && d.A == a && datom.EqualValue(d.V, v)
	}, func(d datom.Datom) bool { found, ok = d, true; return false })
	return found, ok
}

// currentValues calls fn with each current datom of e and a, in value order.
func (db *DB) currentValues(r *rd, e, a datom.E, fn func(datom.Datom) bool) {
	db.scanCur(r, datom.EAVT, datom.Datom{E: e, A: a}, func(d datom.Datom) bool {
		return d.E == e && d.A == a
	}, fn)
}

// lookupCur returns the entity whose (unique) attribute a currently has
// value v.
func (db *DB) lookupCur(r *rd, a datom.E, v datom.Value) (datom.E, bool) {
	var e datom.E
	ok := false
	db.scanCur(r, datom.AVET, datom.Datom{A: a, V: v}, func(d datom.Datom) bool {
		return d.A == a && datom.EqualValue(d.V, v)
	}, func(d datom.Datom) bool { e, ok = d.E, true; return false })
	return e, ok
}
