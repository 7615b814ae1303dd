//go:build linux

package iouring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel ABI of io_uring, from include/uapi/linux/io_uring.h. Only what this
// package uses is declared.

// io_uring_setup(2) flags, io_uring_params.flags.
const (
	setupCQSize = 1 << 3 // IORING_SETUP_CQSIZE: cq_entries is set by us
	setupClamp  = 1 << 4 // IORING_SETUP_CLAMP
	// IORING_SETUP_COOP_TASKRUN (5.19): completions are not signalled to
	// a submitting thread running in user space; they wait for its next
	// entry to the kernel.
	setupCoopTaskrun = 1 << 8
)

// io_uring_params.features.
const (
	featSingleMmap = 1 << 0 // IORING_FEAT_SINGLE_MMAP: SQ and CQ rings share one mapping
	featNoDrop     = 1 << 1 // IORING_FEAT_NODROP: CQEs are never dropped on overflow
)

// mmap(2) offsets of the three regions on the ring fd.
const (
	offSQRing = 0          // IORING_OFF_SQ_RING
	offCQRing = 0x8000000  // IORING_OFF_CQ_RING
	offSQEs   = 0x10000000 // IORING_OFF_SQES
)

// io_uring_enter(2) flags.
const (
	enterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS
)

// Opcodes (enum io_uring_op).
const (
	opNop         = 0  // IORING_OP_NOP
	opReadFixed   = 4  // IORING_OP_READ_FIXED
	opAsyncCancel = 14 // IORING_OP_ASYNC_CANCEL
	opRead        = 22 // IORING_OP_READ
)

// io_uring_sqe.flags.
const (
	sqeFixedFile = 1 << 0 // IOSQE_FIXED_FILE: fd is an index into the registered files
)

// io_uring_register(2) opcodes.
const (
	registerBuffers     = 0 // IORING_REGISTER_BUFFERS
	unregisterBuffers   = 1 // IORING_UNREGISTER_BUFFERS
	registerFiles       = 2 // IORING_REGISTER_FILES
	unregisterFiles     = 3 // IORING_UNREGISTER_FILES
	registerFilesUpdate = 6 // IORING_REGISTER_FILES_UPDATE
	registerProbe       = 8 // IORING_REGISTER_PROBE
)

// ioOpSupported is IO_URING_OP_SUPPORTED in io_uring_probe_op.flags.
const ioOpSupported = 1 << 0

// sqringOffsets is struct io_sqring_offsets.
type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqringOffsets is struct io_cqring_offsets.
type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries    uint32
	cqEntries    uint32
	flags        uint32
	sqThreadCPU  uint32
	sqThreadIdle uint32
	features     uint32
	wqFD         uint32
	resv         [3]uint32
	sqOff        sqringOffsets
	cqOff        cqringOffsets
}

// sqe is struct io_uring_sqe (the 64-byte form), with the unions this package
// uses named: off (file offset), addr (buffer), rwFlags, bufIndex.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	rwFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	pad2        uint64
}

// cqe is struct io_uring_cqe (the 16-byte form).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// rsrcUpdate is struct io_uring_rsrc_update, the argument of
// IORING_REGISTER_FILES_UPDATE: nr_args fds starting at table index offset.
type rsrcUpdate struct {
	offset uint32
	resv   uint32
	data   uint64 // pointer to []int32 of descriptors, -1 clears a slot
}

// probeHeader is struct io_uring_probe without its ops[] tail.
type probeHeader struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
}

// probeOp is struct io_uring_probe_op.
type probeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}

// The sizes the kernel expects; a mismatch fails to compile.
var (
	_ [120]byte = [unsafe.Sizeof(params{})]byte{}
	_ [40]byte  = [unsafe.Sizeof(sqringOffsets{})]byte{}
	_ [40]byte  = [unsafe.Sizeof(cqringOffsets{})]byte{}
	_ [64]byte  = [unsafe.Sizeof(sqe{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(cqe{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(rsrcUpdate{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(probeHeader{})]byte{}
	_ [8]byte   = [unsafe.Sizeof(probeOp{})]byte{}
	_ [40]byte  = [unsafe.Offsetof(sqe{}.bufIndex)]byte{}
	_ [32]byte  = [unsafe.Offsetof(sqe{}.userData)]byte{}
)

// oDirect is O_DIRECT, which Ring.AddFile looks for in the file's flags.
const oDirect = unix.O_DIRECT
