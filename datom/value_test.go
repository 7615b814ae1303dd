package datom

import (
	"errors"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stratadb/strata/anomaly"
)

func TestValueRoundTrip(t *testing.T) {
	u := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	before1970 := time.Date(1969, 7, 20, 20, 17, 40, 123e6, time.UTC)
	n := new(big.Int).Lsh(big.NewInt(-3), 100)
	for _, c := range []struct {
		v    Value
		typ  Type
		back func(Value) any
		want any
		edn  string
	}{
		{Boolean(true), TypeBoolean, func(v Value) any { return v.Boolean() }, true, "true"},
		{Boolean(false), TypeBoolean, func(v Value) any { return v.Boolean() }, false, "false"},
		{Long(math.MinInt64), TypeLong, func(v Value) any { return v.Long() }, int64(math.MinInt64), "-9223372036854775808"},
		{Float(-1.5), TypeFloat, func(v Value) any { return v.Float() }, float32(-1.5), "-1.5"},
		{Float(2), TypeFloat, func(v Value) any { return v.Float() }, float32(2), "2.0"},
		{Double(math.Inf(-1)), TypeDouble, func(v Value) any { return v.Double() }, math.Inf(-1), "##-Inf"},
		{Double(1e100), TypeDouble, func(v Value) any { return v.Double() }, 1e100, "1e+100"},
		{String("héllo"), TypeString, func(v Value) any { return v.Str() }, "héllo", `"héllo"`},
		{Keyword("person/name"), TypeKeyword, func(v Value) any { return v.Str() }, "person/name", ":person/name"},
		{Symbol("?e"), TypeSymbol, func(v Value) any { return v.Str() }, "?e", "?e"},
		{URI("https://x"), TypeURI, func(v Value) any { return v.Str() }, "https://x", `#uri "https://x"`},
		{Bytes([]byte{0, 255}), TypeBytes, func(v Value) any { return v.Str() }, "\x00\xff", `#bytes "00ff"`},
		{UUID(u), TypeUUID, func(v Value) any { return v.UUIDBytes() }, u, `#uuid "01020304-0506-0708-090a-0b0c0d0e0f10"`},
		{Ref(MakeE(PartUser, 7)), TypeRef, func(v Value) any { return v.Ref() }, MakeE(PartUser, 7), "17592186044423"},
		{Instant(before1970), TypeInstant, func(v Value) any { return v.Time() }, before1970, `#inst "1969-07-20T20:17:40.123Z"`},
		{InstantMillis(-1), TypeInstant, func(v Value) any { return v.Millis() }, int64(-1), `#inst "1969-12-31T23:59:59.999Z"`},
		{BigInt(n), TypeBigInt, func(v Value) any { return v.BigInt().String() }, n.String(), n.String() + "N"},
		{BigDec(big.NewInt(-110), 2), TypeBigDec, func(v Value) any { return [2]any{v.BigInt().Int64(), v.Scale()} }, [2]any{int64(-110), int32(2)}, "-1.10M"},
		{Tuple(Long(1), Value{}, String("x")), TypeTuple, func(v Value) any { return len(v.Elems()) }, 3, `[1 nil "x"]`},
	} {
		if c.v.Type() != c.typ || !c.v.IsValid() {
			t.Errorf("%v: type %v, want %v", c.v, c.v.Type(), c.typ)
		}
		if got := c.back(c.v); got != c.want {
			if gt, ok := got.(time.Time); !ok || !gt.Equal(c.want.(time.Time)) {
				t.Errorf("%v: accessor gives %v, want %v", c.typ, got, c.want)
			}
		}
		if got := c.v.String(); got != c.edn {
			t.Errorf("%v: String %q, want %q", c.typ, got, c.edn)
		}
		// Accessors of another type give zero values.
		if c.typ != TypeLong && c.v.Long() != 0 || c.typ != TypeDouble && c.v.Double() != 0 || c.typ != TypeRef && c.v.Ref() != 0 {
			t.Errorf("%v: accessor of another type is not zero", c.typ)
		}
	}
	if (Value{}).IsValid() || (Value{}).String() != "nil" {
		t.Error("zero Value is valid or does not print as nil")
	}
	// Constructors copy their arguments.
	m := big.NewInt(5)
	v := BigInt(m)
	m.SetInt64(6)
	el := []Value{Long(1), Long(2)}
	tup := Tuple(el...)
	el[0] = Long(9)
	if v.BigInt().Int64() != 5 || tup.Elems()[0].Long() != 1 {
		t.Error("constructors share their arguments")
	}
	if s := unsafe.Sizeof(Value{}); s != 48 {
		t.Errorf("Value is %d bytes, documented as 48", s)
	}
}

func TestDecString(t *testing.T) {
	for _, c := range []struct {
		u     int64
		scale int32
		want  string
	}{
		{0, 0, "0"}, {0, 2, "0.00"}, {0, 7, "0E-7"}, {0, -2, "0E+2"},
		{15, 1, "1.5"}, {-15, 1, "-1.5"}, {110, 2, "1.10"}, {1, 6, "0.000001"}, {1, 7, "1E-7"},
		{123, 9, "1.23E-7"}, {1, -3, "1E+3"}, {-12, -3, "-1.2E+4"}, {123, 0, "123"}, {5, 1, "0.5"},
		{1, math.MinInt32, "1E+2147483648"}, {1, math.MaxInt32, "1E-2147483647"},
	} {
		if got := DecString(big.NewInt(c.u), c.scale); got != c.want {
			t.Errorf("DecString(%d, %d) = %q, want %q", c.u, c.scale, got, c.want)
		}
	}
}

func TestTypeNames(t *testing.T) {
	for ty := TypeBoolean; ty < numTypes; ty++ {
		got, ok := TypeByIdent(ty.Ident())
		if !ok || got != ty {
			t.Errorf("TypeByIdent(%q) = %v, %v", ty.Ident(), got, ok)
		}
	}
	if _, ok := TypeByIdent("db.type/nope"); ok {
		t.Error("unknown type ident accepted")
	}
	if _, ok := TypeByIdent("long"); ok {
		t.Error("type ident without namespace accepted")
	}
	if s := Type(200).String(); s != "type(200)" {
		t.Errorf("unknown type prints %q", s)
	}
}

func TestCompareValueMatchesReference(t *testing.T) {
	r := newRand(t)
	for range 200000 {
		a, b := randValue(r, false), randValue(r, false)
		if r.IntN(3) == 0 { // same type, more often equal
			b = randValueOf(r, a.Type())
		}
		c := CompareValue(a, b)
		if want := refCompareValue(a, b); sign(c) != want {
			t.Fatalf("CompareValue(%v, %v) = %d, want %d", a, b, c, want)
		}
		if back := CompareValue(b, a); sign(back) != -sign(c) {
			t.Fatalf("CompareValue not antisymmetric: (%v, %v) = %d, reversed %d", a, b, c, back)
		}
		if EqualValue(a, b) != (c == 0) {
			t.Fatalf("EqualValue(%v, %v) = %v, CompareValue = %d", a, b, EqualValue(a, b), c)
		}
		if CompareValue(a, a) != 0 || !EqualValue(a, a) {
			t.Fatalf("%v not equal to itself", a)
		}
	}
}

func TestCompareValueTotalOrder(t *testing.T) {
	r := newRand(t)
	for range 50 {
		vs := make([]Value, 300)
		for i := range vs {
			vs[i] = randValue(r, false)
		}
		slices.SortFunc(vs, CompareValue)
		// Transitivity: a sorted slice is ordered pairwise, not just
		// between neighbours.
		for i := range vs {
			for j := i + 1; j < len(vs); j++ {
				if CompareValue(vs[i], vs[j]) > 0 {
					t.Fatalf("not transitive: %v sorted before %v", vs[i], vs[j])
				}
			}
		}
	}
}

func TestCompareValueCases(t *testing.T) {
	dec := func(u int64, s int32) Value { return BigDec(big.NewInt(u), s) }
	nan2 := math.Float64frombits(0x7FF0000000000001)
	// Each row is strictly ascending.
	for _, row := range [][]Value{
		{Value{}, Boolean(false), Boolean(true), Long(math.MinInt64), Long(0)}, // by type first
		{Double(math.Inf(-1)), Double(-1), Double(math.Copysign(0, -1)), Double(0), Double(math.SmallestNonzeroFloat64), Double(math.Inf(1)), Double(math.NaN())},
		{Float(float32(math.Inf(-1))), Float(-1), Float(float32(math.Copysign(0, -1))), Float(0), Float(math.MaxFloat32), Float(float32(math.Inf(1))), Float(float32(math.NaN()))},
		{dec(-11, 0), dec(-11, 1), dec(-110, 2), dec(-1100, 3), dec(0, -1), dec(0, 0), dec(0, 3), dec(11, 1), dec(110, 2), dec(1100, 3), dec(12, 1), dec(2, 0)},
		{dec(1, 2000000000), dec(1, 5), dec(1, 0), dec(1, -2000000000)},     // huge scale gaps, answered at once
		{dec(-1, -2000000000), dec(-1, 0), dec(-1, 5), dec(-1, 2000000000)}, // and for negatives
		{dec(0, math.MinInt32), dec(0, 0), dec(0, math.MaxInt32)},           // zeros only by scale
		{InstantMillis(-86400000), InstantMillis(-1), InstantMillis(0), InstantMillis(1)},
		{BigInt(big.NewInt(-300)), BigInt(big.NewInt(-1)), BigInt(big.NewInt(0)), BigInt(new(big.Int).Lsh(big.NewInt(1), 70))},
		{String(""), String("\x00"), String("a"), String("a\x00"), String("ab"), String("b"), String("é")},
		{Tuple(Value{}, Long(1)), Tuple(Long(1), Long(1)), Tuple(Long(1), Long(1), Long(0)), Tuple(Long(1), Long(2))},
	} {
		for i := range row {
			for j := range row {
				if got := sign(CompareValue(row[i], row[j])); got != sign(i-j) {
					t.Errorf("CompareValue(%v, %v) = %d, want %d", row[i], row[j], got, sign(i-j))
				}
			}
		}
	}
	if !EqualValue(Double(math.NaN()), Double(nan2)) || !EqualValue(Float(float32(math.NaN())), Float(float32(nan2))) {
		t.Error("NaNs are not one value")
	}
	if EqualValue(dec(11, 1), dec(110, 2)) {
		t.Error("1.1M equals 1.10M")
	}
	if EqualValue(Long(1), Ref(1)) || EqualValue(String("a"), Keyword("a")) {
		t.Error("values of different types are equal")
	}
}

func TestValidate(t *testing.T) {
	many := func(s string, n int) string { return strings.Repeat(s, n) }
	big10 := func(digits int64) *big.Int { return pow10(digits - 1) } // the smallest of that many digits
	minus1 := func(n *big.Int) *big.Int { return new(big.Int).Sub(n, big.NewInt(1)) }
	ok := []Value{
		String(many("a", MaxStringChars)),
		String(many("é", MaxStringChars)), // 8192 bytes, 4096 characters
		String(many("日", MaxStringChars)),
		Keyword("a/b"), Symbol("x"), URI("u"), Bytes(make([]byte, MaxBytesLen)), UUID([16]byte{}),
		Tuple(String(many("é", MaxTupleStringChars)), Long(1)),
		Tuple(Long(1), Long(2)), Tuple(make([]Value, MaxTupleLen)...), Tuple(Value{}, Value{}),
		BigInt(minus1(pow10(MaxBigLen))), BigInt(new(big.Int).Neg(minus1(pow10(MaxBigLen)))),
		BigDec(minus1(pow10(MaxBigLen)), math.MaxInt32), BigDec(big.NewInt(1), math.MinInt32),
		Long(0), Double(math.NaN()), Boolean(true), Ref(0), InstantMillis(-1),
	}
	for _, v := range ok {
		if err := Validate(v); err != nil {
			t.Errorf("Validate(%.40v): %v", v, err)
		}
	}
	bad := []struct {
		v    Value
		want string
	}{
		{Value{}, "no value"},
		{String(many("a", MaxStringChars+1)), "4097 characters"},
		{String(many("é", MaxStringChars+1)), "4097 characters"},
		{Keyword(many("k", MaxStringChars+1)), "4097 characters"},
		{String("\xff"), "UTF-8"},
		{Keyword(""), "malformed keyword"},
		{Keyword(":a"), "malformed keyword"},
		{Bytes(make([]byte, MaxBytesLen+1)), "bytes value"},
		{UUID([16]byte{}).withStr("short"), "uuid of 5 bytes"},
		{Tuple(String(many("é", MaxTupleStringChars+1)), Long(1)), "257 characters inside a tuple"},
		{Tuple(Long(1)), "tuple of 1 elements"},
		{Tuple(), "tuple of 0 elements"},
		{Tuple(make([]Value, MaxTupleLen+1)...), "tuple of 9 elements"},
		{Tuple(Tuple(Long(1), Long(2)), Long(1)), "a tuple cannot hold a tuple"},
		{BigInt(big10(MaxBigLen + 1)), "exceeds the limit of 4096"}, // 10^4096: 4097 digits
		{BigInt(new(big.Int).Neg(big10(MaxBigLen + 1))), "exceeds the limit"},
		{BigDec(big10(MaxBigLen+1), 3), "bigdec"},
		{Value{typ: TypeBigInt}, "without a value"},
	}
	for _, c := range bad {
		err := Validate(c.v)
		if err == nil {
			t.Errorf("Validate(%.40v) = nil, want %q", c.v, c.want)
			continue
		}
		if !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("Validate(%.40v) = %v: not anomaly.Incorrect", c.v, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%.40v) = %v, want it to say %q", c.v, err, c.want)
		}
	}
}

func (v Value) withStr(s string) Value { v.str = s; return v }

func TestEntity(t *testing.T) {
	e := MakeE(PartUser, 42)
	if e.Part() != PartUser || e.N() != 42 || e.IsTx() || e.String() != "17592186044458" {
		t.Errorf("MakeE(user, 42) = %v: part %v n %d", e, e.Part(), e.N())
	}
	if got := MakeE(MaxPart, MaxN); got.Part() != MaxPart || got.N() != MaxN {
		t.Errorf("MakeE(MaxPart, MaxN) = part %v n %d", got.Part(), got.N())
	}
	for _, tt := range []T{0, 1, 1000, MaxN} {
		tx := TxE(tt)
		if !tx.IsTx() || tx.T() != tt || tx.Part() != PartTx {
			t.Errorf("TxE(%d) = %v: IsTx %v T %d", tt, tx, tx.IsTx(), tx.T())
		}
		d := Datom{Tx: tx}
		if d.T() != tt {
			t.Errorf("Datom.T = %d, want %d", d.T(), tt)
		}
	}
	// Entities of one partition sort together, and partitions in order.
	if !(MakeE(PartDB, MaxN) < MakeE(PartTx, 0) && MakeE(PartTx, MaxN) < MakeE(PartUser, 0)) {
		t.Error("partitions do not sort in order")
	}
	if T(7).String() != "7" {
		t.Error("T.String")
	}
	for _, c := range []struct {
		p Part
		n uint64
	}{{MaxPart + 1, 0}, {0, MaxN + 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MakeE(%d, %d) did not panic", c.p, c.n)
				}
			}()
			MakeE(c.p, c.n)
		}()
	}
}
