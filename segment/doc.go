// Package segment encodes and decodes strata's immutable segments: sorted runs
// of (key, value) records in checksummed, compressed, page-aligned blocks.
//
// A segment is written once by a Writer, named by a random ID, and never
// changed. Readers fetch the footer with one suffix read (FooterReadSize
// bytes), then any block with one read whose offset is a multiple of
// BlockAlign, so a block can be read with O_DIRECT without a bounce buffer
// for the start.
//
//	w, _ := segment.NewWriter(nil, id, segment.WriterOptions{Codec: segment.CodecZstd})
//	for _, r := range sorted { _ = w.Add(r.Key, r.Value) }
//	seg, _ := w.Finish()
//
//	tail := seg[max(0, len(seg)-segment.FooterReadSize):] // one suffix read
//	ix, need, err := segment.ParseFooter(id, tail, int64(len(seg)))
//	// need > 0: read the last need bytes and call ParseFooter again.
//	i := ix.Find(key)
//	off, n := ix.BlockRange(i)
//	block, err := segment.DecodeBlock(ix, i, seg[off:off+int64(n)], buf[:0])
//	var it segment.BlockIter
//	_ = it.InitBlock(ix, i, block)
//	found := it.SeekGE(key)
//
// # Concurrency
//
// An Index and a Reader are immutable and safe for concurrent use, and so are
// ParseFooter, DecodeBlock and Verify. A Writer, a BlockIter and an Iter
// belong to one goroutine.
//
// # Errors
//
// Every problem found in the bytes is a *CorruptError that names the segment
// (ID.Short()), the block (or -1) and the byte offset in the segment, and
// matches both ErrCorrupt and anomaly.Fault with errors.Is. A caller's mistake
// (bad WriterOptions, keys out of order, a block number out of range) is an
// anomaly.Incorrect error. No input makes a reader panic; every length is
// checked before it is used (the fuzz tests hold this).
//
// # Layout
//
// All integers are little-endian; "uvarint" is encoding/binary's unsigned
// varint. Offsets are from the start of the segment.
//
//	segment := header block_0 (padding block_i)* index footer
//
// Header, 40 bytes at offset 0:
//
//	[0:8]    magic "strataSG"
//	[8:10]   format version, uint16 (FormatVersion = 1)
//	[10]     codec: 0 none, 1 lz4, 2 zstd
//	[11]     flags, 0
//	[12:16]  reserved, 0
//	[16:32]  segment ID
//	[32:40]  xxhash64 of bytes [0:32]
//
// Block 0 follows the header directly, at offset 40, inside the first page.
// Every later block starts at the next multiple of BlockAlign (4096) after the
// end of the previous block; the gap is zero padding. There is no padding
// after the last block: the index follows it directly. So BlockRange(i) always
// starts on a page boundary (block 0's range is [0, 40+Length), header
// included), and the layout is fully determined by the block lengths, which
// the reader checks against the offsets the index stores.
//
// Why the header shares page 0 with block 0: a separate header page would cost
// 4 KiB per segment, 8% of Datomic's ~50 KB segments (DESIGN.md), to save 40
// bytes on the one read of block 0. Why 4 KiB alignment at all: the ssd
// stratum reads with O_DIRECT, whose offsets must be page-aligned. The price
// is half a page of padding per block on average (about 2 KiB; with 32 KiB
// blocks compressed 3x, some 15% of the stored bytes).
//
// A stored block, Length bytes:
//
//	[0:Length-8]         payload: the decoded block, compressed with the segment's codec
//	                     (none: as is; lz4: one LZ4 block, no frame; zstd: one zstd
//	                     frame without zstd's own checksum)
//	[Length-8:Length]    xxhash64 of the payload
//
// The decoded block, RawLength bytes (the index gives RawLength, so the reader
// decompresses into a buffer of exactly that size and rejects any other size):
//
//	record*              each: uvarint shared, uvarint unshared, uvarint value_length,
//	                     key[shared:] (unshared bytes), value (value_length bytes).
//	                     A key is the previous key's first `shared` bytes plus its own
//	                     suffix; records at restart points have shared = 0.
//	restart*             uint32 offset of every RestartInterval'th (16th) record,
//	                     the first is 0; SeekGE binary-searches their keys.
//	uint32               number of restarts, at least 1
//
// A block is closed once its decoded size reaches WriterOptions.BlockSize, so
// it holds at least one record.
//
// The index, at the footer's index offset, right after the last block:
//
//	per block:  uvarint first_key_length, first_key, uvarint offset,
//	            uvarint length (stored, with the checksum), uvarint raw_length,
//	            uvarint records
//	then:       uvarint last_key_length, last_key (the segment's last key)
//
// Footer, the last 72 bytes:
//
//	[0:8]    index offset, uint64
//	[8:12]   index length, uint32
//	[12:16]  block count, uint32
//	[16:24]  record count, uint64
//	[24:40]  segment ID
//	[40:48]  xxhash64 of the index bytes
//	[48]     codec
//	[49]     flags, 0
//	[50:52]  format version, uint16
//	[52:56]  reserved, 0
//	[56:64]  xxhash64 of footer bytes [0:56] (so it covers the index through its checksum)
//	[64:72]  magic "strataSG"
//
// The footer has its own checksum, apart from the index's, so that a reader
// holding only the last 72 bytes can trust the index length before it asks
// for more bytes. The segment ID is in the header and the footer, so bytes
// stored under the wrong name are refused.
//
// An empty segment (no records) is valid: header, an index of one byte (an
// empty last key), footer; 113 bytes. Find returns -1 on it and iteration
// yields nothing. The indexing job may legitimately produce one, and a
// special case in every caller would cost more than 113 bytes.
//
// Limits: a key is at most MaxKeySize (64 KiB) bytes, a value at most
// MaxValueSize (16 MiB), a block's target size is in [MinBlockSize,
// MaxBlockSize]; a reader refuses a raw length beyond what a writer can
// produce, so a corrupt index cannot make it allocate more than that.
package segment
