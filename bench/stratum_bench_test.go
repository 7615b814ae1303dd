package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/internal/testenv"
	"github.com/stratadb/strata/iouring"
	"github.com/stratadb/strata/segment"
)

// The per-stratum latency benchmarks. Each one reads one block of a segment
// through cachetiers.Stratified, configured so that one stratum serves it,
// and in the same loop (alternating which goes first, so that machine noise
// and cache warmth hit both alike) a reference: the cheapest raw way to get
// the same block from the same place. See doc.go ("Latency per stratum") for
// what each reference is and why, and `make bench` for the table.

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

// newBenchSeg builds a segment of datom-like records in EAVT order: key =
// entity (8 bytes) · attribute (2) · typed value · transaction (8), with
// values that compress the way real ones do (small integers, references to
// nearby entities, instants, strings from a vocabulary, some random text).
func newBenchSeg(tb testing.TB, codec segment.Codec, seed uint64) *benchSeg {
	tb.Helper()
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
		tb.Fatal(err)
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
				tb.Fatal(err)
			}
			raw += len(key) + 3
		}
	}
	data, err := w.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	r, err := segment.Open(id, data)
	if err != nil {
		tb.Fatal(err)
	}
	s := &benchSeg{codec: codec, id: id, data: data, ix: r.Index()}
	for i := range s.ix.Blocks {
		block, err := r.ReadBlock(i, nil)
		if err != nil {
			tb.Fatal(err)
		}
		var it segment.BlockIter
		if err := it.InitBlock(s.ix, i, block); err != nil {
			tb.Fatal(err)
		}
		it.First()
		for range s.ix.Blocks[i].Records / 2 {
			it.Next()
		}
		s.keys = append(s.keys, bytes.Clone(it.Key()))
	}
	return s
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

// run measures p for b.N reads of each kind and reports the percentiles of
// both, their ratios and the allocations of our read alone.
func (p *pair) run(b *testing.B) (ours, ref *Latency) {
	ours, ref = NewLatency(), NewLatency()
	refRead := NewLatency()
	batch := max(p.batch, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		oursFirst := (i/batch)%2 == 0
		for side := range 2 {
			if (side == 0) == oursFirst {
				ours.Record(p.timeOurs(b, i, n) / time.Duration(n))
				continue
			}
			total, tRead := p.timeRef(b, i, n)
			ref.Record(total / time.Duration(n))
			if p.decode != nil {
				refRead.Record(tRead / time.Duration(n))
			}
		}
	}
	b.StopTimer()
	ReportPair(b, ours, ref)
	ReportLatency(b, RefReadPrefix, refRead)
	b.ReportMetric(p.oursAllocs(b), UnitOursAllocs)
	return ours, ref
}

// timeOurs times n reads through the strata of the blocks after the i'th,
// leaving prepare and settle out. Without them the n reads are timed as
// one, so that a batch pays for one clock read, not n.
func (p *pair) timeOurs(b *testing.B, i, n int) time.Duration {
	if p.prepare == nil && p.settle == nil {
		t0 := Now()
		for k := range n {
			if err := p.ours((i + k) % p.blocks); err != nil {
				b.Fatalf("read block %d through the strata: %v", (i+k)%p.blocks, err)
			}
		}
		return Now() - t0
	}
	var total time.Duration
	for k := range n {
		blk := (i + k) % p.blocks
		if p.prepare != nil {
			p.prepare(blk)
		}
		t0 := Now()
		if err := p.ours(blk); err != nil {
			b.Fatalf("read block %d through the strata: %v", blk, err)
		}
		total += Now() - t0
		if p.settle != nil {
			p.settle(blk)
		}
	}
	return total
}

// timeRef times n reference reads of the blocks after the i'th, and the
// share of that spent reading (before decode).
func (p *pair) timeRef(b *testing.B, i, n int) (total, read time.Duration) {
	t0 := Now()
	for k := range n {
		blk := (i + k) % p.blocks
		var r0 time.Duration
		if p.decode != nil {
			r0 = Now() // only then: a batch of memory reads must not pay a clock read each
		}
		raw, err := p.read(blk)
		if err != nil {
			b.Fatalf("reference read of block %d: %v", blk, err)
		}
		if p.decode != nil {
			read += Now() - r0
			if err := p.decode(blk, raw); err != nil {
				b.Fatalf("reference decode of block %d: %v", blk, err)
			}
		}
	}
	return Now() - t0, read
}

// oursAllocs measures the allocations of one read through the strata
// (prepare and settle included, so a promotion the read starts counts),
// apart from the reference's.
func (p *pair) oursAllocs(b *testing.B) float64 {
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range runs {
		if p.prepare != nil {
			p.prepare(i % p.blocks)
		}
		if err := p.ours(i % p.blocks); err != nil {
			b.Fatal(err)
		}
		if p.settle != nil {
			p.settle(i % p.blocks)
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs
}

// ---- strata set-up ----

// memoryCapacity holds every block and index of the benchmarks many times over.
const memoryCapacity = 64 << 20

func newMemory(b *testing.B) *cachetiers.Memory {
	m, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: memoryCapacity})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func newDirStore(b *testing.B, segs ...*benchSeg) *cachetiers.DirStore {
	st, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	putAll(b, st, segs...)
	return st
}

func putAll(b *testing.B, t cachetiers.Tier, segs ...*benchSeg) {
	for _, s := range segs {
		if err := t.Put(context.Background(), s.id, s.data); err != nil {
			b.Fatalf("put %s into %s: %v", s.id.Short(), t.Name(), err)
		}
	}
}

func newStratified(b *testing.B, mem *cachetiers.Memory, tiers ...cachetiers.Tier) *cachetiers.Stratified {
	s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: tiers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// warmIndexes reads each segment's index through s, so that memory holds it
// as it does on a node once the segment has been read (DESIGN.md: "once the
// root is cached"). A block read then costs one read at the stratum below.
func warmIndexes(b *testing.B, s *cachetiers.Stratified, segs ...*benchSeg) {
	for _, sg := range segs {
		if _, err := s.Index(context.Background(), sg.id); err != nil {
			b.Fatal(err)
		}
	}
}

// tierHits returns the hits of each stratum of s, by name.
func tierHits(s *cachetiers.Stratified) map[string]int64 {
	m := make(map[string]int64)
	for _, t := range s.Stats().Tiers {
		m[t.Name] = t.Hits
	}
	return m
}

// checkServedBy fails b unless stratum served every one of the reads between
// the two snapshots and no deeper stratum served any. Memory hits count
// index lookups too, so memory is checked only for at least n.
func checkServedBy(b *testing.B, s *cachetiers.Stratified, before map[string]int64, stratum string, n int) {
	after := tierHits(s)
	deeper := false
	for _, t := range s.Stats().Tiers {
		d := after[t.Name] - before[t.Name]
		switch {
		case t.Name == stratum:
			deeper = true
			if d < int64(n) || (stratum != "memory" && d != int64(n)) {
				b.Fatalf("stratum %s served %d of %d reads", stratum, d, n)
			}
		case deeper && d != 0:
			b.Fatalf("stratum %s was meant to serve every read, but %s served %d", stratum, t.Name, d)
		}
	}
	if !deeper {
		b.Fatalf("no stratum named %s", stratum)
	}
}

// benchCodecs are the codecs the tier benchmarks run with: lz4, fast to
// decode, and zstd, smaller.
var benchCodecs = []segment.Codec{segment.CodecLZ4, segment.CodecZstd}

// ---- BenchmarkStratum ----

// BenchmarkStratum measures the latency of reading one decoded block when
// each stratum serves it, each with its reference measured in the same loop.
func BenchmarkStratum(b *testing.B) {
	segs := make(map[segment.Codec]*benchSeg)
	var all []*benchSeg
	for k, c := range benchCodecs {
		segs[c] = newBenchSeg(b, c, uint64(k+1))
		all = append(all, segs[c])
	}
	b.Run("stratum=memory", func(b *testing.B) { benchMemory(b, segs[segment.CodecLZ4]) })
	b.Run("stratum=ssd", func(b *testing.B) { benchSSD(b, all) })
	b.Run("stratum=efs", func(b *testing.B) { benchEFS(b, all) })
	b.Run("stratum=s3", func(b *testing.B) { benchS3(b, all) })
}

// memKey keys the reference caches as the memory tier keys its own.
type memKey struct {
	id    segment.ID
	block int
}

// benchMemory: a memory hit through Stratified.Block against two raw
// lookups of the same decoded blocks: a Get from a plain otter cache (the
// off-the-shelf concurrent W-TinyLFU the memory tier was first built on),
// and a Get from the tier's own policy core, a cachetiers.WTinyLFU, behind
// one mutex as each of the tier's shards holds it. The second isolates what
// Stratified and Memory add above the policy.
func benchMemory(b *testing.B, sg *benchSeg) {
	mem := newMemory(b)
	s := newStratified(b, mem, newDirStore(b, sg))
	ctx := context.Background()
	oc, err := otter.New(&otter.Options[memKey, []byte]{
		MaximumWeight: memoryCapacity,
		Weigher:       func(_ memKey, v []byte) uint32 { return uint32(cap(v)) },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { oc.StopAllGoroutines() })
	wt, err := cachetiers.NewWTinyLFU[memKey, []byte](cachetiers.WTinyLFUOptions{
		Capacity:        memoryCapacity,
		ExpectedEntries: memoryCapacity / segment.DefaultBlockSize,
		Seed:            1,
	}, memKey.hash)
	if err != nil {
		b.Fatal(err)
	}
	var wtMu sync.Mutex
	for i := range sg.blocks() {
		blk, err := s.Block(ctx, sg.id, i)
		if err != nil {
			b.Fatal(err)
		}
		oc.Set(memKey{sg.id, i}, blk)
		wt.Add(memKey{sg.id, i}, blk, uint32(cap(blk)))
	}
	refs := []struct {
		name string
		get  func(memKey) ([]byte, bool)
	}{
		{"otter", oc.GetIfPresent},
		{"wtinylfu", func(k memKey) ([]byte, bool) {
			wtMu.Lock()
			v, ok := wt.Get(k)
			wtMu.Unlock()
			return v, ok
		}},
	}
	for _, ref := range refs {
		b.Run("ref="+ref.name, func(b *testing.B) {
			before := tierHits(s)
			p := &pair{
				blocks: sg.blocks(),
				batch:  64,
				ours: func(i int) error {
					_, err := s.Block(ctx, sg.id, i)
					return err
				},
				read: func(i int) ([]byte, error) {
					v, ok := ref.get(memKey{sg.id, i})
					if !ok {
						return nil, fmt.Errorf("%s reference: block %d missing", ref.name, i)
					}
					return v, nil
				},
			}
			p.run(b)
			checkServedBy(b, s, before, "memory", b.N)
		})
	}
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

// benchSSD: a block read that misses memory (the segment's index held) and
// is served by the ssd tier, against a raw O_DIRECT pread of the same 4 KiB
// aligned range of the same cache file, plus the same decode.
func benchSSD(b *testing.B, segs []*benchSeg) {
	ctx := context.Background()
	dir := b.TempDir()
	ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{
		Dir: dir, CapacityBytes: 16 << 20, RegionSize: 4 << 20,
		// Fixed buffers make the ring read with IORING_OP_READ_FIXED into
		// registered memory; one block range fits in 64 KiB.
		RingOptions: iouring.Options{FixedBuffers: 8, FixedBufferSize: 64 << 10},
	})
	if err != nil {
		b.Skipf("ssd tier unavailable here: %v", err)
	}
	b.Cleanup(func() { ssd.Close() })
	putAll(b, ssd, segs...)
	mem := newMemory(b)
	s := newStratified(b, mem, ssd, newDirStore(b, segs...))
	warmIndexes(b, s, segs...)
	backend := ssd.Stats().Backend // "io_uring", or "pread" where io_uring is forbidden

	raw, err := os.OpenFile(ssdCacheFile(b, dir), os.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Skipf("O_DIRECT reference unavailable: %v", err)
	}
	b.Cleanup(func() { raw.Close() })
	buf := iouring.AlignedBuffer(256 << 10)
	for _, sg := range segs {
		base := locateSegment(b, raw, sg)
		b.Run("backend="+backend+"/codec="+sg.codec.String()+"/ref=pread-odirect", func(b *testing.B) {
			before := tierHits(s)
			p := &pair{
				blocks:  sg.blocks(),
				prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
				ours: func(i int) error {
					_, err := s.Block(ctx, sg.id, i)
					return err
				},
				read: func(i int) ([]byte, error) {
					off, n := sg.ix.BlockRange(i)
					aligned := (n + iouring.BlockSize - 1) &^ (iouring.BlockSize - 1)
					got, err := unix.Pread(int(raw.Fd()), buf[:aligned], base+off)
					if err != nil || got < n {
						return nil, fmt.Errorf("pread %d bytes at %d: got %d: %v", aligned, base+off, got, err)
					}
					return buf[:n], nil
				},
				decode: sg.decode,
			}
			p.run(b)
			checkServedBy(b, s, before, "ssd", b.N+20)
		})
	}
}

// ssdCacheFile returns the ssd tier's one cache file in dir (its name is the
// tier's business; ssd_format.go documents it).
func ssdCacheFile(b *testing.B, dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			return filepath.Join(dir, e.Name())
		}
	}
	b.Fatalf("no cache file in %s", dir)
	return ""
}

// locateSegment finds where sg's bytes start in the ssd cache file f, opened
// with O_DIRECT. The tier places every segment on a 4 KiB boundary
// (ssd_format.go) and a segment opens with its header (magic, id), so the
// first page that equals the segment's first page is it.
func locateSegment(b *testing.B, f *os.File, sg *benchSeg) int64 {
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	first := sg.data[:iouring.BlockSize]
	chunk := iouring.AlignedBuffer(1 << 20)
	for off := int64(0); off < fi.Size(); off += int64(len(chunk)) {
		n, err := unix.Pread(int(f.Fd()), chunk, off)
		if err != nil {
			b.Fatalf("scan the ssd cache file at %d: %v", off, err)
		}
		for p := 0; p+iouring.BlockSize <= n; p += iouring.BlockSize {
			if bytes.Equal(chunk[p:p+iouring.BlockSize], first) {
				return off + int64(p)
			}
		}
	}
	b.Fatalf("segment %s not found in the ssd cache file", sg.id.Short())
	return 0
}

// benchEFS: a block read served by the efs tier (a directory here), against
// open + pread + close of the same range of the same file (what the tier
// does, the fair reference) and against os.ReadFile of the whole segment
// file (the reference), each plus the same decode.
func benchEFS(b *testing.B, segs []*benchSeg) {
	ctx := context.Background()
	efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { efs.Close() })
	putAll(b, efs, segs...)
	mem := newMemory(b)
	s := newStratified(b, mem, efs, newDirStore(b, segs...))
	warmIndexes(b, s, segs...)
	buf := make([]byte, 256<<10)
	for _, sg := range segs {
		path := efs.Path(sg.id)
		refs := []struct {
			name string
			read func(i int) ([]byte, error)
		}{
			{"pread", func(i int) ([]byte, error) {
				off, n := sg.ix.BlockRange(i)
				f, err := os.Open(path)
				if err != nil {
					return nil, err
				}
				defer f.Close()
				if _, err := f.ReadAt(buf[:n], off); err != nil {
					return nil, err
				}
				return buf[:n], nil
			}},
			{"readfile", func(i int) ([]byte, error) {
				data, err := os.ReadFile(path)
				if err != nil {
					return nil, err
				}
				off, n := sg.ix.BlockRange(i)
				if int64(len(data)) < off+int64(n) {
					return nil, fmt.Errorf("%s: %d bytes, block range ends at %d", path, len(data), off+int64(n))
				}
				return data[off : off+int64(n)], nil
			}},
		}
		for _, ref := range refs {
			b.Run("codec="+sg.codec.String()+"/ref="+ref.name, func(b *testing.B) {
				before := tierHits(s)
				p := &pair{
					blocks:  sg.blocks(),
					prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
					ours: func(i int) error {
						_, err := s.Block(ctx, sg.id, i)
						return err
					},
					read:   ref.read,
					decode: sg.decode,
				}
				p.run(b)
				checkServedBy(b, s, before, "efs", b.N+20)
			})
		}
	}
}

// newS3Store returns a store over a fresh bucket of the MinIO that
// `make bench` (scripts/with-servers) started, holding segs. It skips b
// without MinIO, or fails it when servers are required.
func newS3Store(b *testing.B, segs ...*benchSeg) *cachetiers.S3Store {
	srv := testenv.S3(b)
	ctx := context.Background()
	bucket := "strata-bench-" + strconv.FormatUint(rand.Uint64()>>16, 36)
	st, err := cachetiers.NewS3Store(ctx, cachetiers.S3Options{
		Bucket: bucket, Region: srv.Region, Endpoint: srv.Endpoint, UsePathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, AllowRemove: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatalf("create bucket %s at %s: %v", bucket, srv.Endpoint, err)
	}
	b.Cleanup(func() {
		for _, sg := range segs {
			_ = st.Remove(ctx, sg.id)
		}
		_, _ = st.Client().DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
		st.Close()
	})
	putAll(b, st, segs...)
	return st
}

// s3Get reads n bytes at off of segment sg with one raw ranged GetObject
// into buf (or a suffix of n bytes for off < 0).
func s3Get(ctx context.Context, st *cachetiers.S3Store, sg *benchSeg, buf []byte, off int64, n int) ([]byte, error) {
	rng := "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+int64(n)-1, 10)
	if off < 0 {
		rng = "bytes=-" + strconv.Itoa(n)
	}
	out, err := st.Client().GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(st.Bucket()), Key: aws.String(st.Key(sg.id)), Range: aws.String(rng),
	})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, buf[:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// benchS3: a block read served by the store of record on S3 (MinIO on
// loopback), against the raw SDK ranged GetObject of the same bytes over the
// store's own client (same connections), plus the same decode.
func benchS3(b *testing.B, segs []*benchSeg) {
	ctx := context.Background()
	st := newS3Store(b, segs...)
	mem := newMemory(b)
	s := newStratified(b, mem, st)
	warmIndexes(b, s, segs...)
	buf := make([]byte, 256<<10)
	for _, sg := range segs {
		b.Run("codec="+sg.codec.String()+"/ref=sdk-getobject", func(b *testing.B) {
			before := tierHits(s)
			p := &pair{
				blocks:  sg.blocks(),
				prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
				ours: func(i int) error {
					_, err := s.Block(ctx, sg.id, i)
					return err
				},
				read: func(i int) ([]byte, error) {
					off, n := sg.ix.BlockRange(i)
					return s3Get(ctx, st, sg, buf, off, n)
				},
				decode: sg.decode,
			}
			p.run(b)
			checkServedBy(b, s, before, "store", b.N+20)
		})
	}
}

// ---- BenchmarkStratumCold ----

// BenchmarkStratumCold measures a cold point read, Stratified.Get of one key
// of a segment of which nothing is cached (neither its index nor any block,
// in any stratum), and counts its round trips to the store of record:
// DESIGN.md promises at most 1–2 once the root is cached. The reference is
// the same read done raw: a suffix GetObject for the footer and index,
// segment.ParseFooter, a ranged GetObject for the block, the decode and a
// seek in the block.
//
// tiers=store has memory and the store only: the read path alone. With
// tiers=ssd+efs+store the read also misses ssd and efs and then promotes the
// segment into both in the background; fill-gets/op counts the store reads
// that promotion adds (off the read path, but a cost to S3).
func BenchmarkStratumCold(b *testing.B) {
	sg := newBenchSeg(b, segment.CodecLZ4, 11)
	b.Run("store=s3", func(b *testing.B) {
		st := newS3Store(b, sg)
		buf := make([]byte, 256<<10)
		ref := func(i int) ([]byte, error) { return coldRawRead(ctx0, sg, i, buf, st) }
		b.Run("tiers=store/ref=sdk-cold", func(b *testing.B) {
			benchCold(b, sg, ref, func(b *testing.B, counted cachetiers.Tier) ([]cachetiers.Tier, func()) {
				return []cachetiers.Tier{counted}, nil
			}, st)
		})
		b.Run("tiers=ssd+efs+store/ref=sdk-cold", func(b *testing.B) {
			benchCold(b, sg, ref, func(b *testing.B, counted cachetiers.Tier) ([]cachetiers.Tier, func()) {
				ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{Dir: b.TempDir(), CapacityBytes: 32 << 20, RegionSize: 4 << 20})
				if err != nil {
					b.Skipf("ssd tier unavailable here: %v", err)
				}
				b.Cleanup(func() { ssd.Close() })
				efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { efs.Close() })
				forget := func() {
					_ = ssd.Remove(ctx0, sg.id)
					_ = efs.Remove(ctx0, sg.id)
				}
				return []cachetiers.Tier{ssd, efs, counted}, forget
			}, st)
		})
	})
}

var ctx0 = context.Background()

// coldRawRead is the cold reference: the footer and index with one suffix
// GetObject (a second one if the index is larger than the suffix), the block
// with a ranged GetObject, decode, seek to the key.
func coldRawRead(ctx context.Context, sg *benchSeg, i int, buf []byte, st *cachetiers.S3Store) ([]byte, error) {
	tail, err := s3Get(ctx, st, sg, buf, -1, segment.FooterReadSize)
	if err != nil {
		return nil, err
	}
	ix, need, err := segment.ParseFooter(sg.id, tail, sg.ix.Size)
	if err == nil && need > 0 {
		if tail, err = s3Get(ctx, st, sg, buf, -1, need); err == nil {
			ix, _, err = segment.ParseFooter(sg.id, tail, sg.ix.Size)
		}
	}
	if err != nil {
		return nil, err
	}
	key := sg.keys[i]
	blk := ix.Find(key)
	off, n := ix.BlockRange(blk)
	raw, err := s3Get(ctx, st, sg, buf, off, n)
	if err != nil {
		return nil, err
	}
	decoded, err := segment.DecodeBlock(ix, blk, raw, make([]byte, 0, ix.Blocks[blk].RawLength))
	if err != nil {
		return nil, err
	}
	var it segment.BlockIter
	if err := it.InitBlock(ix, blk, decoded); err != nil {
		return nil, err
	}
	if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
		return nil, fmt.Errorf("key of block %d not found by the raw read", i)
	}
	return it.Value(), nil
}

// benchCold runs one cold-read configuration: tiers builds the strata above
// the counted store and returns a function that forgets the segment in them.
func benchCold(b *testing.B, sg *benchSeg, ref func(int) ([]byte, error),
	tiers func(*testing.B, cachetiers.Tier) ([]cachetiers.Tier, func()), store cachetiers.Tier) {
	counted, err := NewDelayTier(store, Dist{}, 0)
	if err != nil {
		b.Fatal(err)
	}
	ts, forget := tiers(b, counted)
	mem := newMemory(b)
	s := newStratified(b, mem, ts...)
	p := &pair{
		blocks: sg.blocks(),
		prepare: func(int) {
			if forget != nil {
				forget()
			}
			mem.Remove(sg.id)
		},
		settle: func(int) {
			// Let the read's promotion finish before the reference runs
			// (and before the next read forgets the segment everywhere).
			if err := s.WaitFills(ctx0); err != nil {
				b.Fatal(err)
			}
		},
		ours: func(i int) error {
			_, ok, err := s.Get(ctx0, sg.id, sg.keys[i])
			if err == nil && !ok {
				err = fmt.Errorf("key of block %d not found", i)
			}
			return err
		},
		read: ref,
	}
	r0, w0 := counted.ReadAts(), counted.WholeReads()
	p.run(b)
	if err := s.WaitFills(ctx0); err != nil {
		b.Fatal(err)
	}
	reads, wholes := counted.ReadAts()-r0, counted.WholeReads()-w0
	// run also makes 20 reads to count allocations.
	ops := float64(b.N + 20)
	b.ReportMetric(float64(reads-wholes)/ops, UnitStoreGets)
	b.ReportMetric(float64(wholes)/ops, UnitFillGets)
}

// ---- BenchmarkStratumEmulated ----

// BenchmarkStratumEmulated is BenchmarkStratum's efs and S3 rows and the
// cold read under an emulated AWS latency profile (ProfileAWS): the efs tier
// and a directory standing in for S3 are wrapped in a DelayTier, and the
// reference waits a delay drawn from the same distribution before its raw
// read, so the ratio still isolates the strata's own cost. The numbers are
// emulated and named so (profile=aws). Each read waits milliseconds: run it
// with a bounded -benchtime, e.g. -benchtime=300x (scripts/bench does).
func BenchmarkStratumEmulated(b *testing.B) {
	prof := ProfileAWS
	sg := newBenchSeg(b, segment.CodecLZ4, 21)
	ctx := context.Background()
	buf := make([]byte, 256<<10)
	preadFile := func(path string, off int64, n int) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	name := "profile=" + prof.Name + "/codec=" + sg.codec.String()

	b.Run("stratum=efs/"+name+"/ref=delay-pread", func(b *testing.B) {
		efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { efs.Close() })
		putAll(b, efs, sg)
		slow, err := NewDelayTier(efs, prof.EFS, 1)
		if err != nil {
			b.Fatal(err)
		}
		refDelay, _ := NewDelay(prof.EFS, 1)
		mem := newMemory(b)
		s := newStratified(b, mem, slow, newDirStore(b, sg))
		warmIndexes(b, s, sg)
		slow.Reseed(1) // the reference draws the same delays, read for read
		before := tierHits(s)
		p := &pair{
			blocks:  sg.blocks(),
			prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
			ours: func(i int) error {
				_, err := s.Block(ctx, sg.id, i)
				return err
			},
			read: func(i int) ([]byte, error) {
				if err := refDelay.Wait(ctx); err != nil {
					return nil, err
				}
				off, n := sg.ix.BlockRange(i)
				return preadFile(efs.Path(sg.id), off, n)
			},
			decode: sg.decode,
		}
		p.run(b)
		checkServedBy(b, s, before, "efs", b.N+20)
	})

	// The emulated S3: a DirStore (a directory in the page cache, tens of
	// microseconds) behind the S3 delay.
	emulatedS3 := func(b *testing.B, seed uint64) (*cachetiers.DirStore, *DelayTier, *Delay) {
		dir := newDirStore(b, sg)
		slow, err := NewDelayTier(dir, prof.Store, seed)
		if err != nil {
			b.Fatal(err)
		}
		refDelay, _ := NewDelay(prof.Store, seed) // the same delays, read for read
		return dir, slow, refDelay
	}

	b.Run("stratum=s3/"+name+"/ref=delay-pread", func(b *testing.B) {
		dir, slow, refDelay := emulatedS3(b, 3)
		mem := newMemory(b)
		s := newStratified(b, mem, slow)
		warmIndexes(b, s, sg)
		slow.Reseed(3)
		before := tierHits(s)
		p := &pair{
			blocks:  sg.blocks(),
			prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
			ours: func(i int) error {
				_, err := s.Block(ctx, sg.id, i)
				return err
			},
			read: func(i int) ([]byte, error) {
				if err := refDelay.Wait(ctx); err != nil {
					return nil, err
				}
				off, n := sg.ix.BlockRange(i)
				return preadFile(dir.Path(sg.id), off, n)
			},
			decode: sg.decode,
		}
		p.run(b)
		checkServedBy(b, s, before, "store", b.N+20)
	})

	b.Run("stratum=cold/"+name+"/ref=delay-cold", func(b *testing.B) {
		dir, slow, refDelay := emulatedS3(b, 5)
		ref := func(i int) ([]byte, error) {
			// Two round trips, as coldRawRead makes against S3.
			if err := refDelay.Wait(ctx); err != nil {
				return nil, err
			}
			tail, err := preadFile(dir.Path(sg.id), sg.ix.Size-segment.FooterReadSize, segment.FooterReadSize)
			if err != nil {
				return nil, err
			}
			ix, need, err := segment.ParseFooter(sg.id, tail, sg.ix.Size)
			if err != nil || need > 0 {
				return nil, fmt.Errorf("parse footer: need %d: %v", need, err)
			}
			blk := ix.Find(sg.keys[i])
			if err := refDelay.Wait(ctx); err != nil {
				return nil, err
			}
			off, n := ix.BlockRange(blk)
			raw, err := preadFile(dir.Path(sg.id), off, n)
			if err != nil {
				return nil, err
			}
			_, err = segment.DecodeBlock(ix, blk, raw, make([]byte, 0, ix.Blocks[blk].RawLength))
			return nil, err
		}
		benchCold(b, sg, ref, func(b *testing.B, counted cachetiers.Tier) ([]cachetiers.Tier, func()) {
			return []cachetiers.Tier{counted}, nil
		}, slow)
	})
}
