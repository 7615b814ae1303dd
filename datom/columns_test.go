package datom

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// identicalValue is stricter than EqualValue: the same bits (a NaN's
// payload), which a block keeps outside tuples.
func identicalValue(a, b Value) bool {
	if a.typ != b.typ || a.num != b.num || a.str != b.str {
		return false
	}
	switch a.typ {
	case TypeBigInt, TypeBigDec:
		return a.BigInt().Cmp(b.BigInt()) == 0
	case TypeTuple: // stored as a value key: a NaN in it becomes the NaN
		return EqualValue(a, b)
	}
	return true
}

func identicalDatoms(a, b []Datom) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d datoms, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.E != y.E || x.A != y.A || x.Tx != y.Tx || x.Added != y.Added || !identicalValue(x.V, y.V) {
			return fmt.Errorf("datom %d: %v, want %v", i, x, y)
		}
	}
	return nil
}

func roundTrip(t testing.TB, x Index, ds []Datom) []byte {
	t.Helper()
	b := AppendBlock(nil, x, ds)
	prefix := []Datom{{E: 99}}
	got, err := DecodeBlock(x, b, prefix)
	if err != nil {
		t.Fatalf("%v: DecodeBlock of %d datoms: %v", x, len(ds), err)
	}
	if got[0].E != 99 {
		t.Fatalf("DecodeBlock changed dst's datoms")
	}
	if err := identicalDatoms(got[1:], ds); err != nil {
		t.Fatalf("%v: round trip of %d datoms: %v", x, len(ds), err)
	}
	return b
}

func TestBlockRoundTrip(t *testing.T) {
	r := newRand(t)
	for range 2000 {
		x := Index(r.IntN(int(NumIndexes)))
		n := r.IntN(300)
		if r.IntN(10) == 0 {
			n = r.IntN(3000)
		}
		ds := make([]Datom, n)
		attrs := 1 + r.IntN(40) // sometimes more than groupAttrs' linear search
		types := make([]Type, attrs)
		for i := range types {
			types[i] = valueTypes[r.IntN(len(valueTypes))]
		}
		for i := range ds {
			a := r.IntN(attrs)
			ds[i] = randDatom(r)
			ds[i].A = E(a * 1000)
			if r.IntN(8) != 0 { // mostly one type per attribute
				ds[i].V = randValueOf(r, types[a])
			}
			if r.IntN(4) != 0 {
				ds[i].Added = true
			}
		}
		switch r.IntN(3) {
		case 0:
			slices.SortFunc(ds, func(a, b Datom) int { return Compare(x, a, b) })
		case 1: // unsorted round-trips too
		case 2: // all retractions, or all assertions
			for i := range ds {
				ds[i].Added = n%2 == 0
			}
		}
		roundTrip(t, x, ds)
	}
}

func TestBlockPeople(t *testing.T) {
	p := makePeople(3000, 7)
	for x := range NumIndexes {
		ds := p.sorted(x)
		for i := 0; i < len(ds); i += 1000 {
			roundTrip(t, x, ds[i:min(i+1000, len(ds))])
		}
	}
}

func TestBlockEdgeValues(t *testing.T) {
	// Values whose columns hit the edges: widths of 0 and 64, NaN bits,
	// strings that are all dictionary or all literals, invalid values.
	nanBits := math.Float64frombits(0x7FF0000000000123)
	cases := [][]Value{
		{Long(math.MinInt64), Long(math.MaxInt64), Long(0), Long(-1)},
		{Double(nanBits), Double(math.Copysign(0, -1)), Double(math.Inf(1))},
		{Float(float32(nanBits)), Float(-0.0), Float(3)},
		{Ref(math.MaxUint64), Ref(0), Ref(1 << 63)},
		{String("a"), String("a"), String("a")},
		{String("a"), String("b"), String("ab"), String("")},
		{String("x"), String("y"), String("x"), String("z"), String("y")},
		{Value{}, Value{}},
		{Value{}, Long(1), String("s"), Tuple(Long(1), Value{}), randBigDec(rand.New(rand.NewPCG(1, 2)))},
	}
	for _, vs := range cases {
		ds := make([]Datom, len(vs))
		for i, v := range vs {
			ds[i] = Datom{E: E(i), A: 10, V: v, Tx: 5, Added: i%2 == 0}
		}
		roundTrip(t, EAVT, ds)
	}
	// Columns of each kind, directly.
	enc := &blockEncoder{counts: map[string]int32{}}
	r := newRand(t)
	kinds := map[byte]int{}
	for range 3000 {
		n := 1 + r.IntN(200)
		vs := make([]uint64, n)
		pattern := r.IntN(6)
		for i := range vs {
			switch pattern {
			case 0: // runs
				vs[i] = uint64(i / 50)
			case 1: // small deltas, then far
				vs[i] = uint64(i) * 3
				if i > n/2 {
					vs[i] += 1 << 40
				}
			case 2: // a frame
				vs[i] = 1<<50 + r.Uint64N(1000)
			case 3: // few distinct values far apart
				vs[i] = []uint64{0, 1 << 60, math.MaxUint64}[r.IntN(3)]
			case 4: // anything
				vs[i] = r.Uint64()
			case 5: // width 64 frame
				vs[i] = []uint64{0, math.MaxUint64}[i%2] ^ r.Uint64N(3)
			}
		}
		b := enc.appendU64Col(nil, vs)
		kinds[b[0]]++
		dec := &blockDecoder{blockReader: blockReader{b: b}}
		out := make([]uint64, n)
		dec.u64Col("test", out)
		if dec.err != nil || dec.off != len(b) || !slices.Equal(out, vs) {
			t.Fatalf("u64col kind %d of %v: %v, %v, used %d of %d bytes", b[0], vs, out, dec.err, dec.off, len(b))
		}
	}
	for k := byte(colRuns); k <= colDict; k++ {
		if kinds[k] == 0 {
			t.Errorf("column kind %d never chosen", k)
		}
	}
}

func TestDecodeBlockErrors(t *testing.T) {
	p := makePeople(40, 3)
	for x := range NumIndexes {
		ds := p.sorted(x)
		b := AppendBlock(nil, x, ds)
		// Every truncation is an error, never a panic.
		for i := range len(b) {
			out, err := DecodeBlock(x, b[:i], nil)
			if err == nil || !errors.Is(err, anomaly.Incorrect) || len(out) != 0 {
				t.Fatalf("%v: truncated to %d of %d bytes: %d datoms, %v", x, i, len(b), len(out), err)
			}
		}
		// Every single-byte change is an error or another block.
		for i := range len(b) {
			c := slices.Clone(b)
			c[i] ^= 1 << (i % 8)
			if _, err := DecodeBlock(x, c, nil); err != nil && !errors.Is(err, anomaly.Incorrect) {
				t.Fatalf("%v: byte %d flipped: %v is not incorrect", x, i, err)
			}
		}
	}
	b := AppendBlock(nil, AVET, p.sorted(AVET)[:10])
	for _, c := range []struct {
		name string
		x    Index
		b    []byte
		want string
	}{
		{"other index", EAVT, b, "block of index avet read as eavt"},
		{"version", AVET, append([]byte{9}, b[1:]...), "version 9"},
		{"trailing", AVET, append(slices.Clone(b), 0), "1 trailing bytes"},
		{"too many datoms", AVET, []byte{blockVersion, byte(AVET), 0x81, 0x80, 0x04}, "exceed MaxBlockDatoms"},
		{"empty trailing", AVET, []byte{blockVersion, byte(AVET), 0, 0}, "trailing"},
		{"bad kind", AVET, []byte{blockVersion, byte(AVET), 1, 7}, "e: column kind 7"},
		{"run too long", AVET, []byte{blockVersion, byte(AVET), 2, colRuns, 1, 0, 3}, "run of 3"},
		{"width", AVET, []byte{blockVersion, byte(AVET), 1, colFrame, 0, 65}, "width 65"},
		{"dict width", AVET, []byte{blockVersion, byte(AVET), 2, colDict, 2, 0, 5, 3, 0}, "index width 3"},
		{"dict index", AVET, []byte{blockVersion, byte(AVET), 4, colDict, 3, 0, 5, 5, 2, 0xFF}, "index 3 beyond"},
	} {
		_, err := DecodeBlock(c.x, c.b, nil)
		if err == nil || !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeBlock = %v, want an incorrect error saying %q", c.name, err, c.want)
		}
	}
	if out, err := DecodeBlock(AVET, []byte{blockVersion, byte(AVET), 0}, nil); err != nil || len(out) != 0 {
		t.Errorf("empty block: %v, %v", out, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("AppendBlock of MaxBlockDatoms+1 datoms did not panic")
			}
		}()
		AppendBlock(nil, EAVT, make([]Datom, MaxBlockDatoms+1))
	}()
}

func TestBlockAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	p := makePeople(200, 3)
	ds := p.sorted(EAVT)
	b := AppendBlock(nil, EAVT, ds)
	buf := make([]byte, 0, 2*len(b))
	if n := testing.AllocsPerRun(50, func() { buf = AppendBlock(buf[:0], EAVT, ds) }); n > 0 {
		t.Errorf("AppendBlock allocates %v times", n)
	}
	out := make([]Datom, 0, len(ds))
	// Strings cost one allocation per group's dictionary and literals.
	if n := testing.AllocsPerRun(50, func() { out, _ = DecodeBlock(EAVT, b, out[:0]) }); n > 2*7 {
		t.Errorf("DecodeBlock allocates %v times, want at most 14 (7 attributes)", n)
	}
}

// BenchmarkBlockEncoding measures the people workload in blocks of 1,024
// datoms per index: B/datom of the block (before the segment compresses it)
// and, as the reference, key-B/datom of the same datoms as order-preserving
// keys (the row format a segment could store instead), and encode and decode
// time per datom.
//
// VAET holds only ref values and this workload has none: its VAET case sorts
// all the datoms value-first instead, the worst order for the E column.
func BenchmarkBlockEncoding(b *testing.B) {
	const blockDatoms = 1024
	p := makePeople(20000, 1)
	for x := range NumIndexes {
		ds := p.sorted(x)
		var blocks [][]Datom
		for i := 0; i < len(ds); i += blockDatoms {
			blocks = append(blocks, ds[i:min(i+blockDatoms, len(ds))])
		}
		var encoded [][]byte
		size, keySize := 0, 0
		for _, bl := range blocks {
			e := AppendBlock(nil, x, bl)
			encoded = append(encoded, e)
			size += len(e)
			for _, d := range bl {
				keySize += len(AppendKey(nil, x, d))
			}
		}
		perDatom := float64(size) / float64(len(ds))
		keyPerDatom := float64(keySize) / float64(len(ds))
		b.Run(fmt.Sprintf("index=%s/op=encode", x), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size / len(blocks))) // block bytes made
			var buf []byte
			start := time.Now()
			n := 0
			for i := range b.N {
				bl := blocks[i%len(blocks)]
				buf = AppendBlock(buf[:0], x, bl)
				n += len(bl)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/datom")
			b.ReportMetric(perDatom, "B/datom")
			b.ReportMetric(keyPerDatom, "key-B/datom")
		})
		b.Run(fmt.Sprintf("index=%s/op=decode", x), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size / len(blocks))) // block bytes read
			out := make([]Datom, 0, blockDatoms)
			start := time.Now()
			n := 0
			for i := range b.N {
				var err error
				out, err = DecodeBlock(x, encoded[i%len(encoded)], out[:0])
				if err != nil {
					b.Fatal(err)
				}
				n += len(out)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/datom")
			b.ReportMetric(perDatom, "B/datom")
		})
	}
}
