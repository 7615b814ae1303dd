package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/internal/testenv"
	"github.com/stratadb/strata/segment"
)

// The per-stratum latency benchmarks. Each one reads one block of a segment
// through cachetiers.Stratified, configured so that one stratum serves it,
// and in the same loop (alternating which goes first, so that machine noise
// and cache warmth hit both alike) a reference: the cheapest raw way to get
// the same block from the same place. See doc.go ("Latency per stratum") for
// what each reference is and why, and `make bench` for the table.

// ---- the segment read and the loop (stratum.go) ----

// newBenchSeg is newStratumSegment for a benchmark or test.
func newBenchSeg(tb testing.TB, codec segment.Codec, seed uint64) *benchSeg {
	tb.Helper()
	s, err := newStratumSegment(codec, seed)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// run measures p for b.N reads of each kind and reports the percentiles of
// both, their ratios and the allocations of our read alone.
func (p *pair) run(b *testing.B) (ours, ref *Latency) {
	b.ReportAllocs()
	b.ResetTimer()
	ours, ref, refRead, err := p.measure(b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	ReportPair(b, ours, ref)
	ReportLatency(b, RefReadPrefix, refRead)
	allocs, err := p.oursAllocs()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(allocs, UnitOursAllocs)
	return ours, ref
}

// ---- strata set-up (stratumSetup, stratum_suite.go) ----

// benchSetup is the suite's set-up for a benchmark: directories from
// b.TempDir, closed by b.Cleanup.
func benchSetup(b *testing.B) *stratumSetup {
	return &stratumSetup{ctx: context.Background(), newDir: func() (string, error) { return b.TempDir(), nil }, onClose: b.Cleanup}
}

func newMemory(b *testing.B) *cachetiers.Memory {
	m, err := benchSetup(b).memoryTier()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func newDirStore(b *testing.B, segs ...*benchSeg) *cachetiers.DirStore {
	st, err := benchSetup(b).dirStore(segs...)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func putAll(b *testing.B, t cachetiers.Tier, segs ...*benchSeg) {
	if err := benchSetup(b).putAll(t, segs...); err != nil {
		b.Fatal(err)
	}
}

func newStratified(b *testing.B, mem *cachetiers.Memory, tiers ...cachetiers.Tier) *cachetiers.Stratified {
	s, err := benchSetup(b).stratified(mem, tiers...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func warmIndexes(b *testing.B, s *cachetiers.Stratified, segs ...*benchSeg) {
	if err := benchSetup(b).warmIndexes(s, segs...); err != nil {
		b.Fatal(err)
	}
}

// checkServedBy fails b unless stratum served every one of the reads
// between the two snapshots and no deeper stratum served any (servedOnly).
func checkServedBy(b *testing.B, s *cachetiers.Stratified, before map[string]int64, stratum string, n int) {
	if err := servedOnly(s, before, stratum, n); err != nil {
		b.Fatal(err)
	}
}

// runRows runs each row as a sub-benchmark named by what follows prefix in
// its name, and checks that its stratum served every read of ours.
func runRows(b *testing.B, prefix string, rows []stratumRow) {
	for _, row := range rows {
		b.Run(strings.TrimPrefix(row.name, prefix), func(b *testing.B) {
			before := tierHits(row.s)
			row.pair.run(b)
			checkServedBy(b, row.s, before, row.stratum, b.N+row.extra)
		})
	}
}

// ---- BenchmarkStratum ----

// BenchmarkStratum measures the latency of reading one decoded block when
// each stratum serves it, each with its reference measured in the same loop
// (the rows of stratumSetup: memoryRows, ssdRows, efsRows; and benchS3).
func BenchmarkStratum(b *testing.B) {
	segs := make(map[segment.Codec]*benchSeg)
	var all []*benchSeg
	for k, c := range benchCodecs {
		segs[c] = newBenchSeg(b, c, uint64(k+1))
		all = append(all, segs[c])
	}
	b.Run("stratum=memory", func(b *testing.B) {
		rows, err := benchSetup(b).memoryRows(segs[segment.CodecLZ4])
		if err != nil {
			b.Fatal(err)
		}
		runRows(b, "stratum=memory/", rows)
	})
	b.Run("stratum=ssd", func(b *testing.B) {
		rows, skip, err := benchSetup(b).ssdRows(all)
		if err != nil {
			b.Fatal(err)
		}
		if skip != "" {
			b.Skip(skip)
		}
		runRows(b, "stratum=ssd/", rows)
	})
	b.Run("stratum=efs", func(b *testing.B) {
		rows, err := benchSetup(b).efsRows(all)
		if err != nil {
			b.Fatal(err)
		}
		runRows(b, "stratum=efs/", rows)
	})
	b.Run("stratum=s3", func(b *testing.B) { benchS3(b, all) })
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
	u := benchSetup(b)
	st := newS3Store(b, segs...)
	mem := newMemory(b)
	s := newStratified(b, mem, st)
	warmIndexes(b, s, segs...)
	buf := make([]byte, 256<<10)
	var rows []stratumRow
	for _, sg := range segs {
		p := u.missPair(s, mem, sg, func(i int) ([]byte, error) {
			off, n := sg.ix.BlockRange(i)
			return s3Get(ctx, st, sg, buf, off, n)
		})
		rows = append(rows, stratumRow{name: "codec=" + sg.codec.String() + "/ref=sdk-getobject", pair: p, s: s, stratum: "store", extra: missExtra})
	}
	runRows(b, "", rows)
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
		benchSetup(b).missPair(s, mem, sg, func(i int) ([]byte, error) {
			if err := refDelay.Wait(ctx); err != nil {
				return nil, err
			}
			off, n := sg.ix.BlockRange(i)
			return preadFile(efs.Path(sg.id), buf, off, n)
		}).run(b)
		checkServedBy(b, s, before, "efs", b.N+missExtra)
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
		benchSetup(b).missPair(s, mem, sg, func(i int) ([]byte, error) {
			if err := refDelay.Wait(ctx); err != nil {
				return nil, err
			}
			off, n := sg.ix.BlockRange(i)
			return preadFile(dir.Path(sg.id), buf, off, n)
		}).run(b)
		checkServedBy(b, s, before, "store", b.N+missExtra)
	})

	b.Run("stratum=cold/"+name+"/ref=delay-cold", func(b *testing.B) {
		dir, slow, refDelay := emulatedS3(b, 5)
		ref := func(i int) ([]byte, error) {
			// Two round trips, as coldRawRead makes against S3.
			if err := refDelay.Wait(ctx); err != nil {
				return nil, err
			}
			tail, err := preadFile(dir.Path(sg.id), buf, sg.ix.Size-segment.FooterReadSize, segment.FooterReadSize)
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
			raw, err := preadFile(dir.Path(sg.id), buf, off, n)
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
