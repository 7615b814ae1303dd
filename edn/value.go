package edn

import (
	"encoding/hex"
	"math/big"
	"strconv"
	"strings"
)

// Char is an EDN character, \a or \newline. It is a distinct type so that a
// character is never confused with an integer: Marshal prints a Char as a
// character and an int32 (or rune) as an integer.
type Char rune

// Keyword is an EDN keyword, :name or :namespace/name.
type Keyword struct {
	Namespace string // "" for an unqualified keyword
	Name      string
}

// String returns the keyword as EDN writes it, e.g. ":db/id". It does not
// check that the parts are valid; Marshal does.
func (k Keyword) String() string {
	if k.Namespace == "" {
		return ":" + k.Name
	}
	return ":" + k.Namespace + "/" + k.Name
}

// Symbol is an EDN symbol, name or namespace/name: ?e, _, ..., $,
// clojure.core/+ and / itself.
type Symbol struct {
	Namespace string // "" for an unqualified symbol
	Name      string
}

// String returns the symbol as EDN writes it, e.g. "clojure.core/+".
func (s Symbol) String() string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

// List is an EDN list, (a b c).
type List []any

// Vector is an EDN vector, [a b c].
type Vector []any

// Set is an EDN set, #{a b c}, in the order its elements were read. Parse
// rejects a set with two Equal elements; Marshal rejects one too.
type Set []any

// Contains reports whether s has an element Equal to v. It is linear in
// len(s).
func (s Set) Contains(v any) bool {
	for _, e := range s {
		if Equal(e, v) {
			return true
		}
	}
	return false
}

// Entry is one key/value pair of a Map.
type Entry struct {
	Key, Value any
}

// Map is an EDN map, {k v ...}, as its entries in the order they were read.
// Parse rejects a map with two Equal keys; Marshal rejects one too.
//
// A slice rather than a Go map keeps the order of the input (a transaction
// map reads the way the user wrote it) and allows any EDN value as a key,
// vectors and maps included. The maps of transaction data and queries have a
// handful of keys, where a scan beats hashing.
type Map []Entry

// Get returns the value for the key Equal to key. It is linear in len(m);
// build an index of your own for many lookups in a large map.
func (m Map) Get(key any) (any, bool) {
	if k, ok := key.(Keyword); ok { // the common case: no type switch per entry
		for i := range m {
			if mk, ok := m[i].Key.(Keyword); ok && mk == k {
				return m[i].Value, true
			}
		}
		return nil, false
	}
	for i := range m {
		if Equal(m[i].Key, key) {
			return m[i].Value, true
		}
	}
	return nil, false
}

// Tagged is a tagged literal whose tag has no handler: #db/id [:db.part/user -1]
// reads as Tagged{Tag: Symbol{"db", "id"}, Value: Vector{...}}.
type Tagged struct {
	Tag   Symbol
	Value any
}

// UUID is the value of #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6".
type UUID [16]byte

// String returns the canonical form, lower-case 8-4-4-4-12 hex digits.
func (u UUID) String() string {
	return string(u.appendTo(make([]byte, 0, 36)))
}

func (u UUID) appendTo(dst []byte) []byte {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return append(dst, b[:]...)
}

// parseUUID accepts exactly the 36-character 8-4-4-4-12 form, hex digits in
// either case.
func parseUUID(s string) (UUID, bool) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// BigDec is an exact decimal, the value of a literal with the M suffix:
// Unscaled × 10^-Scale, as java.math.BigDecimal keeps it. 1.10M is
// {Unscaled: 110, Scale: 2} and prints back as 1.10M; 1E+3M is
// {Unscaled: 1, Scale: -3}. A nil Unscaled means zero.
//
// Two BigDecs are Equal only with the same Unscaled and Scale: the EDN spec
// makes numbers equal only at the same precision, so 1.0M and 1.00M differ.
type BigDec struct {
	Unscaled *big.Int
	Scale    int32
}

// String returns the decimal without the M suffix, e.g. "1.10", "-0.005" or
// "1E+3"; plain notation unless that needs more than six leading zeros after
// the point or a negative scale, as java.math.BigDecimal.toString does.
func (d BigDec) String() string {
	return string(d.appendTo(nil))
}

func (d BigDec) appendTo(dst []byte) []byte {
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	digits := u.Append(nil, 10)
	if digits[0] == '-' {
		dst = append(dst, '-')
		digits = digits[1:]
	}
	scale := int(d.Scale)
	adjusted := len(digits) - 1 - scale
	switch {
	case scale == 0:
		dst = append(dst, digits...)
	case scale > 0 && adjusted >= -6:
		if len(digits) > scale {
			dst = append(dst, digits[:len(digits)-scale]...)
			dst = append(dst, '.')
			dst = append(dst, digits[len(digits)-scale:]...)
		} else {
			dst = append(dst, "0."...)
			dst = append(dst, strings.Repeat("0", scale-len(digits))...)
			dst = append(dst, digits...)
		}
	default:
		// Unscaled digits and an exponent: exact, and short for any scale.
		dst = append(dst, digits...)
		dst = append(dst, 'E')
		if scale < 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(-scale), 10)
	}
	return dst
}
