//go:build linux

package iouring

import (
	"context"
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
// (a read, or an IORING_OP_ASYNC_CANCEL). A request takes a free slot before
// it touches the SQ, so at most Entries SQEs are ever unconsumed on the SQ
// and at most Entries CQEs are ever pending on the CQ, which has 2*Entries
// entries: neither ring can overflow, and a read that finds no free slot
// waits (backpressure, bounded by Entries). user_data carries the slot index
// and the slot's generation, bumped on every submission, so a late cancel or
// a stale completion can never be mistaken for a newer request in the slot.
//
// Completion: leader/followers (Schmidt et al., "Leader/Followers", PLoP
// 2000). At most one goroutine at a time, the leader, reaps the CQ: it calls
// io_uring_enter(to_submit, min_complete, GETEVENTS), hands each CQE to its
// slot's waiter with a non-blocking send on a channel whose capacity covers
// every request of that waiter, and goes back to the kernel. Everyone else
// parks on its channel. No goroutine exists per request.
//
//   - A reader that finds no leader leads itself, until its own read
//     completes. Alone (QD1) it submits and waits in one io_uring_enter with
//     no goroutine switch on the path, which is what lets it match fio's
//     latency (bench_test.go).
//   - When a reader's term ends with other requests still in flight, it hands
//     the leadership, without releasing it, to the ring's reaper goroutine,
//     which leads until nothing is in flight. Under sustained concurrency the
//     leadership thus stays with the reaper instead of passing from reader to
//     reader; each such pass was a goroutine wake-up during which completions
//     piled up unreaped (measured: a third fewer CQEs waiting on the CQ).
//
// Submission. A goroutine fills its SQE under sqMu and publishes the SQ tail,
// then submits it at once with io_uring_enter (flush), unless the leader is
// awake (in user space between two enters), in which case the leader submits
// it with its next enter, or at least deferSubmitMin requests are in the
// kernel, in which case the leader's enter after the next of their
// completions submits it. flush is flat combining: one goroutine at a time
// enters and submits everything published so far; others return at once, and
// the last one out re-checks the SQ. (An earlier version held every SQE back
// and yielded the leader's P to let woken readers publish first; that cost a
// quarter of the QD32 IOPS. Deferring only while the device has deep work
// queued, and never yielding, gains instead: see deferSubmitMin.) A ReadBatch
// that leads keeps the leadership from one completion to the next (nextHold),
// so refilling its window and waiting is one enter, as in fio's loop.
//
// Invariants, and why no goroutine waits forever:
//   - A request counts in inflight from before its SQE is published until its
//     CQE is reaped. A follower parks only after its CompareAndSwap of leading
//     failed. A leader that leaves reads inflight after its Store(false) of
//     leading, so it sees any such follower's request, and then takes the
//     leadership back for the reaper; the reaper leads until inflight is 0.
//   - A published SQE waits for at most one completion to be submitted: its
//     publisher either flushes; or saw the leader awake before the leader's
//     Store(false) of awake, after which the leader counts it in to_submit
//     (or flushes it when it resigns); or saw requests in the kernel
//     (inflight, less unsubmitted SQEs, all published before it looked), the
//     first of whose completions returns the leader from its enter, and the
//     leader's next enter submits every SQE published by then.
//   - Nobody sleeps in the kernel unless a request is in flight whose CQE
//     will wake it: the reader-leader's own, or, for the reaper, inflight > 0
//     re-checked after its last reap.
//   - If io_uring_enter fails for good, brokenCh is closed and every waiter
//     returns the error; its slot stays taken, as the kernel may own its buffer.
type uring struct {
	r    *Ring
	m    *ringMem
	bufs *fixedPool // nil unless registered with IORING_REGISTER_BUFFERS

	slots []slot
	free  chan uint32 // free slot indices

	sqMu  sync.Mutex
	sqPub uint32 // SQ tail we have published; under sqMu

	submitting atomic.Bool  // a goroutine is in flush's io_uring_enter
	leading    atomic.Bool  // a goroutine is the completion leader
	awake      atomic.Bool  // the leader is in user space and will submit before it sleeps
	inflight   atomic.Int64 // requests published and not yet reaped

	reaperWake chan struct{} // capacity 1: "requests in flight and no leader"
	reaperStop chan struct{} // closed by close
	reaperDone chan struct{} // closed when the reaper goroutine returned

	brokenErr atomic.Pointer[error] // io_uring_enter failed for good
	brokenCh  chan struct{}         // closed when brokenErr is set

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

	// The read, or, for a cancel request, the user_data to cancel.
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
	m, err := setupRing(r.opts.Entries, r.opts.CoopTaskrun)
	if err != nil {
		return nil, err
	}
	u := &uring{r: r, m: m, reaperWake: make(chan struct{}, 1),
		reaperStop: make(chan struct{}), reaperDone: make(chan struct{}), brokenCh: make(chan struct{})}
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
	go u.reaper()
	return u, nil
}

func (u *uring) inFlight() int64 { return u.inflight.Load() }

func (u *uring) broken() error {
	if p := u.brokenErr.Load(); p != nil {
		return *p
	}
	return nil
}

// setBroken records that io_uring_enter failed with an error that retrying
// cannot fix. Every waiting goroutine then returns it; their slots stay
// taken, since the kernel may still own their buffers.
func (u *uring) setBroken(err error) {
	err = fmt.Errorf("iouring: io_uring_enter: %w", err)
	if u.brokenErr.CompareAndSwap(nil, &err) {
		close(u.brokenCh)
	}
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

// acquire takes a free slot, waiting while all Entries are in flight. Slots
// held by cancel requests, which no goroutine waits for, are freed by the
// leader that reaps their completions (see reaper).
func (u *uring) acquire(ctx context.Context) (uint32, error) {
	if i, ok := u.tryAcquire(); ok {
		return i, nil
	}
	if err := u.broken(); err != nil {
		return 0, err
	}
	select {
	case i := <-u.free:
		return i, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-u.brokenCh:
		return 0, u.broken()
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
		for {
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
// completions arrive on ch and who has want requests in flight, leading the
// reaping when no one else does. It returns cancelled when done is closed
// first; the caller then asks the kernel to cancel and calls next again with
// a nil done.
func (u *uring) next(done <-chan struct{}, ch chan uint32, want int) (i uint32, cancelled bool, err error) {
	i, cancelled, err, held := u.nextHold(done, ch, want)
	if held {
		u.resign()
	}
	return i, cancelled, err
}

// nextHold is next for a caller that keeps the leadership it takes: when
// held is true the caller leads (awake), must call lead for its next
// completion, and must resign before it blocks anywhere else or returns.
func (u *uring) nextHold(done <-chan struct{}, ch chan uint32, want int) (i uint32, cancelled bool, err error, held bool) {
	select {
	case i := <-ch:
		return i, false, nil, false
	default:
	}
	if u.leading.CompareAndSwap(false, true) {
		i, cancelled, err = u.lead(done, ch, want)
		return i, cancelled, err, true
	}
	// Someone leads, and will reap our completion or hand the leadership
	// to the reaper.
	if !u.awake.Load() && u.inflight.Load()-int64(u.unsubmitted()) < deferSubmitMin {
		u.flush()
	}
	select {
	case i := <-ch:
		return i, false, nil, false
	case <-done:
		return 0, true, nil, false
	case <-u.brokenCh:
		return 0, false, u.broken(), false
	}
}

// deferSubmitMin: a follower whose SQE finds at least this many requests
// in the kernel (submitted, not yet reaped) leaves it to the leader's next
// io_uring_enter, which comes with the next of those completions, instead of
// entering the kernel itself. Under load this turns one submit syscall per
// read into one per several (BenchmarkRandRead4K qd=32/via=goroutines: ~6
// reads per enter, 48k to 78k IOPS measured here); with few requests in the
// kernel the wait for the next completion would be the latency of a whole
// read, so the follower submits at once. No deadlock: those requests'
// completions wake the leader, whose enter submits every SQE published so
// far (to_submit = unsubmitted), and a leader never sleeps with requests in
// flight unreaped (the invariants above).
const deferSubmitMin = 8

// lead reaps completions for everyone until one arrives on ch.
//
// A leader whose want requests are all that is in flight (a ReadBatch on an
// otherwise idle ring) waits for all of them in one io_uring_enter. A reader
// arriving meanwhile submits its own SQE and waits at most for the batch.
func (u *uring) lead(done <-chan struct{}, ch chan uint32, want int) (uint32, bool, error) {
	u.awake.Store(true)
	for {
		u.reap()
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
		minComplete := uint32(1)
		if want > 1 && u.inflight.Load() <= int64(want) {
			minComplete = uint32(want)
		}
		err := u.enter(u.unsubmitted(), minComplete, enterGetEvents)
		u.awake.Store(true)
		if err != nil && !retryable(err) {
			u.setBroken(err)
			return 0, false, u.broken()
		}
	}
}

// resign ends a reading goroutine's term as leader. It submits what others
// published while it was awake. If requests are still in flight it hands the
// leadership to the reaper goroutine without releasing it, so that no reader
// takes it back during the microseconds the reaper needs to wake: under
// sustained concurrency the leadership then stays with the reaper instead of
// passing from reader to reader, each pass a goroutine wake-up during which
// completions pile up unreaped. A lone reader at QD1 never involves it.
func (u *uring) resign() {
	u.reap() // e.g. cancel requests' completions, which no one waits for
	u.awake.Store(false)
	u.flush()
	if u.inflight.Load() > 0 && u.broken() == nil {
		u.handToReaper()
		return
	}
	u.releaseLeadership()
}

// releaseLeadership gives up the leadership. A goroutine that published after
// the caller's last look at inflight and failed its CompareAndSwap before
// the Store(false) has parked with nobody leading, so inflight is read again
// after the store, and the leadership taken back for the reaper if needed.
func (u *uring) releaseLeadership() {
	u.leading.Store(false)
	if u.inflight.Load() > 0 && u.broken() == nil && u.leading.CompareAndSwap(false, true) {
		u.handToReaper()
	}
}

func (u *uring) handToReaper() {
	u.r.stats.handoffs.Add(1)
	select {
	case u.reaperWake <- struct{}{}:
	default:
		panic("iouring: invariant: reaper woken twice; the leadership is not exclusive")
	}
}

// reaper is the ring's one goroutine: it leads whenever a reader hands it the
// leadership, until no request is in flight.
func (u *uring) reaper() {
	defer close(u.reaperDone)
	for {
		select {
		case <-u.reaperWake:
		case <-u.reaperStop:
			return
		}
		// The leadership is ours.
		u.awake.Store(true)
		for u.broken() == nil {
			u.reap()
			// Never sleep in the kernel with nothing in flight: no
			// completion would come to wake us.
			if u.inflight.Load() == 0 {
				break
			}
			u.awake.Store(false)
			err := u.enter(u.unsubmitted(), 1, enterGetEvents)
			u.awake.Store(true)
			if err != nil && !retryable(err) {
				u.setBroken(err)
			}
		}
		u.awake.Store(false)
		u.flush()
		u.releaseLeadership()
	}
}

// reap consumes every CQE on the CQ; only the leader (or Close) calls it.
func (u *uring) reap() {
	m := u.m
	head := atomic.LoadUint32(m.cqHead)
	tail := atomic.LoadUint32(m.cqTail)
	if head == tail {
		return
	}
	// A reaped request no longer needs a leader: inflight drops before the
	// waiters are handed their completions, so that a waiter that returns
	// no longer counts in Stats.InFlight.
	n := tail - head
	u.inflight.Add(-int64(n))
	u.r.stats.completed.Add(uint64(n))
	for ; head != tail; head++ {
		c := &m.cqes[head&m.cqMask]
		u.dispatch(c.userData, c.res)
	}
	atomic.StoreUint32(m.cqHead, head)
}

// dispatch hands one completion to its waiter.
func (u *uring) dispatch(ud uint64, res int32) {
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
		return
	}
	select {
	case s.notify <- i:
	default:
		panic(fmt.Sprintf("iouring: invariant: completion channel of slot %d is full", i))
	}
}

// close releases the ring. The caller holds Ring.mu exclusively, so no read
// is waiting; cancel requests may still be in flight, and are reaped first.
func (u *uring) close() error {
	close(u.reaperStop)
	<-u.reaperDone
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
