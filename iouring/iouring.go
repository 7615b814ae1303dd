package iouring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Backend names the read path in use.
type Backend string

const (
	// BackendIOUring reads through an io_uring ring.
	BackendIOUring Backend = "io_uring"
	// BackendPread reads with pread(2), one blocked thread per read.
	BackendPread Backend = "pread"
)

// Limits and defaults of Options.
const (
	DefaultEntries         = 256
	MaxEntries             = 32768 // the kernel's IORING_MAX_ENTRIES
	DefaultMaxFiles        = 256
	MaxFiles               = 1 << 16
	DefaultFixedBufferSize = 64 << 10
	// MaxFixedBufferBytes bounds FixedBuffers*FixedBufferSize. Registered
	// buffers are pinned memory; the kernel also refuses one buffer > 1 GiB.
	MaxFixedBufferBytes = 1 << 30
)

var (
	// ErrClosed is returned by every operation on a closed Ring.
	ErrClosed = errors.New("iouring: ring closed")
	// ErrUnknownFile is returned for a File that was never added to this
	// Ring, or was removed.
	ErrUnknownFile = errors.New("iouring: file not added to this ring")
)

// Options configures a Ring. The zero value is usable.
type Options struct {
	// Entries is the number of SQ entries, a power of two in [1, MaxEntries];
	// 0 means DefaultEntries. It is also the bound on reads in flight: a
	// read that finds Entries reads in flight waits (backpressure).
	Entries uint32
	// FixedBuffers is the number of buffers registered with the kernel
	// (IORING_REGISTER_BUFFERS) and handed out by FixedBuffer. Default 0.
	FixedBuffers int
	// FixedBufferSize is the size of each fixed buffer in bytes, a multiple
	// of BlockSize; 0 means DefaultFixedBufferSize when FixedBuffers > 0.
	FixedBufferSize int
	// ForcePread uses the pread fallback even where io_uring works.
	ForcePread bool
	// CoopTaskrun sets up the ring with IORING_SETUP_COOP_TASKRUN where the
	// kernel has it (5.19+): the kernel no longer interrupts a submitting
	// thread that runs in user space to post a completion, and posts it at
	// that thread's next system call instead. Under many concurrent ReadAt
	// calls this saves an inter-processor interrupt per read (measured
	// here: about a third more IOPS at 32 goroutines, BenchmarkRandRead4K),
	// but a read submitted from a thread that then runs CPU-bound Go code
	// can wait for that thread's next system call or preemption (up to
	// ~10 ms), so it is off by default: turn it on for throughput, leave it
	// off for tail latency.
	CoopTaskrun bool
	// MaxFiles is the size of the sparse registered-file table, i.e. how
	// many files may be added at once; 0 means DefaultMaxFiles.
	MaxFiles int
}

func (o Options) withDefaults() Options {
	if o.Entries == 0 {
		o.Entries = DefaultEntries
	}
	if o.FixedBuffers > 0 && o.FixedBufferSize == 0 {
		o.FixedBufferSize = DefaultFixedBufferSize
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	return o
}

func (o Options) validate() error {
	if o.Entries == 0 || o.Entries > MaxEntries || o.Entries&(o.Entries-1) != 0 {
		return fmt.Errorf("iouring: Options.Entries %d: want a power of two in [1, %d]", o.Entries, MaxEntries)
	}
	if o.FixedBuffers < 0 {
		return fmt.Errorf("iouring: Options.FixedBuffers %d is negative", o.FixedBuffers)
	}
	if o.FixedBufferSize < 0 || o.FixedBufferSize%BlockSize != 0 {
		return fmt.Errorf("iouring: Options.FixedBufferSize %d: want a multiple of %d", o.FixedBufferSize, BlockSize)
	}
	if o.FixedBuffers > 0 && int64(o.FixedBuffers)*int64(o.FixedBufferSize) > MaxFixedBufferBytes {
		return fmt.Errorf("iouring: Options.FixedBuffers*FixedBufferSize = %d bytes exceeds %d",
			int64(o.FixedBuffers)*int64(o.FixedBufferSize), MaxFixedBufferBytes)
	}
	if o.MaxFiles < 1 || o.MaxFiles > MaxFiles {
		return fmt.Errorf("iouring: Options.MaxFiles %d: want [1, %d]", o.MaxFiles, MaxFiles)
	}
	return nil
}

// File is a file known to a Ring: an index into the ring's registered-file
// table when the backend is io_uring, a raw descriptor otherwise. The zero
// File is not valid.
type File struct {
	slot uint32
	gen  uint32 // never 0 for a valid File: catches use after RemoveFile
}

// fileEntry is immutable once published in Ring.files.
type fileEntry struct {
	f      *os.File // keeps the descriptor open while registered
	fd     int
	gen    uint32
	direct bool // opened with O_DIRECT: a short, unaligned read means EOF
}

func (fe *fileEntry) name() string { return fe.f.Name() }

// Read is one read of a batch. ReadBatch fills N and Err.
type Read struct {
	File File
	Buf  []byte
	Off  int64
	N    int
	Err  error
}

// Stats are counters of a Ring since Open.
type Stats struct {
	Backend        Backend
	FallbackReason string
	Submitted      uint64 // reads handed to the kernel (SQEs, or pread calls), retries included
	Completed      uint64 // completions reaped (CQEs, or pread returns)
	Enters         uint64 // io_uring_enter calls
	FixedReads     uint64 // IORING_OP_READ_FIXED submissions
	Retries        uint64 // resubmissions after EINTR, EAGAIN or a short read
	Cancels        uint64 // IORING_OP_ASYNC_CANCEL submissions after a cancelled context
	Batches        uint64 // ReadBatch calls
	Handoffs       uint64 // times a reading goroutine handed the reaping to the ring's reaper goroutine
	Errors         uint64 // reads that returned an error other than EOF, cancellations included
	Bytes          uint64 // bytes read
	InFlight       int64  // requests (reads, cancels) published and not yet reaped, now
	Files          int    // files added, now
	FixedBuffers   int    // registered buffers
	FixedFree      int    // registered buffers not handed out, now
}

type counters struct {
	submitted, completed, enters, fixedReads, retries, cancels,
	batches, handoffs, errors, bytes atomic.Uint64
}

// engine is one read path: io_uring (uring) or pread (preader).
type engine interface {
	readAt(ctx context.Context, fe *fileEntry, slot uint32, p []byte, off int64) (int, error)
	readBatch(ctx context.Context, reads []Read) error
	addFile(slot uint32, fd int) error
	removeFile(slot uint32) error
	inFlight() int64
	close() error
}

// Ring reads files for many goroutines at once. See the package doc.
type Ring struct {
	opts    Options
	backend Backend
	reason  string
	eng     engine
	bufs    *fixedPool
	stats   counters

	// mu is held for reading by every read for its whole duration, and for
	// writing by Close, AddFile and RemoveFile, which therefore wait for
	// reads in flight: a file slot is never reused under a read, and the
	// ring is never unmapped under one.
	mu        sync.RWMutex
	closed    bool
	files     []*fileEntry // by slot; nil = free
	freeSlots []uint32
	nfiles    int
}

// fileGen numbers the files added to any Ring, so that a File from another
// Ring, or one removed from this Ring, never matches a slot's current file.
var fileGen atomic.Uint32

// Open makes a Ring. It uses io_uring when Supported() reports nil and
// opts.ForcePread is false, and pread otherwise; it fails only for invalid
// options or when even the fallback cannot be set up.
func Open(opts Options) (*Ring, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r := &Ring{opts: opts, files: make([]*fileEntry, opts.MaxFiles)}
	for i := opts.MaxFiles - 1; i >= 0; i-- {
		r.freeSlots = append(r.freeSlots, uint32(i))
	}
	if opts.FixedBuffers > 0 {
		r.bufs = newFixedPool(opts.FixedBuffers, opts.FixedBufferSize)
	}
	switch err := Supported(); {
	case opts.ForcePread:
		r.reason = "Options.ForcePread is set"
	case err != nil:
		r.reason = err.Error()
	default:
		u, err := newURing(r)
		if err != nil {
			r.reason = err.Error()
			break
		}
		r.eng, r.backend = u, BackendIOUring
	}
	if r.eng == nil {
		r.eng, r.backend = newPreader(r), BackendPread
	}
	if r.reason == "" {
		slog.Info("iouring: ring open", "backend", r.backend, "entries", opts.Entries,
			"fixed_buffers", opts.FixedBuffers, "max_files", opts.MaxFiles)
	} else {
		slog.Info("iouring: ring open", "backend", r.backend, "reason", r.reason)
	}
	return r, nil
}

// Backend reports the read path in use.
func (r *Ring) Backend() Backend { return r.backend }

// FallbackReason says why the pread fallback is in use; "" when io_uring is.
func (r *Ring) FallbackReason() string { return r.reason }

// AddFile makes f known to the ring: with io_uring its descriptor is put into
// the registered-file table (IORING_REGISTER_FILES_UPDATE), so reads use
// IOSQE_FIXED_FILE. The caller keeps f open until RemoveFile (or Close).
func (r *Ring) AddFile(f *os.File) (File, error) {
	if f == nil {
		return File{}, errors.New("iouring: AddFile: nil file")
	}
	fd := int(f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return File{}, fmt.Errorf("iouring: AddFile %s: fcntl: %w", f.Name(), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return File{}, ErrClosed
	}
	if len(r.freeSlots) == 0 {
		return File{}, fmt.Errorf("iouring: AddFile %s: all %d file slots in use (Options.MaxFiles)", f.Name(), r.opts.MaxFiles)
	}
	slot := r.freeSlots[len(r.freeSlots)-1]
	if err := r.eng.addFile(slot, fd); err != nil {
		return File{}, fmt.Errorf("iouring: AddFile %s: %w", f.Name(), err)
	}
	r.freeSlots = r.freeSlots[:len(r.freeSlots)-1]
	gen := fileGen.Add(1)
	for gen == 0 {
		gen = fileGen.Add(1)
	}
	r.files[slot] = &fileEntry{f: f, fd: fd, gen: gen, direct: fl&oDirect != 0}
	r.nfiles++
	return File{slot: slot, gen: gen}, nil
}

// RemoveFile forgets a file added with AddFile. It waits for reads in flight.
// Reads of h after RemoveFile return ErrUnknownFile.
func (r *Ring) RemoveFile(h File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if _, err := r.fileLocked(h); err != nil {
		return err
	}
	if err := r.eng.removeFile(h.slot); err != nil {
		return fmt.Errorf("iouring: RemoveFile %s: %w", r.files[h.slot].name(), err)
	}
	r.files[h.slot] = nil
	r.freeSlots = append(r.freeSlots, h.slot)
	r.nfiles--
	return nil
}

// fileLocked resolves h; r.mu must be held (for reading or writing).
func (r *Ring) fileLocked(h File) (*fileEntry, error) {
	if h.gen == 0 || int(h.slot) >= len(r.files) {
		return nil, ErrUnknownFile
	}
	fe := r.files[h.slot]
	if fe == nil || fe.gen != h.gen {
		return nil, ErrUnknownFile
	}
	return fe, nil
}

// ReadAt reads len(p) bytes at off into p, blocking the calling goroutine
// until the read completes. A read that ends at end of file returns
// (0, io.EOF) when it read nothing and (n, io.ErrUnexpectedEOF) when it read
// part of p. EINTR and EAGAIN are retried. With an O_DIRECT file, p's
// address, len(p) and off must be multiples of BlockSize.
//
// Cancellation of ctx is observed while waiting for a free ring entry and
// before submitting; a read already submitted is asked to cancel
// (IORING_OP_ASYNC_CANCEL) and waited for, because until its completion
// arrives the kernel may still write into p. When the read completed anyway,
// its result is returned.
func (r *Ring) ReadAt(ctx context.Context, h File, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("iouring: ReadAt: negative offset %d", off)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0, ErrClosed
	}
	fe, err := r.fileLocked(h)
	if err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.eng.readAt(ctx, fe, h.slot, p, off)
	r.account(n, err)
	return n, err
}

func (r *Ring) account(n int, err error) {
	r.stats.bytes.Add(uint64(n))
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		r.stats.errors.Add(1)
	}
}

// ReadBatch performs all reads and waits for all of them. With io_uring it
// publishes as many reads as the ring has free entries and submits them with
// the one io_uring_enter that then waits for them; reads beyond that refill
// the window as earlier ones complete, each submitted at once. With pread it
// runs up to Options.Entries reads at a time. Each Read's N and Err are set
// as ReadAt would return them; ReadBatch returns the first error among them
// (io.EOF included), or the error that stopped the batch as a whole.
// Cancellation of ctx is observed as in ReadAt: reads not yet started fail
// with ctx.Err(), reads in flight are asked to cancel and waited for.
func (r *Ring) ReadBatch(ctx context.Context, reads []Read) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	r.stats.batches.Add(1)
	if len(reads) == 0 {
		return nil
	}
	for i := range reads {
		reads[i].N, reads[i].Err = 0, nil
		if reads[i].Off < 0 {
			reads[i].Err = fmt.Errorf("iouring: ReadBatch: negative offset %d", reads[i].Off)
		} else if _, err := r.fileLocked(reads[i].File); err != nil {
			reads[i].Err = err
		}
	}
	if err := ctx.Err(); err != nil {
		for i := range reads {
			if reads[i].Err == nil {
				reads[i].Err = err
			}
		}
		return err
	}
	err := r.eng.readBatch(ctx, reads)
	var first error
	for i := range reads {
		r.account(reads[i].N, reads[i].Err)
		if first == nil && reads[i].Err != nil {
			first = reads[i].Err
		}
	}
	if err != nil {
		return err
	}
	return first
}

// FixedBuffer hands out one of the Options.FixedBuffers buffers, each
// Options.FixedBufferSize bytes and BlockSize-aligned. A read into (part of)
// it uses IORING_OP_READ_FIXED, which skips the per-read page pinning of
// IORING_OP_READ. release returns the buffer; call it once, after the last
// read into it returned. ok is false when none is free or none was configured.
func (r *Ring) FixedBuffer() (buf []byte, release func(), ok bool) {
	if r.bufs == nil {
		return nil, nil, false
	}
	return r.bufs.get()
}

// Stats returns the ring's counters.
func (r *Ring) Stats() Stats {
	s := Stats{
		Backend:        r.backend,
		FallbackReason: r.reason,
		Submitted:      r.stats.submitted.Load(),
		Completed:      r.stats.completed.Load(),
		Enters:         r.stats.enters.Load(),
		FixedReads:     r.stats.fixedReads.Load(),
		Retries:        r.stats.retries.Load(),
		Cancels:        r.stats.cancels.Load(),
		Batches:        r.stats.batches.Load(),
		Handoffs:       r.stats.handoffs.Load(),
		Errors:         r.stats.errors.Load(),
		Bytes:          r.stats.bytes.Load(),
		InFlight:       r.eng.inFlight(),
	}
	r.mu.RLock()
	s.Files = r.nfiles
	r.mu.RUnlock()
	if r.bufs != nil {
		s.FixedBuffers = r.bufs.n
		s.FixedFree = len(r.bufs.free)
	}
	return s
}

// Close stops accepting reads, waits for reads in flight to complete, and
// releases the ring. Reads after Close return ErrClosed. Close is idempotent.
// Fixed buffers stay valid Go memory, but are no longer registered.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	for i := range r.files {
		r.files[i] = nil
	}
	r.nfiles = 0
	return r.eng.close()
}
