package chart

import (
	"image"
	"image/color"
	"math"
)

// The labels' size and room in a Plot, in pixels.
const (
	// LabelScale is the scale of a Plot's text: font pixels 2×2, glyphs
	// 10×14.
	LabelScale = 2
	// labelPad keeps tick labels off the image's edge.
	labelPad = 4
)

// LineHeight is the distance from one line of text at scale to the next:
// the glyphs, their descenders and a gap of 8 pixels.
func LineHeight(scale int) int { return TextHeight(scale) + Descent(scale) + 8 }

// Tick is a labelled value on an axis.
type Tick struct {
	V     float64
	Label string
}

// Plot maps data coordinates into a panel of an image and draws its
// frame, lines and legend. X0 < X1 and Y0 < Y1 are the data at the
// panel's edges; with LogX the x axis is logarithmic (X0 must be
// positive), and x values are still given as data, not logarithms.
type Plot struct {
	Img  *image.RGBA
	Area image.Rectangle
	X0   float64
	X1   float64
	Y0   float64
	Y1   float64
	LogX bool
	// XTicks and YTicks get a grid line and a label each.
	XTicks []Tick
	YTicks []Tick
	// Title goes above the panel, XName under the x axis's labels, at
	// the right.
	Title string
	XName string
}

// Px is the pixel of (x, y). A value outside the axes maps outside the
// panel; on a logarithmic axis a value at or below 0 maps to -Inf's side.
func (p *Plot) Px(x, y float64) (int, int) {
	var fx float64
	if p.LogX {
		fx = (math.Log10(x) - math.Log10(p.X0)) / (math.Log10(p.X1) - math.Log10(p.X0))
	} else {
		fx = (x - p.X0) / (p.X1 - p.X0)
	}
	fy := (y - p.Y0) / (p.Y1 - p.Y0)
	return p.Area.Min.X + int(math.Round(fx*float64(p.Area.Dx()))), p.Area.Max.Y - int(math.Round(fy*float64(p.Area.Dy())))
}

// Frame draws the grid, the axes, the ticks' labels, the title and the x
// axis's name.
func (p *Plot) Frame() {
	a := p.Area
	for _, t := range p.YTicks {
		_, y := p.Px(p.X0, t.V)
		FillRect(p.Img, a.Min.X, y, a.Dx(), 1, Grid)
		w := TextWidth(t.Label, LabelScale)
		Text(p.Img, a.Min.X-10-w, y-TextHeight(LabelScale)/2, t.Label, Ink, LabelScale)
	}
	for _, t := range p.XTicks {
		x, _ := p.Px(t.V, p.Y0)
		FillRect(p.Img, x, a.Min.Y, 1, a.Dy(), Grid)
		FillRect(p.Img, x, a.Max.Y, 1, 6, Axis)
		w := TextWidth(t.Label, LabelScale)
		lx := min(max(x-w/2, labelPad), p.Img.Bounds().Dx()-labelPad-w)
		Text(p.Img, lx, a.Max.Y+10, t.Label, Ink, LabelScale)
	}
	FillRect(p.Img, a.Min.X, a.Min.Y, 2, a.Dy()+1, Axis)
	FillRect(p.Img, a.Min.X, a.Max.Y, a.Dx()+1, 2, Axis)
	Text(p.Img, a.Min.X, a.Min.Y-TextHeight(LabelScale)-10, p.Title, Ink, LabelScale)
	w := TextWidth(p.XName, LabelScale)
	Text(p.Img, a.Max.X-w, a.Max.Y+10+LineHeight(LabelScale), p.XName, Axis, LabelScale)
}

// Polyline draws the points in order, thick pixels wide; a NaN y breaks
// the line, and a y above Y1 is drawn at Y1.
func (p *Plot) Polyline(xs, ys []float64, c color.RGBA, thick int) {
	havePrev := false
	var px0, py0 int
	for i := range xs {
		if math.IsNaN(ys[i]) {
			havePrev = false
			continue
		}
		x, y := p.Px(xs[i], min(ys[i], p.Y1))
		if havePrev {
			Line(p.Img, px0, py0, x, y, c, thick)
		} else {
			FillRect(p.Img, x-thick/2, y-thick/2, thick, thick, c)
		}
		px0, py0, havePrev = x, y, true
	}
}

// Legend draws a swatch and a name per entry, right-aligned at the top of
// the panel, under note if there is one.
func (p *Plot) Legend(names []string, colors []color.RGBA, note string) {
	y := p.Area.Min.Y + 8
	right := p.Area.Max.X - 8
	step := TextHeight(LabelScale) + Descent(LabelScale) + 6
	if note != "" {
		w := TextWidth(note, LabelScale)
		Text(p.Img, right-w, y, note, Axis, LabelScale)
		y += step
	}
	for i, n := range names {
		w := TextWidth(n, LabelScale)
		Text(p.Img, right-w, y, n, Ink, LabelScale)
		FillRect(p.Img, right-w-34, y+TextHeight(LabelScale)/2-2, 26, 5, colors[i])
		y += step
	}
}

// LinearTicks returns an axis from 0 to top, a round number at or above
// hi, and about n ticks from 0 to top at round steps (1, 2 or 5 times a
// power of ten), labelled by label. A hi that is not positive is taken
// as 1.
func LinearTicks(hi float64, n int, label func(float64) string) (top float64, ticks []Tick) {
	if !(hi > 0) {
		hi = 1
	}
	n = max(n, 1)
	raw := hi / float64(n)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	top = math.Ceil(hi/step-1e-9) * step
	for i := 0; float64(i)*step <= top+step/2; i++ {
		v := float64(i) * step
		ticks = append(ticks, Tick{v, label(v)})
	}
	return top, ticks
}

// LogTicks returns ticks from lo to hi (both positive) for a logarithmic
// axis: each power of ten, and 2 and 5 times each when the axis spans
// less than three decades, labelled by label.
func LogTicks(lo, hi float64, label func(float64) string) []Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	mults := []float64{1}
	if hi/lo < 1000 {
		mults = []float64{1, 2, 5}
	}
	const eps = 1e-9
	var ticks []Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range mults {
			v := m * math.Pow(10, e)
			if v >= lo*(1-eps) && v <= hi*(1+eps) {
				ticks = append(ticks, Tick{v, label(v)})
			}
		}
	}
	return ticks
}
