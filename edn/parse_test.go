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

func kw(s string) Keyword {
	if i := strings.IndexByte(s, '/'); i > 0 {
		return Keyword{Namespace: s[:i], Name: s[i+1:]}
	}
	return Keyword{Name: s}
}

func sym(s string) Symbol {
	if i := strings.IndexByte(s, '/'); i > 0 && s != "/" {
		return Symbol{Namespace: s[:i], Name: s[i+1:]}
	}
	return Symbol{Name: s}
}

func bigInt(s string) *big.Int {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return b
}

func dec(unscaled string, scale int32) BigDec {
	return BigDec{Unscaled: bigInt(unscaled), Scale: scale}
}

// same is stricter than Equal: the printed texts must match too, which tells
// a list from a vector and 1 from 1N.
func same(t *testing.T, got, want any) bool {
	t.Helper()
	if !Equal(got, want) {
		return false
	}
	g, err1 := Marshal(got)
	w, err2 := Marshal(want)
	return err1 == nil && err2 == nil && string(g) == string(w)
}

func TestParseLiterals(t *testing.T) {
	nan := math.NaN()
	inst := time.Date(1985, 4, 12, 23, 20, 50, 520_000_000, time.UTC)
	cases := []struct {
		in   string
		want any
	}{
		// nil, booleans
		{"nil", nil},
		{"true", true},
		{"false", false},
		{" \t\n\r\f\v, nil ,, ", nil},
		// strings
		{`""`, ""},
		{`"hello"`, "hello"},
		{`"a\tb\nc\rd\be\ff\"g\\h"`, "a\tb\nc\rd\be\ff\"g\\h"},
		{`"\u00e9\u4E2D"`, "é中"},
		{`"\uD83D\uDE00"`, "😀"},
		{`"\0\101\377"`, "\x00Aÿ"},
		{"\"multi\nline\"", "multi\nline"},
		{`"héllo 中文 😀"`, "héllo 中文 😀"},
		{`"; not a comment"`, "; not a comment"},
		// characters
		{`\a`, Char('a')},
		{`\Z`, Char('Z')},
		{`\newline`, Char('\n')},
		{`\space`, Char(' ')},
		{`\tab`, Char('\t')},
		{`\return`, Char('\r')},
		{`\formfeed`, Char('\f')},
		{`\backspace`, Char('\b')},
		{`\u00e9`, Char('é')},
		{`\u0041`, Char('A')},
		{`\o101`, Char('A')},
		{`\o7`, Char(7)},
		{`\u`, Char('u')},
		{`\o`, Char('o')},
		{`\é`, Char('é')},
		{`\(`, Char('(')},
		{`\\`, Char('\\')},
		{`\"`, Char('"')},
		{`\,`, Char(',')},
		{`[\a\b]`, Vector{Char('a'), Char('b')}},
		{`(\a)`, List{Char('a')}},
		// integers
		{"0", int64(0)},
		{"-0", int64(0)},
		{"+0", int64(0)},
		{"42", int64(42)},
		{"+1", int64(1)},
		{"-7", int64(-7)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"9223372036854775808", bigInt("9223372036854775808")},
		{"-9223372036854775809", bigInt("-9223372036854775809")},
		{"123456789012345678901234567890", bigInt("123456789012345678901234567890")},
		{"1N", bigInt("1")},
		{"-0N", bigInt("0")},
		{"+12N", bigInt("12")},
		// floats
		{"1.5", 1.5},
		{"-1.5", -1.5},
		{"1.", 1.0},
		{"0.0", 0.0},
		{"-0.0", math.Copysign(0, -1)},
		{"1e10", 1e10},
		{"1E10", 1e10},
		{"1e+10", 1e10},
		{"1.5e-3", 1.5e-3},
		{"1e400", math.Inf(1)},
		{"1e-400", 0.0},
		{"##Inf", math.Inf(1)},
		{"##-Inf", math.Inf(-1)},
		{"##NaN", nan},
		{"0.1", 0.1},
		{"17976931348623157e292", math.MaxFloat64},
		// big decimals
		{"1M", dec("1", 0)},
		{"1.10M", dec("110", 2)},
		{"-0.005M", dec("-5", 3)},
		{"1e3M", dec("1", -3)},
		{"1.5E-10M", dec("15", 11)},
		{"0.00M", dec("0", 2)},
		{"+3.14M", dec("314", 2)},
		// ratios
		{"1/2", big.NewRat(1, 2)},
		{"-2/4", big.NewRat(-1, 2)},
		{"4/2", big.NewRat(2, 1)},
		// keywords
		{":a", kw("a")},
		{":db/id", kw("db/id")},
		{":db.part/user", kw("db.part/user")},
		{":person/_friends", kw("person/_friends")},
		{":a.b.c/d-e?!*", kw("a.b.c/d-e?!*")},
		{":1", kw("1")},
		{":a:b#c", kw("a:b#c")},
		{":é/ü", kw("é/ü")},
		// symbols
		{"a", sym("a")},
		{"foo.bar/baz", sym("foo.bar/baz")},
		{"/", sym("/")},
		{"clojure.core//", Symbol{Namespace: "clojure.core", Name: "/"}},
		{"?e", sym("?e")},
		{"_", sym("_")},
		{"...", sym("...")},
		{"$", sym("$")},
		{"$db", sym("$db")},
		{"-", sym("-")},
		{"+", sym("+")},
		{"-a", sym("-a")},
		{"+.5", sym("+.5")},
		{"-.5", sym("-.5")},
		{"<=", sym("<=")},
		{"a#", sym("a#")},
		{"nil?", sym("nil?")},
		{"truex", sym("truex")},
		{"ns/nil", Symbol{Namespace: "ns", Name: "nil"}},
		{"λ", sym("λ")},
		// collections
		{"()", List{}},
		{"[]", Vector{}},
		{"{}", Map{}},
		{"#{}", Set{}},
		{"(1 2 3)", List{int64(1), int64(2), int64(3)}},
		{"[1,2,3]", Vector{int64(1), int64(2), int64(3)}},
		{"{:a 1, :b 2}", Map{{kw("a"), int64(1)}, {kw("b"), int64(2)}}},
		{`{[1 2] "v" {:k 1} #{} "s" nil}`, Map{{Vector{int64(1), int64(2)}, "v"}, {Map{{kw("k"), int64(1)}}, Set{}}, {"s", nil}}},
		{"#{1 [1] (2) \"1\" :1}", Set{int64(1), Vector{int64(1)}, List{int64(2)}, "1", kw("1")}},
		{"[[[[]]]]", Vector{Vector{Vector{Vector{}}}}},
		{"{nil nil}", Map{{nil, nil}}},
		// namespaced maps
		{"#:ns{:a 1 :_/b 2 :x/c 3 d 4 \"e\" 5}", Map{{kw("ns/a"), int64(1)}, {kw("b"), int64(2)}, {kw("x/c"), int64(3)}, {sym("ns/d"), int64(4)}, {"e", int64(5)}}},
		{"#:person{:name \"A\"}", Map{{kw("person/name"), "A"}}},
		{"#:a.b {:c 1}", Map{{kw("a.b/c"), int64(1)}}},
		// tagged literals
		{`#inst "1985-04-12T23:20:50.52Z"`, inst},
		{`#inst "1985-04-12T19:20:50.52-04:00"`, inst},
		{`#inst "1985-04-13T01:20:50.520+02:00"`, inst},
		{`#inst "1985-04-12T23:20:50.520000000001Z"`, inst},
		{`#inst "1985"`, time.Date(1985, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`#inst "1985-04"`, time.Date(1985, 4, 1, 0, 0, 0, 0, time.UTC)},
		{`#inst "1985-04-12"`, time.Date(1985, 4, 12, 0, 0, 0, 0, time.UTC)},
		{`#inst "1985-04-12T23:20"`, time.Date(1985, 4, 12, 23, 20, 0, 0, time.UTC)},
		{`#inst "2000-02-29T00:00:00Z"`, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{`#inst "1985-04-12T23:20:50.123456789Z"`, time.Date(1985, 4, 12, 23, 20, 50, 123456789, time.UTC)},
		{`#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"`, UUID{0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6}},
		{`#uuid "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"`, UUID{0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6}},
		{"#db/id[:db.part/user -1]", Tagged{Tag: sym("db/id"), Value: Vector{kw("db.part/user"), int64(-1)}}},
		{"#db/id [:db.part/user]", Tagged{Tag: sym("db/id"), Value: Vector{kw("db.part/user")}}},
		{"#myapp/Person {:first \"Fred\"}", Tagged{Tag: sym("myapp/Person"), Value: Map{{kw("first"), "Fred"}}}},
		{"#a #b 1", Tagged{Tag: sym("a"), Value: Tagged{Tag: sym("b"), Value: int64(1)}}},
		{"#a\n;c\n1", Tagged{Tag: sym("a"), Value: int64(1)}},
		// discard and comments
		{"#_ 1 2", int64(2)},
		{"#_#_ 1 2 3", int64(3)},
		{"[1 #_ 2 3]", Vector{int64(1), int64(3)}},
		{"[1 #_[2 [3]] 4]", Vector{int64(1), int64(4)}},
		{"[#_ #unknown/tag x]", Vector{}},
		{"#_ #inst \"bad\" 1", int64(1)},
		{"{:a #_ :b 1}", Map{{kw("a"), int64(1)}}},
		{"1 #_ 2", int64(1)},
		{"; comment\n 1 ; another", int64(1)},
		{"[1 ; two\n 3]", Vector{int64(1), int64(3)}},
		{"#{1 #_ 1}", Set{int64(1)}},
		// Datomic-style input
		{`[:db/add "tempid" :a/b 1]`, Vector{kw("db/add"), "tempid", kw("a/b"), int64(1)}},
		{`{:find [?e] :where [[?e :a ?v]]}`, Map{{kw("find"), Vector{sym("?e")}}, {kw("where"), Vector{Vector{sym("?e"), kw("a"), sym("?v")}}}}},
		{`[:find ?e . :in $ [?x ...] :where [$ ?e :db/ident _]]`, Vector{kw("find"), sym("?e"), sym("."), kw("in"), sym("$"), Vector{sym("?x"), sym("...")}, kw("where"), Vector{sym("$"), sym("?e"), kw("db/ident"), sym("_")}}},
		{`{:db/id #db/id[:db.part/user -1] :person/_friends 17592186045418}`, Map{{kw("db/id"), Tagged{Tag: sym("db/id"), Value: Vector{kw("db.part/user"), int64(-1)}}}, {kw("person/_friends"), int64(17592186045418)}}},
	}
	for _, c := range cases {
		got, err := Parse([]byte(c.in))
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !same(t, got, c.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestParseNegativeZero(t *testing.T) {
	v, err := Parse([]byte("-0.0"))
	if err != nil || !math.Signbit(v.(float64)) {
		t.Fatalf("Parse(-0.0) = %v, %v: sign lost", v, err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in        string
		line, col int
		msg       string // the whole message after "edn: line L, column C: "
	}{
		{"", 1, 1, "expected a value, got end of input"},
		{"  ; only a comment", 1, 19, "expected a value, got end of input"},
		{"1 2", 1, 3, `unexpected "2" after the value: expected end of input (Parse reads one value; use ParseAll or a Decoder for more)`},
		{"1 )", 1, 3, `unexpected ')' after the value: expected end of input (Parse reads one value; use ParseAll or a Decoder for more)`},
		// strings
		{"[1\n  2\n  \"abc", 3, 7, `unterminated string starting at line 3, column 3: expected '"'`},
		{`"ab\`, 1, 5, `unterminated string starting at line 1, column 1: expected '"'`},
		{`"\x"`, 1, 2, `unsupported escape "\\x" in string: expected \t \n \r \b \f \" \\ \uXXXX or octal \NNN`},
		{`"\u12"`, 1, 2, `invalid \u escape "\\u12\"" in string: expected four hex digits`},
		{`"\u12`, 1, 6, `unterminated string starting at line 1, column 1: expected '"'`},
		{`"\uD800"`, 1, 2, `invalid \u escape "\\uD800" in string: a lone UTF-16 surrogate`},
		{`"\400"`, 1, 2, `octal escape "\\400" in string is above \377`},
		{"\"a\xffb\"", 1, 3, "invalid UTF-8 byte 0xff"},
		// characters
		{`\`, 1, 1, `expected a character after \, got end of input`},
		{`\ `, 1, 1, `expected a character after \, got whitespace (write \space, \tab or \newline)`},
		{`\abc`, 1, 1, `unsupported character "\\abc": expected one character, \newline, \space, \tab, \return, \formfeed, \backspace, \uXXXX or \oNNN`},
		{`\uD800`, 1, 1, `invalid character "\\uD800": a UTF-16 surrogate`},
		{`\u12G4`, 1, 1, `invalid character "\\u12G4": expected \u and four hex digits`},
		{`\o400`, 1, 1, `invalid character "\\o400": octal value above \o377`},
		{`\o8`, 1, 1, `invalid character "\\o8": expected \o and one to three octal digits`},
		// numbers
		{"01", 1, 1, `invalid number "01": leading zeros are not allowed`},
		{"-007.5", 1, 1, `invalid number "-007.5": leading zeros are not allowed`},
		{"1a", 1, 1, `invalid number "1a"`},
		{"1.2.3", 1, 1, `invalid number "1.2.3"`},
		{"1e", 1, 1, `invalid number "1e": expected digits in the exponent`},
		{"1e+", 1, 1, `invalid number "1e+": expected digits in the exponent`},
		{"1NM", 1, 1, `invalid number "1NM"`},
		{"0x10", 1, 1, `invalid number "0x10"`},
		{"1/0", 1, 1, `invalid ratio "1/0": the denominator is zero`},
		{"1/", 1, 1, `invalid number "1/"`},
		{"1/2/3", 1, 1, `invalid number "1/2/3"`},
		{"1/-2", 1, 1, `invalid number "1/-2"`},
		{"1/02", 1, 1, `invalid ratio "1/02": leading zeros are not allowed`},
		{"1e9999999999M", 1, 1, `invalid number "1e9999999999M": the exponent is out of range`},
		{"1.5N", 1, 1, `invalid number "1.5N"`},
		{"[1 .5]", 1, 4, `invalid symbol ".5": a symbol cannot start with . followed by a digit`},
		// symbols and keywords
		{"a@b", 1, 1, `invalid symbol "a@b": invalid character '@'`},
		{"@a", 1, 1, `unexpected '@': expected a value`},
		{"'a", 1, 1, `unexpected '\'': expected a value`},
		{"~a", 1, 1, "unexpected '~': expected a value"},
		{"^:meta x", 1, 1, "unexpected '^': expected a value"},
		{"a/b/c", 1, 1, `invalid symbol "a/b/c": more than one /`},
		{"a/", 1, 1, `invalid symbol "a/": empty name after /`},
		{"/a", 1, 1, `invalid symbol "/a": empty namespace before /`},
		{"a/1", 1, 1, `invalid symbol "a/1": a symbol cannot start with a digit`},
		{":", 1, 1, `invalid keyword ":": empty name`},
		{"::a", 1, 1, `auto-resolved keyword "::a" is not EDN: expected :name or :namespace/name`},
		{":/", 1, 1, `invalid keyword ":/": a keyword's name cannot be /`},
		{":a/", 1, 1, `invalid keyword ":a/": empty name after /`},
		{"[:a b@]", 1, 5, `invalid symbol "b@": invalid character '@'`},
		{"\xff", 1, 1, `invalid symbol "\xff": invalid UTF-8`},
		{"a\u00a0b", 1, 1, `invalid symbol "a\u00a0b": invalid character '\u00a0'`},
		{"\x00", 1, 1, `unexpected '\x00': expected a value`},
		// collections
		{"[1 2", 1, 5, `unterminated vector starting at line 1, column 1: expected ']'`},
		{"(1 [2 {3 4}", 1, 12, `unterminated vector starting at line 1, column 4: expected ']'`},
		{"#{1", 1, 4, `unterminated set starting at line 1, column 1: expected '}'`},
		{"{:a 1", 1, 6, `unterminated map starting at line 1, column 1: expected '}'`},
		{"(1]", 1, 3, `unexpected ']': expected ')' to close the list starting at line 1, column 1`},
		{"[1}", 1, 3, `unexpected '}': expected ']' to close the vector starting at line 1, column 1`},
		{")", 1, 1, `unmatched ')': no list, vector, map or set is open`},
		{"{:a}", 1, 4, "the map starting at line 1, column 1 has a key without a value: expected an even number of forms, got 1"},
		{"{:a 1\n :b 2\n :a 3}", 3, 2, "duplicate key :a in the map starting at line 1, column 1 (first at line 1, column 2)"},
		{"#{1 2 1}", 1, 7, "duplicate element 1 in the set starting at line 1, column 1 (first at line 1, column 3)"},
		{"#{[1 2] (1 2)}", 1, 9, "duplicate element (1 2) in the set starting at line 1, column 1 (first at line 1, column 3)"},
		{"#{1 2 3 4 5 6 7 8 9 10 11 12 13 5}", 1, 33, "duplicate element 5 in the set starting at line 1, column 1 (first at line 1, column 11)"},
		{"#:ns{:a 1 :ns/a 2}", 1, 11, "duplicate key :ns/a in the map starting at line 1, column 1 (first at line 1, column 6)"},
		{"{#inst \"2000\" 1 #inst \"2000-01-01T00:00:00Z\" 2}", 1, 17, `duplicate key #inst "2000-01-01T00:00:00.000Z" in the map starting at line 1, column 1 (first at line 1, column 2)`},
		// dispatch
		{"#", 1, 1, "unexpected end of input after #: expected {, _, :, ## or a tag"},
		{"#_", 1, 3, "expected a value after #_ at line 1, column 1, got end of input"},
		{"[#_]", 1, 4, "expected a value after #_ at line 1, column 2, got ']'"},
		{"#foo", 1, 5, "expected a value after the tag #foo at line 1, column 1, got end of input"},
		{"[#foo]", 1, 6, "expected a value after the tag #foo at line 1, column 2, got ']'"},
		{`#"re"`, 1, 1, `regular expressions #"..." are not EDN`},
		{"#(+ 1 %)", 1, 1, "function literals #(...) are not EDN"},
		{"#1", 1, 1, `unexpected "1" after #: expected {, _, :, ## or a tag starting with a letter`},
		{"#'a", 1, 1, `unexpected "'a" after #: expected {, _, :, ## or a tag starting with a letter`},
		{"##Foo", 1, 1, `unknown symbolic value "##Foo": expected ##Inf, ##-Inf or ##NaN`},
		{"#::{:a 1}", 1, 1, "auto-resolved namespaced map #:: is not EDN: expected #:namespace{...}"},
		{"#:{:a 1}", 1, 1, "expected a namespace after #:"},
		{"#:a/b{:c 1}", 1, 3, `invalid namespace "a/b" in #:a/b{...}: a namespace cannot contain /`},
		{"#:a [1]", 1, 5, "expected { after #:a, got '['"},
		{"#:a", 1, 4, "expected { after #:a, got end of input"},
		{"#a@b 1", 1, 1, `invalid tag "#a@b": invalid character '@'`},
		// built-in tags
		{"#inst 1", 1, 1, "#inst expects a string, got 1"},
		{`#inst "1985-13-01"`, 1, 1, `invalid #inst "1985-13-01": month out of range`},
		{`#inst "1985-02-29"`, 1, 1, `invalid #inst "1985-02-29": day out of range`},
		{`#inst "1985-04-12T24:00:00Z"`, 1, 1, `invalid #inst "1985-04-12T24:00:00Z": hour out of range`},
		{`#inst "1985-04-12T23:60:00Z"`, 1, 1, `invalid #inst "1985-04-12T23:60:00Z": minute out of range`},
		{`#inst "1985-04-12T23:59:60Z"`, 1, 1, `invalid #inst "1985-04-12T23:59:60Z": second out of range`},
		{`#inst "1985-04-12T23:20:50.Z"`, 1, 1, `invalid #inst "1985-04-12T23:20:50.Z": expected digits after the decimal point`},
		{`#inst "1985-04-12T23:20:50+0100"`, 1, 1, `invalid #inst "1985-04-12T23:20:50+0100": expected an offset ±hh:mm`},
		{`#inst "1985-04-12T23:20:50+24:00"`, 1, 1, `invalid #inst "1985-04-12T23:20:50+24:00": offset out of range`},
		{`#inst "85-04-12"`, 1, 1, `invalid #inst "85-04-12": expected a four-digit year`},
		{`#inst "1985-04-12 23:20"`, 1, 1, `invalid #inst "1985-04-12 23:20": expected YYYY-MM-DDThh:mm:ss.fff and an offset Z or ±hh:mm, trailing parts optional`},
		{"#uuid 1", 1, 1, "#uuid expects a string, got 1"},
		{`#uuid "f81d4fae7dec11d0a76500a0c91e6bf6"`, 1, 1, `invalid #uuid "f81d4fae7dec11d0a76500a0c91e6bf6": expected 8-4-4-4-12 hex digits`},
		{`#uuid "g81d4fae-7dec-11d0-a765-00a0c91e6bf6"`, 1, 1, `invalid #uuid "g81d4fae-7dec-11d0-a765-00a0c91e6bf6": expected 8-4-4-4-12 hex digits`},
		// columns count runes, not bytes
		{"[\"é中😀\" @]", 1, 8, "unexpected '@': expected a value"},
		{"[\"é\"\n  \"中\" @]", 2, 7, "unexpected '@': expected a value"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in))
		checkSyntaxError(t, c.in, err, c.line, c.col, c.msg)
	}
}

func checkSyntaxError(t *testing.T, in string, err error, line, col int, msg string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("Parse(%q) error = %v, want a *SyntaxError", in, err)
		return
	}
	if !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("Parse(%q) error does not match anomaly.Incorrect", in)
	}
	if se.Line != line || se.Column != col || se.Msg != msg {
		t.Errorf("Parse(%q):\n got  line %d, column %d: %s\n want line %d, column %d: %s", in, se.Line, se.Column, se.Msg, line, col, msg)
	}
	if se.Offset < 0 || se.Offset > int64(len(in)) {
		t.Errorf("Parse(%q): offset %d out of range", in, se.Offset)
	}
}

func TestSyntaxErrorText(t *testing.T) {
	_, err := Parse([]byte("[1\n  2\n  \"abc"))
	want := `edn: line 3, column 7: unterminated string starting at line 3, column 3: expected '"'`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 13 {
		t.Fatalf("offset = %d, want 13", se.Offset)
	}
	if c := anomaly.CategoryOf(err); c != anomaly.Incorrect {
		t.Fatalf("CategoryOf = %v, want incorrect", c)
	}
}

func TestParseAll(t *testing.T) {
	vs, err := ParseAll([]byte("1 [2] ; c\n #_ 3 :four \"five\" #{6}"))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(1), Vector{int64(2)}, kw("four"), "five", Set{int64(6)}}
	if len(vs) != len(want) {
		t.Fatalf("ParseAll = %v, want %v", vs, want)
	}
	for i := range vs {
		if !same(t, vs[i], want[i]) {
			t.Errorf("value %d = %#v, want %#v", i, vs[i], want[i])
		}
	}
	if vs, err := ParseAll([]byte(" ; nothing\n")); err != nil || len(vs) != 0 {
		t.Errorf("ParseAll(comment) = %v, %v", vs, err)
	}
	_, err = ParseAll([]byte("1 2\n [3"))
	checkSyntaxError(t, "1 2\n [3", err, 2, 4, "unterminated vector starting at line 2, column 2: expected ']'")
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{MaxDepth: -1}, {MaxDepth: MaxDepthLimit + 1}, {MaxInputBytes: -1}, {MaxNumberDigits: -1},
		{Tags: map[Symbol]TagFunc{sym("a"): nil}}, {Tags: map[Symbol]TagFunc{sym("1a"): func(v any) (any, error) { return v, nil }}}} {
		if _, err := NewParser(o); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("NewParser(%+v) = %v, want an anomaly.Incorrect error", o, err)
		}
	}

	p, err := NewParser(Options{MaxDepth: 3, MaxInputBytes: 20, MaxNumberDigits: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]byte("[[[1]]]")); err != nil {
		t.Errorf("depth 3: %v", err)
	}
	_, err = p.Parse([]byte("[[#{[1]}]]"))
	checkSyntaxError(t, "[[#{[1]}]]", err, 1, 5, "nesting deeper than the MaxDepth limit of 3")
	_, err = p.Parse([]byte("[#_#_#_ 1 2 3]"))
	checkSyntaxError(t, "[#_#_#_ 1 2 3]", err, 1, 6, "nesting deeper than the MaxDepth limit of 3")
	_, err = p.Parse([]byte(`"01234567890123456789"`))
	checkSyntaxError(t, `"01234567890123456789"`, err, 1, 21, "input of 22 bytes exceeds the MaxInputBytes limit of 20")
	if _, err := p.Parse([]byte("-1234")); err != nil {
		t.Errorf("5-byte number: %v", err)
	}
	_, err = p.Parse([]byte("[123456]"))
	checkSyntaxError(t, "[123456]", err, 1, 2, "number of 6 bytes exceeds the MaxNumberDigits limit of 5")
}

// Deep nesting must not overflow the goroutine stack: the reader's stack is
// on the heap, and the limit is checked before it grows.
func TestDeepNesting(t *testing.T) {
	if testing.Short() {
		t.Skip("recurses 100,000 deep in Marshal and Equal: seconds of stack growth")
	}
	deep := strings.Repeat("[", 10_000_000)
	_, err := Parse([]byte(deep))
	checkSyntaxError(t, deep, err, 1, DefaultMaxDepth+1, "nesting deeper than the MaxDepth limit of 1000")

	p, _ := NewParser(Options{MaxDepth: MaxDepthLimit})
	in := strings.Repeat("[", MaxDepthLimit) + strings.Repeat("]", MaxDepthLimit)
	v, err := p.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(v)
	if err != nil || string(out) != in {
		t.Fatalf("Marshal of %d nested vectors: %v", MaxDepthLimit, err)
	}
	if !Equal(v, v) {
		t.Fatal("not Equal to itself")
	}
}

func TestTagHandlers(t *testing.T) {
	errBad := errors.New("bad point")
	p, err := NewParser(Options{Tags: map[Symbol]TagFunc{
		sym("geo/point"): func(v any) (any, error) {
			vec, ok := v.(Vector)
			if !ok || len(vec) != 2 {
				return nil, errBad
			}
			return [2]any{vec[0], vec[1]}, nil
		},
		sym("inst"): func(v any) (any, error) { return "inst:" + v.(string), nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Parse([]byte(`[#geo/point [1 2] #inst "x" #other 3 #_ #geo/point "not called"]`))
	if err != nil {
		t.Fatal(err)
	}
	vec := v.(Vector)
	if vec[0] != [2]any{int64(1), int64(2)} || vec[1] != "inst:x" || !Equal(vec[2], Tagged{Tag: sym("other"), Value: int64(3)}) || len(vec) != 3 {
		t.Fatalf("got %#v", v)
	}
	_, err = p.Parse([]byte("\n  #geo/point 7"))
	checkSyntaxError(t, "#geo/point 7", err, 2, 3, "#geo/point: bad point")
	if !errors.Is(err, errBad) {
		t.Error("the handler's error is not the cause")
	}
}

func TestMapGetAndSetContains(t *testing.T) {
	v, err := Parse([]byte(`{:a 1 "b" 2 [3] 4 nil 5}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(Map)
	for _, c := range []struct {
		key  any
		want any
		ok   bool
	}{{kw("a"), int64(1), true}, {"b", int64(2), true}, {List{int64(3)}, int64(4), true}, {nil, int64(5), true}, {kw("b"), nil, false}, {"a", nil, false}} {
		got, ok := m.Get(c.key)
		if ok != c.ok || !Equal(got, c.want) {
			t.Errorf("Get(%v) = %v, %v; want %v, %v", c.key, got, ok, c.want, c.ok)
		}
	}
	s := Set{int64(1), "x", kw("y")}
	if !s.Contains("x") || s.Contains("y") {
		t.Error("Set.Contains")
	}
}

func TestConcurrentParse(t *testing.T) {
	doc := txData(200)
	want, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 8 {
		go func() {
			for range 20 {
				v, err := Parse(doc)
				if err == nil && !Equal(v, want) {
					err = errors.New("different value")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
