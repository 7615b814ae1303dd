// Package cachetiers holds the strata that segment bytes pass through on a read:
// memory > ssd > efs > store, and Stratified, which reads through them in that
// order, promotes what it finds and recovers from a missing or bad copy.
//
// The tiers below memory (ssd, efs, store) hold whole, encoded segments and
// implement Tier: reads are byte ranges of a segment, writes are whole
// segments. Blocks inside a segment start on 4 KiB boundaries, so a byte-range
// read of one block is a single aligned O_DIRECT read on the ssd tier. The
// memory tier holds decoded blocks and decoded segment indexes instead, so it
// has its own small interface (see Memory).
//
// The memory tier is our own sharded, byte-weighted W-TinyLFU (WTinyLFU, after
// Einziger, Friedman and Manes, ACM ToS 2017, with the adaptive window of
// Einziger et al., Middleware 2018), not github.com/maypok86/otter/v2, which
// it was first built on: on the LIRS traces of issue 2 otter fell 1.5 to 3.5
// points below LRU on sprite and zigzag, where one point is allowed, and no
// otter option closed the gap. memory.go gives the measurements.
//
// All tiers and Stratified are safe for concurrent use.
package cachetiers

import (
	"context"
	"errors"

	"github.com/stratadb/strata/segment"
)

// ErrNotFound is returned (wrapped) by a Tier that holds no copy of the segment.
// It is a plain miss, not a failure.
var ErrNotFound = errors.New("segment not in tier")

// Tier is one stratum below memory. Implementations: *SSD, *EFS, *S3Store, *DirStore.
type Tier interface {
	// Name is the stratum's name as it appears in metrics: "ssd", "efs", "store".
	Name() string

	// ReadAt reads len(p) bytes of segment id starting at off into p.
	// A negative off reads the last len(p) bytes (a suffix read), which is how
	// a reader fetches a footer without knowing the segment's size.
	// It returns the number of bytes read and the segment's total size.
	// A tier that does not hold id returns an error wrapping ErrNotFound.
	// A short segment (off+len(p) > size) is an error wrapping segment.ErrCorrupt
	// unless off < 0 and the segment is shorter than p, in which case
	// n == size and p[:n] holds the whole segment.
	ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (n int, size int64, err error)

	// Put stores data as the whole of segment id. Segments are immutable: putting
	// an id that is already present is not an error and does not change it.
	Put(ctx context.Context, id segment.ID, data []byte) error

	// Remove drops the tier's copy of id, if any. Removing a missing id is not an error.
	// The store (storage of record) may refuse with an anomaly.Unsupported error.
	Remove(ctx context.Context, id segment.ID) error

	// Stats returns the tier's own counters (size and entries held, evictions).
	Stats() TierStats

	// Close releases the tier's resources.
	Close() error
}

// TierStats are a tier's own counters. Hits, misses, errors and latency are
// counted by Stratified, which sees every read.
type TierStats struct {
	Entries   int64  // segments held (0 when the tier cannot tell cheaply, e.g. S3)
	Bytes     int64  // bytes held
	Capacity  int64  // bytes it may hold (0: unbounded)
	Evictions int64  // segments dropped to make room
	Backend   string // how the tier reads, e.g. "io_uring" or "pread" for ssd
}
