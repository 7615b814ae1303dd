package chart

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

// at is the colour of img at (x, y).
func at(img *image.RGBA, x, y int) color.RGBA {
	o := img.PixOffset(x, y)
	return color.RGBA{img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3]}
}

// inkBox returns the bounds of the pixels of img that are not White, and
// how many there are.
func inkBox(img *image.RGBA) (image.Rectangle, int) {
	var box image.Rectangle
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if at(img, x, y) != White {
				box = box.Union(image.Rect(x, y, x+1, y+1))
				n++
			}
		}
	}
	return box, n
}

func TestFont(t *testing.T) {
	for c := rune(' ' + 1); c < 127; c++ {
		if _, ok := glyphs[c]; !ok && c != '`' {
			t.Errorf("no glyph for %q", c)
		}
	}
	for _, c := range "µ×–" {
		if _, ok := glyphs[c]; !ok {
			t.Errorf("no glyph for %q", c)
		}
	}
	for _, g := range glyphs {
		for _, row := range g {
			if row >= 1<<glyphW {
				t.Fatalf("a glyph row is wider than %d", glyphW)
			}
		}
	}
	if w := TextWidth("99.9%", 2); w != (5*6-1)*2 {
		t.Errorf("TextWidth(99.9%%) = %d", w)
	}
	if w := TextWidth("1 µs", 2); w != (4*6-1)*2 {
		t.Errorf("TextWidth counts bytes, not characters: %d", w)
	}
}

// TestText draws glyphs and finds their ink where it should be: inside
// the text's box, as many pixels as the glyph has, scaled.
func TestText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		ink  int // '#' in the glyphs
		top  int // the first row with ink
		desc bool
	}{{"I", 3 + 5 + 3, 0, false}, {"II", 2 * 11, 0, false}, {"g", 4 + 2 + 2 + 2 + 4 + 1 + 3, 2, true}, {"\x01", 3 + 2 + 1 + 1 + 1 + 1, 0, false}} {
		img := NewImage(100, 60)
		Text(img, 10, 20, tc.s, Ink, 2)
		box, n := inkBox(img)
		if n != tc.ink*4 {
			t.Errorf("%q: %d pixels of ink, want %d", tc.s, n, tc.ink*4)
		}
		h := TextHeight(2)
		if tc.desc {
			h += Descent(2)
		}
		want := image.Rect(10, 20, 10+TextWidth(tc.s, 2), 20+h)
		if !box.In(want) || box.Min.Y != 20+2*tc.top || box.Max.Y != want.Max.Y {
			t.Errorf("%q: ink in %v, want within %v from its top to its bottom", tc.s, box, want)
		}
		if c := at(img, box.Min.X+box.Dx()/2, box.Min.Y); c != Ink && tc.s == "I" {
			t.Errorf("%q: the top of I's stem is %v", tc.s, c)
		}
	}
	// Clipped at the edges, without a panic.
	img := NewImage(20, 20)
	Text(img, -5, 15, "WW", Ink, 3)
	if _, n := inkBox(img); n == 0 {
		t.Error("text across the edge drew nothing")
	}
}

func TestFillRectAndLine(t *testing.T) {
	img := NewImage(50, 40)
	FillRect(img, 40, 30, 100, 100, Blue)
	box, n := inkBox(img)
	if box != image.Rect(40, 30, 50, 40) || n != 100 {
		t.Errorf("FillRect over the corner: ink %v, %d pixels", box, n)
	}
	img = NewImage(50, 40)
	Line(img, 2, 3, 30, 20, Vermillion, 1)
	if at(img, 2, 3) != Vermillion || at(img, 30, 20) != Vermillion {
		t.Error("a line lacks its ends")
	}
	box, n = inkBox(img)
	if box != image.Rect(2, 3, 31, 21) || n != 29 {
		t.Errorf("a 1-pixel line of 28 by 17: ink %v, %d pixels, want one a column", box, n)
	}
}

func TestWrap(t *testing.T) {
	got := Wrap("the quick brown fox jumps over the lazy dog", 10, 2)
	if strings.Join(got, "|") != "the quick|brown f..." {
		t.Errorf("Wrap = %q", got)
	}
	for _, l := range got {
		if len([]rune(l)) > 10 {
			t.Errorf("line %q is longer than 10", l)
		}
	}
	if got := Wrap("1 µs or 2 µs", 12, 1); len(got) != 1 || got[0] != "1 µs or 2 µs" {
		t.Errorf("Wrap counts bytes, not characters: %q", got)
	}
}

func TestLinearTicks(t *testing.T) {
	for _, c := range []struct {
		hi   float64
		top  float64
		step float64
	}{{9.3, 10, 2}, {117, 120, 20}, {0.42, 0.5, 0.1}, {1, 1, 0.2}, {0, 1, 0.2}} {
		top, ticks := LinearTicks(c.hi, 6, func(v float64) string { return "" })
		if math.Abs(top-c.top) > 1e-9 || math.Abs(ticks[1].V-c.step) > 1e-9 || ticks[0].V != 0 || ticks[len(ticks)-1].V < c.hi {
			t.Errorf("LinearTicks(%g) = top %g, ticks %v", c.hi, top, ticks)
		}
	}
	if _, ticks := LinearTicks(3, 0, func(float64) string { return "" }); len(ticks) < 2 {
		t.Errorf("no ticks for n = 0: %v", ticks)
	}
}

func TestLogTicks(t *testing.T) {
	label := func(v float64) string { return "x" }
	ticks := LogTicks(59, 5.53e6, label)
	var vs []float64
	for _, tk := range ticks {
		vs = append(vs, tk.V)
	}
	want := []float64{100, 1e3, 1e4, 1e5, 1e6}
	if len(vs) != len(want) {
		t.Fatalf("LogTicks(59, 5.53e6) = %v, want %v", vs, want)
	}
	for i := range want {
		if math.Abs(vs[i]-want[i]) > want[i]*1e-12 || ticks[i].Label != "x" {
			t.Fatalf("LogTicks(59, 5.53e6) = %v, want %v", vs, want)
		}
	}
	// Under three decades: 1, 2 and 5 times each power, ends included.
	vs = nil
	for _, tk := range LogTicks(0.2, 50, label) {
		vs = append(vs, tk.V)
	}
	want = []float64{0.2, 0.5, 1, 2, 5, 10, 20, 50}
	if len(vs) != len(want) {
		t.Fatalf("LogTicks(0.2, 50) = %v, want %v", vs, want)
	}
	for i := range want {
		if math.Abs(vs[i]-want[i]) > want[i]*1e-12 {
			t.Fatalf("LogTicks(0.2, 50) = %v, want %v", vs, want)
		}
	}
	if LogTicks(0, 10, label) != nil || LogTicks(10, 10, label) != nil {
		t.Error("ticks for an empty or non-positive range")
	}
}

// TestPlotLog maps values on a logarithmic axis: the ends to the panel's
// edges, each decade the same width, larger values further right.
func TestPlotLog(t *testing.T) {
	p := &Plot{Img: NewImage(600, 200), Area: image.Rect(50, 20, 550, 180), X0: 10, X1: 1e6, Y0: 0, Y1: 1, LogX: true}
	prev := math.MinInt
	for v := 10.0; v <= 1e6; v *= 1.07 {
		x, _ := p.Px(v, 0)
		if x < prev {
			t.Fatalf("Px(%g) = %d, left of a smaller value's %d", v, x, prev)
		}
		prev = x
	}
	for _, c := range []struct {
		v float64
		x int
	}{{10, 50}, {100, 150}, {1e3, 250}, {1e6, 550}, {math.Sqrt(10) * 100, 200}} {
		if x, _ := p.Px(c.v, 0); x != c.x {
			t.Errorf("Px(%g) = %d, want %d", c.v, x, c.x)
		}
	}
	if _, y := p.Px(10, 1); y != 20 {
		t.Errorf("y = 1 at %d, want the panel's top 20", y)
	}
	// The frame's ticks land where Px says.
	p.XTicks = LogTicks(p.X0, p.X1, func(float64) string { return "" })
	p.Frame()
	for _, tk := range p.XTicks[1:] { // the first is under the y axis
		x, _ := p.Px(tk.V, 0)
		if at(p.Img, x, 100) != Grid || at(p.Img, x, 182) != Axis {
			t.Errorf("no grid line and tick mark for %g at x %d", tk.V, x)
		}
	}
}
