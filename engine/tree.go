package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/segment"
)

// Persistent indexes: each covering index (and its history) is a wide tree
// of immutable segments (issue 2's format), read through the cache strata.
//
// A leaf segment holds a sorted run of datoms in chunks of ChunkDatoms: one
// segment record per chunk, whose key is the order-preserving key
// (datom.AppendKey) of the chunk's LAST datom and whose value is the chunk
// in datom's columnar block encoding. Keying by the last datom makes a seek
// one SeekGE: the first chunk whose last datom is >= the probe is the only
// one that can hold it. A branch segment holds one record per child: key =
// the child's last datom key, value = child segment id, height and datom
// count. Leaves hold up to LeafDatoms datoms, branches up to Fanout
// children (Datomic: segments of 1,000–20,000 datoms, fan-out near 1,000).
//
// Trees are copy-on-write: MergeTree rewrites only the leaves that receive
// changes and the branches above them, so indexing costs what the change
// touches, not the size of the database.

// TreeRef names a tree or subtree: its root segment, its height (0: the
// root is a leaf) and how many datoms it holds. The zero TreeRef is the
// empty tree.
type TreeRef struct {
	ID     segment.ID
	Height uint8
	Count  uint64
}

// IsEmpty reports whether r is the empty tree.
func (r TreeRef) IsEmpty() bool { return r.ID.IsZero() }

func (r TreeRef) String() string {
	if r.IsEmpty() {
		return "tree(empty)"
	}
	return fmt.Sprintf("tree(%s h%d n%d)", r.ID.Short(), r.Height, r.Count)
}

// SegmentStore is where tree segments are read and written:
// *cachetiers.Stratified satisfies it.
type SegmentStore interface {
	Index(ctx context.Context, id segment.ID) (*segment.Index, error)
	Block(ctx context.Context, id segment.ID, i int) ([]byte, error)
	Put(ctx context.Context, id segment.ID, data []byte) error
}

// TreeOptions shape the trees. The zero value gives the defaults.
type TreeOptions struct {
	ChunkDatoms int           // datoms per leaf record; default 128
	LeafDatoms  int           // datoms per leaf segment; default 8192
	Fanout      int           // children per branch segment; default 512
	Codec       segment.Codec // block compression; default lz4
	BlockSize   int           // segment block size; default the segment package's
}

// Tree limits.
const (
	DefaultChunkDatoms = 32
	DefaultLeafDatoms  = 8192
	DefaultFanout      = 512
	maxTreeHeight      = 16
)

func (o TreeOptions) withDefaults() TreeOptions {
	if o.ChunkDatoms == 0 {
		o.ChunkDatoms = DefaultChunkDatoms
	}
	if o.LeafDatoms == 0 {
		o.LeafDatoms = DefaultLeafDatoms
	}
	if o.Fanout == 0 {
		o.Fanout = DefaultFanout
	}
	if o.Codec == 0 {
		o.Codec = segment.CodecLZ4
	}
	return o
}

func (o TreeOptions) validate() error {
	if o.ChunkDatoms < 1 || o.LeafDatoms < o.ChunkDatoms || o.Fanout < 2 {
		return anomaly.New(anomaly.Incorrect, "tree options",
			"want ChunkDatoms >= 1 (have %d), LeafDatoms >= ChunkDatoms (have %d), Fanout >= 2 (have %d)",
			o.ChunkDatoms, o.LeafDatoms, o.Fanout)
	}
	return nil
}

// child is one entry of a branch: the last datom key of the subtree and
// the subtree.
type child struct {
	last []byte
	ref  TreeRef
}

const refValueMax = 16 + 1 + binary.MaxVarintLen64

func appendRefValue(dst []byte, r TreeRef) []byte {
	dst = append(dst, r.ID[:]...)
	dst = append(dst, r.Height)
	return binary.AppendUvarint(dst, r.Count)
}

func decodeRefValue(id segment.ID, b []byte) (TreeRef, error) {
	var r TreeRef
	if len(b) < 18 {
		return r, anomaly.New(anomaly.Fault, "tree branch", "segment %s: child record of %d bytes", id.Short(), len(b))
	}
	copy(r.ID[:], b[:16])
	r.Height = b[16]
	n, k := binary.Uvarint(b[17:])
	if k <= 0 || 17+k != len(b) || r.ID.IsZero() || r.Height >= maxTreeHeight {
		return r, anomaly.New(anomaly.Fault, "tree branch", "segment %s: malformed child record", id.Short())
	}
	r.Count = n
	return r, nil
}

// treeIO reads and writes the segments of one index's trees.
type treeIO struct {
	store SegmentStore
	opts  TreeOptions
	x     datom.Index
	w     *segment.Writer
	buf   []byte
	bytes int64 // bytes of the segments written
}

func newTreeIO(store SegmentStore, opts TreeOptions, x datom.Index) (*treeIO, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &treeIO{store: store, opts: opts, x: x}, nil
}

// writer returns the segment writer, made on first use: readers never
// need one (it holds a block buffer).
func (t *treeIO) writer() (*segment.Writer, error) {
	if t.w == nil {
		w, err := segment.NewWriter(nil, segment.ID{}, segment.WriterOptions{Codec: t.opts.Codec, BlockSize: t.opts.BlockSize})
		if err != nil {
			return nil, err
		}
		t.w = w
	}
	return t.w, nil
}

// readBranch loads every child entry of a branch segment.
func (t *treeIO) readBranch(ctx context.Context, ref TreeRef) ([]child, error) {
	var out []child
	_, err := t.recordsFrom(ctx, ref.ID, nil, func(k, v []byte) (bool, error) {
		r, err := decodeRefValue(ref.ID, v)
		if err != nil {
			return false, err
		}
		if r.Height+1 != ref.Height {
			return false, anomaly.New(anomaly.Fault, "tree branch", "segment %s (height %d): child of height %d", ref.ID.Short(), ref.Height, r.Height)
		}
		out = append(out, child{last: bytes.Clone(k), ref: r})
		return true, nil
	})
	return out, err
}

// readLeaf loads every datom of a leaf segment.
func (t *treeIO) readLeaf(ctx context.Context, id segment.ID, dst []datom.Datom) ([]datom.Datom, error) {
	_, err := t.recordsFrom(ctx, id, nil, func(_, v []byte) (bool, error) {
		var err error
		dst, err = datom.DecodeBlock(t.x, v, dst)
		if err != nil {
			return false, anomaly.Wrap(anomaly.Fault, "tree leaf "+id.Short(), err)
		}
		return true, nil
	})
	return dst, err
}

// begin starts a new segment in the writer and returns its id.
func (t *treeIO) begin() (segment.ID, error) {
	id := segment.NewID()
	if _, err := t.writer(); err != nil {
		return id, err
	}
	t.w.Reset(t.buf[:0], id)
	return id, nil
}

// finish completes the segment begun as id and puts it in the store.
func (t *treeIO) finish(ctx context.Context, id segment.ID) error {
	seg, err := t.w.Finish()
	if err != nil {
		return err
	}
	if err := t.store.Put(ctx, id, seg); err != nil {
		return err
	}
	t.buf = seg
	t.bytes += int64(len(seg))
	return nil
}

// groupSize is how many of the n items left go into the next node of at
// most max items: max, except that the last two nodes share evenly when the
// last would be a runt (under a quarter full).
func groupSize(n, max int) int {
	g := min(n, max)
	if rest := n - g; rest > 0 && rest < max/4 {
		g = (n + 1) / 2
	}
	return g
}

// writeLeaves writes ds (sorted) as leaf segments and returns their entries.
func (t *treeIO) writeLeaves(ctx context.Context, ds []datom.Datom) ([]child, error) {
	var out []child
	for len(ds) > 0 {
		n := groupSize(len(ds), t.opts.LeafDatoms)
		leaf := ds[:n]
		ds = ds[n:]
		id, err := t.begin()
		if err != nil {
			return nil, err
		}
		var last []byte
		for c := 0; c < len(leaf); c += t.opts.ChunkDatoms {
			chunk := leaf[c:min(c+t.opts.ChunkDatoms, len(leaf))]
			last = datom.AppendKey(last[:0], t.x, chunk[len(chunk)-1])
			val := datom.AppendBlock(nil, t.x, chunk)
			if err := t.w.Add(last, val); err != nil {
				return nil, err
			}
		}
		if err := t.finish(ctx, id); err != nil {
			return nil, err
		}
		out = append(out, child{last: bytes.Clone(last), ref: TreeRef{ID: id, Height: 0, Count: uint64(len(leaf))}})
	}
	return out, nil
}

// writeBranches groups entries of height h into branch segments of height
// h+1.
func (t *treeIO) writeBranches(ctx context.Context, entries []child, h uint8) ([]child, error) {
	if h+1 >= maxTreeHeight {
		return nil, anomaly.New(anomaly.Fault, "tree", "height over %d", maxTreeHeight)
	}
	var out []child
	for len(entries) > 0 {
		n := groupSize(len(entries), t.opts.Fanout)
		group := entries[:n]
		entries = entries[n:]
		id, err := t.begin()
		if err != nil {
			return nil, err
		}
		var count uint64
		val := make([]byte, 0, refValueMax)
		for _, c := range group {
			if err := t.w.Add(c.last, appendRefValue(val[:0], c.ref)); err != nil {
				return nil, err
			}
			count += c.ref.Count
		}
		if err := t.finish(ctx, id); err != nil {
			return nil, err
		}
		out = append(out, child{last: group[len(group)-1].last, ref: TreeRef{ID: id, Height: h + 1, Count: count}})
	}
	return out, nil
}

// root turns one level of entries into a single root.
func (t *treeIO) root(ctx context.Context, entries []child) (TreeRef, error) {
	for len(entries) > 1 {
		var err error
		if entries, err = t.writeBranches(ctx, entries, entries[0].ref.Height); err != nil {
			return TreeRef{}, err
		}
	}
	if len(entries) == 0 {
		return TreeRef{}, nil
	}
	return entries[0].ref, nil
}

// BuildTree writes ds, sorted in index x's order, as a new tree.
func BuildTree(ctx context.Context, store SegmentStore, opts TreeOptions, x datom.Index, ds []datom.Datom) (TreeRef, error) {
	t, err := newTreeIO(store, opts, x)
	if err != nil {
		return TreeRef{}, err
	}
	leaves, err := t.writeLeaves(ctx, ds)
	if err != nil {
		return TreeRef{}, err
	}
	return t.root(ctx, leaves)
}

// MergeStats says what a merge wrote.
type MergeStats struct {
	LeavesWritten, BranchesWritten int
	LeavesKept                     int   // leaves shared with the old tree
	BytesWritten                   int64 // bytes of the segments written
}

// MergeTree returns root with adds inserted and dels removed (both sorted
// in x's order; a datom in dels that the tree lacks is ignored). Only the
// leaves that receive changes, and their ancestors, are rewritten.
func MergeTree(ctx context.Context, store SegmentStore, opts TreeOptions, x datom.Index, root TreeRef, adds, dels []datom.Datom) (TreeRef, MergeStats, error) {
	t, err := newTreeIO(store, opts, x)
	if err != nil {
		return TreeRef{}, MergeStats{}, err
	}
	var st MergeStats
	if root.IsEmpty() {
		leaves, err := t.writeLeaves(ctx, adds)
		if err != nil {
			return TreeRef{}, st, err
		}
		st.LeavesWritten = len(leaves)
		r, err := t.root(ctx, leaves)
		st.BytesWritten = t.bytes
		return r, st, err
	}
	entries, err := t.merge(ctx, child{ref: root}, adds, dels, &st, true)
	if err != nil {
		return TreeRef{}, st, err
	}
	// A tree whose root split grows a level; one that shrank to a single
	// child at the top loses levels.
	r, err := t.root(ctx, entries)
	if err != nil {
		return TreeRef{}, st, err
	}
	st.BytesWritten = t.bytes
	for r.Height > 0 {
		kids, err := t.readBranch(ctx, r)
		if err != nil {
			return TreeRef{}, st, err
		}
		if len(kids) != 1 {
			break
		}
		r = kids[0].ref
	}
	return r, st, nil
}

// merge applies adds and dels (all inside node's key range) to node and
// returns the entries that replace it: none, itself, or rewritten nodes.
func (t *treeIO) merge(ctx context.Context, node child, adds, dels []datom.Datom, st *MergeStats, top bool) ([]child, error) {
	if len(adds) == 0 && len(dels) == 0 {
		if node.ref.Height == 0 {
			st.LeavesKept++
		}
		return []child{node}, nil
	}
	if node.ref.Height == 0 {
		old, err := t.readLeaf(ctx, node.ref.ID, nil)
		if err != nil {
			return nil, err
		}
		merged := mergeSorted(t.x, old, adds, dels)
		out, err := t.writeLeaves(ctx, merged)
		st.LeavesWritten += len(out)
		return out, err
	}
	kids, err := t.readBranch(ctx, node.ref)
	if err != nil {
		return nil, err
	}
	var out []child
	var key []byte
	for i, k := range kids {
		// Child i takes the datoms <= its last key (the last child takes
		// the rest).
		cut := func(ds []datom.Datom) int {
			if i == len(kids)-1 {
				return len(ds)
			}
			return sort.Search(len(ds), func(j int) bool {
				key = datom.AppendKey(key[:0], t.x, ds[j])
				return bytes.Compare(key, k.last) > 0
			})
		}
		na, nd := cut(adds), cut(dels)
		repl, err := t.merge(ctx, k, adds[:na], dels[:nd], st, false)
		if err != nil {
			return nil, err
		}
		out = append(out, repl...)
		adds, dels = adds[na:], dels[nd:]
	}
	if len(out) == len(kids) && sameChildren(out, kids) {
		return []child{node}, nil
	}
	// Children of one height: the leaves and branches rewritten below keep
	// their height, so out can be regrouped at this level.
	if len(out) == 0 {
		return nil, nil
	}
	groups, err := t.writeBranches(ctx, out, node.ref.Height-1)
	st.BranchesWritten += len(groups)
	return groups, err
}

func sameChildren(a, b []child) bool {
	for i := range a {
		if a[i].ref != b[i].ref {
			return false
		}
	}
	return true
}

// mergeSorted returns old with adds inserted and dels removed.
func mergeSorted(x datom.Index, old, adds, dels []datom.Datom) []datom.Datom {
	out := make([]datom.Datom, 0, len(old)+len(adds))
	i, j, k := 0, 0, 0
	for i < len(old) || j < len(adds) {
		var d datom.Datom
		switch {
		case j >= len(adds) || (i < len(old) && datom.Compare(x, old[i], adds[j]) < 0):
			d = old[i]
			i++
		case i < len(old) && datom.Compare(x, old[i], adds[j]) == 0:
			d = old[i]
			i++
			j++
		default:
			d = adds[j]
			j++
		}
		for k < len(dels) && datom.Compare(x, dels[k], d) < 0 {
			k++
		}
		if k < len(dels) && datom.Compare(x, dels[k], d) == 0 {
			continue
		}
		out = append(out, d)
	}
	return out
}

// recordsFrom calls fn with the records of segment id from the first whose
// key is >= from (every record when from is nil), until fn returns false.
func (t *treeIO) recordsFrom(ctx context.Context, id segment.ID, from []byte, fn func(k, v []byte) (bool, error)) (bool, error) {
	return t.recordsAt(ctx, id, from, func(k, v []byte, _, _ int) (bool, error) { return fn(k, v) })
}

// recordsAt is recordsFrom whose fn also learns where each record is: its
// block and its end within the block.
func (t *treeIO) recordsAt(ctx context.Context, id segment.ID, from []byte, fn func(k, v []byte, block, end int) (bool, error)) (bool, error) {
	ix, err := t.store.Index(ctx, id)
	if err != nil {
		return false, err
	}
	start := 0
	if from != nil {
		start = max(ix.Find(from), 0)
	}
	var it segment.BlockIter
	for i := start; i < len(ix.Blocks); i++ {
		b, err := t.store.Block(ctx, id, i)
		if err != nil {
			return false, err
		}
		if err := it.InitBlock(ix, i, b); err != nil {
			return false, err
		}
		var ok bool
		if from != nil && i == start {
			ok = it.SeekGE(from)
		} else {
			ok = it.First()
		}
		for ; ok; ok = it.Next() {
			more, err := fn(it.Key(), it.Value(), i, it.RecordEnd())
			if err != nil || !more {
				return false, err
			}
		}
		if err := it.Err(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// ascend calls fn with the datoms of the tree from probe on (every datom
// when from is nil), in index order, until fn returns false.
func (t *treeIO) ascend(ctx context.Context, root TreeRef, probe *datom.Datom, fn func(datom.Datom) bool) error {
	if root.IsEmpty() {
		return nil
	}
	var from []byte
	if probe != nil {
		from = datom.AppendKey(nil, t.x, *probe)
	}
	_, err := t.ascendNode(ctx, root, from, probe, fn)
	return err
}

func (t *treeIO) ascendNode(ctx context.Context, ref TreeRef, from []byte, probe *datom.Datom, fn func(datom.Datom) bool) (bool, error) {
	if ref.Height == 0 {
		cache := chunks.Load()
		cp := chunkPool.Get().(*[]datom.Datom)
		defer chunkPool.Put(cp)
		buf := (*cp)[:0]
		defer func() { *cp = buf[:0] }()
		return t.recordsAt(ctx, ref.ID, from, func(_, v []byte, block, end int) (bool, error) {
			var chunk []datom.Datom
			key := chunkKey{id: ref.ID, block: int32(block), end: int32(end)}
			hit := false
			if cache != nil {
				chunk, hit = cache.get(key)
			}
			if !hit {
				dst := buf[:0]
				if cache != nil {
					dst = nil // kept by the cache: its own slice
				}
				var err error
				if chunk, err = datom.DecodeBlock(t.x, v, dst); err != nil {
					return false, anomaly.Wrap(anomaly.Fault, "tree leaf "+ref.ID.Short(), err)
				}
				if cache != nil {
					cache.add(key, slices.Clip(chunk))
				} else {
					buf = chunk
				}
			}
			i := 0
			if probe != nil {
				// The first datom at or after the probe.
				i = sort.Search(len(chunk), func(j int) bool { return datom.Compare(t.x, chunk[j], *probe) >= 0 })
			}
			for _, d := range chunk[i:] {
				if !fn(d) {
					return false, nil
				}
			}
			probe = nil // every later chunk is past it
			return true, nil
		})
	}
	first := true
	return t.recordsFrom(ctx, ref.ID, from, func(_, v []byte) (bool, error) {
		c, err := decodeRefValue(ref.ID, v)
		if err != nil {
			return false, err
		}
		f, p := from, probe
		if !first {
			f, p = nil, nil
		}
		first = false
		return t.ascendNode(ctx, c, f, p, fn)
	})
}

// chunkPool holds the decoded-chunk buffers of leaf scans: a point read
// decodes one chunk, and a fresh buffer per read was most of its garbage.
var chunkPool = sync.Pool{New: func() any { s := make([]datom.Datom, 0, DefaultChunkDatoms); return &s }}
