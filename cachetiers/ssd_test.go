package cachetiers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/iouring"
	"github.com/stratadb/strata/segment"
)

// ssdForEachBackend runs f once per ring backend: pread (forced), and
// io_uring with fixed buffers (so block reads use READ_FIXED), skipped where
// the kernel or a sandbox forbids io_uring.
func ssdForEachBackend(t *testing.T, f func(t *testing.T, ro iouring.Options)) {
	t.Run("pread", func(t *testing.T) { f(t, iouring.Options{ForcePread: true}) })
	t.Run("io_uring", func(t *testing.T) {
		if err := iouring.Supported(); err != nil {
			t.Skipf("io_uring not usable here: %v", err)
		}
		f(t, iouring.Options{FixedBuffers: 8, FixedBufferSize: 16 << 10})
	})
}

// ssdOpen opens an SSD tier, skipping the test where the file system refuses
// O_DIRECT. With cleanup it also closes the tier when the test ends.
func ssdOpen(t *testing.T, opts SSDOptions, cleanup bool) *SSD {
	t.Helper()
	s, err := NewSSD(opts)
	if errors.Is(err, anomaly.Unsupported) {
		t.Skipf("ssd tier not supported on %s: %v", opts.Dir, err)
	}
	if err != nil {
		t.Fatalf("NewSSD(%+v): %v", opts, err)
	}
	if opts.Ring == nil && !opts.RingOptions.ForcePread {
		if got := s.Stats().Backend; got != string(iouring.BackendIOUring) {
			t.Errorf("Stats().Backend = %q, want io_uring (fallback reason: %s)", got, s.ring.FallbackReason())
		}
	}
	if cleanup {
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return s
}

// ssdSegment returns a segment whose size and bytes follow from its id, so a
// reader can check any read without shared state: size in [1, maxSize].
func ssdSegment(maxSize int) (segment.ID, []byte) {
	id := segment.NewID()
	return id, conformanceData(id, ssdSizeOf(id, maxSize))
}

func ssdSizeOf(id segment.ID, maxSize int) int {
	return 1 + int(binary.LittleEndian.Uint32(id[12:])%uint32(maxSize))
}

func ssdMustClose(t *testing.T, s *SSD) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// ssdHeld returns the ids the tier's index holds.
func ssdHeld(s *SSD) map[segment.ID]ssdLoc {
	held := make(map[segment.ID]ssdLoc)
	for i := range s.index.shards {
		sh := &s.index.shards[i]
		sh.mu.RLock()
		for id, loc := range sh.m {
			held[id] = loc
		}
		sh.mu.RUnlock()
	}
	return held
}

func ssdIsMissing(t *testing.T, s *SSD, id segment.ID) bool {
	t.Helper()
	_, _, err := s.ReadAt(context.Background(), id, make([]byte, 1), 0)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadAt(%s): %v", id.Short(), err)
	}
	return errors.Is(err, ErrNotFound)
}

func TestSSDConformance(t *testing.T) {
	ssdForEachBackend(t, func(t *testing.T, ro iouring.Options) {
		testTierConformance(t, func(t *testing.T) Tier {
			return ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 16 << 20, RegionSize: 1 << 20, RingOptions: ro}, false)
		})
	})
	t.Run("buffered", func(t *testing.T) {
		testTierConformance(t, func(t *testing.T) Tier {
			s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 16 << 20, RegionSize: 1 << 20,
				RingOptions: iouring.Options{ForcePread: true}, AllowBuffered: true, buffered: true}, false)
			if s.Direct() {
				t.Errorf("Direct() = true with buffered I/O forced")
			}
			return s
		})
	})
}

func TestSSDOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts SSDOptions
		want string
	}{
		{SSDOptions{CapacityBytes: 64 << 20}, "Dir"},
		{SSDOptions{Dir: dir}, "CapacityBytes"},
		{SSDOptions{Dir: dir, CapacityBytes: -1}, "CapacityBytes"},
		{SSDOptions{Dir: dir, CapacityBytes: 16 << 20}, "CapacityBytes"}, // one default region
		{SSDOptions{Dir: dir, CapacityBytes: 64 << 20, RegionSize: 1<<20 + 1}, "RegionSize"},
		{SSDOptions{Dir: dir, CapacityBytes: 64 << 20, RegionSize: 4096}, "RegionSize"},
		{SSDOptions{Dir: dir, CapacityBytes: 8 << 30, RegionSize: 2 << 30}, "RegionSize"},
		{SSDOptions{Dir: dir, CapacityBytes: 1 << 20, RegionSize: 1 << 20}, "CapacityBytes"},
	} {
		_, err := NewSSD(tc.opts)
		if !errors.Is(err, anomaly.Incorrect) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("NewSSD(%+v) = %v, want an incorrect error naming %s", tc.opts, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ssdFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad options created the cache file (stat: %v)", err)
	}
}

func TestSSDTooLarge(t *testing.T) {
	s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 4 << 16, RegionSize: 1 << 16,
		RingOptions: iouring.Options{ForcePread: true}}, true)
	if got, want := s.MaxSegmentBytes(), int64(1<<16-8192); got != want {
		t.Fatalf("MaxSegmentBytes() = %d, want %d", got, want)
	}
	ctx := context.Background()
	big := segment.NewID()
	if err := s.Put(ctx, big, make([]byte, s.MaxSegmentBytes()+1)); !errors.Is(err, anomaly.Unsupported) {
		t.Fatalf("Put(%d bytes) = %v, want an unsupported error", s.MaxSegmentBytes()+1, err)
	}
	if !ssdIsMissing(t, s, big) {
		t.Fatalf("a refused segment is held")
	}
	// The largest accepted one fills a region exactly, after a partly used one.
	small, sdata := ssdSegment(100)
	mustPut(t, s, small, sdata)
	id := segment.NewID()
	data := conformanceData(id, int(s.MaxSegmentBytes()))
	mustPut(t, s, id, data)
	mustReadEqual(t, s, id, data)
	mustReadEqual(t, s, small, sdata)
}

// TestSSDEvictionOrder fills the cache past capacity: regions go in the order
// they were filled, whole.
func TestSSDEvictionOrder(t *testing.T) {
	ssdForEachBackend(t, func(t *testing.T, ro iouring.Options) {
		// 64 KiB regions hold two 20 KiB segments each (8 KiB of region and
		// entry header blocks, plus padding, leave no room for a third).
		const regions, size, puts = 4, 20 << 10, 20
		s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: regions << 16, RegionSize: 1 << 16, RingOptions: ro}, true)
		ids := make([]segment.ID, puts)
		for i := range ids {
			ids[i] = segment.NewID()
			mustPut(t, s, ids[i], conformanceData(ids[i], size))
			if i < regions*2 {
				// Reads do not protect from FIFO eviction: read the first one often.
				mustReadEqual(t, s, ids[0], conformanceData(ids[0], size))
			}
		}
		const kept = regions * 2
		for i, id := range ids {
			missing := ssdIsMissing(t, s, id)
			if i < puts-kept && !missing {
				t.Errorf("segment %d of %d (%s) is still held; want the oldest %d evicted", i, puts, id.Short(), puts-kept)
			}
			if i >= puts-kept {
				if missing {
					t.Errorf("segment %d of %d (%s) was evicted; want the newest %d held", i, puts, id.Short(), kept)
				} else {
					mustReadEqual(t, s, id, conformanceData(id, size))
				}
			}
		}
		st := s.Stats()
		if st.Entries != kept || st.Bytes != kept*size || st.Evictions != puts-kept || st.Capacity != regions<<16 {
			t.Errorf("Stats() = %+v, want Entries %d, Bytes %d, Evictions %d, Capacity %d", st, kept, kept*size, puts-kept, regions<<16)
		}
	})
}

// TestSSDRestart closes and reopens the cache: the same segments come back
// with the same bytes, removed ones stay removed, evicted ones stay evicted.
func TestSSDRestart(t *testing.T) {
	ssdForEachBackend(t, func(t *testing.T, ro iouring.Options) {
		ctx := context.Background()
		opts := SSDOptions{Dir: t.TempDir(), CapacityBytes: 6 << 18, RegionSize: 1 << 18, RingOptions: ro}
		s := ssdOpen(t, opts, false)
		datas := make(map[segment.ID][]byte)
		var order []segment.ID
		// About 2.5 MiB into 1.5 MiB: the first regions are evicted.
		for range 100 {
			id, data := ssdSegment(50 << 10)
			mustPut(t, s, id, data)
			datas[id] = data
			order = append(order, id)
		}
		var removed []segment.ID
		for _, id := range order[len(order)-30:] {
			if id[0]%4 == 0 {
				if err := s.Remove(ctx, id); err != nil {
					t.Fatalf("Remove(%s): %v", id.Short(), err)
				}
				removed = append(removed, id)
			}
		}
		before, stBefore := ssdHeld(s), s.Stats()
		if stBefore.Evictions == 0 {
			t.Fatalf("no evictions: the test should overfill the cache; Stats() = %+v", stBefore)
		}
		ssdMustClose(t, s)

		for round := range 2 {
			s = ssdOpen(t, opts, false)
			after, stAfter := ssdHeld(s), s.Stats()
			if len(after) != len(before) {
				t.Errorf("round %d: %d segments after restart, want the %d held before", round, len(after), len(before))
			}
			for id := range before {
				if _, ok := after[id]; !ok {
					t.Errorf("round %d: %s was held before the restart and is not after", round, id.Short())
					continue
				}
				mustReadEqual(t, s, id, datas[id])
			}
			for id := range after {
				if _, ok := before[id]; !ok {
					t.Errorf("round %d: %s came back after the restart (evicted or removed before)", round, id.Short())
				}
			}
			for _, id := range removed {
				if !ssdIsMissing(t, s, id) {
					t.Errorf("round %d: removed %s is served after the restart", round, id.Short())
				}
			}
			if stAfter.Entries != stBefore.Entries || stAfter.Bytes != stBefore.Bytes {
				t.Errorf("round %d: Stats() after restart = %+v, before %+v: entries and bytes differ", round, stAfter, stBefore)
			}
			// Writes go on after a restart, into new generations.
			for range 3 {
				id, data := ssdSegment(50 << 10)
				mustPut(t, s, id, data)
				mustReadEqual(t, s, id, data)
				datas[id] = data
			}
			before, stBefore = ssdHeld(s), s.Stats()
			ssdMustClose(t, s)
		}
	})
}

// TestSSDRestartStaleRegion reuses a region with entries of the same size as
// its previous generation's, so that after the new entries the chain leads
// exactly onto intact headers of the old generation. They must not come back.
func TestSSDRestartStaleRegion(t *testing.T) {
	opts := SSDOptions{Dir: t.TempDir(), CapacityBytes: 2 << 16, RegionSize: 1 << 16, RingOptions: iouring.Options{ForcePread: true}}
	s := ssdOpen(t, opts, false)
	// 8 KiB entries: 5 fit a 64 KiB region. A whole number of blocks, so
	// that a new entry's write (which zero-fills its last block) ends where
	// the next old header's block begins and leaves that header intact.
	const size, perRegion = 8192, 5
	put := func() segment.ID {
		id := segment.NewID()
		mustPut(t, s, id, conformanceData(id, size))
		return id
	}
	var old, kept []segment.ID
	for range perRegion {
		old = append(old, put())
	}
	for range perRegion {
		kept = append(kept, put())
	}
	oldLocs := ssdHeld(s)
	x1 := put() // reclaims the first region
	x1Loc, _ := s.index.get(x1)
	if a1 := oldLocs[old[0]]; x1Loc.off != a1.off || x1Loc.seq == a1.seq {
		t.Fatalf("setup: new entry at %+v, want the old first entry's offset %d in a new generation (old %+v)", x1Loc, a1.off, a1)
	}
	ssdMustClose(t, s)

	// The old generation's second header is still intact on disk, right
	// where the chain continues after x1.
	a2 := oldLocs[old[1]]
	f, err := os.Open(filepath.Join(opts.Dir, ssdFileName))
	if err != nil {
		t.Fatal(err)
	}
	hb := make([]byte, ssdEntryHeaderSize)
	if _, err := f.ReadAt(hb, a2.off-ssdEntryHeaderSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h, err := parseSSDEntryHeader(hb)
	if err != nil || h.id != old[1] || ssdPayloadAt(x1Loc.off+size) != a2.off {
		t.Fatalf("setup: want old[1]'s header intact where the chain continues after x1: %+v, %v", h, err)
	}

	s = ssdOpen(t, opts, true)
	for i, id := range old {
		if !ssdIsMissing(t, s, id) {
			t.Errorf("evicted old[%d] %s is served after the restart", i, id.Short())
		}
	}
	for _, id := range append(kept, x1) {
		mustReadEqual(t, s, id, conformanceData(id, size))
	}
	if got := s.Stats().Entries; got != perRegion+1 {
		t.Errorf("Stats().Entries = %d after restart, want %d", got, perRegion+1)
	}
}

// TestSSDTornEntry corrupts entries on disk between runs: a bad payload or a
// bad header is never served after the restart.
func TestSSDTornEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(loc ssdLoc) int64 // file offset of the byte to flip
		victim  int
		// after the victim, the rest of its region is lost (header) or not (payload)
		restLost bool
	}{
		{"payload", func(loc ssdLoc) int64 { return loc.off + loc.length/2 }, 2, false},
		{"payload-last-byte", func(loc ssdLoc) int64 { return loc.off + loc.length - 1 }, 2, false},
		{"header-id", func(loc ssdLoc) int64 { return loc.off - ssdEntryHeaderSize + 20 }, 2, true},
		{"header-length", func(loc ssdLoc) int64 { return loc.off - ssdEntryHeaderSize + 33 }, 2, true},
		{"header-checksum", func(loc ssdLoc) int64 { return loc.off - 1 }, 2, true},
		{"region-header", func(loc ssdLoc) int64 { return int64(loc.region)*(1<<20) + 30 }, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := SSDOptions{Dir: t.TempDir(), CapacityBytes: 4 << 20, RegionSize: 1 << 20, RingOptions: iouring.Options{ForcePread: true}}
			s := ssdOpen(t, opts, false)
			ids := make([]segment.ID, 6)
			datas := make([][]byte, len(ids))
			for i := range ids {
				ids[i], datas[i] = ssdSegment(30 << 10)
				mustPut(t, s, ids[i], datas[i])
			}
			loc, _ := s.index.get(ids[tc.victim])
			ssdMustClose(t, s)

			f, err := os.OpenFile(filepath.Join(opts.Dir, ssdFileName), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			at := tc.corrupt(loc)
			b := []byte{0}
			if _, err := f.ReadAt(b, at); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x40
			if _, err := f.WriteAt(b, at); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			s = ssdOpen(t, opts, true)
			for i, id := range ids {
				missing := ssdIsMissing(t, s, id)
				switch {
				case i == tc.victim && !missing:
					t.Errorf("corrupt segment %d (%s) is served after the restart", i, id.Short())
				case i < tc.victim && missing, i > tc.victim && !tc.restLost && missing:
					t.Errorf("intact segment %d (%s) was lost", i, id.Short())
				case !missing:
					mustReadEqual(t, s, id, datas[i])
				}
			}
			if wantTorn := !tc.restLost; (s.recovery.torn == 1) != wantTorn {
				t.Errorf("recovery counted %d torn entries", s.recovery.torn)
			}
		})
	}
}

// TestSSDReadRacesReclaim evicts a segment and overwrites its bytes between
// a reader's index lookup and its device read: the reader must report a
// miss, not the new occupant's bytes.
func TestSSDReadRacesReclaim(t *testing.T) {
	ssdForEachBackend(t, func(t *testing.T, ro iouring.Options) {
		ctx := context.Background()
		s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 2 << 16, RegionSize: 1 << 16, RingOptions: ro}, true)
		const size = 12 << 10
		victim := segment.NewID()
		mustPut(t, s, victim, conformanceData(victim, size))
		vloc, _ := s.index.get(victim)
		var newcomer segment.ID
		s.beforeRead = func() {
			s.beforeRead = nil
			// Fill the second region, then reclaim the first and put a
			// same-sized segment exactly where the victim was.
			filler := segment.NewID()
			mustPut(t, s, filler, conformanceData(filler, int(s.MaxSegmentBytes())))
			newcomer = segment.NewID()
			mustPut(t, s, newcomer, conformanceData(newcomer, size))
		}
		p := make([]byte, 4096)
		_, _, err := s.ReadAt(ctx, victim, p, 4096)
		if nloc, _ := s.index.get(newcomer); nloc.off != vloc.off {
			t.Fatalf("setup: newcomer at %+v, want the victim's place %+v", nloc, vloc)
		}
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("ReadAt of a segment evicted and overwritten during the read: err = %v (bytes match newcomer: %v), want a miss",
				err, bytes.Equal(p, conformanceData(newcomer, size)[4096:8192]))
		}
		mustReadEqual(t, s, newcomer, conformanceData(newcomer, size))
	})
}

// TestSSDConcurrentEviction runs writers that keep the cache evicting against
// readers that check every byte they get, and a few removes, under -race.
func TestSSDConcurrentEviction(t *testing.T) {
	ssdForEachBackend(t, func(t *testing.T, ro iouring.Options) {
		ctx := context.Background()
		// 3 regions of 64 KiB and segments up to 24 KiB: a region is
		// reclaimed every few puts, so reads race overwrites all the time.
		s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 3 << 16, RegionSize: 1 << 16, RingOptions: ro}, true)
		const (
			writers, readers = 2, 3
			putsPerWriter    = 250
			maxSize          = 24 << 10
		)
		var (
			mu       sync.Mutex
			known    []segment.ID
			done     atomic.Bool
			hits     atomic.Int64
			misses   atomic.Int64
			errc     = make(chan error, writers+readers)
			wgWrite  sync.WaitGroup
			wgRead   sync.WaitGroup
			pickSeed atomic.Uint64
		)
		pick := func(rng *rand.Rand) (segment.ID, bool) {
			mu.Lock()
			defer mu.Unlock()
			if len(known) == 0 {
				return segment.ID{}, false
			}
			// Favour recent ids, which are more often still held.
			n := len(known)
			return known[n-1-rng.IntN(min(n, 16))], true
		}
		for range writers {
			wgWrite.Go(func() {
				rng := rand.New(rand.NewPCG(pickSeed.Add(1), 2))
				for range putsPerWriter {
					id, data := ssdSegment(maxSize)
					if old, ok := pick(rng); ok && rng.IntN(8) == 0 {
						// A re-put of something perhaps still held: a no-op or a fresh copy.
						id, data = old, conformanceData(old, ssdSizeOf(old, maxSize))
					}
					if err := s.Put(ctx, id, data); err != nil {
						errc <- fmt.Errorf("Put(%s): %w", id.Short(), err)
						return
					}
					mu.Lock()
					known = append(known, id)
					mu.Unlock()
				}
			})
		}
		for range readers {
			wgRead.Go(func() {
				rng := rand.New(rand.NewPCG(pickSeed.Add(1), 3))
				for !done.Load() {
					id, ok := pick(rng)
					if !ok {
						continue
					}
					size := ssdSizeOf(id, maxSize)
					if rng.IntN(50) == 0 {
						if err := s.Remove(ctx, id); err != nil {
							errc <- fmt.Errorf("Remove(%s): %w", id.Short(), err)
							return
						}
						continue
					}
					var off int64
					var n int
					switch rng.IntN(3) {
					case 0: // a block, as a segment reader asks for
						off = int64(rng.IntN(size) &^ 4095)
						n = min(4096, size-int(off))
					case 1: // any range
						off = int64(rng.IntN(size))
						n = 1 + rng.IntN(size-int(off))
					default: // a suffix, as for a footer
						off, n = -1, 1+rng.IntN(size)
					}
					p := make([]byte, n)
					got, total, err := s.ReadAt(ctx, id, p, off)
					if errors.Is(err, ErrNotFound) {
						misses.Add(1)
						continue
					}
					want := conformanceData(id, size)
					lo := off
					if off < 0 {
						lo = int64(size - n)
					}
					if err != nil || got != n || total != int64(size) || !bytes.Equal(p, want[lo:lo+int64(n)]) {
						errc <- fmt.Errorf("ReadAt(%s, off %d, len %d) = %d, %d, %v; or bytes differ", id.Short(), off, n, got, total, err)
						return
					}
					hits.Add(1)
				}
			})
		}
		wgWrite.Wait()
		done.Store(true)
		wgRead.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		st := s.Stats()
		t.Logf("hits %d, misses %d (%d of them reads that raced a reclaim), %+v", hits.Load(), misses.Load(), s.raced.Load(), st)
		if hits.Load() == 0 || st.Evictions == 0 {
			t.Errorf("want both hits and evictions: hits %d, Stats() = %+v", hits.Load(), st)
		}
		// What is indexed at the end is whole, and the counters agree with it.
		held := ssdHeld(s)
		var heldBytes int64
		for id := range held {
			data := conformanceData(id, ssdSizeOf(id, maxSize))
			mustReadEqual(t, s, id, data)
			heldBytes += int64(len(data))
		}
		if st.Entries != int64(len(held)) || st.Bytes != heldBytes {
			t.Errorf("Stats() = %+v, but the index holds %d entries of %d bytes", st, len(held), heldBytes)
		}
	})
}

// TestSSDResize reopens the cache with fewer, then more regions, and with
// another region size.
func TestSSDResize(t *testing.T) {
	dir := t.TempDir()
	ro := iouring.Options{ForcePread: true}
	opts := SSDOptions{Dir: dir, CapacityBytes: 4 << 16, RegionSize: 1 << 16, RingOptions: ro}
	s := ssdOpen(t, opts, false)
	datas := make(map[segment.ID][]byte)
	for range 8 { // two 20 KiB segments per region: all four regions
		id := segment.NewID()
		datas[id] = conformanceData(id, 20<<10)
		mustPut(t, s, id, datas[id])
	}
	held := ssdHeld(s)
	ssdMustClose(t, s)

	opts.CapacityBytes = 2 << 16
	s = ssdOpen(t, opts, false)
	if fi, err := os.Stat(filepath.Join(dir, ssdFileName)); err != nil || fi.Size() != 2<<16 {
		t.Fatalf("cache file after shrinking: %v, %v; want %d bytes", fi, err, 2<<16)
	}
	for id, loc := range held {
		if missing := ssdIsMissing(t, s, id); missing != (loc.region >= 2) {
			t.Errorf("%s in region %d: missing = %v after shrinking to 2 regions", id.Short(), loc.region, missing)
		} else if !missing {
			mustReadEqual(t, s, id, datas[id])
		}
	}
	if got := s.Stats().Entries; got != 4 {
		t.Errorf("Stats().Entries = %d after shrinking, want 4", got)
	}
	ssdMustClose(t, s)

	opts.CapacityBytes = 6 << 16
	s = ssdOpen(t, opts, false)
	if got := s.Stats().Entries; got != 4 {
		t.Errorf("Stats().Entries = %d after growing, want 4", got)
	}
	ssdMustClose(t, s)

	opts.RegionSize, opts.CapacityBytes = 1<<17, 3<<17
	s = ssdOpen(t, opts, true)
	if got := s.Stats().Entries; got != 0 {
		t.Errorf("Stats().Entries = %d after changing RegionSize, want 0", got)
	}
	for id := range datas {
		if !ssdIsMissing(t, s, id) {
			t.Errorf("%s served after changing RegionSize", id.Short())
		}
	}
}

func TestSSDExclusive(t *testing.T) {
	opts := SSDOptions{Dir: t.TempDir(), CapacityBytes: 2 << 16, RegionSize: 1 << 16, RingOptions: iouring.Options{ForcePread: true}}
	s := ssdOpen(t, opts, false)
	if _, err := NewSSD(opts); !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("second NewSSD on the same Dir = %v, want a conflict error", err)
	}
	ssdMustClose(t, s)
	s = ssdOpen(t, opts, true)
	_ = s
}

func TestSSDClosed(t *testing.T) {
	s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 2 << 16, RegionSize: 1 << 16, RingOptions: iouring.Options{ForcePread: true}}, false)
	ctx := context.Background()
	id, data := ssdSegment(100)
	mustPut(t, s, id, data)
	ssdMustClose(t, s)
	ssdMustClose(t, s) // idempotent
	if _, _, err := s.ReadAt(ctx, id, make([]byte, 1), 0); !errors.Is(err, ErrSSDClosed) {
		t.Errorf("ReadAt after Close = %v, want ErrSSDClosed", err)
	}
	if err := s.Put(ctx, segment.NewID(), data); !errors.Is(err, ErrSSDClosed) {
		t.Errorf("Put after Close = %v, want ErrSSDClosed", err)
	}
	if err := s.Remove(ctx, id); !errors.Is(err, ErrSSDClosed) {
		t.Errorf("Remove after Close = %v, want ErrSSDClosed", err)
	}
}

// TestSSDSharedRing uses a caller's ring, which Close leaves open.
func TestSSDSharedRing(t *testing.T) {
	ring, err := iouring.Open(iouring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	for range 2 {
		s := ssdOpen(t, SSDOptions{Dir: t.TempDir(), CapacityBytes: 2 << 16, RegionSize: 1 << 16, Ring: ring}, false)
		id, data := ssdSegment(9000)
		mustPut(t, s, id, data)
		mustReadEqual(t, s, id, data)
		if got, want := s.Stats().Backend, string(ring.Backend()); got != want {
			t.Errorf("Stats().Backend = %q, want the ring's %q", got, want)
		}
		ssdMustClose(t, s)
	}
	if st := ring.Stats(); st.Files != 0 {
		t.Errorf("ring holds %d files after the tiers closed, want 0", st.Files)
	}
}

func TestSSDFormatRoundTrip(t *testing.T) {
	b := make([]byte, 64)
	rh := ssdRegionHeader{index: 7, size: 1 << 24, seq: 1<<40 + 3}
	putSSDRegionHeader(b, rh)
	if got, err := parseSSDRegionHeader(b); err != nil || got != rh {
		t.Fatalf("region header round trip: %+v, %v; want %+v", got, err, rh)
	}
	eh := ssdEntryHeader{region: 3, seq: 99, id: segment.NewID(), length: 12345, payloadHash: 0xdeadbeef, flags: ssdEntryFlagRemoved}
	putSSDEntryHeader(b, eh)
	if got, err := parseSSDEntryHeader(b); err != nil || got != eh {
		t.Fatalf("entry header round trip: %+v, %v; want %+v", got, err, eh)
	}
	for i := range 64 {
		c := slices.Clone(b)
		c[i] ^= 1
		if _, err := parseSSDEntryHeader(c); err == nil {
			t.Errorf("entry header with byte %d flipped parses", i)
		}
	}
	for c, want := range map[int64]int64{4096: 8192, 8192: 12288, 8193: 12288, 12288 - 64: 12288, 12288 - 63: 16384} {
		if got := ssdPayloadAt(c); got != want {
			t.Errorf("ssdPayloadAt(%d) = %d, want %d", c, got, want)
		}
	}
}
