package segment

import (
	"bytes"
)

// Verify checks a whole segment: header, footer, index, every block's
// checksum and decoding, the order of every key, the record counts, and that
// every padding byte is zero. It returns the index when all hold.
func Verify(id ID, seg []byte) (*Index, error) {
	codec, err := parseHeader(id, seg)
	if err != nil {
		return nil, err
	}
	ix, _, err := ParseFooter(id, seg, int64(len(seg)))
	if err != nil {
		return nil, err
	}
	if codec != ix.Codec {
		return nil, corruptf(id, -1, hdrCodec, "header codec %s, footer codec %s", codec, ix.Codec)
	}
	var (
		buf  []byte
		it   BlockIter
		prev []byte
	)
	end := int64(HeaderSize)
	for i := range ix.Blocks {
		h := &ix.Blocks[i]
		for p := end; p < h.Offset; p++ {
			if seg[p] != 0 {
				return nil, corruptf(id, i, p, "padding byte before the block is %#02x, want 0", seg[p])
			}
		}
		end = h.Offset + int64(h.Length)
		off, n := ix.BlockRange(i)
		if buf, err = DecodeBlock(ix, i, seg[off:off+int64(n)], buf[:0]); err != nil {
			return nil, err
		}
		if err := it.InitBlock(ix, i, buf); err != nil {
			return nil, err
		}
		records := 0
		for ok := it.First(); ok; ok = it.Next() {
			if prev != nil && bytes.Compare(it.Key(), prev) <= 0 {
				return nil, corruptf(id, i, h.Offset, "record %d: key %s does not sort after %s", records, fmtKey(it.Key()), fmtKey(prev))
			}
			prev = append(prev[:0], it.Key()...)
			records++
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
		if records != h.Records {
			return nil, corruptf(id, i, h.Offset, "block holds %d records, the index says %d", records, h.Records)
		}
	}
	if len(ix.Blocks) > 0 && !bytes.Equal(prev, ix.LastKey) {
		return nil, corruptf(id, len(ix.Blocks)-1, ix.Blocks[len(ix.Blocks)-1].Offset,
			"last key %s, the index says %s", fmtKey(prev), fmtKey(ix.LastKey))
	}
	return ix, nil
}

// Reader reads a whole segment held in memory. Open checks the header, the
// footer and the index; each block's checksum is verified every time the
// block is decoded. A Reader is safe for concurrent use; an Iter is not.
type Reader struct {
	seg []byte
	ix  *Index
}

// Open returns a Reader for segment id, held entirely in seg, which the
// Reader keeps and which must not change.
func Open(id ID, seg []byte) (*Reader, error) {
	codec, err := parseHeader(id, seg)
	if err != nil {
		return nil, err
	}
	ix, _, err := ParseFooter(id, seg, int64(len(seg)))
	if err != nil {
		return nil, err
	}
	if codec != ix.Codec {
		return nil, corruptf(id, -1, hdrCodec, "header codec %s, footer codec %s", codec, ix.Codec)
	}
	return &Reader{seg: seg, ix: ix}, nil
}

// Index returns the segment's index.
func (r *Reader) Index() *Index { return r.ix }

// ReadBlock decodes block i, appending it to dst.
func (r *Reader) ReadBlock(i int, dst []byte) ([]byte, error) {
	off, n := r.ix.BlockRange(i)
	return DecodeBlock(r.ix, i, r.seg[off:off+int64(n)], dst)
}

// Get returns the value stored under key. The value aliases a block decoded
// for this call (one allocation of the block's size); code on a hot path
// decodes blocks into its own buffers with DecodeBlock and BlockIter.
func (r *Reader) Get(key []byte) (value []byte, ok bool, err error) {
	i := r.ix.Find(key)
	if i < 0 || bytes.Compare(key, r.ix.LastKey) > 0 {
		return nil, false, nil
	}
	buf, err := r.ReadBlock(i, nil)
	if err != nil {
		return nil, false, err
	}
	var it BlockIter
	if err := it.InitBlock(r.ix, i, buf); err != nil {
		return nil, false, err
	}
	if !it.SeekGE(key) {
		return nil, false, it.Err()
	}
	if !bytes.Equal(it.Key(), key) {
		return nil, false, nil
	}
	return it.Value(), true, nil
}

// Iter returns an iterator over the whole segment, positioned before the
// first record.
func (r *Reader) Iter() *Iter { return &Iter{r: r, block: -1} }

// Iter iterates over all records of a segment in key order, decoding one
// block at a time into a buffer it reuses. Key and Value are valid until the
// iterator moves. Not safe for concurrent use.
type Iter struct {
	r     *Reader
	block int // the block loaded in bi, or -1
	buf   []byte
	bi    BlockIter
	err   error
}

func (it *Iter) load(i int) bool {
	if it.err != nil {
		return false
	}
	if i >= len(it.r.ix.Blocks) {
		it.block = -1
		it.bi = BlockIter{key: it.bi.key[:0]}
		return false
	}
	var err error
	if it.buf, err = it.r.ReadBlock(i, it.buf[:0]); err == nil {
		err = it.bi.InitBlock(it.r.ix, i, it.buf)
	}
	if err != nil {
		it.err, it.block = err, -1
		return false
	}
	it.block = i
	return true
}

// First moves to the first record of the segment.
func (it *Iter) First() bool {
	return it.load(0) && it.settle(it.bi.First())
}

// SeekGE moves to the first record whose key is >= key.
func (it *Iter) SeekGE(key []byte) bool {
	i := max(it.r.ix.Find(key), 0)
	if !it.load(i) {
		return false
	}
	return it.settle(it.bi.SeekGE(key))
}

// Next moves to the next record.
func (it *Iter) Next() bool {
	if it.block < 0 {
		return false
	}
	return it.settle(it.bi.Next())
}

// settle moves on to the following blocks while the current one is exhausted.
func (it *Iter) settle(ok bool) bool {
	for !ok {
		if err := it.bi.Err(); err != nil {
			it.err, it.block = err, -1
			return false
		}
		if !it.load(it.block + 1) {
			return false
		}
		ok = it.bi.First()
	}
	return true
}

// Key returns the current key.
func (it *Iter) Key() []byte { return it.bi.Key() }

// Value returns the current value.
func (it *Iter) Value() []byte { return it.bi.Value() }

// Err returns the error that stopped the iteration, if any.
func (it *Iter) Err() error { return it.err }

// Valid reports whether the iterator is at a record.
func (it *Iter) Valid() bool { return it.block >= 0 && it.bi.Valid() }
