package chart

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// BarsWidth is the width of a Bars image in pixels; its height follows
// from the number of groups and series.
const BarsWidth = 1200

// The layout of a Bars image, in pixels.
const (
	barsMargin    = 30
	barsTitleTop  = 14
	barH          = 16 // a bar's thickness
	barGap        = 6  // between the bars of a group
	groupPadTop   = 8
	groupPadBelow = 14
	valuePad      = 8 // from a bar's end to its values
	swatchW       = 26
)

// Bars is a horizontal bar chart on a logarithmic value axis: a group of
// bars per category (a row of a table), in each group a bar per series,
// and each bar in segments from the axis out, one per value: the first
// in the series' colour, each further one lighter (p50, then p99 beyond
// it). The values, formatted, are written past each bar's end.
type Bars struct {
	// Title is the lines above the chart; a long one is wrapped.
	Title []string
	// Series names and colours the bars of each group, in order.
	Series []BarSeries
	// Segments names a bar's values, in order: "p50", "p99".
	Segments []string
	Groups   []BarGroup
	// AxisName is written under the value axis.
	AxisName string
	// Tick labels a tick of the value axis; Value formats a bar's values.
	Tick  func(v float64) string
	Value func(v float64) string
}

// BarSeries is one bar of each group.
type BarSeries struct {
	Name  string
	Color color.RGBA
}

// BarGroup is one category: its label and, per series, the bar's values
// (one per segment). A value of 0 is not measured; a series whose values
// are all 0, or missing, draws "<series>: no data" in place of its bar.
type BarGroup struct {
	Label  string
	Values [][]float64
}

// WritePNG draws the chart as a PNG to w.
func (b *Bars) WritePNG(w io.Writer) error {
	img, err := b.Image()
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// check rejects a chart that cannot be drawn.
func (b *Bars) check() error {
	switch {
	case len(b.Series) == 0:
		return errors.New("bar chart: no series")
	case len(b.Segments) == 0:
		return errors.New("bar chart: no segments")
	case len(b.Groups) == 0:
		return errors.New("bar chart: no groups")
	case b.Tick == nil || b.Value == nil:
		return errors.New("bar chart: no Tick or Value format")
	}
	for i, g := range b.Groups {
		if len(g.Values) > len(b.Series) {
			return fmt.Errorf("bar chart: group %d (%s): %d series of values, the chart has %d", i+1, g.Label, len(g.Values), len(b.Series))
		}
		for s, vs := range g.Values {
			if len(vs) > len(b.Segments) {
				return fmt.Errorf("bar chart: group %d (%s), %s: %d values, the chart has %d segments", i+1, g.Label, b.Series[s].Name, len(vs), len(b.Segments))
			}
			for _, v := range vs {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("bar chart: group %d (%s), %s: a value of %v", i+1, g.Label, b.Series[s].Name, v)
				}
			}
		}
	}
	return nil
}

// groupHeight is the height of a group: its label, then its bars.
func (b *Bars) groupHeight() int {
	return groupPadTop + LineHeight(LabelScale) + len(b.Series)*(barH+barGap) - barGap + groupPadBelow
}

// legendItem is one entry of the legend: a series at a segment.
type legendItem struct {
	name string
	c    color.RGBA
	x, y int
}

// legend lays the legend out in rows from (x, y) within width, and
// returns its items and the y under it.
func (b *Bars) legend(x, y, width int) ([]legendItem, int) {
	var items []legendItem
	cx := x
	for _, s := range b.Series {
		for k, seg := range b.Segments {
			name := strings.TrimSpace(s.Name + " " + seg)
			w := swatchW + 8 + TextWidth(name, LabelScale)
			if cx > x && cx+w > x+width {
				cx, y = x, y+LineHeight(LabelScale)
			}
			items = append(items, legendItem{name, segmentColor(s.Color, k), cx, y})
			cx += w + 28
		}
	}
	return items, y + LineHeight(LabelScale)
}

// segmentColor is the colour of segment k of a bar of colour c.
func segmentColor(c color.RGBA, k int) color.RGBA {
	for range k {
		c = Lighter(c)
	}
	return c
}

// label formats a bar's values: "192 ns / 1.63 µs", "-" for one not
// measured.
func (b *Bars) label(vs []float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = "-"
		if v > 0 {
			parts[i] = b.Value(v)
		}
	}
	return strings.Join(parts, " / ")
}

// noData stands in for a bar without values.
const noData = "no data"

// measured reports whether any of vs is positive.
func measured(vs []float64) bool {
	for _, v := range vs {
		if v > 0 {
			return true
		}
	}
	return false
}

// axis returns the value axis's ends: from a power of ten under the
// smallest value to where the widest bar and its values still fit in
// plotW pixels (a power of ten if one is near).
func (b *Bars) axis(plotW int) (lo, hi float64) {
	vMin, vMax := math.Inf(1), 0.0
	for _, g := range b.Groups {
		for _, vs := range g.Values {
			for _, v := range vs {
				if v > 0 {
					vMin, vMax = min(vMin, v), max(vMax, v)
				}
			}
		}
	}
	if vMax == 0 {
		return 1, 10
	}
	loL := math.Floor(math.Log10(vMin) - 0.1)
	hiL := math.Log10(vMax) + 0.05
	P := float64(plotW)
	for _, g := range b.Groups {
		for _, vs := range g.Values {
			if !measured(vs) {
				continue
			}
			// The bar ends at its largest value, its label valuePad
			// further: (L - lo) / (hi - lo) * P + pad + w <= P.
			room := max(P-float64(valuePad+TextWidth(b.label(vs), LabelScale)), P/4)
			hiL = max(hiL, loL+(math.Log10(maxOf(vs))-loL)*P/room)
		}
	}
	if c := math.Ceil(hiL); c-hiL < 0.35 {
		hiL = c
	}
	return math.Pow(10, loL), math.Pow(10, hiL)
}

// maxOf is the largest of vs.
func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// Image draws the chart, or says why it cannot.
func (b *Bars) Image() (*image.RGBA, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	step := LineHeight(LabelScale)
	cols := (BarsWidth - 2*barsMargin) / Advance(LabelScale)
	var title []string
	for _, t := range b.Title {
		title = append(title, Wrap(t, cols, 2)...)
	}
	items, legendEnd := b.legend(barsMargin, barsTitleTop+len(title)*step+4, BarsWidth-2*barsMargin)
	top := legendEnd + 16
	gh := b.groupHeight()
	area := image.Rect(barsMargin, top, BarsWidth-barsMargin, top+len(b.Groups)*gh)
	height := area.Max.Y + 10 + 2*step + 10

	img := NewImage(BarsWidth, height)
	for i, l := range title {
		Text(img, barsMargin, barsTitleTop+i*step, l, Ink, LabelScale)
	}
	for _, it := range items {
		FillRect(img, it.x, it.y+TextHeight(LabelScale)/2-5, swatchW, 10, it.c)
		Text(img, it.x+swatchW+8, it.y, it.name, Ink, LabelScale)
	}
	lo, hi := b.axis(area.Dx())
	p := &Plot{Img: img, Area: area, X0: lo, X1: hi, Y0: 0, Y1: 1, LogX: true, XName: b.AxisName,
		XTicks: LogTicks(lo, hi, b.Tick)}
	p.Frame()
	labelCols := (area.Dx() - 24) / Advance(LabelScale)
	for i, g := range b.Groups {
		gy := area.Min.Y + i*gh
		if i > 0 {
			FillRect(img, area.Min.X, gy, area.Dx(), 1, Axis)
		}
		// The label on white over the grid.
		label := ""
		if l := Wrap(g.Label, labelCols, 1); len(l) > 0 {
			label = l[0]
		}
		ly := gy + groupPadTop
		FillRect(img, area.Min.X+4, ly-3, TextWidth(label, LabelScale)+12, TextHeight(LabelScale)+Descent(LabelScale)+6, White)
		Text(img, area.Min.X+10, ly, label, Ink, LabelScale)
		for s, series := range b.Series {
			by := ly + step + s*(barH+barGap)
			var vs []float64
			if s < len(g.Values) {
				vs = g.Values[s]
			}
			if !measured(vs) {
				Text(img, area.Min.X+10, by+(barH-TextHeight(LabelScale))/2, series.Name+": "+noData, Axis, LabelScale)
				continue
			}
			// The outer segments first, each inner one over them.
			end := area.Min.X
			for k := len(vs) - 1; k >= 0; k-- {
				if vs[k] <= 0 {
					continue
				}
				x, _ := p.Px(vs[k], 0)
				end = max(end, x)
				FillRect(img, area.Min.X+2, by, x-area.Min.X-2, barH, segmentColor(series.Color, k))
			}
			Text(img, end+valuePad, by+(barH-TextHeight(LabelScale))/2, b.label(vs), Ink, LabelScale)
		}
	}
	return img, nil
}
