package datom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"

	"github.com/stratadb/strata/anomaly"
)

// Order-preserving keys.
//
// AppendKey turns a datom into a byte string whose bytewise order
// (bytes.Compare) is exactly Compare's order in the chosen index, so that the
// segments, whose keys compare bytewise, can hold datoms without knowing what
// they are. A key is the index's components in the index's order, then the
// transaction and the added flag:
//
//	EAVT: e a v tx added      AEVT: a e v tx added
//	AVET: a v e tx added      VAET: v a e tx added
//
//	e, a, tx   8 bytes, big-endian entity id
//	added      1 byte: 0 retraction, 1 assertion (retractions sort first)
//	v          a value key, below
//
// A value key is the type's byte (Type, so that values order by type first,
// as CompareValue does) followed by the type's payload. Every payload is
// self-delimiting and no payload is a proper prefix of another payload of the
// same type, so the component after the value compares only when the values
// are equal:
//
//	invalid    nothing (a tuple's nil element)
//	boolean    1 byte, 0 or 1
//	long       8 bytes big-endian of the two's complement with the sign bit
//	instant    flipped (so negative numbers sort first); instants as ms
//	ref        8 bytes big-endian entity id
//	float      4 bytes big-endian: the float32's bits, all bits flipped when
//	           negative, else the sign bit set; every NaN is FFFFFFFF (this
//	           is orderedFloat64's transform on 32 bits: float32 to float64
//	           conversion is exact and monotonic, so the order is the one
//	           CompareValue computes in float64: -Inf < … < -0.0 < 0.0 < … <
//	           +Inf < NaN)
//	double     8 bytes: orderedFloat64 big-endian
//	string, keyword, symbol, uri, bytes
//	           the bytes with every 00 written as 00 FF, then the terminator
//	           00 01 (so "a" < "a\x00" < "ab", as bytes compare)
//	uuid       the 16 bytes
//	bigint     zero: 01. positive: 02, len, magnitude. negative: 00, then
//	           len and magnitude with every bit flipped (larger magnitudes
//	           sort first). len is the magnitude's length in bytes as an
//	           ordered uvarint (below), magnitude is big-endian without
//	           leading zero bytes; so a longer magnitude is a larger number.
//	bigdec     a normalized number, then the scale. The number is
//	           unscaled×10^-scale = ±0.d1d2…dk × 10^x with d1 ≠ 0 and dk ≠ 0
//	           (trailing zeros of the unscaled value dropped), written as
//	             zero:     01
//	             positive: 02, x, digits
//	             negative: 00, then x and digits with every bit flipped
//	           x is 8 bytes big-endian with the sign bit flipped; digits are
//	           one byte per pair of digits, 1+10·d(2i−1)+d(2i) (the last pair
//	           padded with a 0 digit), then a 00 terminator. Then the scale: 4
//	           bytes big-endian with the sign bit flipped, never inverted, so
//	           that equal numbers order by scale (1.1M < 1.10M < 1.100M, and
//	           -1.1M < -1.10M) as CompareValue does.
//	tuple      per element: 1+its type byte, its payload; then 00 (so a
//	           tuple that is a prefix of another sorts first, and a nil
//	           element, 01, sorts before any value)
//
// An ordered uvarint is one byte v for v < F8, else F7+n followed by the n
// big-endian bytes of v (n = 1…8, minimal); a longer form is a larger number.
//
// Everything here is a pure function, safe for concurrent use.
//
// Decoding is strict: any input that encoding cannot produce (a non-canonical
// NaN, a magnitude with a leading zero byte, a bigdec with trailing zero
// digits, an unknown type, a tuple inside a tuple, …) is an error, so a key
// that decodes re-encodes to the same bytes. Decoders also bound big numbers
// (maxKeyBigBytes, maxKeyBigDigits) so that a hostile key cannot make them
// allocate without limit; these bounds are twice Validate's limits, so every
// valid value decodes.

const (
	signBit64 = 1 << 63
	signBit32 = 1 << 31

	// maxKeyBigBytes bounds a decoded bigint's magnitude: MaxBigLen digits
	// need 1701 bytes.
	maxKeyBigBytes = 2 * 1701
	// maxKeyBigDigits bounds a decoded bigdec's unscaled value.
	maxKeyBigDigits = 2 * MaxBigLen
	// maxKeyDecExp bounds a decoded bigdec's exponent x: scale is an int32
	// and the unscaled value has at most maxKeyBigDigits digits.
	maxKeyDecExp = 1<<31 + maxKeyBigDigits

	keyOp = "datom key"
)

func keyError(format string, args ...any) error {
	return anomaly.New(anomaly.Incorrect, keyOp, format, args...)
}

// AppendKey appends the key of d in index x: its bytes compare as Compare(x,
// …) orders datoms. d.V must be a value Validate accepts (or a tuple's
// elements must at least not hold tuples) for DecodeKey to invert the key.
func AppendKey(dst []byte, x Index, d Datom) []byte {
	switch x {
	case EAVT:
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.E))
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.A))
		dst = AppendValueKey(dst, d.V)
	case AEVT:
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.A))
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.E))
		dst = AppendValueKey(dst, d.V)
	case AVET:
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.A))
		dst = AppendValueKey(dst, d.V)
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.E))
	case VAET:
		dst = AppendValueKey(dst, d.V)
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.A))
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.E))
	default:
		panic(fmt.Sprintf("datom: invariant: AppendKey in unknown index %d", x))
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(d.Tx))
	if d.Added {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// DecodeKey decodes a key that AppendKey made for index x. Any other input
// is an anomaly.Incorrect error that says what is wrong and where.
func DecodeKey(x Index, key []byte) (Datom, error) {
	if x >= NumIndexes {
		return Datom{}, keyError("unknown index %d", x)
	}
	var d Datom
	var err error
	b := key
	entity := func(what string) E {
		if err != nil {
			return 0
		}
		if len(b) < 8 {
			err = keyError("%s key: %s at offset %d: need 8 bytes, have %d", x, what, len(key)-len(b), len(b))
			return 0
		}
		e := E(binary.BigEndian.Uint64(b))
		b = b[8:]
		return e
	}
	value := func() Value {
		if err != nil {
			return Value{}
		}
		off := len(key) - len(b)
		var v Value
		v, b, err = DecodeValueKey(b)
		if err != nil {
			err = fmt.Errorf("%s key: v at offset %d: %w", x, off, err)
		}
		return v
	}
	switch x {
	case EAVT:
		d.E = entity("e")
		d.A = entity("a")
		d.V = value()
	case AEVT:
		d.A = entity("a")
		d.E = entity("e")
		d.V = value()
	case AVET:
		d.A = entity("a")
		d.V = value()
		d.E = entity("e")
	case VAET:
		d.V = value()
		d.A = entity("a")
		d.E = entity("e")
	}
	d.Tx = entity("tx")
	if err != nil {
		return Datom{}, err
	}
	switch {
	case len(b) == 0:
		return Datom{}, keyError("%s key: no added flag at offset %d", x, len(key))
	case len(b) > 1:
		return Datom{}, keyError("%s key: %d trailing bytes after the added flag at offset %d", x, len(b)-1, len(key)-len(b))
	case b[0] > 1:
		return Datom{}, keyError("%s key: added flag %#x at offset %d: want 0 or 1", x, b[0], len(key)-1)
	}
	d.Added = b[0] == 1
	return d, nil
}

// KeyPrefix names the leading components of a key, to seek in an index: the
// fields whose Has… flag is set, which must be a leading run of the index's
// components (EAVT: E, A, V, Tx; AEVT: A, E, V, Tx; AVET: A, V, E, Tx; VAET:
// V, A, E, Tx). Every key that begins with AppendKeyPrefix(nil, x, p) is a
// datom whose components equal p's, and every such datom's key begins so.
//
// The usual seeks, in keys (lo inclusive, hi exclusive, from AppendPrefixEnd):
//
//	all datoms of entity e, EAVT:  lo = prefix{E: e}; hi = end(lo)
//	e's values of a, EAVT:         lo = prefix{E: e, A: a}; hi = end(lo)
//	a's datoms with v ≥ w, AVET:   lo = prefix{A: a, V: w}; hi = end(prefix{A: a})
//	a's datoms with v = w, AVET:   lo = prefix{A: a, V: w}; hi = end(lo)
//	references to e, VAET:         lo = prefix{V: Ref(e)}; hi = end(lo)
//
// The range bound by a value works because value keys preserve order and
// none is a prefix of another: a key with a value above w is above prefix{A:
// a, V: w}, and one with a value below w is below it.
type KeyPrefix struct {
	E, A, Tx                E
	V                       Value
	HasE, HasA, HasV, HasTx bool
}

// keyOrder lists an index's components in key order: 'e', 'a', 'v', 't'.
var keyOrder = [NumIndexes]string{EAVT: "eavt", AEVT: "aevt", AVET: "avet", VAET: "vaet"}

func (p KeyPrefix) has(c byte) bool {
	switch c {
	case 'e':
		return p.HasE
	case 'a':
		return p.HasA
	case 'v':
		return p.HasV
	}
	return p.HasTx
}

// Len is the number of p's components that form a leading run in index x,
// and ok reports whether those are all of p's components (so that p fits x).
func (p KeyPrefix) Len(x Index) (n int, ok bool) {
	if x >= NumIndexes {
		return 0, false
	}
	order := keyOrder[x]
	for n < len(order) && p.has(order[n]) {
		n++
	}
	for _, c := range []byte(order[n:]) {
		if p.has(c) {
			return n, false
		}
	}
	return n, true
}

// AppendKeyPrefix appends the common prefix of the keys, in index x, of the
// datoms whose components equal p's. It panics when p does not fit x (see
// Len): the caller chose the index, so that is a programmer error.
func AppendKeyPrefix(dst []byte, x Index, p KeyPrefix) []byte {
	n, ok := p.Len(x)
	if !ok {
		panic(fmt.Sprintf("datom: invariant: key prefix %+v is not a leading run of %s", p, x))
	}
	for _, c := range []byte(keyOrder[x][:n]) {
		switch c {
		case 'e':
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.E))
		case 'a':
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.A))
		case 'v':
			dst = AppendValueKey(dst, p.V)
		case 't':
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.Tx))
		}
	}
	return dst
}

// AppendPrefixEnd appends the smallest key above every key that begins with
// prefix: the exclusive upper bound of a prefix scan. ok is false (and dst
// is returned as is) when there is no such key: prefix is empty or all FF.
func AppendPrefixEnd(dst, prefix []byte) (_ []byte, ok bool) {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xFF {
			dst = append(dst, prefix[:i+1]...)
			dst[len(dst)-1]++
			return dst, true
		}
	}
	return dst, false
}

// AppendValueKey appends v's order-preserving, self-delimiting encoding: for
// values a and b, bytes.Compare of their keys is CompareValue(a, b).
func AppendValueKey(dst []byte, v Value) []byte {
	return appendValuePayload(append(dst, byte(v.typ)), v)
}

func appendValuePayload(dst []byte, v Value) []byte {
	switch v.typ {
	case TypeInvalid:
	case TypeBoolean:
		if v.num != 0 {
			return append(dst, 1)
		}
		return append(dst, 0)
	case TypeLong, TypeInstant:
		return binary.BigEndian.AppendUint64(dst, v.num^signBit64)
	case TypeRef:
		return binary.BigEndian.AppendUint64(dst, v.num)
	case TypeFloat:
		return binary.BigEndian.AppendUint32(dst, orderedFloat32(v.f32()))
	case TypeDouble:
		return binary.BigEndian.AppendUint64(dst, orderedFloat64(v.f64()))
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes:
		return appendEscaped(dst, v.str)
	case TypeUUID:
		if len(v.str) != 16 {
			panic(fmt.Sprintf("datom: invariant: uuid of %d bytes", len(v.str)))
		}
		return append(dst, v.str...)
	case TypeBigInt:
		return appendBigIntKey(dst, v.BigInt())
	case TypeBigDec:
		return appendBigDecKey(dst, v.BigInt(), v.Scale())
	case TypeTuple:
		for _, e := range v.Elems() {
			dst = appendValuePayload(append(dst, byte(e.typ)+1), e)
		}
		return append(dst, 0)
	default:
		panic(fmt.Sprintf("datom: invariant: value key of unknown type %d", v.typ))
	}
	return dst
}

// DecodeValueKey decodes the value key at the front of b and returns the
// value and the bytes after it. Errors are anomaly.Incorrect.
func DecodeValueKey(b []byte) (v Value, rest []byte, err error) {
	if len(b) == 0 {
		return Value{}, b, keyError("value: no type byte")
	}
	t := Type(b[0])
	if t >= numTypes {
		return Value{}, b, keyError("value: unknown type %d", b[0])
	}
	return decodeValuePayload(t, b, 1, false)
}

// decodeValuePayload decodes a payload of type t at b[off:]; errors name the
// offset in b.
func decodeValuePayload(t Type, b []byte, off int, inTuple bool) (Value, []byte, error) {
	p := b[off:]
	need := func(n int) error {
		if len(p) < n {
			return keyError("%s value at offset %d: need %d bytes, have %d", t, off, n, len(p))
		}
		return nil
	}
	switch t {
	case TypeInvalid:
		return Value{}, p, nil
	case TypeBoolean:
		if err := need(1); err != nil {
			return Value{}, b, err
		}
		if p[0] > 1 {
			return Value{}, b, keyError("boolean value at offset %d: byte %#x, want 0 or 1", off, p[0])
		}
		return Value{typ: t, num: uint64(p[0])}, p[1:], nil
	case TypeLong, TypeInstant:
		if err := need(8); err != nil {
			return Value{}, b, err
		}
		return Value{typ: t, num: binary.BigEndian.Uint64(p) ^ signBit64}, p[8:], nil
	case TypeRef:
		if err := need(8); err != nil {
			return Value{}, b, err
		}
		return Value{typ: t, num: binary.BigEndian.Uint64(p)}, p[8:], nil
	case TypeFloat:
		if err := need(4); err != nil {
			return Value{}, b, err
		}
		f, ok := unorderFloat32(binary.BigEndian.Uint32(p))
		if !ok {
			return Value{}, b, keyError("float value at offset %d: non-canonical NaN", off)
		}
		return Float(f), p[4:], nil
	case TypeDouble:
		if err := need(8); err != nil {
			return Value{}, b, err
		}
		f, ok := unorderFloat64(binary.BigEndian.Uint64(p))
		if !ok {
			return Value{}, b, keyError("double value at offset %d: non-canonical NaN", off)
		}
		return Double(f), p[8:], nil
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes:
		s, n, err := decodeEscaped(p)
		if err != nil {
			return Value{}, b, keyError("%s value at offset %d: %v", t, off, err)
		}
		return Value{typ: t, str: s}, p[n:], nil
	case TypeUUID:
		if err := need(16); err != nil {
			return Value{}, b, err
		}
		return Value{typ: t, str: string(p[:16])}, p[16:], nil
	case TypeBigInt:
		n, used, err := decodeBigIntKey(p)
		if err != nil {
			return Value{}, b, keyError("bigint value at offset %d: %v", off, err)
		}
		return Value{typ: t, ext: n}, p[used:], nil
	case TypeBigDec:
		n, scale, used, err := decodeBigDecKey(p)
		if err != nil {
			return Value{}, b, keyError("bigdec value at offset %d: %v", off, err)
		}
		return Value{typ: t, num: uint64(uint32(scale)), ext: n}, p[used:], nil
	case TypeTuple:
		if inTuple {
			return Value{}, b, keyError("tuple value at offset %d: a tuple inside a tuple", off)
		}
		var elems []Value
		for i := off; ; {
			if i >= len(b) {
				return Value{}, b, keyError("tuple value at offset %d: no terminator", off)
			}
			tag := b[i]
			if tag == 0 {
				return Value{typ: t, ext: elems}, b[i+1:], nil
			}
			et := Type(tag - 1)
			if et >= numTypes {
				return Value{}, b, keyError("tuple element %d at offset %d: unknown type %d", len(elems), i, tag-1)
			}
			e, rest, err := decodeValuePayload(et, b, i+1, true)
			if err != nil {
				return Value{}, b, err
			}
			elems = append(elems, e)
			i = len(b) - len(rest)
		}
	}
	return Value{}, b, keyError("value at offset %d: unknown type %d", off, t)
}

// orderedFloat32 is orderedFloat64 for float32 bits.
func orderedFloat32(f float32) uint32 {
	if f != f {
		return math.MaxUint32
	}
	b := math.Float32bits(f)
	if b>>31 != 0 {
		return ^b
	}
	return b | signBit32
}

// unorderFloat32 inverts orderedFloat32; ok is false for codes it never
// makes (a NaN other than FFFFFFFF).
func unorderFloat32(c uint32) (float32, bool) {
	if c == math.MaxUint32 {
		return float32(math.NaN()), true
	}
	b := ^c
	if c&signBit32 != 0 {
		b = c &^ signBit32
	}
	f := math.Float32frombits(b)
	return f, f == f
}

func unorderFloat64(c uint64) (float64, bool) {
	if c == math.MaxUint64 {
		return math.NaN(), true
	}
	b := ^c
	if c&signBit64 != 0 {
		b = c &^ signBit64
	}
	f := math.Float64frombits(b)
	return f, f == f
}

// appendEscaped writes s with 00 as 00 FF and the terminator 00 01.
func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, 0, 1)
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, 0xFF)
		s = s[i+1:]
	}
}

// decodeEscaped inverts appendEscaped and returns the bytes it used.
func decodeEscaped(p []byte) (string, int, error) {
	i := bytes.IndexByte(p, 0)
	if i < 0 {
		return "", 0, fmt.Errorf("no terminator")
	}
	if i+1 < len(p) && p[i+1] == 1 {
		return string(p[:i]), i + 2, nil // no escapes: one allocation
	}
	buf := make([]byte, 0, i+16)
	for n := 0; ; {
		i := bytes.IndexByte(p[n:], 0)
		if i < 0 || n+i+1 >= len(p) {
			return "", 0, fmt.Errorf("no terminator")
		}
		buf = append(buf, p[n:n+i]...)
		switch p[n+i+1] {
		case 1:
			return string(buf), n + i + 2, nil
		case 0xFF:
			buf = append(buf, 0)
			n += i + 2
		default:
			return "", 0, fmt.Errorf("escape 00 %02X at offset %d: want 00 01 or 00 FF", p[n+i+1], n+i)
		}
	}
}

// appendOrderedUvarint writes v so that larger numbers compare larger.
func appendOrderedUvarint(dst []byte, v uint64) []byte {
	if v < 0xF8 {
		return append(dst, byte(v))
	}
	n := (bits.Len64(v) + 7) / 8
	dst = append(dst, byte(0xF7+n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// readOrderedUvarint reads an ordered uvarint whose bytes were xored with
// mask and returns it and its length.
func readOrderedUvarint(p []byte, mask byte) (uint64, int, error) {
	if len(p) == 0 {
		return 0, 0, fmt.Errorf("no length")
	}
	h := p[0] ^ mask
	if h < 0xF8 {
		return uint64(h), 1, nil
	}
	n := int(h - 0xF7)
	if len(p) < 1+n {
		return 0, 0, fmt.Errorf("length of %d bytes, have %d", n, len(p)-1)
	}
	var v uint64
	for _, c := range p[1 : 1+n] {
		v = v<<8 | uint64(c^mask)
	}
	if (bits.Len64(v)+7)/8 != n || v < 0xF8 {
		return 0, 0, fmt.Errorf("non-minimal length %d in %d bytes", v, n)
	}
	return v, 1 + n, nil
}

func appendBigIntKey(dst []byte, n *big.Int) []byte {
	sign := n.Sign()
	if sign == 0 {
		return append(dst, 1)
	}
	mask := byte(0)
	if sign < 0 {
		dst = append(dst, 0)
		mask = 0xFF
	} else {
		dst = append(dst, 2)
	}
	l := (n.BitLen() + 7) / 8
	start := len(dst)
	dst = appendOrderedUvarint(dst, uint64(l))
	dst = append(dst, make([]byte, l)...)
	n.FillBytes(dst[len(dst)-l:]) // FillBytes writes |n|
	if mask != 0 {
		for i := start; i < len(dst); i++ {
			dst[i] ^= mask
		}
	}
	return dst
}

func decodeBigIntKey(p []byte) (*big.Int, int, error) {
	if len(p) == 0 {
		return nil, 0, fmt.Errorf("no sign byte")
	}
	var mask byte
	switch p[0] {
	case 1:
		return new(big.Int), 1, nil
	case 0:
		mask = 0xFF
	case 2:
	default:
		return nil, 0, fmt.Errorf("sign byte %#x: want 0, 1 or 2", p[0])
	}
	l, n, err := readOrderedUvarint(p[1:], mask)
	if err != nil {
		return nil, 0, err
	}
	if l == 0 || l > maxKeyBigBytes {
		return nil, 0, fmt.Errorf("magnitude of %d bytes: want 1 to %d", l, maxKeyBigBytes)
	}
	m := p[1+n:]
	if uint64(len(m)) < l {
		return nil, 0, fmt.Errorf("magnitude of %d bytes, have %d", l, len(m))
	}
	m = m[:l]
	if m[0]^mask == 0 {
		return nil, 0, fmt.Errorf("magnitude with a leading zero byte")
	}
	if mask != 0 {
		m = bytes.Clone(m)
		for i := range m {
			m[i] ^= mask
		}
	}
	z := new(big.Int).SetBytes(m)
	if mask != 0 {
		z.Neg(z)
	}
	return z, 1 + n + int(l), nil
}

func appendBigDecKey(dst []byte, u *big.Int, scale int32) []byte {
	sign := u.Sign()
	if sign == 0 {
		dst = append(dst, 1)
	} else {
		digits := u.Text(10)
		mask := byte(0)
		if sign < 0 {
			digits = digits[1:]
			mask = 0xFF
			dst = append(dst, 0)
		} else {
			dst = append(dst, 2)
		}
		x := int64(len(digits)) - int64(scale)
		digits = strings.TrimRight(digits, "0")
		var xb [8]byte
		binary.BigEndian.PutUint64(xb[:], uint64(x)^signBit64)
		for _, c := range xb {
			dst = append(dst, c^mask)
		}
		for i := 0; i < len(digits); i += 2 {
			pair := 1 + 10*(digits[i]-'0')
			if i+1 < len(digits) {
				pair += digits[i+1] - '0'
			}
			dst = append(dst, pair^mask)
		}
		dst = append(dst, mask)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(scale)^signBit32)
}

func decodeBigDecKey(p []byte) (_ *big.Int, scale int32, used int, _ error) {
	if len(p) == 0 {
		return nil, 0, 0, fmt.Errorf("no sign byte")
	}
	var mask byte
	var z *big.Int
	i := 1
	switch p[0] {
	case 1:
		z = new(big.Int)
	case 0, 2:
		if p[0] == 0 {
			mask = 0xFF
		}
		if len(p) < 1+8 {
			return nil, 0, 0, fmt.Errorf("no exponent")
		}
		var xb [8]byte
		for j := range xb {
			xb[j] = p[1+j] ^ mask
		}
		x := int64(binary.BigEndian.Uint64(xb[:]) ^ signBit64)
		if x < -maxKeyDecExp || x > maxKeyDecExp {
			return nil, 0, 0, fmt.Errorf("exponent %d out of range", x)
		}
		i = 1 + 8
		var digits []byte
		for {
			if i >= len(p) {
				return nil, 0, 0, fmt.Errorf("no digits terminator")
			}
			c := p[i] ^ mask
			i++
			if c == 0 {
				break
			}
			if c > 100 {
				return nil, 0, 0, fmt.Errorf("digit pair byte %d: want 1 to 100", c)
			}
			if len(digits) >= maxKeyBigDigits {
				return nil, 0, 0, fmt.Errorf("more than %d digits", maxKeyBigDigits)
			}
			digits = append(digits, '0'+(c-1)/10, '0'+(c-1)%10)
		}
		switch {
		case len(digits) == 0:
			return nil, 0, 0, fmt.Errorf("no digits")
		case digits[0] == '0':
			return nil, 0, 0, fmt.Errorf("leading zero digit")
		case digits[len(digits)-1] == '0':
			digits = digits[:len(digits)-1] // the padding of an odd count
			if digits[len(digits)-1] == '0' {
				return nil, 0, 0, fmt.Errorf("trailing zero digits")
			}
		}
		if len(p) < i+4 {
			return nil, 0, 0, fmt.Errorf("no scale")
		}
		scale = int32(binary.BigEndian.Uint32(p[i:]) ^ signBit32)
		// The unscaled value has x+scale digits: the digits, then zeros.
		nd := x + int64(scale)
		if nd < int64(len(digits)) || nd > maxKeyBigDigits {
			return nil, 0, 0, fmt.Errorf("exponent %d and scale %d give %d digits for %d significant ones", x, scale, nd, len(digits))
		}
		for range nd - int64(len(digits)) {
			digits = append(digits, '0')
		}
		z = new(big.Int)
		if _, ok := z.SetString(string(digits), 10); !ok {
			return nil, 0, 0, fmt.Errorf("bad digits") // unreachable: digits are 0-9
		}
		if mask != 0 {
			z.Neg(z)
		}
		return z, scale, i + 4, nil
	default:
		return nil, 0, 0, fmt.Errorf("sign byte %#x: want 0, 1 or 2", p[0])
	}
	if len(p) < i+4 {
		return nil, 0, 0, fmt.Errorf("no scale")
	}
	scale = int32(binary.BigEndian.Uint32(p[i:]) ^ signBit32)
	return z, scale, i + 4, nil
}
