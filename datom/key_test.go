package datom

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/stratadb/strata/anomaly"
)

func TestKeyOrderMatchesCompare(t *testing.T) {
	r := newRand(t)
	var ka, kb []byte
	for x := range NumIndexes {
		for range 100000 {
			a, b := randDatom(r), randDatom(r)
			if r.IntN(2) == 0 {
				b.E, b.A = a.E, a.A
			}
			if r.IntN(3) == 0 {
				b.V = randValueOf(r, a.V.Type())
			}
			ka, kb = AppendKey(ka[:0], x, a), AppendKey(kb[:0], x, b)
			if got, want := bytes.Compare(ka, kb), sign(Compare(x, a, b)); got != want {
				t.Fatalf("%v: keys of %v and %v compare %d, datoms %d\n%x\n%x", x, a, b, got, want, ka, kb)
			}
			for _, d := range []Datom{a, b} {
				k := AppendKey(nil, x, d)
				back, err := DecodeKey(x, k)
				if err != nil {
					t.Fatalf("%v: DecodeKey(AppendKey(%v)): %v", x, d, err)
				}
				if !equalDatom(back, d) {
					t.Fatalf("%v: DecodeKey(AppendKey(%v)) = %v", x, d, back)
				}
				if k2 := AppendKey(nil, x, back); !bytes.Equal(k, k2) {
					t.Fatalf("%v: %v re-encodes differently", x, d)
				}
			}
		}
	}
}

func TestValueKeyOrder(t *testing.T) {
	r := newRand(t)
	for range 200000 {
		a := randValue(r, false)
		b := randValueOf(r, a.Type())
		if r.IntN(4) == 0 {
			b = randValue(r, false)
		}
		ka, kb := AppendValueKey(nil, a), AppendValueKey(nil, b)
		if got, want := bytes.Compare(ka, kb), sign(CompareValue(a, b)); got != want {
			t.Fatalf("keys of %v and %v compare %d, values %d\n%x\n%x", a, b, got, want, ka, kb)
		}
		// Self-delimiting: what follows does not change the value.
		v, rest, err := DecodeValueKey(append(ka, 0xAB))
		if err != nil || !EqualValue(v, a) || !bytes.Equal(rest, []byte{0xAB}) {
			t.Fatalf("DecodeValueKey(%x) = %v, %x, %v; want %v", ka, v, rest, err, a)
		}
	}
}

func TestValueKeyCases(t *testing.T) {
	dec := func(u string, s int32) Value {
		n, _ := new(big.Int).SetString(u, 10)
		return BigDec(n, s)
	}
	huge := strings.Repeat("9", MaxBigLen)
	// Each row strictly ascending, in keys as in values.
	for _, row := range [][]Value{
		{dec("-1", -2000000000), dec("-"+huge, -5), dec("-"+huge, 0), dec("-11", 1), dec("-110", 2), dec("-1100", 3), dec("-1", 0), dec("-1", 2000000000),
			dec("0", math.MinInt32), dec("0", 0), dec("0", math.MaxInt32),
			dec("1", 2000000000), dec("1", 1), dec("10", 2), dec("1", 0), dec("10", 1), dec("100", 2), dec("101", 2), dec("11", 1), dec("110", 2), dec("12", 1), dec(huge, 0), dec("1", -2000000000)},
		{BigInt(big.NewInt(math.MinInt64)), BigInt(big.NewInt(-256)), BigInt(big.NewInt(-255)), BigInt(big.NewInt(-1)), BigInt(big.NewInt(0)), BigInt(big.NewInt(1)), BigInt(big.NewInt(255)), BigInt(big.NewInt(256)), BigInt(new(big.Int).Lsh(big.NewInt(1), 2000*8))},
		{Float(float32(math.Inf(-1))), Float(-1), Float(float32(math.Copysign(0, -1))), Float(0), Float(1), Float(float32(math.Inf(1))), Float(float32(math.NaN()))},
		{Double(math.Inf(-1)), Double(-1), Double(math.Copysign(0, -1)), Double(0), Double(1), Double(math.Inf(1)), Double(math.NaN())},
		{String(""), String("\x00"), String("\x00\x00"), String("\x00\x01"), String("\x00\xff"), String("\x01"), String("a"), String("a\x00"), String("ab"), String("\xff")},
		{Tuple(Value{}, Long(0)), Tuple(Long(1), Long(1)), Tuple(Long(1), Long(1), Value{}), Tuple(Long(1), Long(1), Long(0)), Tuple(Long(1), String("")), Tuple(String("a"), Long(1)), Tuple(String("a\x00"), Long(0))},
		{InstantMillis(math.MinInt64), InstantMillis(-1), InstantMillis(0), InstantMillis(math.MaxInt64)},
	} {
		for i := range row {
			ki := AppendValueKey(nil, row[i])
			if v, rest, err := DecodeValueKey(ki); err != nil || len(rest) != 0 || !EqualValue(v, row[i]) {
				t.Errorf("DecodeValueKey(AppendValueKey(%.50v)) = %.50v, %d left, %v", row[i], v, len(rest), err)
			}
			for j := range row {
				kj := AppendValueKey(nil, row[j])
				if got := bytes.Compare(ki, kj); got != sign(i-j) {
					t.Errorf("keys of %.50v and %.50v compare %d, want %d", row[i], row[j], got, sign(i-j))
				}
				if got := sign(CompareValue(row[i], row[j])); got != sign(i-j) {
					t.Errorf("CompareValue(%.50v, %.50v) = %d, want %d", row[i], row[j], got, sign(i-j))
				}
			}
		}
	}
	// Every NaN is one key.
	nan := []Value{Double(math.NaN()), Double(math.Float64frombits(0xFFF8000000000001)), Double(math.Float64frombits(0x7FF0000000000001))}
	for _, v := range nan {
		if k := AppendValueKey(nil, v); !bytes.Equal(k, AppendValueKey(nil, nan[0])) {
			t.Errorf("NaN %x has key %x", math.Float64bits(v.Double()), k)
		}
	}
}

func TestDecodeKeyErrors(t *testing.T) {
	good := AppendKey(nil, AVET, Datom{E: 1, A: 2, V: String("a\x00b"), Tx: 3, Added: true})
	dec := func(u int64, s int32) []byte { return AppendValueKey(nil, BigDec(big.NewInt(u), s)) }
	for _, c := range []struct {
		name string
		x    Index
		key  []byte
		want string
	}{
		{"empty", AVET, nil, "need 8 bytes"},
		{"no added flag", AVET, good[:len(good)-1], "no added flag"},
		{"trailing", AVET, append(slices.Clone(good), 0), "trailing"},
		{"added flag 2", AVET, append(slices.Clone(good[:len(good)-1]), 2), "added flag"},
		{"bad escape", AVET, slices.Concat(good[:8], []byte{byte(TypeString), 'a', 0, 7}), "escape 00 07"},
		{"no terminator", AVET, slices.Concat(good[:8], []byte{byte(TypeString), 'a'}), "no terminator"},
		{"unknown type", AVET, slices.Concat(good[:8], []byte{200}), "unknown type 200"},
		{"unknown index", NumIndexes, good, "unknown index"},
		{"short e", EAVT, good[:5], "e at offset 0"},
	} {
		_, err := DecodeKey(c.x, c.key)
		if err == nil || !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeKey = %v, want an incorrect error saying %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		key  []byte
		want string
	}{
		{"boolean 2", []byte{byte(TypeBoolean), 2}, "want 0 or 1"},
		{"NaN payload", []byte{byte(TypeDouble), 0xFF, 0xF8, 0, 0, 0, 0, 0, 1}, "non-canonical NaN"},
		{"float NaN payload", []byte{byte(TypeFloat), 0xFF, 0xC0, 0, 1}, "non-canonical NaN"},
		{"bigint leading zero", []byte{byte(TypeBigInt), 2, 2, 0, 1}, "leading zero"},
		{"bigint empty", []byte{byte(TypeBigInt), 2, 0}, "magnitude of 0 bytes"},
		{"bigint too long", []byte{byte(TypeBigInt), 2, 0xF9, 0xFF, 0xFF}, "magnitude of 65535 bytes"},
		{"bigint non-minimal length", []byte{byte(TypeBigInt), 2, 0xF9, 0, 1, 1}, "non-minimal"},
		{"bigdec trailing zeros", slices.Concat(dec(1, 0)[:10], []byte{1 + 10, 1, 0}, dec(1, 0)[12:]), "trailing zero"},
		{"bigdec leading zero", slices.Concat(dec(1, 0)[:10], []byte{1 + 1, 0}, dec(1, 0)[12:]), "leading zero"},
		{"bigdec digit pair", slices.Concat(dec(1, 0)[:10], []byte{101, 0}, dec(1, 0)[12:]), "digit pair"},
		{"bigdec scale too small", dec(1, 0)[:len(dec(1, 0))-4], "no scale"},
		{"bigdec digits from scale", slices.Concat(dec(12, 0)[:len(dec(12, 0))-4], []byte{0x7F, 0xFF, 0xFF, 0xFF}), "digits for 2 significant"},
		{"bigdec huge exponent", slices.Concat([]byte{byte(TypeBigDec), 2, 0xC0}, make([]byte, 7), []byte{2, 0, 0x80, 0, 0, 0}), "exponent"},
		{"bigdec 10^9 zeros", slices.Concat([]byte{byte(TypeBigDec), 2, 0x80, 0, 0, 0, 0x3B, 0x9A, 0xCA, 0}, []byte{11, 0, 0x80, 0, 0, 0}), "1000000000 digits"},
		{"tuple in tuple", []byte{byte(TypeTuple), byte(TypeTuple) + 1, 0, 0}, "tuple inside a tuple"},
		{"tuple no end", []byte{byte(TypeTuple), byte(TypeLong) + 1, 0x80, 0, 0, 0, 0, 0, 0, 1}, "no terminator"},
		{"uuid short", []byte{byte(TypeUUID), 1, 2}, "need 16 bytes"},
	} {
		_, _, err := DecodeValueKey(c.key)
		if err == nil || !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeValueKey(%x) = %v, want an incorrect error saying %q", c.name, c.key, err, c.want)
		}
	}
}

// matches reports whether d's components equal p's set ones.
func (p KeyPrefix) matches(d Datom) bool {
	return (!p.HasE || d.E == p.E) && (!p.HasA || d.A == p.A) && (!p.HasV || EqualValue(d.V, p.V)) && (!p.HasTx || d.Tx == p.Tx)
}

func TestKeyPrefix(t *testing.T) {
	r := newRand(t)
	// A small universe, so that prefixes often match.
	ds := make([]Datom, 400)
	for i := range ds {
		ds[i] = Datom{E: E(r.IntN(4)), A: E(r.IntN(3)), V: randValueOf(r, []Type{TypeLong, TypeString, TypeTuple}[r.IntN(3)]), Tx: E(r.IntN(3)), Added: r.IntN(2) == 0}
	}
	orders := map[Index]string{EAVT: "eavt", AEVT: "aevt", AVET: "avet", VAET: "vaet"}
	for x := range NumIndexes {
		keys := make([][]byte, len(ds))
		for i, d := range ds {
			keys[i] = AppendKey(nil, x, d)
		}
		for range 2000 {
			pick := ds[r.IntN(len(ds))]
			var p KeyPrefix
			n := 1 + r.IntN(4)
			for _, c := range orders[x][:n] {
				switch c {
				case 'e':
					p.E, p.HasE = pick.E, true
				case 'a':
					p.A, p.HasA = pick.A, true
				case 'v':
					p.V, p.HasV = pick.V, true
				case 't':
					p.Tx, p.HasTx = pick.Tx, true
				}
			}
			if r.IntN(4) == 0 && p.HasV { // sometimes a value no datom has
				p.V = randValueOf(r, pick.V.Type())
			}
			if got, ok := p.Len(x); got != n || !ok {
				t.Fatalf("%v: %+v.Len = %d, %v; want %d", x, p, got, ok, n)
			}
			lo := AppendKeyPrefix(nil, x, p)
			hi, ok := AppendPrefixEnd(nil, lo)
			if !ok {
				t.Fatalf("no end for prefix %x", lo)
			}
			for i, d := range ds {
				in := bytes.HasPrefix(keys[i], lo)
				if in != p.matches(d) {
					t.Fatalf("%v: prefix %+v: key of %v has prefix %v, matches %v", x, p, d, in, p.matches(d))
				}
				if inRange := bytes.Compare(lo, keys[i]) <= 0 && bytes.Compare(keys[i], hi) < 0; inRange != in {
					t.Fatalf("%v: prefix %+v: %v in [lo, hi) %v, has prefix %v", x, p, d, inRange, in)
				}
			}
			// A lower bound on the last component: lo = prefix with it,
			// hi = end of the prefix without it, selects the datoms whose
			// last component is at least p's (AVET's a = A, v ≥ w).
			if n >= 2 && orders[x][n-1] == 'v' {
				q := p
				q.HasV = false
				hi, _ := AppendPrefixEnd(nil, AppendKeyPrefix(nil, x, q))
				for i, d := range ds {
					want := q.matches(d) && CompareValue(d.V, p.V) >= 0
					if got := bytes.Compare(lo, keys[i]) <= 0 && bytes.Compare(keys[i], hi) < 0; got != want {
						t.Fatalf("%v: v ≥ %v under %+v: %v selected %v, want %v", x, p.V, q, d, got, want)
					}
				}
			}
		}
	}
}

func TestKeyPrefixFit(t *testing.T) {
	for _, c := range []struct {
		x  Index
		p  KeyPrefix
		n  int
		ok bool
	}{
		{EAVT, KeyPrefix{}, 0, true},
		{EAVT, KeyPrefix{HasE: true, HasA: true}, 2, true},
		{EAVT, KeyPrefix{HasA: true}, 0, false},
		{AVET, KeyPrefix{HasA: true, HasV: true}, 2, true},
		{AVET, KeyPrefix{HasA: true, HasE: true}, 1, false},
		{VAET, KeyPrefix{HasV: true, HasA: true, HasE: true, HasTx: true}, 4, true},
		{NumIndexes, KeyPrefix{}, 0, false},
	} {
		if n, ok := c.p.Len(c.x); n != c.n || ok != c.ok {
			t.Errorf("%v: %+v.Len = %d, %v; want %d, %v", c.x, c.p, n, ok, c.n, c.ok)
		}
	}
	if got := AppendKeyPrefix([]byte("x"), EAVT, KeyPrefix{}); string(got) != "x" {
		t.Errorf("empty prefix appends %q", got)
	}
	if end, ok := AppendPrefixEnd(nil, []byte{1, 0xFF, 0xFF}); !ok || !bytes.Equal(end, []byte{2}) {
		t.Errorf("end of 01FFFF = %x, %v", end, ok)
	}
	if _, ok := AppendPrefixEnd(nil, []byte{0xFF}); ok {
		t.Error("FF has an end")
	}
	defer func() {
		if recover() == nil {
			t.Error("AppendKeyPrefix with a prefix that does not fit did not panic")
		}
	}()
	AppendKeyPrefix(nil, EAVT, KeyPrefix{HasV: true})
}

func TestKeyAllocs(t *testing.T) {
	d := Datom{E: 1, A: 2, V: String("hello"), Tx: 3, Added: true}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendKey(buf[:0], AVET, d) }); n != 0 {
		t.Errorf("AppendKey allocates %v times", n)
	}
}

func BenchmarkKey(b *testing.B) {
	p := makePeople(2000, 1)
	for x := range NumIndexes {
		ds := p.sorted(x)
		b.Run("index="+x.String(), func(b *testing.B) {
			var buf []byte
			size := 0
			for _, d := range ds {
				size += len(AppendKey(buf[:0], x, d))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				buf = AppendKey(buf[:0], x, ds[i%len(ds)])
			}
			b.ReportMetric(float64(size)/float64(len(ds)), "B/datom")
		})
	}
}
