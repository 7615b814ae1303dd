package edn

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// gen makes random EDN values of every type the reader returns.
type gen struct {
	rng *rand.Rand
}

var (
	nameStarts = []string{"a", "b", "zz", "é", "λ", "*", "!", "_", "?", "$", "%", "&", "=", "<", ">", "-", "+", ".", "-x", "+y", ".z", "...", "Q"}
	nameRests  = []string{"", "a", "1", "-b", ".c", "?", "!", "*", "#", ":", "_", "é", "'"[:0], "99", "<>"}
)

// name returns a valid symbol name (and so a valid keyword name).
func (g *gen) name() string {
	for {
		s := nameStarts[g.rng.IntN(len(nameStarts))]
		for range g.rng.IntN(3) {
			s += nameRests[g.rng.IntN(len(nameRests))]
		}
		if checkPart([]byte(s), false) == "" {
			return s
		}
	}
}

func (g *gen) ns() string {
	if g.rng.IntN(3) == 0 {
		return ""
	}
	return g.name()
}

func (g *gen) str() string {
	const alphabet = "ab \"\\\n\t\r\b\f\x00\x1f\x7fé中😀\u2028;,#{}[]()"
	r := []rune(alphabet)
	var b strings.Builder
	for range g.rng.IntN(12) {
		b.WriteRune(r[g.rng.IntN(len(r))])
	}
	return b.String()
}

func (g *gen) scalar() any {
	switch g.rng.IntN(20) {
	case 0:
		return nil
	case 1:
		return g.rng.IntN(2) == 0
	case 2:
		return g.str()
	case 3:
		chars := []rune{'a', '\n', ' ', '\t', '\r', '\f', '\b', 0, '\\', '(', ',', '"', ';', 'é', 0xa0, 0x2028, '😀', 0xE0001, 'u', 'o', 0x7f}
		return Char(chars[g.rng.IntN(len(chars))])
	case 4:
		return int64(g.rng.Uint64())
	case 5:
		return int64(g.rng.IntN(2000) - 1000)
	case 6:
		b := new(big.Int).Lsh(big.NewInt(int64(g.rng.Uint64()>>1)), uint(g.rng.IntN(200)))
		if g.rng.IntN(2) == 0 {
			b.Neg(b)
		}
		return b
	case 7:
		return math.Float64frombits(g.rng.Uint64())
	case 8:
		fs := []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e-4, 9.99e-5, 1e16, 1e15, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()}
		return fs[g.rng.IntN(len(fs))]
	case 9:
		return BigDec{Unscaled: big.NewInt(g.rng.Int64N(1e12) - 5e11), Scale: int32(g.rng.IntN(40) - 20)}
	case 10:
		return big.NewRat(g.rng.Int64N(1000)-500, g.rng.Int64N(999)+1)
	case 11, 12:
		return Keyword{Namespace: g.ns(), Name: g.name()}
	case 13, 14:
		s := Symbol{Namespace: g.ns(), Name: g.name()}
		if s.Namespace == "" && (s.Name == "nil" || s.Name == "true" || s.Name == "false") {
			s.Name += "?"
		}
		return s
	case 15:
		return time.Unix(g.rng.Int64N(253402300799), g.rng.Int64N(1e9)).In(time.FixedZone("z", 3600))
	case 16:
		var u UUID
		for i := range u {
			u[i] = byte(g.rng.Uint32())
		}
		return u
	case 17:
		return Symbol{Namespace: g.ns(), Name: "/"}
	default:
		return Keyword{Namespace: "db", Name: "id"}
	}
}

func (g *gen) value(depth int) any {
	if depth <= 0 || g.rng.IntN(3) == 0 {
		return g.scalar()
	}
	n := g.rng.IntN(6)
	switch g.rng.IntN(6) {
	case 0:
		l := make(List, n)
		for i := range l {
			l[i] = g.value(depth - 1)
		}
		return l
	case 1:
		v := make(Vector, n)
		for i := range v {
			v[i] = g.value(depth - 1)
		}
		return v
	case 2:
		var s Set
		for range n * 3 { // sometimes more than 8: the hashed duplicate check
			e := g.value(depth - 1)
			if !s.Contains(e) {
				s = append(s, e)
			}
		}
		return s
	case 3:
		var m Map
		for range n * 3 {
			k := g.value(depth - 1)
			if _, dup := m.Get(k); !dup {
				m = append(m, Entry{k, g.value(depth - 1)})
			}
		}
		return m
	case 4:
		tag := Symbol{Namespace: g.ns(), Name: "t" + g.name()}
		if tag.Namespace != "" {
			tag.Namespace = "n" + tag.Namespace
		}
		return Tagged{Tag: tag, Value: g.value(depth - 1)}
	default:
		return g.scalar()
	}
}

// TestRoundTrip: Marshal then Parse gives an Equal value that prints the
// same, for random values of every type.
func TestRoundTrip(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewPCG(7, 8))}
	n := 5000
	if testing.Short() {
		n = 1000
	}
	for i := range n {
		v := g.value(4)
		text, err := Marshal(v)
		if err != nil {
			t.Fatalf("value %d: Marshal: %v", i, err)
		}
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("value %d: Parse(%s): %v", i, text, err)
		}
		if !Equal(v, back) || !Equal(back, v) {
			t.Fatalf("value %d: Parse(%s) = %#v, not Equal to %#v", i, text, back, v)
		}
		if hash(v) != hash(back) {
			t.Fatalf("value %d: hash differs after a round trip of %s", i, text)
		}
		again, err := Marshal(back)
		if err != nil || !bytes.Equal(again, text) {
			t.Fatalf("value %d: printed %s, then %s (%v)", i, text, again, err)
		}
	}
}

// TestDecoder reads a stream of values through readers that return one byte
// at a time, or data and io.EOF together, and compares with ParseAll.
func TestDecoder(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewPCG(9, 10))}
	var stream []byte
	for i := range 300 {
		text, err := Marshal(g.value(3))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, text...)
		switch i % 4 {
		case 0:
			stream = append(stream, ' ')
		case 1:
			stream = append(stream, " ; comment\n"...)
		case 2:
			stream = append(stream, "\n#_ [1 2] ,"...)
		case 3:
			stream = append(stream, '\n')
		}
	}
	want, err := ParseAll(stream)
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(stream) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
	}
	for name, r := range readers {
		d := NewDecoder(r())
		for i := 0; ; i++ {
			v, err := d.Decode()
			if err == io.EOF {
				if i != len(want) {
					t.Errorf("%s: %d values, want %d", name, i, len(want))
				}
				break
			}
			if err != nil {
				t.Fatalf("%s: value %d: %v", name, i, err)
			}
			if i >= len(want) || !Equal(v, want[i]) {
				t.Fatalf("%s: value %d = %#v, want %#v", name, i, v, want[i])
			}
		}
		if _, err := d.Decode(); err != io.EOF {
			t.Errorf("%s: Decode after the end = %v, want io.EOF", name, err)
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	// Positions count from the start of the stream.
	in := "1 [2]\n:a \"x\"\n  {:b 1 :b 2}"
	d := NewDecoder(iotest.OneByteReader(strings.NewReader(in)))
	for range 4 {
		if _, err := d.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	if off := d.InputOffset(); off != 12 {
		t.Errorf("InputOffset = %d, want 12", off)
	}
	_, err := d.Decode()
	checkSyntaxError(t, in, err, 3, 9, "duplicate key :b in the map starting at line 3, column 3 (first at line 3, column 4)")
	if _, err2 := d.Decode(); err2 != err {
		t.Errorf("second Decode = %v, want the same error", err2)
	}

	d = NewDecoder(strings.NewReader("[1 2"))
	_, err = d.Decode()
	checkSyntaxError(t, "[1 2", err, 1, 5, "unterminated vector starting at line 1, column 1: expected ']'")

	// A number at the end of the stream is complete.
	d = NewDecoder(iotest.OneByteReader(strings.NewReader("12 345")))
	for _, want := range []int64{12, 345} {
		if v, err := d.Decode(); err != nil || v != want {
			t.Fatalf("Decode = %v, %v; want %d", v, err, want)
		}
	}

	errRead := errors.New("network down")
	d = NewDecoder(io.MultiReader(strings.NewReader("1 [2"), iotest.ErrReader(errRead)))
	if v, err := d.Decode(); err != nil || v != int64(1) {
		t.Fatalf("Decode = %v, %v", v, err)
	}
	if _, err := d.Decode(); err != errRead {
		t.Fatalf("Decode = %v, want the reader's error", err)
	}

	p, _ := NewParser(Options{MaxInputBytes: 100})
	d = p.NewDecoder(strings.NewReader(strings.Repeat(" ", 1000) + "[" + strings.Repeat("1 ", 100) + "]"))
	_, err = d.Decode()
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "exceeds the MaxInputBytes limit of 100") || se.Offset != 1100 {
		t.Fatalf("Decode of a long value: %v", err)
	}
}

// TestDecoderLargeValue: a value much larger than the read size arrives in
// small pieces and is scanned once (the reader resumes).
func TestDecoderLargeValue(t *testing.T) {
	doc := txData(2000)
	want, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(iotest.HalfReader(bytes.NewReader(doc)))
	v, err := d.Decode()
	if err != nil || !Equal(v, want) {
		t.Fatalf("Decode: %v", err)
	}
}

// TestColumnsAreRunes pins the column unit.
func TestColumnsAreRunes(t *testing.T) {
	in := "[\"日本語\" @]"
	_, err := Parse([]byte(in))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	if want := utf8.RuneCountInString(in[:strings.IndexByte(in, '@')]) + 1; se.Column != want {
		t.Fatalf("column %d, want %d", se.Column, want)
	}
	if se.Offset != int64(strings.IndexByte(in, '@')) {
		t.Fatalf("offset %d", se.Offset)
	}
}
