package cachetiers

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/stratadb/strata/segment"
)

// The ssd tier's on-disk format.
//
// One file, <Dir>/strata-ssd.cache, of N × RegionSize bytes, preallocated with
// fallocate and cut into N regions; region r occupies file bytes
// [r×RegionSize, (r+1)×RegionSize). All offsets below are relative to the
// start of the region. All integers are little-endian.
//
// Region (RegionSize bytes, a multiple of 4096):
//
//	[0, 4096)       region header block: the 64-byte region header, then zeros
//	[4096, ...)     entries, back to back, written in order; the rest is
//	                whatever an older generation of the region left there
//
// Region header (64 bytes at region offset 0):
//
//	 0  [8]  magic "strataRG"
//	 8  u32  format version (1)
//	12  u32  region index r (a header read at another index is not this region's)
//	16  u64  region size in bytes (a header written with another RegionSize is void)
//	24  u64  sequence number: the region's generation, unique and increasing
//	         over the whole file; it orders regions for FIFO eviction
//	32  [24] zero
//	56  u64  xxhash64 of bytes [0, 56)
//
// A region whose header does not parse, or names another index or size, is
// free. The header of a new generation is written and fdatasync'd before its
// first entry, so a sequence number found in any entry was in a durable
// region header first: recovery numbers new generations above the highest
// header it finds, hence above every entry on disk, and sequence numbers are
// never reused, even across crashes. An entry is found from a cursor c (the end of the previous entry's
// payload; 4096 for the first entry):
//
//	p = alignUp(c+64, 4096)   the payload starts on a 4096 boundary
//	[p-64, p)                 the 64-byte entry header, just before the payload
//	[c, p-64)                 zero padding (at most 4095 bytes)
//	[p, p+length)             the payload: the segment's bytes, as put
//	next c = p+length
//
// so the header sits in the slack at the end of the previous entry's last
// block whenever there is room, and an entry costs its payload plus padding
// to the next block, not a whole header block. Because a segment's blocks
// start on 4 KiB boundaries inside the segment, every block is then also on a
// 4 KiB boundary of the device, and a block read is one aligned O_DIRECT read.
//
// Entry header (64 bytes):
//
//	 0  [4]  magic "SSDE"
//	 4  u32  region index r
//	 8  u64  region sequence number (must equal the region header's)
//	16  [16] segment id
//	32  u64  payload length in bytes
//	40  u64  xxhash64 of the payload
//	48  u32  flags: bit 0 = removed (a tombstone written by Remove)
//	52  u32  zero
//	56  u64  xxhash64 of bytes [0, 56)
//
// Recovery (see recoverLocked) follows the chain from c = 4096 and stops at
// the first header that does not parse, names another region or sequence
// number, or claims a payload past the region's end. An entry left by an older
// generation of the region carries the older sequence number, so it ends the
// chain instead of being resurrected, even when it sits exactly where the
// chain leads (same-sized entries in both generations). An entry whose header
// is whole but whose payload checksum fails (a torn write) is skipped, and the
// chain continues after it: its length is covered by the header checksum.
const (
	ssdBlockSize         = 4096
	ssdRegionHeaderSize  = 64
	ssdEntryHeaderSize   = 64
	ssdFormatVersion     = 1
	ssdFileName          = "strata-ssd.cache"
	ssdEntryFlagRemoved  = 1 << 0
	ssdEntryKnownFlags   = ssdEntryFlagRemoved
	ssdRegionMagic       = "strataRG"
	ssdEntryMagic        = "SSDE"
	ssdHeaderChecksumOff = 56
)

// ssdRegionHeader is the decoded region header.
type ssdRegionHeader struct {
	index uint32
	size  uint64
	seq   uint64
}

// ssdEntryHeader is the decoded entry header.
type ssdEntryHeader struct {
	region      uint32
	seq         uint64
	id          segment.ID
	length      uint64
	payloadHash uint64
	flags       uint32
}

func ssdAlignUp(n int64) int64   { return (n + ssdBlockSize - 1) &^ (ssdBlockSize - 1) }
func ssdAlignDown(n int64) int64 { return n &^ (ssdBlockSize - 1) }

// ssdPayloadAt returns where the payload of an entry written at cursor c
// starts; its header occupies the 64 bytes before that.
func ssdPayloadAt(c int64) int64 { return ssdAlignUp(c + ssdEntryHeaderSize) }

// putSSDRegionHeader encodes h into b[:64].
func putSSDRegionHeader(b []byte, h ssdRegionHeader) {
	_ = b[ssdRegionHeaderSize-1]
	clear(b[:ssdRegionHeaderSize])
	copy(b[0:8], ssdRegionMagic)
	binary.LittleEndian.PutUint32(b[8:], ssdFormatVersion)
	binary.LittleEndian.PutUint32(b[12:], h.index)
	binary.LittleEndian.PutUint64(b[16:], h.size)
	binary.LittleEndian.PutUint64(b[24:], h.seq)
	binary.LittleEndian.PutUint64(b[56:], xxhash.Sum64(b[:ssdHeaderChecksumOff]))
}

// parseSSDRegionHeader decodes and checks the region header in b[:64].
func parseSSDRegionHeader(b []byte) (ssdRegionHeader, error) {
	if len(b) < ssdRegionHeaderSize {
		return ssdRegionHeader{}, fmt.Errorf("region header: %d bytes, want %d", len(b), ssdRegionHeaderSize)
	}
	if string(b[0:8]) != ssdRegionMagic {
		return ssdRegionHeader{}, fmt.Errorf("region header: bad magic %q", b[0:8])
	}
	if got, want := binary.LittleEndian.Uint64(b[56:]), xxhash.Sum64(b[:ssdHeaderChecksumOff]); got != want {
		return ssdRegionHeader{}, fmt.Errorf("region header: checksum mismatch (stored %#x, computed %#x)", got, want)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != ssdFormatVersion {
		return ssdRegionHeader{}, fmt.Errorf("region header: format version %d, want %d", v, ssdFormatVersion)
	}
	return ssdRegionHeader{
		index: binary.LittleEndian.Uint32(b[12:]),
		size:  binary.LittleEndian.Uint64(b[16:]),
		seq:   binary.LittleEndian.Uint64(b[24:]),
	}, nil
}

// putSSDEntryHeader encodes h into b[:64].
func putSSDEntryHeader(b []byte, h ssdEntryHeader) {
	_ = b[ssdEntryHeaderSize-1]
	clear(b[:ssdEntryHeaderSize])
	copy(b[0:4], ssdEntryMagic)
	binary.LittleEndian.PutUint32(b[4:], h.region)
	binary.LittleEndian.PutUint64(b[8:], h.seq)
	copy(b[16:32], h.id[:])
	binary.LittleEndian.PutUint64(b[32:], h.length)
	binary.LittleEndian.PutUint64(b[40:], h.payloadHash)
	binary.LittleEndian.PutUint32(b[48:], h.flags)
	binary.LittleEndian.PutUint64(b[56:], xxhash.Sum64(b[:ssdHeaderChecksumOff]))
}

// parseSSDEntryHeader decodes and checks the entry header in b[:64]. It does
// not check the region, sequence number or length against the region: the
// caller does.
func parseSSDEntryHeader(b []byte) (ssdEntryHeader, error) {
	if len(b) < ssdEntryHeaderSize {
		return ssdEntryHeader{}, fmt.Errorf("entry header: %d bytes, want %d", len(b), ssdEntryHeaderSize)
	}
	if string(b[0:4]) != ssdEntryMagic {
		return ssdEntryHeader{}, fmt.Errorf("entry header: bad magic %q", b[0:4])
	}
	if got, want := binary.LittleEndian.Uint64(b[56:]), xxhash.Sum64(b[:ssdHeaderChecksumOff]); got != want {
		return ssdEntryHeader{}, fmt.Errorf("entry header: checksum mismatch (stored %#x, computed %#x)", got, want)
	}
	h := ssdEntryHeader{
		region:      binary.LittleEndian.Uint32(b[4:]),
		seq:         binary.LittleEndian.Uint64(b[8:]),
		length:      binary.LittleEndian.Uint64(b[32:]),
		payloadHash: binary.LittleEndian.Uint64(b[40:]),
		flags:       binary.LittleEndian.Uint32(b[48:]),
	}
	copy(h.id[:], b[16:32])
	if h.flags&^ssdEntryKnownFlags != 0 {
		return ssdEntryHeader{}, fmt.Errorf("entry header: unknown flags %#x", h.flags)
	}
	return h, nil
}
