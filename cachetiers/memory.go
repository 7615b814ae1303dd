package cachetiers

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

// The memory tier holds what the tiers below it cannot: decoded blocks and
// parsed segment indexes, so that a hit costs no I/O, no checksum and no
// decompression.
//
// Its policy is otter's W-TinyLFU, the design of Caffeine (Einziger, Friedman
// and Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", ACM ToS
// 2017): a small LRU window in front of a segmented LRU main region, with a
// count-min sketch of recent access frequencies deciding whether a candidate
// evicted from the window may displace the main region's victim, and a
// hill climber resizing the window to the workload. Scans of history or of a
// large index therefore pass through the window without flushing the hot
// blocks of the current database. Entries are weighted by their decoded size
// in bytes, so the capacity is a byte budget.

const (
	// DefaultMemoryFraction is the share of the process's memory limit that
	// the memory tier takes when MemoryOptions.CapacityBytes is zero: one
	// quarter, which leaves room for the Go heap's own headroom (GOGC=100
	// doubles the live heap before a collection), the memory index, query
	// working sets and the kernel's page cache for the efs tier.
	DefaultMemoryFraction = 0.25

	// MinMemoryCapacity is the smallest default capacity: below this the
	// tier cannot hold the indexes of a working set and is not worth its
	// bookkeeping. An explicit CapacityBytes may be smaller (tests use that).
	MinMemoryCapacity = 16 << 20

	// memEntryOverhead estimates, in bytes, what otter's node, the key and
	// the slice or pointer header cost beside the payload of one entry.
	memEntryOverhead = 96

	// indexMarker is the block number under which a segment's Index is held.
	indexMarker = -1
)

// MemoryOptions configure a Memory tier.
type MemoryOptions struct {
	// CapacityBytes bounds the decoded bytes held (blocks, plus an estimate
	// of each index's size). Zero means DefaultMemoryCapacity().
	CapacityBytes int64
}

// Memory is the memory tier: decoded blocks keyed by (segment, block number)
// and parsed segment indexes keyed by segment, in one byte-weighted otter
// cache with W-TinyLFU admission.
//
// Values handed to Put are kept, not copied, and values returned by Block
// are shared with the cache and other readers: callers must treat both as
// read-only.
//
// A Memory is safe for concurrent use.
type Memory struct {
	c         *otter.Cache[memKey, memValue]
	rec       *evictionRecorder
	capacity  int64
	source    string       // MemoryStats.CapacitySource
	removed   atomic.Int64 // entries dropped by Remove*
	closeOnce atomic.Bool
}

type memKey struct {
	id    segment.ID
	block int // indexMarker for the segment's Index
}

type memValue struct {
	block []byte
	index *segment.Index
}

// MemoryStats are the memory tier's own counters.
type MemoryStats struct {
	Entries        int64  // blocks and indexes held (an estimate while maintenance is pending)
	Bytes          int64  // weighted bytes held
	Capacity       int64  // bytes it may hold
	Evictions      int64  // entries evicted by the policy (not removals)
	EvictedBytes   int64  // weighted bytes evicted by the policy
	Removals       int64  // entries dropped by Remove, RemoveBlock or RemoveIndex
	CapacitySource string // where the capacity came from: "option", or the memory limit's source
}

// NewMemory returns an empty memory tier.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	capacity, source := opts.CapacityBytes, "option"
	switch {
	case capacity < 0:
		return nil, anomaly.New(anomaly.Incorrect, "new memory tier", "CapacityBytes %d is negative", capacity)
	case capacity == 0:
		capacity, source = defaultMemoryCapacity()
	}
	rec := new(evictionRecorder)
	c, err := newPolicyCache(uint64(capacity), weighMemEntry, rec, nil)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "new memory tier", err)
	}
	return &Memory{c: c, rec: rec, capacity: capacity, source: source}, nil
}

// newPolicyCache builds the otter cache of the memory tier's policy. It is
// the one place where that configuration lives, so that the policy simulator
// (NewMemoryPolicySim) replays traces against exactly what Memory runs.
//
// executor nil is otter's default (maintenance on goroutines). The simulator
// passes a synchronous one so that a replay on one goroutine does not depend
// on scheduling; that changes when maintenance runs, not what it decides.
func newPolicyCache[K comparable, V any](maxWeight uint64, weigh func(K, V) uint32, rec stats.Recorder, executor func(func())) (*otter.Cache[K, V], error) {
	if maxWeight == 0 {
		return nil, fmt.Errorf("capacity must be positive")
	}
	return otter.New(&otter.Options[K, V]{
		MaximumWeight: maxWeight,
		Weigher:       weigh,
		StatsRecorder: rec,
		Executor:      executor,
	})
}

// evictionRecorder is an otter stats.Recorder that counts evictions only.
// Hits and misses are counted by Stratified, which knows what a lookup was
// for; otter's own counter (stats.Counter) would count them a second time at
// about 13% of a memory hit's cost (measured with
// BenchmarkStratifiedMemoryHit's CPU profile).
type evictionRecorder struct {
	evictions, evictedWeight atomic.Int64
}

func (r *evictionRecorder) RecordHits(int)                  {}
func (r *evictionRecorder) RecordMisses(int)                {}
func (r *evictionRecorder) RecordLoadSuccess(time.Duration) {}
func (r *evictionRecorder) RecordLoadFailure(time.Duration) {}
func (r *evictionRecorder) RecordEviction(weight uint32) {
	r.evictions.Add(1)
	r.evictedWeight.Add(int64(weight))
}

func weighMemEntry(_ memKey, v memValue) uint32 {
	w := int64(memEntryOverhead)
	if v.index != nil {
		w += indexWeight(v.index)
	} else {
		w += int64(cap(v.block))
	}
	return uint32(min(w, math.MaxUint32))
}

// indexWeight estimates the heap bytes of a parsed index: the struct, one
// BlockHandle per block with its first key, and the last key.
func indexWeight(ix *segment.Index) int64 {
	const (
		indexStruct = 128 // ID, sizes, slice headers
		handle      = 64  // BlockHandle: slice header + 4 words
	)
	w := int64(indexStruct + len(ix.LastKey))
	for i := range ix.Blocks {
		w += handle + int64(cap(ix.Blocks[i].FirstKey))
	}
	return w
}

// Block returns the decoded block i of segment id, if held.
func (m *Memory) Block(id segment.ID, i int) ([]byte, bool) {
	v, ok := m.c.GetIfPresent(memKey{id, i})
	if !ok || v.index != nil {
		return nil, false
	}
	return v.block, true
}

// PutBlock holds decoded block i of segment id. b is kept, not copied.
// A block that alone exceeds the capacity is not held.
func (m *Memory) PutBlock(id segment.ID, i int, b []byte) {
	if i < 0 {
		panic(fmt.Sprintf("cachetiers: Memory.PutBlock: block %d of segment %s is negative", i, id.Short()))
	}
	m.c.Set(memKey{id, i}, memValue{block: b})
}

// Index returns the parsed index of segment id, if held.
func (m *Memory) Index(id segment.ID) (*segment.Index, bool) {
	v, ok := m.c.GetIfPresent(memKey{id, indexMarker})
	if !ok || v.index == nil {
		return nil, false
	}
	return v.index, true
}

// PutIndex holds the parsed index of segment id. ix is kept, not copied.
func (m *Memory) PutIndex(id segment.ID, ix *segment.Index) {
	if ix == nil {
		panic("cachetiers: Memory.PutIndex: nil index for segment " + id.Short())
	}
	m.c.Set(memKey{id, indexMarker}, memValue{index: ix})
}

// peek returns the entry under key without recording an access or a hit.
func (m *Memory) peek(key memKey) (memValue, bool) {
	e, ok := m.c.GetEntryQuietly(key)
	if !ok {
		return memValue{}, false
	}
	return e.Value, true
}

// RemoveBlock drops block i of segment id, if held.
func (m *Memory) RemoveBlock(id segment.ID, i int) {
	if _, ok := m.c.Invalidate(memKey{id, i}); ok {
		m.removed.Add(1)
	}
}

// RemoveIndex drops the index of segment id, if held.
func (m *Memory) RemoveIndex(id segment.ID) { m.RemoveBlock(id, indexMarker) }

// Remove drops everything held for segment id. With the segment's index held
// it drops exactly its blocks; without it, it scans the cache's keys, which
// costs O(entries) — acceptable for what calls it (a segment's deletion).
func (m *Memory) Remove(id segment.ID) {
	if ix, ok := m.c.GetEntryQuietly(memKey{id, indexMarker}); ok && ix.Value.index != nil {
		for i := range ix.Value.index.Blocks {
			m.RemoveBlock(id, i)
		}
		m.RemoveIndex(id)
		return
	}
	var drop []memKey
	for k := range m.c.Keys() {
		if k.id == id {
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		m.RemoveBlock(k.id, k.block)
	}
}

// Stats returns the tier's counters.
func (m *Memory) Stats() MemoryStats {
	return MemoryStats{
		Entries:        int64(m.c.EstimatedSize()),
		Bytes:          int64(m.c.WeightedSize()),
		Capacity:       m.capacity,
		Evictions:      m.rec.evictions.Load(),
		EvictedBytes:   m.rec.evictedWeight.Load(),
		Removals:       m.removed.Load(),
		CapacitySource: m.source,
	}
}

// Close stops the cache's background goroutines. The tier must not be used after.
func (m *Memory) Close() error {
	if m.closeOnce.CompareAndSwap(false, true) {
		m.c.StopAllGoroutines()
	}
	return nil
}

// MemoryPolicySim is the memory tier's eviction policy with unit weights, for
// replaying key traces (strata bench cache): the same otter configuration as
// Memory, built by the same function, holding at most capacity keys.
// It is meant for one goroutine: maintenance runs synchronously on the
// caller, so a replay does not depend on goroutine scheduling. It is not
// bit-for-bit repeatable: otter seeds its hashes per cache and, as Caffeine
// does against hash flooding, admits a warm candidate at random now and then;
// two replays of a trace differ by a few hits in ten thousand.
type MemoryPolicySim struct {
	c *otter.Cache[uint64, struct{}]
}

// NewMemoryPolicySim returns the memory tier's policy holding at most
// capacityEntries keys. A replay does, per key: if !sim.Get(k) { sim.Set(k) }.
func NewMemoryPolicySim(capacityEntries int) (*MemoryPolicySim, error) {
	if capacityEntries <= 0 {
		return nil, anomaly.New(anomaly.Incorrect, "new memory policy sim", "capacity %d must be positive", capacityEntries)
	}
	unit := func(uint64, struct{}) uint32 { return 1 }
	sync := func(fn func()) { fn() }
	c, err := newPolicyCache(uint64(capacityEntries), unit, &stats.NoopRecorder{}, sync)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "new memory policy sim", err)
	}
	return &MemoryPolicySim{c: c}, nil
}

// Get reports whether key is held, and records the access for the policy.
func (s *MemoryPolicySim) Get(key uint64) bool {
	_, ok := s.c.GetIfPresent(key)
	return ok
}

// Set offers key to the policy, which may admit it or (W-TinyLFU's
// admission) evict it at once in favour of a more frequent key.
func (s *MemoryPolicySim) Set(key uint64) { s.c.Set(key, struct{}{}) }

// Len returns the number of keys held.
func (s *MemoryPolicySim) Len() int { return s.c.EstimatedSize() }

// Close releases the simulator's resources.
func (s *MemoryPolicySim) Close() { s.c.StopAllGoroutines() }

// DefaultMemoryCapacity returns DefaultMemoryFraction of the process's
// memory limit (see MemoryLimit), and at least MinMemoryCapacity.
func DefaultMemoryCapacity() int64 {
	c, _ := defaultMemoryCapacity()
	return c
}

func defaultMemoryCapacity() (int64, string) {
	limit, source := MemoryLimit()
	c := max(int64(float64(limit)*DefaultMemoryFraction), MinMemoryCapacity)
	return c, fmt.Sprintf("%g of %d bytes, the %s", DefaultMemoryFraction, limit, source)
}

// MemoryLimit returns the memory this process may use and where that figure
// came from: the smallest of the cgroup limit (v2 memory.max or v1
// memory.limit_in_bytes, of the process's cgroup and its ancestors), the Go
// runtime's soft limit if one was set (debug.SetMemoryLimit or GOMEMLIMIT),
// and physical memory (sysinfo). A container's limit is what matters: the
// kernel kills the process at the cgroup limit however much the host has.
func MemoryLimit() (limit int64, source string) {
	limit, source = math.MaxInt64, "none"
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err == nil {
		if phys := int64(si.Totalram) * int64(si.Unit); phys > 0 {
			limit, source = phys, "physical memory (sysinfo)"
		}
	}
	procCgroup, _ := os.ReadFile("/proc/self/cgroup")
	if cg, src, ok := cgroupMemoryLimit(os.DirFS("/").(fs.ReadFileFS), procCgroup); ok && cg < limit {
		limit, source = cg, src
	}
	if soft := debug.SetMemoryLimit(-1); soft > 0 && soft < limit {
		limit, source = soft, "Go runtime memory limit"
	}
	if limit == math.MaxInt64 {
		// No figure at all (not Linux-like): assume a small machine.
		limit, source = 4<<30, "assumed 4 GiB"
	}
	return limit, source
}

// cgroupMemoryLimit finds the tightest cgroup memory limit of the process
// described by procCgroup (the contents of /proc/self/cgroup), reading limit
// files under sysfs, a file system rooted at "/". It walks from the process's
// cgroup up to the root, since a parent's limit binds its children too, and
// also reads the mount's root file, which is the process's own cgroup when a
// cgroup namespace hides the path.
func cgroupMemoryLimit(sysfs fs.ReadFileFS, procCgroup []byte) (int64, string, bool) {
	best, src, found := int64(math.MaxInt64), "", false
	try := func(file string) {
		b, err := sysfs.ReadFile(file)
		if err != nil {
			return
		}
		s := strings.TrimSpace(string(b))
		if s == "max" || s == "" {
			return
		}
		v, err := strconv.ParseInt(s, 10, 64)
		// cgroup v1 reports "no limit" as a huge page-aligned number.
		if err != nil || v <= 0 || v >= 1<<60 {
			return
		}
		if v < best {
			best, src, found = v, "cgroup limit /"+file, true
		}
	}
	walk := func(dir, rel, file string) {
		rel = path.Clean("/" + rel)
		for {
			try(path.Join(dir, rel, file)[1:])
			if rel == "/" {
				return
			}
			rel = path.Dir(rel)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			walk("/sys/fs/cgroup", parts[2], "memory.max")
			walk("/sys/fs/cgroup/unified", parts[2], "memory.max")
		case hasController(parts[1], "memory"):
			walk("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes")
		}
	}
	if !found {
		try("sys/fs/cgroup/memory.max")
		try("sys/fs/cgroup/memory/memory.limit_in_bytes")
	}
	return best, src, found
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}
