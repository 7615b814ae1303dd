package iouring

import (
	"sync/atomic"
	"unsafe"
)

// fixedPool is the memory behind Options.FixedBuffers: one BlockSize-aligned
// Go allocation cut into n buffers of size bytes. With io_uring each buffer is
// one registered iovec, index i covering mem[i*size:(i+1)*size].
type fixedPool struct {
	mem  []byte
	n    int
	size int
	free chan int // indices of buffers not handed out; capacity n
}

func newFixedPool(n, size int) *fixedPool {
	p := &fixedPool{mem: AlignedBuffer(n * size), n: n, size: size, free: make(chan int, n)}
	for i := 0; i < n; i++ {
		p.free <- i
	}
	return p
}

func (p *fixedPool) buf(i int) []byte {
	return p.mem[i*p.size : (i+1)*p.size : (i+1)*p.size]
}

func (p *fixedPool) get() ([]byte, func(), bool) {
	select {
	case i := <-p.free:
		var released atomic.Bool
		return p.buf(i), func() {
			if !released.CompareAndSwap(false, true) {
				panic("iouring: fixed buffer released twice")
			}
			p.free <- i
		}, true
	default:
		return nil, nil, false
	}
}

// index reports which buffer holds all of b, or -1.
func (p *fixedPool) index(b []byte) int {
	if p == nil || len(b) == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(p.mem)))
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if addr < base || addr >= base+uintptr(len(p.mem)) {
		return -1
	}
	i := int((addr - base) / uintptr(p.size))
	if addr+uintptr(len(b)) > base+uintptr((i+1)*p.size) {
		return -1
	}
	return i
}
