package datom

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Random values, datoms and workloads for the property tests, the fuzzers
// and the benchmarks. The domains are small on purpose, so that random pairs
// are often equal or differ only late (in a tuple's last element, a bigdec's
// scale, a string's last byte).

func newRand(t testing.TB) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

var valueTypes = []Type{
	TypeBoolean, TypeLong, TypeBigInt, TypeFloat, TypeDouble, TypeBigDec, TypeInstant, TypeString,
	TypeKeyword, TypeSymbol, TypeUUID, TypeURI, TypeBytes, TypeRef, TypeTuple,
}

var interestingLongs = []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, -256, -1, 0, 1, 255, 256, 1 << 32, math.MaxInt64 - 1, math.MaxInt64}

var interestingDoubles = []float64{
	math.Inf(-1), -math.MaxFloat64, -1.5, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
	math.SmallestNonzeroFloat64, 1, 1.5, math.MaxFloat64, math.Inf(1), math.NaN(),
	math.Float64frombits(0x7FF0000000000001), math.Float64frombits(0xFFF8000000000000), // NaNs with other bits
}

var interestingStrings = []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "a", "a\x00", "a\x00b", "ab", "abc", "b", "\xff", "\xff\x00", "é", "日本", "person/name"}

func randString(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return interestingStrings[r.IntN(len(interestingStrings))]
	}
	const alphabet = "\x00\x01ab\xfe\xff"
	b := make([]byte, r.IntN(6))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func randBigInt(r *rand.Rand) *big.Int {
	switch r.IntN(4) {
	case 0:
		return big.NewInt(interestingLongs[r.IntN(len(interestingLongs))])
	case 1:
		return big.NewInt(int64(r.IntN(21) - 10))
	}
	// Magnitudes of 1 to ~40 bytes, near powers of 256 and of 10.
	var n *big.Int
	if r.IntN(2) == 0 {
		n = new(big.Int).Lsh(big.NewInt(1), uint(r.IntN(320)))
	} else {
		n = pow10(int64(r.IntN(90)))
	}
	n.Add(n, big.NewInt(int64(r.IntN(5)-2)))
	if r.IntN(2) == 0 {
		n.Neg(n)
	}
	return n
}

// randBigDec makes numbers that are often equal with different scales
// (1.1M, 1.10M, 1.100M) and scales that are small enough for big.Rat.
func randBigDec(r *rand.Rand) Value {
	base := []int64{0, 1, 11, 15, 99, 101, -1, -11, -15, 123456789}[r.IntN(10)]
	u := big.NewInt(base)
	if r.IntN(4) == 0 {
		u = randBigInt(r)
	}
	extra := r.IntN(4) // trailing zeros, matched by scale
	u.Mul(u, pow10(int64(extra)))
	scale := int32(r.IntN(9)-4) + int32(extra)
	return BigDec(u, scale)
}

func randUUID(r *rand.Rand) [16]byte {
	var u [16]byte
	for i := range u {
		u[i] = []byte{0, 1, 0x7f, 0xff}[r.IntN(4)]
	}
	return u
}

// randValue makes a valid value of a random type (no tuple when inTuple;
// a tuple's elements may be nil).
func randValue(r *rand.Rand, inTuple bool) Value {
	if inTuple && r.IntN(8) == 0 {
		return Value{}
	}
	t := valueTypes[r.IntN(len(valueTypes))]
	for inTuple && t == TypeTuple {
		t = valueTypes[r.IntN(len(valueTypes))]
	}
	return randValueOf(r, t)
}

func randValueOf(r *rand.Rand, t Type) Value {
	switch t {
	case TypeBoolean:
		return Boolean(r.IntN(2) == 0)
	case TypeLong:
		if r.IntN(2) == 0 {
			return Long(interestingLongs[r.IntN(len(interestingLongs))])
		}
		return Long(int64(r.IntN(7) - 3))
	case TypeInstant:
		return InstantMillis([]int64{-86400000 * 365 * 100, -1, 0, 1, 1700000000000, math.MinInt64, math.MaxInt64}[r.IntN(7)])
	case TypeBigInt:
		return BigInt(randBigInt(r))
	case TypeFloat:
		return Float(float32(interestingDoubles[r.IntN(len(interestingDoubles))]))
	case TypeDouble:
		return Double(interestingDoubles[r.IntN(len(interestingDoubles))])
	case TypeBigDec:
		return randBigDec(r)
	case TypeString:
		return String(randString(r))
	case TypeKeyword:
		return Keyword([]string{"a", "a/b", "a/b\x00", "b", "db/ident", "é/x"}[r.IntN(6)])
	case TypeSymbol:
		return Symbol(randString(r))
	case TypeURI:
		return URI(randString(r))
	case TypeBytes:
		return Bytes([]byte(randString(r)))
	case TypeUUID:
		return UUID(randUUID(r))
	case TypeRef:
		return Ref(randE(r))
	case TypeTuple:
		el := make([]Value, MinTupleLen+r.IntN(MaxTupleLen-MinTupleLen+1))
		// Share a type per position half of the time, as tuple attributes do.
		same := r.IntN(2) == 0
		for i := range el {
			if same {
				el[i] = randValueOf(r, []Type{TypeLong, TypeString, TypeBigDec}[i%3])
			} else {
				el[i] = randValue(r, true)
			}
		}
		return Tuple(el...)
	}
	panic(fmt.Sprintf("randValueOf %v", t))
}

func randE(r *rand.Rand) E {
	switch r.IntN(4) {
	case 0:
		return E(interestingLongs[r.IntN(len(interestingLongs))])
	case 1:
		return MakeE(Part(r.IntN(2)*4), uint64(r.IntN(4)))
	}
	return E(r.IntN(5))
}

func randDatom(r *rand.Rand) Datom {
	return Datom{E: randE(r), A: randE(r), V: randValue(r, false), Tx: randE(r), Added: r.IntN(2) == 0}
}

// refCompareValue is CompareValue written the obvious way, with big.Rat for
// bigdecs (so only for moderate scales).
func refCompareValue(a, b Value) int {
	if a.Type() != b.Type() {
		return cmp.Compare(a.Type(), b.Type())
	}
	switch a.Type() {
	case TypeInvalid:
		return 0
	case TypeBoolean:
		switch {
		case a.Boolean() == b.Boolean():
			return 0
		case a.Boolean():
			return 1
		}
		return -1
	case TypeLong:
		return cmp.Compare(a.Long(), b.Long())
	case TypeInstant:
		return cmp.Compare(a.Millis(), b.Millis())
	case TypeRef:
		return cmp.Compare(a.Ref(), b.Ref())
	case TypeFloat:
		return refCompareFloat(float64(a.Float()), float64(b.Float()))
	case TypeDouble:
		return refCompareFloat(a.Double(), b.Double())
	case TypeString, TypeKeyword, TypeSymbol, TypeURI, TypeBytes, TypeUUID:
		return strings.Compare(a.Str(), b.Str())
	case TypeBigInt:
		return a.BigInt().Cmp(b.BigInt())
	case TypeBigDec:
		if c := decRat(a).Cmp(decRat(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Scale(), b.Scale())
	case TypeTuple:
		return slices.CompareFunc(a.Elems(), b.Elems(), refCompareValue)
	}
	panic("refCompareValue")
}

func decRat(v Value) *big.Rat {
	r := new(big.Rat).SetInt(v.BigInt())
	p := new(big.Rat).SetInt(pow10(int64(max(v.Scale(), -v.Scale()))))
	if v.Scale() >= 0 {
		return r.Quo(r, p)
	}
	return r.Mul(r, p)
}

// refCompareFloat is Java's Double.compare: NaN above everything and equal
// to itself, -0.0 below 0.0.
func refCompareFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	case a == 0 && b == 0 && math.Signbit(a) != math.Signbit(b):
		if math.Signbit(a) {
			return -1
		}
		return 1
	}
	return 0
}

// refCompare is Compare spelled out component by component.
func refCompare(x Index, a, b Datom) int {
	e := func(a, b Datom) int { return cmp.Compare(a.E, b.E) }
	at := func(a, b Datom) int { return cmp.Compare(a.A, b.A) }
	v := func(a, b Datom) int { return refCompareValue(a.V, b.V) }
	order := map[Index][]func(a, b Datom) int{
		EAVT: {e, at, v}, AEVT: {at, e, v}, AVET: {at, v, e}, VAET: {v, at, e},
	}[x]
	order = append(order,
		func(a, b Datom) int { return cmp.Compare(a.Tx, b.Tx) },
		func(a, b Datom) int {
			x, y := 0, 0
			if a.Added {
				x = 1
			}
			if b.Added {
				y = 1
			}
			return x - y
		})
	for _, f := range order {
		if c := f(a, b); c != 0 {
			return c
		}
	}
	return 0
}

func sign(c int) int { return cmp.Compare(c, 0) }

func equalDatom(a, b Datom) bool {
	return a.E == b.E && a.A == b.A && a.Tx == b.Tx && a.Added == b.Added && EqualValue(a.V, b.V)
}

// People is the benchmark workload of DataScript's and Datalevin's "people"
// benchmarks, with a full name and aliases added: per person a first name of
// 8, a last name of 6, their full name, a sex keyword of 2, an age below 100,
// a salary below 100,000 and 1 to 3 aliases (cardinality many), made in
// transactions of 100 people. Entity numbers and t share one counter, as in
// Datomic, so each transaction's people have consecutive ids.
type people struct {
	datoms []Datom
	attrs  struct{ name, lastName, fullName, sex, age, salary, aliases E }
}

func makePeople(n int, seed uint64) *people {
	r := rand.New(rand.NewPCG(seed, seed))
	p := &people{}
	at := &p.attrs
	for i, a := range []*E{&at.name, &at.lastName, &at.fullName, &at.sex, &at.age, &at.salary, &at.aliases} {
		*a = MakeE(PartDB, uint64(72+i))
	}
	firsts := []string{"Ivan", "Petr", "Sergei", "Oleg", "Yuri", "Dmitry", "Fedor", "Denis"}
	lasts := []string{"Ivanov", "Petrov", "Sidorov", "Kovalev", "Kuznetsov", "Voronoi"}
	counter := uint64(1000)
	var tx E
	for i := range n {
		if i%100 == 0 {
			counter++
			tx = TxE(T(counter))
		}
		counter++
		e := MakeE(PartUser, counter)
		first, last := firsts[r.IntN(len(firsts))], lasts[r.IntN(len(lasts))]
		add := func(a E, v Value) { p.datoms = append(p.datoms, Datom{E: e, A: a, V: v, Tx: tx, Added: true}) }
		add(at.name, String(first))
		add(at.lastName, String(last))
		add(at.fullName, String(first+" "+last))
		add(at.sex, Keyword([]string{"male", "female"}[r.IntN(2)]))
		add(at.age, Long(int64(r.IntN(100))))
		add(at.salary, Long(int64(r.IntN(100000))))
		seen := map[string]bool{}
		for range 1 + r.IntN(3) {
			alias := fmt.Sprintf("%s-%d", strings.ToLower(first), r.IntN(1000))
			if !seen[alias] {
				seen[alias] = true
				add(at.aliases, String(alias))
			}
		}
	}
	return p
}

// sorted returns the datoms sorted in index x.
func (p *people) sorted(x Index) []Datom {
	ds := slices.Clone(p.datoms)
	slices.SortFunc(ds, func(a, b Datom) int { return Compare(x, a, b) })
	return ds
}
