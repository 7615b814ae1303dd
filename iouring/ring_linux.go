//go:build linux

package iouring

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The submission and completion protocol.
//
// Slots. A uring has Options.Entries slots; a slot is one request in flight
// (a read, or an IORING_OP_ASYNC_CANCEL). A read takes a free slot before it
// touches the SQ, so at most Entries SQEs are ever unconsumed on the SQ and
// at most Entries CQEs are ever pending on the CQ, which has 2*Entries
// entries: neither ring can overflow, and a read that finds no free slot
// waits (backpressure, bounded by Entries). user_data carries the slot index
// and the slot's generation, bumped on every submission, so a late cancel or
// a stale completion can never be mistaken for a newer request in the slot.
//
// Submission. A goroutine fills its SQE under sqMu and publishes the SQ tail;
// it does not have to enter the kernel itself. Whoever enters next submits
// every published SQE: the completion leader (below) passes the count with
// its io_uring_enter, and a goroutine that does not lead calls flush, where
// one goroutine at a time submits everything published so far while others
// return at once (flat combining; the last one out re-checks the SQ). Many
// goroutines' reads therefore share one io_uring_enter, and ReadBatch
// publishes all its SQEs before a single enter.
//
// Completion: leader/followers, as in Schmidt's Leader/Followers pattern.
// Exactly one waiting goroutine at a time, the leader, reaps the CQ: it
// calls io_uring_enter(to_submit, min_complete=1, GETEVENTS), then hands each
// CQE to its slot's waiter with a non-blocking send on a channel whose
// capacity covers every request of that waiter, and goes back to the kernel
// until its own request completed. Then it resigns, and if requests remain in
// flight it leaves a token on leadTok; a parked follower takes it and becomes
// the next leader. No goroutine exists per request and there is no reaper
// goroutine: at QD1 the reading goroutine submits and waits in a single
// io_uring_enter, with no goroutine switch on the path (measured in
// bench_test.go against fio).
//
// Why the token is never lost: a request counts in inflight from before its
// SQE is published until its CQE is reaped. A follower parks only after its
// CompareAndSwap of leading failed, so its inflight increment precedes the
// leader's Store(false), after which the leader reads inflight > 0 and leaves
// a token. A follower that takes the token tries to lead before anything
// else, so a token is only dropped when some other goroutine leads.
type uring struct {
	r    *Ring
	m    *ringMem
	bufs *fixedPool // nil unless registered with IORING_REGISTER_BUFFERS

	slots []slot
	free  chan uint32 // free slot indices

	sqMu  sync.Mutex
	sqPub uint32 // SQ tail we have published; under sqMu

	submitting atomic.Bool   // a goroutine is in flush's io_uring_enter
	leading    atomic.Bool   // a goroutine is the completion leader
	awake      atomic.Bool   // the leader is in user space and will submit before it sleeps
	leadTok    chan struct{} // capacity 1: "requests in flight and no leader"
	inflight   atomic.Int64  // requests published and not yet reaped

	brokenErr atomic.Pointer[error] // io_uring_enter failed for good

	batches sync.Pool // *batchState
}

// slot is one request in flight. Its fields are written by the goroutine
// that owns the slot before it stores gen (the publication the leader reads
// first), and res is written by the leader before it sends the slot index on
// notify; those two edges order every access.
type slot struct {
	gen    atomic.Uint32
	res    int32
	notify chan uint32 // where the leader delivers this slot's completion
	own    chan uint32 // capacity 1: notify of a single ReadAt

	// The read, or the user_data to cancel when kind is kindCancel.
	fe        *fileEntry
	file      uint32
	buf       []byte // keeps the caller's buffer reachable while the kernel uses it
	off       int64
	done      int
	fixed     int // registered buffer index, or -1
	arg       int // index in a ReadBatch
	cancelled bool
	target    uint64
	err       error
}

// user_data layout: generation in the high 32 bits, then a kind bit, then the
// slot index (Entries <= 32768 needs 15 bits).
const (
	udIndexMask  = 1<<31 - 1
	udKindCancel = 1 << 31
)

// maxReadBytes bounds one SQE's length; the kernel caps a read at
// MAX_RW_COUNT (INT_MAX rounded down to a page) anyway, and a short read is
// resubmitted.
const maxReadBytes = 1 << 30

var errNoFixedFiles = errors.New("registered-file table unavailable")

func newURing(r *Ring) (*uring, error) {
	m, err := setupRing(r.opts.Entries)
	if err != nil {
		return nil, err
	}
	u := &uring{r: r, m: m, leadTok: make(chan struct{}, 1)}
	if err := u.registerFileTable(r.opts.MaxFiles); err != nil {
		m.close()
		return nil, fmt.Errorf("%w: %w", errNoFixedFiles, err)
	}
	if r.bufs != nil {
		if err := u.registerBuffers(r.bufs); err != nil {
			// Reads into these buffers still work, with IORING_OP_READ.
			slog.Warn("iouring: registering fixed buffers failed; reads into them use IORING_OP_READ",
				"buffers", r.bufs.n, "size", r.bufs.size, "err", err)
		} else {
			u.bufs = r.bufs
		}
	}
	n := int(m.params.sqEntries)
	u.slots = make([]slot, n)
	u.free = make(chan uint32, n)
	for i := range u.slots {
		u.slots[i].own = make(chan uint32, 1)
		u.free <- uint32(i)
	}
	u.batches.New = func() any { return &batchState{ch: make(chan uint32, n)} }
	return u, nil
}

func (u *uring) inFlight() int64 { return u.inflight.Load() }

func (u *uring) broken() error {
	if p := u.brokenErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (u *uring) setBroken(err error) {
	err = fmt.Errorf("iouring: io_uring_enter: %w", err)
	u.brokenErr.CompareAndSwap(nil, &err)
}

// tryAcquire takes a free slot without waiting.
func (u *uring) tryAcquire() (uint32, bool) {
	select {
	case i := <-u.free:
		return i, true
	default:
		return 0, false
	}
}

// acquire takes a free slot, waiting while all Entries are in flight.
func (u *uring) acquire(done <-chan struct{}) (uint32, bool) {
	if i, ok := u.tryAcquire(); ok {
		return i, true
	}
	select {
	case i := <-u.free:
		return i, true
	case <-done:
		return 0, false
	}
}

func (u *uring) release(i uint32) {
	s := &u.slots[i]
	s.fe, s.buf, s.err, s.notify = nil, nil, nil, nil
	u.free <- i
}

// prepLocked fills SQE e for slot i and bumps the slot's generation; sqMu held.
func (u *uring) prepLocked(e *sqe, i uint32, kind uint64) {
	s := &u.slots[i]
	gen := s.gen.Load() + 1
	ud := uint64(gen)<<32 | kind | uint64(i)
	if kind == udKindCancel {
		*e = sqe{opcode: opAsyncCancel, fd: -1, addr: s.target, userData: ud}
	} else {
		p := s.buf[s.done:]
		n := min(len(p), maxReadBytes)
		*e = sqe{
			opcode:   opRead,
			flags:    sqeFixedFile,
			fd:       int32(s.file),
			off:      uint64(s.off) + uint64(s.done),
			addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p)))),
			len:      uint32(n),
			userData: ud,
		}
		if s.fixed >= 0 {
			e.opcode, e.bufIndex = opReadFixed, uint16(s.fixed)
			u.r.stats.fixedReads.Add(1)
		}
	}
	s.gen.Store(gen) // publishes the slot's fields to the leader
}

// publish puts the SQEs of slots idx on the SQ and makes them visible to the
// kernel; it does not enter the kernel (see flush and lead).
func (u *uring) publish(idx []uint32, kind uint64) {
	u.inflight.Add(int64(len(idx)))
	u.r.stats.submitted.Add(uint64(len(idx)))
	m := u.m
	u.sqMu.Lock()
	tail := u.sqPub
	for _, i := range idx {
		u.prepLocked(&m.sqes[tail&m.sqMask], i, kind)
		tail++
	}
	u.sqPub = tail
	atomic.StoreUint32(m.sqTail, tail)
	u.sqMu.Unlock()
}

func (u *uring) publishOne(i uint32, kind uint64) {
	buf := [1]uint32{i}
	u.publish(buf[:], kind)
}

// unsubmitted is how many published SQEs the kernel has not consumed yet.
func (u *uring) unsubmitted() uint32 {
	return atomic.LoadUint32(u.m.sqTail) - atomic.LoadUint32(u.m.sqHead)
}

// enter is io_uring_enter counted in Stats.
func (u *uring) enter(toSubmit, minComplete, flags uint32) error {
	u.r.stats.enters.Add(1)
	_, err := ioUringEnter(u.m.fd, toSubmit, minComplete, flags)
	return err
}

// retryable reports whether io_uring_enter may simply be called again:
// EINTR (a signal), EAGAIN (no memory for a request right now), EBUSY (the
// CQ needs reaping first; the leader reaps before its next enter).
func retryable(err error) bool {
	return err == unix.EINTR || err == unix.EAGAIN || err == unix.EBUSY
}

// flush submits every published SQE unless another goroutine is already
// submitting, in which case that goroutine re-checks the SQ before it leaves.
func (u *uring) flush() {
	for u.unsubmitted() != 0 && u.submitting.CompareAndSwap(false, true) {
		for spins := 0; ; spins++ {
			n := u.unsubmitted()
			if n == 0 {
				break
			}
			err := u.enter(n, 0, 0)
			if err == nil {
				continue
			}
			if !retryable(err) {
				u.setBroken(err)
				break
			}
			runtime.Gosched()
		}
		u.submitting.Store(false)
		if u.broken() != nil {
			return
		}
	}
}

// next returns the index of the next slot completed for the caller, whose
// completions arrive on ch, leading the reaping when no one else does. It
// returns cancelled when done is closed first; the caller then asks the
// kernel to cancel and calls next again with a nil done.
func (u *uring) next(done <-chan struct{}, ch chan uint32) (i uint32, cancelled bool, err error) {
	haveToken := false
	for {
		if !haveToken {
			select {
			case i := <-ch:
				return i, false, nil
			default:
			}
		}
		haveToken = false
		if u.leading.CompareAndSwap(false, true) {
			i, cancelled, err = u.lead(done, ch)
			u.resign()
			return i, cancelled, err
		}
		if !u.awake.Load() {
			u.flush()
		}
		if err := u.broken(); err != nil {
			return 0, false, err
		}
		select {
		case i := <-ch:
			return i, false, nil
		case <-u.leadTok:
			haveToken = true
		case <-done:
			return 0, true, nil
		}
	}
}

// lead reaps completions for everyone until one arrives on ch.
//
// While the leader is in user space (awake), other goroutines publish SQEs
// without entering the kernel: the leader submits them with its next enter.
// After handing completions to other goroutines it yields once, so that they
// can run and publish their next reads first; a burst of completions then
// costs one io_uring_enter (and one doorbell write to the device) for all of
// the reads that follow it, instead of one each. This is what fio does at
// iodepth > 1 (reap a batch, submit a batch), and the measurements in
// bench_test.go showed the submit syscall, not the completion path, to be
// the cost that matters on virtio disks.
func (u *uring) lead(done <-chan struct{}, ch chan uint32) (uint32, bool, error) {
	u.awake.Store(true)
	for {
		if u.reap() {
			runtime.Gosched()
		}
		select {
		case i := <-ch:
			return i, false, nil
		default:
		}
		select {
		case <-done:
			return 0, true, nil
		default:
		}
		if err := u.broken(); err != nil {
			return 0, false, err
		}
		// Sleep in the kernel. Publishers that see awake == false submit
		// themselves; those that saw true published before this store, so
		// unsubmitted counts their SQEs.
		u.awake.Store(false)
		err := u.enter(u.unsubmitted(), 1, enterGetEvents)
		u.awake.Store(true)
		if err != nil && !retryable(err) {
			u.setBroken(err)
			return 0, false, u.broken()
		}
	}
}

// resign ends a goroutine's term as leader. It submits what others published
// while it was awake, and if requests are still in flight it leaves the
// token for a follower.
func (u *uring) resign() {
	u.awake.Store(false)
	u.flush()
	u.leading.Store(false)
	if u.inflight.Load() > 0 {
		select {
		case u.leadTok <- struct{}{}:
			u.r.stats.handoffs.Add(1)
		default:
		}
	}
}

// reap consumes every CQE on the CQ; only the leader (or Close) calls it. It
// reports whether it woke another goroutine.
func (u *uring) reap() (wokeOthers bool) {
	m := u.m
	head := atomic.LoadUint32(m.cqHead)
	tail := atomic.LoadUint32(m.cqTail)
	if head == tail {
		return false
	}
	n := tail - head
	for ; head != tail; head++ {
		c := &m.cqes[head&m.cqMask]
		if u.dispatch(c.userData, c.res) {
			wokeOthers = true
		}
	}
	atomic.StoreUint32(m.cqHead, head)
	// inflight drops only after the waiters were handed their completions,
	// so it never undercounts the requests that still need a leader.
	u.inflight.Add(-int64(n))
	u.r.stats.completed.Add(uint64(n))
	return wokeOthers
}

// dispatch hands one completion to its waiter; it reports whether that may
// have woken a goroutine (a send on another waiter's channel).
func (u *uring) dispatch(ud uint64, res int32) bool {
	i := uint32(ud) & udIndexMask
	if int(i) >= len(u.slots) {
		panic(fmt.Sprintf("iouring: invariant: CQE user_data %#x names slot %d of %d", ud, i, len(u.slots)))
	}
	s := &u.slots[i]
	if gen := s.gen.Load(); gen != uint32(ud>>32) {
		panic(fmt.Sprintf("iouring: invariant: CQE for slot %d generation %d, slot is at %d", i, ud>>32, gen))
	}
	s.res = res
	if ud&udKindCancel != 0 {
		u.release(i) // nobody waits for a cancel request
		return false
	}
	select {
	case s.notify <- i:
		return true
	default:
		panic(fmt.Sprintf("iouring: invariant: completion channel of slot %d is full", i))
	}
}

// close releases the ring. The caller holds Ring.mu exclusively, so no read
// is waiting; cancel requests may still be in flight, and are reaped first.
func (u *uring) close() error {
	for u.inflight.Load() > 0 && u.broken() == nil {
		u.reap()
		if u.inflight.Load() == 0 {
			break
		}
		if err := u.enter(u.unsubmitted(), 1, enterGetEvents); err != nil && !retryable(err) {
			u.setBroken(err)
		}
	}
	return u.m.close()
}
