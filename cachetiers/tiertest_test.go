package cachetiers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

// testTierConformance runs the Tier contract (see tier.go) against tiers made
// by newTier. Each subtest gets a fresh, empty tier; the suite closes it when
// the subtest ends (newTier must not register its own Close, but may register
// cleanups for whatever backs the tier, such as a server or a directory).
//
// Segments used here are at most 256 KiB and a subtest holds at most a few
// MiB, so a bounded cache tier with a few MiB of capacity passes without
// evicting. A tier whose Remove refuses with anomaly.Unsupported (the store)
// has the Remove subtest skipped.
//
// Besides what tier.go states, the suite checks one thing every tier needs in
// practice: Put does not keep the caller's slice (the caller reuses it).
func testTierConformance(t *testing.T, newTier func(t *testing.T) Tier) {
	t.Helper()
	open := func(t *testing.T) Tier {
		t.Helper()
		tier := newTier(t)
		t.Cleanup(func() {
			if err := tier.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return tier
	}

	t.Run("Identity", func(t *testing.T) {
		tier := open(t)
		switch n := tier.Name(); n {
		case "ssd", "efs", "store":
		default:
			t.Errorf("Name() = %q, want one of ssd, efs, store", n)
		}
		if st := tier.Stats(); st.Backend == "" {
			t.Errorf("Stats().Backend is empty")
		}
	})

	t.Run("PutReadFull", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		// Sizes around the 4 KiB block boundary and one that spans many blocks.
		for _, size := range []int{1, 100, 4095, 4096, 4097, 3*4096 + 17, 256 << 10} {
			id := segment.NewID()
			data := conformanceData(id, size)
			if err := tier.Put(ctx, id, data); err != nil {
				t.Fatalf("Put(%s, %d bytes): %v", id.Short(), size, err)
			}
			p := make([]byte, size)
			n, total, err := tier.ReadAt(ctx, id, p, 0)
			if err != nil {
				t.Fatalf("ReadAt(%s, len %d, off 0): %v", id.Short(), size, err)
			}
			if n != size || total != int64(size) {
				t.Fatalf("ReadAt(%s, len %d, off 0) = n %d, size %d; want %d, %d", id.Short(), size, n, total, size, size)
			}
			if !bytes.Equal(p, data) {
				t.Fatalf("ReadAt(%s) full read: bytes differ from what was put", id.Short())
			}
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		const size = 5*4096 + 123
		id := segment.NewID()
		data := conformanceData(id, size)
		mustPut(t, tier, id, data)
		for _, r := range []struct{ off, n int }{
			{0, 1}, {0, 4096}, {4096, 4096}, {4095, 2}, {size - 1, 1},
			{size - 4096, 4096}, {1, size - 1}, {12345, 6789}, {2 * 4096, 3*4096 + 123},
		} {
			p := make([]byte, r.n)
			n, total, err := tier.ReadAt(ctx, id, p, int64(r.off))
			if err != nil {
				t.Fatalf("ReadAt(off %d, len %d): %v", r.off, r.n, err)
			}
			if n != r.n || total != size {
				t.Fatalf("ReadAt(off %d, len %d) = n %d, size %d; want %d, %d", r.off, r.n, n, total, r.n, size)
			}
			if !bytes.Equal(p, data[r.off:r.off+r.n]) {
				t.Fatalf("ReadAt(off %d, len %d): bytes differ", r.off, r.n)
			}
		}
	})

	t.Run("PastEndIsCorrupt", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		const size = 2*4096 + 5
		id := segment.NewID()
		mustPut(t, tier, id, conformanceData(id, size))
		// The contract: off+len(p) > size is an error wrapping segment.ErrCorrupt
		// (the reader asked for bytes its index says exist: the copy is short).
		for _, r := range []struct{ off, n int }{
			{0, size + 1}, {size - 1, 2}, {size, 1}, {size + 4096, 4096}, {4096, 8192},
		} {
			p := make([]byte, r.n)
			_, _, err := tier.ReadAt(ctx, id, p, int64(r.off))
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Errorf("ReadAt(off %d, len %d) on a %d-byte segment: err = %v, want one wrapping segment.ErrCorrupt", r.off, r.n, size, err)
			}
		}
	})

	t.Run("Suffix", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		const size = 3*4096 + 99
		id := segment.NewID()
		data := conformanceData(id, size)
		mustPut(t, tier, id, data)
		for _, k := range []int{1, 64, 4096, size - 1, size} {
			for _, off := range []int64{-1, -int64(k), -1 << 40} {
				p := make([]byte, k)
				n, total, err := tier.ReadAt(ctx, id, p, off)
				if err != nil {
					t.Fatalf("suffix ReadAt(len %d, off %d): %v", k, off, err)
				}
				if n != k || total != size {
					t.Fatalf("suffix ReadAt(len %d, off %d) = n %d, size %d; want %d, %d", k, off, n, total, k, size)
				}
				if !bytes.Equal(p, data[size-k:]) {
					t.Fatalf("suffix ReadAt(len %d): bytes differ from the segment's last %d bytes", k, k)
				}
			}
		}
	})

	t.Run("SuffixLongerThanSegment", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		for _, size := range []int{1, 700, 4096, 5000} {
			id := segment.NewID()
			data := conformanceData(id, size)
			mustPut(t, tier, id, data)
			for _, k := range []int{size + 1, 8192, 64 << 10} {
				p := make([]byte, k)
				n, total, err := tier.ReadAt(ctx, id, p, -1)
				if err != nil {
					t.Fatalf("suffix ReadAt(len %d) of a %d-byte segment: %v", k, size, err)
				}
				if n != size || total != int64(size) {
					t.Fatalf("suffix ReadAt(len %d) of a %d-byte segment = n %d, size %d; want %d, %d", k, size, n, total, size, size)
				}
				if !bytes.Equal(p[:n], data) {
					t.Fatalf("suffix ReadAt(len %d) of a %d-byte segment: p[:n] is not the whole segment", k, size)
				}
			}
		}
	})

	t.Run("Missing", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		mustPut(t, tier, segment.NewID(), []byte("a neighbour, so the tier is not empty"))
		id := segment.NewID()
		for _, off := range []int64{0, 10, -1} {
			p := make([]byte, 16)
			_, _, err := tier.ReadAt(ctx, id, p, off)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadAt(missing %s, off %d): err = %v, want one wrapping ErrNotFound", id.Short(), off, err)
			}
		}
	})

	t.Run("RePutKeepsOriginal", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		id := segment.NewID()
		data := conformanceData(id, 9000)
		mustPut(t, tier, id, data)
		// Same bytes again: the normal case (two writers, or a promotion racing a put).
		if err := tier.Put(ctx, id, bytes.Clone(data)); err != nil {
			t.Fatalf("second Put with the same bytes: %v", err)
		}
		// Different bytes: must not happen with immutable segments, but if it
		// does, the tier keeps what it has rather than overwrite.
		other := bytes.Repeat([]byte{0xA5}, 12000)
		if err := tier.Put(ctx, id, other); err != nil {
			t.Fatalf("third Put with different bytes: err = %v, want nil (an existing id is a no-op)", err)
		}
		mustReadEqual(t, tier, id, data)
	})

	t.Run("PutDoesNotRetainBuffer", func(t *testing.T) {
		tier := open(t)
		id := segment.NewID()
		data := conformanceData(id, 5000)
		buf := bytes.Clone(data)
		mustPut(t, tier, id, buf)
		for i := range buf {
			buf[i] = 0
		}
		mustReadEqual(t, tier, id, data)
	})

	t.Run("Remove", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		id := segment.NewID()
		data := conformanceData(id, 4096+1)
		mustPut(t, tier, id, data)
		err := tier.Remove(ctx, id)
		if errors.Is(err, anomaly.Unsupported) {
			mustReadEqual(t, tier, id, data) // a refused Remove leaves the segment
			t.Skipf("tier %s refuses Remove: %v", tier.Name(), err)
		}
		if err != nil {
			t.Fatalf("Remove(%s): %v", id.Short(), err)
		}
		if _, _, err := tier.ReadAt(ctx, id, make([]byte, 10), 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ReadAt after Remove: err = %v, want one wrapping ErrNotFound", err)
		}
		if err := tier.Remove(ctx, id); err != nil {
			t.Fatalf("second Remove(%s): %v, want nil", id.Short(), err)
		}
		if err := tier.Remove(ctx, segment.NewID()); err != nil {
			t.Fatalf("Remove(never put): %v, want nil", err)
		}
		// The id can be put again after a Remove (Stratified drops a bad copy, then rewrites it).
		mustPut(t, tier, id, data)
		mustReadEqual(t, tier, id, data)
	})

	t.Run("Concurrent", func(t *testing.T) {
		tier := open(t)
		ctx := context.Background()
		// Every id is put by several goroutines at once while others read it,
		// so puts race each other and reads race puts. A read may miss (the put
		// has not landed yet) but must never see other bytes.
		const (
			ids     = 16
			workers = 8
			rounds  = 20
		)
		segs := make([]segment.ID, ids)
		datas := make([][]byte, ids)
		for i := range segs {
			segs[i] = segment.NewID()
			datas[i] = conformanceData(segs[i], 1000+i*997)
		}
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for r := range rounds {
					i := rng.IntN(ids)
					if (w+r)%2 == 0 {
						if err := tier.Put(ctx, segs[i], datas[i]); err != nil {
							errc <- fmt.Errorf("Put(%s): %w", segs[i].Short(), err)
							return
						}
					}
					data := datas[i]
					off := rng.IntN(len(data))
					p := make([]byte, rng.IntN(len(data)-off)+1)
					n, total, err := tier.ReadAt(ctx, segs[i], p, int64(off))
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						errc <- fmt.Errorf("ReadAt(%s, off %d, len %d): %w", segs[i].Short(), off, len(p), err)
						return
					}
					if n != len(p) || total != int64(len(data)) || !bytes.Equal(p, data[off:off+len(p)]) {
						errc <- fmt.Errorf("ReadAt(%s, off %d, len %d) = n %d, size %d, or bytes differ", segs[i].Short(), off, len(p), n, total)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		// Whatever was put is now whole.
		for i, id := range segs {
			p := make([]byte, len(datas[i]))
			n, _, err := tier.ReadAt(ctx, id, p, 0)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil || n != len(p) || !bytes.Equal(p, datas[i]) {
				t.Errorf("after the race, ReadAt(%s) = n %d, err %v, or bytes differ", id.Short(), n, err)
			}
		}
	})
}

// conformanceData returns size bytes that depend on id, so two segments never
// hold the same bytes and a read from the wrong segment is caught.
func conformanceData(id segment.ID, size int) []byte {
	var seed [32]byte
	copy(seed[:], id[:])
	rng := rand.NewChaCha8(seed)
	p := make([]byte, size)
	_, _ = rng.Read(p)
	return p
}

func mustPut(t *testing.T, tier Tier, id segment.ID, data []byte) {
	t.Helper()
	if err := tier.Put(context.Background(), id, data); err != nil {
		t.Fatalf("Put(%s, %d bytes): %v", id.Short(), len(data), err)
	}
}

func mustReadEqual(t *testing.T, tier Tier, id segment.ID, want []byte) {
	t.Helper()
	p := make([]byte, len(want))
	n, size, err := tier.ReadAt(context.Background(), id, p, 0)
	if err != nil {
		t.Fatalf("ReadAt(%s, len %d): %v", id.Short(), len(want), err)
	}
	if n != len(want) || size != int64(len(want)) || !bytes.Equal(p, want) {
		t.Fatalf("ReadAt(%s) = n %d, size %d; want %d bytes equal to what was put first", id.Short(), n, size, len(want))
	}
}
