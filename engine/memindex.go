package engine

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stratadb/strata/datom"
	"github.com/tidwall/btree"
)

// The memory index: the datoms since the persistent trees were indexed,
// sorted in the four index orders (VAET holds ref values only).
//
// It is multi-version and written in place. A memLayer belongs to a line of
// database values, each a basis t over it: an entry records the datom it
// asserts and the t of the transaction that retracted it, and a value of
// basis b sees the entries asserted up to b and not retracted by b. A
// transaction on the newest value of its layer (its head) adds its entries
// to the layer's trees in place and copies nothing, so publishing a
// transaction costs what its datoms cost (the copy-on-write B-trees this
// replaced copied a root-to-leaf path per datom and tree: ~16 us per
// one-datom transaction, BenchmarkTransactSmall).
//
// A transaction on any other value (a speculative With on an older value, or
// a second With on the same value) cannot write the shared layer: it forks a
// new layer whose parent is the old one read as of the fork's basis. A
// datom of a lower layer (or of the persistent trees) that a layer retracts
// gets a tombstone entry there, at the datom's own key; the lower entry is
// never written. Reads merge the layers and the trees in index order (see
// read.go).
//
// Current reads skip what was retracted since the last indexing (an entry
// stays until the next Index builds a fresh layer); retracted datoms of the
// persistent trees live apart in their history trees, so a current read
// never steps over older history.
//
// Concurrency: one transaction writes a layer at a time (claim); it takes
// mu for its writes, and readers take mu shared while they copy a batch of
// visible datoms out (never while they call back into the caller).
type memLayer struct {
	mu     sync.RWMutex
	trees  [datom.NumIndexes]*btree.BTreeG[*entry]
	parent *memLayer // nil: the persistent trees are below
	cut    datom.T   // the basis parent is read at
	owner  *Writer   // the writer whose layer this is (nil: anyone's); under mu
	// head is the basis of the newest value written in this layer, and
	// writing says that a transaction holds the layer; both under mu.
	head    datom.T
	writing bool
	size    atomic.Int64 // entries, tombstones included
	slab    []entry      // entries are allocated in chunks; under mu
	// counts is, per attribute, the current datoms this layer adds to what
	// lies below it (assertions less retractions), over all its entries
	// whatever their t: an estimate for the query planner. Under mu.
	counts map[datom.E]int64
}

// entry is one datom in a memLayer, shared by the layer's index trees.
type entry struct {
	d datom.Datom // the assertion; for a tombstone, the lower datom it ends
	// retT is the t of the transaction that retracted d (0: none yet).
	retT datom.T
	// lower marks a tombstone: d lives below this layer, which records
	// only its retraction at retT.
	lower bool
	// noHist: d's attribute keeps no history, so its retraction erases it
	// from history views.
	noHist bool
}

// Options of the B-trees: no internal locking (memLayer.mu guards them).
var treeOpts = btree.Options{NoLocks: true, Degree: 32}

// The orders of the index trees, as datom.Compare, written out per index
// on pointers (a tree compares ~20 times per insert or seek).
var lessIndex = [datom.NumIndexes]func(a, b *entry) bool{
	datom.EAVT: func(a, b *entry) bool {
		if a.d.E != b.d.E {
			return a.d.E < b.d.E
		}
		if a.d.A != b.d.A {
			return a.d.A < b.d.A
		}
		return lessVT(&a.d, &b.d)
	},
	datom.AEVT: func(a, b *entry) bool {
		if a.d.A != b.d.A {
			return a.d.A < b.d.A
		}
		if a.d.E != b.d.E {
			return a.d.E < b.d.E
		}
		return lessVT(&a.d, &b.d)
	},
	datom.AVET: func(a, b *entry) bool {
		if a.d.A != b.d.A {
			return a.d.A < b.d.A
		}
		if c := datom.CompareValue(a.d.V, b.d.V); c != 0 {
			return c < 0
		}
		if a.d.E != b.d.E {
			return a.d.E < b.d.E
		}
		return lessT(&a.d, &b.d)
	},
	datom.VAET: func(a, b *entry) bool {
		if c := datom.CompareValue(a.d.V, b.d.V); c != 0 {
			return c < 0
		}
		if a.d.A != b.d.A {
			return a.d.A < b.d.A
		}
		if a.d.E != b.d.E {
			return a.d.E < b.d.E
		}
		return lessT(&a.d, &b.d)
	},
}

func lessVT(a, b *datom.Datom) bool {
	if c := datom.CompareValue(a.V, b.V); c != 0 {
		return c < 0
	}
	return lessT(a, b)
}

func lessT(a, b *datom.Datom) bool {
	if a.Tx != b.Tx {
		return a.Tx < b.Tx
	}
	return !a.Added && b.Added
}

// newLayer returns an empty layer over parent as of cut (parent nil: over
// the persistent trees, indexed up to cut), whose head is cut.
func newLayer(parent *memLayer, cut datom.T) *memLayer {
	l := &memLayer{parent: parent, cut: cut, head: cut, counts: map[datom.E]int64{}}
	for x := range datom.NumIndexes {
		l.trees[x] = btree.NewBTreeGOptions(lessIndex[x], treeOpts)
	}
	return l
}

func inIndex(x datom.Index, d datom.Datom) bool {
	return x != datom.VAET || d.V.Type() == datom.TypeRef
}

// newEntry allocates an entry from the slab (under mu).
func (l *memLayer) newEntry(e entry) *entry {
	if len(l.slab) == cap(l.slab) {
		l.slab = make([]entry, 0, 256)
	}
	l.slab = append(l.slab, e)
	return &l.slab[len(l.slab)-1]
}

// insert adds e to the trees of the indexes that hold it (under mu).
func (l *memLayer) insert(e *entry) {
	for x := range datom.NumIndexes {
		if inIndex(x, e.d) {
			l.trees[x].Set(e)
		}
	}
	l.size.Add(1)
	if n := countOf(e); n != 0 {
		l.counts[e.d.A] += n
	}
}

func (l *memLayer) remove(e *entry) {
	for x := range datom.NumIndexes {
		if inIndex(x, e.d) {
			l.trees[x].Delete(e)
		}
	}
	l.size.Add(-1)
	if n := countOf(e); n != 0 {
		l.counts[e.d.A] -= n
	}
}

// countOf is what entry e adds to its attribute's count of current datoms:
// an assertion 1, a tombstone (the retraction of a lower datom) -1, an
// assertion retracted in this layer 0.
func countOf(e *entry) int64 {
	switch {
	case e.lower:
		return -1
	case e.retT == 0:
		return 1
	}
	return 0
}

// attrCount returns what the layer adds to attribute a's count.
func (l *memLayer) attrCount(a datom.E) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.counts[a]
}

// add puts d, asserted, into a layer nobody reads yet (bootstrap).
func (l *memLayer) add(d datom.Datom) {
	l.mu.Lock()
	l.insert(l.newEntry(entry{d: d}))
	l.mu.Unlock()
}

// claim gives writer w (nil: a speculative transaction) the right to
// write the transaction after basis b in place: b must be the layer's head,
// no other transaction may hold it, and the layer must be w's or nobody's
// (a writer makes a layer of nobody's its own).
func (l *memLayer) claim(b datom.T, w *Writer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writing || l.head != b || l.owner != nil && l.owner != w {
		return false
	}
	l.writing, l.owner = true, w
	return true
}

// layerTx is a transaction's writes to its layer, kept so that a failed
// transaction can take them back.
type layerTx struct {
	l         *memLayer
	t         datom.T
	added     []*entry
	retracted []*entry
	done      bool
}

// copyForkMax is the most entries a fork copies instead of layering over
// the value it forks (see beginTx). A variable for tests.
var copyForkMax = 4096

// beginTx returns the writer of transaction t on the newest value of db's
// layer, forking a new layer when that is not db. A small value right over
// the trees (a schema, a fixture) is copied into a layer of its own, so
// that its forks read one layer, not two; any other fork layers over it.
// The caller must end the writer with commit or abort.
func beginTx(db *DB, t datom.T, w *Writer) *layerTx {
	l := db.mem
	switch {
	case l.claim(db.basis, w):
		return &layerTx{l: l, t: t}
	case l.parent == nil && db.memSize <= copyForkMax:
		l = l.copyAt(db.basis)
	default:
		l = newLayer(db.mem, db.basis)
	}
	l.writing, l.owner = true, w
	return &layerTx{l: l, t: t}
}

// copyAt returns a new layer over the same trees holding l's view at b.
func (l *memLayer) copyAt(b datom.T) *memLayer {
	c := newLayer(nil, b)
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.trees[datom.EAVT].Scan(func(e *entry) bool {
		retracted := e.retT != 0 && e.retT <= b
		switch {
		case e.lower && !retracted, !e.lower && e.d.T() > b:
			return true
		case retracted:
			c.insert(c.newEntry(*e))
		default:
			c.insert(c.newEntry(entry{d: e.d}))
		}
		return true
	})
	return c
}

// retraction is a current datom a transaction retracts.
type retraction struct {
	d      datom.Datom
	noHist bool
}

// write records the transaction's retractions and assertions.
func (w *layerTx) write(rets []retraction, adds []datom.Datom) {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rets {
		probe := entry{d: r.d}
		if e, ok := l.trees[datom.EAVT].Get(&probe); ok && !e.lower {
			e.retT, e.noHist = w.t, r.noHist
			l.counts[e.d.A]--
			w.retracted = append(w.retracted, e)
			continue
		}
		e := l.newEntry(entry{d: r.d, retT: w.t, lower: true, noHist: r.noHist})
		l.insert(e)
		w.added = append(w.added, e)
	}
	for _, d := range adds {
		e := l.newEntry(entry{d: d})
		l.insert(e)
		w.added = append(w.added, e)
	}
}

// commit makes the transaction the layer's head, and returns the layer's
// size at it.
func (w *layerTx) commit() int {
	w.l.mu.Lock()
	w.l.head, w.l.writing = w.t, false
	n := w.l.size.Load()
	w.l.mu.Unlock()
	w.done = true
	return int(n)
}

// abort takes the transaction's writes back (no value of basis t was
// published, so no reader saw them) and releases the layer.
func (w *layerTx) abort() {
	if w.done {
		return
	}
	l := w.l
	l.mu.Lock()
	for _, e := range w.added {
		l.remove(e)
	}
	for _, e := range w.retracted {
		e.retT, e.noHist = 0, false
		l.counts[e.d.A]++
	}
	l.writing = false
	l.mu.Unlock()
	w.done = true
}

// item is what a layer's scan yields: a datom of the view, or a marker at
// the key of a lower datom that the view must not see. It points at the
// entry (whose d never changes once inserted) and is turned into a datom
// outside the lock.
type item struct {
	e    *entry
	kind itemKind
}

type itemKind uint8

const (
	itemAssert  itemKind = iota // e.d
	itemRetract                 // the retraction of e.d at e's retT
	itemMarker                  // hide the lower datom e.d
)

// layerIter reads a layer's view at basis b in index x, in batches taken
// under the read lock. Entries are never removed from a published layer and
// entries added later are newer than b, so resuming after the last entry
// read sees exactly what a single pass would. Current views (full false)
// yield the current datoms and markers for the lower datoms retracted; full
// views (for as-of and history) yield assertions and retractions, and
// markers for the lower datoms whose history is erased (noHistory).
type layerIter struct {
	l       *memLayer
	x       datom.Index
	b       datom.T
	full    bool
	inRange func(datom.Datom) bool
	pivot   entry // where the next batch starts
	resume  bool  // pivot is the last entry read: skip it
	done    bool
	batch   int
	buf     []item
	pos     int
	// retT of the retraction items of buf, read under the lock.
	rets  []datom.T
	small [8]item
}

func newLayerIter(l *memLayer, x datom.Index, b datom.T, full bool, probe datom.Datom, inRange func(datom.Datom) bool) *layerIter {
	it := &layerIter{}
	it.init(l, x, b, full, probe, inRange)
	return it
}

func (it *layerIter) init(l *memLayer, x datom.Index, b datom.T, full bool, probe datom.Datom, inRange func(datom.Datom) bool) {
	*it = layerIter{l: l, x: x, b: b, full: full, inRange: inRange, pivot: entry{d: probe}, batch: 8, rets: it.rets[:0]}
	it.buf = it.small[:0]
}

// release drops what the iterator points at, so that a pooled one keeps
// no layer or entries alive.
func (it *layerIter) release() {
	rets := it.rets[:0]
	*it = layerIter{rets: rets}
}

// iterPool recycles the iterators of single-layer reads (one per point
// read otherwise).
var iterPool = sync.Pool{New: func() any { return new(layerIter) }}

// next returns the next item: its datom, and whether it is a marker.
func (it *layerIter) next() (d datom.Datom, marker, ok bool) {
	for it.pos == len(it.buf) {
		if it.done {
			return datom.Datom{}, false, false
		}
		it.fill()
	}
	m := it.buf[it.pos]
	it.pos++
	switch m.kind {
	case itemRetract:
		t := it.rets[0]
		it.rets = it.rets[1:]
		return retractionOf(m.e.d, t), false, true
	case itemMarker:
		return m.e.d, true, true
	}
	return m.e.d, false, true
}

func (it *layerIter) fill() {
	it.buf, it.pos, it.rets = it.buf[:0], 0, it.rets[:0]
	n := 0
	stopped := false
	it.l.mu.RLock()
	it.l.trees[it.x].Ascend(&it.pivot, func(e *entry) bool {
		if it.resume {
			it.resume = false
			if datom.Compare(it.x, e.d, it.pivot.d) == 0 {
				return true
			}
		}
		if !it.inRange(e.d) {
			return false
		}
		it.emit(e)
		if n++; n == it.batch {
			it.pivot, it.resume, stopped = entry{d: e.d}, true, true
			return false
		}
		return true
	})
	it.l.mu.RUnlock()
	it.done = !stopped
	it.batch = min(it.batch*4, 512)
}

// emit appends what entry e contributes to the view (under the read lock).
func (it *layerIter) emit(e *entry) {
	b := it.b
	retracted := e.retT != 0 && e.retT <= b
	if !it.full {
		switch {
		case e.lower:
			if retracted {
				it.buf = append(it.buf, item{e, itemMarker})
			}
		case e.d.T() <= b && !retracted:
			it.buf = append(it.buf, item{e, itemAssert})
		}
		return
	}
	switch {
	case e.lower:
		if !retracted {
			return
		}
		if e.noHist {
			it.buf = append(it.buf, item{e, itemMarker})
			return
		}
		it.buf = append(it.buf, item{e, itemRetract})
		it.rets = append(it.rets, e.retT)
	case e.d.T() > b || retracted && e.noHist:
	default:
		it.buf = append(it.buf, item{e, itemAssert})
		if retracted {
			it.buf = append(it.buf, item{e, itemRetract})
			it.rets = append(it.rets, e.retT)
		}
	}
}

func retractionOf(d datom.Datom, t datom.T) datom.Datom {
	return datom.Datom{E: d.E, A: d.A, V: d.V, Tx: datom.TxE(t), Added: false}
}

// indexDelta is what a stack of layers at basis b changes in the
// persistent trees, per index and sorted: the current datoms to add, the
// datoms of the trees to remove from the current trees, and the history
// datoms (retractions and the assertions they ended) to add.
type indexDelta struct {
	adds, dels, hist [datom.NumIndexes][]datom.Datom
}

// delta computes the indexDelta of layer l read at b, with its parents.
func (l *memLayer) delta(b datom.T) *indexDelta {
	if l.parent == nil {
		return l.deltaOne(b)
	}
	// What the stack of layers records, flattened into one layer's
	// entries (history), classified, then sorted per index.
	var d deltaLists
	for _, e := range l.history(b) {
		d.add(&e, b)
	}
	out := &indexDelta{}
	for x := range datom.NumIndexes {
		out.adds[x] = sortedIn(x, d.adds)
		out.dels[x] = sortedIn(x, d.dels)
		out.hist[x] = sortedIn(x, d.hist)
	}
	return out
}

// deltaLists gathers what entries change in the persistent trees.
type deltaLists struct {
	adds, dels, hist []datom.Datom
}

// add classifies entry e of a layer over the trees, read at b: a current
// datom to add, a tree datom retracted (to remove, and into history), or a
// datom asserted and retracted since (into history); noHistory ones leave
// no history.
func (d *deltaLists) add(e *entry, b datom.T) {
	retracted := e.retT != 0 && e.retT <= b
	switch {
	case e.lower:
		if !retracted {
			return
		}
		d.dels = append(d.dels, e.d)
		if !e.noHist {
			d.hist = append(d.hist, e.d, retractionOf(e.d, e.retT))
		}
	case e.d.T() > b:
	case !retracted:
		d.adds = append(d.adds, e.d)
	case !e.noHist:
		d.hist = append(d.hist, e.d, retractionOf(e.d, e.retT))
	}
}

// deltaOne is delta for a layer right over the persistent trees: each of
// its index trees yields that index's lists already in order (the history
// of one fact is its entries in order of t, each assertion followed by its
// retraction). It reads the trees in batches under the read lock, so that
// the writer, which writes the layer in place meanwhile, waits for one
// batch at most (held for a whole million-datom layer, the lock stalled
// the writer for most of a second). What it writes meanwhile is newer than
// b, and resuming after the last entry read sees what one pass would.
func (l *memLayer) deltaOne(b datom.T) *indexDelta {
	out := &indexDelta{}
	for x := range datom.NumIndexes {
		l.mu.RLock()
		n := l.trees[x].Len() // VAET holds refs only: size each list by its tree
		l.mu.RUnlock()
		d := deltaLists{adds: make([]datom.Datom, 0, n)}
		var pivot entry
		resume, done := false, false
		for !done {
			read := 0
			done = true
			l.mu.RLock()
			l.trees[x].Ascend(&pivot, func(e *entry) bool {
				if resume {
					resume = false
					if datom.Compare(x, e.d, pivot.d) == 0 {
						return true
					}
				}
				d.add(e, b)
				if read++; read == deltaBatch {
					pivot, resume, done = entry{d: e.d}, true, false
					return false
				}
				return true
			})
			l.mu.RUnlock()
		}
		out.adds[x], out.dels[x], out.hist[x] = d.adds, d.dels, d.hist
	}
	return out
}

// deltaBatch is how many entries deltaOne reads per hold of the lock.
const deltaBatch = 4096

// sortedIn returns the datoms of ds that index x holds, in x's order.
func sortedIn(x datom.Index, ds []datom.Datom) []datom.Datom {
	out := make([]datom.Datom, 0, len(ds))
	for _, d := range ds {
		if inIndex(x, d) {
			out = append(out, d)
		}
	}
	slicesSortIndex(x, out)
	return out
}

func slicesSortIndex(x datom.Index, ds []datom.Datom) {
	slices.SortFunc(ds, func(a, b datom.Datom) int { return datom.Compare(x, a, b) })
}
