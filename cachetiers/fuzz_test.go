package cachetiers

import (
	"bytes"
	"testing"

	"github.com/stratadb/strata/segment"
)

// FuzzSSDHeaders feeds arbitrary bytes to the ssd tier's region and entry
// header decoders, which recovery runs over whatever a crash left on disk.
// They must never panic, and whatever they accept must re-encode to the same
// 64 bytes (so nothing outside the checksummed fields is silently ignored).
func FuzzSSDHeaders(f *testing.F) {
	rh := make([]byte, ssdRegionHeaderSize)
	putSSDRegionHeader(rh, ssdRegionHeader{index: 3, size: 16 << 20, seq: 42})
	eh := make([]byte, ssdEntryHeaderSize)
	putSSDEntryHeader(eh, ssdEntryHeader{region: 3, seq: 42, id: segment.NewID(), length: 70000, payloadHash: 7, flags: ssdEntryFlagRemoved})
	f.Add(rh)
	f.Add(eh)
	f.Add([]byte("strataRG"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := parseSSDRegionHeader(b); err == nil {
			out := make([]byte, ssdRegionHeaderSize)
			putSSDRegionHeader(out, h)
			if !bytes.Equal(out, b[:ssdRegionHeaderSize]) {
				t.Fatalf("region header %x accepted as %+v, which encodes as %x", b[:ssdRegionHeaderSize], h, out)
			}
		}
		if h, err := parseSSDEntryHeader(b); err == nil {
			out := make([]byte, ssdEntryHeaderSize)
			putSSDEntryHeader(out, h)
			if !bytes.Equal(out, b[:ssdEntryHeaderSize]) {
				t.Fatalf("entry header %x accepted as %+v, which encodes as %x", b[:ssdEntryHeaderSize], h, out)
			}
		}
	})
}

// FuzzContentRange checks the S3 Content-Range parser: no panics, and what it
// accepts is a well-formed range inside the object.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes */100", "bytes 5-4/10", "bytes 0-0/0", "bytes -1-3/9", "bytes 1-2/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, ok := parseContentRange(s)
		if !ok {
			return
		}
		if total < 0 {
			t.Fatalf("%q: total %d", s, total)
		}
		if first == -1 && last == -1 {
			return
		}
		if first < 0 || first > last || last >= total {
			t.Fatalf("%q accepted as first %d last %d total %d", s, first, last, total)
		}
	})
}
