package segment

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/stratadb/strata/internal/invariants"
)

// WriterOptions configure a Writer. The zero value is valid: no compression,
// 32 KiB blocks.
type WriterOptions struct {
	// Codec compresses every block of the segment.
	Codec Codec

	// BlockSize is the target decoded size of a block in bytes: a block is
	// closed as soon as it reaches BlockSize, so it exceeds it by at most one
	// record. 0 means DefaultBlockSize (32 KiB: about 2 KiB of padding per
	// block on average is then small next to the block, and one block is one
	// O_DIRECT read). Allowed: [MinBlockSize, MaxBlockSize].
	BlockSize int

	// ZstdLevel is a zstd.EncoderLevel, from zstd.SpeedFastest (1) to
	// zstd.SpeedBestCompression (4); 0 means zstd.SpeedDefault. Only valid
	// with CodecZstd.
	ZstdLevel int
}

// withDefaults is the one place that fills defaults.
func (o WriterOptions) withDefaults() WriterOptions {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.ZstdLevel == 0 && o.Codec == CodecZstd {
		o.ZstdLevel = int(zstd.SpeedDefault)
	}
	return o
}

// validate is the one place that rejects bad options (after withDefaults).
func (o WriterOptions) validate() error {
	const op = "segment writer options"
	if !o.Codec.valid() {
		return incorrectf(op, "WriterOptions.Codec %d unknown (want CodecNone, CodecLZ4 or CodecZstd)", uint8(o.Codec))
	}
	if o.BlockSize < MinBlockSize || o.BlockSize > MaxBlockSize {
		return incorrectf(op, "WriterOptions.BlockSize %d out of range [%d, %d]", o.BlockSize, MinBlockSize, MaxBlockSize)
	}
	if o.Codec != CodecZstd && o.ZstdLevel != 0 {
		return incorrectf(op, "WriterOptions.ZstdLevel %d set with codec %s (only valid with zstd)", o.ZstdLevel, o.Codec)
	}
	if o.Codec == CodecZstd && (o.ZstdLevel < int(zstd.SpeedFastest) || o.ZstdLevel > int(zstd.SpeedBestCompression)) {
		return incorrectf(op, "WriterOptions.ZstdLevel %d out of range [%d, %d]", o.ZstdLevel, zstd.SpeedFastest, zstd.SpeedBestCompression)
	}
	return nil
}

// Writer encodes one segment, appending it to a caller's buffer. Records must
// be added in strictly increasing key order. A Writer is not safe for
// concurrent use; Reset lets one Writer encode many segments without
// reallocating its buffers.
type Writer struct {
	buf   []byte // the caller's dst; the segment starts at buf[base]
	base  int
	id    ID
	opts  WriterOptions
	zenc  *zstd.Encoder
	state int // writerOpen or writerFinished

	block        []byte   // the decoded block being built
	restarts     []uint32 // offsets in block of its restart points
	blockRecords int

	prevKey []byte
	keys    []byte // first keys of the written blocks, back to back
	handles []writerHandle
	records int64
}

const (
	writerOpen = iota
	writerFinished
)

type writerHandle struct {
	keyEnd    int // the block's first key is keys[previous keyEnd:keyEnd]
	offset    int64
	length    int
	rawLength int
	records   int
}

// NewWriter returns a Writer that appends segment id to dst. Bad options give
// an anomaly.Incorrect error naming the option.
func NewWriter(dst []byte, id ID, opts WriterOptions) (*Writer, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	w := &Writer{opts: opts}
	if opts.Codec == CodecZstd {
		w.zenc = zstdEncoder(zstd.EncoderLevel(opts.ZstdLevel))
	}
	w.block = make([]byte, 0, opts.BlockSize+opts.BlockSize/8)
	w.Reset(dst, id)
	return w, nil
}

// Reset discards the segment being written and starts segment id at the end
// of dst, with the same options, reusing the Writer's buffers.
func (w *Writer) Reset(dst []byte, id ID) {
	w.buf, w.base, w.id, w.state = dst, len(dst), id, writerOpen
	w.block, w.restarts, w.blockRecords = w.block[:0], w.restarts[:0], 0
	w.prevKey, w.keys, w.handles, w.records = w.prevKey[:0], w.keys[:0], w.handles[:0], 0
	w.buf = appendHeader(w.buf, id, w.opts.Codec)
}

// Add appends a record. key must sort strictly after the previous key
// (bytes.Compare); len(key) <= MaxKeySize and len(value) <= MaxValueSize.
// A rejected record leaves the Writer unchanged. Add copies key and value.
//
// Add is the writer's hot path (one call per datom): the checks share one
// branch, the order check and the prefix length come from one scan, and a
// record whose three lengths are below 128 is written with one capacity check
// and two copies.
func (w *Writer) Add(key, value []byte) error {
	if w.state != writerOpen || len(key) > MaxKeySize || len(value) > MaxValueSize {
		return w.rejected(key, value)
	}
	common := 0
	if w.records > 0 {
		common = commonPrefix(w.prevKey, key)
		if common == len(key) || (common < len(w.prevKey) && key[common] < w.prevKey[common]) {
			return incorrectf("segment writer add", "segment %s: key %s does not sort after the previous key %s",
				w.id.Short(), fmtKey(key), fmtKey(w.prevKey))
		}
	}
	shared := common
	if w.blockRecords&(RestartInterval-1) == 0 {
		w.restart(key)
		shared = 0
	}
	unshared := len(key) - shared
	b := w.block
	if n := len(b); shared|unshared|len(value) < 0x80 {
		need := 3 + unshared + len(value)
		if cap(b)-n < need {
			b = slices.Grow(b, need)
		}
		b = b[:n+need]
		b[n], b[n+1], b[n+2] = byte(shared), byte(unshared), byte(len(value))
		copy(b[n+3:], key[shared:])
		copy(b[n+3+unshared:], value)
	} else {
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(unshared))
		b = binary.AppendUvarint(b, uint64(len(value)))
		b = append(b, key[shared:]...)
		b = append(b, value...)
	}
	w.block = b
	w.prevKey = append(w.prevKey[:common], key[common:]...)
	w.blockRecords++
	w.records++
	if len(b)+4*len(w.restarts)+4 >= w.opts.BlockSize {
		w.flushBlock()
	}
	return nil
}

// restart makes the record being added a restart point (and the block's
// first record if the block is empty).
func (w *Writer) restart(key []byte) {
	w.restarts = append(w.restarts, uint32(len(w.block)))
	if w.blockRecords == 0 {
		w.keys = append(w.keys, key...)
	}
}

// rejected explains why Add refused a record.
func (w *Writer) rejected(key, value []byte) error {
	const op = "segment writer add"
	switch {
	case w.state != writerOpen:
		return incorrectf(op, "segment %s: Add after Finish", w.id.Short())
	case len(key) > MaxKeySize:
		return incorrectf(op, "segment %s: key of %d bytes exceeds MaxKeySize %d", w.id.Short(), len(key), MaxKeySize)
	default:
		return incorrectf(op, "segment %s: value of %d bytes exceeds MaxValueSize %d", w.id.Short(), len(value), MaxValueSize)
	}
}

// zeroPage supplies the padding between blocks.
var zeroPage [BlockAlign]byte

// flushBlock finishes the block being built, compresses it onto the segment
// and records its handle.
func (w *Writer) flushBlock() {
	for _, r := range w.restarts {
		w.block = binary.LittleEndian.AppendUint32(w.block, r)
	}
	w.block = binary.LittleEndian.AppendUint32(w.block, uint32(len(w.restarts)))

	pos := int64(len(w.buf) - w.base)
	if len(w.handles) > 0 {
		// Every block after the first starts on a page boundary; the first
		// shares page 0 with the header (see the package doc).
		pad := alignUp(pos) - pos
		w.buf = append(w.buf, zeroPage[:pad]...)
		pos += pad
	}
	start := len(w.buf)
	w.buf = appendStoredBlock(w.buf, w.opts.Codec, w.zenc, w.block)
	w.handles = append(w.handles, writerHandle{
		keyEnd:    len(w.keys),
		offset:    pos,
		length:    len(w.buf) - start,
		rawLength: len(w.block),
		records:   w.blockRecords,
	})
	w.block, w.restarts, w.blockRecords = w.block[:0], w.restarts[:0], 0
}

// appendStoredBlock appends block as stored in a segment: compressed with
// codec (zenc for zstd), then its xxhash64 checksum. It is the whole codec
// path of the Writer (BenchmarkOverhead op=encode-block measures it against
// the raw codec call).
func appendStoredBlock(dst []byte, codec Codec, zenc *zstd.Encoder, block []byte) []byte {
	start := len(dst)
	switch codec {
	case CodecNone:
		dst = append(dst, block...)
	case CodecLZ4:
		bound := lz4.CompressBlockBound(len(block))
		dst = slices.Grow(dst, bound+ChecksumSize)
		c := lz4Compressors.Get().(*lz4.Compressor)
		n, err := c.CompressBlock(block, dst[start:start+bound])
		lz4Compressors.Put(c)
		if err != nil || n <= 0 {
			// lz4 documents that a dst of CompressBlockBound always suffices.
			panic(fmt.Sprintf("segment: invariant broken: lz4 CompressBlock into a bound-sized buffer: n=%d err=%v", n, err))
		}
		dst = dst[:start+n]
	case CodecZstd:
		dst = zenc.EncodeAll(block, dst)
	}
	return binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// Finish writes the last block, the index and the footer, and returns dst
// with the whole segment appended. A segment with no records is valid: it has
// no blocks and an empty index. After Finish the Writer only accepts Reset.
func (w *Writer) Finish() ([]byte, error) {
	if w.state != writerOpen {
		return nil, incorrectf("segment writer finish", "segment %s: Finish called twice", w.id.Short())
	}
	if w.blockRecords > 0 {
		w.flushBlock()
	}
	indexOffset := int64(len(w.buf) - w.base)
	start := len(w.buf)
	keyStart := 0
	for _, h := range w.handles {
		w.buf = binary.AppendUvarint(w.buf, uint64(h.keyEnd-keyStart))
		w.buf = append(w.buf, w.keys[keyStart:h.keyEnd]...)
		w.buf = binary.AppendUvarint(w.buf, uint64(h.offset))
		w.buf = binary.AppendUvarint(w.buf, uint64(h.length))
		w.buf = binary.AppendUvarint(w.buf, uint64(h.rawLength))
		w.buf = binary.AppendUvarint(w.buf, uint64(h.records))
		keyStart = h.keyEnd
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(len(w.prevKey)))
	w.buf = append(w.buf, w.prevKey...)
	indexLength := len(w.buf) - start
	if indexLength > math.MaxUint32 || len(w.handles) > math.MaxUint32 {
		return nil, incorrectf("segment writer finish", "segment %s: index of %d bytes for %d blocks exceeds the format's 4 GiB limit",
			w.id.Short(), indexLength, len(w.handles))
	}
	w.buf = appendFooter(w.buf, &footer{
		indexOffset:   uint64(indexOffset),
		indexLength:   uint32(indexLength),
		blockCount:    uint32(len(w.handles)),
		recordCount:   uint64(w.records),
		id:            w.id,
		indexChecksum: xxhash.Sum64(w.buf[start:]),
		codec:         w.opts.Codec,
		version:       FormatVersion,
	})
	w.state = writerFinished
	out := w.buf
	w.buf = nil
	if invariants.Enabled {
		// Assert validity right before the bytes leave for a disk (TigerBeetle's
		// discipline): what the writer made must read back whole.
		ix, err := Verify(w.id, out[w.base:])
		if err != nil {
			panic(fmt.Sprintf("segment: invariant: segment %s fails Verify right after Finish: %v", w.id.Short(), err))
		}
		if ix.Records != w.records {
			panic(fmt.Sprintf("segment: invariant: segment %s holds %d records, the writer added %d", w.id.Short(), ix.Records, w.records))
		}
	}
	return out, nil
}

// Records returns the number of records added since NewWriter or Reset.
func (w *Writer) Records() int64 { return w.records }

// commonPrefix returns the length of the longest common prefix of a and b,
// eight bytes at a time.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

// fmtKey quotes a key for an error message, cut to 64 bytes.
func fmtKey(k []byte) string {
	if len(k) > 64 {
		return fmt.Sprintf("%q… (%d bytes)", k[:64], len(k))
	}
	return fmt.Sprintf("%q", k)
}
