package segment

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Benchmarks compare our encode and decode with the raw codec calls on the
// same block contents, in the same run (STYLE.md: measure the reference in the
// same run and report the ratio):
//
//	go test ./segment/ -run '^$' -bench 'Encode|Decode|Overhead' -benchtime 2s
//
// "raw" is zstd Encoder.EncodeAll / Decoder.DecodeAll (same options as ours)
// or lz4 Compressor.CompressBlock / UncompressBlock, applied to exactly the
// decoded blocks our writer produces; for codec none it is a copy. Throughput
// is in decoded block bytes for both, so MB/s compare directly.

// benchData is a few MB of datom-like records cut into ~64 KiB segments.
type benchData struct {
	segs  [][]record // records of each segment
	bytes int64      // decoded block bytes of all segments (same for every codec)
}

// benchCorpus builds EAVT-like records: key = entity (8 bytes, sorted, dense)
// + attribute (4 bytes, 3–12 per entity from 40) + value (an 8-byte integer
// or a short string from a vocabulary); value = transaction (8 bytes, the
// entity's creating tx, so runs repeat) + an added flag.
var benchCorpus = sync.OnceValue(func() *benchData {
	const total, segRaw = 4 << 20, 64 << 10
	rng := rand.New(rand.NewPCG(42, 42))
	words := []string{"alice", "bob", "carol", "dave", "eve", "mallory", "trent", "peggy", "victor", "walter",
		"active", "inactive", "pending", "us-east-1", "eu-west-1", "ap-south-1", "gold", "silver", "bronze"}
	d := &benchData{}
	// Keys and values live back to back in one arena, as in the sorted
	// buffer an indexing job hands to the writer.
	arena := make([]byte, 0, total+total/2)
	var cur []record
	curBytes := 0
	e := uint64(1 << 40)
	tx := uint64(1 << 42)
	for size := 0; size < total; {
		e += 1 + uint64(rng.IntN(3))
		if rng.IntN(4) == 0 {
			tx++
		}
		attrs := 3 + rng.IntN(10)
		a := uint32(10)
		for range attrs {
			a += 1 + uint32(rng.IntN(3))
			start := len(arena)
			arena = binary.BigEndian.AppendUint64(arena, e)
			arena = binary.BigEndian.AppendUint32(arena, a)
			if a%3 == 0 {
				arena = append(arena, words[rng.IntN(len(words))]...)
			} else {
				arena = binary.BigEndian.AppendUint64(arena, uint64(rng.IntN(100000)))
			}
			mid := len(arena)
			arena = binary.BigEndian.AppendUint64(arena, tx)
			arena = append(arena, 1)
			k, v := arena[start:mid:mid], arena[mid:]
			cur = append(cur, record{k, v})
			n := len(k) + len(v) + 4
			curBytes += n
			size += n
			if curBytes >= segRaw {
				d.segs = append(d.segs, cur)
				cur, curBytes = nil, 0
			}
		}
	}
	if len(cur) > 0 {
		d.segs = append(d.segs, cur)
	}
	// Decoded block bytes, from a codec-none encoding.
	for _, seg := range encodeAll(nil, WriterOptions{}, d.segs) {
		ix, err := Verify(ID{}, seg)
		if err != nil {
			panic(err)
		}
		for _, h := range ix.Blocks {
			d.bytes += int64(h.RawLength)
		}
	}
	return d
})

func encodeAll(tb testing.TB, opts WriterOptions, segs [][]record) [][]byte {
	out := make([][]byte, len(segs))
	for i, recs := range segs {
		w, err := NewWriter(nil, ID{}, opts)
		if err != nil {
			panic(err)
		}
		for _, r := range recs {
			if err := w.Add(r.key, r.value); err != nil {
				panic(err)
			}
		}
		if out[i], err = w.Finish(); err != nil {
			panic(err)
		}
	}
	return out
}

// fixture holds one codec's encoding of the corpus and what the raw codec
// calls need: each block decoded, and each block's stored payload.
type fixture struct {
	codec    Codec
	segs     [][]byte
	ixs      []*Index
	raws     [][]byte // decoded blocks, in order
	payloads [][]byte // stored payloads (without checksum), in order
	stored   int64    // bytes of all segments, padding included
	payload  int64    // bytes of all payloads
}

var fixtures sync.Map // Codec -> *fixture

func getFixture(codec Codec) *fixture {
	if f, ok := fixtures.Load(codec); ok {
		return f.(*fixture)
	}
	d := benchCorpus()
	f := &fixture{codec: codec, segs: encodeAll(nil, WriterOptions{Codec: codec}, d.segs)}
	for _, seg := range f.segs {
		ix, err := Verify(ID{}, seg)
		if err != nil {
			panic(err)
		}
		f.ixs = append(f.ixs, ix)
		f.stored += int64(len(seg))
		for i, h := range ix.Blocks {
			off, n := ix.BlockRange(i)
			raw, err := DecodeBlock(ix, i, seg[off:off+int64(n)], nil)
			if err != nil {
				panic(err)
			}
			f.raws = append(f.raws, raw)
			f.payloads = append(f.payloads, seg[h.Offset:h.Offset+int64(h.Length)-ChecksumSize])
			f.payload += int64(h.Length - ChecksumSize)
		}
	}
	fixtures.Store(codec, f)
	return f
}

// benchState holds reused buffers so that neither side allocates per op.
type benchState struct {
	f      *fixture
	w      *Writer
	out    []byte
	buf    []byte
	lz4c   lz4.Compressor
	zenc   *zstd.Encoder
	zdec   *zstd.Decoder
	lz4dst []byte
}

func newBenchState(codec Codec) *benchState {
	s := &benchState{f: getFixture(codec)}
	var err error
	if s.w, err = NewWriter(nil, ID{}, WriterOptions{Codec: codec}); err != nil {
		panic(err)
	}
	if codec == CodecZstd {
		// A separate encoder and decoder, built with the options ours use.
		if s.zenc, err = zstd.NewWriter(nil, zstdEncoderOptions(zstd.SpeedDefault)...); err != nil {
			panic(err)
		}
		if s.zdec, err = zstd.NewReader(nil, zstdDecoderOptions()...); err != nil {
			panic(err)
		}
	}
	s.buf = make([]byte, 0, 1<<20)
	s.out = make([]byte, 0, 1<<20)
	s.lz4dst = make([]byte, lz4.CompressBlockBound(1<<20))
	return s
}

// oursEncode encodes every segment of the corpus.
func (s *benchState) oursEncode() {
	for _, recs := range benchCorpus().segs {
		s.w.Reset(s.out[:0], ID{})
		for _, r := range recs {
			if err := s.w.Add(r.key, r.value); err != nil {
				panic(err)
			}
		}
		var err error
		if s.out, err = s.w.Finish(); err != nil {
			panic(err)
		}
	}
}

// oursEncodeBlocks runs the Writer's codec path (appendStoredBlock: compress,
// checksum) over every decoded block: the same bytes rawEncode compresses,
// without building the records.
func (s *benchState) oursEncodeBlocks() {
	for _, raw := range s.f.raws {
		s.buf = appendStoredBlock(s.buf[:0], s.f.codec, s.w.zenc, raw)
	}
}

// rawEncode compresses every decoded block with the raw codec call.
func (s *benchState) rawEncode() {
	for _, raw := range s.f.raws {
		switch s.f.codec {
		case CodecNone:
			s.buf = append(s.buf[:0], raw...)
		case CodecLZ4:
			if _, err := s.lz4c.CompressBlock(raw, s.lz4dst); err != nil {
				panic(err)
			}
		case CodecZstd:
			s.buf = s.zenc.EncodeAll(raw, s.buf[:0])
		}
	}
}

// oursDecode decodes every block with DecodeBlock (checksum, decompress,
// block checks), the index already parsed as a cache would hold it.
func (s *benchState) oursDecode() {
	for j, ix := range s.f.ixs {
		seg := s.f.segs[j]
		for i := range ix.Blocks {
			off, n := ix.BlockRange(i)
			var err error
			if s.buf, err = DecodeBlock(ix, i, seg[off:off+int64(n)], s.buf[:0]); err != nil {
				panic(err)
			}
		}
	}
}

// checksumPayloads computes xxhash64 of every stored payload, as DecodeBlock
// does before it decompresses.
func (s *benchState) checksumPayloads() {
	for _, p := range s.f.payloads {
		benchSink += xxhash.Sum64(p)
	}
}

var benchSink uint64

// rawDecode decompresses every stored payload with the raw codec call.
func (s *benchState) rawDecode() {
	for i, p := range s.f.payloads {
		switch s.f.codec {
		case CodecNone:
			s.buf = append(s.buf[:0], p...)
		case CodecLZ4:
			if _, err := lz4.UncompressBlock(p, s.buf[:len(s.f.raws[i])]); err != nil {
				panic(err)
			}
		case CodecZstd:
			var err error
			// Capped at the raw length as DecodeBlock does (WithDecodeAllCapLimit).
			if _, err = s.zdec.DecodeAll(p, s.buf[:0:len(s.f.raws[i])]); err != nil {
				panic(err)
			}
		}
	}
}

func (s *benchState) run(op, impl string) {
	switch op + "/" + impl {
	case "encode/ours":
		s.oursEncode()
	case "encode/raw", "encode-block/raw":
		s.rawEncode()
	case "encode-block/ours":
		s.oursEncodeBlocks()
	case "decode/ours":
		s.oursDecode()
	case "decode/raw":
		s.rawDecode()
	}
}

func benchOp(b *testing.B, op string) {
	for _, codec := range codecs {
		for _, impl := range []string{"ours", "raw"} {
			b.Run(fmt.Sprintf("codec=%s/impl=%s", codec, impl), func(b *testing.B) {
				s := newBenchState(codec)
				s.run(op, impl) // warm pools and buffers
				b.SetBytes(benchCorpus().bytes)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					s.run(op, impl)
				}
				if impl == "ours" && op == "encode" {
					f := s.f
					b.ReportMetric(float64(benchCorpus().bytes)/float64(f.payload), "ratio")
					b.ReportMetric(100*float64(f.stored-f.payload)/float64(f.stored), "%overhead-bytes")
				}
			})
		}
	}
}

// BenchmarkEncode: Writer.Add of every record plus Finish (ours) against the
// raw compression of the same blocks.
func BenchmarkEncode(b *testing.B) { benchOp(b, "encode") }

// BenchmarkDecode: DecodeBlock of every block (ours) against the raw
// decompression of the same payloads.
func BenchmarkDecode(b *testing.B) { benchOp(b, "decode") }

// BenchmarkOverhead runs ours and raw interleaved in each iteration, so both
// see the same machine, alternating which goes first so that neither always
// finds the other's data in cache. It reports the median over iterations of
// the per-iteration time ratio as "ours/raw": on these shared machines another
// process's time slice lands on one side of a pair now and then, and a median
// of paired ratios ignores it where a ratio of sums does not.
//
// op=encode is the whole Writer (Add of every record, which builds the
// prefix-compressed records and restart points, then Finish) against the raw
// compression of the finished blocks; op=encode-block is the Writer's codec
// path alone (compress + checksum) on those same block bytes; op=decode is
// DecodeBlock (checksum, decompress, block checks) against raw decompression,
// with the floor any checked decode has: raw decompression plus xxhash64 of
// the payload, over raw decompression alone.
func BenchmarkOverhead(b *testing.B) {
	for _, codec := range []Codec{CodecLZ4, CodecZstd} {
		for _, op := range []string{"encode", "encode-block", "decode"} {
			b.Run(fmt.Sprintf("codec=%s/op=%s", codec, op), func(b *testing.B) {
				s := newBenchState(codec)
				s.run(op, "ours")
				s.run(op, "raw")
				b.SetBytes(2 * benchCorpus().bytes)
				b.ReportAllocs()
				var ours, raw time.Duration
				var ratios, floors []float64
				first := [2]string{"ours", "raw"}
				for b.Loop() {
					var d [2]time.Duration
					for j := range 2 {
						t0 := time.Now()
						s.run(op, first[j])
						d[j] = time.Since(t0)
					}
					if first[0] == "raw" {
						d[0], d[1] = d[1], d[0]
					}
					ours, raw = ours+d[0], raw+d[1]
					ratios = append(ratios, float64(d[0])/float64(d[1]))
					first[0], first[1] = first[1], first[0]
					if op == "decode" {
						// The least a checked decode can cost: the raw
						// call plus xxhash64 of the payload it reads.
						t0 := time.Now()
						s.checksumPayloads()
						floors = append(floors, float64(d[1]+time.Since(t0))/float64(d[1]))
					}
				}
				slices.Sort(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "ours/raw")
				if len(floors) > 0 {
					slices.Sort(floors)
					b.ReportMetric(floors[len(floors)/2], "floor-(raw+xxhash)/raw")
				}
				mb := float64(benchCorpus().bytes) / 1e6
				b.ReportMetric(mb*float64(b.N)/ours.Seconds(), "ours-MB/s")
				b.ReportMetric(mb*float64(b.N)/raw.Seconds(), "raw-MB/s")
			})
		}
	}
}

// BenchmarkScan decodes every block and iterates over every record.
func BenchmarkScan(b *testing.B) {
	for _, codec := range codecs {
		b.Run("codec="+codec.String(), func(b *testing.B) {
			f := getFixture(codec)
			var buf []byte
			var it BlockIter
			b.SetBytes(benchCorpus().bytes)
			b.ReportAllocs()
			for b.Loop() {
				for j, ix := range f.ixs {
					for i := range ix.Blocks {
						off, n := ix.BlockRange(i)
						var err error
						if buf, err = DecodeBlock(ix, i, f.segs[j][off:off+int64(n)], buf[:0]); err != nil {
							b.Fatal(err)
						}
						if err := it.InitBlock(ix, i, buf); err != nil {
							b.Fatal(err)
						}
						for ok := it.First(); ok; ok = it.Next() {
						}
					}
				}
			}
		})
	}
}

// BenchmarkSeekGE measures a point lookup inside an already decoded block.
func BenchmarkSeekGE(b *testing.B) {
	f := getFixture(CodecNone)
	recs := benchCorpus().segs[0]
	ix := f.ixs[0]
	off, n := ix.BlockRange(0)
	buf, err := DecodeBlock(ix, 0, f.segs[0][off:off+int64(n)], nil)
	if err != nil {
		b.Fatal(err)
	}
	var it BlockIter
	if err := it.InitBlock(ix, 0, buf); err != nil {
		b.Fatal(err)
	}
	keys := recs[:ix.Blocks[0].Records]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !it.SeekGE(keys[i].key) {
			b.Fatal("not found")
		}
		i = (i + 7) % len(keys)
	}
}
