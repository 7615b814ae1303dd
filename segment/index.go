package segment

import (
	"bytes"
	"encoding/binary"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// BlockHandle locates one block of a segment.
type BlockHandle struct {
	FirstKey  []byte // the block's first key
	Offset    int64  // where the stored block starts in the segment
	Length    int    // stored bytes: compressed payload plus the 8-byte checksum trailer
	RawLength int    // decoded bytes
	Records   int    // records in the block, at least 1
}

// Index is a segment's parsed footer and block index. It is immutable after
// ParseFooter returns it and safe for concurrent use; its keys are copies and
// do not alias the caller's buffer.
type Index struct {
	ID      ID
	Version uint16
	Codec   Codec
	Size    int64 // the whole segment, in bytes
	Records int64 // records in all blocks
	Blocks  []BlockHandle
	LastKey []byte // the segment's last key; empty for an empty segment
}

// ParseFooter parses the footer and block index from the last bytes of
// segment id. tail is the segment's final len(tail) bytes and size its total
// size; FooterReadSize bytes usually suffice. If tail is too short to hold the
// footer and the index, ParseFooter returns (nil, need, nil) and the caller
// reads the last need bytes and calls again; a complete result has need == 0.
// The footer is checksummed on its own, so a corrupt footer is reported at
// once rather than with a bogus need.
func ParseFooter(id ID, tail []byte, size int64) (ix *Index, need int, err error) {
	if size < HeaderSize+FooterSize {
		return nil, 0, corruptf(id, -1, 0, "segment size %d is below the minimum %d", size, HeaderSize+FooterSize)
	}
	if int64(len(tail)) > size {
		return nil, 0, corruptf(id, -1, 0, "tail of %d bytes is longer than the %d-byte segment", len(tail), size)
	}
	if len(tail) < FooterSize {
		return nil, FooterSize, nil
	}
	f, err := parseFooterFields(id, tail[len(tail)-FooterSize:], size-FooterSize, size)
	if err != nil {
		return nil, 0, err
	}
	need = int(f.indexLength) + FooterSize
	if len(tail) < need {
		return nil, need, nil
	}
	idx := tail[len(tail)-need : len(tail)-FooterSize]
	if stored, computed := f.indexChecksum, xxhash.Sum64(idx); stored != computed {
		return nil, 0, corruptf(id, -1, int64(f.indexOffset), "index checksum mismatch (stored %#016x, computed %#016x)", stored, computed)
	}
	ix, err = decodeIndex(id, &f, idx, size)
	return ix, 0, err
}

// decodeIndex decodes and validates the checksummed index bytes. Offsets are
// not free: each one must be exactly where the layout puts it (block 0 right
// after the header, the next at the page boundary after the previous one's
// end, the index right after the last block).
func decodeIndex(id ID, f *footer, idx []byte, size int64) (*Index, error) {
	arena := bytes.Clone(idx)
	ix := &Index{ID: id, Version: f.version, Codec: f.codec, Size: size, Records: int64(f.recordCount)}
	ix.Blocks = make([]BlockHandle, f.blockCount)
	indexOffset := int64(f.indexOffset)
	pos := 0
	bad := func(format string, args ...any) error {
		return corruptf(id, -1, indexOffset+int64(pos), "index: "+format, args...)
	}
	uvarint := func(what string, block int, limit uint64) (uint64, error) {
		v, n := binary.Uvarint(arena[pos:])
		if n <= 0 {
			return 0, bad("block %d: %s: bad varint", block, what)
		}
		if v > limit {
			return 0, bad("block %d: %s %d exceeds %d", block, what, v, limit)
		}
		pos += n
		return v, nil
	}
	key := func(what string, block int) ([]byte, error) {
		n, err := uvarint(what+" length", block, MaxKeySize)
		if err != nil {
			return nil, err
		}
		if n > uint64(len(arena)-pos) {
			return nil, bad("block %d: %s of %d bytes overruns the index (%d bytes left)", block, what, n, len(arena)-pos)
		}
		k := arena[pos : pos+int(n) : pos+int(n)]
		pos += int(n)
		return k, nil
	}
	next := int64(HeaderSize)
	var records uint64
	for i := range ix.Blocks {
		h := &ix.Blocks[i]
		k, err := key("first key", i)
		if err != nil {
			return nil, err
		}
		if i > 0 && bytes.Compare(k, ix.Blocks[i-1].FirstKey) <= 0 {
			return nil, bad("block %d: first key %s does not sort after block %d's %s", i, fmtKey(k), i-1, fmtKey(ix.Blocks[i-1].FirstKey))
		}
		off, err := uvarint("offset", i, uint64(indexOffset))
		if err != nil {
			return nil, err
		}
		length, err := uvarint("length", i, uint64(indexOffset))
		if err != nil {
			return nil, err
		}
		raw, err := uvarint("raw length", i, maxRawBlockSize)
		if err != nil {
			return nil, err
		}
		recs, err := uvarint("record count", i, raw/3)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			next = alignUp(next)
		}
		switch {
		case int64(off) != next:
			return nil, bad("block %d: offset %d, the layout puts it at %d", i, off, next)
		case length <= ChecksumSize:
			return nil, bad("block %d: length %d leaves no payload", i, length)
		case int64(off)+int64(length) > indexOffset:
			return nil, bad("block %d: offset %d length %d overruns the index at %d", i, off, length, indexOffset)
		case raw < minRawBlockSize:
			return nil, bad("block %d: raw length %d is below the minimum %d", i, raw, minRawBlockSize)
		case f.codec == CodecNone && raw != length-ChecksumSize:
			return nil, bad("block %d: raw length %d, stored %d, but the codec is none", i, raw, length-ChecksumSize)
		case recs == 0:
			return nil, bad("block %d: no records", i)
		}
		*h = BlockHandle{FirstKey: k, Offset: int64(off), Length: int(length), RawLength: int(raw), Records: int(recs)}
		next = int64(off) + int64(length)
		records += recs
	}
	if next != indexOffset {
		return nil, bad("index at offset %d, the layout puts it at %d", indexOffset, next)
	}
	last, err := key("last key", len(ix.Blocks))
	if err != nil {
		return nil, err
	}
	if n := len(ix.Blocks); n > 0 && bytes.Compare(last, ix.Blocks[n-1].FirstKey) < 0 {
		return nil, bad("last key %s sorts before the last block's first key %s", fmtKey(last), fmtKey(ix.Blocks[n-1].FirstKey))
	} else if n == 0 && len(last) > 0 {
		return nil, bad("empty segment with last key %s", fmtKey(last))
	}
	ix.LastKey = last
	if pos != len(arena) {
		return nil, bad("%d trailing bytes", len(arena)-pos)
	}
	if records != f.recordCount {
		return nil, corruptf(id, -1, size-FooterSize+ftRecordCount, "footer counts %d records, the blocks %d", f.recordCount, records)
	}
	return ix, nil
}

// Find returns the index of the block that would hold key: the last block
// whose first key is <= key. It returns -1 if key sorts before the first key
// or the segment is empty. A key after LastKey maps to the last block.
func (ix *Index) Find(key []byte) int {
	return sort.Search(len(ix.Blocks), func(i int) bool {
		return bytes.Compare(ix.Blocks[i].FirstKey, key) > 0
	}) - 1
}

// BlockRange returns the byte range [off, off+n) of the segment to read for
// block i. off is a multiple of BlockAlign: for block 0 it is 0 and the range
// includes the header; for the others it is the block's Offset. n is not
// rounded up: an O_DIRECT reader rounds it up to BlockAlign itself (the bytes
// beyond are padding, the next block or the index, and DecodeBlock ignores
// them). BlockRange returns (0, 0) for an i out of range.
func (ix *Index) BlockRange(i int) (off int64, n int) {
	if i < 0 || i >= len(ix.Blocks) {
		return 0, 0
	}
	h := &ix.Blocks[i]
	off = alignDown(h.Offset)
	return off, int(h.Offset-off) + h.Length
}
