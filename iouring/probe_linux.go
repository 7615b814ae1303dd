//go:build linux

package iouring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

var probeOnce = sync.OnceValue(probe)

// Supported reports whether io_uring can be used here. A non-nil error says
// why not and matches errors.ErrUnsupported: the kernel lacks io_uring
// (ENOSYS), a seccomp filter or kernel.io_uring_disabled forbids it (EPERM),
// or an opcode or feature this package needs is missing. The probe runs once
// per process; its result is remembered, as the standard library remembers a
// missing getrandom.
func Supported() error { return probeOnce() }

// needOps are the opcodes a Ring submits.
var needOps = [...]struct {
	op   uint8
	name string
}{{opRead, "IORING_OP_READ"}, {opReadFixed, "IORING_OP_READ_FIXED"}, {opAsyncCancel, "IORING_OP_ASYNC_CANCEL"}}

func probe() error {
	m, err := setupRing(4, false)
	if err != nil {
		return unsupported(err)
	}
	defer m.close()

	var pb struct {
		h   probeHeader
		ops [256]probeOp
	}
	if _, err := register(m.fd, registerProbe, unsafe.Pointer(&pb), uint32(len(pb.ops))); err != nil {
		return unsupported(fmt.Errorf("io_uring_register(PROBE): %w", err))
	}
	for _, need := range needOps {
		if need.op >= pb.h.opsLen || pb.ops[need.op].flags&ioOpSupported == 0 {
			return unsupported(fmt.Errorf("kernel lacks %s", need.name))
		}
	}
	if m.params.features&featNoDrop == 0 {
		return unsupported(errors.New("kernel lacks IORING_FEAT_NODROP"))
	}

	// A NOP round trip: a sandbox may allow io_uring_setup and still
	// refuse io_uring_enter.
	m.sqes[0] = sqe{opcode: opNop, userData: 0x5157}
	atomic.StoreUint32(m.sqTail, 1)
	for {
		_, err := ioUringEnter(m.fd, 1, 1, enterGetEvents)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return unsupported(fmt.Errorf("io_uring_enter(NOP): %w", err))
		}
	}
	if atomic.LoadUint32(m.cqTail) == atomic.LoadUint32(m.cqHead) {
		return unsupported(errors.New("io_uring_enter(NOP): no completion"))
	}
	if c := m.cqes[atomic.LoadUint32(m.cqHead)&m.cqMask]; c.userData != 0x5157 || c.res != 0 {
		return unsupported(fmt.Errorf("io_uring_enter(NOP): completion user_data %#x res %d", c.userData, c.res))
	}
	return nil
}

// unsupported wraps err with errors.ErrUnsupported and, for the errnos that
// mean "forbidden here", the likely cause.
func unsupported(err error) error {
	var hint string
	switch {
	case errors.Is(err, unix.ENOSYS):
		hint = " (kernel built without io_uring, or a seccomp filter)"
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		hint = " (a seccomp filter or LSM"
		if b, rerr := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); rerr == nil {
			hint += ", or kernel.io_uring_disabled=" + strings.TrimSpace(string(b))
		}
		hint += ")"
	}
	return fmt.Errorf("iouring: %w: %w%s", errors.ErrUnsupported, err, hint)
}
