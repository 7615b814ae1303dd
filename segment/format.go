package segment

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Layout constants. The package documentation describes every byte.
const (
	// BlockAlign is the alignment of every block's read range (BlockRange):
	// block 0 starts right after the header inside the first page, every
	// other block starts on a multiple of BlockAlign.
	BlockAlign = 4096

	// FooterReadSize is the suffix read that usually holds the footer and the
	// block index (ParseFooter says how much more it needs when it does not).
	FooterReadSize = 4096

	// HeaderSize is the size of the segment header at offset 0.
	HeaderSize = 40

	// FooterSize is the size of the fixed footer at the end of the segment.
	FooterSize = 72

	// FormatVersion is the version this package writes and the only one it reads.
	FormatVersion = 1

	// MaxKeySize and MaxValueSize bound one record; Writer.Add rejects larger ones.
	MaxKeySize   = 64 << 10
	MaxValueSize = 16 << 20

	// ChecksumSize is the size of the xxhash64 trailer of every stored block.
	ChecksumSize = 8

	// RestartInterval is the number of records between restart points in a block.
	RestartInterval = 16

	// Bounds of WriterOptions.BlockSize.
	DefaultBlockSize = 32 << 10
	MinBlockSize     = 256
	MaxBlockSize     = 4 << 20
)

// magic opens the header and closes the footer: "strataSG".
var magic = [8]byte{'s', 't', 'r', 'a', 't', 'a', 'S', 'G'}

// maxRawBlockSize bounds a block's decoded size: a block is flushed once it
// reaches BlockSize, so it holds at most BlockSize-1 bytes plus one maximal
// record (3 varints of at most 5 bytes, key, value) plus its restart array
// (at most one 4-byte restart per 3-byte record, plus the count).
const maxRawBlockSize = MaxBlockSize + 15 + MaxKeySize + MaxValueSize + (MaxBlockSize+15+MaxKeySize+MaxValueSize)/3*4 + 8

// minRawBlockSize is the smallest decoded block: one record with an empty key
// and value (3 one-byte varints), one restart, the restart count.
const minRawBlockSize = 3 + 4 + 4

// header field offsets.
const (
	hdrMagic    = 0
	hdrVersion  = 8
	hdrCodec    = 10
	hdrFlags    = 11
	hdrReserved = 12
	hdrID       = 16
	hdrChecksum = 32
)

// footer field offsets.
const (
	ftIndexOffset   = 0
	ftIndexLength   = 8
	ftBlockCount    = 12
	ftRecordCount   = 16
	ftID            = 24
	ftIndexChecksum = 40
	ftCodec         = 48
	ftFlags         = 49
	ftVersion       = 50
	ftReserved      = 52
	ftChecksum      = 56
	ftMagic         = 64
)

func appendHeader(dst []byte, id ID, codec Codec) []byte {
	var h [HeaderSize]byte
	copy(h[hdrMagic:], magic[:])
	binary.LittleEndian.PutUint16(h[hdrVersion:], FormatVersion)
	h[hdrCodec] = byte(codec)
	copy(h[hdrID:], id[:])
	binary.LittleEndian.PutUint64(h[hdrChecksum:], xxhash.Sum64(h[:hdrChecksum]))
	return append(dst, h[:]...)
}

// parseHeader checks the header at the start of seg and returns its codec.
func parseHeader(id ID, seg []byte) (Codec, error) {
	if len(seg) < HeaderSize {
		return 0, corruptf(id, -1, 0, "segment of %d bytes is shorter than the %d-byte header", len(seg), HeaderSize)
	}
	h := seg[:HeaderSize]
	if [8]byte(h[hdrMagic:hdrMagic+8]) != magic {
		return 0, corruptf(id, -1, hdrMagic, "header magic %x, want %x", h[hdrMagic:hdrMagic+8], magic[:])
	}
	stored, computed := binary.LittleEndian.Uint64(h[hdrChecksum:]), xxhash.Sum64(h[:hdrChecksum])
	if stored != computed {
		return 0, corruptf(id, -1, hdrChecksum, "header checksum mismatch (stored %#016x, computed %#016x)", stored, computed)
	}
	if v := binary.LittleEndian.Uint16(h[hdrVersion:]); v != FormatVersion {
		return 0, corruptf(id, -1, hdrVersion, "header format version %d, want %d", v, FormatVersion)
	}
	codec := Codec(h[hdrCodec])
	if !codec.valid() {
		return 0, corruptf(id, -1, hdrCodec, "header codec %d unknown", uint8(codec))
	}
	if f, r := h[hdrFlags], binary.LittleEndian.Uint32(h[hdrReserved:]); f != 0 || r != 0 {
		return 0, corruptf(id, -1, hdrFlags, "header flags %#x and reserved %#x must be zero", f, r)
	}
	if got := ID(h[hdrID : hdrID+16]); got != id {
		return 0, corruptf(id, -1, hdrID, "header names segment %s, want %s", got, id)
	}
	return codec, nil
}

type footer struct {
	indexOffset   uint64
	indexLength   uint32
	blockCount    uint32
	recordCount   uint64
	id            ID
	indexChecksum uint64
	codec         Codec
	version       uint16
}

func appendFooter(dst []byte, f *footer) []byte {
	var b [FooterSize]byte
	binary.LittleEndian.PutUint64(b[ftIndexOffset:], f.indexOffset)
	binary.LittleEndian.PutUint32(b[ftIndexLength:], f.indexLength)
	binary.LittleEndian.PutUint32(b[ftBlockCount:], f.blockCount)
	binary.LittleEndian.PutUint64(b[ftRecordCount:], f.recordCount)
	copy(b[ftID:], f.id[:])
	binary.LittleEndian.PutUint64(b[ftIndexChecksum:], f.indexChecksum)
	b[ftCodec] = byte(f.codec)
	binary.LittleEndian.PutUint16(b[ftVersion:], f.version)
	binary.LittleEndian.PutUint64(b[ftChecksum:], xxhash.Sum64(b[:ftChecksum]))
	copy(b[ftMagic:], magic[:])
	return append(dst, b[:]...)
}

// parseFooterFields checks the fixed footer b (FooterSize bytes) that starts at
// offset off of a segment of the given size.
func parseFooterFields(id ID, b []byte, off, size int64) (footer, error) {
	var f footer
	if [8]byte(b[ftMagic:ftMagic+8]) != magic {
		return f, corruptf(id, -1, off+ftMagic, "footer magic %x, want %x", b[ftMagic:ftMagic+8], magic[:])
	}
	stored, computed := binary.LittleEndian.Uint64(b[ftChecksum:]), xxhash.Sum64(b[:ftChecksum])
	if stored != computed {
		return f, corruptf(id, -1, off+ftChecksum, "footer checksum mismatch (stored %#016x, computed %#016x)", stored, computed)
	}
	f.version = binary.LittleEndian.Uint16(b[ftVersion:])
	if f.version != FormatVersion {
		return f, corruptf(id, -1, off+ftVersion, "footer format version %d, want %d", f.version, FormatVersion)
	}
	f.codec = Codec(b[ftCodec])
	if !f.codec.valid() {
		return f, corruptf(id, -1, off+ftCodec, "footer codec %d unknown", uint8(f.codec))
	}
	if fl, r := b[ftFlags], binary.LittleEndian.Uint32(b[ftReserved:]); fl != 0 || r != 0 {
		return f, corruptf(id, -1, off+ftFlags, "footer flags %#x and reserved %#x must be zero", fl, r)
	}
	f.id = ID(b[ftID : ftID+16])
	if f.id != id {
		return f, corruptf(id, -1, off+ftID, "footer names segment %s, want %s", f.id, id)
	}
	f.indexOffset = binary.LittleEndian.Uint64(b[ftIndexOffset:])
	f.indexLength = binary.LittleEndian.Uint32(b[ftIndexLength:])
	f.blockCount = binary.LittleEndian.Uint32(b[ftBlockCount:])
	f.recordCount = binary.LittleEndian.Uint64(b[ftRecordCount:])
	f.indexChecksum = binary.LittleEndian.Uint64(b[ftIndexChecksum:])
	if f.indexOffset < HeaderSize || f.indexOffset > uint64(size) ||
		uint64(size)-f.indexOffset != uint64(f.indexLength)+FooterSize {
		return f, corruptf(id, -1, off+ftIndexOffset,
			"index at offset %d length %d plus %d-byte footer does not end the %d-byte segment",
			f.indexOffset, f.indexLength, FooterSize, size)
	}
	// An index entry is at least 5 bytes (four varints and a key length);
	// with no blocks the index is just the empty last key's length.
	if uint64(f.blockCount)*5 > uint64(f.indexLength) {
		return f, corruptf(id, -1, off+ftBlockCount, "%d blocks cannot fit a %d-byte index", f.blockCount, f.indexLength)
	}
	if (f.blockCount == 0) != (f.recordCount == 0) || f.recordCount < uint64(f.blockCount) {
		return f, corruptf(id, -1, off+ftRecordCount, "%d records in %d blocks", f.recordCount, f.blockCount)
	}
	return f, nil
}

func alignUp(n int64) int64   { return (n + BlockAlign - 1) &^ (BlockAlign - 1) }
func alignDown(n int64) int64 { return n &^ (BlockAlign - 1) }
