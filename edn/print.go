package edn

import (
	"bytes"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Marshal returns the canonical EDN text of v; see AppendEDN.
func Marshal(v any) ([]byte, error) { return AppendEDN(nil, v) }

// AppendEDN appends the canonical EDN text of v to dst. Parse reads the text
// back to a value Equal to v (Go integers and []any come back as int64 and
// Vector, Go maps as Map). On error it returns dst unchanged in length and an
// anomaly.Incorrect error naming the value it could not print.
//
// The text is one line: elements separated by one space, no commas; strings
// escaped as \" \\ \n \t \r \b \f and \uXXXX for other control characters,
// other text as UTF-8; floats always with a point or an exponent (1.0, 1e21),
// shortest digits that round-trip, ##NaN ##Inf ##-Inf; BigInt with N, BigDec
// with M; time.Time as #inst in UTC with 3, 6 or 9 fraction digits (as many
// as its nanoseconds need, at least milliseconds); Go maps with their keys in
// sorted order, so the text is deterministic.
func AppendEDN(dst []byte, v any) ([]byte, error) {
	n := len(dst)
	out, err := appendValue(dst, v, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "nil"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendString(dst, x)
	case Keyword:
		return appendKeyword(dst, x)
	case Symbol:
		return appendSymbol(dst, x)
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint, uint8, uint16, uint32, uint64, uintptr:
		u, _ := asUint64(x)
		if u > math.MaxInt64 {
			return dst, marshalError("unsigned integer %d does not fit an int64: use *big.Int", u)
		}
		return strconv.AppendUint(dst, u, 10), nil
	case float64:
		return appendFloat(dst, x), nil
	case float32:
		return appendFloat(dst, float64(x)), nil
	case *big.Int:
		if x == nil {
			return dst, marshalError("nil *big.Int")
		}
		return append(x.Append(dst, 10), 'N'), nil
	case BigDec:
		return append(x.appendTo(dst), 'M'), nil
	case *big.Rat:
		if x == nil {
			return dst, marshalError("nil *big.Rat")
		}
		dst = x.Num().Append(dst, 10)
		dst = append(dst, '/')
		return x.Denom().Append(dst, 10), nil
	case Char:
		return appendChar(dst, x)
	case time.Time:
		return appendInst(dst, x)
	case UUID:
		dst = append(dst, `#uuid "`...)
		return append(x.appendTo(dst), '"'), nil
	case Tagged:
		if msg := checkTag(x.Tag); msg != "" {
			return dst, marshalError("tagged literal with tag %q: %s", x.Tag.String(), msg)
		}
		if x.Tag == tagInst || x.Tag == tagUUID {
			return dst, marshalError("Tagged with the built-in tag #%s: use time.Time or edn.UUID", x.Tag.Name)
		}
		if depth >= MaxDepthLimit {
			return dst, errTooDeep()
		}
		dst = append(dst, '#')
		dst = append(dst, x.Tag.String()...)
		dst = append(dst, ' ')
		return appendValue(dst, x.Value, depth+1)
	case List:
		return appendSeq(dst, '(', ')', x, depth)
	case Vector:
		return appendSeq(dst, '[', ']', x, depth)
	case []any:
		return appendSeq(dst, '[', ']', x, depth)
	case Set:
		if i, j, dup := duplicateSmallOrHashed(x, 1); dup {
			return dst, marshalError("set has a duplicate element %s (elements %d and %d)", describeValue(x[i]), j, i)
		}
		dst = append(dst, '#')
		return appendSeq(dst, '{', '}', x, depth)
	case Map:
		return appendMap(dst, x, depth)
	case map[string]any:
		return appendStringMap(dst, x, depth)
	case map[Keyword]any:
		return appendKeywordMap(dst, x, depth)
	case map[any]any:
		return appendAnyMap(dst, x, depth)
	}
	return dst, marshalError("unsupported type %T", v)
}

func appendStringMap(dst []byte, x map[string]any, depth int) ([]byte, error) {
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m := make(Map, len(keys))
	for i, k := range keys {
		m[i] = Entry{Key: k, Value: x[k]}
	}
	return appendMap(dst, m, depth)
}

func appendKeywordMap(dst []byte, x map[Keyword]any, depth int) ([]byte, error) {
	keys := make([]Keyword, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Keyword) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	m := make(Map, len(keys))
	for i, k := range keys {
		m[i] = Entry{Key: k, Value: x[k]}
	}
	return appendMap(dst, m, depth)
}

func errTooDeep() error {
	return marshalError("value nested deeper than %d", MaxDepthLimit)
}

func asUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case uintptr:
		return uint64(x), true
	}
	return 0, false
}

func appendSeq(dst []byte, open, close byte, s []any, depth int) ([]byte, error) {
	if depth >= MaxDepthLimit {
		return dst, errTooDeep()
	}
	dst = append(dst, open)
	for i, e := range s {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var err error
		if dst, err = appendValue(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, close), nil
}

func appendMap(dst []byte, m Map, depth int) ([]byte, error) {
	if depth >= MaxDepthLimit {
		return dst, errTooDeep()
	}
	if i, j, dup := duplicateEntries(m); dup {
		return dst, marshalError("map has a duplicate key %s (entries %d and %d)", describeValue(m[i].Key), j, i)
	}
	dst = append(dst, '{')
	for i := range m {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var err error
		if dst, err = appendValue(dst, m[i].Key, depth+1); err != nil {
			return dst, err
		}
		dst = append(dst, ' ')
		if dst, err = appendValue(dst, m[i].Value, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendAnyMap prints a map[any]any with its entries sorted by the text of
// their keys; two keys with the same text (int(1) and int64(1)) are an error,
// as they would read back as a duplicate.
func appendAnyMap(dst []byte, x map[any]any, depth int) ([]byte, error) {
	if depth >= MaxDepthLimit {
		return dst, errTooDeep()
	}
	type kv struct {
		text []byte
		val  any
	}
	entries := make([]kv, 0, len(x))
	for k, v := range x {
		text, err := appendValue(nil, k, depth+1)
		if err != nil {
			return dst, err
		}
		entries = append(entries, kv{text, v})
	}
	slices.SortFunc(entries, func(a, b kv) int { return bytes.Compare(a.text, b.text) })
	dst = append(dst, '{')
	for i, e := range entries {
		if i > 0 {
			if bytes.Equal(e.text, entries[i-1].text) {
				return dst, marshalError("map has two keys that print as %s", e.text)
			}
			dst = append(dst, ' ')
		}
		dst = append(dst, e.text...)
		dst = append(dst, ' ')
		var err error
		if dst, err = appendValue(dst, e.val, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func duplicateSmallOrHashed(elems []any, stride int) (int, int, bool) {
	if len(elems)/stride <= 8 {
		return duplicateSmall(elems, stride)
	}
	return duplicateHashed(elems, stride, make(map[uint64]int, len(elems)/stride))
}

func duplicateEntries(m Map) (int, int, bool) {
	if len(m) <= 8 { // compare every pair, without copying the keys
		for i := 1; i < len(m); i++ {
			for j := 0; j < i; j++ {
				if Equal(m[i].Key, m[j].Key) {
					return i, j, true
				}
			}
		}
		return 0, 0, false
	}
	keys := make([]any, len(m))
	for i := range m {
		keys[i] = m[i].Key
	}
	return duplicateSmallOrHashed(keys, 1)
}

func appendString(dst []byte, s string) ([]byte, error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x7f {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, marshalError("string %q is not valid UTF-8 (byte %d)", truncate(s), i)
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		default:
			dst = appendU4(append(dst, `\u`...), rune(c))
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

func appendU4(dst []byte, r rune) []byte {
	const hexDigits = "0123456789abcdef"
	return append(dst, hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

var charNamesByRune = map[Char]string{
	'\n': "newline",
	' ':  "space",
	'\t': "tab",
	'\r': "return",
	'\f': "formfeed",
	'\b': "backspace",
}

func appendChar(dst []byte, c Char) ([]byte, error) {
	r := rune(c)
	if !utf8.ValidRune(r) {
		return dst, marshalError("character %#x is not a valid Unicode code point", r)
	}
	dst = append(dst, '\\')
	if name, ok := charNamesByRune[c]; ok {
		return append(dst, name...), nil
	}
	switch {
	case r < utf8.RuneSelf && r > ' ' && r < 0x7f:
		return append(dst, byte(r)), nil
	case r >= utf8.RuneSelf && unicode.IsGraphic(r) && !unicode.IsSpace(r):
		return utf8.AppendRune(dst, r), nil
	case r <= 0xFFFF:
		return appendU4(append(dst, 'u'), r), nil
	}
	// An invisible character beyond the BMP, which \uXXXX cannot hold: the
	// reader takes any character after \ that is not ASCII whitespace.
	return utf8.AppendRune(dst, r), nil
}

// appendFloat prints the shortest digits that read back to f, in plain
// notation for 1e-4 <= |f| < 1e16 and with an exponent outside, always with
// a point or an exponent so that it reads back as a float.
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "##NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "##Inf"...)
	case math.IsInf(f, -1):
		return append(dst, "##-Inf"...)
	}
	n := len(dst)
	if abs := math.Abs(f); abs == 0 || abs >= 1e-4 && abs < 1e16 {
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		if bytes.IndexByte(dst[n:], '.') < 0 {
			dst = append(dst, ".0"...)
		}
		return dst
	}
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64) // 1e+21, 1.5e-07
	e := n + bytes.IndexByte(dst[n:], 'e')
	exp := dst[e+1:]
	neg := exp[0] == '-'
	digits := bytes.TrimLeft(exp[1:], "0")
	dst = dst[:e+1]
	if neg {
		dst = append(dst, '-')
	}
	return append(dst, digits...) // 1e21, 1.5e-7: copy within dst moves left only
}

func appendInst(dst []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, marshalError("time %v: year %d is outside the four digits #inst allows", t, y)
	}
	dst = append(dst, `#inst "`...)
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
	ns := t.Nanosecond()
	switch {
	case ns%1_000_000 == 0:
		dst = t.AppendFormat(dst, ".000")
	case ns%1000 == 0:
		dst = t.AppendFormat(dst, ".000000")
	default:
		dst = t.AppendFormat(dst, ".000000000")
	}
	return append(dst, `Z"`...), nil
}

func appendKeyword(dst []byte, k Keyword) ([]byte, error) {
	n := len(dst)
	dst = append(dst, ':')
	if k.Namespace != "" {
		dst = append(dst, k.Namespace...)
		dst = append(dst, '/')
	}
	dst = append(dst, k.Name...)
	if k.Namespace == "" && strings.IndexByte(k.Name, '/') >= 0 {
		return dst[:n], marshalError("keyword %q: a name without a namespace cannot contain /", k.String())
	}
	if len(dst)-n > 1 && dst[n+1] == ':' {
		return dst[:n], marshalError("keyword %q: a name cannot start with ':'", k.String())
	}
	if _, msg := checkName(dst[n+1:], true); msg != "" {
		return dst[:n], marshalError("keyword %q: %s", k.String(), msg)
	}
	return dst, nil
}

func appendSymbol(dst []byte, s Symbol) ([]byte, error) {
	n := len(dst)
	if s.Namespace == "" {
		switch s.Name {
		case "nil", "true", "false":
			return dst, marshalError("symbol %s cannot be printed: it reads as the literal %s", s.Name, s.Name)
		}
		if s.Name != "/" && strings.IndexByte(s.Name, '/') >= 0 {
			return dst, marshalError("symbol %q: a name without a namespace cannot contain /", s.String())
		}
	} else {
		dst = append(dst, s.Namespace...)
		dst = append(dst, '/')
	}
	dst = append(dst, s.Name...)
	if _, msg := checkName(dst[n:], false); msg != "" {
		return dst[:n], marshalError("symbol %q: %s", s.String(), msg)
	}
	return dst, nil
}
