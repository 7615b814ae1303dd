package cachetiers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/internal/invariants"
	"github.com/stratadb/strata/iouring"
	"github.com/stratadb/strata/segment"
)

var _ Tier = (*SSD)(nil)

// Limits and defaults of SSDOptions.
const (
	// DefaultSSDRegionSize is the default region: the unit of allocation and
	// eviction. CacheLib's BlockCache uses 16 MiB regions by default; large
	// enough that evicting one is rare and amortized, small enough that a
	// cache of a few GiB still has hundreds of them for FIFO to order.
	DefaultSSDRegionSize = 16 << 20
	// MinSSDRegionSize and MaxSSDRegionSize bound RegionSize. Recovery reads
	// one whole region into memory, so the maximum is also the memory that
	// NewSSD may use while it scans.
	MinSSDRegionSize = 64 << 10
	MaxSSDRegionSize = 1 << 30
	// MinSSDRegions is the fewest regions a cache may have: one open for
	// writing and at least one sealed, so that eviction never has to take
	// the region being written.
	MinSSDRegions = 2

	// ssdWriteChunk bounds the buffer a Put writes through: a segment is
	// written in aligned pwrites of at most this many bytes.
	ssdWriteChunk = 1 << 20
	// ssdScanChunk bounds one read of the recovery scan.
	ssdScanChunk = 1 << 20
	// ssdPooledBounce is the size of the pooled bounce buffers used for
	// unaligned reads that do not fit a ring's fixed buffer; larger reads
	// allocate (they are whole-segment reads, rare and large anyway).
	ssdPooledBounce = 64 << 10
)

// SSDOptions configures an SSD tier. Dir and CapacityBytes are required.
type SSDOptions struct {
	// Dir holds the cache file. It is created if missing. One SSD at a time
	// may use it (NewSSD takes an exclusive flock on the file).
	Dir string
	// CapacityBytes is the size of the cache file. It is rounded down to a
	// whole number of regions, of which there must be at least MinSSDRegions.
	// Reopening with another capacity keeps the regions that still fit.
	CapacityBytes int64
	// RegionSize is the unit of allocation and FIFO eviction, a multiple of
	// 4096 in [MinSSDRegionSize, MaxSSDRegionSize]; 0 means
	// DefaultSSDRegionSize. The largest segment the tier holds is
	// RegionSize - 8 KiB (see SSD.MaxSegmentBytes). Reopening with another
	// RegionSize finds no valid region and starts empty.
	RegionSize int64
	// Ring reads the cache file. If nil, NewSSD opens one with RingOptions
	// and closes it in Close; a Ring passed in is shared and left open.
	Ring *iouring.Ring
	// RingOptions configure the ring NewSSD opens when Ring is nil (for
	// instance ForcePread, FixedBuffers). Ignored when Ring is set.
	RingOptions iouring.Options
	// AllowBuffered lets NewSSD fall back to ordinary buffered I/O when the
	// file system refuses O_DIRECT (tmpfs on old kernels, some FUSE and
	// overlay mounts). Off by default: without O_DIRECT the tier competes
	// with the page cache for memory and its latency is not the device's,
	// so NewSSD fails with an anomaly.Unsupported error instead.
	AllowBuffered bool

	// buffered skips O_DIRECT even where it works: tests use it to reach
	// the AllowBuffered path on file systems that accept O_DIRECT.
	buffered bool
}

func (o SSDOptions) withDefaults() SSDOptions {
	if o.RegionSize == 0 {
		o.RegionSize = DefaultSSDRegionSize
	}
	return o
}

func (o SSDOptions) validate() error {
	const op = "ssd options"
	switch {
	case o.Dir == "":
		return anomaly.New(anomaly.Incorrect, op, "Dir is empty")
	case o.RegionSize%ssdBlockSize != 0 || o.RegionSize < MinSSDRegionSize || o.RegionSize > MaxSSDRegionSize:
		return anomaly.New(anomaly.Incorrect, op, "RegionSize %d: want a multiple of %d in [%d, %d]",
			o.RegionSize, ssdBlockSize, MinSSDRegionSize, MaxSSDRegionSize)
	case o.CapacityBytes <= 0:
		return anomaly.New(anomaly.Incorrect, op, "CapacityBytes %d: want > 0", o.CapacityBytes)
	case o.CapacityBytes/o.RegionSize < MinSSDRegions:
		return anomaly.New(anomaly.Incorrect, op, "CapacityBytes %d holds %d regions of RegionSize %d: want at least %d",
			o.CapacityBytes, o.CapacityBytes/o.RegionSize, o.RegionSize, MinSSDRegions)
	case o.CapacityBytes/o.RegionSize > 1<<31:
		return anomaly.New(anomaly.Incorrect, op, "CapacityBytes %d holds %d regions of RegionSize %d: want at most %d",
			o.CapacityBytes, o.CapacityBytes/o.RegionSize, o.RegionSize, int64(1)<<31)
	}
	return nil
}

// SSD is the ssd stratum: a cache of whole segments in one preallocated file
// on local disk (NVMe on AWS), read with O_DIRECT through an iouring.Ring, in
// the style of CacheLib's BlockCache and Datomic's valcache. The on-disk
// format is documented in ssd_format.go.
//
// Why one file cut into regions rather than a file per region: one
// descriptor registered with the ring (IOSQE_FIXED_FILE, one slot however
// big the cache), one fallocate, one flock, and a read's location is a
// single file offset. Nothing is gained from separate files: regions are
// never deleted, only overwritten in place.
//
// Writes. Put appends the segment to the open region at the next 4 KiB
// boundary, with its 64-byte entry header just before it, in aligned
// O_DIRECT pwrites of at most 1 MiB. Puts are serialized (one writer); they
// are not on the latency-critical path. Entries are not fsync'd: this is a
// cache, and recovery verifies every entry, so a crash (power loss) may lose
// recent entries but never serves wrong ones. Only a region's header is
// fdatasync'd, once per region, before the region's first entry (see
// openRegionLocked). After a restart, writing starts in a fresh region: the
// unused end of the last region written before is left until it is evicted.
//
// Eviction is region-level FIFO: when no region is free, the oldest sealed
// region is reclaimed whole, and every segment in it is dropped from the
// index before any byte of it is overwritten.
//
// Readers versus reclaim. A read looks up the index, reads from the device,
// then checks that the region's sequence number (its generation) is still the
// one recorded in the index entry; reclaim changes the sequence number
// (atomically) before it writes anything into the region. If the check
// passes, the load saw the old number, so it came before the change in the
// order of atomic operations, so the read had completed before the first
// overwriting pwrite was issued: the bytes are the entry's. If the check
// fails the read reports a miss. This is a seqlock with the device read as the
// read-side critical section. It was chosen over reference counts on regions
// because the writer then never waits for readers (a read stuck behind a slow
// device cannot stall eviction and thus every Put) and a read costs one extra
// atomic load rather than two contended atomic adds on a shared counter.
//
// Restart. NewSSD on an existing Dir rebuilds the index by reading every
// region in full (sequentially, in 1 MiB reads) and verifying the region
// header, each entry header and each payload's xxhash64. Verifying payloads
// makes the startup cost one sequential read of the cache file (about 10 s
// per 16 GiB at 1.7 GB/s), but means the tier never indexes a torn entry; a
// later bit flip on the device is caught by the segment's own block
// checksums, as for any stratum. Entries of an older generation of a region
// are never resurrected (see ssd_format.go).
//
// Remove drops the index entry and marks the entry's header removed on disk
// (a 4 KiB read-modify-write, not fsync'd), so a removed copy does not come
// back after a restart; its space is reclaimed with its region. After a
// power loss right after a Remove the copy may come back, with its payload
// checksum verified: the segment's bytes, as put.
//
// All methods are safe for concurrent use.
type SSD struct {
	opts       SSDOptions
	path       string
	file       *os.File
	direct     bool // opened with O_DIRECT
	ring       *iouring.Ring
	ownRing    bool
	rfile      iouring.File
	regionSize int64
	maxSegment int64
	regions    []ssdRegion
	index      *ssdIndex
	bounce     sync.Pool // *[]byte of ssdPooledBounce bytes, aligned

	entries   atomic.Int64
	bytes     atomic.Int64
	evictions atomic.Int64
	// raced counts reads that completed but failed the generation check:
	// their region was reclaimed under them (reported as misses).
	raced atomic.Int64

	// closeMu is held for reading by every operation and for writing by
	// Close, which therefore waits for operations in flight.
	closeMu sync.RWMutex
	closed  bool

	// wsem is the writer lock: a one-slot semaphore rather than a Mutex so
	// that a Put or Remove waiting for it honours its context.
	wsem chan struct{}
	w    ssdWriter // guarded by wsem

	recovery ssdRecovery // what NewSSD found; read-only after
	// beforeRead, if set (tests only), runs in ReadAt between the index
	// lookup and the device read: where an eviction can slip in.
	beforeRead func()
}

// ssdRegion is the in-memory state of one region.
type ssdRegion struct {
	// seq is the region's current generation (0: never written since open).
	// Changed only by the writer, before it writes into the region; loaded
	// by readers after they read (see SSD).
	seq atomic.Uint64
	// ids lists the segments written in this generation, for reclaim to drop
	// from the index. Guarded by wsem.
	ids []segment.ID
	_   cpu.CacheLinePad // seq is loaded by every read: keep it off its neighbours' lines
}

// ssdWriter is the writer's state, guarded by SSD.wsem.
type ssdWriter struct {
	open    int   // region being written, -1 if none
	cursor  int64 // region offset where the open region's next entry starts
	tail    []byte
	buf     []byte // aligned, ssdWriteChunk bytes
	free    []int  // regions holding nothing, reused before any eviction
	fifo    []int  // sealed regions, oldest first
	nextSeq uint64
}

// ErrSSDClosed is returned (wrapped, category unavailable) by an SSD after Close.
var ErrSSDClosed = errors.New("ssd tier closed")

// NewSSD opens the cache in opts.Dir, creating or resizing its file, and
// rebuilds the index from what the file holds.
//
// Errors: anomaly.Incorrect for bad options; anomaly.Unsupported when the
// file system refuses O_DIRECT and AllowBuffered is off; anomaly.Conflict
// when another SSD (in this process or another) has the directory open.
func NewSSD(opts SSDOptions) (*SSD, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	nregions := opts.CapacityBytes / opts.RegionSize
	s := &SSD{
		opts:       opts,
		path:       filepath.Join(opts.Dir, ssdFileName),
		regionSize: opts.RegionSize,
		maxSegment: opts.RegionSize - 2*ssdBlockSize,
		regions:    make([]ssdRegion, nregions),
		index:      newSSDIndex(),
		wsem:       make(chan struct{}, 1),
	}
	s.bounce.New = func() any { b := iouring.AlignedBuffer(ssdPooledBounce); return &b }
	op := "ssd open " + s.path
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	if err := s.openFile(op, nregions*opts.RegionSize); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()
	s.ring, s.ownRing = opts.Ring, false
	if s.ring == nil {
		r, err := iouring.Open(opts.RingOptions)
		if err != nil {
			return nil, anomaly.Wrap(anomaly.Incorrect, op, err)
		}
		s.ring, s.ownRing = r, true
	}
	rf, err := s.ring.AddFile(s.file)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	s.rfile = rf
	s.w = ssdWriter{
		open:    -1,
		tail:    iouring.AlignedBuffer(ssdBlockSize),
		buf:     iouring.AlignedBuffer(ssdWriteChunk),
		nextSeq: 1,
	}
	if err := s.recover(context.Background()); err != nil {
		return nil, err // categorized, and names the file offset
	}
	ok = true
	return s, nil
}

// openFile opens (creating or resizing) the cache file with O_DIRECT, locks
// it, preallocates it and checks that an aligned O_DIRECT read works.
func (s *SSD) openFile(op string, size int64) error {
	direct := !s.opts.buffered
	f, err := ssdOpenFile(s.path, direct)
	if direct && errors.Is(err, unix.EINVAL) {
		if !s.opts.AllowBuffered {
			return anomaly.Wrap(anomaly.Unsupported, op,
				fmt.Errorf("the file system refuses O_DIRECT (set SSDOptions.AllowBuffered to use buffered I/O): %w", err))
		}
		direct = false
		f, err = ssdOpenFile(s.path, false)
	}
	if err != nil {
		return anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	s.file, s.direct = f, direct
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		s.release()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return anomaly.New(anomaly.Conflict, op, "the cache file is in use by another SSD tier (flock)")
		}
		return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("flock: %w", err))
	}
	fi, err := f.Stat()
	if err != nil {
		s.release()
		return anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	if fi.Size() > size {
		// Capacity shrank: drop the regions past the new end.
		if err := f.Truncate(size); err != nil {
			s.release()
			return anomaly.Wrap(anomaly.Unavailable, op, err)
		}
	}
	// fallocate (mode 0) allocates the blocks now, so that writes never find
	// the disk full and the file's extents are contiguous where possible.
	err = ssdRetryEINTR(func() error { return unix.Fallocate(fd, 0, 0, size) })
	if errors.Is(err, unix.EOPNOTSUPP) && fi.Size() < size {
		err = f.Truncate(size) // no fallocate here (some FUSE mounts): a sparse file still works
	}
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		s.release()
		return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("fallocate %d bytes: %w", size, err))
	}
	if s.direct {
		// Some file systems accept O_DIRECT at open and refuse the I/O.
		probe := iouring.AlignedBuffer(ssdBlockSize)
		if _, err := unix.Pread(fd, probe, 0); errors.Is(err, unix.EINVAL) {
			s.release()
			if !s.opts.AllowBuffered {
				return anomaly.Wrap(anomaly.Unsupported, op,
					fmt.Errorf("the file system refuses O_DIRECT reads (set SSDOptions.AllowBuffered to use buffered I/O): %w", err))
			}
			s.opts.buffered = true
			return s.openFile(op, size)
		}
	}
	return nil
}

func ssdOpenFile(path string, direct bool) (*os.File, error) {
	flags := os.O_RDWR | os.O_CREATE | unix.O_CLOEXEC
	if direct {
		flags |= unix.O_DIRECT
	}
	return os.OpenFile(path, flags, 0o644)
}

func ssdRetryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// release closes what NewSSD opened so far (closing the file drops the flock).
func (s *SSD) release() {
	if s.ring != nil && s.rfile != (iouring.File{}) {
		_ = s.ring.RemoveFile(s.rfile)
		s.rfile = iouring.File{}
	}
	if s.ring != nil && s.ownRing {
		_ = s.ring.Close()
	}
	s.ring = nil
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
}

// Name returns "ssd".
func (s *SSD) Name() string { return "ssd" }

// MaxSegmentBytes is the largest segment Put accepts: a region less its
// header block and the block holding the entry header.
func (s *SSD) MaxSegmentBytes() int64 { return s.maxSegment }

// Direct reports whether the cache file is read and written with O_DIRECT
// (false only with SSDOptions.AllowBuffered on a file system that refuses it).
func (s *SSD) Direct() bool { return s.direct }

// Stats returns the tier's counters. Bytes counts segment bytes indexed,
// Capacity the cache file's size, Backend the ring's read path.
func (s *SSD) Stats() TierStats {
	return TierStats{
		Entries:   s.entries.Load(),
		Bytes:     s.bytes.Load(),
		Capacity:  int64(len(s.regions)) * s.regionSize,
		Evictions: s.evictions.Load(),
		Backend:   string(s.backendName()),
	}
}

func (s *SSD) backendName() iouring.Backend {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.ring == nil {
		return "closed"
	}
	return s.ring.Backend()
}

// Close waits for operations in flight, then releases the file (and the
// ring, if NewSSD opened it). Close is idempotent; other methods return an
// error wrapping ErrSSDClosed after it.
func (s *SSD) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.ring.RemoveFile(s.rfile); err != nil {
		errs = append(errs, err)
	}
	if s.ownRing {
		if err := s.ring.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.file.Close(); err != nil {
		errs = append(errs, err)
	}
	s.ring, s.file, s.rfile = nil, nil, iouring.File{}
	if err := errors.Join(errs...); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "ssd close "+s.path, err)
	}
	return nil
}

func (s *SSD) closedErr(op string) error { return anomaly.Wrap(anomaly.Unavailable, op, ErrSSDClosed) }

// ReadAt implements Tier.ReadAt. The covering 4 KiB-aligned range is read
// into a ring fixed buffer, a pooled aligned buffer or, when p, off and the
// length are all aligned already, straight into p; then the region's
// generation is checked (see SSD) and the bytes copied out.
func (s *SSD) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return 0, 0, s.closedErr("ssd read " + id.Short())
	}
	loc, ok := s.index.get(id)
	if !ok {
		return 0, 0, ssdNotFound(id)
	}
	size := loc.length
	var start, n int64
	if off < 0 {
		n = min(int64(len(p)), size)
		start = size - n
	} else {
		if off > size || int64(len(p)) > size-off {
			return 0, size, ssdShort(id, off, len(p), size)
		}
		start, n = off, int64(len(p))
	}
	if n == 0 {
		return 0, size, nil
	}
	dev := loc.off + start
	lo, hi := ssdAlignDown(dev), ssdAlignUp(dev+n)
	if s.beforeRead != nil {
		s.beforeRead()
	}
	var err error
	if !s.direct || lo == dev && hi == dev+n && uintptr(unsafe.Pointer(unsafe.SliceData(p)))%ssdBlockSize == 0 {
		err = s.readFull(ctx, p[:n], dev)
	} else {
		buf, release := s.alignedBuffer(int(hi - lo))
		if err = s.readFull(ctx, buf, lo); err == nil {
			copy(p[:n], buf[dev-lo:])
		}
		release()
	}
	if err != nil {
		return 0, 0, ssdReadErr(ctx, "ssd read "+id.Short(), err)
	}
	// The generation check: see "Readers versus reclaim" on SSD.
	if s.regions[loc.region].seq.Load() != loc.seq {
		s.raced.Add(1)
		return 0, 0, ssdNotFound(id)
	}
	return int(n), size, nil
}

// readFull reads len(p) bytes at file offset off through the ring. Wrap its
// error with ssdReadErr; it is left bare so that the hit path builds no
// operation string.
func (s *SSD) readFull(ctx context.Context, p []byte, off int64) error {
	got, err := s.ring.ReadAt(ctx, s.rfile, p, off)
	if err == nil && got != len(p) {
		err = fmt.Errorf("short read: %d of %d bytes", got, len(p))
	}
	if err != nil {
		return fmt.Errorf("read %d bytes at file offset %d: %w", len(p), off, err)
	}
	return nil
}

// ssdReadErr categorizes a readFull error: interrupted if ctx is done,
// unavailable (an I/O error: the next stratum serves the read) otherwise.
func ssdReadErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	return anomaly.Wrap(anomaly.Unavailable, op, err)
}

// alignedBuffer returns an aligned buffer of n bytes (n a multiple of 4096):
// a ring fixed buffer if one is free and big enough (the read then uses
// IORING_OP_READ_FIXED), else a pooled one, else a fresh one.
func (s *SSD) alignedBuffer(n int) ([]byte, func()) {
	if buf, release, ok := s.ring.FixedBuffer(); ok {
		if len(buf) >= n {
			return buf[:n], release
		}
		release()
	}
	if n <= ssdPooledBounce {
		bp := s.bounce.Get().(*[]byte)
		return (*bp)[:n], func() { s.bounce.Put(bp) }
	}
	return iouring.AlignedBuffer(n), func() {}
}

func ssdNotFound(id segment.ID) error {
	return anomaly.Wrap(anomaly.NotFound, "ssd read "+id.Short(), ErrNotFound)
}

func ssdShort(id segment.ID, off int64, n int, size int64) error {
	return anomaly.Wrap(anomaly.Fault, "ssd read "+id.Short(), &segment.CorruptError{
		ID: id, Block: -1, Offset: off,
		Msg: fmt.Sprintf("short segment: read of %d bytes at offset %d, but the copy holds %d bytes", n, off, size),
	})
}

// Put implements Tier.Put. A segment larger than MaxSegmentBytes is refused
// with an anomaly.Unsupported error and not cached (a region could never
// hold it); Stratified counts that as a failed promotion and reads on.
func (s *SSD) Put(ctx context.Context, id segment.ID, data []byte) error {
	op := "ssd put " + id.Short()
	if err := ctx.Err(); err != nil {
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	if int64(len(data)) > s.maxSegment {
		return anomaly.New(anomaly.Unsupported, op,
			"segment of %d bytes is larger than a region holds (%d bytes with RegionSize %d)",
			len(data), s.maxSegment, s.regionSize)
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return s.closedErr(op)
	}
	if _, ok := s.index.get(id); ok {
		return nil // segments are immutable: the copy held is the copy
	}
	if err := s.lockWriter(ctx, op); err != nil {
		return err
	}
	defer s.unlockWriter()
	if _, ok := s.index.get(id); ok {
		return nil // put by a writer we waited for
	}
	return s.putLocked(op, id, data)
}

func (s *SSD) lockWriter(ctx context.Context, op string) error {
	select {
	case s.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return anomaly.Wrap(anomaly.Interrupted, op, ctx.Err())
	}
}

func (s *SSD) unlockWriter() { <-s.wsem }

// putLocked appends the entry to the open region, opening (and if need be
// evicting) a region when it does not fit. The writer lock must be held.
func (s *SSD) putLocked(op string, id segment.ID, data []byte) error {
	w := &s.w
	length := int64(len(data))
	if w.open < 0 || ssdPayloadAt(w.cursor)+length > s.regionSize {
		s.sealLocked()
		if err := s.openRegionLocked(op); err != nil {
			return err
		}
	}
	r := w.open
	seq := s.regions[r].seq.Load()
	c := w.cursor
	p := ssdPayloadAt(c)
	first := p - ssdBlockSize // the write starts with the block holding the header
	end := ssdAlignUp(p + length)

	var hdr [ssdEntryHeaderSize]byte
	putSSDEntryHeader(hdr[:], ssdEntryHeader{
		region: uint32(r), seq: seq, id: id, length: uint64(length), payloadHash: xxhash.Sum64(data),
	})
	if invariants.Enabled {
		if h, err := parseSSDEntryHeader(hdr[:]); err != nil || h.id != id || h.length != uint64(length) || h.seq != seq {
			panic(fmt.Sprintf("ssd: entry header for %s does not round-trip: %+v, %v", id.Short(), h, err))
		}
	}
	// The block holding the header may also hold the end of the previous
	// entry (c > first): its bytes come from w.tail, so rewriting the block
	// leaves them as they were. A reader of the previous entry racing this
	// write sees those bytes either way.
	shared := c > first
	base := int64(r) * s.regionSize
	for pos := first; pos < end; {
		n := min(end-pos, int64(len(w.buf)))
		buf := w.buf[:n]
		clear(buf)
		if shared {
			ssdCopySpan(buf, pos, w.tail[:c-first], first)
		}
		ssdCopySpan(buf, pos, hdr[:], p-ssdEntryHeaderSize)
		ssdCopySpan(buf, pos, data, p)
		if _, err := s.file.WriteAt(buf, base+pos); err != nil {
			// The chain in this region is broken here: write no more into it.
			s.sealLocked()
			return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("write region %d at offset %d: %w", r, pos, err))
		}
		pos += n
		if pos == end && (p+length)%ssdBlockSize != 0 {
			copy(w.tail, buf[n-ssdBlockSize:]) // the block the next entry may share
		}
	}
	w.cursor = p + length
	s.regions[r].ids = append(s.regions[r].ids, id)
	s.indexPut(id, ssdLoc{off: base + p, length: length, seq: seq, region: uint32(r)})
	return nil
}

// ssdCopySpan copies the part of src, which belongs at offset srcAt, that
// falls inside dst, which covers [dstAt, dstAt+len(dst)).
func ssdCopySpan(dst []byte, dstAt int64, src []byte, srcAt int64) {
	lo := max(dstAt, srcAt)
	hi := min(dstAt+int64(len(dst)), srcAt+int64(len(src)))
	if lo < hi {
		copy(dst[lo-dstAt:hi-dstAt], src[lo-srcAt:hi-srcAt])
	}
}

func (s *SSD) indexPut(id segment.ID, loc ssdLoc) {
	old, replaced := s.index.put(id, loc)
	if replaced {
		s.bytes.Add(-old.length)
	} else {
		s.entries.Add(1)
	}
	s.bytes.Add(loc.length)
}

// sealLocked closes the open region to writes: it joins the FIFO (or the
// free list, if nothing was written into it).
func (s *SSD) sealLocked() {
	w := &s.w
	if w.open < 0 {
		return
	}
	if len(s.regions[w.open].ids) > 0 {
		w.fifo = append(w.fifo, w.open)
	} else {
		w.free = append(w.free, w.open)
	}
	w.open = -1
}

// openRegionLocked takes a free region, or reclaims the oldest sealed one,
// gives it a new generation and writes its header.
func (s *SSD) openRegionLocked(op string) error {
	w := &s.w
	var r int
	switch {
	case len(w.free) > 0:
		r = w.free[len(w.free)-1]
		w.free = w.free[:len(w.free)-1]
	case len(w.fifo) > 0:
		r = w.fifo[0]
		w.fifo = append(w.fifo[:0], w.fifo[1:]...)
	default:
		panic(fmt.Sprintf("ssd: invariant broken: no free and no sealed region among %d (none open)", len(s.regions)))
	}
	reg := &s.regions[r]
	seq := w.nextSeq
	w.nextSeq++
	// New generation first: from here on every reader of the old one fails
	// its check. Only then drop the old entries, and only then write.
	old := reg.seq.Swap(seq)
	for _, id := range reg.ids {
		if loc, ok := s.index.deleteIn(id, uint32(r), old); ok {
			s.entries.Add(-1)
			s.bytes.Add(-loc.length)
			s.evictions.Add(1)
		}
	}
	clear(reg.ids)
	reg.ids = reg.ids[:0]

	buf := w.buf[:ssdBlockSize]
	clear(buf)
	putSSDRegionHeader(buf, ssdRegionHeader{index: uint32(r), size: uint64(s.regionSize), seq: seq})
	if _, err := s.file.WriteAt(buf, int64(r)*s.regionSize); err != nil {
		w.free = append(w.free, r)
		return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("write header of region %d: %w", r, err))
	}
	// Make the header durable before any entry of this generation is
	// written, so that every sequence number found in an entry on disk was
	// in a durable region header first: after a crash, recovery starts
	// numbering above it, and a stale entry can never match a later
	// generation. One fdatasync per region (16 MiB) is noise next to the
	// writes (DESIGN.md: 4 KiB write + fdatasync p50 ≈ 134 µs).
	if err := ssdRetryEINTR(func() error { return unix.Fdatasync(int(s.file.Fd())) }); err != nil {
		w.free = append(w.free, r)
		return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("fdatasync after the header of region %d: %w", r, err))
	}
	w.open, w.cursor = r, ssdBlockSize
	return nil
}

// Remove implements Tier.Remove: the index entry goes at once; then the entry
// is marked removed on disk so that a restart does not bring it back.
func (s *SSD) Remove(ctx context.Context, id segment.ID) error {
	op := "ssd remove " + id.Short()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return s.closedErr(op)
	}
	if _, ok := s.index.get(id); !ok {
		return nil
	}
	if err := s.lockWriter(ctx, op); err != nil {
		return err
	}
	defer s.unlockWriter()
	// Under the writer lock no reclaim runs, so loc's region still holds
	// loc's generation and the tombstone lands on the right header.
	loc, ok := s.index.delete(id)
	if !ok {
		return nil
	}
	s.entries.Add(-1)
	s.bytes.Add(-loc.length)

	// The header block may hold the end of the previous entry, which readers
	// may be reading: the rewrite leaves those bytes unchanged.
	blk := loc.off - ssdBlockSize
	buf := s.w.buf[:ssdBlockSize]
	if err := s.readFull(ctx, buf, blk); err != nil {
		return ssdReadErr(ctx, op, err)
	}
	hb := buf[ssdBlockSize-ssdEntryHeaderSize:]
	h, err := parseSSDEntryHeader(hb)
	if err != nil || h.id != id || h.seq != loc.seq || h.region != loc.region {
		// The header on disk is not the one written (corruption): leave it;
		// recovery would not index an entry with a broken header either.
		return nil
	}
	h.flags |= ssdEntryFlagRemoved
	putSSDEntryHeader(hb, h)
	if _, err := s.file.WriteAt(buf, blk); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, op, fmt.Errorf("write tombstone at file offset %d: %w", blk, err))
	}
	return nil
}
