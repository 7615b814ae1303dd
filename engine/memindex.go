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
type memIndex struct {
	cur  [datom.NumIndexes]*btree.BTreeG[datom.Datom]
	hist [datom.NumIndexes]*btree.BTreeG[datom.Datom]
	log  *txLog
}

// Options of the B-trees: no internal locking (a memIndex is written by one
// transaction at a time and read only once published, immutable).
var treeOpts = btree.Options{NoLocks: true}

func lessFor(x datom.Index) func(a, b datom.Datom) bool {
	return func(a, b datom.Datom) bool { return datom.Compare(x, a, b) < 0 }
}

// currentKey is what identifies a current datom: its components without tx
// (one current datom per e, a, v). The current trees compare with tx and
// added too, so lookups of "the current datom for e a v" scan from the
// smallest datom with those components.

func newMemIndex() *memIndex {
	m := &memIndex{log: newTxLog()}
	for x := range datom.NumIndexes {
		m.cur[x] = btree.NewBTreeGOptions(lessFor(x), treeOpts)
		m.hist[x] = btree.NewBTreeGOptions(lessFor(x), treeOpts)
	}
	return m
}

// copy returns a copy to write a new database value into.
func (m *memIndex) copy() *memIndex {
	c := &memIndex{log: m.log.Copy()}
	for x := range datom.NumIndexes {
		c.cur[x] = m.cur[x].Copy()
		c.hist[x] = m.hist[x].Copy()
	}
	return c
}

func inIndex(x datom.Index, d datom.Datom) bool {
	return x != datom.VAET || d.V.Type() == datom.TypeRef
}

func (m *memIndex) addCurrent(d datom.Datom) {
	for x := range datom.NumIndexes {
		if inIndex(x, d) {
			m.cur[x].Set(d)
		}
	}
}

func (m *memIndex) removeCurrent(d datom.Datom) {
	for x := range datom.NumIndexes {
		if inIndex(x, d) {
			m.cur[x].Delete(d)
		}
	}
}

func (m *memIndex) addHistory(d datom.Datom) {
	for x := range datom.NumIndexes {
		if inIndex(x, d) {
			m.hist[x].Set(d)
		}
	}
}

// current returns the current datom with d's e, a and v, if there is one.
func (m *memIndex) current(e, a datom.E, v datom.Value) (datom.Datom, bool) {
	probe := datom.Datom{E: e, A: a, V: v}
	var found datom.Datom
	ok := false
	m.cur[datom.EAVT].Ascend(probe, func(d datom.Datom) bool {
		if d.E == e && d.A == a && datom.EqualValue(d.V, v) {
			found, ok = d, true
		}
		return false
	})
	return found, ok
}

// currentValues calls fn with each current datom of e and a, in value order.
func (m *memIndex) currentValues(e, a datom.E, fn func(datom.Datom) bool) {
	m.cur[datom.EAVT].Ascend(datom.Datom{E: e, A: a}, func(d datom.Datom) bool {
		if d.E != e || d.A != a {
			return false
		}
		return fn(d)
	})
}

func (m *memIndex) len() (cur, hist int) {
	return m.cur[datom.EAVT].Len(), m.hist[datom.EAVT].Len()
}
