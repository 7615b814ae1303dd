package bench

// The measurement behind the per-stratum latency suite, shared by the
// benchmarks (stratum_bench_test.go: BenchmarkStratum and the others) and
// by RunStratumSuite, which `strata bench strata` runs in-process: the
// segment they read, the loop that times a read through the strata against
// its reference, and the check that the intended stratum served the reads.
// See doc.go ("Latency per stratum").

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/iouring"
	"github.com/stratadb/strata/segment"
)

// ---- the segment read ----

// benchSegBlocks and the default 32 KiB block size give segments of about
// 256 KiB decoded, 8 blocks of some 1,000 datom-like records each: the size
// Datomic keeps its segments near (about 50 KB stored with zstd, DESIGN.md).
const benchSegBlocks = 8

// benchSeg is one immutable segment the benchmarks read.
type benchSeg struct {
	codec segment.Codec
	id    segment.ID
	data  []byte
	ix    *segment.Index
	keys  [][]byte // keys[i]: a key in the middle of block i, for point reads
}

// newStratumSegment builds a segment of datom-like records in EAVT order: key =
// entity (8 bytes) · attribute (2) · typed value · transaction (8), with
// values that compress the way real ones do (small integers, references to
// nearby entities, instants, strings from a vocabulary, some random text).
func newStratumSegment(codec segment.Codec, seed uint64) (*benchSeg, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(codec)))
	words := make([]string, 256)
	for i := range words {
		w := make([]byte, 3+rng.IntN(8))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(w)
	}
	id := segment.NewID()
	w, err := segment.NewWriter(nil, id, segment.WriterOptions{Codec: codec})
	if err != nil {
		return nil, err
	}
	const txBase = 13194139533312 // Datomic's first tx entity id in partition 3
	entity, tx := uint64(17592186045418), uint64(txBase)
	var key []byte
	raw := 0
	for raw < benchSegBlocks*segment.DefaultBlockSize-segment.DefaultBlockSize/2 {
		entity += 1 + uint64(rng.IntN(3))
		if rng.IntN(8) == 0 {
			tx += uint64(1 + rng.IntN(50))
		}
		attr := uint16(72)
		for range 3 + rng.IntN(7) {
			attr += uint16(1 + rng.IntN(6))
			key = binary.BigEndian.AppendUint64(key[:0], entity)
			key = binary.BigEndian.AppendUint16(key, attr)
			switch attr % 5 {
			case 0: // long
				key = append(key, 1)
				key = binary.BigEndian.AppendUint64(key, uint64(rng.IntN(10000)))
			case 1: // ref to a nearby entity
				key = append(key, 2)
				key = binary.BigEndian.AppendUint64(key, entity-uint64(rng.IntN(5000)))
			case 2: // instant
				key = append(key, 3)
				key = binary.BigEndian.AppendUint64(key, 1_700_000_000_000+uint64(rng.IntN(1e9)))
			case 3: // string from a vocabulary
				key = append(key, 4)
				key = append(key, words[rng.IntN(len(words))]...)
				key = append(key, ' ')
				key = append(key, words[rng.IntN(len(words))]...)
				key = append(key, 0)
			default: // free text
				key = append(key, 4)
				for range 4 + rng.IntN(12) {
					key = append(key, byte(' '+rng.IntN(95)))
				}
				key = append(key, 0)
			}
			key = binary.BigEndian.AppendUint64(key, tx)
			if err := w.Add(key, nil); err != nil {
				return nil, err
			}
			raw += len(key) + 3
		}
	}
	data, err := w.Finish()
	if err != nil {
		return nil, err
	}
	r, err := segment.Open(id, data)
	if err != nil {
		return nil, err
	}
	s := &benchSeg{codec: codec, id: id, data: data, ix: r.Index()}
	for i := range s.ix.Blocks {
		block, err := r.ReadBlock(i, nil)
		if err != nil {
			return nil, err
		}
		var it segment.BlockIter
		if err := it.InitBlock(s.ix, i, block); err != nil {
			return nil, err
		}
		it.First()
		for range s.ix.Blocks[i].Records / 2 {
			it.Next()
		}
		s.keys = append(s.keys, bytes.Clone(it.Key()))
	}
	return s, nil
}

func (s *benchSeg) blocks() int { return len(s.ix.Blocks) }

// decode is the decode step shared by every reference: what Stratified does
// with the bytes a tier returned (checksum, decompression, checks against the
// index) into a fresh buffer, as Stratified allocates one per block it keeps.
func (s *benchSeg) decode(i int, raw []byte) error {
	_, err := segment.DecodeBlock(s.ix, i, raw, make([]byte, 0, s.ix.Blocks[i].RawLength))
	return err
}

// ---- the loop ----

// pair is one stratum's benchmark: the read through the strata and the
// reference, run alternately in one loop.
type pair struct {
	// prepare runs before each read through the strata, untimed: it makes
	// sure the stratum under test serves it (drops the block from memory).
	prepare func(i int)
	ours    func(i int) error
	// settle runs after each read through the strata, untimed: it waits for
	// work the read left running (promotion), so that the reference does
	// not compete with it.
	settle func(i int)
	// read fetches the reference's bytes; decode, if set, is the reference's
	// decode step, timed with it (and read alone is reported as ref-read).
	read   func(i int) ([]byte, error)
	decode func(i int, raw []byte) error
	// batch > 1 times that many consecutive reads as one sample and records
	// their mean: for memory hits, which cost about as much as a clock read.
	batch int
	// blocks is the number of blocks the reads go round.
	blocks int
}

// measure times n reads of each kind, alternating which goes first, and
// returns the latencies of ours, of the reference, and of the reference's
// read alone (empty without a decode step).
func (p *pair) measure(n int) (ours, ref, refRead *Latency, err error) {
	ours, ref, refRead = NewLatency(), NewLatency(), NewLatency()
	batch := max(p.batch, 1)
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		oursFirst := (i/batch)%2 == 0
		for side := range 2 {
			if (side == 0) == oursFirst {
				d, err := p.timeOurs(i, k)
				if err != nil {
					return nil, nil, nil, err
				}
				ours.Record(d / time.Duration(k))
				continue
			}
			total, tRead, err := p.timeRef(i, k)
			if err != nil {
				return nil, nil, nil, err
			}
			ref.Record(total / time.Duration(k))
			if p.decode != nil {
				refRead.Record(tRead / time.Duration(k))
			}
		}
	}
	return ours, ref, refRead, nil
}

// timeOurs times n reads through the strata of the blocks after the i'th,
// leaving prepare and settle out. Without them the n reads are timed as
// one, so that a batch pays for one clock read, not n.
func (p *pair) timeOurs(i, n int) (time.Duration, error) {
	if p.prepare == nil && p.settle == nil {
		t0 := Now()
		for k := range n {
			if err := p.ours((i + k) % p.blocks); err != nil {
				return 0, fmt.Errorf("read block %d through the strata: %w", (i+k)%p.blocks, err)
			}
		}
		return Now() - t0, nil
	}
	var total time.Duration
	for k := range n {
		blk := (i + k) % p.blocks
		if p.prepare != nil {
			p.prepare(blk)
		}
		t0 := Now()
		if err := p.ours(blk); err != nil {
			return 0, fmt.Errorf("read block %d through the strata: %w", blk, err)
		}
		total += Now() - t0
		if p.settle != nil {
			p.settle(blk)
		}
	}
	return total, nil
}

// timeRef times n reference reads of the blocks after the i'th, and the
// share of that spent reading (before decode).
func (p *pair) timeRef(i, n int) (total, read time.Duration, err error) {
	t0 := Now()
	for k := range n {
		blk := (i + k) % p.blocks
		var r0 time.Duration
		if p.decode != nil {
			r0 = Now() // only then: a batch of memory reads must not pay a clock read each
		}
		raw, err := p.read(blk)
		if err != nil {
			return 0, 0, fmt.Errorf("reference read of block %d: %w", blk, err)
		}
		if p.decode != nil {
			read += Now() - r0
			if err := p.decode(blk, raw); err != nil {
				return 0, 0, fmt.Errorf("reference decode of block %d: %w", blk, err)
			}
		}
	}
	return Now() - t0, read, nil
}

// oursAllocs measures the allocations of one read through the strata
// (prepare and settle included, so a promotion the read starts counts),
// apart from the reference's.
func (p *pair) oursAllocs() (float64, error) {
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range runs {
		if p.prepare != nil {
			p.prepare(i % p.blocks)
		}
		if err := p.ours(i % p.blocks); err != nil {
			return 0, err
		}
		if p.settle != nil {
			p.settle(i % p.blocks)
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs, nil
}

// ---- which stratum served ----

// tierHits returns the hits of each stratum of s, by name.
func tierHits(s *cachetiers.Stratified) map[string]int64 {
	m := make(map[string]int64)
	for _, t := range s.Stats().Tiers {
		m[t.Name] = t.Hits
	}
	return m
}

// servedOnly reports an error unless stratum served every one of the n
// reads between the snapshot before and now, and no deeper stratum served
// any. Memory hits count index lookups too, so memory is checked only for
// at least n.
func servedOnly(s *cachetiers.Stratified, before map[string]int64, stratum string, n int) error {
	after := tierHits(s)
	deeper := false
	for _, t := range s.Stats().Tiers {
		d := after[t.Name] - before[t.Name]
		switch {
		case t.Name == stratum:
			deeper = true
			if d < int64(n) || (stratum != "memory" && d != int64(n)) {
				return fmt.Errorf("stratum %s served %d of %d reads", stratum, d, n)
			}
		case deeper && d != 0:
			return fmt.Errorf("stratum %s was meant to serve every read, but %s served %d", stratum, t.Name, d)
		}
	}
	if !deeper {
		return fmt.Errorf("no stratum named %s", stratum)
	}
	return nil
}

// ---- references ----

// memKey keys the reference caches as the memory tier keys its own.
type memKey struct {
	id    segment.ID
	block int
}

// hash mixes a key into 64 bits for the WTinyLFU reference: the id's two
// halves and the block number, folded and finished with MurmurHash3's fmix64.
func (k memKey) hash() uint64 {
	h := binary.LittleEndian.Uint64(k.id[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(k.id[8:]), 31) ^ uint64(k.block)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// findSSDCacheFile returns the ssd tier's one cache file in dir (its name
// is the tier's business; ssd_format.go documents it).
func findSSDCacheFile(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			return filepath.Join(dir, e.Name()), nil
		}
	}
	return "", fmt.Errorf("no cache file in %s", dir)
}

// findSegmentInSSD finds where sg's bytes start in the ssd cache file f,
// opened with O_DIRECT. The tier places every segment on a 4 KiB boundary
// (ssd_format.go) and a segment opens with its header (magic, id), so the
// first page that equals the segment's first page is it.
func findSegmentInSSD(f *os.File, sg *benchSeg) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	first := sg.data[:iouring.BlockSize]
	chunk := iouring.AlignedBuffer(1 << 20)
	for off := int64(0); off < fi.Size(); off += int64(len(chunk)) {
		n, err := unix.Pread(int(f.Fd()), chunk, off)
		if err != nil {
			return 0, fmt.Errorf("scan the ssd cache file at %d: %w", off, err)
		}
		for p := 0; p+iouring.BlockSize <= n; p += iouring.BlockSize {
			if bytes.Equal(chunk[p:p+iouring.BlockSize], first) {
				return off + int64(p), nil
			}
		}
	}
	return 0, fmt.Errorf("segment %s not found in the ssd cache file", sg.id.Short())
}
