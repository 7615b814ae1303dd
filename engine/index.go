package engine

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// IndexRoot is what a database's catalog record publishes after an
// indexing job (issue 4 moves it forward by compare-and-swap): the
// persistent trees, current and history, of every index, and the counters
// of the basis they hold.
type IndexRoot struct {
	T           datom.T // basis of the trees
	NextN       uint64  // the counter of t and new entity numbers after T
	LastInstant int64   // :db/txInstant of T, ms
	Cur, Hist   [datom.NumIndexes]TreeRef
	// Counts holds the current datoms per attribute in the trees, by
	// attribute (nil in roots written before strata kept them): the query
	// planner's statistics, kept up to date by indexing.
	Counts []AttrCount
}

// AttrCount is an attribute's number of current datoms.
type AttrCount struct {
	A datom.E
	N int64
}

// IndexStats says what an indexing job did.
type IndexStats struct {
	Datoms     int // memory-index datoms merged (current, history, tombstones)
	MergeStats     // summed over the eight trees
	// Bytes written per index (current and history trees together).
	Bytes [datom.NumIndexes]int64
}

// Index merges db's memory index into persistent trees in store, copy-on-
// write: only the segments that receive changes are written. It returns a
// database value with the same basis over the new trees (and an empty
// memory index), and the root to publish. The first call on a database
// builds the trees; later calls must use the same store.
func (db *DB) Index(ctx context.Context, store SegmentStore, opts TreeOptions) (*DB, IndexRoot, IndexStats, error) {
	var st IndexStats
	if db.filtered() {
		return nil, IndexRoot{}, st, anomaly.New(anomaly.Incorrect, "index", "cannot index a filtered database (%s)", db)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, IndexRoot{}, st, err
	}
	base := &indexBase{store: store, opts: opts, t: db.basis}
	if db.base != nil {
		base.cur, base.hist = db.base.cur, db.base.hist
	}
	delta := db.mem.delta(db.basis)
	// The counts follow the current trees' changes (unknown if the trees
	// were written without them).
	if db.base == nil || db.base.counts != nil {
		base.counts = map[datom.E]int64{}
		if db.base != nil {
			maps.Copy(base.counts, db.base.counts)
		}
		for _, d := range delta.adds[datom.AEVT] {
			base.counts[d.A]++
		}
		for _, d := range delta.dels[datom.AEVT] {
			base.counts[d.A]--
		}
		maps.DeleteFunc(base.counts, func(_ datom.E, n int64) bool { return n <= 0 })
	}
	for x := range datom.NumIndexes {
		adds, dels, hist := delta.adds[x], delta.dels[x], delta.hist[x]
		st.Datoms += len(adds) + len(dels) + len(hist)
		var ms MergeStats
		var err error
		if base.cur[x], ms, err = MergeTree(ctx, store, opts, x, base.cur[x], adds, dels); err != nil {
			return nil, IndexRoot{}, st, err
		}
		st.add(ms)
		st.Bytes[x] += ms.BytesWritten
		if base.hist[x], ms, err = MergeTree(ctx, store, opts, x, base.hist[x], hist, nil); err != nil {
			return nil, IndexRoot{}, st, err
		}
		st.add(ms)
		st.Bytes[x] += ms.BytesWritten
	}
	after := &DB{basis: db.basis, nextN: db.nextN, lastInstant: db.lastInstant, schema: db.schema,
		mem: newLayer(nil, db.basis), base: base, log: db.log}
	return after, after.Root(), st, nil
}

func (s *IndexStats) add(m MergeStats) {
	s.LeavesWritten += m.LeavesWritten
	s.BranchesWritten += m.BranchesWritten
	s.LeavesKept += m.LeavesKept
	s.BytesWritten += m.BytesWritten
}

// Root returns db's persistent root, the zero IndexRoot when db has nothing
// indexed. Datoms since the root's T live only in db's memory index.
func (db *DB) Root() IndexRoot {
	if db.base == nil {
		return IndexRoot{}
	}
	r := IndexRoot{T: db.base.t, NextN: db.nextN, LastInstant: db.lastInstant, Cur: db.base.cur, Hist: db.base.hist}
	if db.base.counts != nil {
		r.Counts = make([]AttrCount, 0, len(db.base.counts))
		for a, n := range db.base.counts {
			r.Counts = append(r.Counts, AttrCount{A: a, N: n})
		}
		slices.SortFunc(r.Counts, func(x, y AttrCount) int { return cmp.Compare(x.A, y.A) })
	}
	return r
}

// AttrCount estimates the current datoms of attribute a in db: exact in
// the trees (counted by indexing), and in the memory index the assertions
// less the retractions of every transaction it holds, whatever db's view
// (as-of, since and history values get the count of the newest). It
// returns -1 when the trees were indexed without counts.
func (db *DB) AttrCount(a datom.E) int64 {
	var n int64
	if db.base != nil {
		if db.base.counts == nil {
			return -1
		}
		n = db.base.counts[a]
	}
	for l := db.mem; l != nil; l = l.parent {
		n += l.attrCount(a)
	}
	return max(n, 0)
}

// IndexedT is the basis of db's persistent trees (0 when none).
func (db *DB) IndexedT() datom.T {
	if db.base == nil {
		return 0
	}
	return db.base.t
}

// Open returns the database value of a published root, reading its trees
// from store. Its schema is read from the trees.
func Open(ctx context.Context, store SegmentStore, opts TreeOptions, root IndexRoot) (*DB, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if root.Cur[datom.EAVT].IsEmpty() || root.NextN == 0 {
		return nil, anomaly.New(anomaly.Incorrect, "open", "the root holds no database (no EAVT tree)")
	}
	db := &DB{basis: root.T, nextN: root.NextN, lastInstant: root.LastInstant, mem: newLayer(nil, root.T),
		base: &indexBase{store: store, opts: opts, t: root.T, cur: root.Cur, hist: root.Hist, counts: countsOf(root)},
		schema: &Schema{attrs: map[datom.E]*Attr{}, idents: map[string]datom.E{}, identOf: map[datom.E]string{},
			composites: map[datom.E][]datom.E{}}}
	r := newRd(ctx)
	touched := map[datom.E]bool{}
	for a := range schemaAttrs {
		db.scanCur(r, datom.AEVT, datom.Datom{A: a}, func(d datom.Datom) bool { return d.A == a }, func(d datom.Datom) bool {
			touched[d.E] = true
			return true
		})
	}
	if r.err != nil {
		return nil, r.err
	}
	s, err := db.rebuildSchema(r, db.schema, touched)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "open: schema in the trees", err)
	}
	db.schema = s
	return db, nil
}

// countsOf returns a root's counts by attribute (nil without them).
func countsOf(root IndexRoot) map[datom.E]int64 {
	if root.Counts == nil {
		return nil
	}
	m := make(map[datom.E]int64, len(root.Counts))
	for _, c := range root.Counts {
		m[c.A] = c.N
	}
	return m
}
