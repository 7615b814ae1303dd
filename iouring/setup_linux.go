//go:build linux

package iouring

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringMem is one io_uring instance and its three shared-memory regions:
// the SQ ring (head, tail, mask, the index array), the CQ ring (head, tail,
// mask, the CQE array) and the SQE array. With IORING_FEAT_SINGLE_MMAP the
// SQ and CQ rings are one mapping.
//
// Ownership of the indices follows the kernel's protocol: we write sqTail and
// cqHead, the kernel writes sqHead and cqTail; each side publishes with a
// store-release and reads the other side's index with a load-acquire
// (sync/atomic is sequentially consistent, which is stronger).
type ringMem struct {
	fd       int
	params   params
	sqMap    []byte
	cqMap    []byte // aliases sqMap with IORING_FEAT_SINGLE_MMAP
	sqesMap  []byte
	sqHead   *uint32
	sqTail   *uint32
	sqMask   uint32
	sqArray  []uint32
	sqes     []sqe
	cqHead   *uint32
	cqTail   *uint32
	cqMask   uint32
	cqes     []cqe
	sqFlags  *uint32
	overflow *uint32
}

// setupRing creates an io_uring with entries SQ entries and twice as many CQ
// entries, and maps its regions. With coop it asks for
// IORING_SETUP_COOP_TASKRUN, and does without where the kernel (< 5.19)
// refuses it.
func setupRing(entries uint32, coop bool) (*ringMem, error) {
	m := &ringMem{fd: -1}
	flags := uint32(setupCQSize)
	if coop {
		flags |= setupCoopTaskrun
	}
	m.params.flags = flags
	m.params.cqEntries = 2 * entries
	fd, err := ioUringSetup(entries, &m.params)
	if err == unix.EINVAL && coop {
		m.params = params{flags: setupCQSize, cqEntries: 2 * entries}
		fd, err = ioUringSetup(entries, &m.params)
	}
	if err != nil {
		return nil, fmt.Errorf("io_uring_setup(%d): %w", entries, err)
	}
	m.fd = fd
	if err := m.mmap(); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

func (m *ringMem) mmap() error {
	p := &m.params
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(cqe{}))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
		cqSize = sqSize
	}
	const prot, flags = unix.PROT_READ | unix.PROT_WRITE, unix.MAP_SHARED | unix.MAP_POPULATE
	var err error
	if m.sqMap, err = unix.Mmap(m.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("mmap SQ ring (%d bytes): %w", sqSize, err)
	}
	if single {
		m.cqMap = m.sqMap
	} else if m.cqMap, err = unix.Mmap(m.fd, offCQRing, cqSize, prot, flags); err != nil {
		return fmt.Errorf("mmap CQ ring (%d bytes): %w", cqSize, err)
	}
	sqesSize := int(p.sqEntries) * int(unsafe.Sizeof(sqe{}))
	if m.sqesMap, err = unix.Mmap(m.fd, offSQEs, sqesSize, prot, flags); err != nil {
		return fmt.Errorf("mmap SQEs (%d bytes): %w", sqesSize, err)
	}

	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	m.sqHead = u32(m.sqMap, p.sqOff.head)
	m.sqTail = u32(m.sqMap, p.sqOff.tail)
	m.sqMask = *u32(m.sqMap, p.sqOff.ringMask)
	m.sqFlags = u32(m.sqMap, p.sqOff.flags)
	m.sqArray = unsafe.Slice(u32(m.sqMap, p.sqOff.array), p.sqEntries)
	m.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&m.sqesMap[0])), p.sqEntries)
	m.cqHead = u32(m.cqMap, p.cqOff.head)
	m.cqTail = u32(m.cqMap, p.cqOff.tail)
	m.cqMask = *u32(m.cqMap, p.cqOff.ringMask)
	m.overflow = u32(m.cqMap, p.cqOff.overflow)
	m.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&m.cqMap[p.cqOff.cqes])), p.cqEntries)
	// SQE i always sits at SQ array position i, so the array is written once.
	for i := range m.sqArray {
		m.sqArray[i] = uint32(i)
	}
	return nil
}

// close unmaps the regions and closes the ring fd; the kernel then tears the
// ring down, cancelling whatever is still pending.
func (m *ringMem) close() error {
	var first error
	if m.sqesMap != nil {
		if err := unix.Munmap(m.sqesMap); err != nil && first == nil {
			first = err
		}
	}
	if m.cqMap != nil && (m.sqMap == nil || &m.cqMap[0] != &m.sqMap[0]) {
		if err := unix.Munmap(m.cqMap); err != nil && first == nil {
			first = err
		}
	}
	if m.sqMap != nil {
		if err := unix.Munmap(m.sqMap); err != nil && first == nil {
			first = err
		}
	}
	m.sqesMap, m.cqMap, m.sqMap = nil, nil, nil
	if m.fd >= 0 {
		if err := unix.Close(m.fd); err != nil && first == nil {
			first = err
		}
		m.fd = -1
	}
	return first
}
