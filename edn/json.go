package edn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON form of EDN values, for clients that speak JSON (the node's HTTP
// API): every EDN value has one, and FromJSON(ToJSON(v)) is Equal to v. It
// follows Transit's JSON-verbose conventions, which JSON users of Datomic-like
// systems know:
//
//	JSON                         EDN
//	null, true, false            nil, true, false
//	12, -3                       integer (int64; beyond it, a bigint)
//	1.5, 1e3                     float (float64)
//	"text"                       string
//	"~:ns/name"                  keyword :ns/name
//	"~$ns/name"                  symbol ns/name
//	"~n123"                      bigint 123N
//	"~f1.50"                     bigdec 1.50M
//	"~r1/3"                      ratio 1/3
//	"~t1985-04-12T23:20:50.52Z"  #inst (RFC 3339)
//	"~m482196050520"             #inst, milliseconds since the epoch
//	"~u6f2c1c5e-…"               #uuid
//	"~cx"                        character \x
//	"~zNaN", "~zINF", "~z-INF"   ##NaN, ##Inf, ##-Inf
//	"~~text"                     the string "~text" (an escaped "~")
//	[a, b]                       vector [a b]
//	{"k": v, …}                  map; each key is read like a string value, so
//	                             {"~:person/name": "Ann"} is {:person/name "Ann"}
//	{"~#set": [a, b]}            set #{a b}
//	{"~#list": [a, b]}           list (a b)
//	{"~#cmap": [k1, v1, …]}      map whose keys are not strings, keywords, …
//	{"~#ns/tag": v}              tagged literal #ns/tag v
//
// A JSON object with one key starting with "~#" is a tagged value; every
// other object is a map, and its keys may not repeat.

// FromJSON reads one value in the JSON form. Errors are *SyntaxError
// (category incorrect) with the line and column of the problem.
func FromJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := &jsonReader{dec: dec, data: data}
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, r.errAt(dec.InputOffset(), "unexpected data after the value")
	}
	return v, nil
}

type jsonReader struct {
	dec  *json.Decoder
	data []byte
}

// errAt makes the SyntaxError of byte offset off.
func (r *jsonReader) errAt(off int64, format string, args ...any) error {
	off = min(max(off, 0), int64(len(r.data)))
	line, col := 1, 1
	for _, c := range string(r.data[:off]) {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &SyntaxError{Line: line, Column: col, Offset: off, Msg: "json: " + fmt.Sprintf(format, args...)}
}

func (r *jsonReader) token() (json.Token, error) {
	off := r.dec.InputOffset()
	t, err := r.dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, r.errAt(off, "unexpected end of input")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, r.errAt(se.Offset, "%s", se.Error())
		}
		return nil, r.errAt(off, "%s", err.Error())
	}
	return t, nil
}

func (r *jsonReader) value(depth int) (any, error) {
	if depth > DefaultMaxDepth {
		return nil, r.errAt(r.dec.InputOffset(), "nesting deeper than %d", DefaultMaxDepth)
	}
	off := r.dec.InputOffset()
	t, err := r.token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case nil, bool:
		return t, nil
	case json.Number:
		return r.number(off, string(t))
	case string:
		return r.str(off, t)
	case json.Delim:
		switch t {
		case '[':
			return r.array(depth)
		case '{':
			return r.object(off, depth)
		}
	}
	return nil, r.errAt(off, "unexpected %v", t)
}

func (r *jsonReader) number(off int64, s string) (any, error) {
	if len(s) > DefaultMaxNumberDigits {
		return nil, r.errAt(off, "number of %d characters: more than %d", len(s), DefaultMaxNumberDigits)
	}
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if n, ok := new(big.Int).SetString(s, 10); ok {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, r.errAt(off, "number %s out of range", s)
	}
	return f, nil
}

func (r *jsonReader) array(depth int) (Vector, error) {
	var out Vector
	for r.dec.More() {
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := r.token(); err != nil { // ']'
		return nil, err
	}
	if out == nil {
		out = Vector{}
	}
	return out, nil
}

func (r *jsonReader) object(start int64, depth int) (any, error) {
	var m Map
	seen := map[string]bool{}
	first := true
	for r.dec.More() {
		koff := r.dec.InputOffset()
		kt, err := r.token()
		if err != nil {
			return nil, err
		}
		key := kt.(string) // the JSON decoder only gives strings here
		if first && strings.HasPrefix(key, "~#") {
			tv, err := r.tagged(koff, key[2:], depth)
			if err != nil {
				return nil, err
			}
			if r.dec.More() {
				return nil, r.errAt(r.dec.InputOffset(), "a tagged value {%q: …} has one key", key)
			}
			if _, err := r.token(); err != nil {
				return nil, err
			}
			return tv, nil
		}
		first = false
		if seen[key] {
			return nil, r.errAt(koff, "duplicate map key %q", key)
		}
		seen[key] = true
		k, err := r.str(koff, key)
		if err != nil {
			return nil, err
		}
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m = append(m, Entry{Key: k, Value: v})
	}
	if _, err := r.token(); err != nil { // '}'
		return nil, err
	}
	if m == nil {
		m = Map{}
	}
	return m, nil
}

func (r *jsonReader) tagged(off int64, tag string, depth int) (any, error) {
	voff := r.dec.InputOffset()
	v, err := r.value(depth + 1)
	if err != nil {
		return nil, err
	}
	elems, isArray := v.(Vector)
	switch tag {
	case "set", "list", "cmap":
		if !isArray {
			return nil, r.errAt(voff, "~#%s takes an array", tag)
		}
	}
	switch tag {
	case "set":
		if _, _, dup := duplicateSmallOrHashed(elems, 1); dup {
			return nil, r.errAt(voff, "duplicate set element")
		}
		return Set(elems), nil
	case "list":
		return List(elems), nil
	case "cmap":
		if len(elems)%2 != 0 {
			return nil, r.errAt(voff, "~#cmap takes key, value pairs: %d elements", len(elems))
		}
		if _, _, dup := duplicateSmallOrHashed(elems, 2); dup {
			return nil, r.errAt(voff, "duplicate map key")
		}
		m := make(Map, 0, len(elems)/2)
		for i := 0; i < len(elems); i += 2 {
			m = append(m, Entry{Key: elems[i], Value: elems[i+1]})
		}
		return m, nil
	}
	sym, err := Parse([]byte(tag))
	s, ok := sym.(Symbol)
	if err != nil || !ok || s.Name == "" {
		return nil, r.errAt(off, "tag ~#%s is not a symbol", tag)
	}
	return Tagged{Tag: s, Value: v}, nil
}

// str reads a JSON string by the tagged-string rules above.
func (r *jsonReader) str(off int64, s string) (any, error) {
	if len(s) < 2 || s[0] != '~' {
		if s == "~" {
			return nil, r.errAt(off, `"~" alone: write "~~" for the string "~"`)
		}
		return s, nil
	}
	body := s[2:]
	if len(body) > DefaultMaxNumberDigits && strings.ContainsRune("nfr", rune(s[1])) {
		return nil, r.errAt(off, "number of %d characters: more than %d", len(body), DefaultMaxNumberDigits)
	}
	bad := func(what string) error { return r.errAt(off, "%.40q is not a valid %s", s, what) }
	switch s[1] {
	case '~':
		return s[1:], nil
	case ':':
		v, err := Parse([]byte(":" + body))
		if k, ok := v.(Keyword); err == nil && ok {
			return k, nil
		}
		return nil, bad("keyword")
	case '$':
		v, err := Parse([]byte(body))
		if sym, ok := v.(Symbol); err == nil && ok {
			return sym, nil
		}
		return nil, bad("symbol")
	case 'n':
		if n, ok := new(big.Int).SetString(body, 10); ok && body != "" && body[0] != '+' {
			return n, nil
		}
		return nil, bad("bigint")
	case 'f':
		v, err := Parse([]byte(body + "M"))
		if d, ok := v.(BigDec); err == nil && ok {
			return d, nil
		}
		return nil, bad("bigdec")
	case 'r':
		v, err := Parse([]byte(body))
		if q, ok := v.(*big.Rat); err == nil && ok {
			return q, nil
		}
		return nil, bad("ratio")
	case 't':
		t, msg := parseInst(body)
		if msg != "" {
			return nil, r.errAt(off, "%q: %s", s, msg)
		}
		return t, nil
	case 'm':
		ms, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, bad("instant in milliseconds")
		}
		return time.UnixMilli(ms).UTC(), nil
	case 'u':
		if u, ok := parseUUID(body); ok {
			return u, nil
		}
		return nil, bad("uuid")
	case 'c':
		if c, n := utf8.DecodeRuneInString(body); n == len(body) && n > 0 && c != utf8.RuneError {
			return Char(c), nil
		}
		return nil, bad("character")
	case 'z':
		switch body {
		case "NaN":
			return math.NaN(), nil
		case "INF":
			return math.Inf(1), nil
		case "-INF":
			return math.Inf(-1), nil
		}
		return nil, bad("special float")
	}
	return nil, r.errAt(off, "%q: unknown tag ~%c (a string starting with ~ is written ~~…)", s, s[1])
}

// ToJSON writes v in the JSON form. It accepts what Marshal accepts.
func ToJSON(v any) ([]byte, error) { return AppendJSON(nil, v) }

// AppendJSON appends the JSON form of v to dst.
func AppendJSON(dst []byte, v any) ([]byte, error) { return appendJSON(dst, v, 0) }

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // cannot fail for a string
	return append(dst, b...)
}

func appendJSON(dst []byte, v any, depth int) ([]byte, error) {
	if depth > MaxDepthLimit {
		return nil, marshalError("nesting deeper than %d", MaxDepthLimit)
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case float32:
		return appendJSON(dst, float64(v), depth)
	case float64:
		switch {
		case math.IsNaN(v):
			return append(dst, `"~zNaN"`...), nil
		case math.IsInf(v, 1):
			return append(dst, `"~zINF"`...), nil
		case math.IsInf(v, -1):
			return append(dst, `"~z-INF"`...), nil
		}
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return append(dst, s...), nil
	case *big.Int:
		if v == nil {
			return nil, marshalError("nil *big.Int")
		}
		return appendJSONString(dst, "~n"+v.String()), nil
	case *big.Rat:
		if v == nil {
			return nil, marshalError("nil *big.Rat")
		}
		b, err := Marshal(v)
		if err != nil {
			return nil, err
		}
		return appendJSONString(dst, "~r"+string(b)), nil
	case BigDec:
		b, err := Marshal(v)
		if err != nil {
			return nil, err
		}
		return appendJSONString(dst, "~f"+strings.TrimSuffix(string(b), "M")), nil
	case string:
		if strings.HasPrefix(v, "~") {
			v = "~" + v
		}
		return appendJSONString(dst, v), nil
	case Keyword:
		return appendJSONString(dst, "~"+v.String()), nil
	case Symbol:
		return appendJSONString(dst, "~$"+v.String()), nil
	case Char:
		return appendJSONString(dst, "~c"+string(rune(v))), nil
	case time.Time:
		return appendJSONString(dst, "~t"+v.UTC().Format(time.RFC3339Nano)), nil
	case UUID:
		return appendJSONString(dst, "~u"+v.String()), nil
	case []any:
		return appendJSONArray(dst, v, depth)
	case Vector:
		return appendJSONArray(dst, v, depth)
	case List:
		dst = append(dst, `{"~#list":`...)
		dst, err := appendJSONArray(dst, v, depth)
		return append(dst, '}'), err
	case Set:
		dst = append(dst, `{"~#set":`...)
		dst, err := appendJSONArray(dst, v, depth)
		return append(dst, '}'), err
	case Map:
		stringKeys := true
		for _, e := range v {
			switch e.Key.(type) {
			case string, Keyword, Symbol, *big.Int, *big.Rat, BigDec, time.Time, UUID, Char:
			default:
				stringKeys = false
			}
		}
		if !stringKeys {
			flat := make([]any, 0, 2*len(v))
			for _, e := range v {
				flat = append(flat, e.Key, e.Value)
			}
			dst = append(dst, `{"~#cmap":`...)
			dst, err := appendJSONArray(dst, flat, depth)
			return append(dst, '}'), err
		}
		dst = append(dst, '{')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSON(dst, e.Key, depth+1); err != nil {
				return nil, err
			}
			dst = append(dst, ':')
			if dst, err = appendJSON(dst, e.Value, depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case Tagged:
		dst = append(dst, '{')
		dst = appendJSONString(dst, "~#"+v.Tag.String())
		dst = append(dst, ':')
		dst, err := appendJSON(dst, v.Value, depth+1)
		return append(dst, '}'), err
	}
	return nil, marshalError("cannot write %T as JSON", v)
}

func appendJSONArray(dst []byte, elems []any, depth int) ([]byte, error) {
	dst = append(dst, '[')
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendJSON(dst, e, depth+1); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}
