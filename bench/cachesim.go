package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
)

// Policy names, as `strata bench cache` prints them.
const (
	PolicyMemoryTier = "memory-tier" // the memory tier's sharded cache with unit weights, see NewMemoryTier
	PolicyLRU        = "lru"         // least recently used, see NewLRU
	PolicyOptimal    = "optimal"     // Bélády's MIN with bypass, see NewOptimal
	PolicyWTinyLFU   = "wtinylfu"    // the tier's policy alone, unsharded, see NewWTinyLFU
)

// DefaultPolicies are the policies SimulateCache replays, the three that
// issue 2 asks `strata bench cache` to print.
var DefaultPolicies = []string{PolicyMemoryTier, PolicyLRU, PolicyOptimal}

// KnownPolicies are every policy SimulateCachePolicies accepts.
var KnownPolicies = []string{PolicyMemoryTier, PolicyLRU, PolicyOptimal, PolicyWTinyLFU}

// Policy is a cache eviction policy under simulation: a set of at most some
// capacity of keys, each weighing one.
type Policy interface {
	// Name is the policy's name in reports, e.g. "lru".
	Name() string
	// Access looks key up, reports whether it was present, and on a miss lets
	// the policy decide whether to insert it and what to evict.
	Access(key uint64) (hit bool)
}

// Replay runs every key of trace through p in order and returns the number of hits.
func Replay(trace []uint64, p Policy) (hits int) {
	for _, k := range trace {
		if p.Access(k) {
			hits++
		}
	}
	return hits
}

// CacheResult is one policy's score on one trace at one capacity.
type CacheResult struct {
	Capacity int    // entries
	Policy   string // PolicyMemoryTier, PolicyLRU or PolicyOptimal
	Accesses int    // every access of the trace, cold misses included
	Hits     int
}

// HitRatio is Hits / Accesses, in [0, 1].
func (r CacheResult) HitRatio() float64 {
	if r.Accesses == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Accesses)
}

// String is the result's report line, which scripts parse:
//
//	capacity=1000 policy=memory-tier hit=47.12%
func (r CacheResult) String() string {
	return fmt.Sprintf("capacity=%d policy=%s hit=%.2f%%", r.Capacity, r.Policy, 100*r.HitRatio())
}

// SimulateCache replays trace at each capacity (in entries) against the
// memory tier's policy, LRU and Bélády's optimal, and returns one result per
// capacity and policy, in that order. Every access is counted, including the
// cold misses of first accesses.
func SimulateCache(trace []uint64, capacities []int) ([]CacheResult, error) {
	return SimulateCachePolicies(trace, capacities, DefaultPolicies)
}

// SimulateCachePolicies is SimulateCache for the named policies (of
// KnownPolicies), in the order given.
func SimulateCachePolicies(trace []uint64, capacities []int, policies []string) ([]CacheResult, error) {
	for _, name := range policies {
		if !slices.Contains(KnownPolicies, name) {
			return nil, anomaly.New(anomaly.Incorrect, "simulate cache", "unknown policy %q (known: %s)", name, strings.Join(KnownPolicies, ", "))
		}
	}
	if len(trace) == 0 {
		return nil, anomaly.New(anomaly.Incorrect, "simulate cache", "empty trace")
	}
	for _, c := range capacities {
		if c < 1 || c > CapacityMax {
			return nil, anomaly.New(anomaly.Incorrect, "simulate cache", "capacity %d out of range [1, %d]", c, CapacityMax)
		}
	}
	future, err := NewFuture(trace)
	if err != nil {
		return nil, err
	}
	results := make([]CacheResult, 0, len(policies)*len(capacities))
	for _, c := range capacities {
		for _, name := range policies {
			var p Policy
			switch name {
			case PolicyMemoryTier:
				p = NewMemoryTier(c)
			case PolicyLRU:
				p = NewLRU(c)
			case PolicyOptimal:
				p = NewOptimal(future, c, true)
			case PolicyWTinyLFU:
				p = NewWTinyLFU(c, 1)
			}
			results = append(results, CacheResult{
				Capacity: c,
				Policy:   p.Name(),
				Accesses: len(trace),
				Hits:     Replay(trace, p),
			})
			if closer, ok := p.(interface{ Close() }); ok {
				closer.Close()
			}
		}
	}
	return results, nil
}

// WriteCacheGaps writes, for each capacity in results (as SimulateCache
// returns them), the memory tier's hit ratio minus LRU's and its gap to the
// optimal, in percentage points, one line per capacity:
//
//	capacity=1000 memory-tier-lru=+1.23 optimal-memory-tier=4.56 (points)
func WriteCacheGaps(w io.Writer, results []CacheResult) error {
	type scores struct{ mem, lru, opt float64 }
	var order []int
	by := map[int]*scores{}
	for _, r := range results {
		s := by[r.Capacity]
		if s == nil {
			s = &scores{math.NaN(), math.NaN(), math.NaN()}
			by[r.Capacity] = s
			order = append(order, r.Capacity)
		}
		switch r.Policy {
		case PolicyMemoryTier:
			s.mem = 100 * r.HitRatio()
		case PolicyLRU:
			s.lru = 100 * r.HitRatio()
		case PolicyOptimal:
			s.opt = 100 * r.HitRatio()
		}
	}
	for _, c := range order {
		s := by[c]
		if _, err := fmt.Fprintf(w, "capacity=%d memory-tier-lru=%+.2f optimal-memory-tier=%.2f (points)\n",
			c, s.mem-s.lru, s.opt-s.mem); err != nil {
			return err
		}
	}
	return nil
}

// CapacityMax bounds a simulated capacity, in entries: LRU's list links are int32.
const CapacityMax = math.MaxInt32 - 1

func checkCapacity(policy string, capacity int) {
	if capacity < 1 || capacity > CapacityMax {
		panic(fmt.Sprintf("bench: %s capacity %d out of range [1, %d]", policy, capacity, CapacityMax))
	}
}

// ---- memory tier ----

// memoryTier adapts the memory tier's policy simulator to Policy.
type memoryTier struct {
	sim *cachetiers.MemoryPolicySim
}

// NewMemoryTier returns the memory tier's cache holding capacity entries of
// weight one: cachetiers.NewMemoryPolicySim, which builds the tier's sharded
// cache with the very function the memory tier uses (the same shard rule,
// the same key hashing, the same adaptive W-TinyLFU per shard: Einziger,
// Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
// ACM ToS 2017, with the window sized by mini-simulations as in Einziger et
// al., "Adaptive Software Cache Management", Middleware 2018), so that what
// is measured is what the tier runs. At the capacities of issue 2's traces
// the shard rule gives one shard.
//
// Determinism. Every decision is taken on the calling goroutine and the
// policy's randomness (hashing, and admitting a warm candidate that ties
// with the victim now and then) is seeded: a replay with the default seed
// gives the same hits every time (for capacities of 8192 entries and more,
// on machines with the same GOMAXPROCS, which sets the shard count).
func NewMemoryTier(capacity int) Policy {
	checkCapacity(PolicyMemoryTier, capacity)
	sim, err := cachetiers.NewMemoryPolicySim(capacity)
	if err != nil {
		// The capacity was checked: an error here is a bug in the tier.
		panic(fmt.Sprintf("bench: memory tier policy at capacity %d: %v", capacity, err))
	}
	return &memoryTier{sim: sim}
}

func (m *memoryTier) Name() string { return PolicyMemoryTier }

func (m *memoryTier) Access(key uint64) bool {
	if m.sim.Get(key) {
		return true
	}
	m.sim.Set(key)
	return false
}

// Close releases the simulator's resources.
func (m *memoryTier) Close() { m.sim.Close() }

// ---- adaptive W-TinyLFU ----

type wtinylfu struct {
	p *cachetiers.WTinyLFU[uint64, struct{}]
}

// NewWTinyLFU returns cachetiers.WTinyLFU, the memory tier's adaptive
// W-TinyLFU policy, alone: default options, unit weights, the given seed, one
// instance however large the capacity (the tier shards from 8192 entries
// up), and a hash of its own. It is kept to tune the policy and to compare
// with memory-tier, which differs from it below 8192 entries only by the key
// hashing (so by a few hits on tie admissions and sketch collisions).
func NewWTinyLFU(capacity int, seed uint64) Policy {
	return NewWTinyLFUWith(cachetiers.WTinyLFUOptions{Capacity: uint64(capacity), Seed: seed})
}

// NewWTinyLFUWith is NewWTinyLFU with explicit options, for tuning.
func NewWTinyLFUWith(opts cachetiers.WTinyLFUOptions) Policy {
	checkCapacity(PolicyWTinyLFU, int(min(opts.Capacity, math.MaxInt32)))
	seed := opts.Seed
	p, err := cachetiers.NewWTinyLFU[uint64, struct{}](opts, func(k uint64) uint64 { return mix64(k ^ seed) })
	if err != nil {
		panic(fmt.Sprintf("bench: wtinylfu: %v", err))
	}
	return &wtinylfu{p: p}
}

// mix64 is SplitMix64's finalizer (Steele, Lea and Flood, OOPSLA 2014).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (w *wtinylfu) Name() string           { return PolicyWTinyLFU }
func (w *wtinylfu) Access(key uint64) bool { return w.p.Access(key, 1) }

// ---- LRU ----

// LRU is the least-recently-used policy: a map from key to a slot of an
// intrusive doubly linked list kept in one slice, so an access is O(1) and
// allocates nothing once the cache is full.
type LRU struct {
	capacity int
	index    map[uint64]int32 // key → slot
	// slots[0] is the sentinel of a circular list: slots[0].next is the most
	// recently used slot, slots[0].prev the least recently used one.
	slots []lruSlot
}

type lruSlot struct {
	prev, next int32
	key        uint64
}

// NewLRU returns an empty LRU policy that holds up to capacity keys.
func NewLRU(capacity int) *LRU {
	checkCapacity(PolicyLRU, capacity)
	prealloc := min(capacity, 1<<20) // grow past this as keys arrive
	l := &LRU{
		capacity: capacity,
		index:    make(map[uint64]int32, prealloc),
		slots:    make([]lruSlot, 1, prealloc+1),
	}
	return l
}

// Name returns PolicyLRU.
func (l *LRU) Name() string { return PolicyLRU }

// Len returns the number of keys held.
func (l *LRU) Len() int { return len(l.index) }

// Access reports whether key is held, makes it the most recently used key,
// and on a miss inserts it, evicting the least recently used key when full.
func (l *LRU) Access(key uint64) bool {
	if s, ok := l.index[key]; ok {
		l.unlink(s)
		l.pushFront(s)
		return true
	}
	var s int32
	if len(l.index) < l.capacity {
		s = int32(len(l.slots))
		l.slots = append(l.slots, lruSlot{})
	} else {
		s = l.slots[0].prev
		delete(l.index, l.slots[s].key)
		l.unlink(s)
	}
	l.slots[s].key = key
	l.index[key] = s
	l.pushFront(s)
	return false
}

func (l *LRU) unlink(s int32) {
	p, n := l.slots[s].prev, l.slots[s].next
	l.slots[p].next = n
	l.slots[n].prev = p
}

func (l *LRU) pushFront(s int32) {
	first := l.slots[0].next
	l.slots[s].prev = 0
	l.slots[s].next = first
	l.slots[first].prev = s
	l.slots[0].next = s
}

// ---- Bélády's optimal ----

// Future is a trace with, for each access, the position of the next access
// to the same key: what Bélády's policy needs to know. It is built once per
// trace and shared by Optimal policies of every capacity.
type Future struct {
	keys []uint64
	// next[i] is the position of the next access to keys[i] after i, or
	// len(keys)+i when there is none: "never again" sorts after every real
	// use and is still unique, so a position identifies one access, and its
	// key is keys[p] (or keys[p-len(keys)]).
	next     []int32
	distinct int
}

// NewFuture computes the next-use index of trace in one backward pass. The
// trace must have at most 2^30 accesses (TraceKeysMaxDefault is far below).
func NewFuture(trace []uint64) (*Future, error) {
	n := len(trace)
	if n > traceKeysMaxLimit {
		return nil, anomaly.New(anomaly.Incorrect, "optimal policy", "trace of %d accesses exceeds the limit of %d", n, traceKeysMaxLimit)
	}
	next := make([]int32, n)
	last := make(map[uint64]int32, min(n, 1<<20))
	for i := n - 1; i >= 0; i-- {
		k := trace[i]
		if j, ok := last[k]; ok {
			next[i] = j
		} else {
			next[i] = int32(n + i)
		}
		last[k] = int32(i)
	}
	return &Future{keys: trace, next: next, distinct: len(last)}, nil
}

// Len returns the number of accesses.
func (f *Future) Len() int { return len(f.keys) }

// DistinctKeys returns the number of different keys in the trace.
func (f *Future) DistinctKeys() int { return f.distinct }

func (f *Future) keyAt(p int32) uint64 {
	if int(p) >= len(f.keys) {
		return f.keys[int(p)-len(f.keys)]
	}
	return f.keys[p]
}

// Optimal is Bélády's MIN policy (L. A. Bélády, "A study of replacement
// algorithms for a virtual-storage computer", IBM Systems Journal 5(2), 1966):
// on a miss with the cache full, evict the key whose next use is farthest in
// the future. It knows the future, so it must be replayed on exactly the
// trace its Future was built from, from the start; Access panics otherwise.
//
// With bypass, a missed key whose next use is farther than every held key's is
// not inserted at all. That is the optimum over all policies that may decline
// to cache a key, which includes admission policies such as TinyLFU, so it
// bounds the memory tier's hit ratio from above; without bypass it is the
// classic demand-paging MIN, which always inserts, and bounds LRU. Bypass
// never scores lower.
//
// The held keys sit in a max-heap on next-use position with lazy deletion: a
// hit pushes the key's new position and leaves the old one, which is
// recognized as stale when it surfaces (the key's current position differs).
// The heap is rebuilt from the held keys when stale entries outnumber them,
// so it stays within O(capacity) and an access costs O(log capacity)
// amortized: O(n log c) for a trace of n accesses.
type Optimal struct {
	future   *Future
	capacity int
	bypass   bool
	pos      int              // next access expected: future.keys[pos]
	held     map[uint64]int32 // key → position of its next use
	heap     []int32          // next-use positions, max-heap, possibly stale
}

// NewOptimal returns Bélády's policy for the trace of f holding up to
// capacity keys; bypass selects whether a miss may skip insertion (see Optimal).
func NewOptimal(f *Future, capacity int, bypass bool) *Optimal {
	checkCapacity(PolicyOptimal, capacity)
	prealloc := min(capacity, f.distinct)
	return &Optimal{
		future:   f,
		capacity: capacity,
		bypass:   bypass,
		held:     make(map[uint64]int32, prealloc),
		heap:     make([]int32, 0, 2*prealloc+1),
	}
}

// Name returns PolicyOptimal.
func (o *Optimal) Name() string { return PolicyOptimal }

// Access processes the next access of the trace, which must be key.
func (o *Optimal) Access(key uint64) bool {
	i := o.pos
	if i >= len(o.future.keys) || o.future.keys[i] != key {
		want := "past the end"
		if i < len(o.future.keys) {
			want = fmt.Sprintf("want %d", o.future.keys[i])
		}
		panic(fmt.Sprintf("bench: Optimal.Access(%d) at position %d does not follow its trace (%s)", key, i, want))
	}
	o.pos++
	nx := o.future.next[i]
	if _, ok := o.held[key]; ok {
		o.held[key] = nx
		o.push(nx)
		return true
	}
	if len(o.held) >= o.capacity {
		victim := o.farthest()
		if o.bypass && nx > victim {
			return false
		}
		o.popTop()
		delete(o.held, o.future.keyAt(victim))
	}
	o.held[key] = nx
	o.push(nx)
	return false
}

// farthest drops stale heap entries from the top and returns the held key's
// next-use position that is farthest away, leaving it on the heap.
func (o *Optimal) farthest() int32 {
	for {
		top := o.heap[0]
		if p, ok := o.held[o.future.keyAt(top)]; ok && p == top {
			return top
		}
		o.popTop()
	}
}

func (o *Optimal) push(p int32) {
	if len(o.heap) >= 2*o.capacity+64 {
		o.rebuild()
	}
	h := append(o.heap, p)
	for c := len(h) - 1; c > 0; {
		parent := (c - 1) / 2
		if h[parent] >= h[c] {
			break
		}
		h[parent], h[c] = h[c], h[parent]
		c = parent
	}
	o.heap = h
}

func (o *Optimal) popTop() {
	h := o.heap
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	o.heap = h
	o.siftDown(0)
}

func (o *Optimal) siftDown(i int) {
	h := o.heap
	for {
		big := i
		if l := 2*i + 1; l < len(h) && h[l] > h[big] {
			big = l
		}
		if r := 2*i + 2; r < len(h) && h[r] > h[big] {
			big = r
		}
		if big == i {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// rebuild replaces the heap by the held keys' current positions, dropping
// every stale entry, in O(capacity).
func (o *Optimal) rebuild() {
	h := o.heap[:0]
	for _, p := range o.held {
		h = append(h, p)
	}
	o.heap = h
	for i := len(h)/2 - 1; i >= 0; i-- {
		o.siftDown(i)
	}
}
