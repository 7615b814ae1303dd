package iouring

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// preader is the pread(2) fallback: each read blocks its goroutine's thread
// in the kernel. At most Options.Entries preads run at once, the same bound
// the ring has on reads in flight.
type preader struct {
	r        *Ring
	sem      chan struct{}
	inflight atomic.Int64
}

func newPreader(r *Ring) *preader {
	return &preader{r: r, sem: make(chan struct{}, r.opts.Entries)}
}

func (e *preader) readAt(ctx context.Context, fe *fileEntry, _ uint32, p []byte, off int64) (int, error) {
	select {
	case e.sem <- struct{}{}:
	default:
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	defer func() { <-e.sem }()
	e.inflight.Add(1)
	defer e.inflight.Add(-1)
	return e.pread(fe, p, off)
}

func (e *preader) pread(fe *fileEntry, p []byte, off int64) (int, error) {
	st := &e.r.stats
	n := 0
	for n < len(p) {
		st.submitted.Add(1)
		m, err := unix.Pread(fe.fd, p[n:], off+int64(n))
		st.completed.Add(1)
		if err == unix.EINTR || err == unix.EAGAIN {
			st.retries.Add(1)
			continue
		}
		if err != nil {
			return n, fmt.Errorf("iouring: pread %s at %d: %w", fe.name(), off+int64(n), err)
		}
		if m == 0 {
			break
		}
		n += m
		if n < len(p) {
			if fe.direct && (off+int64(n))%BlockSize != 0 {
				break // O_DIRECT returns an unaligned count only at end of file
			}
			st.retries.Add(1)
		}
	}
	return n, shortErr(n, len(p))
}

// shortErr is the error of a read that returned n of want bytes without an
// I/O error: it stopped at end of file.
func shortErr(n, want int) error {
	switch {
	case n == want:
		return nil
	case n == 0:
		return io.EOF
	default:
		return io.ErrUnexpectedEOF
	}
}

func (e *preader) readBatch(ctx context.Context, reads []Read) error {
	// pread has no other way to keep several reads in flight than one
	// blocked thread each; Entries bounds them, as it bounds the ring.
	workers := min(len(reads), cap(e.sem))
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		defer wg.Done()
		for {
			i := int(next.Add(1) - 1)
			if i >= len(reads) {
				return
			}
			rd := &reads[i]
			if rd.Err != nil {
				continue
			}
			if len(rd.Buf) == 0 {
				continue
			}
			fe, err := e.r.fileLocked(rd.File)
			if err != nil {
				rd.Err = err
				continue
			}
			rd.N, rd.Err = e.readAt(ctx, fe, rd.File.slot, rd.Buf, rd.Off)
		}
	}
	wg.Add(workers)
	for i := 1; i < workers; i++ {
		go work()
	}
	work()
	wg.Wait()
	return nil
}

func (e *preader) addFile(uint32, int) error { return nil }
func (e *preader) removeFile(uint32) error   { return nil }
func (e *preader) inFlight() int64           { return e.inflight.Load() }
func (e *preader) close() error              { return nil }
