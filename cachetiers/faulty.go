package cachetiers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratadb/strata/segment"
)

// Fault is a failure a FaultyTier injects into ReadAt.
type Fault uint8

const (
	// FaultNone injects nothing.
	FaultNone Fault = iota
	// FaultIOError makes ReadAt fail with ErrInjected, as a failing disk or
	// network does.
	FaultIOError
	// FaultShortRead makes ReadAt return half the bytes asked for and no
	// error, as a buggy tier might; Stratified must notice on its own.
	FaultShortRead
	// FaultCorrupt makes ReadAt return the bytes with every one flipped
	// (XOR 0x5a), which no checksum misses wherever the read lands.
	FaultCorrupt
	// FaultStall makes ReadAt block until its context ends.
	FaultStall
	// FaultNotFound makes ReadAt report a miss (ErrNotFound).
	FaultNotFound
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultIOError:
		return "io-error"
	case FaultShortRead:
		return "short-read"
	case FaultCorrupt:
		return "corrupt"
	case FaultStall:
		return "stall"
	case FaultNotFound:
		return "not-found"
	}
	return fmt.Sprintf("fault(%d)", uint8(f))
}

// ErrInjected is the I/O error FaultyTier injects.
var ErrInjected = errors.New("injected I/O error")

// FaultyTier wraps a Tier and injects faults into its reads, the way Pebble's
// vfs has a fault-injecting FS beside the real one: for recovery tests and
// for benchmarks of the recovery path. It also counts calls, per segment.
//
// Two kinds of fault:
//   - Inject(f, n) applies f to the next n ReadAt calls of any segment
//     (n < 0: every call until the next Inject).
//   - CorruptCopy(id) makes the wrapped tier's copy of id read as corrupt
//     until Remove(id) drops it — a bad copy at rest, which only Stratified's
//     remove-and-refill heals.
//
// FailPuts(n) makes Put fail. Remove, Stats and Close pass through.
// A FaultyTier is safe for concurrent use.
type FaultyTier struct {
	inner Tier

	mu        sync.Mutex
	fault     Fault
	remaining int // calls left for fault; < 0: unlimited
	putFails  int // Put calls left to fail; < 0: all
	corrupt   map[segment.ID]bool
	counts    FaultyCounts
	readsByID map[segment.ID]int64
}

var _ Tier = (*FaultyTier)(nil)

// FaultyCounts are a FaultyTier's call counters.
type FaultyCounts struct {
	ReadAts  int64 // ReadAt calls
	Puts     int64 // Put calls
	Removes  int64 // Remove calls
	Injected int64 // ReadAt calls that got a fault (of either kind)
}

// NewFaultyTier wraps inner with no fault injected.
func NewFaultyTier(inner Tier) *FaultyTier {
	return &FaultyTier{
		inner:     inner,
		corrupt:   make(map[segment.ID]bool),
		readsByID: make(map[segment.ID]int64),
	}
}

// Inner returns the wrapped tier.
func (f *FaultyTier) Inner() Tier { return f.inner }

// Inject applies fault to the next n ReadAt calls (n < 0: all of them until
// the next Inject). Inject(FaultNone, 0) stops injecting.
func (f *FaultyTier) Inject(fault Fault, n int) {
	f.mu.Lock()
	f.fault, f.remaining = fault, n
	f.mu.Unlock()
}

// FailPuts makes the next n Put calls fail with ErrInjected (n < 0: all of
// them until the next FailPuts; FailPuts(0) stops).
func (f *FaultyTier) FailPuts(n int) {
	f.mu.Lock()
	f.putFails = n
	f.mu.Unlock()
}

// CorruptCopy makes the copy of id read as corrupt until Remove(id).
func (f *FaultyTier) CorruptCopy(id segment.ID) {
	f.mu.Lock()
	f.corrupt[id] = true
	f.mu.Unlock()
}

// Counts returns the call counters.
func (f *FaultyTier) Counts() FaultyCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// ReadAts returns the number of ReadAt calls for segment id.
func (f *FaultyTier) ReadAts(id segment.ID) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readsByID[id]
}

// ResetCounts zeroes the call counters.
func (f *FaultyTier) ResetCounts() {
	f.mu.Lock()
	f.counts = FaultyCounts{}
	clear(f.readsByID)
	f.mu.Unlock()
}

// Name returns the wrapped tier's name.
func (f *FaultyTier) Name() string { return f.inner.Name() }

// ReadAt reads from the wrapped tier, with the fault due, if any.
func (f *FaultyTier) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	f.mu.Lock()
	f.counts.ReadAts++
	f.readsByID[id]++
	fault := FaultNone
	if f.remaining != 0 {
		fault = f.fault
		if f.remaining > 0 {
			f.remaining--
		}
	}
	if fault == FaultNone && f.corrupt[id] {
		fault = FaultCorrupt
	}
	if fault != FaultNone {
		f.counts.Injected++
	}
	f.mu.Unlock()

	op := fmt.Sprintf("%s (faulty) read %s at %d", f.inner.Name(), id.Short(), off)
	switch fault {
	case FaultIOError:
		return 0, 0, fmt.Errorf("%s: %w", op, ErrInjected)
	case FaultStall:
		<-ctx.Done()
		return 0, 0, fmt.Errorf("%s: stalled: %w", op, ctx.Err())
	case FaultNotFound:
		return 0, 0, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	n, size, err := f.inner.ReadAt(ctx, id, p, off)
	if err != nil {
		return n, size, err
	}
	switch fault {
	case FaultShortRead:
		n /= 2
	case FaultCorrupt:
		for i := range p[:n] {
			p[i] ^= 0x5a
		}
	}
	return n, size, nil
}

// Put writes through to the wrapped tier.
func (f *FaultyTier) Put(ctx context.Context, id segment.ID, data []byte) error {
	f.mu.Lock()
	f.counts.Puts++
	fail := f.putFails != 0
	if f.putFails > 0 {
		f.putFails--
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("%s (faulty) put %s: %w", f.inner.Name(), id.Short(), ErrInjected)
	}
	return f.inner.Put(ctx, id, data)
}

// Remove drops the wrapped tier's copy, and with it a CorruptCopy mark.
func (f *FaultyTier) Remove(ctx context.Context, id segment.ID) error {
	f.mu.Lock()
	f.counts.Removes++
	f.mu.Unlock()
	err := f.inner.Remove(ctx, id)
	if err == nil {
		f.mu.Lock()
		delete(f.corrupt, id)
		f.mu.Unlock()
	}
	return err
}

// Stats returns the wrapped tier's stats.
func (f *FaultyTier) Stats() TierStats { return f.inner.Stats() }

// Close closes the wrapped tier.
func (f *FaultyTier) Close() error { return f.inner.Close() }
