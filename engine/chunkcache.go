package engine

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/segment"
)

// The decoded-chunk cache: leaf chunks of the persistent trees decoded
// into datoms, so that a point read of a chunk in the memory tier costs a
// lookup instead of decoding its 32 datoms' columns again (the memory
// tier holds blocks as bytes: decompressed, but still columnar). Chunks
// are immutable (segments are never rewritten), so the cache is shared by
// every database value of the process and needs no invalidation; W-TinyLFU
// admission keeps a scan from flushing the chunks point reads reuse.

// DefaultChunkCacheBytes is the decoded-chunk cache's default capacity.
const DefaultChunkCacheBytes = 64 << 20

// chunkKey names a chunk: its leaf segment, block and the record's end
// within the block.
type chunkKey struct {
	id    segment.ID
	block int32
	end   int32
}

const chunkShards = 16

type chunkShard struct {
	mu sync.Mutex
	c  *cachetiers.WTinyLFU[chunkKey, []datom.Datom]
}

type chunkCache struct {
	shards       [chunkShards]chunkShard
	hits, misses atomic.Int64
}

// chunks is the process's decoded-chunk cache (nil: none).
var chunks atomic.Pointer[chunkCache]

func init() { SetChunkCacheBytes(DefaultChunkCacheBytes) }

// SetChunkCacheBytes replaces the decoded-chunk cache with an empty one of
// capacity bytes (0: no cache). A node sets it from its memory budget.
func SetChunkCacheBytes(capacity int64) {
	if capacity <= 0 {
		chunks.Store(nil)
		return
	}
	c := &chunkCache{}
	per := uint64(capacity) / chunkShards
	for i := range c.shards {
		p, err := cachetiers.NewWTinyLFU[chunkKey, []datom.Datom](cachetiers.WTinyLFUOptions{
			Capacity:        max(per, 1<<16),
			ExpectedEntries: int(max(per/chunkWeightGuess, 64)),
		}, hashChunkKey)
		if err != nil {
			panic("engine: chunk cache options: " + err.Error())
		}
		c.shards[i].c = p
	}
	chunks.Store(c)
}

// ChunkCacheStats returns the decoded-chunk cache's hits and misses since
// it was made.
func ChunkCacheStats() (hits, misses int64) {
	c := chunks.Load()
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}

const chunkWeightGuess = DefaultChunkDatoms * 96

func hashChunkKey(k chunkKey) uint64 {
	var b [24]byte
	copy(b[:16], k.id[:])
	binary.LittleEndian.PutUint32(b[16:], uint32(k.block))
	binary.LittleEndian.PutUint32(b[20:], uint32(k.end))
	return xxhash.Sum64(b[:])
}

func (c *chunkCache) shard(k chunkKey) *chunkShard {
	return &c.shards[(uint32(k.id[0])^uint32(k.end)^uint32(k.block))%chunkShards]
}

func (c *chunkCache) get(k chunkKey) ([]datom.Datom, bool) {
	s := c.shard(k)
	s.mu.Lock()
	v, ok := s.c.Get(k)
	s.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

func (c *chunkCache) add(k chunkKey, ds []datom.Datom) {
	w := chunkWeight(ds)
	s := c.shard(k)
	s.mu.Lock()
	s.c.Add(k, ds, w)
	s.mu.Unlock()
}

// chunkWeight estimates the bytes a decoded chunk holds.
func chunkWeight(ds []datom.Datom) uint32 {
	n := 48 + cap(ds)*int(datomSize)
	for i := range ds {
		n += valueExtra(ds[i].V)
	}
	return uint32(min(n, 1<<30))
}

var datomSize = unsafe.Sizeof(datom.Datom{})

// valueExtra estimates the bytes a value holds outside its struct.
func valueExtra(v datom.Value) int {
	switch v.Type() {
	case datom.TypeString, datom.TypeKeyword, datom.TypeSymbol, datom.TypeURI, datom.TypeBytes, datom.TypeUUID:
		return len(v.Str())
	case datom.TypeBigInt, datom.TypeBigDec:
		return 64
	case datom.TypeTuple:
		n := 24
		for _, e := range v.Elems() {
			n += int(unsafe.Sizeof(e)) + valueExtra(e)
		}
		return n
	}
	return 0
}
