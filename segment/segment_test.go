package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stratadb/strata/anomaly"
)

var codecs = []Codec{CodecNone, CodecLZ4, CodecZstd}

type record struct{ key, value []byte }

// testID is a fixed segment ID so that test output is stable.
var testID = ID{0x7f, 0x3a, 0x12, 0xbc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// randomRecords returns n records with distinct sorted keys. Keys share
// prefixes (a few "entities" with many "attributes") so prefix compression
// and restart points are exercised; some keys and values exceed 127 bytes so
// multi-byte varints are too.
func randomRecords(rng *rand.Rand, n int) []record {
	seen := make(map[string]bool, n)
	recs := make([]record, 0, n)
	for len(recs) < n {
		var k []byte
		switch rng.IntN(4) {
		case 0:
			k = make([]byte, rng.IntN(4))
			for i := range k {
				k[i] = byte(rng.IntN(256))
			}
		case 1:
			k = make([]byte, 130+rng.IntN(200))
			for i := range k {
				k[i] = byte('a' + rng.IntN(3))
			}
		default:
			k = binary.BigEndian.AppendUint64(nil, uint64(rng.IntN(n/4+1)))
			k = binary.BigEndian.AppendUint32(k, uint32(rng.IntN(50)))
		}
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		v := make([]byte, rng.IntN(24))
		if rng.IntN(20) == 0 {
			v = make([]byte, 200+rng.IntN(3000))
		}
		for i := range v {
			v[i] = byte(rng.IntN(8)) // compressible
		}
		recs = append(recs, record{k, v})
	}
	slices.SortFunc(recs, func(a, b record) int { return bytes.Compare(a.key, b.key) })
	return recs
}

func build(t testing.TB, id ID, opts WriterOptions, recs []record) []byte {
	t.Helper()
	w, err := NewWriter(nil, id, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Add(r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	seg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := randomRecords(rng, 3000)
	for _, codec := range codecs {
		for _, bs := range []int{MinBlockSize, 4 << 10, DefaultBlockSize} {
			t.Run(fmt.Sprintf("codec=%s/block=%d", codec, bs), func(t *testing.T) {
				prefix := []byte("caller's bytes")
				w, err := NewWriter(slices.Clone(prefix), testID, WriterOptions{Codec: codec, BlockSize: bs})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if err := w.Add(r.key, r.value); err != nil {
						t.Fatal(err)
					}
				}
				out, err := w.Finish()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(out, prefix) {
					t.Fatal("Finish did not append to dst")
				}
				seg := out[len(prefix):]
				ix, err := Verify(testID, seg)
				if err != nil {
					t.Fatal(err)
				}
				if ix.Records != int64(len(recs)) || ix.Codec != codec || ix.Size != int64(len(seg)) {
					t.Fatalf("index: %d records, codec %s, size %d", ix.Records, ix.Codec, ix.Size)
				}
				if bs == MinBlockSize && len(ix.Blocks) < 20 {
					t.Fatalf("only %d blocks", len(ix.Blocks))
				}
				for i := range ix.Blocks {
					off, _ := ix.BlockRange(i)
					if off%BlockAlign != 0 {
						t.Fatalf("block %d range starts at %d", i, off)
					}
				}
				checkReader(t, seg, recs, rng)

				// The footer and index from a suffix read, following need.
				tail := seg[max(0, len(seg)-FooterReadSize):]
				for {
					ix2, need, err := ParseFooter(testID, tail, int64(len(seg)))
					if err != nil {
						t.Fatal(err)
					}
					if need == 0 {
						if len(ix2.Blocks) != len(ix.Blocks) || !bytes.Equal(ix2.LastKey, ix.LastKey) {
							t.Fatal("ParseFooter disagrees with Verify")
						}
						break
					}
					if need <= len(tail) || need > len(seg) {
						t.Fatalf("need %d with a tail of %d bytes of %d", need, len(tail), len(seg))
					}
					tail = seg[len(seg)-need:]
				}
			})
		}
	}
}

// checkReader compares a segment's Reader against the sorted slice recs.
func checkReader(t *testing.T, seg []byte, recs []record, rng *rand.Rand) {
	t.Helper()
	r, err := Open(testID, seg)
	if err != nil {
		t.Fatal(err)
	}
	it := r.Iter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(recs) || !bytes.Equal(it.Key(), recs[i].key) || !bytes.Equal(it.Value(), recs[i].value) {
			t.Fatalf("record %d: got %s", i, fmtKey(it.Key()))
		}
		i++
	}
	if it.Err() != nil || i != len(recs) {
		t.Fatalf("iterated %d of %d records: %v", i, len(recs), it.Err())
	}
	// SeekGE against the oracle, for present keys, neighbours and random bytes.
	for n := 0; n < 2000; n++ {
		var target []byte
		switch {
		case len(recs) == 0 || n%3 == 0:
			target = make([]byte, rng.IntN(14))
			for j := range target {
				target[j] = byte(rng.IntN(256))
			}
		case n%3 == 1:
			target = recs[rng.IntN(len(recs))].key
		default:
			k := recs[rng.IntN(len(recs))].key
			target = append(slices.Clone(k), 0) // just after k
		}
		want := sort.Search(len(recs), func(j int) bool { return bytes.Compare(recs[j].key, target) >= 0 })
		got := it.SeekGE(target)
		if got != (want < len(recs)) || (got && !bytes.Equal(it.Key(), recs[want].key)) {
			t.Fatalf("SeekGE(%s) = %v %s, want record %d", fmtKey(target), got, fmtKey(it.Key()), want)
		}
		// Next after SeekGE continues in order, across blocks.
		if got && want+1 < len(recs) {
			if !it.Next() || !bytes.Equal(it.Key(), recs[want+1].key) {
				t.Fatalf("Next after SeekGE(%s): %s, want %s", fmtKey(target), fmtKey(it.Key()), fmtKey(recs[want+1].key))
			}
		}
		v, ok, err := r.Get(target)
		exact := want < len(recs) && bytes.Equal(recs[want].key, target)
		if err != nil || ok != exact || (ok && !bytes.Equal(v, recs[want].value)) {
			t.Fatalf("Get(%s) = %v, %v", fmtKey(target), ok, err)
		}
	}
}

func TestEmptySegment(t *testing.T) {
	for _, codec := range codecs {
		seg := build(t, testID, WriterOptions{Codec: codec}, nil)
		if len(seg) != HeaderSize+1+FooterSize {
			t.Fatalf("empty segment of %d bytes", len(seg))
		}
		ix, err := Verify(testID, seg)
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.Blocks) != 0 || ix.Records != 0 || ix.Find([]byte("x")) != -1 {
			t.Fatalf("empty index %+v", ix)
		}
		if off, n := ix.BlockRange(0); off != 0 || n != 0 {
			t.Fatal("BlockRange on an empty segment")
		}
		checkReader(t, seg, nil, rand.New(rand.NewPCG(3, 4)))
	}
}

func TestParseFooterEveryTailLength(t *testing.T) {
	// Long keys make the index span several FooterReadSize suffixes.
	var recs []record
	for i := range 300 {
		recs = append(recs, record{fmt.Appendf(nil, "%s%06d", strings.Repeat("k", 200), i), []byte("v")})
	}
	seg := build(t, testID, WriterOptions{Codec: CodecLZ4, BlockSize: MinBlockSize}, recs)
	ix, err := Verify(testID, seg)
	if err != nil {
		t.Fatal(err)
	}
	indexLen := len(seg) - int(ix.Blocks[len(ix.Blocks)-1].Offset) - ix.Blocks[len(ix.Blocks)-1].Length
	if indexLen <= FooterReadSize {
		t.Fatalf("index of %d bytes fits one suffix read; the test wants it longer", indexLen)
	}
	for n := 0; n <= len(seg); n += 1 + n/50 {
		ix, need, err := ParseFooter(testID, seg[len(seg)-n:], int64(len(seg)))
		switch {
		case err != nil:
			t.Fatalf("tail %d: %v", n, err)
		case n < FooterSize:
			if ix != nil || need != FooterSize {
				t.Fatalf("tail %d: need %d, want %d", n, need, FooterSize)
			}
		case n < indexLen && (ix != nil || need != indexLen):
			t.Fatalf("tail %d: need %d, want %d", n, need, indexLen)
		case n >= indexLen && (ix == nil || need != 0):
			t.Fatalf("tail %d: need %d", n, need)
		}
	}
}

func TestParseFooterWrongSize(t *testing.T) {
	seg := build(t, testID, WriterOptions{Codec: CodecZstd, BlockSize: MinBlockSize}, randomRecords(rand.New(rand.NewPCG(5, 6)), 200))
	for _, size := range []int64{int64(len(seg)) - 1, int64(len(seg)) + 1, int64(len(seg)) + BlockAlign, 0, HeaderSize + FooterSize - 1, -1} {
		tail := seg[len(seg)-FooterReadSize:]
		_, _, err := ParseFooter(testID, tail, size)
		assertCorrupt(t, err, fmt.Sprintf("size %d of %d", size, len(seg)))
	}
	// The right bytes under the wrong name.
	_, _, err := ParseFooter(NewID(), seg, int64(len(seg)))
	assertCorrupt(t, err, "wrong id")
	_, err = Verify(NewID(), seg)
	assertCorrupt(t, err, "wrong id")
}

func assertCorrupt(t *testing.T, err error, what string) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, anomaly.Fault) || !errors.As(err, &ce) {
		t.Fatalf("%s: error %v is not a corruption", what, err)
	}
	if ce.ID != testID && !strings.Contains(what, "id") {
		t.Fatalf("%s: error names segment %s", what, ce.ID)
	}
	if !strings.HasPrefix(ce.Error(), "segment "+ce.ID.Short()+": ") {
		t.Fatalf("%s: message %q", what, ce.Error())
	}
}

// TestFlipEveryByte flips each byte of small segments, padding included: each
// flip must make Verify fail with a corruption error, and must not make Open,
// iteration or Get panic.
func TestFlipEveryByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	recs := randomRecords(rng, 40)
	for i := range recs {
		recs[i].value = recs[i].value[:min(len(recs[i].value), 30)]
	}
	for _, codec := range codecs {
		seg := build(t, testID, WriterOptions{Codec: codec, BlockSize: 512}, recs)
		ix, err := Verify(testID, seg)
		if err != nil {
			t.Fatal(err)
		}
		if len(ix.Blocks) < 3 {
			t.Fatalf("%s: %d blocks", codec, len(ix.Blocks))
		}
		bad := slices.Clone(seg)
		for p := range bad {
			for _, mask := range []byte{0x01, 0x80} {
				bad[p] ^= mask
				_, err := Verify(testID, bad)
				assertCorrupt(t, err, fmt.Sprintf("%s: byte %d ^ %#x", codec, p, mask))
				if r, err := Open(testID, bad); err == nil {
					it := r.Iter()
					for ok := it.First(); ok; ok = it.Next() {
					}
					_, _, _ = r.Get(recs[p%len(recs)].key)
				}
				bad[p] ^= mask
			}
		}
		for n := range len(seg) {
			_, err := Verify(testID, seg[:n])
			assertCorrupt(t, err, fmt.Sprintf("%s: truncated to %d", codec, n))
		}
		_, err = Verify(testID, append(slices.Clone(seg), 0))
		assertCorrupt(t, err, "one byte appended")
	}
}

func TestDecodeBlockMisuse(t *testing.T) {
	seg := build(t, testID, WriterOptions{Codec: CodecLZ4, BlockSize: MinBlockSize}, randomRecords(rand.New(rand.NewPCG(9, 10)), 300))
	r, err := Open(testID, seg)
	if err != nil {
		t.Fatal(err)
	}
	ix := r.Index()
	for _, i := range []int{-1, len(ix.Blocks)} {
		if _, err := DecodeBlock(ix, i, seg, nil); !errors.Is(err, anomaly.Incorrect) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	// A short read.
	off, n := ix.BlockRange(3)
	_, err = DecodeBlock(ix, 3, seg[off:off+int64(n)-1], nil)
	assertCorrupt(t, err, "short read")
	// Extra bytes after the range are ignored.
	if _, err := DecodeBlock(ix, 3, seg[off:off+alignUp(int64(n))], nil); err != nil {
		t.Fatal(err)
	}
	// Another block's bytes, well checksummed, are refused.
	off4, n4 := ix.BlockRange(4)
	_, err = DecodeBlock(ix, 3, seg[off4:off4+int64(n4)], nil)
	assertCorrupt(t, err, "block 4 read as block 3")
	var ce *CorruptError
	if errors.As(err, &ce); ce.Block != 3 || ce.Offset != ix.Blocks[3].Offset {
		t.Fatalf("error names block %d offset %d: %v", ce.Block, ce.Offset, err)
	}
	// DecodeBlock appends.
	out, err := DecodeBlock(ix, 3, seg[off:off+int64(n)], []byte("x"))
	if err != nil || out[0] != 'x' || len(out) != 1+ix.Blocks[3].RawLength {
		t.Fatalf("append: %v", err)
	}
}

func TestCorruptErrorMessage(t *testing.T) {
	seg := build(t, testID, WriterOptions{Codec: CodecZstd, BlockSize: MinBlockSize}, randomRecords(rand.New(rand.NewPCG(11, 12)), 300))
	ix, _ := Verify(testID, seg)
	h := ix.Blocks[2]
	seg[h.Offset+1] ^= 0xff
	_, err := Verify(testID, seg)
	want := fmt.Sprintf("segment 7f3a12bc: block 2 at offset %d: checksum mismatch (stored 0x", h.Offset)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want prefix %q", err, want)
	}
}

func TestWriterRejects(t *testing.T) {
	for _, c := range []struct {
		opts WriterOptions
		want string
	}{
		{WriterOptions{Codec: 3}, "WriterOptions.Codec"},
		{WriterOptions{BlockSize: MinBlockSize - 1}, "WriterOptions.BlockSize"},
		{WriterOptions{BlockSize: MaxBlockSize + 1}, "WriterOptions.BlockSize"},
		{WriterOptions{Codec: CodecZstd, ZstdLevel: 5}, "WriterOptions.ZstdLevel"},
		{WriterOptions{Codec: CodecLZ4, ZstdLevel: 1}, "WriterOptions.ZstdLevel"},
	} {
		_, err := NewWriter(nil, testID, c.opts)
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.opts, err, c.want)
		}
	}
	w, err := NewWriter(nil, testID, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd := func(k string) {
		if err := w.Add([]byte(k), nil); err != nil {
			t.Fatal(err)
		}
	}
	mustReject := func(k, v []byte, want string) {
		t.Helper()
		if err := w.Add(k, v); !errors.Is(err, anomaly.Incorrect) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("Add(%s): %v, want %q", fmtKey(k), err, want)
		}
	}
	mustAdd("b")
	mustAdd("bb")
	mustReject([]byte("bb"), nil, `key "bb" does not sort after the previous key "bb"`)
	mustReject([]byte("b"), nil, `key "b" does not sort after the previous key "bb"`)
	mustReject([]byte("a"), nil, `key "a" does not sort after`)
	mustReject(make([]byte, MaxKeySize+1), nil, "exceeds MaxKeySize")
	mustReject([]byte("c"), make([]byte, MaxValueSize+1), "exceeds MaxValueSize")
	mustAdd("bc") // the rejections changed nothing
	seg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if ix, err := Verify(testID, seg); err != nil || ix.Records != 3 {
		t.Fatalf("after rejections: %v", err)
	}
	mustReject([]byte("z"), nil, "Add after Finish")
	if _, err := w.Finish(); err == nil {
		t.Fatal("second Finish")
	}
	// Reset reuses the writer for another segment.
	id2 := NewID()
	w.Reset(nil, id2)
	mustAdd("a")
	seg2, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if ix, err := Verify(id2, seg2); err != nil || ix.Records != 1 {
		t.Fatalf("after Reset: %v", err)
	}
}

func TestMaximalRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB value")
	}
	key := bytes.Repeat([]byte{0xff}, MaxKeySize)
	val := bytes.Repeat([]byte{7}, MaxValueSize)
	for _, codec := range codecs {
		seg := build(t, testID, WriterOptions{Codec: codec, BlockSize: MaxBlockSize},
			[]record{{[]byte("a"), []byte("small")}, {key, val}})
		r, err := Open(testID, seg)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok, err := r.Get(key); err != nil || !ok || !bytes.Equal(v, val) {
			t.Fatalf("%s: Get: %v %v", codec, ok, err)
		}
	}
}

func TestCodecNames(t *testing.T) {
	for _, c := range codecs {
		if got, err := ParseCodec(c.String()); err != nil || got != c {
			t.Fatalf("%s: %v %v", c, got, err)
		}
	}
	if _, err := ParseCodec("gzip"); !errors.Is(err, anomaly.Incorrect) {
		t.Fatal(err)
	}
	if Codec(9).String() != "codec(9)" {
		t.Fatal(Codec(9).String())
	}
}

func TestBlockIterRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"no restarts", []byte{0, 0, 0, 0}},
		{"restart count too big", []byte{0, 0, 0, 0, 9, 0, 0, 0}},
		{"first restart not 0", []byte{0, 1, 1, 'a', 'b', 1, 0, 0, 0, 1, 0, 0, 0}},
	} {
		if _, err := NewBlockIter(c.b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Restarts other than the first are checked where they are used.
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"restart past records", []byte{0, 1, 0, 'a', 0, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0}},
		{"restart inside a record", []byte{0, 1, 0, 'a', 0, 1, 0, 'b', 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0}},
		{"restarts out of order", []byte{0, 1, 0, 'a', 0, 1, 0, 'b', 0, 1, 0, 'c', 0, 0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0}},
	} {
		it, err := NewBlockIter(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
		}
		if !errors.Is(it.Err(), ErrCorrupt) {
			t.Errorf("%s: full scan: %v", c.name, it.Err())
		}
	}
	// Records that overrun or share too much fail the moving call.
	for _, c := range []struct {
		name string
		recs []byte
	}{
		{"key overruns", []byte{0, 9, 0, 'a'}},
		{"value overruns", []byte{0, 1, 9, 'a'}},
		{"shares at restart", []byte{1, 1, 0, 'a'}},
		{"shares too much", []byte{0, 1, 0, 'a', 5, 1, 0, 'b'}},
		{"bad varint", []byte{0, 1, 0, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		b := binary.LittleEndian.AppendUint32(slices.Clone(c.recs), 0)
		b = binary.LittleEndian.AppendUint32(b, 1)
		it, err := NewBlockIter(b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
		}
		if !errors.Is(it.Err(), ErrCorrupt) {
			t.Errorf("%s: %v", c.name, it.Err())
		}
		it.Init(b)
		it.SeekGE([]byte("zzz"))
		if !errors.Is(it.Err(), ErrCorrupt) && c.name != "shares too much" && c.name != "bad varint" {
			t.Errorf("%s: SeekGE: %v", c.name, it.Err())
		}
	}
}

// TestConcurrentReaders shares a Reader, and the package's zstd and lz4
// states, among goroutines (run with -race).
func TestConcurrentReaders(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(15, 16)), 2000)
	for _, codec := range codecs {
		seg := build(t, testID, WriterOptions{Codec: codec, BlockSize: 1024}, recs)
		r, err := Open(testID, seg)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		for g := range 4 {
			go func() {
				var err error
				defer func() { errs <- err }()
				w, _ := NewWriter(nil, NewID(), WriterOptions{Codec: codec, BlockSize: MinBlockSize})
				for i := g; i < len(recs); i += 4 {
					v, ok, gerr := r.Get(recs[i].key)
					if gerr != nil || !ok || !bytes.Equal(v, recs[i].value) {
						err = fmt.Errorf("Get %d: %v %v", i, ok, gerr)
						return
					}
					_ = w.Add(recs[i].key, recs[i].value)
				}
				_, err = w.Finish()
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}
