package datom

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratadb/strata/anomaly"
)

// Type is a value type, :db/valueType. The order of the constants is the
// order of values of different types in an index (a single attribute holds
// one type, so it matters only for mixed tuples and for the value-first VAET
// and AVET scans across attributes).
type Type uint8

// The value types. TypeInvalid is the zero Value's type.
const (
	TypeInvalid Type = iota
	TypeBoolean
	TypeLong
	TypeBigInt
	TypeFloat
	TypeDouble
	TypeBigDec
	TypeInstant
	TypeString
	TypeKeyword
	TypeSymbol
	TypeUUID
	TypeURI
	TypeBytes
	TypeRef
	TypeTuple
	numTypes
)

var typeNames = [numTypes]string{
	TypeInvalid: "invalid", TypeBoolean: "boolean", TypeLong: "long", TypeBigInt: "bigint", TypeFloat: "float",
	TypeDouble: "double", TypeBigDec: "bigdec", TypeInstant: "instant", TypeString: "string", TypeKeyword: "keyword",
	TypeSymbol: "symbol", TypeUUID: "uuid", TypeURI: "uri", TypeBytes: "bytes", TypeRef: "ref", TypeTuple: "tuple",
}

// String is the type's name without namespace ("long"); Ident is the
// keyword users write (:db.type/long).
func (t Type) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Ident is the type's keyword name, "db.type/long".
func (t Type) Ident() string { return "db.type/" + t.String() }

// TypeByIdent returns the type named by a :db.type/… keyword (without the
// leading colon).
func TypeByIdent(ident string) (Type, bool) {
	name, ok := strings.CutPrefix(ident, "db.type/")
	if !ok {
		return TypeInvalid, false
	}
	for t := TypeBoolean; t < numTypes; t++ {
		if typeNames[t] == name {
			return t, true
		}
	}
	return TypeInvalid, false
}

// Limits on values, enforced by Validate with errors in the incorrect
// category (Datomic documents the same string limits).
const (
	MaxStringChars      = 4096 // characters of a string value
	MaxTupleStringChars = 256  // characters of a string inside a tuple
	MinTupleLen         = 2
	MaxTupleLen         = 8
	MaxBytesLen         = 1 << 20 // bytes of a :db.type/bytes value
	MaxBigLen           = 4096    // digits of a bigint or bigdec
)

// Value is one immutable value of any type. The zero Value is invalid.
// Values are small (48 bytes) and compare with Compare; two values are
// equal when Compare returns 0.
type Value struct {
	typ Type
	num uint64 // boolean 0/1, long, float/double bits, instant ms, ref; bigdec scale (int32)
	str string // string, keyword, symbol, uri, bytes, uuid (16 bytes)
	ext any    // *big.Int (bigint; bigdec unscaled), []Value (tuple)
}

// Type is v's type.
func (v Value) Type() Type { return v.typ }

// IsValid reports whether v holds a value.
func (v Value) IsValid() bool { return v.typ != TypeInvalid }

// Constructors.

func Boolean(b bool) Value {
	if b {
		return Value{typ: TypeBoolean, num: 1}
	}
	return Value{typ: TypeBoolean}
}
func Long(n int64) Value        { return Value{typ: TypeLong, num: uint64(n)} }
func Float(f float32) Value     { return Value{typ: TypeFloat, num: uint64(math.Float32bits(f))} }
func Double(f float64) Value    { return Value{typ: TypeDouble, num: math.Float64bits(f)} }
func String(s string) Value     { return Value{typ: TypeString, str: s} }
func Keyword(k string) Value    { return Value{typ: TypeKeyword, str: k} } // "ns/name", no colon
func Symbol(s string) Value     { return Value{typ: TypeSymbol, str: s} }
func URI(s string) Value        { return Value{typ: TypeURI, str: s} }
func Bytes(b []byte) Value      { return Value{typ: TypeBytes, str: string(b)} }
func UUID(u [16]byte) Value     { return Value{typ: TypeUUID, str: string(u[:])} }
func Ref(e E) Value             { return Value{typ: TypeRef, num: uint64(e)} }
func Instant(t time.Time) Value { return Value{typ: TypeInstant, num: uint64(t.UnixMilli())} }

// InstantMillis is the instant ms milliseconds after the Unix epoch.
func InstantMillis(ms int64) Value { return Value{typ: TypeInstant, num: uint64(ms)} }

// BigInt copies n.
func BigInt(n *big.Int) Value { return Value{typ: TypeBigInt, ext: new(big.Int).Set(n)} }

// BigDec is the decimal unscaled × 10^-scale (Java's BigDecimal: 1.10M is
// unscaled 110, scale 2). It copies unscaled.
func BigDec(unscaled *big.Int, scale int32) Value {
	return Value{typ: TypeBigDec, num: uint64(uint32(scale)), ext: new(big.Int).Set(unscaled)}
}

// Tuple copies elems.
func Tuple(elems ...Value) Value {
	return Value{typ: TypeTuple, ext: append([]Value(nil), elems...)}
}

// Accessors: each returns the zero value of its Go type when v is of
// another type.

// FixedBits returns the 64 bits that hold a boolean, long, instant or ref,
// and false for the other types: two values of one of these types are
// equal exactly when their bits are (floats are not here: -0 equals 0).
func (v Value) FixedBits() (uint64, bool) {
	switch v.typ {
	case TypeBoolean, TypeLong, TypeInstant, TypeRef:
		return v.num, true
	}
	return 0, false
}

func (v Value) Boolean() bool   { return v.typ == TypeBoolean && v.num != 0 }
func (v Value) Long() int64     { return v.int(TypeLong) }
func (v Value) Float() float32  { return v.f32() }
func (v Value) Double() float64 { return v.f64() }
func (v Value) Ref() E          { return E(v.uint(TypeRef)) }
func (v Value) Millis() int64   { return v.int(TypeInstant) }

// Time is an instant as a time.Time in UTC.
func (v Value) Time() time.Time { return time.UnixMilli(v.int(TypeInstant)).UTC() }

// Str is the text of a string, keyword ("ns/name"), symbol or uri, and the
// raw bytes of bytes and uuid values.
func (v Value) Str() string { return v.str }

// UUIDBytes is a uuid's 16 bytes.
func (v Value) UUIDBytes() (u [16]byte) {
	if v.typ == TypeUUID {
		copy(u[:], v.str)
	}
	return u
}

// BigInt is a bigint's value, or a bigdec's unscaled value; do not modify it.
func (v Value) BigInt() *big.Int {
	if n, ok := v.ext.(*big.Int); ok {
		return n
	}
	return nil
}

// Scale is a bigdec's scale.
func (v Value) Scale() int32 { return int32(uint32(v.num)) }

// Elems are a tuple's elements; do not modify them.
func (v Value) Elems() []Value {
	if e, ok := v.ext.([]Value); ok {
		return e
	}
	return nil
}

func (v Value) int(t Type) int64 {
	if v.typ != t {
		return 0
	}
	return int64(v.num)
}

func (v Value) uint(t Type) uint64 {
	if v.typ != t {
		return 0
	}
	return v.num
}

func (v Value) f32() float32 {
	if v.typ != TypeFloat {
		return 0
	}
	return math.Float32frombits(uint32(v.num))
}

func (v Value) f64() float64 {
	if v.typ != TypeDouble {
		return 0
	}
	return math.Float64frombits(v.num)
}

// orderedFloat64 maps a double to a uint64 whose unsigned order is Java's
// Double.compare order: -Inf < … < -0.0 < 0.0 < … < +Inf < NaN (every NaN
// is one value).
func orderedFloat64(f float64) uint64 {
	if f != f {
		return math.MaxUint64
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// CompareValue orders values: first by type, then within a type: numbers
// numerically (floats as Java's Double.compare), instants by time, strings,
// keywords, symbols, uris and bytes by their UTF-8 (or raw) bytes, uuids by
// their bytes, refs by entity id, bigdecs numerically and then by scale,
// tuples element by element and then by length.
func CompareValue(a, b Value) int {
	if a.typ != b.typ {
		return cmp.Compare(a.typ, b.typ)
	}
	switch a.typ {
	case TypeInvalid:
		return 0
	case TypeBoolean, TypeRef:
		return cmp.Compare(a.num, b.num)
	case TypeLong, TypeInstant:
		return cmp.Compare(int64(a.num), int64(b.num))
	case TypeFloat:
		return cmp.Compare(orderedFloat64(float64(a.f32())), orderedFloat64(float64(b.f32())))
	case TypeDouble:
		return cmp.Compare(orderedFloat64(a.f64()), orderedFloat64(b.f64()))
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes, TypeUUID:
		return strings.Compare(a.str, b.str)
	case TypeBigInt:
		return a.BigInt().Cmp(b.BigInt())
	case TypeBigDec:
		if c := compareDec(a.BigInt(), a.Scale(), b.BigInt(), b.Scale()); c != 0 {
			return c
		}
		return cmp.Compare(a.Scale(), b.Scale())
	case TypeTuple:
		ae, be := a.Elems(), b.Elems()
		for i := range min(len(ae), len(be)) {
			if c := CompareValue(ae[i], be[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(ae), len(be))
	}
	panic(fmt.Sprintf("datom: invariant: Compare of unknown type %d", a.typ))
}

// EqualValue reports whether a and b are the same value.
func EqualValue(a, b Value) bool {
	if a.typ != b.typ {
		return false
	}
	switch a.typ {
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes, TypeUUID:
		return a.str == b.str
	case TypeBoolean, TypeRef, TypeLong, TypeInstant:
		return a.num == b.num
	}
	return CompareValue(a, b) == 0
}

// compareDec compares ua×10^-sa with ub×10^-sb numerically.
func compareDec(ua *big.Int, sa int32, ub *big.Int, sb int32) int {
	if sa == sb {
		return ua.Cmp(ub)
	}
	s1, s2 := ua.Sign(), ub.Sign()
	if s1 != s2 {
		return cmp.Compare(s1, s2)
	}
	if s1 == 0 {
		return 0
	}
	// The adjusted exponents (digits − scale, the x of ±0.d1d2… × 10^x)
	// decide unless they are equal. Comparing them first keeps the scaling
	// below small: scales are int32, so 1M against 1E-2000000000M would
	// otherwise compute 10^2000000000. With equal exponents the scales
	// differ by no more than the digit counts do.
	ea := int64(decDigits(ua)) - int64(sa)
	eb := int64(decDigits(ub)) - int64(sb)
	if ea != eb {
		return s1 * cmp.Compare(ea, eb)
	}
	// Scale the one with fewer decimals up to the other's scale.
	x, y := ua, ub
	if sa < sb {
		x = new(big.Int).Mul(ua, pow10(int64(sb)-int64(sa)))
	} else {
		y = new(big.Int).Mul(ub, pow10(int64(sa)-int64(sb)))
	}
	return x.Cmp(y)
}

func pow10(n int64) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil) }

// decDigits is the number of decimal digits of |n| (1 for zero).
func decDigits(n *big.Int) int {
	if n.IsInt64() {
		x := n.Int64()
		u := uint64(x)
		if x < 0 {
			u = -u
		}
		d := 1
		for ; u >= 10; u /= 10 {
			d++
		}
		return d
	}
	s := n.Text(10)
	if s[0] == '-' {
		return len(s) - 1
	}
	return len(s)
}

// bigLimit is 10^MaxBigLen: a big number has at most MaxBigLen digits when
// its magnitude is below it.
var bigLimit = pow10(MaxBigLen)

// Validate checks v against the limits above: string lengths, tuple
// lengths and element limits, valid UTF-8 in strings, keywords and
// symbols, big number sizes. The error is in the incorrect category and
// names the limit.
func Validate(v Value) error { return validate(v, false) }

func validate(v Value, inTuple bool) error {
	switch v.typ {
	case TypeInvalid:
		return anomaly.New(anomaly.Incorrect, "datom value", "no value")
	case TypeString, TypeKeyword, TypeSymbol, TypeURI:
		if !utf8.ValidString(v.str) {
			return anomaly.New(anomaly.Incorrect, "datom value", "%s is not valid UTF-8", v.typ)
		}
		limit := MaxStringChars
		if inTuple {
			limit = MaxTupleStringChars
		}
		if len(v.str) > limit { // fast path: bytes >= characters
			if n := utf8.RuneCountInString(v.str); n > limit {
				where := ""
				if inTuple {
					where = " inside a tuple"
				}
				return anomaly.New(anomaly.Incorrect, "datom value", "%s of %d characters%s exceeds the limit of %d", v.typ, n, where, limit)
			}
		}
		if v.typ == TypeKeyword && (v.str == "" || strings.HasPrefix(v.str, ":")) {
			return anomaly.New(anomaly.Incorrect, "datom value", "malformed keyword %q", v.str)
		}
	case TypeBytes:
		if len(v.str) > MaxBytesLen {
			return anomaly.New(anomaly.Incorrect, "datom value", "bytes value of %d bytes exceeds the limit of %d", len(v.str), MaxBytesLen)
		}
	case TypeUUID:
		if len(v.str) != 16 {
			return anomaly.New(anomaly.Incorrect, "datom value", "uuid of %d bytes", len(v.str))
		}
	case TypeBigInt, TypeBigDec:
		n := v.BigInt()
		if n == nil {
			return anomaly.New(anomaly.Incorrect, "datom value", "%s without a value", v.typ)
		}
		// Exact: BitLen×log10(2) only estimates the digits (10^4096, of 4097
		// digits, passed that test).
		if n.CmpAbs(bigLimit) >= 0 {
			// About: printing a huge number to count its digits would cost more than the check.
			return anomaly.New(anomaly.Incorrect, "datom value", "%s of about %d digits exceeds the limit of %d", v.typ, n.BitLen()*30103/100000+1, MaxBigLen)
		}
	case TypeTuple:
		if inTuple {
			return anomaly.New(anomaly.Incorrect, "datom value", "a tuple cannot hold a tuple")
		}
		el := v.Elems()
		if len(el) < MinTupleLen || len(el) > MaxTupleLen {
			return anomaly.New(anomaly.Incorrect, "datom value", "tuple of %d elements: want %d to %d", len(el), MinTupleLen, MaxTupleLen)
		}
		for i, e := range el {
			if e.typ == TypeInvalid {
				continue // nil element: allowed in tuples (Datomic)
			}
			if err := validate(e, true); err != nil {
				return fmt.Errorf("tuple element %d: %w", i, err)
			}
		}
	}
	return nil
}

// String prints v as EDN (what a Datomic user would write).
func (v Value) String() string {
	var b strings.Builder
	v.appendEDN(&b)
	return b.String()
}

func (v Value) appendEDN(b *strings.Builder) {
	switch v.typ {
	case TypeInvalid:
		b.WriteString("nil")
	case TypeBoolean:
		b.WriteString(strconv.FormatBool(v.Boolean()))
	case TypeLong:
		b.WriteString(strconv.FormatInt(v.Long(), 10))
	case TypeRef:
		b.WriteString(strconv.FormatUint(v.num, 10))
	case TypeFloat, TypeDouble:
		f := v.f64()
		if v.typ == TypeFloat {
			f = float64(v.f32())
		}
		switch {
		case math.IsNaN(f):
			b.WriteString("##NaN")
		case math.IsInf(f, 1):
			b.WriteString("##Inf")
		case math.IsInf(f, -1):
			b.WriteString("##-Inf")
		default:
			bits := 64
			if v.typ == TypeFloat {
				bits = 32
			}
			s := strconv.FormatFloat(f, 'g', -1, bits)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			b.WriteString(s)
		}
	case TypeBigInt:
		b.WriteString(v.BigInt().String())
		b.WriteByte('N')
	case TypeBigDec:
		b.WriteString(DecString(v.BigInt(), v.Scale()))
		b.WriteByte('M')
	case TypeInstant:
		b.WriteString(`#inst "`)
		b.WriteString(v.Time().Format("2006-01-02T15:04:05.000Z"))
		b.WriteByte('"')
	case TypeString:
		b.WriteString(strconv.Quote(v.str))
	case TypeKeyword:
		b.WriteByte(':')
		b.WriteString(v.str)
	case TypeSymbol:
		b.WriteString(v.str)
	case TypeURI:
		b.WriteString(`#uri `)
		b.WriteString(strconv.Quote(v.str))
	case TypeBytes:
		fmt.Fprintf(b, `#bytes "%x"`, v.str)
	case TypeUUID:
		u := v.str
		fmt.Fprintf(b, `#uuid "%x-%x-%x-%x-%x"`, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	case TypeTuple:
		b.WriteByte('[')
		for i, e := range v.Elems() {
			if i > 0 {
				b.WriteByte(' ')
			}
			e.appendEDN(b)
		}
		b.WriteByte(']')
	}
}

// DecString prints unscaled×10^-scale as Java's BigDecimal.toString does
// (and so Clojure and Datomic, before the M): plain decimal notation when
// scale ≥ 0 and the adjusted exponent (digits − 1 − scale) is at least −6,
// else scientific notation: 1.5, 0.000001, 1E+3 (unscaled 1, scale −3),
// 1.23E-7, 0E-9. Reading the text back as a BigDecimal gives the same
// unscaled value and scale, and the text stays short for any int32 scale.
func DecString(unscaled *big.Int, scale int32) string {
	coeff := new(big.Int).Abs(unscaled).String()
	var b strings.Builder
	if unscaled.Sign() < 0 {
		b.WriteByte('-')
	}
	adjusted := int64(len(coeff)-1) - int64(scale)
	switch {
	case scale >= 0 && adjusted >= -6:
		switch {
		case scale == 0:
			b.WriteString(coeff)
		case int(scale) < len(coeff):
			b.WriteString(coeff[:len(coeff)-int(scale)])
			b.WriteByte('.')
			b.WriteString(coeff[len(coeff)-int(scale):])
		default: // at most 6 leading zeros, by the adjusted exponent test
			b.WriteString("0.")
			b.WriteString(strings.Repeat("0", int(scale)-len(coeff)))
			b.WriteString(coeff)
		}
	default:
		b.WriteString(coeff[:1])
		if len(coeff) > 1 {
			b.WriteByte('.')
			b.WriteString(coeff[1:])
		}
		if adjusted != 0 {
			b.WriteByte('E')
			if adjusted > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strconv.FormatInt(adjusted, 10))
		}
	}
	return b.String()
}

// ValueKey is a comparable form of a Value for map keys: two values have
// equal keys exactly when EqualValue holds. Strings and integers are used
// as they are (no allocation); other types carry their order-preserving
// encoding (AppendValueKey).
type ValueKey struct {
	typ Type
	num uint64
	str string
}

// Key returns v's map key.
func (v Value) Key() ValueKey {
	switch v.typ {
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes, TypeUUID:
		return ValueKey{typ: v.typ, str: v.str}
	case TypeBoolean, TypeRef, TypeLong, TypeInstant, TypeInvalid:
		return ValueKey{typ: v.typ, num: v.num}
	}
	return ValueKey{typ: v.typ, str: string(AppendValueKey(nil, v))}
}
