package datom

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/stratadb/strata/anomaly"
)

// Blocks: a run of datoms stored by columns.
//
// AppendBlock stores a run of datoms (normally a sorted run of one index, the
// value of one segment record) column by column, so that what sorting makes
// regular costs next to nothing: the leading column is a few runs, attributes
// and repeated values are dictionary indexes of a few bits, sorted numbers are
// small deltas, sorted strings share prefixes. The block is not compressed
// further here: the segment compresses its blocks.
//
// Layout. "uvarint" is encoding/binary's; "varint" is the zigzag signed one.
//
//	block   := version=1 index n:uvarint [columns]      (nothing after n when n = 0)
//	columns := E:u64col(n) A:u64col(n) Tx:u64col(n) added:flags(n) g:uvarint group*g
//
// The values are stored by attribute: a group per distinct A of the block, in
// order of first appearance, holds that attribute's values in datom order (a
// schema gives an attribute one type, so a group's values are alike and its
// columns small, as in a column store). g must equal the number of distinct A.
//
//	group   := types:u64col(m) nums:u64col(k) strs:strcol(s)
//
// m is the group's datom count, k the number of its values of a number type
// and s of a string type (both follow from types). Number types store as a
// uint64: boolean 0/1, long and instant with the sign bit flipped (so that
// frame-of-reference works across zero), ref the entity id, float the
// float32 bits, double the float64 bits (NaN payloads survive). String types
// store as bytes: string, keyword, symbol, uri and bytes their bytes, uuid its
// 16 bytes, and bigint, bigdec and tuple their value key (AppendValueKey; so
// a NaN inside a tuple comes back as the one NaN the key keeps).
// The invalid type stores nothing.
//
// A u64col of n > 0 numbers is a kind byte and one of four encodings; the
// encoder writes the smallest (n = 0: nothing at all):
//
//	0 runs   r:uvarint (r ≤ n), then r × (value:varint delta from the previous
//	         run's value, starting at 0; length:uvarint ≥ 1), lengths sum to n
//	1 delta  n × varint delta from the previous value (starting at 0)
//	2 frame  base:uvarint width:byte (≤ 64), then n × (value−base) in width
//	         bits, packed LSB first into ⌈n·width/8⌉ bytes
//	3 dict   d:uvarint (1 ≤ d ≤ n), d ascending values: the first as uvarint,
//	         then uvarint deltas; width:byte = bits.Len(d−1); then n indexes
//	         (< d) packed as in frame
//
// Deltas wrap around 2^64, so every encoding holds any uint64.
//
// A strcol of s > 0 strings holds the strings that repeat in a dictionary and
// the others in order:
//
//	strcol  := d:uvarint dict*d [codes:u64col(s)] lit*l
//	dict    := shared:uvarint len:uvarint bytes   ascending, distinct; shared is
//	                                               the prefix length taken from the previous entry
//	codes   := per string: 0 a literal, i the dictionary's entry i−1 (absent when d = 0)
//	lit     := shared:uvarint len:uvarint bytes   the literals (code 0) in order,
//	                                               prefix-compressed the same way
//
// The added flags: 0 all assertions, 1 all retractions, or 2 followed by
// ⌈n/8⌉ bytes of one bit per datom (1 = assertion), LSB first.
//
// Decoding checks every count, length, index and width against the bytes
// present and the limits below and returns an anomaly.Incorrect error that
// names the column and offset; no input makes it panic. It does not check
// that the datoms are sorted: a block is trusted as much as the segment
// checksum that delivered it.
//
// The decoded strings of a group share one allocation per dictionary and one
// for the literals, so a datom from a block keeps those alive.
//
// AppendBlock and DecodeBlock are safe for concurrent use (their scratch
// space comes from a sync.Pool).

// Limits on blocks. The engine cuts blocks long before these (a segment holds
// 1,000–20,000 datoms); they exist so that a decoder can bound the memory a
// corrupt or hostile block makes it allocate.
const (
	// MaxBlockDatoms is the most datoms a block holds.
	MaxBlockDatoms = 1 << 16
	// MaxBlockStringBytes is the most bytes a block's string values hold in
	// all (dictionary entries counted once).
	MaxBlockStringBytes = 64 << 20
)

const (
	blockVersion = 1
	blockOp      = "datom block"

	colRuns  = 0
	colDelta = 1
	colFrame = 2
	colDict  = 3

	addedAll     = 0
	addedNone    = 1
	addedBitwise = 2
)

// AppendBlock appends the block of ds, from index x, to dst. Any order of
// datoms round-trips; sorted in x is what makes the block small. It panics
// when ds holds more than MaxBlockDatoms datoms or more than
// MaxBlockStringBytes of string values: the caller sizes its blocks.
func AppendBlock(dst []byte, x Index, ds []Datom) []byte {
	if x >= NumIndexes {
		panic(fmt.Sprintf("datom: invariant: AppendBlock in unknown index %d", x))
	}
	if len(ds) > MaxBlockDatoms {
		panic(fmt.Sprintf("datom: invariant: block of %d datoms exceeds MaxBlockDatoms (%d)", len(ds), MaxBlockDatoms))
	}
	dst = append(dst, blockVersion, byte(x))
	dst = binary.AppendUvarint(dst, uint64(len(ds)))
	if len(ds) == 0 {
		return dst
	}
	enc := encoderPool.Get().(*blockEncoder)
	defer encoderPool.Put(enc)
	dst = enc.encode(dst, ds)
	enc.reset()
	return dst
}

type blockEncoder struct {
	col    []uint64 // the column being written
	sorted []uint64 // a column's dictionary
	// A hash table from a column's values to 1+ their dictionary index.
	table      []int32
	tableKeys  []uint64
	tableShift uint
	idx        []uint64 // dictionary indexes
	codes      []uint64 // string codes
	groupOf    []int32  // datom → group
	groups     []E      // group → attribute, in order of first appearance
	members    []int32  // datoms by group (counting sort of groupOf)
	starts     []int32  // group → first position in members
	strs       []string
	counts     map[string]int32
	keys       []string // dictionary entries
	strSize    int      // string bytes written so far in the block
	keyBuf     []byte
}

var encoderPool = sync.Pool{New: func() any { return &blockEncoder{counts: map[string]int32{}} }}

func (enc *blockEncoder) reset() {
	clear(enc.strs)
	clear(enc.keys)
	clear(enc.counts)
	enc.strSize = 0
}

func (enc *blockEncoder) encode(dst []byte, ds []Datom) []byte {
	n := len(ds)
	col := grow(enc.col, n)
	for i := range ds {
		col[i] = uint64(ds[i].E)
	}
	dst = enc.appendU64Col(dst, col)
	for i := range ds {
		col[i] = uint64(ds[i].A)
	}
	dst = enc.appendU64Col(dst, col)
	for i := range ds {
		col[i] = uint64(ds[i].Tx)
	}
	dst = enc.appendU64Col(dst, col)
	enc.col = col

	added := 0
	for i := range ds {
		if ds[i].Added {
			added++
		}
	}
	switch added {
	case n:
		dst = append(dst, addedAll)
	case 0:
		dst = append(dst, addedNone)
	default:
		dst = append(dst, addedBitwise)
		var c byte
		for i := range ds {
			if ds[i].Added {
				c |= 1 << (i % 8)
			}
			if i%8 == 7 || i == n-1 {
				dst = append(dst, c)
				c = 0
			}
		}
	}

	enc.groupOf = grow(enc.groupOf, n)
	enc.groups = enc.groups[:0]
	groupAttrs(ds, enc.groupOf, &enc.groups)
	enc.members, enc.starts = membersByGroup(enc.groupOf, len(enc.groups), enc.members, enc.starts)
	dst = binary.AppendUvarint(dst, uint64(len(enc.groups)))
	for g := range enc.groups {
		dst = enc.appendGroup(dst, ds, enc.members[enc.starts[g]:enc.starts[g+1]])
	}
	return dst
}

// groupAttrs numbers the distinct attributes of ds in order of first
// appearance into groupOf and appends them to groups.
func groupAttrs(ds []Datom, groupOf []int32, groups *[]E) {
	var index map[E]int32 // only for blocks of many attributes
	lastA, lastG := E(0), int32(-1)
	for i := range ds {
		a := ds[i].A
		if a == lastA && lastG >= 0 {
			groupOf[i] = lastG
			continue
		}
		g := int32(-1)
		if index != nil {
			if j, ok := index[a]; ok {
				g = j
			}
		} else {
			for j, b := range *groups {
				if b == a {
					g = int32(j)
					break
				}
			}
		}
		if g < 0 {
			g = int32(len(*groups))
			*groups = append(*groups, a)
			if index == nil && len(*groups) > 16 {
				index = make(map[E]int32, 64)
				for j, b := range *groups {
					index[b] = int32(j)
				}
			} else if index != nil {
				index[a] = g
			}
		}
		groupOf[i] = g
		lastA, lastG = a, g
	}
}

// membersByGroup lists the datoms of each group in order: those of group g
// are members[starts[g]:starts[g+1]].
func membersByGroup(groupOf []int32, ng int, members, starts []int32) ([]int32, []int32) {
	starts = grow(starts, ng+1)
	clear(starts)
	for _, g := range groupOf {
		starts[g+1]++
	}
	for g := 1; g <= ng; g++ {
		starts[g] += starts[g-1]
	}
	members = grow(members, len(groupOf))
	next := starts[:ng] // advanced while filling, then restored
	for i, g := range groupOf {
		members[next[g]] = int32(i)
		next[g]++
	}
	for g := ng; g > 0; g-- {
		starts[g] = starts[g-1]
	}
	starts[0] = 0
	return members, starts
}

func isNumType(t Type) bool {
	switch t {
	case TypeBoolean, TypeLong, TypeInstant, TypeRef, TypeFloat, TypeDouble:
		return true
	}
	return false
}

func (enc *blockEncoder) appendGroup(dst []byte, ds []Datom, members []int32) []byte {
	col := grow(enc.col, len(members))
	for j, i := range members {
		col[j] = uint64(ds[i].V.typ)
	}
	dst = enc.appendU64Col(dst, col)
	k := 0
	strs := enc.strs[:0]
	for _, i := range members {
		v := &ds[i].V
		switch v.typ {
		case TypeInvalid:
		case TypeBoolean, TypeRef, TypeFloat, TypeDouble:
			col[k] = v.num
			k++
		case TypeLong, TypeInstant:
			col[k] = v.num ^ signBit64
			k++
		case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes:
			strs = append(strs, v.str)
		case TypeUUID:
			if len(v.str) != 16 {
				panic(fmt.Sprintf("datom: invariant: uuid of %d bytes", len(v.str)))
			}
			strs = append(strs, v.str)
		case TypeBigInt, TypeBigDec, TypeTuple:
			enc.keyBuf = AppendValueKey(enc.keyBuf[:0], *v)
			strs = append(strs, string(enc.keyBuf))
		default:
			panic(fmt.Sprintf("datom: invariant: block value of unknown type %d", v.typ))
		}
	}
	dst = enc.appendU64Col(dst, col[:k])
	enc.col = col
	enc.strs = strs
	return enc.appendStrCol(dst, strs)
}

func (enc *blockEncoder) appendStrCol(dst []byte, strs []string) []byte {
	if len(strs) == 0 {
		return dst
	}
	// Strings seen twice go to the dictionary; enc.counts then maps each
	// string to its code.
	keys := enc.keys[:0]
	if len(strs) > 1 {
		for _, s := range strs {
			enc.counts[s]++
		}
		for s, c := range enc.counts {
			if c > 1 {
				keys = append(keys, s)
			}
			enc.counts[s] = 0
		}
		slices.Sort(keys)
		for i, s := range keys {
			enc.counts[s] = int32(i + 1)
		}
	}
	enc.keys = keys
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	prev := ""
	for _, s := range keys {
		dst = enc.appendShared(dst, prev, s)
		prev = s
	}
	codes := grow(enc.codes, len(strs))
	enc.codes = codes
	if len(keys) > 0 {
		for i, s := range strs {
			codes[i] = uint64(enc.counts[s])
		}
		dst = enc.appendU64Col(dst, codes)
	} else {
		clear(codes)
	}
	prev = ""
	for i, s := range strs {
		if codes[i] == 0 {
			dst = enc.appendShared(dst, prev, s)
			prev = s
		}
	}
	clear(enc.counts)
	return dst
}

// appendShared writes s as the length of its common prefix with prev, the
// length of the rest and the rest.
func (enc *blockEncoder) appendShared(dst []byte, prev, s string) []byte {
	enc.strSize += len(s)
	if enc.strSize > MaxBlockStringBytes {
		panic(fmt.Sprintf("datom: invariant: block strings exceed MaxBlockStringBytes (%d)", MaxBlockStringBytes))
	}
	shared := 0
	for m := min(len(prev), len(s)); shared < m && prev[shared] == s[shared]; shared++ {
	}
	dst = binary.AppendUvarint(dst, uint64(shared))
	dst = binary.AppendUvarint(dst, uint64(len(s)-shared))
	return append(dst, s[shared:]...)
}

func zigzag(d uint64) uint64   { return d<<1 ^ uint64(int64(d)>>63) }
func unzigzag(z uint64) uint64 { return z>>1 ^ -(z & 1) }

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// appendU64Col writes vs in the smallest of the four encodings.
func (enc *blockEncoder) appendU64Col(dst []byte, vs []uint64) []byte {
	n := len(vs)
	if n == 0 {
		return dst
	}
	// Sizes of runs, delta and frame, in one pass.
	runsSize, runs, deltaSize := 0, 0, 0
	lo, hi := vs[0], vs[0]
	prevRun, prev := uint64(0), uint64(0)
	for i := 0; i < n; {
		v := vs[i]
		j := i + 1
		deltaSize += uvarintLen(zigzag(v - prev))
		for j < n && vs[j] == v {
			j++
		}
		deltaSize += j - i - 1 // zero deltas
		runsSize += uvarintLen(zigzag(v-prevRun)) + uvarintLen(uint64(j-i))
		runs++
		prevRun, prev = v, v
		lo, hi = min(lo, v), max(hi, v)
		i = j
	}
	runsSize += uvarintLen(uint64(runs))
	width := bits.Len64(hi - lo)
	frameSize := uvarintLen(lo) + 1 + (n*width+7)/8

	best, bestSize := colRuns, runsSize
	if frameSize < bestSize {
		best, bestSize = colFrame, frameSize
	}
	if deltaSize < bestSize {
		best, bestSize = colDelta, deltaSize
	}
	// A dictionary pays when few distinct values are far apart: its indexes
	// must be narrower than the frame's. There are at most as many distinct
	// values as runs, so do not look when even that many would not be.
	var dict []uint64
	if runs > 2 && bits.Len(uint(runs-1)) < width {
		var ok bool
		if dict, ok = enc.distinct(vs, bestSize); ok {
			d := len(dict)
			dictSize := 1 + uvarintLen(uint64(d)) + (n*bits.Len(uint(d-1))+7)/8
			slices.Sort(dict)
			p := uint64(0)
			for _, v := range dict {
				dictSize += uvarintLen(v - p)
				p = v
			}
			if dictSize < bestSize {
				best = colDict
			}
		}
	}

	dst = append(dst, byte(best))
	switch best {
	case colRuns:
		dst = binary.AppendUvarint(dst, uint64(runs))
		prevRun := uint64(0)
		for i := 0; i < n; {
			v := vs[i]
			j := i + 1
			for j < n && vs[j] == v {
				j++
			}
			dst = binary.AppendUvarint(dst, zigzag(v-prevRun))
			dst = binary.AppendUvarint(dst, uint64(j-i))
			prevRun = v
			i = j
		}
	case colDelta:
		prev := uint64(0)
		for _, v := range vs {
			dst = binary.AppendUvarint(dst, zigzag(v-prev))
			prev = v
		}
	case colFrame:
		dst = binary.AppendUvarint(dst, lo)
		dst = append(dst, byte(width))
		dst = appendPacked(dst, vs, lo, uint(width))
	case colDict:
		dst = binary.AppendUvarint(dst, uint64(len(dict)))
		p := uint64(0)
		for _, v := range dict {
			dst = binary.AppendUvarint(dst, v-p)
			p = v
		}
		// The table's entries become ranks in the sorted dictionary.
		for i, p := range enc.table {
			if p != 0 {
				j, _ := slices.BinarySearch(dict, enc.tableKeys[i])
				enc.table[i] = int32(j + 1)
			}
		}
		idx := grow(enc.idx, n)
		enc.idx = idx
		for i, v := range vs {
			idx[i] = uint64(enc.lookup(v) - 1)
		}
		w := bits.Len(uint(len(dict) - 1))
		dst = append(dst, byte(w))
		dst = appendPacked(dst, idx, 0, uint(w))
	}
	return dst
}

// distinct collects the distinct values of vs into a dictionary (unsorted),
// indexed by enc.table. It gives up (ok false) once the dictionary cannot be
// smaller than budget bytes: one byte per entry at least, plus the indexes.
func (enc *blockEncoder) distinct(vs []uint64, budget int) (dict []uint64, ok bool) {
	n := len(vs)
	size := 16 // slots: a power of two, at least twice the entries it may hold
	for size < 2*min(n, budget) {
		size *= 2
	}
	enc.table = grow(enc.table, size)
	clear(enc.table)
	enc.tableKeys = grow(enc.tableKeys, size)
	enc.tableShift = uint(64 - bits.Len(uint(size-1)))
	dict = enc.sorted[:0]
	defer func() { enc.sorted = dict }()
	for _, v := range vs {
		i := enc.slot(v)
		if enc.table[i] != 0 {
			continue
		}
		dict = append(dict, v)
		enc.table[i] = int32(len(dict))
		enc.tableKeys[i] = v
		if d := len(dict); d+(n*bits.Len(uint(d-1))+7)/8 >= budget || 2*d > size {
			return dict, false
		}
	}
	return dict, true
}

// slot is v's slot in enc.table: its own, or the empty one where it goes.
func (enc *blockEncoder) slot(v uint64) int {
	mask := len(enc.table) - 1
	for i := int((v * 0x9E3779B97F4A7C15) >> enc.tableShift); ; i = (i + 1) & mask {
		if enc.table[i] == 0 || enc.tableKeys[i] == v {
			return i
		}
	}
}

func (enc *blockEncoder) lookup(v uint64) int32 { return enc.table[enc.slot(v)] }

// appendPacked writes the w low bits of each v−base, LSB first.
func appendPacked(dst []byte, vs []uint64, base uint64, w uint) []byte {
	if w == 0 {
		return dst
	}
	var acc uint64
	var nbits uint
	for _, v := range vs {
		v -= base
		acc |= v << nbits
		if nbits+w >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			acc = v >> (64 - nbits) // 0 when nbits = 0
			nbits = nbits + w - 64
		} else {
			nbits += w
		}
	}
	for ; nbits > 0; nbits -= min(nbits, 8) {
		dst = append(dst, byte(acc))
		acc >>= 8
	}
	return dst
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// Decoding.

// DecodeBlock decodes a block that AppendBlock made for index x and appends
// its datoms to dst. A block that is not one, or not of x, is an
// anomaly.Incorrect error naming what is wrong and where; dst is then
// returned with its original length.
func DecodeBlock(x Index, b []byte, dst []Datom) ([]Datom, error) {
	dec := decoderPool.Get().(*blockDecoder)
	defer decoderPool.Put(dec)
	dec.blockReader = blockReader{b: b}
	start := len(dst)
	dst, err := dec.decode(x, dst)
	dec.reset()
	if err != nil {
		clear(dst[start:])
		return dst[:start], err
	}
	return dst, nil
}

// blockDecoder holds a decoding's reader and its scratch columns, reused
// through decoderPool.
type blockDecoder struct {
	blockReader
	col     []uint64
	nums    []uint64
	types   []uint64
	codes   []uint64
	dict    []uint64 // a u64col's dictionary
	groupOf []int32
	groups  []E
	members []int32
	starts  []int32
	strs    []string
	keys    []string // a strcol's dictionary
	lens    []int    // string lengths
}

var decoderPool = sync.Pool{New: func() any { return new(blockDecoder) }}

func (dec *blockDecoder) reset() {
	dec.blockReader = blockReader{}
	clear(dec.strs) // drop the decoded strings
	clear(dec.keys)
}

func (dec *blockDecoder) decode(x Index, dst []Datom) ([]Datom, error) {
	b := dec.b
	if len(b) < 2 {
		return dst, dec.fail("header of %d bytes", len(b))
	}
	if b[0] != blockVersion {
		return dst, dec.fail("version %d, want %d", b[0], blockVersion)
	}
	if Index(b[1]) != x {
		return dst, dec.fail("block of index %s read as %s", Index(b[1]), x)
	}
	dec.off = 2
	n64 := dec.uvarint("datom count")
	if dec.err != nil {
		return dst, dec.err
	}
	if n64 > MaxBlockDatoms {
		return dst, dec.fail("%d datoms exceed MaxBlockDatoms (%d)", n64, MaxBlockDatoms)
	}
	n := int(n64)
	if n == 0 {
		if dec.off != len(b) {
			return dst, dec.fail("%d trailing bytes", len(b)-dec.off)
		}
		return dst, nil
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	ds := dst[start:]

	col := grow(dec.col, n)
	dec.col = col
	if dec.u64Col("e", col); dec.err != nil {
		return dst, dec.err
	}
	for i := range ds {
		ds[i].E = E(col[i])
	}
	if dec.u64Col("a", col); dec.err != nil {
		return dst, dec.err
	}
	for i := range ds {
		ds[i].A = E(col[i])
	}
	if dec.u64Col("tx", col); dec.err != nil {
		return dst, dec.err
	}
	for i := range ds {
		ds[i].Tx = E(col[i])
	}
	switch kind := dec.byte("added flags"); kind {
	case addedAll, addedNone:
		for i := range ds {
			ds[i].Added = kind == addedAll
		}
	case addedBitwise:
		p := dec.bytes("added flags", (n+7)/8)
		if dec.err != nil {
			return dst, dec.err
		}
		for i := range ds {
			ds[i].Added = p[i/8]>>(i%8)&1 != 0
		}
	default:
		if dec.err == nil {
			dec.failAt(dec.off-1, "added flags kind %d", kind)
		}
		return dst, dec.err
	}

	dec.groupOf = grow(dec.groupOf, n)
	dec.groups = dec.groups[:0]
	groupAttrs(ds, dec.groupOf, &dec.groups)
	g := dec.uvarint("group count")
	if dec.err != nil {
		return dst, dec.err
	}
	if g != uint64(len(dec.groups)) {
		return dst, dec.fail("%d value groups for %d attributes", g, len(dec.groups))
	}
	dec.members, dec.starts = membersByGroup(dec.groupOf, len(dec.groups), dec.members, dec.starts)
	strBytes := 0
	for g := range dec.groups {
		if err := dec.group(ds, dec.members[dec.starts[g]:dec.starts[g+1]], g, &strBytes); err != nil {
			return dst, err
		}
	}
	if dec.off != len(b) {
		return dst, dec.fail("%d trailing bytes", len(b)-dec.off)
	}
	return dst, nil
}

func (dec *blockDecoder) group(ds []Datom, members []int32, g int, strBytes *int) error {
	m := len(members)
	types := grow(dec.types, m)
	dec.types = types
	if dec.u64Col("value types", types); dec.err != nil {
		return dec.err
	}
	k, s := 0, 0
	for j, t := range types {
		switch {
		case t >= uint64(numTypes):
			return dec.fail("group %d: value %d of unknown type %d", g, j, t)
		case Type(t) == TypeInvalid:
		case isNumType(Type(t)):
			k++
		default:
			s++
		}
	}
	nums := grow(dec.nums, k)
	dec.nums = nums
	if dec.u64Col("numbers", nums); dec.err != nil {
		return dec.err
	}
	strs := grow(dec.strs, s)
	dec.strs = strs
	if err := dec.strCol(strs, strBytes); err != nil {
		return err
	}
	k, s = 0, 0
	for j, i := range members {
		t := Type(types[j])
		v := Value{typ: t}
		switch t {
		case TypeInvalid:
		case TypeBoolean:
			if nums[k] > 1 {
				return dec.fail("group %d: boolean %d", g, nums[k])
			}
			v.num = nums[k]
			k++
		case TypeFloat:
			if nums[k] > math.MaxUint32 {
				return dec.fail("group %d: float bits %#x exceed 32 bits", g, nums[k])
			}
			v.num = nums[k]
			k++
		case TypeRef, TypeDouble:
			v.num = nums[k]
			k++
		case TypeLong, TypeInstant:
			v.num = nums[k] ^ signBit64
			k++
		case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes:
			v.str = strs[s]
			s++
		case TypeUUID:
			if len(strs[s]) != 16 {
				return dec.fail("group %d: uuid of %d bytes", g, len(strs[s]))
			}
			v.str = strs[s]
			s++
		default: // bigint, bigdec, tuple: a value key
			key := strs[s]
			s++
			if len(key) == 0 || Type(key[0]) != t {
				return dec.fail("group %d: %s value key of another type", g, t)
			}
			w, rest, err := DecodeValueKey([]byte(key))
			if err != nil {
				return anomaly.Wrap(anomaly.Incorrect, fmt.Sprintf("%s: group %d", blockOp, g), err)
			}
			if len(rest) != 0 {
				return dec.fail("group %d: %d bytes after a %s value key", g, len(rest), t)
			}
			v = w
		}
		ds[i].V = v
	}
	return nil
}

func (dec *blockDecoder) strCol(strs []string, strBytes *int) error {
	if len(strs) == 0 {
		return nil
	}
	d := dec.uvarint("string dictionary size")
	if dec.err != nil {
		return dec.err
	}
	if d > uint64(len(strs)) {
		return dec.fail("string dictionary of %d for %d strings", d, len(strs))
	}
	keys := grow(dec.keys, int(d))
	dec.keys = keys
	if err := dec.shared("string dictionary", keys, strBytes); err != nil {
		return err
	}
	if d == 0 {
		return dec.shared("string literals", strs, strBytes)
	}
	codes := grow(dec.codes, len(strs))
	dec.codes = codes
	if dec.u64Col("string codes", codes); dec.err != nil {
		return dec.err
	}
	literals := 0
	for i, c := range codes {
		if c > d {
			return dec.fail("string %d: code %d beyond the dictionary of %d", i, c, d)
		}
		if c == 0 {
			literals++
		}
	}
	// Decode the literals into the tail of strs, then spread them out from
	// the front: position i ≤ the literal's position, so none is overwritten
	// before it is read.
	tail := len(strs) - literals
	if err := dec.shared("string literals", strs[tail:], strBytes); err != nil {
		return err
	}
	for i, c := range codes {
		if c == 0 {
			strs[i] = strs[tail]
			tail++
		} else {
			strs[i] = keys[c-1]
		}
	}
	return nil
}

// shared decodes len(out) prefix-compressed strings, which share one
// allocation; total counts the block's string bytes against the limit.
func (dec *blockDecoder) shared(what string, out []string, total *int) error {
	if len(out) == 0 || dec.err != nil {
		return dec.err
	}
	// First pass: the lengths, checked against the bytes present and the
	// limit before anything is allocated.
	lens := grow(dec.lens, len(out))
	dec.lens = lens
	start := dec.off
	size, prev := 0, 0
	for i := range out {
		shared := dec.uvarint(what)
		l := dec.uvarint(what)
		if dec.err != nil {
			return dec.err
		}
		if shared > uint64(prev) {
			return dec.fail("%s: string %d shares %d bytes of a previous %d", what, i, shared, prev)
		}
		if l > uint64(len(dec.b)-dec.off) {
			return dec.fail("%s: string %d: need %d bytes, have %d", what, i, l, len(dec.b)-dec.off)
		}
		dec.off += int(l)
		prev = int(shared) + int(l)
		lens[i] = prev
		size += prev
		if *total+size > MaxBlockStringBytes {
			return dec.fail("%s: strings exceed MaxBlockStringBytes (%d)", what, MaxBlockStringBytes)
		}
	}
	*total += size
	end := dec.off
	// Second pass: the bytes, into a buffer of exactly size bytes.
	buf := make([]byte, 0, size)
	dec.off = start
	prevStart := 0
	for range out {
		shared := int(dec.uvarint(what))
		l := int(dec.uvarint(what))
		s := len(buf)
		buf = append(buf, buf[prevStart:prevStart+shared]...)
		buf = append(buf, dec.b[dec.off:dec.off+l]...)
		dec.off += l
		prevStart = s
	}
	str := string(buf)
	pos := 0
	for i, l := range lens {
		out[i] = str[pos : pos+l]
		pos += l
	}
	dec.off = end
	return nil
}

// blockReader reads a block and makes its errors; after the first error its
// methods return zero values and keep that error.
type blockReader struct {
	b   []byte
	off int
	err error
}

func (r *blockReader) fail(format string, args ...any) error {
	return r.failAt(r.off, format, args...)
}

func (r *blockReader) failAt(off int, format string, args ...any) error {
	if r.err == nil {
		r.err = anomaly.New(anomaly.Incorrect, blockOp, "offset %d: %s", off, fmt.Sprintf(format, args...))
	}
	return r.err
}

func (r *blockReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("%s: bad uvarint", what)
		return 0
	}
	r.off += n
	return v
}

func (r *blockReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("%s: no byte", what)
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *blockReader) bytes(what string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("%s: need %d bytes, have %d", what, n, len(r.b)-r.off)
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

// u64Col decodes a u64col of len(out) numbers into out.
func (dec *blockDecoder) u64Col(what string, out []uint64) {
	n := len(out)
	if n == 0 || dec.err != nil {
		return
	}
	start := dec.off
	switch kind := dec.byte(what); kind {
	case colRuns:
		runs := dec.uvarint(what)
		if dec.err == nil && (runs == 0 || runs > uint64(n)) {
			dec.failAt(start, "%s: %d runs for %d values", what, runs, n)
			return
		}
		i, v := 0, uint64(0)
		for range runs {
			v += unzigzag(dec.uvarint(what))
			l := dec.uvarint(what)
			if dec.err != nil {
				return
			}
			if l == 0 || l > uint64(n-i) {
				dec.failAt(start, "%s: run of %d at value %d of %d", what, l, i, n)
				return
			}
			for j := range int(l) {
				out[i+j] = v
			}
			i += int(l)
		}
		if i != n {
			dec.failAt(start, "%s: runs cover %d of %d values", what, i, n)
		}
	case colDelta:
		v := uint64(0)
		for i := range out {
			v += unzigzag(dec.uvarint(what))
			out[i] = v
		}
	case colFrame:
		base := dec.uvarint(what)
		w := dec.byte(what)
		if dec.err == nil && w > 64 {
			dec.failAt(start, "%s: width %d", what, w)
			return
		}
		dec.unpack(what, out, base, uint(w))
	case colDict:
		d := dec.uvarint(what)
		if dec.err == nil && (d == 0 || d > uint64(n)) {
			dec.failAt(start, "%s: dictionary of %d for %d values", what, d, n)
			return
		}
		dict := grow(dec.dict, int(d))
		dec.dict = dict
		v := uint64(0)
		for i := range dict {
			v += dec.uvarint(what)
			dict[i] = v
		}
		w := dec.byte(what)
		if dec.err != nil {
			return
		}
		if want := bits.Len(uint(d - 1)); int(w) != want {
			dec.failAt(start, "%s: index width %d for a dictionary of %d", what, w, d)
			return
		}
		if dec.unpack(what, out, 0, uint(w)); dec.err != nil {
			return
		}
		for i, j := range out {
			if j >= d {
				dec.failAt(start, "%s: value %d: index %d beyond the dictionary of %d", what, i, j, d)
				return
			}
			out[i] = dict[j]
		}
	default:
		if dec.err == nil {
			dec.failAt(start, "%s: column kind %d", what, kind)
		}
	}
}

// unpack reads len(out) numbers of w bits, each plus base.
func (r *blockReader) unpack(what string, out []uint64, base uint64, w uint) {
	p := r.bytes(what, (len(out)*int(w)+7)/8)
	if r.err != nil {
		return
	}
	if w == 0 {
		for i := range out {
			out[i] = base
		}
		return
	}
	// p holds at least len(out)·w bits, so each load below brings the bits
	// the value needs (8k ≥ used).
	mask := uint64(1)<<w - 1 // all ones for w = 64
	var acc uint64
	var nbits uint
	for i := range out {
		if nbits >= w {
			out[i] = base + acc&mask
			acc >>= w // 0 when w = 64
			nbits -= w
			continue
		}
		var next uint64
		k := len(p)
		if k >= 8 {
			next, k = binary.LittleEndian.Uint64(p), 8
		} else {
			for j := k - 1; j >= 0; j-- {
				next = next<<8 | uint64(p[j])
			}
		}
		p = p[k:]
		out[i] = base + (acc|next<<nbits)&mask
		used := w - nbits
		acc = next >> used // 0 when used = 64
		nbits = uint(8*k) - used
	}
}
