package cachetiers

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record microseconds from 1 µs to 60 s with 3
// significant figures (HdrHistogram's usual latency set-up): a value is
// stored within 0.1% of what was recorded, in 136 KiB per histogram.
const (
	latencyMinUs   = 1
	latencyMaxUs   = 60_000_000
	latencySigFigs = 3
	// maxLatencyShards bounds the histograms per tier. Shards let readers on
	// different cores record without contending on one mutex (the way
	// Ristretto stripes its counters); more than a few buy nothing at the
	// cost of 130 KiB each.
	maxLatencyShards = 4
)

// monoEpoch is a base for nanotime(): time.Since on a time with a monotonic
// reading costs one clock read, where time.Now costs two (wall and
// monotonic), which was a sixth of a memory hit (BenchmarkStratifiedMemoryHit).
var monoEpoch = time.Now()

// nanotime returns monotonic nanoseconds since monoEpoch, for latencies.
func nanotime() time.Duration { return time.Since(monoEpoch) }

// latencyHist is an HDR histogram of read latencies, sharded so that
// concurrent readers rarely wait for each other: Record tries a random
// shard's lock and moves on to the next if it is held.
type latencyHist struct {
	shards []latencyShard

	snapMu sync.Mutex // serializes Snapshot, which merges into merged
	merged *hdrhistogram.Histogram
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring shards' mutexes off one cache line
}

func newLatencyHist() *latencyHist {
	n := min(runtime.GOMAXPROCS(0), maxLatencyShards)
	l := &latencyHist{
		shards: make([]latencyShard, n),
		merged: hdrhistogram.New(latencyMinUs, latencyMaxUs, latencySigFigs),
	}
	for i := range l.shards {
		l.shards[i].h = hdrhistogram.New(latencyMinUs, latencyMaxUs, latencySigFigs)
	}
	return l
}

// Record adds one latency. Values outside 1 µs..60 s are clamped to the
// range, so a stall is counted as 60 s rather than lost.
func (l *latencyHist) Record(d time.Duration) {
	us := min(max(d.Microseconds(), latencyMinUs), latencyMaxUs)
	n := len(l.shards)
	start := int(rand.Uint32N(uint32(n)))
	for k := range n {
		s := &l.shards[(start+k)%n]
		if s.mu.TryLock() {
			_ = s.h.RecordValue(us) // in range by construction
			s.mu.Unlock()
			return
		}
	}
	s := &l.shards[start]
	s.mu.Lock()
	_ = s.h.RecordValue(us)
	s.mu.Unlock()
}

// LatencySummary summarizes a latency histogram.
type LatencySummary struct {
	Count int64
	Mean  time.Duration
	P50   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// Snapshot merges the shards and summarizes them.
func (l *latencyHist) Snapshot() LatencySummary {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	l.merged.Reset()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		l.merged.Merge(s.h)
		s.mu.Unlock()
	}
	h := l.merged
	if h.TotalCount() == 0 {
		return LatencySummary{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	p := h.ValueAtPercentilesSlice([]float64{50, 99, 99.9})
	return LatencySummary{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:   us(p[0]),
		P99:   us(p[1]),
		P999:  us(p[2]),
		Max:   us(h.Max()),
	}
}

// tierMetrics are the counters Stratified keeps for one stratum. All fields
// are updated atomically; latency only for reads served at the stratum.
type tierMetrics struct {
	name       string
	hits       atomic.Int64
	misses     atomic.Int64
	errors     atomic.Int64
	removes    atomic.Int64
	retries    atomic.Int64
	bytesRead  atomic.Int64
	fills      atomic.Int64
	fillBytes  atomic.Int64
	fillDrops  atomic.Int64
	fillErrors atomic.Int64
	latency    *latencyHist
}

func newTierMetrics(name string) *tierMetrics {
	return &tierMetrics{name: name, latency: newLatencyHist()}
}

// TierMetrics is a snapshot of one stratum's counters as Stratified sees them.
type TierMetrics struct {
	// Name is the stratum: "memory", "ssd", "efs" or "store".
	Name string
	// Hits counts reads served by this stratum; Misses reads it did not hold.
	// For memory they count lookups, of indexes and blocks alike: a block
	// read that misses memory also looks up the segment's index there.
	Hits, Misses int64
	// Errors counts reads that failed here: checksum mismatch, short read,
	// I/O error, timeout. Each one sent the read to a deeper stratum (or, at
	// the store, to a retry).
	Errors int64
	// Removes counts bad copies dropped from this stratum.
	Removes int64
	// Retries counts repeated attempts (the store only).
	Retries int64
	// BytesRead counts bytes read from this stratum, for reads and fills.
	BytesRead int64
	// Fills counts whole segments written into this stratum by promotion or
	// write-through, FillBytes their bytes.
	Fills, FillBytes int64
	// FillDrops counts fills not done because the fill queue was full, the
	// segment was too large, or Stratified was closing.
	FillDrops int64
	// FillErrors counts fills that failed (the source could not be read or
	// verified, or the Put failed).
	FillErrors int64
	// Latency is the distribution of reads served by this stratum, measured
	// from the caller's Block, Index or Get call to its return. Memory hits
	// are sampled (see MemoryHitSampleEvery); the others are all recorded.
	Latency LatencySummary
	// Memory holds the memory stratum's own counters (Name "memory" only).
	Memory *MemoryStats
	// Tier holds the stratum's own counters (not for memory).
	Tier *TierStats
}

func (m *tierMetrics) snapshot() TierMetrics {
	return TierMetrics{
		Name:       m.name,
		Hits:       m.hits.Load(),
		Misses:     m.misses.Load(),
		Errors:     m.errors.Load(),
		Removes:    m.removes.Load(),
		Retries:    m.retries.Load(),
		BytesRead:  m.bytesRead.Load(),
		Fills:      m.fills.Load(),
		FillBytes:  m.fillBytes.Load(),
		FillDrops:  m.fillDrops.Load(),
		FillErrors: m.fillErrors.Load(),
		Latency:    m.latency.Snapshot(),
	}
}
