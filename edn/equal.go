package edn

import (
	"hash/maphash"
	"math"
	"math/big"
	"time"
)

// Equal reports whether a and b are the same EDN value, by the EDN spec's
// rules of equality:
//
//   - lists and vectors are equal when their elements are, in order
//     (List{1} equals Vector{1}, as in Clojure); []any is a vector;
//   - sets and maps are equal whatever the order of their elements or
//     entries;
//   - numbers are equal only of the same kind and precision: int64(1) is not
//     *big.Int 1 (1N) nor 1.0; BigDecs are equal with the same Unscaled and
//     Scale (1.0M is not 1.00M); Go integer types compare as int64, float32
//     as float64; floats by ==, except that NaN equals NaN, so that Equal
//     is an equivalence and a value read back equals the one printed;
//   - time.Time values are equal at the same instant, whatever the location;
//   - Tagged values are equal with the same tag and equal values.
//
// Values of other types are never equal. Sets or maps holding duplicates
// (which Parse never returns) compare in an unspecified way.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case Keyword:
		y, ok := b.(Keyword)
		return ok && x == y
	case Symbol:
		y, ok := b.(Symbol)
		return ok && x == y
	case Char:
		y, ok := b.(Char)
		return ok && x == y
	case int64, int, int32, int16, int8, uint, uint8, uint16, uint32, uint64, uintptr:
		xi, xok := asInt64(a)
		yi, yok := asInt64(b)
		if xok && yok {
			return xi == yi
		}
		xu, xok := asUint64(a) // both above MaxInt64
		yu, yok := asUint64(b)
		return xok && yok && xu == yu
	case float64, float32:
		xf, _ := asFloat64(a)
		yf, ok := asFloat64(b)
		return ok && (xf == yf || xf != xf && yf != yf)
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && bigIntOrZero(x).Cmp(bigIntOrZero(y)) == 0
	case BigDec:
		y, ok := b.(BigDec)
		return ok && x.Scale == y.Scale && bigIntOrZero(x.Unscaled).Cmp(bigIntOrZero(y.Unscaled)) == 0
	case *big.Rat:
		y, ok := b.(*big.Rat)
		if !ok || (x == nil) != (y == nil) {
			return false
		}
		return x == nil || x.Cmp(y) == 0
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case UUID:
		y, ok := b.(UUID)
		return ok && x == y
	case Tagged:
		y, ok := b.(Tagged)
		return ok && x.Tag == y.Tag && Equal(x.Value, y.Value)
	case List:
		return seqEqual(x, b)
	case Vector:
		return seqEqual(x, b)
	case []any:
		return seqEqual(x, b)
	case Set:
		y, ok := b.(Set)
		return ok && setEqual(x, y)
	case Map:
		y, ok := b.(Map)
		return ok && mapEqual(x, y)
	}
	return false
}

var zeroInt = new(big.Int)

func bigIntOrZero(b *big.Int) *big.Int {
	if b == nil {
		return zeroInt
	}
	return b
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	}
	if u, ok := asUint64(v); ok && u <= math.MaxInt64 {
		return int64(u), true
	}
	return 0, false
}

func asFloat64(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

func asSeq(v any) ([]any, bool) {
	switch x := v.(type) {
	case List:
		return x, true
	case Vector:
		return x, true
	case []any:
		return x, true
	}
	return nil, false
}

func seqEqual(x []any, b any) bool {
	y, ok := asSeq(b)
	if !ok || len(x) != len(y) {
		return false
	}
	for i := range x {
		if !Equal(x[i], y[i]) {
			return false
		}
	}
	return true
}

// smallCollection is the size up to which comparing every pair is cheaper
// than hashing.
const smallCollection = 8

func setEqual(x, y Set) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) <= smallCollection {
		for _, e := range x {
			if !y.Contains(e) {
				return false
			}
		}
		return true
	}
	index := hashIndex(len(y), func(i int) any { return y[i] })
	for _, e := range x {
		if _, ok := index.find(e, func(i int) any { return y[i] }); !ok {
			return false
		}
	}
	return true
}

func mapEqual(x, y Map) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) <= smallCollection {
		for i := range x {
			v, ok := y.Get(x[i].Key)
			if !ok || !Equal(x[i].Value, v) {
				return false
			}
		}
		return true
	}
	key := func(i int) any { return y[i].Key }
	index := hashIndex(len(y), key)
	for i := range x {
		j, ok := index.find(x[i].Key, key)
		if !ok || !Equal(x[i].Value, y[j].Value) {
			return false
		}
	}
	return true
}

// hashes maps the hash of a value to the indexes of the values with it.
type hashes map[uint64][]int

func hashIndex(n int, at func(int) any) hashes {
	h := make(hashes, n)
	for i := range n {
		k := hash(at(i))
		h[k] = append(h[k], i)
	}
	return h
}

func (h hashes) find(v any, at func(int) any) (int, bool) {
	for _, i := range h[hash(v)] {
		if Equal(v, at(i)) {
			return i, true
		}
	}
	return 0, false
}

var seed = maphash.MakeSeed()

// Distinct starting points per kind, so that "a", :a and the symbol a differ.
const (
	hNil uint64 = iota + 0x51ed270b27c9f3a1
	hTrue
	hFalse
	hString
	hKeyword
	hSymbol
	hChar
	hInt
	hUint
	hFloat
	hBigInt
	hBigDec
	hRat
	hInst
	hUUID
	hTagged
	hSeq
	hSet
	hMap
	hOther
)

// mix combines h with x; fmix64 from MurmurHash3 spreads the bits.
func mix(h, x uint64) uint64 {
	h ^= x + 0x9e3779b97f4a7c15 + h<<6 + h>>2
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hash returns a hash of v consistent with Equal: Equal values hash alike.
func hash(v any) uint64 {
	switch x := v.(type) {
	case nil:
		return hNil
	case bool:
		if x {
			return hTrue
		}
		return hFalse
	case string:
		return mix(hString, maphash.String(seed, x))
	case Keyword:
		return mix(mix(hKeyword, maphash.String(seed, x.Namespace)), maphash.String(seed, x.Name))
	case Symbol:
		return mix(mix(hSymbol, maphash.String(seed, x.Namespace)), maphash.String(seed, x.Name))
	case Char:
		return mix(hChar, uint64(x))
	case int64, int, int32, int16, int8, uint, uint8, uint16, uint32, uint64, uintptr:
		if i, ok := asInt64(v); ok {
			return mix(hInt, uint64(i))
		}
		u, _ := asUint64(v)
		return mix(hUint, u)
	case float64, float32:
		f, _ := asFloat64(v)
		switch {
		case f == 0:
			f = 0 // -0 == 0
		case f != f:
			return hFloat
		}
		return mix(hFloat, math.Float64bits(f))
	case *big.Int:
		return hashBig(hBigInt, bigIntOrZero(x))
	case BigDec:
		return mix(hashBig(hBigDec, bigIntOrZero(x.Unscaled)), uint64(x.Scale))
	case *big.Rat:
		if x == nil {
			return hRat
		}
		return hashBig(hashBig(hRat, x.Num()), x.Denom())
	case time.Time:
		return mix(mix(hInst, uint64(x.Unix())), uint64(x.Nanosecond()))
	case UUID:
		return mix(hUUID, maphash.Bytes(seed, x[:]))
	case Tagged:
		return mix(mix(hash(x.Tag), hTagged), hash(x.Value))
	case List:
		return hashSeq(x)
	case Vector:
		return hashSeq(x)
	case []any:
		return hashSeq(x)
	case Set:
		var sum uint64 // order-insensitive
		for _, e := range x {
			sum += hash(e)
		}
		return mix(hSet, sum)
	case Map:
		var sum uint64
		for i := range x {
			sum += mix(hash(x[i].Key), hash(x[i].Value))
		}
		return mix(hMap, sum)
	}
	return hOther
}

func hashSeq(s []any) uint64 {
	h := hSeq
	for _, e := range s {
		h = mix(h, hash(e))
	}
	return h
}

func hashBig(h uint64, b *big.Int) uint64 {
	h = mix(h, uint64(b.Sign()+1))
	for _, w := range b.Bits() {
		h = mix(h, uint64(w))
	}
	return h
}
