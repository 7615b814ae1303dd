// Package chart draws the plots of strata's PNG reports into RGBA images,
// with nothing beyond the standard library: a 5×7 bitmap font, rectangles
// and lines, a Plot (a panel with a frame, grid, tick labels and legend on
// a linear or logarithmic x axis) and Bars (grouped horizontal bars on a
// logarithmic axis, one group per row of a table).
//
// Nothing is shared between calls: drawing into different images from
// different goroutines is safe, into one image is not.
//
//	img := chart.NewImage(400, 300)
//	p := &chart.Plot{Img: img, Area: image.Rect(60, 40, 380, 260), X0: 0, X1: 10, Y0: 0, Y1: 1}
//	p.Frame()
//	p.Polyline([]float64{0, 5, 10}, []float64{0, 1, 0.5}, chart.Blue, 2)
//	err := png.Encode(w, img)
package chart

import (
	"image"
	"image/color"
	"strings"
)

// Colours: the background, text, axes and grid, and the Okabe and Ito
// palette, which stays distinct under the common colour-vision
// deficiencies.
var (
	White = color.RGBA{255, 255, 255, 255}
	Ink   = color.RGBA{30, 30, 30, 255}
	Axis  = color.RGBA{90, 90, 90, 255}
	Grid  = color.RGBA{225, 225, 225, 255}
	// DarkGray is for a total drawn beside its parts.
	DarkGray = color.RGBA{60, 60, 60, 255}

	Blue          = color.RGBA{0, 114, 178, 255}
	BluishGreen   = color.RGBA{0, 158, 115, 255}
	Vermillion    = color.RGBA{213, 94, 0, 255}
	ReddishPurple = color.RGBA{204, 121, 167, 255}
	Orange        = color.RGBA{230, 159, 0, 255}
	SkyBlue       = color.RGBA{86, 180, 233, 255}
)

// Lighter mixes c half and half with white: a p50 under its p99.
func Lighter(c color.RGBA) color.RGBA {
	return color.RGBA{uint8((int(c.R) + 255) / 2), uint8((int(c.G) + 255) / 2), uint8((int(c.B) + 255) / 2), 255}
}

// NewImage returns a w×h image filled with White.
func NewImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	FillRect(img, 0, 0, w, h, White)
	return img
}

// FillRect fills w×h pixels from (x, y), clipped to the image.
func FillRect(img *image.RGBA, x, y, w, h int, c color.RGBA) {
	r := image.Rect(x, y, x+w, y+h).Intersect(img.Bounds())
	if r.Empty() {
		return
	}
	// The first row pixel by pixel, the others copies of it.
	first := img.PixOffset(r.Min.X, r.Min.Y)
	row := img.Pix[first : first+4*r.Dx()]
	for i := 0; i < len(row); i += 4 {
		row[i], row[i+1], row[i+2], row[i+3] = c.R, c.G, c.B, c.A
	}
	for py := r.Min.Y + 1; py < r.Max.Y; py++ {
		o := img.PixOffset(r.Min.X, py)
		copy(img.Pix[o:o+len(row)], row)
	}
}

// Line draws from (x0, y0) to (x1, y1) by Bresenham's algorithm, a
// thick×thick square at each step.
func Line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, thick int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		FillRect(img, x0-thick/2, y0-thick/2, thick, thick, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Wrap breaks s at spaces into lines of at most width characters, at most
// n of them (the last cut short with "..." if need be).
func Wrap(s string, width, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = w
		case len([]rune(cur))+1+len([]rune(w)) <= width:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > n {
		lines = lines[:n]
		lines[n-1] += " ..."
	}
	for i, l := range lines {
		if r := []rune(l); len(r) > width {
			lines[i] = string(r[:max(width-3, 0)]) + "..."
		}
	}
	return lines
}
