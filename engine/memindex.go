package engine

import (
	"github.com/stratadb/strata/datom"
	"github.com/tidwall/btree"
)

// memIndex holds datoms in memory, sorted in the four index orders, as
// copy-on-write B-trees: a new database value copies the root in O(1) and
// shares every node it does not change.
//
// The current datoms (asserted and not retracted since) live apart from
// history (retractions, and the assertions they ended), so that reads of the
// current database never step over history (DESIGN.md). VAET holds ref
// values only.
//
// Cost, and what comes next. Every transaction copies the root-to-leaf path
// of each tree it writes (about 3 KB per datom per tree at degree 32): ~16 us
// for a one-datom transaction (BenchmarkTransactSmall), which is what keeps
// writes below Datascript (BenchmarkPeople add-1, retract-5) and the load
// rate below 300k datoms/s (BenchmarkScale). The measured dead ends: node
// degree (8 to 64: ±10%), sorted batch inserts with path hints (no gain).
// The planned fix is a memory index owned by the writer and mutated in place,
// with versioned entries (asserted-at, retracted-at) that each database value
// filters by its basis t, so that publishing a transaction copies nothing; a
// speculative With on any value other than the writer's latest then needs an
// overlay (a small copy-on-write index of its own over the shared one, as the
// memory index already overlays the persistent trees), and the shared entries'
// retracted-at must never be written by an overlay.
type memIndex struct {
	cur  [datom.NumIndexes]*datomTree
	hist [datom.NumIndexes]*datomTree
	// gone holds the current datoms of the persistent trees retracted
	// since they were indexed (tombstones); cur then holds only what was
	// asserted since.
	gone [datom.NumIndexes]*datomTree
	log  *txLog
}

// Options of the B-trees: no internal locking (a memIndex is written by one
// transaction at a time and read only once published, immutable).
var treeOpts = btree.Options{NoLocks: true, Degree: 32}

// datomTree holds pointers: a datom is allocated once and shared by the
// four index trees, and a copy-on-write node copy moves 8 bytes per item
// instead of an 80-byte Datom full of pointers (measured: half the cost of
// a transaction's index writes; BenchmarkTransact).
type datomTree = btree.BTreeG[*datom.Datom]

func lessFor(x datom.Index) func(a, b *datom.Datom) bool {
	return func(a, b *datom.Datom) bool { return datom.Compare(x, *a, *b) < 0 }
}

// ascend calls fn with the datoms of t from probe on.
func ascend(t *datomTree, probe datom.Datom, fn func(datom.Datom) bool) {
	t.Ascend(&probe, func(p *datom.Datom) bool { return fn(*p) })
}

// items returns t's datoms in order.
func items(t *datomTree) []datom.Datom {
	out := make([]datom.Datom, 0, t.Len())
	t.Scan(func(p *datom.Datom) bool { out = append(out, *p); return true })
	return out
}

func newMemIndex() *memIndex {
	m := &memIndex{}
	for x := range datom.NumIndexes {
		m.cur[x] = btree.NewBTreeGOptions(lessFor(x), treeOpts)
		m.hist[x] = btree.NewBTreeGOptions(lessFor(x), treeOpts)
		m.gone[x] = btree.NewBTreeGOptions(lessFor(x), treeOpts)
	}
	return m
}

// copy returns a copy to write a new database value into.
func (m *memIndex) copy() *memIndex {
	c := &memIndex{log: m.log}
	for x := range datom.NumIndexes {
		c.cur[x] = m.cur[x].Copy()
		c.hist[x] = m.hist[x].Copy()
		c.gone[x] = m.gone[x].Copy()
	}
	return c
}

func inIndex(x datom.Index, d datom.Datom) bool {
	return x != datom.VAET || d.V.Type() == datom.TypeRef
}

func (m *memIndex) addCurrent(d datom.Datom) { addTo(&m.cur, d) }

func (m *memIndex) addHistory(d datom.Datom) { addTo(&m.hist, d) }

// addTo adds d to each of the trees whose index holds it.
func addTo(trees *[datom.NumIndexes]*datomTree, d datom.Datom) {
	p := &d
	for x := range datom.NumIndexes {
		if inIndex(x, d) {
			trees[x].Set(p)
		}
	}
}

// removeCurrent ends the current datom d: it leaves cur if it was asserted
// since the last indexing, and is remembered in gone if it is in the
// persistent trees.
func (m *memIndex) removeCurrent(d datom.Datom) {
	p, inMem := m.cur[datom.EAVT].Get(&d)
	if !inMem {
		p = &d
	}
	for x := range datom.NumIndexes {
		if !inIndex(x, d) {
			continue
		}
		if inMem {
			m.cur[x].Delete(p)
		} else {
			m.gone[x].Set(p)
		}
	}
}
