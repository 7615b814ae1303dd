package cachetiers

import (
	"fmt"
	"iter"
	"math"
	"math/bits"
	"math/rand/v2"
)

// WTinyLFU is an adaptive W-TinyLFU cache without locking: which keys it
// holds, which to drop, and each key's value (kept in the policy's own node,
// so that a hit costs one map lookup; a policy-only user such as a trace
// simulator takes V = struct{}). It exists because otter's W-TinyLFU, which
// the memory tier used, falls more than a point below LRU on two of the LIRS
// traces of issue 2 (sprite and zigzag), and otter exposes no setting that
// closes the gap; the memory tier (memory.go) now shards keys over WTinyLFUs.
//
// The design follows TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A
// Highly Efficient Cache Admission Policy", ACM ToS 2017) and Caffeine's
// adaptive window (Einziger, Eytan, Friedman and Manes, "Adaptive Software
// Cache Management", Middleware 2018):
//
//   - A count-min sketch of 4-bit counters estimates each key's recent access
//     frequency. After SketchResetFactor × expected entries increments every
//     counter is halved, so that old popularity fades. An optional doorkeeper
//     (a Bloom filter cleared at each halving) absorbs the first access of
//     each key, which keeps one-hit wonders out of the counters.
//   - New keys enter an LRU admission window. A key pushed out of the window
//     is a candidate for the main region, a segmented LRU (probation and
//     protected, 20% / 80% of the main region); the candidate is admitted
//     only if the sketch says it is used more often than the victim at the
//     probation's LRU end. On a tie a warm candidate is admitted with
//     probability TieAdmitProbability: with strict admission, keys of equal
//     frequency (a loop or zigzag over a set larger than the cache) can never
//     replace the incumbents, which the zigzag trace punishes.
//   - The window is sized by mini-simulation (ClimberMiniSim, the default):
//     beside the cache run small fixed-window copies of the policy (window
//     1%, 5%, 15%, 30%, 50%, 70%, 85%, 100%) over a hashed sample of the keys,
//     and every SamplePeriod accesses (one capacity's worth) the cache takes
//     the window of the copy with the most hits, scored with a slowly
//     decaying memory. The window may reach 100% of the cache, which is LRU:
//     sprite and zigzag need that, and Caffeine's (and otter's) climber,
//     which starts at 1% and steps 6.25% every 10× the capacity, never gets
//     there. Caffeine's hill climber (ClimberHill: step the window in the
//     direction that raised the last sample's hit ratio, decay the step,
//     restart it on a jump) is kept as an option: tuned over sample periods
//     of 1–10× the capacity and steps of 6–30%, it stayed 4–9 points below
//     LRU on zigzag, whose hit ratio per sample is periodic.
//
// Entries carry a weight and the capacity is in weight units, as the memory
// tier weighs entries by bytes. Every operation does O(1) work: resizing the
// window moves at most transferMax entries per access, the mini-simulations
// add len(MiniSimWindows)/R accesses of the same policy where 1/R is the
// sampling rate, and the sketch's halving, which touches every counter, is
// amortized over the SketchResetFactor × entries accesses that trigger it.
//
// A WTinyLFU is not safe for concurrent use: a cache built on it shards the
// keys and guards each shard with a mutex. Given the same Seed and the same
// sequence of calls, it makes the same decisions.
type WTinyLFU[K comparable, V any] struct {
	opts  WTinyLFUOptions
	hash  func(K) uint64
	index map[K]int32
	// nodes[0..2] are the sentinels of the window, probation and protected
	// circular lists: next of a sentinel is the LRU end, prev the MRU end.
	nodes []wtNode[K, V]
	free  []int32 // indexes of removed nodes, reused before nodes grows

	weight    [3]uint64 // weight held per region
	capacity  uint64
	windowMax uint64 // target weight of the window (the climber's output)
	// windowMaxLimit and windowMinLimit bound windowMax.
	windowMinLimit, windowMaxLimit uint64

	sketch sketch
	rng    *rand.Rand

	// Hill climber.
	sampleAccesses, sampleHits int
	prevHitRatio               float64
	step                       float64 // signed, in weight units
	stepInitial                float64
	haveSample                 bool

	evicted func(K, uint32)

	// Mini-simulation climber (ClimberMiniSim).
	minis       []*WTinyLFU[uint64, struct{}]
	miniHits    []int     // hits per mini in the current period
	miniScores  []float64 // decayed hits per mini
	miniMask    uint64    // a key is sampled when hash&miniMask == 0
	miniCurrent int       // the mini whose window the cache has
}

type wtRegion uint8

const (
	regionWindow wtRegion = iota
	regionProbation
	regionProtected
	regionFree // removed, on the free list
)

type wtNode[K comparable, V any] struct {
	key        K
	value      V
	hash       uint64
	weight     uint32
	region     wtRegion
	prev, next int32
}

// transferMax bounds the entries moved between the window and the main
// region per access when the climber resizes the window, so that an access
// stays O(1); a resize completes over the following accesses.
const transferMax = 16

// WTinyLFUOptions configure a WTinyLFU. Zero fields take the defaults that
// FillDefaults documents.
type WTinyLFUOptions struct {
	// Capacity is the total weight held. Required.
	Capacity uint64
	// ExpectedEntries sizes the frequency sketch and sets the default sample
	// period. Default Capacity (unit weights); a byte-weighted cache should
	// pass Capacity divided by the typical entry's weight.
	ExpectedEntries int
	// Seed makes hashing and the random tie admission reproducible.
	Seed uint64

	// WindowInitial is the window's initial share of the capacity. Default 0.01.
	WindowInitial float64
	// WindowMin and WindowMax bound the window's share. Default 0 and 1: a
	// window of the whole capacity is LRU, which the climber must be able to
	// reach on recency-heavy traces.
	WindowMin, WindowMax float64
	// ProtectedShare is the protected segment's share of the main region.
	// Default 0.8 (TinyLFU's SLRU).
	ProtectedShare float64

	// SamplePeriod is the climber's sample, in accesses. Default
	// ExpectedEntries (at least 64): tuned on the LIRS traces, where 10×
	// (Caffeine's) reacts too late on short traces and ¼× oscillates.
	SamplePeriod int
	// StepInitial is the climber's initial and restart step, as a share of
	// the capacity. Default 0.0625 (Caffeine's).
	StepInitial float64
	// StepDecay multiplies the step after each sample. Default 0.98.
	StepDecay float64
	// RestartThreshold is the change of hit ratio between samples (0–1)
	// that resets the step to StepInitial. Default 0.05.
	RestartThreshold float64
	// NoClimber disables the climber: the window stays at WindowInitial.
	NoClimber bool
	// Climber selects how the window is sized: ClimberMiniSim (default) or
	// ClimberHill.
	Climber Climber
	// MiniSimWindows are the window shares that ClimberMiniSim simulates.
	// Default DefaultMiniSimWindows.
	MiniSimWindows []float64
	// MiniSimEntriesMin is the smallest capacity, in expected entries, of a
	// mini-simulation: keys are sampled at the largest power-of-two rate
	// 1/R that keeps ExpectedEntries/R at or above it. Default 128. Each
	// sampled access costs len(MiniSimWindows) policy accesses, so this sets
	// the price of a hit in a small cache: at 1024 (the first default) a
	// memory tier of 2,000 blocks sampled every key and a hit cost 8.7×
	// otter's (BenchmarkMemoryHit); at 128 it samples one key in eight. On
	// the LIRS traces of issue 2 (four seeds, acceptance capacities) 1024,
	// 512, 256, 128 and 64 gave the same worst gap to LRU (−1.12 points, one
	// seed on zigzag at 1000) and means within 0.3 points; 32 fell to −2.2.
	MiniSimEntriesMin int
	// MiniSimDecay weights past periods in the mini-simulations' scores:
	// a long memory, so that periodic traces (zigzag) are judged over whole
	// periods. Default 0.98.
	MiniSimDecay float64

	// SketchResetFactor: the sketch halves its counters after this many
	// increments per expected entry. Default 10 (TinyLFU's W/C).
	SketchResetFactor int
	// Doorkeeper puts a Bloom filter in front of the sketch.
	Doorkeeper bool
	// TieAdmitProbability is the probability of admitting a candidate as
	// frequent as the victim. Default 1/128; negative means never.
	TieAdmitProbability float64
	// TieAdmitMinFrequency is the smallest estimated frequency of a
	// candidate for the tie rule to apply, so that one-hit wonders never
	// displace anything. Default 1.
	TieAdmitMinFrequency int
}

// Climber is a way of sizing the admission window.
type Climber uint8

const (
	// ClimberMiniSim runs, beside the cache, one small fixed-window
	// W-TinyLFU per share of MiniSimWindows over a hashed sample of the keys
	// (spatial sampling, as in SHARDS: Waldspurger et al., FAST 2015), and
	// every SamplePeriod accesses gives the cache the window of the one that
	// scored most hits. This is the "mini-simulation" strategy of Caffeine's
	// simulator; it costs len(MiniSimWindows)/R extra policy operations per
	// access, where 1/R is the sampling rate.
	ClimberMiniSim Climber = iota
	// ClimberHill is Caffeine's hill climber (Einziger et al., Middleware
	// 2018): step the window in the direction that raised the hit ratio of
	// the last sample. Cheaper, but on the LIRS traces of issue 2 it could
	// not find the near-LRU window that sprite and zigzag need (see
	// wtinylfu_test.go and the report of issue 2).
	ClimberHill
)

// DefaultMiniSimWindows are the window shares ClimberMiniSim compares: from
// TinyLFU's 1% (frequency-biased traces: loops, scans) to 100%, which is LRU
// (recency-biased traces).
var DefaultMiniSimWindows = []float64{0.01, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 1}

// FillDefaults replaces zero fields by their defaults.
func (o *WTinyLFUOptions) FillDefaults() {
	if o.MiniSimWindows == nil {
		o.MiniSimWindows = DefaultMiniSimWindows
	}
	if o.MiniSimEntriesMin == 0 {
		o.MiniSimEntriesMin = 128
	}
	if o.MiniSimDecay == 0 {
		o.MiniSimDecay = 0.98
	}
	if o.ExpectedEntries == 0 {
		o.ExpectedEntries = int(min(o.Capacity, 1<<30))
	}
	if o.WindowInitial == 0 {
		o.WindowInitial = 0.01
	}
	if o.WindowMax == 0 {
		o.WindowMax = 1
	}
	if o.ProtectedShare == 0 {
		o.ProtectedShare = 0.8
	}
	if o.SamplePeriod == 0 {
		o.SamplePeriod = max(o.ExpectedEntries, 64)
	}
	if o.StepInitial == 0 {
		o.StepInitial = 0.0625
	}
	if o.StepDecay == 0 {
		o.StepDecay = 0.98
	}
	if o.RestartThreshold == 0 {
		o.RestartThreshold = 0.05
	}
	if o.SketchResetFactor == 0 {
		o.SketchResetFactor = 10
	}
	if o.TieAdmitProbability == 0 {
		o.TieAdmitProbability = 1.0 / 128
	}
	if o.TieAdmitMinFrequency == 0 {
		o.TieAdmitMinFrequency = 1
	}
}

// Validate rejects options that FillDefaults cannot make sensible.
func (o *WTinyLFUOptions) Validate() error {
	switch {
	case o.Capacity == 0:
		return fmt.Errorf("wtinylfu: Capacity must be positive")
	case o.ExpectedEntries < 1:
		return fmt.Errorf("wtinylfu: ExpectedEntries %d must be positive", o.ExpectedEntries)
	case o.WindowMin < 0 || o.WindowMax > 1 || o.WindowMin > o.WindowMax:
		return fmt.Errorf("wtinylfu: window bounds [%g, %g] must lie in [0, 1] in order", o.WindowMin, o.WindowMax)
	case o.WindowInitial < 0 || o.WindowInitial > 1:
		return fmt.Errorf("wtinylfu: WindowInitial %g must lie in [0, 1]", o.WindowInitial)
	case o.ProtectedShare < 0 || o.ProtectedShare > 1:
		return fmt.Errorf("wtinylfu: ProtectedShare %g must lie in [0, 1]", o.ProtectedShare)
	case o.SamplePeriod < 1 || o.SketchResetFactor < 1:
		return fmt.Errorf("wtinylfu: SamplePeriod %d and SketchResetFactor %d must be positive", o.SamplePeriod, o.SketchResetFactor)
	case o.StepInitial <= 0 || o.StepInitial > 1 || o.StepDecay <= 0 || o.StepDecay > 1:
		return fmt.Errorf("wtinylfu: StepInitial %g and StepDecay %g must lie in (0, 1]", o.StepInitial, o.StepDecay)
	case o.TieAdmitProbability > 1:
		return fmt.Errorf("wtinylfu: TieAdmitProbability %g exceeds 1", o.TieAdmitProbability)
	}
	return nil
}

// NewWTinyLFU returns an empty policy; hash maps a key to 64 well-mixed bits
// (the sketch and the doorkeeper index by it).
func NewWTinyLFU[K comparable, V any](opts WTinyLFUOptions, hash func(K) uint64) (*WTinyLFU[K, V], error) {
	opts.FillDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if hash == nil {
		return nil, fmt.Errorf("wtinylfu: hash function required")
	}
	c := opts.Capacity
	p := &WTinyLFU[K, V]{
		opts:           opts,
		hash:           hash,
		index:          make(map[K]int32, min(opts.ExpectedEntries, 1<<20)),
		nodes:          make([]wtNode[K, V], 3, min(opts.ExpectedEntries, 1<<20)+3),
		capacity:       c,
		windowMinLimit: uint64(opts.WindowMin * float64(c)),
		windowMaxLimit: uint64(opts.WindowMax * float64(c)),
		rng:            rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		stepInitial:    opts.StepInitial * float64(c),
	}
	p.windowMax = clampU(uint64(opts.WindowInitial*float64(c)), p.windowMinLimit, p.windowMaxLimit)
	p.step = p.stepInitial
	for r := range 3 {
		p.nodes[r].prev, p.nodes[r].next = int32(r), int32(r)
	}
	p.sketch.init(opts.ExpectedEntries, opts.SketchResetFactor, opts.Doorkeeper, opts.Seed)
	if !opts.NoClimber && opts.Climber == ClimberMiniSim {
		if err := p.initMinis(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// OnEvict sets a function called with each key the policy drops, including
// a new key it declines to admit (not keys dropped by Remove).
func (p *WTinyLFU[K, V]) OnEvict(fn func(key K, weight uint32)) { p.evicted = fn }

func clampU(v, lo, hi uint64) uint64 { return min(max(v, lo), hi) }

// Len returns the number of keys held.
func (p *WTinyLFU[K, V]) Len() int { return len(p.index) }

// Weight returns the total weight held.
func (p *WTinyLFU[K, V]) Weight() uint64 {
	return p.weight[regionWindow] + p.weight[regionProbation] + p.weight[regionProtected]
}

// WindowMax returns the window's current target weight (the climber's state).
func (p *WTinyLFU[K, V]) WindowMax() uint64 { return p.windowMax }

// Contains reports whether key is held, without recording an access.
func (p *WTinyLFU[K, V]) Contains(key K) bool { _, ok := p.index[key]; return ok }

// Peek returns key's value, if held, without recording an access.
func (p *WTinyLFU[K, V]) Peek(key K) (V, bool) {
	if i, ok := p.index[key]; ok {
		return p.nodes[i].value, true
	}
	var zero V
	return zero, false
}

// Keys yields every key held. The policy must not be changed during the
// iteration.
func (p *WTinyLFU[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range p.index {
			if !yield(k) {
				return
			}
		}
	}
}

// Get records an access to key and returns its value, if held. A miss is
// followed by Add once the caller has the value (a cache's read-through);
// the mini-simulations learn of the insertion then, with its real weight.
func (p *WTinyLFU[K, V]) Get(key K) (V, bool) {
	i, ok := p.index[key]
	var h uint64
	var v V
	if ok {
		n := &p.nodes[i]
		h, v = n.hash, n.value
		p.sketch.increment(h)
		p.onHit(i)
	} else {
		h = p.hash(key)
		p.sketch.increment(h)
	}
	if p.minis != nil && h&p.miniMask == 0 {
		for j, m := range p.minis {
			if _, hit := m.Get(h); hit {
				p.miniHits[j]++
			} else if ok {
				// The cache holds the key and the copy does not: the copy
				// inserts it now, as a read-through would have on its miss.
				m.Add(h, struct{}{}, p.nodes[i].weight)
			}
		}
	}
	p.record(ok)
	p.maybeTransfer()
	return v, ok
}

// Access is a policy-only read-through: Get, and on a miss Add of the zero
// value with weight.
func (p *WTinyLFU[K, V]) Access(key K, weight uint32) (hit bool) {
	if _, ok := p.Get(key); ok {
		return true
	}
	var zero V
	p.Add(key, zero, weight)
	return false
}

// Add inserts key with its value after a miss (Get already recorded the
// access) and evicts to fit; the new key may itself be evicted at once if
// TinyLFU does not admit it. Adding a held key replaces its value and
// weight. A key heavier than the capacity is not held (the evict function
// is called for it).
func (p *WTinyLFU[K, V]) Add(key K, value V, weight uint32) {
	if i, ok := p.index[key]; ok {
		n := &p.nodes[i]
		p.weight[n.region] += uint64(weight)
		p.weight[n.region] -= uint64(n.weight)
		n.value, n.weight = value, weight
		p.mirror(n.hash, weight)
		p.evict()
		return
	}
	if uint64(weight) > p.capacity {
		if p.evicted != nil {
			p.evicted(key, weight)
		}
		return
	}
	i := p.alloc()
	h := p.hash(key)
	p.nodes[i] = wtNode[K, V]{key: key, value: value, hash: h, weight: weight}
	p.index[key] = i
	p.pushMRU(regionWindow, i)
	p.mirror(h, weight)
	p.evict()
}

// mirror gives the mini-simulations an insertion of a sampled key: each
// copy that does not hold it (or holds it at another weight) adds it.
func (p *WTinyLFU[K, V]) mirror(h uint64, weight uint32) {
	if p.minis == nil || h&p.miniMask != 0 {
		return
	}
	for _, m := range p.minis {
		if j, ok := m.index[h]; !ok || m.nodes[j].weight != weight {
			m.Add(h, struct{}{}, weight)
		}
	}
}

// Remove drops key if held (an invalidation, not an eviction).
func (p *WTinyLFU[K, V]) Remove(key K) bool {
	i, ok := p.index[key]
	if !ok {
		return false
	}
	p.drop(i)
	return true
}

func (p *WTinyLFU[K, V]) alloc() int32 {
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		return i
	}
	p.nodes = append(p.nodes, wtNode[K, V]{})
	return int32(len(p.nodes) - 1)
}

func (p *WTinyLFU[K, V]) drop(i int32) {
	n := &p.nodes[i]
	p.unlink(i)
	delete(p.index, n.key)
	var zeroK K
	var zeroV V
	n.key, n.value, n.region = zeroK, zeroV, regionFree
	p.free = append(p.free, i)
}

func (p *WTinyLFU[K, V]) unlink(i int32) {
	n := &p.nodes[i]
	p.nodes[n.prev].next = n.next
	p.nodes[n.next].prev = n.prev
	p.weight[n.region] -= uint64(n.weight)
}

// pushMRU links i at the most recently used end of region r.
func (p *WTinyLFU[K, V]) pushMRU(r wtRegion, i int32) {
	s := int32(r)
	last := p.nodes[s].prev
	n := &p.nodes[i]
	n.region, n.prev, n.next = r, last, s
	p.nodes[last].next = i
	p.nodes[s].prev = i
	p.weight[r] += uint64(n.weight)
}

// pushLRU links i at the least recently used end of region r.
func (p *WTinyLFU[K, V]) pushLRU(r wtRegion, i int32) {
	s := int32(r)
	first := p.nodes[s].next
	n := &p.nodes[i]
	n.region, n.prev, n.next = r, s, first
	p.nodes[first].prev = i
	p.nodes[s].next = i
	p.weight[r] += uint64(n.weight)
}

// lru returns the least recently used node of region r, or -1.
func (p *WTinyLFU[K, V]) lru(r wtRegion) int32 {
	if i := p.nodes[r].next; i != int32(r) {
		return i
	}
	return -1
}

func (p *WTinyLFU[K, V]) protectedMax() uint64 {
	return uint64(p.opts.ProtectedShare * float64(p.capacity-min(p.windowMax, p.capacity)))
}

func (p *WTinyLFU[K, V]) onHit(i int32) {
	r := p.nodes[i].region
	p.unlink(i)
	switch r {
	case regionWindow:
		p.pushMRU(regionWindow, i)
	case regionProbation, regionProtected:
		p.pushMRU(regionProtected, i)
		p.demoteProtected()
	}
}

// demoteProtected moves the protected segment's LRU keys to probation while
// the segment is over its share.
func (p *WTinyLFU[K, V]) demoteProtected() {
	pm := p.protectedMax()
	for p.weight[regionProtected] > pm {
		j := p.lru(regionProtected)
		p.unlink(j)
		p.pushMRU(regionProbation, j)
	}
}

// evict moves the window's overflow to probation as candidates and, while
// the total weight exceeds the capacity, lets each candidate duel the
// probation's LRU victim (TinyLFU admission).
func (p *WTinyLFU[K, V]) evict() {
	// Candidates are appended at probation's MRU end; the first of them is
	// the oldest, and the duels proceed from it toward the MRU end.
	cand := int32(-1)
	for p.weight[regionWindow] > p.windowMax {
		j := p.lru(regionWindow)
		p.unlink(j)
		p.pushMRU(regionProbation, j)
		if cand < 0 {
			cand = j
		}
	}
	for p.Weight() > p.capacity {
		victim := p.lru(regionProbation)
		if victim == cand {
			// Only candidates are left in probation: take victims from the
			// protected segment, then from the window.
			victim = -1
		}
		if victim < 0 {
			victim = p.lru(regionProtected)
		}
		if victim < 0 && cand < 0 {
			// Adding weight to a held key can leave the window alone over.
			victim = p.lru(regionWindow)
		}
		switch {
		case cand < 0 && victim < 0:
			panic("wtinylfu: over capacity with nothing to evict")
		case cand < 0:
			p.evictNode(victim)
		case victim < 0:
			next := p.nodes[cand].next
			p.evictNode(cand)
			cand = p.nextCandidate(next)
		case p.admit(cand, victim):
			p.evictNode(victim)
		default:
			next := p.nodes[cand].next
			p.evictNode(cand)
			cand = p.nextCandidate(next)
		}
	}
}

func (p *WTinyLFU[K, V]) nextCandidate(i int32) int32 {
	if i == int32(regionProbation) {
		return -1
	}
	return i
}

func (p *WTinyLFU[K, V]) evictNode(i int32) {
	k, w := p.nodes[i].key, p.nodes[i].weight
	p.drop(i)
	if p.evicted != nil {
		p.evicted(k, w)
	}
}

// admit is TinyLFU's admission: does the candidate displace the victim?
func (p *WTinyLFU[K, V]) admit(cand, victim int32) bool {
	cf := p.sketch.frequency(p.nodes[cand].hash)
	vf := p.sketch.frequency(p.nodes[victim].hash)
	if cf > vf {
		return true
	}
	if cf == vf && cf >= p.opts.TieAdmitMinFrequency && p.opts.TieAdmitProbability > 0 {
		return p.rng.Float64() < p.opts.TieAdmitProbability
	}
	return false
}

// record feeds the hill climber one access.
func (p *WTinyLFU[K, V]) record(hit bool) {
	if p.opts.NoClimber {
		return
	}
	p.sampleAccesses++
	if hit {
		p.sampleHits++
	}
	if p.sampleAccesses < p.opts.SamplePeriod {
		return
	}
	ratio := float64(p.sampleHits) / float64(p.sampleAccesses)
	p.sampleAccesses, p.sampleHits = 0, 0
	if p.minis != nil {
		p.adoptBestMini()
		return
	}
	if !p.haveSample {
		p.haveSample = true
		p.prevHitRatio = ratio
		p.climb(p.step)
		return
	}
	change := ratio - p.prevHitRatio
	p.prevHitRatio = ratio
	if change < 0 {
		p.step = -p.step
	}
	amount := p.step
	if change > p.opts.RestartThreshold || change < -p.opts.RestartThreshold {
		if amount >= 0 {
			p.step = p.stepInitial
		} else {
			p.step = -p.stepInitial
		}
	} else {
		p.step *= p.opts.StepDecay
	}
	p.climb(amount)
}

// climb moves the window's target by amount weight units; maybeTransfer
// moves the entries.
func (p *WTinyLFU[K, V]) climb(amount float64) {
	w := float64(p.windowMax) + amount
	switch {
	case w < float64(p.windowMinLimit):
		p.windowMax = p.windowMinLimit
	case w > float64(p.windowMaxLimit):
		p.windowMax = p.windowMaxLimit
	default:
		p.windowMax = uint64(w)
	}
}

// maybeTransfer moves up to transferMax entries toward the window's target:
// from the main region's LRU ends into the window when it should grow, from
// the window's LRU end into probation when it should shrink.
func (p *WTinyLFU[K, V]) maybeTransfer() {
	for range transferMax {
		switch {
		case p.weight[regionWindow] > p.windowMax:
			j := p.lru(regionWindow)
			p.unlink(j)
			p.pushMRU(regionProbation, j)
		case p.weight[regionWindow] < p.windowMax:
			j := p.lru(regionProbation)
			if j < 0 {
				j = p.lru(regionProtected)
			}
			if j < 0 || p.weight[regionWindow]+uint64(p.nodes[j].weight) > p.windowMax {
				p.demoteProtected()
				return
			}
			// The main region's LRU keys are colder than the window's
			// own: they join the window at its LRU end.
			p.unlink(j)
			p.pushLRU(regionWindow, j)
		default:
			p.demoteProtected()
			return
		}
	}
	p.demoteProtected()
}

// ---- frequency sketch ----

// sketch is a count-min sketch of 4-bit counters (TinyLFU section 3.3),
// four rows folded into one table of uint64 words of 16 counters each, with
// periodic halving ("reset") and an optional doorkeeper Bloom filter.
type sketch struct {
	table      []uint64
	mask       uint64 // len(table)-1
	seeds      [4]uint64
	additions  int
	resetAt    int
	doorkeeper []uint64 // bits; nil when disabled
	doorMask   uint64
}

func (s *sketch) init(entries, resetFactor int, doorkeeper bool, seed uint64) {
	// One word of 16 counters per expected entry, rounded up to a power of
	// two: each of the four rows has about four counters per entry.
	words := 1 << bits.Len(uint(max(entries, 16)-1))
	s.table = make([]uint64, words)
	s.mask = uint64(words - 1)
	s.resetAt = resetFactor * max(entries, 16)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range s.seeds {
		s.seeds[i] = r.Uint64() | 1
	}
	if doorkeeper {
		b := 1 << bits.Len(uint(max(entries, 64)*8-1)) // 8 bits per expected entry
		s.doorkeeper = make([]uint64, b/64)
		s.doorMask = uint64(b - 1)
	}
}

func (s *sketch) slot(h uint64, i int) (word uint64, shift uint) {
	x := (h ^ s.seeds[i]) * 0xbf58476d1ce4e5b9
	x ^= x >> 31
	return x & s.mask, uint((x>>40)&15) * 4
}

func (s *sketch) doorBits(h uint64) (a, b uint64) {
	return h & s.doorMask, (h >> 32) & s.doorMask
}

func (s *sketch) inDoor(h uint64) bool {
	a, b := s.doorBits(h)
	return s.doorkeeper[a/64]&(1<<(a%64)) != 0 && s.doorkeeper[b/64]&(1<<(b%64)) != 0
}

func (s *sketch) increment(h uint64) {
	if s.doorkeeper != nil && !s.inDoor(h) {
		a, b := s.doorBits(h)
		s.doorkeeper[a/64] |= 1 << (a % 64)
		s.doorkeeper[b/64] |= 1 << (b % 64)
	} else {
		added := false
		for i := range 4 {
			w, sh := s.slot(h, i)
			if (s.table[w]>>sh)&15 < 15 {
				s.table[w] += 1 << sh
				added = true
			}
		}
		if !added {
			return
		}
	}
	s.additions++
	if s.additions >= s.resetAt {
		s.reset()
	}
}

func (s *sketch) frequency(h uint64) int {
	f := 15
	for i := range 4 {
		w, sh := s.slot(h, i)
		f = min(f, int((s.table[w]>>sh)&15))
	}
	if s.doorkeeper != nil && s.inDoor(h) {
		f++
	}
	return f
}

// reset halves every counter and clears the doorkeeper: TinyLFU's aging.
func (s *sketch) reset() {
	for i, w := range s.table {
		s.table[i] = (w >> 1) & 0x7777777777777777
	}
	clear(s.doorkeeper)
	s.additions /= 2
}

// initMinis builds the mini-simulations of ClimberMiniSim.
func (p *WTinyLFU[K, V]) initMinis() error {
	o := p.opts
	rate := uint64(1)
	for uint64(o.ExpectedEntries)/(2*rate) >= uint64(o.MiniSimEntriesMin) {
		rate *= 2
	}
	p.miniMask = rate - 1
	for j, w := range o.MiniSimWindows {
		seed := o.Seed + uint64(j+1)*0x9e3779b97f4a7c15
		m, err := NewWTinyLFU[uint64, struct{}](WTinyLFUOptions{
			Capacity:             max(o.Capacity/rate, 1),
			ExpectedEntries:      max(o.ExpectedEntries/int(rate), 1),
			Seed:                 seed,
			WindowInitial:        max(w, 1e-9),
			ProtectedShare:       o.ProtectedShare,
			NoClimber:            true,
			SketchResetFactor:    o.SketchResetFactor,
			Doorkeeper:           o.Doorkeeper,
			TieAdmitProbability:  o.TieAdmitProbability,
			TieAdmitMinFrequency: o.TieAdmitMinFrequency,
		}, func(h uint64) uint64 { return remix(h, seed) })
		if err != nil {
			return fmt.Errorf("wtinylfu: mini-simulation of window %g: %w", w, err)
		}
		p.minis = append(p.minis, m)
	}
	for j, w := range o.MiniSimWindows {
		if math.Abs(w-o.WindowInitial) < math.Abs(o.MiniSimWindows[p.miniCurrent]-o.WindowInitial) {
			p.miniCurrent = j
		}
	}
	p.miniHits = make([]int, len(p.minis))
	p.miniScores = make([]float64, len(p.minis))
	return nil
}

// adoptBestMini ends a period: it folds the period's hits into each
// mini-simulation's decayed score and gives the cache the window of the
// best one.
func (p *WTinyLFU[K, V]) adoptBestMini() {
	// Keep the current window unless another scores strictly more: on a
	// tie (at the start, no hits at all) switching only costs.
	best := p.miniCurrent
	for j := range p.minis {
		p.miniScores[j] = p.opts.MiniSimDecay*p.miniScores[j] + float64(p.miniHits[j])
		p.miniHits[j] = 0
	}
	for j := range p.minis {
		if p.miniScores[j] > p.miniScores[best] {
			best = j
		}
	}
	p.miniCurrent = best
	p.windowMax = clampU(uint64(p.opts.MiniSimWindows[best]*float64(p.capacity)), p.windowMinLimit, p.windowMaxLimit)
}

// remix rehashes an already mixed 64-bit hash under another seed, so that a
// mini-simulation's sketch does not share the cache's collisions.
func remix(h, seed uint64) uint64 {
	h ^= seed
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}
