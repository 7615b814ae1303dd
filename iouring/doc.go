// Package iouring reads files through a hand-written io_uring ring, built on
// golang.org/x/sys/unix alone, with a pread fallback where the kernel or a
// sandbox forbids io_uring.
//
// A Ring owns one io_uring instance: the mmap'd submission (SQ) and completion
// (CQ) rings, a sparse table of registered files and, optionally, registered
// ("fixed") buffers, and one reaper goroutine, which Close stops. A lone
// reader submits its read and waits for it in one io_uring_enter; under
// concurrency, completions are reaped by one goroutine at a time and handed
// to the waiting goroutines, without a goroutine per request. At most
// Options.Entries reads are in flight; more wait. ring_linux.go documents the
// protocol and the measurements behind it.
//
// Open never fails just because io_uring is unavailable: when Supported
// reports an error (ENOSYS, EPERM from seccomp or kernel.io_uring_disabled, a
// missing opcode) the Ring reads with pread(2) instead, logs which backend it
// chose at Info level on every Open, and reports it in Backend, FallbackReason
// and Stats.
//
// Every method of Ring is safe for concurrent use by many goroutines.
// A buffer passed to ReadAt or ReadBatch belongs to the kernel until the call
// returns; it is never written after the call returns, even when ctx is
// cancelled, so a cancelled read still waits for its completion (block-device
// reads in flight cannot be aborted; IORING_OP_ASYNC_CANCEL is still sent for
// those queued in the kernel). AddFile, RemoveFile and Close wait for the
// reads in flight.
//
// Example:
//
//	r, err := iouring.Open(iouring.Options{})
//	if err != nil { ... }
//	defer r.Close()
//	f, _ := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
//	h, err := r.AddFile(f)
//	buf := iouring.AlignedBuffer(4096)
//	n, err := r.ReadAt(ctx, h, buf, 8192)
package iouring
