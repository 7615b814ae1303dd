package cachetiers

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/cpu"

	"github.com/stratadb/strata/segment"
)

// ssdLoc is where the ssd tier holds a segment.
type ssdLoc struct {
	off    int64  // file offset of the payload, a multiple of 4096
	length int64  // payload length: the segment's size
	seq    uint64 // the region's sequence number when the entry was written
	region uint32
}

// ssdIndexShards is the number of independently locked parts of the index.
// Every ReadAt takes one read lock; with one RWMutex every core would bounce
// its reader count (the cost sync.RWMutex documents for read-mostly use on
// many cores). Segment ids are random, so shards fill evenly. Measured on
// this 2-core machine (BenchmarkSSDIndexGet, RunParallel): one lock and 64
// are the same within the noise (50–190 ns per get either way), as expected
// with two cores; the shards are for the i3 sizes the design targets, and
// cost only 64 small maps.
const ssdIndexShards = 64

// ssdIndex maps segment ids to locations. Safe for concurrent use.
//
// The index alone does not make a read safe against eviction: a location can
// go stale between get and the read that uses it. Readers validate against the
// region's sequence number after reading (see SSD.ReadAt).
type ssdIndex struct {
	shards [ssdIndexShards]ssdIndexShard
}

type ssdIndexShard struct {
	mu sync.RWMutex
	m  map[segment.ID]ssdLoc
	_  cpu.CacheLinePad // keep neighbouring shards' locks off one cache line
}

func newSSDIndex() *ssdIndex {
	x := &ssdIndex{}
	for i := range x.shards {
		x.shards[i].m = make(map[segment.ID]ssdLoc)
	}
	return x
}

func (x *ssdIndex) shard(id segment.ID) *ssdIndexShard {
	// Ids are random (segment.NewID), but mix both halves so that ids made
	// some other way (tests, imports) still spread.
	h := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	h *= 0x9E3779B97F4A7C15
	return &x.shards[h>>58] // top 6 bits: 64 shards
}

func (x *ssdIndex) get(id segment.ID) (ssdLoc, bool) {
	s := x.shard(id)
	s.mu.RLock()
	loc, ok := s.m[id]
	s.mu.RUnlock()
	return loc, ok
}

// put sets id's location and returns the one it replaced, if any.
func (x *ssdIndex) put(id segment.ID, loc ssdLoc) (old ssdLoc, replaced bool) {
	s := x.shard(id)
	s.mu.Lock()
	old, replaced = s.m[id]
	s.m[id] = loc
	s.mu.Unlock()
	return old, replaced
}

// delete drops id and returns its location, if it was present.
func (x *ssdIndex) delete(id segment.ID) (ssdLoc, bool) {
	s := x.shard(id)
	s.mu.Lock()
	loc, ok := s.m[id]
	if ok {
		delete(s.m, id)
	}
	s.mu.Unlock()
	return loc, ok
}

// deleteIn drops id only if it is held in the given generation of region,
// and returns its location if it did. An id removed and put again elsewhere
// since is left alone.
func (x *ssdIndex) deleteIn(id segment.ID, region uint32, seq uint64) (ssdLoc, bool) {
	s := x.shard(id)
	s.mu.Lock()
	loc, ok := s.m[id]
	ok = ok && loc.region == region && loc.seq == seq
	if ok {
		delete(s.m, id)
	}
	s.mu.Unlock()
	return loc, ok
}
