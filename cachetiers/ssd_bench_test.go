package cachetiers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/iouring"
	"github.com/stratadb/strata/segment"
)

// BenchmarkSSDRead reads one 4 KiB block of a cached segment at QD1, and in
// the same loop the same block with a raw O_DIRECT pread of the cache file:
// the reference. It reports both medians and their ratio.
func BenchmarkSSDRead(b *testing.B) {
	for _, backend := range []iouring.Backend{iouring.BackendPread, iouring.BackendIOUring} {
		b.Run("backend="+string(backend)+"/size=4KiB/qd=1", func(b *testing.B) {
			if backend == iouring.BackendIOUring && iouring.Supported() != nil {
				b.Skipf("io_uring not usable here: %v", iouring.Supported())
			}
			ro := iouring.Options{ForcePread: backend == iouring.BackendPread, FixedBuffers: 16, FixedBufferSize: 4096}
			s, err := NewSSD(SSDOptions{Dir: b.TempDir(), CapacityBytes: 64 << 20, RegionSize: 4 << 20, RingOptions: ro})
			if err != nil {
				b.Skipf("ssd tier: %v", err)
			}
			defer s.Close()
			ctx := context.Background()
			const segSize = 256 << 10
			ids := make([]segment.ID, 128) // 32 MiB
			for i := range ids {
				ids[i] = segment.NewID()
				if err := s.Put(ctx, ids[i], conformanceData(ids[i], segSize)); err != nil {
					b.Fatal(err)
				}
			}
			raw, err := os.OpenFile(filepath.Join(s.opts.Dir, ssdFileName), os.O_RDONLY|unix.O_DIRECT, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			p := make([]byte, 4096)
			rp := iouring.AlignedBuffer(4096)
			lat, ref := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			b.SetBytes(4096)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				id := ids[rng.IntN(len(ids))]
				off := int64(rng.IntN(segSize/4096)) * 4096
				loc, _ := s.index.get(id)
				tier := func() {
					t0 := time.Now()
					if _, _, err := s.ReadAt(ctx, id, p, off); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				pread := func() {
					t0 := time.Now()
					if _, err := unix.Pread(int(raw.Fd()), rp, loc.off+off); err != nil {
						b.Fatal(err)
					}
					ref = append(ref, time.Since(t0))
				}
				if i%2 == 0 { // alternate, so neither always finds the block warm
					tier()
					pread()
				} else {
					pread()
					tier()
				}
			}
			b.StopTimer()
			p50, p99 := ssdQuantile(lat, 0.5), ssdQuantile(lat, 0.99)
			r50 := ssdQuantile(ref, 0.5)
			b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(r50.Nanoseconds()), "ref-pread-p50-ns")
			if r50 > 0 {
				b.ReportMetric(float64(p50)/float64(r50), "p50-ratio")
			}
		})
	}
}

func ssdQuantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}

// BenchmarkSSDIndexGet compares the sharded index with one RWMutex over one
// map, read by all Ps at once (the justification for ssdIndexShards).
func BenchmarkSSDIndexGet(b *testing.B) {
	ids := make([]segment.ID, 1<<16)
	sharded := newSSDIndex()
	var one struct {
		mu sync.RWMutex
		m  map[segment.ID]ssdLoc
	}
	one.m = make(map[segment.ID]ssdLoc, len(ids))
	for i := range ids {
		ids[i] = segment.NewID()
		sharded.put(ids[i], ssdLoc{off: int64(i)})
		one.m[ids[i]] = ssdLoc{off: int64(i)}
	}
	for _, impl := range []string{"shards=64", "shards=1"} {
		b.Run(impl, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(ids))
				for pb.Next() {
					i = (i + 1) & (len(ids) - 1)
					var ok bool
					if impl == "shards=1" {
						one.mu.RLock()
						_, ok = one.m[ids[i]]
						one.mu.RUnlock()
					} else {
						_, ok = sharded.get(ids[i])
					}
					if !ok {
						panic(fmt.Sprintf("id %d missing", i))
					}
				}
			})
		})
	}
}
