//go:build linux

package iouring

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// registerFileTable registers a sparse table of n files (all -1), so that
// files can be added and removed one at a time with FILES_UPDATE.
func (u *uring) registerFileTable(n int) error {
	fds := make([]int32, n)
	for i := range fds {
		fds[i] = -1
	}
	if _, err := register(u.m.fd, registerFiles, unsafe.Pointer(&fds[0]), uint32(n)); err != nil {
		return fmt.Errorf("io_uring_register(FILES, %d): %w", n, err)
	}
	return nil
}

// updateFile sets table slot to fd; fd -1 empties it. A request already
// submitted against the old file holds its own reference to it.
func (u *uring) updateFile(slot uint32, fd int32) error {
	up := rsrcUpdate{offset: slot, data: uint64(uintptr(unsafe.Pointer(&fd)))}
	n, err := register(u.m.fd, registerFilesUpdate, unsafe.Pointer(&up), 1)
	if err != nil {
		return fmt.Errorf("io_uring_register(FILES_UPDATE, slot %d): %w", slot, err)
	}
	if n != 1 {
		return fmt.Errorf("io_uring_register(FILES_UPDATE, slot %d): updated %d files", slot, n)
	}
	return nil
}

// addFile and removeFile run with Ring.mu held exclusively: no read is in
// flight, so no SQE on the SQ names the slot while it changes.
func (u *uring) addFile(slot uint32, fd int) error { return u.updateFile(slot, int32(fd)) }
func (u *uring) removeFile(slot uint32) error      { return u.updateFile(slot, -1) }

// registerBuffers registers each buffer of p as one iovec, so that buffer i
// is buf_index i of IORING_OP_READ_FIXED. The kernel pins the pages; the Go
// heap does not move objects, and p.mem stays reachable from the Ring.
func (u *uring) registerBuffers(p *fixedPool) error {
	iov := make([]unix.Iovec, p.n)
	for i := range iov {
		b := p.buf(i)
		iov[i].Base = &b[0]
		iov[i].SetLen(len(b))
	}
	if _, err := register(u.m.fd, registerBuffers, unsafe.Pointer(&iov[0]), uint32(len(iov))); err != nil {
		return fmt.Errorf("io_uring_register(BUFFERS, %d x %d bytes): %w", p.n, p.size, err)
	}
	return nil
}
