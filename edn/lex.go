package edn

import (
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// isNameRune reports whether a non-ASCII rune may appear in a symbol or a
// keyword: any printable character that is not a space (Clojure reads any
// character that is not whitespace or a macro character).
func isNameRune(r rune) bool {
	return unicode.IsGraphic(r) && !unicode.IsSpace(r)
}

// readString reads the string whose quote is at start. A string without
// escapes is one allocation; one with escapes is decoded into st.scratch.
func (st *parser) readString(start int) (any, error) {
	d := st.data
	for i := start + 1; i < len(d); {
		c := d[i]
		switch {
		case c == '"':
			st.pos = i + 1
			return string(d[start+1 : i]), nil
		case c == '\\':
			return st.readStringEscaped(start, i)
		case c >= utf8.RuneSelf:
			size, err := st.checkRune(i)
			if err != nil {
				return nil, err
			}
			i += size
		default:
			i++
		}
	}
	return nil, st.unterminatedString(start)
}

func (st *parser) unterminatedString(start int) error {
	if !st.eof {
		return errIncomplete
	}
	return st.errorf(len(st.data), "unterminated string starting at %s: expected '\"'", st.at(start))
}

// checkRune validates the UTF-8 sequence at i and returns its length.
func (st *parser) checkRune(i int) (int, error) {
	d := st.data[i:]
	r, size := utf8.DecodeRune(d)
	if r == utf8.RuneError && size == 1 {
		if !st.eof && !utf8.FullRune(d) {
			return 0, errIncomplete
		}
		return 0, st.errorf(i, "invalid UTF-8 byte %#02x", d[0])
	}
	return size, nil
}

func (st *parser) readStringEscaped(start, i int) (any, error) {
	d := st.data
	buf := append(st.scratch[:0], d[start+1:i]...)
	defer func() { st.scratch = buf[:0] }()
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			st.pos = i + 1
			return string(buf), nil
		case c >= utf8.RuneSelf:
			size, err := st.checkRune(i)
			if err != nil {
				return nil, err
			}
			buf = append(buf, d[i:i+size]...)
			i += size
			continue
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d) {
			return nil, st.unterminatedString(start)
		}
		switch e := d[i+1]; e {
		case 't':
			buf = append(buf, '\t')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case '"', '\\':
			buf = append(buf, e)
		case 'u':
			r, n, err := st.unicodeEscape(start, i)
			if err != nil {
				return nil, err
			}
			buf = utf8.AppendRune(buf, r)
			i += n
			continue
		case '0', '1', '2', '3', '4', '5', '6', '7': // Clojure's octal escape, \0 to \377
			j := i + 1
			r := 0
			for j < len(d) && j < i+4 && '0' <= d[j] && d[j] <= '7' {
				r = r*8 + int(d[j]-'0')
				j++
			}
			if j == len(d) {
				return nil, st.unterminatedString(start)
			}
			if r > 0377 {
				return nil, st.errorf(i, "octal escape %s in string is above \\377", quoteToken(d[i:j]))
			}
			buf = utf8.AppendRune(buf, rune(r))
			i = j
			continue
		default:
			return nil, st.errorf(i, "unsupported escape %s in string: expected \\t \\n \\r \\b \\f \\\" \\\\ \\uXXXX or octal \\NNN", st.escapeText(i))
		}
		i += 2
	}
	return nil, st.unterminatedString(start)
}

func (st *parser) escapeText(i int) string {
	d := st.data
	r, size := utf8.DecodeRune(d[i+1:])
	if r == utf8.RuneError && size <= 1 {
		return quoteToken(d[i : i+2])
	}
	return quoteToken(d[i : i+1+size])
}

// unicodeEscape decodes \uXXXX at i, and a following \uXXXX low surrogate if
// the first is a high one (Clojure strings are UTF-16: "\uD83D\uDE00" is one
// emoji). It returns the rune and the bytes consumed.
func (st *parser) unicodeEscape(start, i int) (rune, int, error) {
	d := st.data
	hex4 := func(j int) (rune, bool) {
		var r rune
		for _, c := range d[j : j+4] {
			h, ok := unhex(c)
			if !ok {
				return 0, false
			}
			r = r<<4 | rune(h)
		}
		return r, true
	}
	end := min(i+6, len(d))
	for j := i + 2; j < end; j++ {
		if _, ok := unhex(d[j]); !ok {
			return 0, 0, st.errorf(i, "invalid \\u escape %s in string: expected four hex digits", quoteToken(d[i:j+1]))
		}
	}
	if end < i+6 {
		return 0, 0, st.unterminatedString(start)
	}
	r, _ := hex4(i + 2)
	if r < 0xD800 || r > 0xDFFF {
		return r, 6, nil
	}
	if r <= 0xDBFF && i+12 <= len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
		if lo, ok := hex4(i + 8); ok && 0xDC00 <= lo && lo <= 0xDFFF {
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12, nil
		}
	}
	if r <= 0xDBFF && i+12 > len(d) && !st.eof {
		return 0, 0, errIncomplete // the low half may follow
	}
	return 0, 0, st.errorf(i, "invalid \\u escape %s in string: a lone UTF-16 surrogate", quoteToken(d[i:i+6]))
}

var charNames = map[string]Char{
	"newline":   '\n',
	"space":     ' ',
	"tab":       '\t',
	"return":    '\r',
	"formfeed":  '\f',
	"backspace": '\b',
}

// readChar reads the character literal whose backslash is at start.
func (st *parser) readChar(start int) (any, error) {
	d := st.data
	i := start + 1
	if i >= len(d) {
		if !st.eof {
			return nil, errIncomplete
		}
		return nil, st.errorf(start, "expected a character after \\, got end of input")
	}
	c := d[i]
	if class[c]&cSpace != 0 && c != ',' {
		return nil, st.errorf(start, "expected a character after \\, got whitespace (write \\space, \\tab or \\newline)")
	}
	r, size := rune(c), 1
	if c >= utf8.RuneSelf {
		var err error
		if size, err = st.checkRune(i); err != nil {
			return nil, err
		}
		r, _ = utf8.DecodeRune(d[i:])
	}
	end, err := st.tokenEnd(i + size)
	if err != nil {
		return nil, err
	}
	st.pos = end
	if end == i+size {
		return Char(r), nil
	}
	tok := d[i:end]
	if ch, ok := charNames[string(tok)]; ok {
		return ch, nil
	}
	switch {
	case tok[0] == 'u' && len(tok) == 5:
		var u rune
		for _, c := range tok[1:] {
			h, ok := unhex(c)
			if !ok {
				return nil, st.errorf(start, "invalid character %s: expected \\u and four hex digits", quoteToken(d[start:end]))
			}
			u = u<<4 | rune(h)
		}
		if 0xD800 <= u && u <= 0xDFFF {
			return nil, st.errorf(start, "invalid character %s: a UTF-16 surrogate", quoteToken(d[start:end]))
		}
		return Char(u), nil
	case tok[0] == 'o' && len(tok) <= 4:
		o := 0
		for _, c := range tok[1:] {
			if c < '0' || c > '7' {
				return nil, st.errorf(start, "invalid character %s: expected \\o and one to three octal digits", quoteToken(d[start:end]))
			}
			o = o*8 + int(c-'0')
		}
		if o > 0377 {
			return nil, st.errorf(start, "invalid character %s: octal value above \\o377", quoteToken(d[start:end]))
		}
		return Char(o), nil
	}
	return nil, st.errorf(start, "unsupported character %s: expected one character, \\newline, \\space, \\tab, \\return, \\formfeed, \\backspace, \\uXXXX or \\oNNN", quoteToken(d[start:end]))
}

// readNumber reads the numeric literal at start, which begins with a digit or
// with a sign and a digit. The grammar is the EDN spec's, which forbids
// leading zeros:
//
//	int     [+-]? (0 | [1-9][0-9]*) N?
//	float   int-part ( . [0-9]* )? ( [eE] [+-]? [0-9]+ )? M?   (with a . or an exponent or M)
//	ratio   int-part / [0-9]+
func (st *parser) readNumber(start int) (any, error) {
	end, err := st.tokenEnd(start)
	if err != nil {
		return nil, err
	}
	tok := st.data[start:end]
	st.pos = end
	if len(tok) > st.cfg.maxDigits {
		return nil, st.errorf(start, "number of %d bytes exceeds the MaxNumberDigits limit of %d", len(tok), st.cfg.maxDigits)
	}
	i := 0
	if tok[0] == '+' || tok[0] == '-' {
		i = 1
	}
	j := digitsEnd(tok, i)
	if tok[i] == '0' && j-i > 1 {
		return nil, st.errorf(start, "invalid number %s: leading zeros are not allowed", quoteToken(tok))
	}
	if j == len(tok) {
		if j-i <= 18 { // cannot overflow int64
			var n int64
			for _, c := range tok[i:j] {
				n = n*10 + int64(c-'0')
			}
			if tok[0] == '-' {
				n = -n
			}
			return n, nil
		}
		b := st.bigInt(tok)
		if b.IsInt64() {
			return b.Int64(), nil
		}
		return b, nil
	}
	switch tok[j] {
	case 'N':
		if j+1 == len(tok) {
			return st.bigInt(tok[:j]), nil
		}
	case '/':
		k := digitsEnd(tok, j+1)
		if k == j+1 || k != len(tok) {
			break
		}
		if tok[j+1] == '0' && k-j > 2 {
			return nil, st.errorf(start, "invalid ratio %s: leading zeros are not allowed", quoteToken(tok))
		}
		den := st.bigInt(tok[j+1:])
		if den.Sign() == 0 {
			return nil, st.errorf(start, "invalid ratio %s: the denominator is zero", quoteToken(tok))
		}
		return new(big.Rat).SetFrac(st.bigInt(tok[:j]), den), nil
	case '.', 'e', 'E', 'M':
		return st.readFloat(tok, i, j, start)
	}
	return nil, st.errorf(start, "invalid number %s", quoteToken(tok))
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && class[b[i]]&cDigit != 0 {
		i++
	}
	return i
}

// bigInt parses a validated [+-]?[0-9]+.
func (st *parser) bigInt(tok []byte) *big.Int {
	b, _ := new(big.Int).SetString(string(tok), 10)
	return b
}

// readFloat reads a float or a BigDec; tok[i:j] are the integer digits.
func (st *parser) readFloat(tok []byte, i, j, start int) (any, error) {
	k := j
	frac := k
	if k < len(tok) && tok[k] == '.' {
		k = digitsEnd(tok, k+1)
		frac = k
	}
	exp, expStart := int64(0), -1
	if k < len(tok) && (tok[k] == 'e' || tok[k] == 'E') {
		k++
		if k < len(tok) && (tok[k] == '+' || tok[k] == '-') {
			k++
		}
		expStart = k
		k = digitsEnd(tok, k)
		if k == expStart {
			return nil, st.errorf(start, "invalid number %s: expected digits in the exponent", quoteToken(tok))
		}
	}
	dec := k < len(tok) && tok[k] == 'M'
	if dec {
		k++
	}
	if k != len(tok) {
		return nil, st.errorf(start, "invalid number %s", quoteToken(tok))
	}
	if !dec {
		// The grammar was checked above and is a subset of ParseFloat's, so
		// the only error left is ErrRange, with ±Inf or 0 as Java gives.
		// The string does not outlive the call: no copy is needed.
		f, _ := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
		return f, nil
	}
	if expStart >= 0 {
		for _, c := range tok[expStart:digitsEnd(tok, expStart)] {
			exp = exp*10 + int64(c-'0')
			if exp > math.MaxInt32+int64(len(tok)) {
				return nil, st.errorf(start, "invalid number %s: the exponent is out of range", quoteToken(tok))
			}
		}
		if tok[expStart-1] == '-' {
			exp = -exp
		}
	}
	digits := make([]byte, 0, frac)
	digits = append(digits, tok[:j]...)
	if j < frac {
		digits = append(digits, tok[j+1:frac]...)
	}
	scale := int64(max(frac-j-1, 0)) - exp
	if scale < math.MinInt32 || scale > math.MaxInt32 {
		return nil, st.errorf(start, "invalid number %s: the exponent is out of range", quoteToken(tok))
	}
	return BigDec{Unscaled: st.bigInt(digits), Scale: int32(scale)}, nil
}

// parseInst reads the #inst grammar Clojure accepts, RFC 3339 with any
// trailing part left out:
//
//	YYYY ( -MM ( -DD ( Thh ( :mm ( :ss ( .fraction )? )? )? )? )? )? ( Z | [+-]hh:mm )?
//
// Digits of the fraction past nanoseconds are dropped. It returns the instant
// in UTC, or a message saying what is wrong.
func parseInst(s string) (time.Time, string) {
	i := 0
	num := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	sep := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	year, ok := num(4)
	if !ok {
		return time.Time{}, "expected a four-digit year"
	}
	month, day, hour, minute, sec, nsec := 1, 1, 0, 0, 0, 0
	const (
		bad  = "expected YYYY-MM-DDThh:mm:ss.fff and an offset Z or ±hh:mm, trailing parts optional"
		badF = "expected digits after the decimal point"
	)
	if sep('-') {
		if month, ok = num(2); !ok {
			return time.Time{}, bad
		}
		if sep('-') {
			if day, ok = num(2); !ok {
				return time.Time{}, bad
			}
			if sep('T') || sep('t') {
				if hour, ok = num(2); !ok {
					return time.Time{}, bad
				}
				if sep(':') {
					if minute, ok = num(2); !ok {
						return time.Time{}, bad
					}
					if sep(':') {
						if sec, ok = num(2); !ok {
							return time.Time{}, bad
						}
						if sep('.') {
							n := 0
							for i < len(s) && '0' <= s[i] && s[i] <= '9' {
								if n < 9 {
									nsec = nsec*10 + int(s[i]-'0')
								}
								n++
								i++
							}
							if n == 0 {
								return time.Time{}, badF
							}
							for ; n < 9; n++ {
								nsec *= 10
							}
						}
					}
				}
			}
		}
	}
	offset := 0
	switch {
	case sep('Z') || sep('z'):
	case i < len(s) && (s[i] == '+' || s[i] == '-'):
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		i++
		oh, ok1 := num(2)
		ok2 := sep(':')
		om, ok3 := num(2)
		if !ok1 || !ok2 || !ok3 {
			return time.Time{}, "expected an offset ±hh:mm"
		}
		if oh > 23 || om > 59 {
			return time.Time{}, "offset out of range"
		}
		offset = sign * (oh*3600 + om*60)
	}
	if i != len(s) {
		return time.Time{}, bad
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, "month out of range"
	case day < 1 || day > daysIn(month, year):
		return time.Time{}, "day out of range"
	case hour > 23:
		return time.Time{}, "hour out of range"
	case minute > 59:
		return time.Time{}, "minute out of range"
	case sec > 59:
		return time.Time{}, "second out of range"
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	t = t.Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, "the instant in UTC is outside years 0000 to 9999"
	}
	return t, ""
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
