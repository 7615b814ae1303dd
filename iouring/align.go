package iouring

import "unsafe"

// BlockSize is the alignment O_DIRECT needs for buffer addresses, offsets and
// lengths on the devices strata targets (4 KiB logical blocks).
const BlockSize = 4096

// AlignedBuffer returns a zeroed slice of n bytes, rounded up to a multiple of
// BlockSize, whose first byte is BlockSize-aligned, as O_DIRECT requires.
//
// The slice is ordinary Go heap memory: the Go heap never moves objects, and
// the slice keeps the whole allocation reachable, so it may be handed to the
// kernel as long as the caller keeps the slice until the read returns.
func AlignedBuffer(n int) []byte {
	if n < 0 {
		panic("iouring: AlignedBuffer: negative size")
	}
	n = roundUp(n, BlockSize)
	if n == 0 {
		n = BlockSize
	}
	raw := make([]byte, n+BlockSize-1)
	skip := 0
	if rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % BlockSize); rem != 0 {
		skip = BlockSize - rem
	}
	return raw[skip : skip+n : skip+n]
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

func isAligned(p []byte, off int64) bool {
	return len(p)%BlockSize == 0 && off%BlockSize == 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(p)))%BlockSize == 0
}
