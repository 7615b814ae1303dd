package edn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"unicode/utf8"
)

// The reader is a hand-written scanner over []byte with an explicit stack
// (frames on the heap, not goroutine recursion), so nesting is bounded only by
// MaxDepth and a Decoder can suspend in the middle of a value when its buffer
// runs out and resume after reading more (see Decoder).
//
// Elements of open collections are kept on one shared value stack (vals);
// closing a collection copies its elements into one exactly-sized slice, so a
// collection costs two allocations (the slice and its interface box) however
// it grew.

// errIncomplete reports that the data ended inside a token or a value and
// more input may follow (parser.eof is false). Only a Decoder sees it; the
// parser leaves pos at the start of the unfinished token so that run can
// resume there.
var errIncomplete = errors.New("edn: incomplete input")

// Byte classes.
const (
	cSpace = 1 << iota // whitespace: space, \t, \n, \v, \f, \r and the comma
	cDelim             // ends a token: whitespace, ()[]{}", ; and \
	cSym               // ASCII constituent of a symbol or keyword part (not /)
	cDigit             // 0-9
)

var class = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\v\f\r,") {
		t[c] |= cSpace | cDelim
	}
	for _, c := range []byte("()[]{}\";\\") {
		t[c] |= cDelim
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cSym
		t[c-'a'+'A'] |= cSym
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= cSym | cDigit
	}
	// The EDN spec's symbol characters; : and # only after the first.
	for _, c := range []byte(".*+!-_?$%&=<>:#") {
		t[c] |= cSym
	}
	return t
}()

type frameKind uint8

const (
	frameList frameKind = iota + 1
	frameVector
	frameMap
	frameSet
	frameTag
	frameDiscard
)

var frameNames = [...]string{frameList: "list", frameVector: "vector", frameMap: "map", frameSet: "set"}
var frameClosers = [...]byte{frameList: ')', frameVector: ']', frameMap: '}', frameSet: '}'}

type frame struct {
	kind  frameKind
	start int    // len(vals) when the frame opened: its elements are vals[start:]
	off   int    // offset of the opening delimiter, or of the # of a tag, #_ or #{
	tag   Symbol // frameTag: the tag
	ns    string // frameMap: the namespace of #:ns{...}, else ""
}

// maxIntern bounds the keywords and symbols a parser state remembers.
const maxIntern = 4096

// parser is the state of one read. It belongs to one goroutine; Parse and
// ParseAll take one from statePool, a Decoder owns one.
type parser struct {
	cfg  *Parser
	data []byte
	pos  int
	eof  bool // data ends the input; else more may follow (Decoder)

	// Position of data[0], for errors: a Decoder drops what it has read.
	baseOffset int64
	baseLine   int
	baseCol    int

	vals     []any // elements of the open collections
	offs     []int // offs[i] is the offset where vals[i] started
	frames   []frame
	discards int // frameDiscard frames on the stack

	valueStart int // offset of the first byte of the top-level value being read

	// intern maps the text of a keyword or symbol to its boxed value, so a
	// repeated attribute (:person/name in every map of a transaction)
	// allocates once. Values are immutable, so sharing them across reads
	// and goroutines is safe.
	intern  map[string]any
	seen    map[uint64]int // scratch for duplicate checks of large sets and maps
	scratch []byte         // scratch for strings with escapes
}

var statePool = sync.Pool{New: func() any { return new(parser) }}

func (p *Parser) state(data []byte) *parser {
	st := statePool.Get().(*parser)
	st.cfg = p
	st.data = data
	st.pos = 0
	st.eof = true
	st.baseOffset, st.baseLine, st.baseCol = 0, 1, 1
	return st
}

func (st *parser) release() {
	st.data, st.cfg = nil, nil
	if cap(st.vals) > 1<<16 || cap(st.frames) > 1<<12 || cap(st.scratch) > 1<<16 {
		st.vals, st.offs, st.frames, st.scratch = nil, nil, nil, nil
	} else {
		clear(st.vals[:cap(st.vals)]) // no pooled references to the values read
		clear(st.frames[:cap(st.frames)])
	}
	statePool.Put(st)
}

func (st *parser) checkSize() error {
	if len(st.data) > st.cfg.maxInput {
		return st.errorf(st.cfg.maxInput, "input of %d bytes exceeds the MaxInputBytes limit of %d", len(st.data), st.cfg.maxInput)
	}
	return nil
}

// next reads one value from st.pos: io.EOF if only whitespace and comments
// remain, errIncomplete if the data ends inside a value and more may follow.
func (st *parser) next() (any, error) {
	st.vals = st.vals[:0]
	st.offs = st.offs[:0]
	st.frames = st.frames[:0]
	st.discards = 0
	return st.run()
}

// run is the reader's loop. It may be called again after errIncomplete, once
// more data is appended, and continues where it stopped.
func (st *parser) run() (any, error) {
	for {
		more, err := st.skipSpace()
		if err != nil {
			return nil, err
		}
		if !more {
			if len(st.frames) == 0 {
				return nil, io.EOF
			}
			return nil, st.unterminated()
		}
		start := st.pos
		if len(st.frames) == 0 {
			st.valueStart = start
		}
		voff := start
		c := st.data[start]
		var v any
		switch {
		case c == '(':
			if err := st.push(frameList, start); err != nil {
				return nil, err
			}
			st.pos++
			continue
		case c == '[':
			if err := st.push(frameVector, start); err != nil {
				return nil, err
			}
			st.pos++
			continue
		case c == '{':
			if err := st.push(frameMap, start); err != nil {
				return nil, err
			}
			st.pos++
			continue
		case c == ')' || c == ']' || c == '}':
			v, voff, err = st.close(c, start)
		case c == '"':
			v, err = st.readString(start)
		case c == ':':
			v, err = st.readKeyword(start)
		case c == '\\':
			v, err = st.readChar(start)
		case c == '#':
			var pushed bool
			v, pushed, err = st.readDispatch(start)
			if err == nil && pushed {
				continue
			}
		case class[c]&cDigit != 0 || (c == '+' || c == '-') && start+1 < len(st.data) && class[st.data[start+1]]&cDigit != 0:
			v, err = st.readNumber(start)
		default:
			v, err = st.readSymbol(start)
		}
		if err != nil {
			if err == errIncomplete {
				st.pos = start
			}
			return nil, err
		}
		// Deliver v to the innermost frame: a discard drops it, a tag
		// transforms it and delivers the result further out.
		for {
			n := len(st.frames)
			if n == 0 {
				return v, nil
			}
			f := &st.frames[n-1]
			if f.kind == frameDiscard {
				st.frames = st.frames[:n-1]
				st.discards--
				break
			}
			if f.kind == frameTag {
				tag, off := f.tag, f.off
				st.frames = st.frames[:n-1]
				if v, err = st.applyTag(tag, off, v); err != nil {
					return nil, err
				}
				voff = off
				continue
			}
			st.vals = append(st.vals, v)
			st.offs = append(st.offs, voff)
			break
		}
	}
}

// skipSpace skips whitespace, commas and comments. It reports whether a byte
// follows; at the end of data it returns errIncomplete unless st.eof.
func (st *parser) skipSpace() (bool, error) {
	d := st.data
	i := st.pos
	for i < len(d) {
		c := d[i]
		if class[c]&cSpace != 0 {
			i++
			continue
		}
		if c == ';' {
			j := bytes.IndexByte(d[i:], '\n')
			if j < 0 {
				if !st.eof {
					st.pos = i // resume at the comment: its end is not here yet
					return false, errIncomplete
				}
				i = len(d)
				break
			}
			i += j + 1
			continue
		}
		st.pos = i
		return true, nil
	}
	st.pos = i
	if !st.eof {
		return false, errIncomplete
	}
	return false, nil
}

func (st *parser) push(k frameKind, off int) error {
	if len(st.frames) >= st.cfg.maxDepth {
		return st.errorf(off, "nesting deeper than the MaxDepth limit of %d", st.cfg.maxDepth)
	}
	st.frames = append(st.frames, frame{kind: k, start: len(st.vals), off: off})
	return nil
}

// unterminated reports the end of the input inside the innermost frame.
func (st *parser) unterminated() error {
	f := &st.frames[len(st.frames)-1]
	switch f.kind {
	case frameTag:
		return st.errorf(len(st.data), "expected a value after the tag #%s at %s, got end of input", f.tag, st.at(f.off))
	case frameDiscard:
		return st.errorf(len(st.data), "expected a value after #_ at %s, got end of input", st.at(f.off))
	}
	return st.errorf(len(st.data), "unterminated %s starting at %s: expected %q", frameNames[f.kind], st.at(f.off), frameClosers[f.kind])
}

// close ends the innermost collection at the closing delimiter c at off and
// returns it with the offset where it opened.
func (st *parser) close(c byte, off int) (any, int, error) {
	n := len(st.frames)
	if n == 0 {
		return nil, 0, st.errorf(off, "unmatched %q: no list, vector, map or set is open", c)
	}
	f := &st.frames[n-1]
	switch f.kind {
	case frameTag:
		return nil, 0, st.errorf(off, "expected a value after the tag #%s at %s, got %q", f.tag, st.at(f.off), c)
	case frameDiscard:
		return nil, 0, st.errorf(off, "expected a value after #_ at %s, got %q", st.at(f.off), c)
	}
	if want := frameClosers[f.kind]; c != want {
		return nil, 0, st.errorf(off, "unexpected %q: expected %q to close the %s starting at %s", c, want, frameNames[f.kind], st.at(f.off))
	}
	elems := st.vals[f.start:]
	offs := st.offs[f.start:]
	var v any
	switch f.kind {
	case frameList:
		v = List(cloneValues(elems))
	case frameVector:
		v = Vector(cloneValues(elems))
	case frameSet:
		if i, j, dup := st.duplicate(elems, 1); dup {
			return nil, 0, st.errorf(offs[i], "duplicate element %s in the set starting at %s (first at %s)", describeValue(elems[i]), st.at(f.off), st.at(offs[j]))
		}
		v = Set(cloneValues(elems))
	case frameMap:
		if len(elems)%2 != 0 {
			return nil, 0, st.errorf(off, "the map starting at %s has a key without a value: expected an even number of forms, got %d", st.at(f.off), len(elems))
		}
		if f.ns != "" {
			for i := 0; i < len(elems); i += 2 {
				elems[i] = qualify(elems[i], f.ns)
			}
		}
		if i, j, dup := st.duplicate(elems, 2); dup {
			return nil, 0, st.errorf(offs[i], "duplicate key %s in the map starting at %s (first at %s)", describeValue(elems[i]), st.at(f.off), st.at(offs[j]))
		}
		m := make(Map, len(elems)/2)
		for i := range m {
			m[i] = Entry{Key: elems[2*i], Value: elems[2*i+1]}
		}
		v = m
	}
	st.vals = st.vals[:f.start]
	st.offs = st.offs[:f.start]
	opened := f.off
	st.frames = st.frames[:n-1]
	st.pos = off + 1
	return v, opened, nil
}

func cloneValues(s []any) []any {
	out := make([]any, len(s))
	copy(out, s)
	return out
}

// qualify applies the namespace of #:ns{...} to a key, as Clojure does: an
// unqualified keyword or symbol takes ns, the namespace _ is removed, other
// keys stay as they are.
func qualify(k any, ns string) any {
	switch x := k.(type) {
	case Keyword:
		x.Namespace = qualifiedNS(x.Namespace, ns)
		return x
	case Symbol:
		x.Namespace = qualifiedNS(x.Namespace, ns)
		return x
	}
	return k
}

// qualifiedNS is the namespace a key with namespace cur takes in #:ns{…}.
func qualifiedNS(cur, ns string) string {
	switch cur {
	case "":
		return ns
	case "_":
		return ""
	}
	return cur
}

// duplicate finds two Equal values among elems[0], elems[stride], ...: it
// returns the later one's index i and the earlier one's j.
func (st *parser) duplicate(elems []any, stride int) (i, j int, dup bool) {
	n := len(elems) / stride
	if n <= 8 {
		return duplicateSmall(elems, stride)
	}
	if st.seen == nil {
		st.seen = make(map[uint64]int, n)
	} else {
		clear(st.seen)
	}
	return duplicateHashed(elems, stride, st.seen)
}

// duplicateSmall compares every pair; for the handful of keys of a
// transaction map that is cheaper than hashing. Keywords, by far the most
// common keys, are compared without Equal's type switch.
func duplicateSmall(elems []any, stride int) (int, int, bool) {
	for i := stride; i < len(elems); i += stride {
		if ki, ok := elems[i].(Keyword); ok {
			for j := 0; j < i; j += stride {
				if kj, ok := elems[j].(Keyword); ok && ki == kj {
					return i, j, true
				}
			}
			continue
		}
		for j := 0; j < i; j += stride {
			if Equal(elems[i], elems[j]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

func duplicateHashed(elems []any, stride int, seen map[uint64]int) (int, int, bool) {
	for i := 0; i < len(elems); i += stride {
		h := hash(elems[i])
		j, ok := seen[h]
		if !ok {
			seen[h] = i
			continue
		}
		if Equal(elems[i], elems[j]) {
			return i, j, true
		}
		for j := 0; j < i; j += stride { // a hash collision: rare, check them all
			if Equal(elems[i], elems[j]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// tokenEnd returns the end of the token starting at i: the next delimiter or
// the end of data, which is errIncomplete when more may follow.
func (st *parser) tokenEnd(i int) (int, error) {
	d := st.data
	for i < len(d) && class[d[i]]&cDelim == 0 {
		i++
	}
	if i == len(d) && !st.eof {
		return i, errIncomplete
	}
	return i, nil
}

func (st *parser) readSymbol(start int) (any, error) {
	end, err := st.tokenEnd(start)
	if err != nil {
		return nil, err
	}
	tok := st.data[start:end]
	st.pos = end
	switch string(tok) {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if v, ok := st.intern[string(tok)]; ok {
		return v, nil
	}
	if c := tok[0]; c < utf8.RuneSelf && class[c]&cSym == 0 && c != '/' {
		// A byte that starts no value: @, ^, `, ~, ', a control character.
		return nil, st.errorf(start, "unexpected %q: expected a value", c)
	}
	slash, msg := checkName(tok, false)
	if msg != "" {
		return nil, st.errorf(start, "invalid symbol %s: %s", quoteToken(tok), msg)
	}
	s := string(tok)
	var v any
	if slash < 0 {
		v = Symbol{Name: s}
	} else {
		v = Symbol{Namespace: s[:slash], Name: s[slash+1:]}
	}
	st.remember(s, v)
	return v, nil
}

func (st *parser) remember(s string, v any) {
	if st.intern == nil {
		st.intern = make(map[string]any, 64)
	}
	if len(st.intern) < maxIntern {
		st.intern[s] = v
	}
}

func (st *parser) readKeyword(start int) (any, error) {
	end, err := st.tokenEnd(start)
	if err != nil {
		return nil, err
	}
	tok := st.data[start:end] // with the colon: symbols never start with one
	st.pos = end
	if v, ok := st.intern[string(tok)]; ok {
		return v, nil
	}
	if len(tok) > 1 && tok[1] == ':' {
		return nil, st.errorf(start, "auto-resolved keyword %s is not EDN: expected :name or :namespace/name", quoteToken(tok))
	}
	slash, msg := checkName(tok[1:], true)
	if msg != "" {
		return nil, st.errorf(start, "invalid keyword %s: %s", quoteToken(tok), msg)
	}
	s := string(tok)
	var v any
	if slash < 0 {
		v = Keyword{Name: s[1:]}
	} else {
		v = Keyword{Namespace: s[1 : 1+slash], Name: s[2+slash:]}
	}
	st.remember(s, v)
	return v, nil
}

// checkName validates the text of a symbol, or of a keyword without its
// colon, and returns the index of the / that separates namespace and name (or
// -1), or a message saying what is wrong. The rules are the EDN spec's: parts
// of letters, digits and .*+!-_?$%&=<>:# (: and # not first), a / only
// between namespace and name or alone, and for symbols no digit first nor
// after a leading + - or . (that would be a number, or is reserved: .5).
// Keywords may start a part with a digit, as Clojure reads :1 and Datomic
// data may hold such keywords. Non-ASCII letters, marks, symbols are allowed.
func checkName(tok []byte, keyword bool) (int, string) {
	if len(tok) == 1 && tok[0] == '/' {
		if keyword {
			return -1, "a keyword's name cannot be /"
		}
		return -1, ""
	}
	slash := bytes.IndexByte(tok, '/')
	if slash < 0 {
		return -1, checkPart(tok, keyword)
	}
	if msg := checkPart(tok[:slash], keyword); msg != "" {
		if slash == 0 {
			return -1, "empty namespace before /"
		}
		return -1, msg
	}
	name := tok[slash+1:]
	if len(name) == 1 && name[0] == '/' && !keyword { // clojure.core//
		return slash, ""
	}
	if len(name) == 0 {
		return -1, "empty name after /"
	}
	if bytes.IndexByte(name, '/') >= 0 {
		return -1, "more than one /"
	}
	return slash, checkPart(name, keyword)
}

func checkPart(b []byte, keyword bool) string {
	if len(b) == 0 {
		return "empty name"
	}
	switch c := b[0]; {
	case c == ':' || c == '#':
		return fmt.Sprintf("a name cannot start with %q", c)
	case keyword:
	case class[c]&cDigit != 0:
		return "a symbol cannot start with a digit"
	case (c == '+' || c == '-' || c == '.') && len(b) > 1 && class[b[1]]&cDigit != 0:
		return fmt.Sprintf("a symbol cannot start with %c followed by a digit", c)
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if class[c]&cSym == 0 {
				return fmt.Sprintf("invalid character %q", c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return "invalid UTF-8"
		}
		if !isNameRune(r) {
			return fmt.Sprintf("invalid character %q", r)
		}
		i += size
	}
	return ""
}

// checkTag validates a tag symbol: a valid symbol whose first character is an
// ASCII letter, as the EDN spec requires.
func checkTag(tag Symbol) string {
	s := tag.String()
	if s == "" || !isAlpha(s[0]) {
		return "a tag must start with a letter"
	}
	if tag.Namespace == "" && bytes.IndexByte([]byte(tag.Name), '/') >= 0 || tag.Name == "/" {
		return "invalid tag"
	}
	_, msg := checkName([]byte(s), false)
	return msg
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func (st *parser) readDispatch(start int) (any, bool, error) {
	d := st.data
	if start+1 >= len(d) {
		if !st.eof {
			return nil, false, errIncomplete
		}
		return nil, false, st.errorf(start, "unexpected end of input after #: expected {, _, :, ## or a tag")
	}
	switch c := d[start+1]; {
	case c == '{':
		if err := st.push(frameSet, start); err != nil {
			return nil, false, err
		}
		st.pos = start + 2
		return nil, true, nil
	case c == '_':
		if err := st.push(frameDiscard, start); err != nil {
			return nil, false, err
		}
		st.discards++
		st.pos = start + 2
		return nil, true, nil
	case c == '#':
		end, err := st.tokenEnd(start + 2)
		if err != nil {
			return nil, false, err
		}
		st.pos = end
		switch string(d[start+2 : end]) {
		case "NaN":
			return math.NaN(), false, nil
		case "Inf":
			return math.Inf(1), false, nil
		case "-Inf":
			return math.Inf(-1), false, nil
		}
		return nil, false, st.errorf(start, "unknown symbolic value %s: expected ##Inf, ##-Inf or ##NaN", quoteToken(d[start:end]))
	case c == ':':
		end, err := st.tokenEnd(start + 2)
		if err != nil {
			return nil, false, err
		}
		ns := d[start+2 : end]
		if len(ns) > 0 && ns[0] == ':' {
			return nil, false, st.errorf(start, "auto-resolved namespaced map #:: is not EDN: expected #:namespace{...}")
		}
		if len(ns) == 0 {
			return nil, false, st.errorf(start, "expected a namespace after #:")
		}
		if msg := checkPart(ns, false); msg != "" {
			if bytes.IndexByte(ns, '/') >= 0 {
				msg = "a namespace cannot contain /"
			}
			return nil, false, st.errorf(start+2, "invalid namespace %s in #:%s{...}: %s", quoteToken(ns), ns, msg)
		}
		st.pos = end
		more, err := st.skipSpace()
		if err != nil {
			return nil, false, err
		}
		if !more || d[st.pos] != '{' {
			if _, err := st.tokenEnd(st.pos); err != nil { // describe a whole token
				return nil, false, err
			}
			return nil, false, st.errorf(st.pos, "expected { after #:%s, got %s", ns, st.describe(st.pos))
		}
		if err := st.push(frameMap, start); err != nil {
			return nil, false, err
		}
		st.frames[len(st.frames)-1].ns = string(ns)
		st.pos++
		return nil, true, nil
	case isAlpha(c):
		end, err := st.tokenEnd(start + 1)
		if err != nil {
			return nil, false, err
		}
		tok := d[start+1 : end]
		slash, msg := checkName(tok, false)
		if msg != "" {
			return nil, false, st.errorf(start, "invalid tag %s: %s", quoteToken(d[start:end]), msg)
		}
		var tag Symbol
		if s := string(tok); slash < 0 {
			tag.Name = s
		} else {
			tag.Namespace, tag.Name = s[:slash], s[slash+1:]
		}
		if err := st.push(frameTag, start); err != nil {
			return nil, false, err
		}
		st.frames[len(st.frames)-1].tag = tag
		st.pos = end
		return nil, true, nil
	case c == '"':
		return nil, false, st.errorf(start, "regular expressions #\"...\" are not EDN")
	case c == '(':
		return nil, false, st.errorf(start, "function literals #(...) are not EDN")
	default:
		if _, err := st.tokenEnd(start + 1); err != nil { // describe a whole token
			return nil, false, err
		}
		return nil, false, st.errorf(start, "unexpected %s after #: expected {, _, :, ## or a tag starting with a letter", st.describe(start+1))
	}
}

var (
	tagInst = Symbol{Name: "inst"}
	tagUUID = Symbol{Name: "uuid"}
)

func (st *parser) applyTag(tag Symbol, off int, v any) (any, error) {
	if st.discards > 0 {
		// The value will be dropped: check syntax only, call no handler.
		return Tagged{Tag: tag, Value: v}, nil
	}
	if h, ok := st.cfg.tags[tag]; ok {
		out, err := h(v)
		if err != nil {
			e := st.errorf(off, "#%s: %v", tag, err)
			e.Err = err
			return nil, e
		}
		return out, nil
	}
	switch tag {
	case tagInst:
		s, ok := v.(string)
		if !ok {
			return nil, st.errorf(off, "#inst expects a string, got %s", describeValue(v))
		}
		t, msg := parseInst(s)
		if msg != "" {
			return nil, st.errorf(off, "invalid #inst %q: %s", s, msg)
		}
		return t, nil
	case tagUUID:
		s, ok := v.(string)
		if !ok {
			return nil, st.errorf(off, "#uuid expects a string, got %s", describeValue(v))
		}
		u, ok := parseUUID(s)
		if !ok {
			return nil, st.errorf(off, "invalid #uuid %q: expected 8-4-4-4-12 hex digits", s)
		}
		return u, nil
	}
	return Tagged{Tag: tag, Value: v}, nil
}

// errorf returns a *SyntaxError at offset off of st.data.
func (st *parser) errorf(off int, format string, args ...any) *SyntaxError {
	line, col, abs := st.position(off)
	return &SyntaxError{Line: line, Column: col, Offset: abs, Msg: fmt.Sprintf(format, args...)}
}

// position converts an offset in st.data to a line, a column in runes and an
// offset in the whole input. It scans the data and runs only for errors.
func (st *parser) position(off int) (line, col int, abs int64) {
	off = min(max(off, 0), len(st.data))
	d := st.data[:off]
	abs = st.baseOffset + int64(off)
	nl := bytes.Count(d, []byte{'\n'})
	if nl == 0 {
		return st.baseLine, st.baseCol + utf8.RuneCount(d), abs
	}
	last := bytes.LastIndexByte(d, '\n')
	return st.baseLine + nl, 1 + utf8.RuneCount(d[last+1:]), abs
}

// at describes an offset for a message: "line 3, column 5".
func (st *parser) at(off int) string {
	line, col, _ := st.position(off)
	return fmt.Sprintf("line %d, column %d", line, col)
}

// describe names what is at off for a message: "end of input", "')'" or the
// token there.
func (st *parser) describe(off int) string {
	d := st.data
	if off >= len(d) {
		return "end of input"
	}
	if class[d[off]]&cDelim != 0 {
		return fmt.Sprintf("%q", d[off])
	}
	end := off
	for end < len(d) && class[d[end]]&cDelim == 0 {
		end++
	}
	if end == off+1 || !utf8.FullRune(d[off:end]) {
		r, _ := utf8.DecodeRune(d[off:])
		if r == utf8.RuneError {
			return fmt.Sprintf("byte %#02x", d[off])
		}
	}
	return quoteToken(d[off:end])
}

// quoteToken quotes input text for a message, cut short if long.
func quoteToken(b []byte) string {
	const maxLen = 64
	if len(b) > maxLen {
		return fmt.Sprintf("%q…", b[:maxLen])
	}
	return fmt.Sprintf("%q", b)
}

// describeValue names a value for a message: its EDN text, cut short.
func describeValue(v any) string {
	b, err := AppendEDN(nil, v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	const maxLen = 64
	if len(b) > maxLen {
		return string(b[:maxLen]) + "…"
	}
	return string(b)
}
