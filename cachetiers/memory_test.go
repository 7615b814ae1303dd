package cachetiers

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"

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
	m.c.CleanUp() // run pending maintenance now rather than on otter's goroutine
	st := m.Stats()
	if st.Bytes > capacity {
		t.Fatalf("Bytes %d exceed the capacity %d", st.Bytes, capacity)
	}
	if st.Evictions == 0 || st.EvictedBytes < 4096*(200-capacity/4096) {
		t.Fatalf("Evictions %d (%d bytes): want about %d blocks evicted", st.Evictions, st.EvictedBytes, 200-capacity/4096)
	}
	// One block larger than the whole capacity is not held.
	m.PutBlock(id, 1000, make([]byte, 2*capacity))
	m.c.CleanUp()
	if _, ok := m.Block(id, 1000); ok {
		t.Fatal("a block larger than the capacity is held")
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
	replay := func() (hits int) {
		sim, err := NewMemoryPolicySim(capacity)
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
	// otter seeds its hashes and admits a warm candidate at random now and
	// then (Caffeine's defence against hash flooding), so two replays may
	// differ, but only by a hair.
	h1, h2 := replay(), replay()
	if d := abs(h1 - h2); d > len(trace)/200 {
		t.Fatalf("replays differ by %d hits of %d", d, len(trace))
	}
	lru := lruHits(trace, capacity)
	t.Logf("hit ratio: memory-tier policy %.2f%%, LRU %.2f%%", 100*float64(h1)/float64(len(trace)), 100*float64(lru)/float64(len(trace)))
	if h1 < lru {
		t.Fatalf("W-TinyLFU %d hits < LRU %d on a skewed trace with a scan", h1, lru)
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
