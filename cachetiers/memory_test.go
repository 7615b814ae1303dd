package cachetiers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/maypok86/otter/v2"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

func newTestMemory(t *testing.T, capacity int64) *Memory {
	t.Helper()
	m, err := NewMemory(MemoryOptions{CapacityBytes: capacity})
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMemoryBlocksAndIndexes(t *testing.T) {
	m := newTestMemory(t, 1<<20)
	id, other := segment.NewID(), segment.NewID()
	ix := &segment.Index{ID: id, Blocks: make([]segment.BlockHandle, 3)}

	if _, ok := m.Block(id, 0); ok {
		t.Fatal("empty memory returned a block")
	}
	if _, ok := m.Index(id); ok {
		t.Fatal("empty memory returned an index")
	}
	m.PutIndex(id, ix)
	for i := range 3 {
		m.PutBlock(id, i, []byte{byte(i), 1, 2, 3})
		m.PutBlock(other, i, []byte{9})
	}
	if got, ok := m.Index(id); !ok || got != ix {
		t.Fatalf("Index = %p, %v; want %p, true", got, ok, ix)
	}
	if b, ok := m.Block(id, 2); !ok || !bytes.Equal(b, []byte{2, 1, 2, 3}) {
		t.Fatalf("Block(2) = %v, %v", b, ok)
	}
	// The index marker is not a block and a block is not an index.
	if _, ok := m.Block(id, indexMarker); ok {
		t.Fatal("Block(indexMarker) returned the index entry")
	}

	m.RemoveBlock(id, 1)
	if _, ok := m.Block(id, 1); ok {
		t.Fatal("RemoveBlock left the block")
	}
	m.Remove(id) // via the cached index
	for i := range 3 {
		if _, ok := m.Block(id, i); ok {
			t.Fatalf("Remove left block %d", i)
		}
	}
	if _, ok := m.Index(id); ok {
		t.Fatal("Remove left the index")
	}
	m.Remove(other) // no index: by scan
	for i := range 3 {
		if _, ok := m.Block(other, i); ok {
			t.Fatalf("Remove (scan) left block %d", i)
		}
	}
	st := m.Stats()
	if st.Capacity != 1<<20 || st.Removals != 7 {
		t.Fatalf("Stats = %+v; want capacity 1 MiB, 7 removals", st)
	}
}

func TestMemoryEvictsByWeight(t *testing.T) {
	const capacity = 256 << 10
	m := newTestMemory(t, capacity)
	id := segment.NewID()
	for i := range 200 {
		m.PutBlock(id, i, make([]byte, 4096))
	}
	st := m.Stats()
	if st.Shards != 1 {
		t.Fatalf("a 256 KiB tier has %d shards, want 1", st.Shards)
	}
	if st.Bytes > capacity {
		t.Fatalf("Bytes %d exceed the capacity %d", st.Bytes, capacity)
	}
	if st.Evictions == 0 || st.EvictedBytes < 4096*(200-capacity/4096) {
		t.Fatalf("Evictions %d (%d bytes): want about %d blocks evicted", st.Evictions, st.EvictedBytes, 200-capacity/4096)
	}
	if st.Entries+st.Evictions != 200 {
		t.Fatalf("Entries %d + Evictions %d != 200 blocks put", st.Entries, st.Evictions)
	}
	// One block larger than the whole capacity is not held, and is counted.
	m.PutBlock(id, 1000, make([]byte, 2*capacity))
	if _, ok := m.Block(id, 1000); ok {
		t.Fatal("a block larger than the capacity is held")
	}
	if got := m.Stats(); got.Oversized != 1 || got.Evictions != st.Evictions || got.Entries != st.Entries {
		t.Fatalf("after an oversized put: %+v; want Oversized 1 and the rest unchanged from %+v", got, st)
	}
}

// newShardedMemory builds a Memory whose shard count comes from a small
// typical weight and the given GOMAXPROCS, so that tests can shard without
// allocating a gigabyte of blocks.
func newShardedMemory(t testing.TB, capacity, typicalWeight uint64, procs int) *Memory {
	t.Helper()
	c, err := newMemCache(capacity, typicalWeight, 1, procs)
	if err != nil {
		t.Fatal(err)
	}
	return &Memory{c: c, capacity: int64(capacity), source: "test"}
}

func TestMemoryShardCount(t *testing.T) {
	for _, tc := range []struct {
		entries uint64
		procs   int
		want    int
	}{
		{0, 8, 1}, {1, 1, 1}, {4095, 64, 1}, {8191, 64, 1}, // issue 2's trace capacities: one shard
		{8192, 64, 2}, {16383, 64, 2}, {16384, 64, 4},
		{1 << 20, 1, 4}, {1 << 20, 2, 8}, {1 << 20, 3, 8}, {1 << 20, 64, 64}, {1 << 30, 1000, 64},
		{1 << 20, 0, 4},
	} {
		if got := memShardCount(tc.entries, tc.procs); got != tc.want {
			t.Errorf("memShardCount(%d, %d) = %d, want %d", tc.entries, tc.procs, got, tc.want)
		}
	}
	// The simulator at every acceptance capacity of bench/cachesim_test.go
	// (at most 4950 entries) runs one shard whatever GOMAXPROCS is.
	sim, err := NewMemoryPolicySim(4950)
	if err != nil {
		t.Fatal(err)
	}
	if sim.Shards() != 1 {
		t.Errorf("a 4950-entry simulator has %d shards", sim.Shards())
	}
	// A real tier: shards and capacity per shard add up.
	m := newShardedMemory(t, 64<<20, 256, 2)
	if st := m.Stats(); st.Shards != 8 || st.Capacity != 64<<20 {
		t.Errorf("64 MiB of 256-byte entries on 2 Ps: %d shards, capacity %d; want 8, %d", st.Shards, st.Capacity, 64<<20)
	}
	var sum uint64
	for i := range m.c.shards {
		sum += m.c.shards[i].p.capacity
	}
	if sum > 64<<20 || sum < 64<<20-8 {
		t.Errorf("shard capacities sum to %d, want 64 MiB (less rounding)", sum)
	}
}

// memTestBlock is the content the concurrent test stores under (seg, i):
// it names its key, so a reader can tell a wrong value from a right one.
func memTestBlock(seg, i int) []byte {
	b := make([]byte, 16+(seg*131+i*7)%400)
	binary.LittleEndian.PutUint64(b, uint64(seg))
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	for j := 16; j < len(b); j++ {
		b[j] = byte(seg + i + j)
	}
	return b
}

// TestMemoryConcurrent runs Put, Block, Index and Remove from many goroutines
// (run it under -race) over a sharded tier, checks every value read against
// its key, and checks the accounting once they settle.
func TestMemoryConcurrent(t *testing.T) {
	const (
		capacity = 2 << 20
		segs     = 6
		blocks   = 3000
	)
	m := newShardedMemory(t, capacity, 128, 4) // 16384 expected entries: 4 shards
	if m.Stats().Shards < 2 {
		t.Fatalf("want a sharded tier, have %d shard", m.Stats().Shards)
	}
	ids := make([]segment.ID, segs)
	ixs := make([]*segment.Index, segs)
	for s := range ids {
		ids[s] = segment.NewID()
		ixs[s] = &segment.Index{ID: ids[s], Blocks: make([]segment.BlockHandle, blocks)}
	}
	workers := 4 * runtime.GOMAXPROCS(0)
	ops := 20000
	if testing.Short() {
		ops = 4000
	}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			z := rand.NewZipf(rng, 1.05, 1, blocks-1)
			for range ops {
				s, i := rng.IntN(segs), int(z.Uint64())
				switch r := rng.IntN(100); {
				case r < 55:
					if b, ok := m.Block(ids[s], i); ok && !bytes.Equal(b, memTestBlock(s, i)) {
						errc <- fmt.Errorf("Block(%d, %d) returned the bytes of another key", s, i)
						return
					}
				case r < 85:
					m.PutBlock(ids[s], i, memTestBlock(s, i))
				case r < 90:
					m.RemoveBlock(ids[s], i)
				case r < 95:
					m.PutIndex(ids[s], ixs[s])
				case r < 98:
					if ix, ok := m.Index(ids[s]); ok && ix != ixs[s] {
						errc <- fmt.Errorf("Index(%d) returned another segment's index", s)
						return
					}
				case r < 99:
					if st := m.Stats(); st.Bytes > capacity {
						errc <- fmt.Errorf("Bytes %d over the capacity %d while running", st.Bytes, capacity)
						return
					}
				default:
					if rng.IntN(20) == 0 {
						m.Remove(ids[s])
					}
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	st := m.Stats()
	if st.Bytes > capacity || st.Evictions == 0 || st.Removals == 0 {
		t.Fatalf("Stats %+v: want Bytes <= %d, some evictions and removals", st, capacity)
	}
	var entries, weight int64
	for s := range segs {
		for i := indexMarker; i < blocks; i++ {
			v, ok := m.peek(memKey{ids[s], i})
			if !ok {
				continue
			}
			entries++
			weight += int64(weighMemEntry(v))
			if i != indexMarker && !bytes.Equal(v.block, memTestBlock(s, i)) {
				t.Fatalf("settled: block (%d, %d) holds the bytes of another key", s, i)
			}
		}
	}
	if entries != st.Entries || weight != st.Bytes {
		t.Fatalf("Stats say %d entries of %d bytes; the keys hold %d entries of %d bytes", st.Entries, st.Bytes, entries, weight)
	}
	for i := range m.c.shards {
		m.c.shards[i].p.checkInvariants(t)
	}
}

// TestMemoryAccounting checks, on one goroutine, that every distinct entry
// put is held, evicted, removed or refused as oversized, and that bytes add
// up the same way.
func TestMemoryAccounting(t *testing.T) {
	const capacity = 1 << 20
	m := newShardedMemory(t, capacity, 64, 2) // 16384 expected entries: 4 shards
	shardCap := capacity / int64(m.Stats().Shards)
	rng := rand.New(rand.NewPCG(5, 6))
	id := segment.NewID()
	var puts, putBytes, removedBytes int64
	for i := range 20000 {
		n := 32 + rng.IntN(200)
		if i%1000 == 999 {
			n = int(shardCap) // with the overhead, heavier than a shard
		}
		b := make([]byte, n)
		m.Block(id, i) // a read-through: the miss first
		m.PutBlock(id, i, b)
		puts++
		if int64(weighMemEntry(memValue{block: b})) <= shardCap {
			putBytes += int64(weighMemEntry(memValue{block: b}))
		}
		if i%7 == 0 {
			j := rng.IntN(i + 1)
			if v, ok := m.peek(memKey{id, j}); ok {
				removedBytes += int64(weighMemEntry(v))
			}
			m.RemoveBlock(id, j)
		}
	}
	st := m.Stats()
	t.Logf("%+v", st)
	if st.Oversized != 20 {
		t.Errorf("Oversized %d, want 20", st.Oversized)
	}
	if got := st.Entries + st.Evictions + st.Removals + st.Oversized; got != puts {
		t.Errorf("Entries %d + Evictions %d + Removals %d + Oversized %d = %d, want the %d entries put",
			st.Entries, st.Evictions, st.Removals, st.Oversized, got, puts)
	}
	if got := st.Bytes + st.EvictedBytes + removedBytes; got != putBytes {
		t.Errorf("Bytes %d + EvictedBytes %d + removed %d = %d, want the %d bytes admitted", st.Bytes, st.EvictedBytes, removedBytes, got, putBytes)
	}
	if st.Bytes > capacity {
		t.Errorf("Bytes %d over the capacity %d", st.Bytes, capacity)
	}
}

func TestMemoryOptions(t *testing.T) {
	if _, err := NewMemory(MemoryOptions{CapacityBytes: -1}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("negative capacity: err %v, want Incorrect", err)
	}
	m := newTestMemory(t, 0)
	if c := m.Stats().Capacity; c != DefaultMemoryCapacity() || c < MinMemoryCapacity {
		t.Fatalf("default capacity %d, want DefaultMemoryCapacity() %d >= %d", c, DefaultMemoryCapacity(), MinMemoryCapacity)
	}
	limit, source := MemoryLimit()
	if limit <= 0 || source == "" {
		t.Fatalf("MemoryLimit() = %d, %q", limit, source)
	}
	if src := m.Stats().CapacitySource; !strings.Contains(src, source) {
		t.Fatalf("CapacitySource %q does not name the limit's source %q", src, source)
	}
	t.Logf("default capacity %d: %s", DefaultMemoryCapacity(), m.Stats().CapacitySource)
}

func TestMemoryLimitRespectsGoMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	const soft = 512 << 20
	before, _ := MemoryLimit()
	if before <= soft {
		t.Skipf("the machine's limit %d is already below %d", before, soft)
	}
	debug.SetMemoryLimit(soft)
	limit, source := MemoryLimit()
	if limit != soft || !strings.Contains(source, "Go runtime") {
		t.Fatalf("MemoryLimit() = %d, %q; want %d from the Go runtime", limit, source, soft)
	}
	if got := DefaultMemoryCapacity(); got != soft/4 {
		t.Fatalf("DefaultMemoryCapacity() = %d, want %d", got, soft/4)
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     map[string]string
		cgroup    string
		want      int64
		wantFound bool
	}{
		{
			name:   "v2 nested, parent tighter",
			cgroup: "0::/a/b\n",
			files: map[string]string{
				"sys/fs/cgroup/a/b/memory.max": "max\n",
				"sys/fs/cgroup/a/memory.max":   "1073741824\n",
				"sys/fs/cgroup/memory.max":     "2147483648\n",
			},
			want: 1 << 30, wantFound: true,
		},
		{
			name:   "v2 namespaced root",
			cgroup: "0::/\n",
			files:  map[string]string{"sys/fs/cgroup/memory.max": "536870912"},
			want:   512 << 20, wantFound: true,
		},
		{
			name:   "v2 unlimited",
			cgroup: "0::/x\n",
			files:  map[string]string{"sys/fs/cgroup/x/memory.max": "max"},
		},
		{
			name:   "v1 with unlimited sentinel and a limit",
			cgroup: "9:name=systemd:/\n4:memory:/pa/7b\n0::/\n",
			files: map[string]string{
				"sys/fs/cgroup/memory/pa/7b/memory.limit_in_bytes": "9223372036854771712\n",
				"sys/fs/cgroup/memory/pa/memory.limit_in_bytes":    "3221225472\n",
			},
			want: 3 << 30, wantFound: true,
		},
		{
			name:   "v1 controllers listed together",
			cgroup: "5:cpu,memory:/q\n",
			files:  map[string]string{"sys/fs/cgroup/memory/q/memory.limit_in_bytes": "268435456"},
			want:   256 << 20, wantFound: true,
		},
		{
			name:   "nothing readable",
			cgroup: "garbage\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			got, src, found := cgroupMemoryLimit(fsys, []byte(tc.cgroup))
			if found != tc.wantFound || (found && got != tc.want) {
				t.Fatalf("cgroupMemoryLimit = %d, %q, %v; want %d, %v", got, src, found, tc.want, tc.wantFound)
			}
		})
	}
}

func TestMemoryPolicySim(t *testing.T) {
	if _, err := NewMemoryPolicySim(0); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("capacity 0: err %v, want Incorrect", err)
	}
	// A Zipf-distributed trace with a one-off scan in the middle: W-TinyLFU
	// keeps the hot keys through the scan, LRU does not.
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, 1<<16)
	var trace []uint64
	for i := range 60_000 {
		trace = append(trace, z.Uint64())
		if i == 30_000 {
			for k := range uint64(5000) {
				trace = append(trace, 1<<32+k)
			}
		}
	}
	const capacity = 1000
	replay := func(seed uint64) (hits int) {
		sim, err := NewMemoryPolicySimSeed(capacity, seed)
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		for _, k := range trace {
			if sim.Get(k) {
				hits++
			} else {
				sim.Set(k)
			}
		}
		if n := sim.Len(); n > capacity {
			t.Fatalf("sim holds %d keys, capacity %d", n, capacity)
		}
		return hits
	}
	// Every decision is taken on the caller and the randomness is seeded:
	// the same seed replays the same hits exactly.
	for _, seed := range []uint64{0, 1, 42} {
		if h1, h2 := replay(seed), replay(seed); h1 != h2 {
			t.Fatalf("seed %d: replays differ: %d and %d hits", seed, h1, h2)
		}
	}
	h := replay(0)
	lru := lruHits(trace, capacity)
	t.Logf("hit ratio: memory-tier policy %.2f%% (seed 42: %.2f%%), LRU %.2f%%",
		100*float64(h)/float64(len(trace)), 100*float64(replay(42))/float64(len(trace)), 100*float64(lru)/float64(len(trace)))
	if h < lru {
		t.Fatalf("W-TinyLFU %d hits < LRU %d on a skewed trace with a scan", h, lru)
	}
}

// lruHits is an obviously-right LRU, for comparison.
func lruHits(trace []uint64, capacity int) (hits int) {
	type node struct {
		key        uint64
		prev, next *node
	}
	head := &node{}
	head.prev, head.next = head, head
	at := map[uint64]*node{}
	unlink := func(n *node) { n.prev.next, n.next.prev = n.next, n.prev }
	front := func(n *node) { n.next, n.prev = head.next, head; head.next.prev = n; head.next = n }
	for _, k := range trace {
		if n, ok := at[k]; ok {
			hits++
			unlink(n)
			front(n)
			continue
		}
		if len(at) == capacity {
			v := head.prev
			unlink(v)
			delete(at, v.key)
		}
		n := &node{key: k}
		at[k] = n
		front(n)
	}
	return hits
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func newOtterRef(b testing.TB, capacity uint64) *otter.Cache[memKey, memValue] {
	b.Helper()
	c, err := otter.New(&otter.Options[memKey, memValue]{
		MaximumWeight: capacity,
		Weigher:       func(_ memKey, v memValue) uint32 { return weighMemEntry(v) },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.StopAllGoroutines() })
	return c
}

// BenchmarkMemoryHit measures a memory hit (Memory.Block of a held block)
// beside a raw otter GetIfPresent on the same keys and blocks (the tier's
// former library, the reference, measured in the same run), on one
// goroutine and with b.RunParallel. The blocks weigh what default-size
// decoded blocks weigh (they share one buffer, so a gigabyte tier costs
// 32 KiB); 80% of the capacity is held and read uniformly at random. At
// 64 MiB the tier expects 2,000 blocks and has one shard, so the parallel
// case shows what contention on one lock costs; at 4 GiB it has
// memShardsPerProc shards per P. x-otter is ns/op over otter's.
func BenchmarkMemoryHit(b *testing.B) {
	buf := make([]byte, segment.DefaultBlockSize)
	for _, capacity := range []int64{64 << 20, 4 << 30} {
		keys := make([]memKey, int(float64(capacity)*0.8)/memTypicalWeight)
		ids := []segment.ID{segment.NewID(), segment.NewID(), segment.NewID()}
		for i := range keys {
			keys[i] = memKey{ids[i%len(ids)], i / len(ids)}
		}
		mem, err := NewMemory(MemoryOptions{CapacityBytes: capacity})
		if err != nil {
			b.Fatal(err)
		}
		ref := newOtterRef(b, uint64(capacity))
		for _, k := range keys {
			mem.PutBlock(k.id, k.block, buf)
			ref.Set(k, memValue{block: buf})
		}
		ref.CleanUp()
		rng := rand.New(rand.NewPCG(1, 2))
		order := make([]int32, 1<<16)
		for i := range order {
			order[i] = int32(rng.IntN(len(keys)))
		}
		caches := []struct {
			name string
			get  func(memKey) bool
		}{
			{"ref=otter", func(k memKey) bool { _, ok := ref.GetIfPresent(k); return ok }},
			{"memory", func(k memKey) bool { _, ok := mem.Block(k.id, k.block); return ok }},
		}
		for _, par := range []bool{false, true} {
			refNs := 0.0
			for _, c := range caches {
				name := fmt.Sprintf("capacity=%dMiB/shards=%d/parallel=%v/%s", capacity>>20, mem.Stats().Shards, par, c.name)
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					var misses, next int64
					var mu sync.Mutex
					if par {
						b.RunParallel(func(pb *testing.PB) {
							mu.Lock()
							i := next * 7919
							next++
							mu.Unlock()
							miss := int64(0)
							for pb.Next() {
								if !c.get(keys[order[i&(1<<16-1)]]) {
									miss++
								}
								i++
							}
							mu.Lock()
							misses += miss
							mu.Unlock()
						})
					} else {
						for i := 0; b.Loop(); i++ {
							if !c.get(keys[order[i&(1<<16-1)]]) {
								misses++
							}
						}
					}
					ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
					if c.name == "ref=otter" {
						refNs = ns
					} else if refNs > 0 {
						b.ReportMetric(ns/refNs, "x-otter")
					}
					b.ReportMetric(100*float64(misses)/float64(b.N), "miss%")
				})
			}
		}
	}
}
