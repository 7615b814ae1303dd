//go:build linux

package iouring

import (
	"context"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

func (u *uring) fixedIndex(p []byte) int {
	if u.bufs == nil {
		return -1
	}
	return u.bufs.index(p)
}

// arm prepares slot i for a read; the caller owns the slot.
func (u *uring) arm(i uint32, fe *fileEntry, file uint32, p []byte, off int64, notify chan uint32, arg int) {
	s := &u.slots[i]
	s.fe, s.file, s.buf, s.off, s.done = fe, file, p, off, 0
	s.fixed = u.fixedIndex(p)
	s.notify, s.arg, s.cancelled, s.err = notify, arg, false, nil
}

func (u *uring) readAt(ctx context.Context, fe *fileEntry, file uint32, p []byte, off int64) (int, error) {
	done := ctx.Done()
	i, err := u.acquire(ctx)
	if err != nil {
		return 0, err
	}
	s := &u.slots[i]
	u.arm(i, fe, file, p, off, s.own, 0)
	u.publishOne(i, 0)
	for {
		j, cancelled, err := u.next(done, s.own, 1)
		if err != nil {
			// The ring is broken; the slot stays taken, since the
			// kernel may still own p.
			return 0, err
		}
		if cancelled {
			u.cancel(i)
			done = nil
			continue
		}
		if j != i {
			panic(fmt.Sprintf("iouring: invariant: ReadAt on slot %d got completion of slot %d", i, j))
		}
		if u.settle(ctx, s) {
			break
		}
		u.publishOne(i, 0)
	}
	n, err := s.done, s.err
	u.release(i)
	runtime.KeepAlive(p)
	return n, err
}

// settle applies the completion in s.res. It returns true when the read is
// finished, with s.done and s.err final, and false when the rest of the read
// must be submitted again: after EINTR or EAGAIN, or a short read that is not
// at end of file.
func (u *uring) settle(ctx context.Context, s *slot) bool {
	res := s.res
	if res < 0 {
		errno := syscall.Errno(-res)
		switch {
		case s.cancelled && (errno == unix.ECANCELED || errno == unix.EINTR):
			s.err = ctx.Err()
			return true
		case errno == unix.EINTR || errno == unix.EAGAIN:
			u.r.stats.retries.Add(1)
			return false
		}
		s.err = fmt.Errorf("iouring: read %s at %d: %w", s.fe.name(), s.off+int64(s.done), errno)
		return true
	}
	s.done += int(res)
	if res == 0 || s.done == len(s.buf) ||
		(s.fe.direct && (s.off+int64(s.done))%BlockSize != 0) { // O_DIRECT stops unaligned only at EOF
		s.err = shortErr(s.done, len(s.buf))
		return true
	}
	if s.cancelled {
		s.err = ctx.Err()
		return true
	}
	u.r.stats.retries.Add(1)
	return false
}

// cancel asks the kernel to cancel the read in slot i (best effort: it needs
// a free slot for the IORING_OP_ASYNC_CANCEL). The read's completion still
// arrives and is still waited for.
func (u *uring) cancel(i uint32) {
	s := &u.slots[i]
	s.cancelled = true
	c, ok := u.tryAcquire()
	if !ok {
		return
	}
	u.slots[c].target = uint64(s.gen.Load())<<32 | uint64(i)
	u.publishOne(c, udKindCancel)
	u.r.stats.cancels.Add(1)
}

// batchState is the per-call state of a ReadBatch, pooled.
type batchState struct {
	ch  chan uint32 // capacity Entries: every slot of the batch can complete at once
	out []uint32    // slots in flight
	idx []uint32    // slots to publish next, newly started
	re  []uint32    // slots to publish next, resubmitted (already in out)
}

// readBatch keeps as many of reads in flight as there are free slots,
// publishing all it could start before one io_uring_enter, and starts the
// rest as earlier ones finish.
func (u *uring) readBatch(ctx context.Context, reads []Read) error {
	b := u.batches.Get().(*batchState)
	b.out, b.idx, b.re = b.out[:0], b.idx[:0], b.re[:0]
	done := ctx.Done()
	var stopErr error // ctx ended: start nothing more
	next := 0
	// held: this call leads the reaping and keeps the leadership from one
	// completion to the next (see lead), so that refilling the window and
	// waiting for the next completion is one io_uring_enter with no
	// goroutine hand-off in between, as in fio's own loop. It resigns before
	// anything that could block in user space, and when it returns.
	held := false
	defer func() {
		if held {
			u.resign()
		}
	}()
	for {
		for next < len(reads) && stopErr == nil {
			rd := &reads[next]
			if rd.Err != nil || len(rd.Buf) == 0 {
				next++
				continue
			}
			var i uint32
			if len(b.out) == 0 && len(b.idx) == 0 { // nothing in flight: waiting cannot deadlock
				if held {
					// Others' completions need a leader while we wait.
					u.resign()
					held = false
				}
				var err error
				if i, err = u.acquire(ctx); err != nil {
					stopErr = err
					break
				}
			} else {
				var ok bool
				if i, ok = u.tryAcquire(); !ok {
					break
				}
			}
			fe, _ := u.r.fileLocked(rd.File) // validated by Ring.ReadBatch
			u.arm(i, fe, rd.File.slot, rd.Buf, rd.Off, b.ch, next)
			b.idx = append(b.idx, i)
			next++
		}
		refill := len(b.out) > 0
		if len(b.re) > 0 {
			u.publish(b.re, 0)
			b.re = b.re[:0]
		}
		if len(b.idx) > 0 {
			u.publish(b.idx, 0)
			b.out = append(b.out, b.idx...)
			b.idx = b.idx[:0]
		}
		// The first reads go in with the enter that waits for them (in
		// next). A read that refills the window of a batch larger than
		// the ring is submitted at once, not when the completions already
		// reaped are all handled: fio's iodepth_batch_submit=1, and
		// measured here, deferring it cost a quarter of the QD32 IOPS, as
		// the device then sees bursts instead of a steady queue.
		if refill && !u.awake.Load() {
			u.flush()
		}
		if len(b.out) == 0 {
			break
		}
		// With every read started, wait for them all at once; otherwise
		// for the first, to start the next read in its slot.
		want := 1
		if next >= len(reads) || stopErr != nil {
			want = len(b.out)
		}
		var j uint32
		var cancelled bool
		var err error
		switch {
		case held:
			j, cancelled, err = u.lead(done, b.ch, want)
		default:
			j, cancelled, err, held = u.nextHold(done, b.ch, want)
		}
		if err != nil {
			for k := range reads {
				if reads[k].Err == nil && reads[k].N == 0 {
					reads[k].Err = err
				}
			}
			return err // b is not pooled: its slots may still be owned by the kernel
		}
		if cancelled {
			stopErr = ctx.Err()
			for _, i := range b.out {
				u.cancel(i)
			}
			done = nil
			continue
		}
		s := &u.slots[j]
		if !u.settle(ctx, s) {
			b.re = append(b.re, j) // resubmit the rest with the next publish
			continue
		}
		reads[s.arg].N, reads[s.arg].Err = s.done, s.err
		for k, i := range b.out {
			if i == j {
				b.out[k] = b.out[len(b.out)-1]
				b.out = b.out[:len(b.out)-1]
				break
			}
		}
		u.release(j)
	}
	if stopErr != nil {
		for k := next; k < len(reads); k++ {
			if reads[k].Err == nil && len(reads[k].Buf) > 0 {
				reads[k].Err = stopErr
			}
		}
	}
	u.batches.Put(b)
	runtime.KeepAlive(reads)
	return nil
}
