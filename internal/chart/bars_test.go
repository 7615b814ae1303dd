package chart

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
)

// barLengths scans the rows of area for horizontal runs of c from x0,
// one per bar (a band of rows with the same run), top to bottom.
func barLengths(img *image.RGBA, area image.Rectangle, x0 int, c color.RGBA) []int {
	var out []int
	prev := 0
	for y := area.Min.Y; y < area.Max.Y; y++ {
		n := 0
		for x := x0; x < img.Bounds().Dx() && at(img, x, y) == c; x++ {
			n++
		}
		if n > 0 && n != prev {
			out = append(out, n)
		}
		prev = n
	}
	return out
}

func testBars() *Bars {
	return &Bars{
		Title:    []string{"a test chart"},
		Series:   []BarSeries{{"ours", Blue}, {"reference", Vermillion}},
		Segments: []string{"p50", "p99"},
		Groups: []BarGroup{
			{Label: "fast", Values: [][]float64{{100, 300}, {50, 80}}},
			{Label: "slower", Values: [][]float64{{1000, 5000}, {900, 2000}}},
			{Label: "slowest, no reference", Values: [][]float64{{10000, 1e6}}},
			{Label: "nothing measured", Values: [][]float64{{0, 0}, {0, 0}}},
		},
		AxisName: "latency",
		Tick:     func(v float64) string { return "t" },
		Value:    func(v float64) string { return "value" },
	}
}

// TestBars draws bars whose lengths follow the logarithms of their
// values, segment over segment, with every label inside the chart.
func TestBars(t *testing.T) {
	b := testBars()
	var buf bytes.Buffer
	if err := b.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	img := dec.(*image.RGBA)
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != BarsWidth || h < 4*b.groupHeight() || h > 4*b.groupHeight()+300 {
		t.Fatalf("a chart of 4 groups is %d×%d", w, h)
	}
	// The panel: where the left axis is.
	var area image.Rectangle
	for y := range img.Bounds().Dy() {
		if at(img, barsMargin, y) == Axis {
			area = area.Union(image.Rect(barsMargin, y, BarsWidth-barsMargin, y+1))
		}
	}
	x0 := barsMargin + 2
	// Ours at p50: 100, 1000, 10000 — a decade apart, so equal steps.
	p50 := barLengths(img, area, x0, Blue)
	if len(p50) != 3 || p50[0] <= 0 || abs((p50[1]-p50[0])-(p50[2]-p50[1])) > 2 {
		t.Fatalf("ours at p50 draws bars of %v pixels, want 3 a decade apart", p50)
	}
	// Lighter p99 segments continue them.
	if p99 := barLengths(img, area, x0+p50[0], Lighter(Blue)); len(p99) == 0 {
		t.Error("ours at p99 draws no segment past p50")
	}
	// The reference: two bars only.
	if ref := barLengths(img, area, x0, Vermillion); len(ref) != 2 || ref[0] >= ref[1] {
		t.Errorf("the reference draws bars of %v pixels, want 2 growing", ref)
	}
	// Nothing right of the panel inside it: the values' labels fit.
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Max.X + 1; x < BarsWidth; x++ {
			if c := at(img, x, y); c != White {
				t.Fatalf("ink %v at (%d, %d), right of the panel %v", c, x, y, area)
			}
		}
	}
}

func TestBarsErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Bars)
		want string
	}{
		{func(b *Bars) { b.Groups = nil }, "no groups"},
		{func(b *Bars) { b.Series = nil }, "no series"},
		{func(b *Bars) { b.Groups[1].Values = append(b.Groups[1].Values, []float64{1}) }, "group 2 (slower): 3 series"},
		{func(b *Bars) { b.Groups[0].Values[1] = []float64{1, 2, 3} }, "group 1 (fast), reference: 3 values"},
		{func(b *Bars) { b.Groups[2].Values[0][1] = math.NaN() }, "a value of NaN"},
		{func(b *Bars) { b.Value = nil }, "no Tick or Value"},
	} {
		b := testBars()
		tc.edit(b)
		if _, err := b.Image(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
	// All groups unmeasured still draws.
	b := testBars()
	b.Groups = b.Groups[3:]
	if _, err := b.Image(); err != nil {
		t.Errorf("a chart with nothing measured: %v", err)
	}
}
