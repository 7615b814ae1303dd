package segment

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

// TestGoldenLayout dumps small segments field by field and byte by byte and
// compares the dump with testdata/. A format change shows up as a diff there;
// regenerate with: go test ./segment/ -run TestGoldenLayout -rewrite
func TestGoldenLayout(t *testing.T) {
	small := []record{
		{[]byte("apple"), []byte("red")},
		{[]byte("apricot"), []byte("orange")},
		{[]byte("banana"), []byte("yellow")},
		{[]byte("blueberry"), []byte("blue")},
		{[]byte("cherry"), []byte("dark red")},
	}
	var many []record
	for e := range 3 {
		for a := range 20 {
			k := binary.BigEndian.AppendUint64(nil, uint64(1000+e))
			k = binary.BigEndian.AppendUint32(k, uint32(10+a))
			many = append(many, record{k, fmt.Appendf(nil, "v%d", e*20+a)})
		}
	}
	for _, c := range []struct {
		name string
		opts WriterOptions
		recs []record
	}{
		{"empty", WriterOptions{}, nil},
		{"fruit-none", WriterOptions{Codec: CodecNone, BlockSize: MinBlockSize}, small},
		{"datoms-none", WriterOptions{Codec: CodecNone, BlockSize: MinBlockSize}, many},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := build(t, testID, c.opts, c.recs)
			got := dumpLayout(t, seg)
			path := filepath.Join("testdata", "layout-"+c.name+".txt")
			if *rewrite {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -rewrite to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("layout of %s changed; if intended, run with -rewrite and review the diff.\ngot:\n%s", path, got)
			}
		})
	}
}

// dumpLayout describes every byte of a valid segment.
func dumpLayout(t *testing.T, seg []byte) string {
	ix, err := Verify(testID, seg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	hexdump := func(off int64, p []byte) {
		for i := 0; i < len(p); i += 16 {
			w("    %06x  % x\n", off+int64(i), p[i:min(i+16, len(p))])
		}
	}
	w("segment %s: %d bytes, codec %s, version %d, %d blocks, %d records\n\n",
		ix.ID, ix.Size, ix.Codec, ix.Version, len(ix.Blocks), ix.Records)
	h := seg[:HeaderSize]
	w("header [0, %d)\n", HeaderSize)
	w("  magic %q version %d codec %d flags %d reserved %d\n", h[0:8],
		binary.LittleEndian.Uint16(h[8:]), h[10], h[11], binary.LittleEndian.Uint32(h[12:]))
	w("  id %x checksum %#016x\n", h[16:32], binary.LittleEndian.Uint64(h[32:]))
	hexdump(0, h)
	end := int64(HeaderSize)
	for i, bh := range ix.Blocks {
		if bh.Offset > end {
			w("padding [%d, %d): %d zero bytes\n", end, bh.Offset, bh.Offset-end)
		}
		off, n := ix.BlockRange(i)
		w("block %d [%d, %d) range [%d, %d): length %d raw %d records %d first key %q\n",
			i, bh.Offset, bh.Offset+int64(bh.Length), off, off+int64(n), bh.Length, bh.RawLength, bh.Records, bh.FirstKey)
		stored := seg[bh.Offset : bh.Offset+int64(bh.Length)]
		w("  checksum %#016x\n", binary.LittleEndian.Uint64(stored[len(stored)-ChecksumSize:]))
		dec, err := DecodeBlock(ix, i, seg[off:off+int64(n)], nil)
		if err != nil {
			t.Fatal(err)
		}
		it, err := NewBlockIter(dec)
		if err != nil {
			t.Fatal(err)
		}
		p := 0
		for ok := it.First(); ok; ok = it.Next() {
			shared, n1 := binary.Uvarint(dec[p:])
			unshared, n2 := binary.Uvarint(dec[p+n1:])
			vlen, n3 := binary.Uvarint(dec[p+n1+n2:])
			w("  record @%d shared %d unshared %d value %d: %q = %q\n", p, shared, unshared, vlen, it.Key(), it.Value())
			p += n1 + n2 + n3 + int(unshared) + int(vlen)
		}
		nr := int(binary.LittleEndian.Uint32(dec[len(dec)-4:]))
		w("  restarts @%d:", p)
		for r := range nr {
			w(" %d", binary.LittleEndian.Uint32(dec[p+4*r:]))
		}
		w(" (count %d)\n", nr)
		if ix.Codec == CodecNone {
			hexdump(bh.Offset, stored)
		}
		end = bh.Offset + int64(bh.Length)
	}
	indexEnd := ix.Size - FooterSize
	w("index [%d, %d)\n", end, indexEnd)
	for i, bh := range ix.Blocks {
		w("  block %d: first key %q offset %d length %d raw %d records %d\n", i, bh.FirstKey, bh.Offset, bh.Length, bh.RawLength, bh.Records)
	}
	w("  last key %q\n", ix.LastKey)
	hexdump(end, seg[end:indexEnd])
	f := seg[indexEnd:]
	w("footer [%d, %d)\n", indexEnd, ix.Size)
	w("  index offset %d length %d blocks %d records %d\n", binary.LittleEndian.Uint64(f[0:]),
		binary.LittleEndian.Uint32(f[8:]), binary.LittleEndian.Uint32(f[12:]), binary.LittleEndian.Uint64(f[16:]))
	w("  id %x index checksum %#016x\n", f[24:40], binary.LittleEndian.Uint64(f[40:]))
	w("  codec %d flags %d version %d reserved %d checksum %#016x magic %q\n", f[48], f[49],
		binary.LittleEndian.Uint16(f[50:]), binary.LittleEndian.Uint32(f[52:]), binary.LittleEndian.Uint64(f[56:]), f[64:72])
	hexdump(indexEnd, f)
	if !bytes.Equal(f[64:], magic[:]) {
		t.Fatal("footer magic")
	}
	return b.String()
}
