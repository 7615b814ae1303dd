package datom

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// The fuzzers. Run one for a while with, e.g.,
//
//	go test -run '^$' -fuzz '^FuzzDecodeKey$' -fuzztime 60s ./datom/
//
// New crashers land in testdata/fuzz/<name>/ and run with the tests from then on.

func FuzzDecodeKey(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 64 {
		d := randDatom(r)
		x := Index(r.IntN(int(NumIndexes)))
		f.Add(byte(x), AppendKey(nil, x, d))
	}
	f.Add(byte(0), []byte{})
	f.Fuzz(func(t *testing.T, xb byte, key []byte) {
		x := Index(xb % byte(NumIndexes+1)) // NumIndexes itself must be an error
		d, err := DecodeKey(x, key)
		if err != nil {
			return
		}
		if again := AppendKey(nil, x, d); !bytes.Equal(again, key) {
			t.Fatalf("%v: DecodeKey(%x) = %v, which encodes as %x", x, key, d, again)
		}
		// A value key alone decodes the same way.
		v, rest, err := DecodeValueKey(key)
		if err == nil {
			if again := AppendValueKey(nil, v); !bytes.Equal(again, key[:len(key)-len(rest)]) {
				t.Fatalf("DecodeValueKey(%x) = %v, which encodes as %x", key, v, again)
			}
		}
	})
}

func FuzzDecodeValueKey(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 64 {
		f.Add(AppendValueKey(nil, randValue(r, false)))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		v, rest, err := DecodeValueKey(key)
		if err != nil {
			return
		}
		if again := AppendValueKey(nil, v); !bytes.Equal(again, key[:len(key)-len(rest)]) {
			t.Fatalf("DecodeValueKey(%x) = %v, which encodes as %x", key, v, again)
		}
	})
}

// fuzzValues reads values from fuzz bytes: a type, then a payload.
type fuzzValues struct{ b []byte }

func (f *fuzzValues) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzValues) bytes(n int) []byte {
	n = min(n, len(f.b))
	p := f.b[:n]
	f.b = f.b[n:]
	return p
}

func (f *fuzzValues) u64() uint64 {
	var p [8]byte
	copy(p[:], f.bytes(8))
	return binary.LittleEndian.Uint64(p[:])
}

func (f *fuzzValues) bigInt() *big.Int {
	c := f.byte()
	n := new(big.Int).SetBytes(f.bytes(int(c & 0x3F)))
	if c&0x40 != 0 {
		n.Neg(n)
	}
	return n
}

func (f *fuzzValues) value(inTuple bool) Value {
	t := Type(f.byte() % byte(numTypes))
	switch t {
	case TypeInvalid:
		if !inTuple {
			return Long(0)
		}
		return Value{}
	case TypeBoolean:
		return Boolean(f.byte()&1 != 0)
	case TypeLong:
		return Long(int64(f.u64()))
	case TypeInstant:
		return InstantMillis(int64(f.u64()))
	case TypeRef:
		return Ref(E(f.u64()))
	case TypeFloat:
		return Float(math.Float32frombits(uint32(f.u64())))
	case TypeDouble:
		return Double(math.Float64frombits(f.u64()))
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes:
		return Value{typ: t, str: string(f.bytes(int(f.byte() % 16)))}
	case TypeUUID:
		var u [16]byte
		copy(u[:], f.bytes(16))
		return UUID(u)
	case TypeBigInt:
		return BigInt(f.bigInt())
	case TypeBigDec:
		n := f.bigInt()
		scale := int32(f.u64())
		if f.byte()&1 == 0 {
			scale = int32(int8(scale)) // often small, so that numbers meet
		}
		return BigDec(n, scale)
	case TypeTuple:
		if inTuple {
			return Long(1)
		}
		el := make([]Value, 2+f.byte()%7)
		for i := range el {
			el[i] = f.value(true)
		}
		return Tuple(el...)
	}
	panic("unreachable")
}

func FuzzKeyOrder(f *testing.F) {
	f.Add([]byte{byte(TypeBigDec), 1, 11, 0, 1, byte(TypeBigDec), 1, 110, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{byte(TypeDouble), 0, 0, 0, 0, 0, 0, 0, 0x80, byte(TypeDouble)})
	f.Add([]byte{byte(TypeString), 2, 'a', 0, byte(TypeString), 1, 'a'})
	f.Add([]byte{byte(TypeTuple), 1, byte(TypeLong), 1, byte(TypeString), byte(TypeTuple), 0, byte(TypeLong), 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &fuzzValues{b: data}
		a := src.value(false)
		b := src.value(false)
		ka, kb := AppendValueKey(nil, a), AppendValueKey(nil, b)
		if got, want := bytes.Compare(ka, kb), sign(CompareValue(a, b)); got != want {
			t.Fatalf("keys of %v and %v compare %d, values %d\n%x\n%x", a, b, got, want, ka, kb)
		}
		if EqualValue(a, b) != bytes.Equal(ka, kb) {
			t.Fatalf("EqualValue(%v, %v) = %v, keys equal %v", a, b, EqualValue(a, b), bytes.Equal(ka, kb))
		}
		if EqualValue(a, b) != (a.Key() == b.Key()) {
			t.Fatalf("EqualValue(%v, %v) = %v, map keys equal %v", a, b, EqualValue(a, b), a.Key() == b.Key())
		}
		for _, c := range []struct {
			v Value
			k []byte
		}{{a, ka}, {b, kb}} {
			v, rest, err := DecodeValueKey(c.k)
			if err != nil || len(rest) != 0 || !EqualValue(v, c.v) {
				t.Fatalf("DecodeValueKey(AppendValueKey(%v)) = %v, %d left, %v", c.v, v, len(rest), err)
			}
		}
		// The same order as datoms, in every index.
		da := Datom{E: 1, A: 2, V: a, Tx: 3, Added: true}
		db := Datom{E: 1, A: 2, V: b, Tx: 3, Added: true}
		for x := range NumIndexes {
			if got, want := bytes.Compare(AppendKey(nil, x, da), AppendKey(nil, x, db)), sign(Compare(x, da, db)); got != want {
				t.Fatalf("%v: datom keys compare %d, datoms %d", x, got, want)
			}
		}
	})
}

func FuzzDecodeBlock(f *testing.F) {
	p := makePeople(30, 5)
	for x := range NumIndexes {
		f.Add(byte(x), AppendBlock(nil, x, p.sorted(x)))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 16 {
		ds := make([]Datom, r.IntN(20))
		for i := range ds {
			ds[i] = randDatom(r)
			ds[i].A = E(r.IntN(3))
		}
		x := Index(r.IntN(int(NumIndexes)))
		f.Add(byte(x), AppendBlock(nil, x, ds))
	}
	f.Fuzz(func(t *testing.T, xb byte, b []byte) {
		x := Index(xb % byte(NumIndexes))
		ds, err := DecodeBlock(x, b, nil)
		if err != nil {
			return
		}
		again := AppendBlock(nil, x, ds)
		back, err := DecodeBlock(x, again, nil)
		if err != nil {
			t.Fatalf("%v: re-encoded block does not decode: %v", x, err)
		}
		if err := identicalDatoms(back, ds); err != nil {
			t.Fatalf("%v: re-encoded block: %v", x, err)
		}
	})
}

// FuzzBlockRoundTrip builds datoms from the fuzz bytes, so that the encoder
// meets odd columns (every width, few and many attributes, all types).
func FuzzBlockRoundTrip(f *testing.F) {
	f.Add(byte(0), []byte{0, 1, 2, 3, byte(TypeString), 2, 'a', 'b'})
	f.Add(byte(2), []byte{1, 1, 1, 1, byte(TypeLong), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 1, 1, byte(TypeLong)})
	f.Fuzz(func(t *testing.T, xb byte, data []byte) {
		x := Index(xb % byte(NumIndexes))
		src := &fuzzValues{b: data}
		var ds []Datom
		for len(src.b) > 0 && len(ds) < 2000 {
			c := src.byte()
			d := Datom{V: src.value(false), Added: c&1 != 0}
			// Small ids most of the time, so that columns have runs.
			if c&2 != 0 {
				d.E, d.A, d.Tx = E(src.u64()), E(src.u64()), E(src.u64())
			} else {
				d.E, d.A, d.Tx = E(c>>2&7), E(c>>5), E(src.byte()&3)
			}
			ds = append(ds, d)
		}
		b := AppendBlock(nil, x, ds)
		back, err := DecodeBlock(x, b, nil)
		if err != nil {
			t.Fatalf("%v: block of %d datoms does not decode: %v", x, len(ds), err)
		}
		if err := identicalDatoms(back, ds); err != nil {
			t.Fatalf("%v: %v", x, err)
		}
	})
}
