package edn

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

func TestMarshal(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{nil, "nil"},
		{true, "true"},
		{false, "false"},
		{"", `""`},
		{"a\"b\\c\nd\te\rf\bg\fh\x00i\x1fj\x7fk", `"a\"b\\c\nd\te\rf\bg\fh\u0000i\u001fj\u007fk"`},
		{"é中😀\u2028", `"é中😀` + "\u2028" + `"`},
		{Char('a'), `\a`},
		{Char('\n'), `\newline`},
		{Char(' '), `\space`},
		{Char('\t'), `\tab`},
		{Char('\r'), `\return`},
		{Char('\f'), `\formfeed`},
		{Char('\b'), `\backspace`},
		{Char(0), `\u0000`},
		{Char('\\'), `\\`},
		{Char('('), `\(`},
		{Char(','), `\,`},
		{Char('é'), `\é`},
		{Char('\u00a0'), `\u00a0`},
		{Char('😀'), `\😀`},
		{Char(0xE0001), "\\\U000E0001"},
		{int64(-42), "-42"},
		{42, "42"},
		{int8(-8), "-8"},
		{int16(16), "16"},
		{int32(32), "32"},
		{uint(7), "7"},
		{uint8(8), "8"},
		{uint64(math.MaxInt64), "9223372036854775807"},
		{1.0, "1.0"},
		{-0.0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1.5, "1.5"},
		{0.1, "0.1"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e16"},
		{1.5e300, "1.5e300"},
		{1e-4, "0.0001"},
		{1.5e-7, "1.5e-7"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e308"},
		{float32(0.5), "0.5"},
		{math.NaN(), "##NaN"},
		{math.Inf(1), "##Inf"},
		{math.Inf(-1), "##-Inf"},
		{bigInt("1"), "1N"},
		{bigInt("-123456789012345678901234567890"), "-123456789012345678901234567890N"},
		{dec("110", 2), "1.10M"},
		{dec("-5", 3), "-0.005M"},
		{dec("1", 0), "1M"},
		{dec("1", -3), "1E+3M"},
		{dec("1", 6), "0.000001M"},
		{dec("1", 7), "1E-7M"},
		{dec("0", 2), "0.00M"},
		{BigDec{}, "0M"},
		{big.NewRat(-1, 3), "-1/3"},
		{big.NewRat(4, 2), "2/1"},
		{kw("a"), ":a"},
		{kw("db/id"), ":db/id"},
		{kw("1"), ":1"},
		{sym("?e"), "?e"},
		{sym("/"), "/"},
		{Symbol{Namespace: "clojure.core", Name: "/"}, "clojure.core//"},
		{Symbol{Namespace: "a", Name: "nil"}, "a/nil"},
		{List{}, "()"},
		{List(nil), "()"},
		{Vector{int64(1), "a", kw("b")}, `[1 "a" :b]`},
		{[]any{1, 2}, "[1 2]"},
		{Set{int64(1), int64(2)}, "#{1 2}"},
		{Map{{kw("a"), int64(1)}, {"b", Vector{}}}, `{:a 1 "b" []}`},
		{map[string]any{"b": 2, "a": 1}, `{"a" 1 "b" 2}`},
		{map[Keyword]any{kw("x/b"): 2, kw("a"): 1, kw("x/a"): 3}, `{:a 1 :x/a 3 :x/b 2}`},
		{map[any]any{kw("a"): 1, int64(2): "two"}, `{2 "two" :a 1}`},
		{time.Date(1985, 4, 12, 23, 20, 50, 520_000_000, time.UTC), `#inst "1985-04-12T23:20:50.520Z"`},
		{time.Date(1985, 4, 12, 19, 20, 50, 0, time.FixedZone("EDT", -4*3600)), `#inst "1985-04-12T23:20:50.000Z"`},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), `#inst "2024-01-02T03:04:05.123456Z"`},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC), `#inst "2024-01-02T03:04:05.123456789Z"`},
		{UUID{0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6}, `#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"`},
		{Tagged{Tag: sym("db/id"), Value: Vector{kw("db.part/user"), int64(-1)}}, "#db/id [:db.part/user -1]"},
	}
	for _, c := range cases {
		got, err := Marshal(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%#v) = %s, %v; want %s", c.v, got, err, c.want)
			continue
		}
		// Everything printed reads back Equal (Go types normalized).
		back, err := Parse(got)
		if err != nil {
			t.Errorf("Parse(Marshal(%#v) = %s): %v", c.v, got, err)
			continue
		}
		if _, isGoMap := c.v.(map[string]any); !isGoMap && !isGoMapAny(c.v) && !Equal(back, c.v) {
			t.Errorf("Parse(%s) = %#v, not Equal to %#v", got, back, c.v)
		}
	}
}

func isGoMapAny(v any) bool {
	switch v.(type) {
	case map[Keyword]any, map[any]any:
		return true
	}
	return false
}

func TestMarshalErrors(t *testing.T) {
	type point struct{ X int }
	cases := []struct {
		v    any
		want string // a part of the message
	}{
		{point{1}, "unsupported type edn.point"},
		{&point{}, "unsupported type *edn.point"},
		{[]int{1}, "unsupported type []int"},
		{map[int]any{}, "unsupported type map[int]interface {}"},
		{uint64(math.MaxUint64), "unsigned integer 18446744073709551615 does not fit an int64"},
		{(*big.Int)(nil), "nil *big.Int"},
		{(*big.Rat)(nil), "nil *big.Rat"},
		{"a\xffb", `string "a\xffb" is not valid UTF-8 (byte 1)`},
		{Char(0xD800), "character 0xd800 is not a valid Unicode code point"},
		{Char(-1), "is not a valid Unicode code point"},
		{Keyword{}, `keyword ":": empty name`},
		{Keyword{Name: "a b"}, `keyword ":a b": invalid character ' '`},
		{Keyword{Name: "a/b"}, "a name without a namespace cannot contain /"},
		{Keyword{Namespace: "a/b", Name: "c"}, "more than one /"},
		{Keyword{Name: ":a"}, "a name cannot start with ':'"},
		{Keyword{Name: "/"}, "a name without a namespace cannot contain /"},
		{Symbol{}, "empty name"},
		{Symbol{Name: "nil"}, "symbol nil cannot be printed: it reads as the literal nil"},
		{Symbol{Name: "true"}, "reads as the literal true"},
		{Symbol{Name: "1a"}, "a symbol cannot start with a digit"},
		{Symbol{Name: "-1"}, "a symbol cannot start with - followed by a digit"},
		{Symbol{Name: "a/b"}, "a name without a namespace cannot contain /"},
		{Symbol{Name: "a(b"}, "invalid character '('"},
		{Tagged{Tag: sym("1a"), Value: 1}, "a tag must start with a letter"},
		{Tagged{Tag: sym("inst"), Value: "1985"}, "use time.Time or edn.UUID"},
		{Tagged{Tag: sym("a"), Value: point{}}, "unsupported type edn.point"},
		{Set{int64(1), int64(1)}, "set has a duplicate element 1 (elements 0 and 1)"},
		{Set{Vector{int64(1)}, List{int64(1)}}, "set has a duplicate element (1) (elements 0 and 1)"},
		{Map{{kw("a"), 1}, {kw("a"), 2}}, "map has a duplicate key :a (entries 0 and 1)"},
		{map[any]any{1: "a", int64(1): "b"}, "map has two keys that print as 1"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "year 10000 is outside the four digits #inst allows"},
		{Vector{int64(1), func() {}}, "unsupported type func()"},
	}
	for _, c := range cases {
		dst := []byte("prefix")
		out, err := AppendEDN(dst, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AppendEDN(%#v) = %s, %v; want an error containing %q", c.v, out, err, c.want)
			continue
		}
		if !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("AppendEDN(%#v) error %v is not anomaly.Incorrect", c.v, err)
		}
		if string(out) != "prefix" {
			t.Errorf("AppendEDN(%#v) left %q in dst", c.v, out)
		}
	}
}

func TestMarshalTooDeep(t *testing.T) {
	if testing.Short() {
		t.Skip("recurses 100,000 deep in Marshal and Equal: seconds of stack growth")
	}
	var v any = Vector{}
	for range MaxDepthLimit + 1 {
		v = Vector{v}
	}
	if _, err := Marshal(v); err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Fatalf("Marshal of a too deep value: %v", err)
	}
	cyc := []any{nil}
	cyc[0] = cyc
	if _, err := Marshal(cyc); err == nil {
		t.Fatal("Marshal of a cycle succeeded")
	}
}

func TestAppendEDNAppends(t *testing.T) {
	out, err := AppendEDN([]byte("x = "), Vector{kw("a"), 1.0})
	if err != nil || string(out) != "x = [:a 1.0]" {
		t.Fatalf("AppendEDN = %q, %v", out, err)
	}
}

func TestEqual(t *testing.T) {
	eq := [][2]any{
		{nil, nil},
		{int64(1), 1},
		{int32(1), uint8(1)},
		{uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{1.0, float32(1)},
		{0.0, math.Copysign(0, -1)},
		{math.NaN(), math.NaN()},
		{List{int64(1)}, Vector{int64(1)}},
		{[]any{int64(1)}, List{1}},
		{Set{int64(1), int64(2)}, Set{int64(2), int64(1)}},
		{Map{{kw("a"), 1}, {kw("b"), 2}}, Map{{kw("b"), 2}, {kw("a"), 1}}},
		{time.Date(2000, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600)), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{bigInt("5"), bigInt("5")},
		{dec("10", 1), dec("10", 1)},
		{BigDec{}, dec("0", 0)},
		{big.NewRat(1, 2), big.NewRat(2, 4)},
		{Tagged{sym("a"), Vector{}}, Tagged{sym("a"), List{}}},
		{UUID{1}, UUID{1}},
	}
	ne := [][2]any{
		{nil, false},
		{int64(1), bigInt("1")},
		{int64(1), 1.0},
		{int64(1), Char(1)},
		{"a", kw("a")},
		{"a", sym("a")},
		{kw("a"), sym("a")},
		{dec("10", 1), dec("100", 2)},
		{big.NewRat(1, 2), 0.5},
		{Set{int64(1)}, Vector{int64(1)}},
		{Map{}, Set{}},
		{Vector{int64(1)}, Vector{int64(1), int64(2)}},
		{Map{{kw("a"), 1}}, Map{{kw("a"), 2}}},
		{Tagged{sym("a"), 1}, Tagged{sym("b"), 1}},
		{uint64(math.MaxUint64), int64(-1)},
		{struct{}{}, struct{}{}},
	}
	for _, c := range eq {
		if !Equal(c[0], c[1]) || !Equal(c[1], c[0]) {
			t.Errorf("Equal(%#v, %#v) = false", c[0], c[1])
		}
		if hash(c[0]) != hash(c[1]) {
			t.Errorf("hash(%#v) != hash(%#v)", c[0], c[1])
		}
	}
	for _, c := range ne {
		if Equal(c[0], c[1]) || Equal(c[1], c[0]) {
			t.Errorf("Equal(%#v, %#v) = true", c[0], c[1])
		}
	}
	// Large sets and maps take the hashed path.
	var s1, s2 Set
	var m1, m2 Map
	for i := range 100 {
		s1 = append(s1, int64(i))
		s2 = append(s2, int64(99-i))
		m1 = append(m1, Entry{Vector{int64(i)}, i})
		m2 = append(m2, Entry{List{int64(99 - i)}, 99 - i})
	}
	if !Equal(s1, s2) || !Equal(m1, m2) {
		t.Error("large collections in different orders are not Equal")
	}
	s2[0] = int64(100)
	m2[0].Value = -1
	if Equal(s1, s2) || Equal(m1, m2) {
		t.Error("different large collections are Equal")
	}
}
