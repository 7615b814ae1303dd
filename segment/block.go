package segment

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/pierrec/lz4/v4"
)

// DecodeBlock verifies block i's checksum, decompresses it and appends the
// decoded bytes to dst, which it returns. raw holds the segment's bytes from
// the offset BlockRange(i) returns, at least its n bytes (more are ignored, so
// a page-rounded O_DIRECT buffer can be passed as is). The decoded block is
// also checked against the index: its length, its restart count and its first
// key, so a well-checksummed block of another segment or position is refused.
// DecodeBlock is safe for concurrent use; it allocates only when dst lacks
// capacity for RawLength more bytes.
func DecodeBlock(ix *Index, i int, raw []byte, dst []byte) ([]byte, error) {
	if ix == nil || i < 0 || i >= len(ix.Blocks) {
		n := 0
		if ix != nil {
			n = len(ix.Blocks)
		}
		return dst, incorrectf("segment decode block", "block %d out of range [0, %d)", i, n)
	}
	h := &ix.Blocks[i]
	if h.Offset < 0 || h.Length <= ChecksumSize || h.RawLength < 0 || h.RawLength > maxRawBlockSize {
		// ParseFooter never builds such a handle; an Index made by hand can.
		return dst, incorrectf("segment decode block", "segment %s: block %d: bad handle (offset %d, length %d, raw length %d)",
			ix.ID.Short(), i, h.Offset, h.Length, h.RawLength)
	}
	skip := int(h.Offset - alignDown(h.Offset))
	if len(raw) < skip+h.Length {
		return dst, corruptf(ix.ID, i, h.Offset, "short read: %d bytes from offset %d, need %d",
			len(raw), alignDown(h.Offset), skip+h.Length)
	}
	payload := raw[skip : skip+h.Length-ChecksumSize]
	stored := binary.LittleEndian.Uint64(raw[skip+h.Length-ChecksumSize:])
	if computed := xxhash.Sum64(payload); stored != computed {
		return dst, corruptf(ix.ID, i, h.Offset, "checksum mismatch (stored %#016x, computed %#016x)", stored, computed)
	}
	start := len(dst)
	dst = slices.Grow(dst, h.RawLength)
	switch ix.Codec {
	case CodecNone:
		if len(payload) != h.RawLength {
			return dst, corruptf(ix.ID, i, h.Offset, "stored %d bytes uncompressed, raw length %d", len(payload), h.RawLength)
		}
		dst = append(dst, payload...)
	case CodecLZ4:
		n, err := lz4.UncompressBlock(payload, dst[start:start+h.RawLength])
		if err != nil || n != h.RawLength {
			return dst[:start], corruptf(ix.ID, i, h.Offset, "lz4 decoded %d bytes, want %d: %v", n, h.RawLength, err)
		}
		dst = dst[:start+n]
	case CodecZstd:
		// The three-index slice caps the output at RawLength
		// (WithDecodeAllCapLimit), so DecodeAll writes into dst's array; the
		// caller keeps dst's full capacity.
		full := dst[:start+h.RawLength]
		out, err := zstdDecoder().DecodeAll(payload, dst[:start:start+h.RawLength])
		if err != nil || len(out) != start+h.RawLength {
			return dst[:start], corruptf(ix.ID, i, h.Offset, "zstd decoded %d bytes, want %d: %v", len(out)-start, h.RawLength, err)
		}
		if h.RawLength > 0 && &out[start] != &full[start] {
			copy(full[start:], out[start:]) // not expected with the cap limit; stay correct anyway
		}
		dst = full
	default:
		return dst, corruptf(ix.ID, i, h.Offset, "codec %d unknown", uint8(ix.Codec))
	}
	var it BlockIter
	if err := it.InitBlock(ix, i, dst[start:]); err != nil {
		return dst[:start], err
	}
	if k, ok := it.restartKey(0); !ok {
		return dst[:start], it.err
	} else if !bytes.Equal(k, h.FirstKey) {
		return dst[:start], corruptf(ix.ID, i, h.Offset, "first key %s, the index says %s", fmtKey(k), fmtKey(h.FirstKey))
	}
	return dst, nil
}

// BlockIter iterates over the records of one decoded block. The zero value is
// unusable until Init or InitBlock. Key is valid until the next call that
// moves the iterator; Value aliases the decoded block. A BlockIter is not safe
// for concurrent use, but any number may read the same decoded block.
//
// A malformed record stops iteration: the moving call returns false and Err
// returns a *CorruptError.
type BlockIter struct {
	data        []byte // the records, without the restart array
	restarts    []byte // the restart array, 4 bytes each
	numRestarts int

	next        int // offset in data of the record after the current one
	nextRestart int // index of the first restart point after the current record
	key         []byte
	val         []byte
	valid       bool
	err         error

	// Error context: set by InitBlock, else block = -1.
	id     ID
	block  int
	offset int64
}

// NewBlockIter returns an iterator over decoded, or an error if its restart
// trailer is malformed (the count, the first restart point). Later restart
// points are checked when a seek or a scan uses them.
func NewBlockIter(decoded []byte) (*BlockIter, error) {
	it := new(BlockIter)
	if err := it.Init(decoded); err != nil {
		return nil, err
	}
	return it, nil
}

// Init points it at decoded, reusing its key buffer. Errors do not name a
// segment or block; use InitBlock when they are known.
func (it *BlockIter) Init(decoded []byte) error {
	return it.init(ID{}, -1, 0, decoded)
}

// InitBlock points it at decoded, the output of DecodeBlock(ix, i, …), so that
// errors name the segment and block.
func (it *BlockIter) InitBlock(ix *Index, i int, decoded []byte) error {
	var off int64
	if i >= 0 && i < len(ix.Blocks) {
		off = ix.Blocks[i].Offset
	}
	return it.init(ix.ID, i, off, decoded)
}

func (it *BlockIter) init(id ID, block int, offset int64, b []byte) error {
	*it = BlockIter{key: it.key[:0], id: id, block: block, offset: offset}
	if len(b) < 4 {
		return it.fail(len(b), "decoded block of %d bytes has no restart count", len(b))
	}
	n := binary.LittleEndian.Uint32(b[len(b)-4:])
	if n == 0 || uint64(n)*4+4 > uint64(len(b)) {
		return it.fail(len(b)-4, "%d restart points cannot fit a %d-byte block", n, len(b))
	}
	end := len(b) - 4 - int(n)*4
	it.data, it.restarts, it.numRestarts = b[:end], b[end:len(b)-4], int(n)
	if r0 := it.restartOffset(0); r0 != 0 {
		return it.fail(end, "restart 0 at offset %d, want 0", r0)
	}
	// The other restarts are checked where they are used, not here: Init
	// runs on every lookup of a block cached in memory, and a scan of the
	// restart array there would cost more than the binary search it serves.
	// A full iteration checks every one (Next), which is what Verify does.
	return nil
}

// fail records a corruption at offset p of the decoded block.
// The error names the block's segment offset when InitBlock gave it, and
// always the offset inside the decoded block.
func (it *BlockIter) fail(p int, format string, args ...any) error {
	off := it.offset
	if it.block < 0 {
		off = -1 // a block from Init: where it came from is unknown
	}
	e := corruptf(it.id, it.block, off, format, args...)
	e.Msg = "decoded block offset " + strconv.Itoa(p) + ": " + e.Msg
	it.err, it.valid = e, false
	return e
}

func (it *BlockIter) restartOffset(r int) int {
	return int(binary.LittleEndian.Uint32(it.restarts[4*r:]))
}

// decodeAt decodes the record at offset p, whose key shares a prefix with
// it.key, and makes it current.
func (it *BlockIter) decodeAt(p int, atRestart bool) bool {
	d := it.data
	if p >= len(d) {
		it.fail(p, "record offset %d is past the records' end %d", p, len(d))
		return false
	}
	var shared, unshared, vlen uint64
	q := p
	if q+3 <= len(d) && d[q]|d[q+1]|d[q+2] < 0x80 {
		shared, unshared, vlen = uint64(d[q]), uint64(d[q+1]), uint64(d[q+2])
		q += 3
	} else {
		var n int
		for _, v := range [...]*uint64{&shared, &unshared, &vlen} {
			*v, n = binary.Uvarint(d[q:])
			if n <= 0 {
				it.fail(p, "record header: bad varint")
				return false
			}
			q += n
		}
	}
	switch {
	case atRestart && shared != 0:
		it.fail(p, "record at a restart point shares %d key bytes", shared)
		return false
	case shared > uint64(len(it.key)):
		it.fail(p, "record shares %d key bytes with a %d-byte previous key", shared, len(it.key))
		return false
	case unshared > uint64(len(d)-q) || vlen > uint64(len(d)-q)-unshared:
		it.fail(p, "record of %d key and %d value bytes overruns the block (%d bytes left)", unshared, vlen, len(d)-q)
		return false
	}
	ke := q + int(unshared)
	it.key = append(it.key[:shared], d[q:ke]...)
	it.val = d[ke : ke+int(vlen) : ke+int(vlen)]
	it.next = ke + int(vlen)
	it.valid = true
	return true
}

// RecordEnd returns the offset, in the block, just past the current
// record: a number that names the record within its block.
func (it *BlockIter) RecordEnd() int { return it.next }

// restartKey returns the key of the record at restart r without moving the
// iterator. The key aliases the block.
func (it *BlockIter) restartKey(r int) ([]byte, bool) {
	d := it.data
	p := it.restartOffset(r)
	if p >= len(d) {
		it.fail(p, "restart %d at offset %d is past the records' end %d", r, p, len(d))
		return nil, false
	}
	q := p
	var shared, unshared uint64
	if q+3 <= len(d) && d[q]|d[q+1]|d[q+2] < 0x80 {
		shared, unshared = uint64(d[q]), uint64(d[q+1])
		q += 3
	} else {
		var n int
		for _, v := range [...]*uint64{&shared, &unshared, new(uint64)} {
			*v, n = binary.Uvarint(d[q:])
			if n <= 0 {
				it.fail(p, "record header: bad varint")
				return nil, false
			}
			q += n
		}
	}
	if shared != 0 {
		it.fail(p, "record at restart %d shares %d key bytes", r, shared)
		return nil, false
	}
	if unshared > uint64(len(d)-q) {
		it.fail(p, "key of %d bytes overruns the block (%d bytes left)", unshared, len(d)-q)
		return nil, false
	}
	return d[q : q+int(unshared)], true
}

// seekRestart makes the record at restart r current.
func (it *BlockIter) seekRestart(r int) bool {
	it.key = it.key[:0]
	it.nextRestart = r + 1
	return it.decodeAt(it.restartOffset(r), true)
}

// First moves to the first record.
func (it *BlockIter) First() bool {
	if it.err != nil || it.numRestarts == 0 {
		return false
	}
	return it.seekRestart(0)
}

// Next moves to the next record; it returns false at the end or on corruption.
func (it *BlockIter) Next() bool {
	if !it.valid {
		return false
	}
	if it.next >= len(it.data) {
		if it.nextRestart < it.numRestarts {
			it.fail(it.next, "restart %d at offset %d is not at a record", it.nextRestart, it.restartOffset(it.nextRestart))
			return false
		}
		it.valid = false
		return false
	}
	atRestart := it.nextRestart < it.numRestarts && it.restartOffset(it.nextRestart) == it.next
	if atRestart {
		it.nextRestart++
	} else if it.nextRestart < it.numRestarts && it.restartOffset(it.nextRestart) < it.next {
		it.fail(it.next, "restart %d at offset %d falls inside a record", it.nextRestart, it.restartOffset(it.nextRestart))
		return false
	}
	return it.decodeAt(it.next, atRestart)
}

// SeekGE moves to the first record whose key is >= key: a binary search over
// the restart points, then a scan of at most RestartInterval records.
func (it *BlockIter) SeekGE(key []byte) bool {
	if it.err != nil || it.numRestarts == 0 {
		return false
	}
	// Find the first restart whose key is > key; the answer is at or after
	// the restart before it.
	lo, hi := 0, it.numRestarts
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		k, ok := it.restartKey(mid)
		if !ok {
			return false
		}
		if bytes.Compare(k, key) > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if !it.seekRestart(max(lo-1, 0)) {
		return false
	}
	for bytes.Compare(it.key, key) < 0 {
		if !it.Next() {
			return false
		}
	}
	return true
}

// Valid reports whether the iterator is at a record.
func (it *BlockIter) Valid() bool { return it.valid }

// Key returns the current key, valid until the iterator moves.
func (it *BlockIter) Key() []byte { return it.key }

// Value returns the current value, which aliases the decoded block.
func (it *BlockIter) Value() []byte { return it.val }

// Err returns the corruption that stopped the iterator, if any.
func (it *BlockIter) Err() error { return it.err }
