package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// Fuzz targets. Run one with e.g.
//
//	go test ./segment/ -run '^$' -fuzz '^FuzzVerify$' -fuzztime 30s
//
// Without -fuzz they run their seed corpora (valid segments of each codec)
// as ordinary tests.

// seedSegments returns small valid segments of every codec.
func seedSegments(t testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(13, 14))
	recs := randomRecords(rng, 60)
	for i := range recs {
		recs[i].value = recs[i].value[:min(len(recs[i].value), 40)]
	}
	var segs [][]byte
	for _, codec := range codecs {
		segs = append(segs, build(t, testID, WriterOptions{Codec: codec, BlockSize: MinBlockSize}, recs[:5]))
		segs = append(segs, build(t, testID, WriterOptions{Codec: codec, BlockSize: 1024}, recs))
	}
	return append(segs, build(t, testID, WriterOptions{}, nil))
}

// FuzzParseFooter: any tail and size give an index, a need, or a
// *CorruptError, never a panic; a need is always more than was given. With
// fix set, the harness rewrites both checksums first so that the index
// decoder behind them is reached.
func FuzzParseFooter(f *testing.F) {
	for _, seg := range seedSegments(f) {
		f.Add(seg, int64(0), false)
		f.Add(seg, int64(0), true)
		f.Add(seg[len(seg)-FooterSize:], int64(len(seg)-FooterSize), false)
	}
	f.Fuzz(func(t *testing.T, tail []byte, before int64, fix bool) {
		size := int64(len(tail)) + before
		if fix && len(tail) >= FooterSize {
			tail = bytes.Clone(tail)
			ft := tail[len(tail)-FooterSize:]
			if n := int(binary.LittleEndian.Uint32(ft[ftIndexLength:])); n <= len(tail)-FooterSize {
				binary.LittleEndian.PutUint64(ft[ftIndexChecksum:], xxhash.Sum64(tail[len(tail)-FooterSize-n:len(tail)-FooterSize]))
			}
			binary.LittleEndian.PutUint64(ft[ftChecksum:], xxhash.Sum64(ft[:ftChecksum]))
		}
		ix, need, err := ParseFooter(testID, tail, size)
		switch {
		case err != nil:
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not a *CorruptError", err)
			}
		case need > 0:
			if ix != nil || need <= len(tail) || int64(need) > size {
				t.Fatalf("need %d with %d bytes of %d", need, len(tail), size)
			}
		default:
			for i := range ix.Blocks {
				off, n := ix.BlockRange(i)
				if off < 0 || off%BlockAlign != 0 || off+int64(n) > size {
					t.Fatalf("block %d range [%d, +%d) in %d bytes", i, off, n, size)
				}
			}
		}
	})
}

// FuzzVerify: Open, iterate, seek and get on arbitrary bytes must not panic,
// and a segment that Verify accepts must iterate without error.
func FuzzVerify(f *testing.F) {
	for _, seg := range seedSegments(f) {
		f.Add(seg, []byte("k"))
	}
	f.Fuzz(func(t *testing.T, seg, key []byte) {
		ix, verr := Verify(testID, seg)
		r, err := Open(testID, seg)
		if err != nil {
			if verr == nil {
				t.Fatalf("Verify accepts what Open refuses: %v", err)
			}
			return
		}
		it := r.Iter()
		n := int64(0)
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		if verr == nil && (it.Err() != nil || n != ix.Records) {
			t.Fatalf("verified segment: %d of %d records: %v", n, ix.Records, it.Err())
		}
		if it.SeekGE(key) && bytes.Compare(it.Key(), key) < 0 {
			if verr == nil {
				t.Fatalf("SeekGE(%q) = %q", key, it.Key())
			}
		}
		_, _, _ = r.Get(key)
	})
}

// FuzzDecodeBlock feeds arbitrary payloads, with a correct checksum appended
// so the decompressors and the block checks are reached, to DecodeBlock.
func FuzzDecodeBlock(f *testing.F) {
	for _, seg := range seedSegments(f) {
		r, err := Open(testID, seg)
		if err != nil {
			f.Fatal(err)
		}
		ix := r.Index()
		for i, h := range ix.Blocks {
			payload := seg[h.Offset : h.Offset+int64(h.Length)-ChecksumSize]
			f.Add(payload, uint8(ix.Codec), uint32(h.RawLength), h.FirstKey, i == 0)
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, codec uint8, rawLength uint32, firstKey []byte, first bool) {
		if rawLength > 1<<20 || len(payload) == 0 {
			return // not handles ParseFooter builds (no payload, or beyond what the fuzzer should allocate)
		}
		h := BlockHandle{FirstKey: firstKey, Offset: BlockAlign, Length: len(payload) + ChecksumSize, RawLength: int(rawLength), Records: 1}
		raw := binary.LittleEndian.AppendUint64(bytes.Clone(payload), xxhash.Sum64(payload))
		if first {
			h.Offset = HeaderSize
			raw = append(make([]byte, HeaderSize), raw...)
		}
		ix := &Index{ID: testID, Codec: Codec(codec % 4), Blocks: []BlockHandle{h}}
		out, err := DecodeBlock(ix, 0, raw, []byte("prefix"))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not a corruption", err)
			}
			return
		}
		if len(out) != len("prefix")+int(rawLength) || string(out[:6]) != "prefix" {
			t.Fatalf("decoded %d bytes, want %d", len(out)-6, rawLength)
		}
		var it BlockIter
		if err := it.InitBlock(ix, 0, out[6:]); err != nil {
			t.Fatalf("DecodeBlock accepted a block BlockIter refuses: %v", err)
		}
		for ok := it.First(); ok; ok = it.Next() {
		}
	})
}

// FuzzBlockIter: arbitrary decoded blocks. Init either refuses them or
// iteration and seeks run without panicking; where the keys come out sorted,
// SeekGE agrees with a linear scan.
func FuzzBlockIter(f *testing.F) {
	for _, seg := range seedSegments(f) {
		r, err := Open(testID, seg)
		if err != nil {
			f.Fatal(err)
		}
		for i := range r.Index().Blocks {
			b, err := r.ReadBlock(i, nil)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, r.Index().Blocks[i].FirstKey)
		}
	}
	f.Fuzz(func(t *testing.T, block, key []byte) {
		it, err := NewBlockIter(block)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not a corruption", err)
			}
			return
		}
		var keys [][]byte
		sorted := true
		for ok := it.First(); ok; ok = it.Next() {
			if n := len(keys); n > 0 && bytes.Compare(keys[n-1], it.Key()) >= 0 {
				sorted = false
			}
			keys = append(keys, bytes.Clone(it.Key()))
			_ = it.Value()
		}
		if it.Err() != nil {
			return
		}
		found := it.SeekGE(key)
		if !sorted || it.Err() != nil {
			return
		}
		want := -1
		for i, k := range keys {
			if bytes.Compare(k, key) >= 0 {
				want = i
				break
			}
		}
		if found != (want >= 0) || (found && !bytes.Equal(it.Key(), keys[want])) {
			t.Fatalf("SeekGE(%q) = %v %q, linear scan says %d", key, found, it.Key(), want)
		}
	})
}
