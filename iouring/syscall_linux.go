//go:build linux

package iouring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw wrappers of the three io_uring system calls. They return the kernel's
// result and errno as is; callers decide what to retry.

func ioUringSetup(entries uint32, p *params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func ioUringEnter(fd int, toSubmit, minComplete, flags uint32) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), 0, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

func ioUringRegister(fd int, opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(opcode), uintptr(arg), uintptr(nrArgs), 0, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// register calls io_uring_register, retrying EINTR, which registration
// returns when it is interrupted while waiting for the ring to quiesce.
func register(fd int, opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	for {
		n, err := ioUringRegister(fd, opcode, arg, nrArgs)
		if err != unix.EINTR {
			return n, err
		}
	}
}
