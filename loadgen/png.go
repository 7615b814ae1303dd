package loadgen

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// The PNG report's size and layout, in pixels.
const (
	PNGWidth, PNGHeight = 1200, 1000

	textScale   = 2 // font pixels are 2×2: 10×14 glyphs
	marginLeft  = 100
	marginRight = 30
	panelGap    = 90
	titleTop    = 14
	// labelPad keeps tick labels off the image's edge.
	labelPad = 4
)

var (
	colWhite = color.RGBA{255, 255, 255, 255}
	colInk   = color.RGBA{30, 30, 30, 255}
	colAxis  = color.RGBA{90, 90, 90, 255}
	colGrid  = color.RGBA{225, 225, 225, 255}
	// Operation colors, colour-blind safe (Okabe and Ito), by Op; "all"
	// is dark gray.
	opColors = [numOps]color.RGBA{
		OpRead:   {0, 114, 178, 255},
		OpQuery:  {0, 158, 115, 255},
		OpWrite:  {213, 94, 0, 255},
		OpImport: {204, 121, 167, 255},
	}
	colAll = color.RGBA{60, 60, 60, 255}
)

func opColor(name string) color.RGBA {
	if op, ok := ParseOp(name); ok {
		return opColors[op]
	}
	return colAll
}

// lighter mixes c half and half with white, for p50 lines under their
// p99.
func lighter(c color.RGBA) color.RGBA {
	return color.RGBA{uint8((int(c.R) + 255) / 2), uint8((int(c.G) + 255) / 2), uint8((int(c.B) + 255) / 2), 255}
}

// WritePNG draws the report: the title, latency over time (p99 thick,
// p50 light, a line per operation, a point per second), and the
// percentile spectrum (latency by percentile, on an axis of 1/(1-p) in
// decades: 90%, 99%, 99.9%, …, as HdrHistogram plots it).
func (r *Result) WritePNG(w io.Writer) error {
	return png.Encode(w, r.Image())
}

// WritePNGFile writes the report to path.
func (r *Result) WritePNGFile(path string) error {
	return writeFile(path, r.WritePNG)
}

// Image draws the report.
func (r *Result) Image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, PNGWidth, PNGHeight))
	fillRect(img, 0, 0, PNGWidth, PNGHeight, colWhite)
	step := textHeight(textScale) + glyphDescent*textScale + 8
	title := wrap("strata loadgen: "+r.describe(), (PNGWidth-marginLeft-marginRight)/(glyphAdvance*textScale), titleLines)
	for i, l := range title {
		drawText(img, marginLeft, titleTop+i*step, l, colInk, textScale)
	}
	// A line per operation: the figures the plots show, to read exactly.
	for i, o := range r.Ops {
		drawText(img, marginLeft, titleTop+(len(title)+i)*step, r.opLine(o), opColor(o.Op), textScale)
	}
	top := titleTop + headerLines*step + 40
	panelH := (PNGHeight - top - panelGap - 60) / 2
	r.drawTimeline(img, image.Rect(marginLeft, top, PNGWidth-marginRight, top+panelH))
	top += panelH + panelGap
	r.drawSpectrum(img, image.Rect(marginLeft, top, PNGWidth-marginRight, top+panelH))
	return img
}

// headerLines is the header's room: the title and a line for each
// operation and "all".
const (
	titleLines  = 2
	headerLines = titleLines + int(numOps) + 1
)

// wrap breaks s at spaces into lines of at most width characters, at most
// n of them (the last cut short with "…" if need be).
func wrap(s string, width, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = w
		case len(cur)+1+len(w) <= width:
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
		if len(l) > width {
			lines[i] = l[:width-3] + "..."
		}
	}
	return lines
}

// describe is the run's shape in one line.
func (r *Result) describe() string {
	var b strings.Builder
	if r.Mode == "open" {
		fmt.Fprintf(&b, "open loop at %s/s", fmtCount(r.TargetRatePerSec))
	} else {
		fmt.Fprintf(&b, "closed loop of %d", r.Concurrency)
	}
	fmt.Fprintf(&b, ", %s, keys %s, %.3gs", r.Mix, r.Dist, r.MeasuredSec)
	if r.WarmupSec > 0 {
		fmt.Fprintf(&b, " after %.3gs warm-up", r.WarmupSec)
	}
	return b.String()
}

// opLine is an operation's figures in one line, in columns.
func (r *Result) opLine(o OpResult) string {
	s := fmt.Sprintf("%-6s %7s/s  p50 %-8s p99 %-8s p999 %-8s max %-8s", o.Op, fmtCount(o.RatePerSec),
		fmtMs(o.Latency.P50Ms), fmtMs(o.Latency.P99Ms), fmtMs(o.Latency.P999Ms), fmtMs(o.Latency.MaxMs))
	if n := errTotal(o.Errors); n > 0 {
		s += fmt.Sprintf(" errors %d", n)
	}
	if o.Dropped > 0 {
		s += fmt.Sprintf(" dropped %d", o.Dropped)
	}
	return s
}

func errTotal(m map[string]int64) int64 {
	var n int64
	for _, c := range m {
		n += c
	}
	return n
}

// plot maps data coordinates into a panel's pixels.
type plot struct {
	img          *image.RGBA
	area         image.Rectangle
	x0, x1       float64
	y0, y1       float64
	xTicks       []tick
	yTicks       []tick
	title, xName string
}

type tick struct {
	v     float64
	label string
}

func (p *plot) px(x, y float64) (int, int) {
	fx := (x - p.x0) / (p.x1 - p.x0)
	fy := (y - p.y0) / (p.y1 - p.y0)
	return p.area.Min.X + int(math.Round(fx*float64(p.area.Dx()))), p.area.Max.Y - int(math.Round(fy*float64(p.area.Dy())))
}

// frame draws the grid, the axes, the ticks' labels, the title and the
// x axis's name.
func (p *plot) frame() {
	a := p.area
	for _, t := range p.yTicks {
		_, y := p.px(p.x0, t.v)
		fillRect(p.img, a.Min.X, y, a.Dx(), 1, colGrid)
		w := textWidth(t.label, textScale)
		drawText(p.img, a.Min.X-10-w, y-textHeight(textScale)/2, t.label, colInk, textScale)
	}
	for _, t := range p.xTicks {
		x, _ := p.px(t.v, p.y0)
		fillRect(p.img, x, a.Min.Y, 1, a.Dy(), colGrid)
		fillRect(p.img, x, a.Max.Y, 1, 6, colAxis)
		w := textWidth(t.label, textScale)
		lx := min(max(x-w/2, labelPad), p.img.Bounds().Dx()-labelPad-w)
		drawText(p.img, lx, a.Max.Y+10, t.label, colInk, textScale)
	}
	fillRect(p.img, a.Min.X, a.Min.Y, 2, a.Dy()+1, colAxis)
	fillRect(p.img, a.Min.X, a.Max.Y, a.Dx()+1, 2, colAxis)
	drawText(p.img, a.Min.X, a.Min.Y-textHeight(textScale)-10, p.title, colInk, textScale)
	w := textWidth(p.xName, textScale)
	drawText(p.img, a.Max.X-w, a.Max.Y+10+textHeight(textScale)+glyphDescent*textScale+8, p.xName, colAxis, textScale)
}

// polyline draws the points in order, thick pixels wide; a NaN y breaks
// the line.
func (p *plot) polyline(xs, ys []float64, c color.RGBA, thick int) {
	havePrev := false
	var px0, py0 int
	for i := range xs {
		if math.IsNaN(ys[i]) {
			havePrev = false
			continue
		}
		x, y := p.px(xs[i], min(ys[i], p.y1))
		if havePrev {
			line(p.img, px0, py0, x, y, c, thick)
		} else {
			fillRect(p.img, x-thick/2, y-thick/2, thick, thick, c)
		}
		px0, py0, havePrev = x, y, true
	}
}

// legend draws a swatch and a name per entry, right-aligned at the top
// of the panel.
func (p *plot) legend(names []string, colors []color.RGBA, note string) {
	y := p.area.Min.Y + 8
	right := p.area.Max.X - 8
	if note != "" {
		w := textWidth(note, textScale)
		drawText(p.img, right-w, y, note, colAxis, textScale)
		y += textHeight(textScale) + glyphDescent*textScale + 6
	}
	for i, n := range names {
		w := textWidth(n, textScale)
		drawText(p.img, right-w, y, n, colInk, textScale)
		fillRect(p.img, right-w-34, y+textHeight(textScale)/2-2, 26, 5, colors[i])
		y += textHeight(textScale) + glyphDescent*textScale + 6
	}
}

// line draws from (x0, y0) to (x1, y1) by Bresenham's algorithm, a
// thick×thick square at each step.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, thick int) {
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
		fillRect(img, x0-thick/2, y0-thick/2, thick, thick, c)
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

// drawTimeline plots p50 and p99 per second of each operation.
func (r *Result) drawTimeline(img *image.RGBA, area image.Rectangle) {
	p := &plot{img: img, area: area, title: "latency over time: p99 (thick) and p50 (light), per second", xName: "seconds after warm-up"}
	secs, yMax := 0, 0.0
	for _, o := range r.Ops {
		for _, s := range o.Seconds {
			secs = max(secs, s.T+1)
			if s.Count > 0 {
				yMax = max(yMax, s.P99Ms)
			}
		}
	}
	if secs == 0 || yMax == 0 {
		p.x0, p.x1, p.y0, p.y1 = 0, 1, 0, 1
		p.frame()
		drawText(img, area.Min.X+20, area.Min.Y+20, "no requests finished", colInk, textScale)
		return
	}
	p.x0, p.x1 = 0, float64(max(secs-1, 1))
	p.y0, p.y1, p.yTicks = axisTicks(yMax*1.05, 6, fmtMsTick)
	// Whole seconds: at most 10 ticks, a second apart at least.
	_, _, p.xTicks = axisTicks(p.x1, min(10, int(p.x1)), func(v float64) string { return fmt.Sprintf("%gs", v) })
	p.frame()
	var names []string
	var colors []color.RGBA
	for _, o := range r.Ops {
		if len(o.Seconds) == 0 {
			continue
		}
		xs := make([]float64, len(o.Seconds))
		p50 := make([]float64, len(o.Seconds))
		p99 := make([]float64, len(o.Seconds))
		for i, s := range o.Seconds {
			xs[i], p50[i], p99[i] = float64(s.T), s.P50Ms, s.P99Ms
			if s.Count == 0 {
				p50[i], p99[i] = math.NaN(), math.NaN()
			}
		}
		c := opColor(o.Op)
		p.polyline(xs, p50, lighter(c), 2)
		p.polyline(xs, p99, c, 3)
		names, colors = append(names, o.Op), append(colors, c)
	}
	p.legend(names, colors, "")
}

// drawSpectrum plots each operation's latency by percentile.
func (r *Result) drawSpectrum(img *image.RGBA, area image.Rectangle) {
	p := &plot{img: img, area: area, title: "percentile spectrum: latency at each percentile", xName: "percentile (log scale of 1/(1-p))"}
	decades, yMax := 0.0, 0.0
	for _, o := range r.Ops {
		if o.Requests == 0 {
			continue
		}
		decades = max(decades, math.Log10(float64(o.Requests)))
		for _, s := range o.Spectrum {
			yMax = max(yMax, s.LatencyMs)
		}
	}
	if yMax == 0 {
		p.x0, p.x1, p.y0, p.y1 = 0, 1, 0, 1
		p.frame()
		drawText(img, area.Min.X+20, area.Min.Y+20, "no requests finished", colInk, textScale)
		return
	}
	p.x0, p.x1 = 0, max(2, math.Ceil(decades))
	p.y0, p.y1, p.yTicks = axisTicks(yMax*1.05, 6, fmtMsTick)
	for d := 0; d <= int(p.x1); d++ {
		p.xTicks = append(p.xTicks, tick{float64(d), decadeLabel(d)})
	}
	p.frame()
	var names []string
	var colors []color.RGBA
	for _, o := range r.Ops {
		if len(o.Spectrum) == 0 {
			continue
		}
		xs := make([]float64, len(o.Spectrum))
		ys := make([]float64, len(o.Spectrum))
		for i, s := range o.Spectrum {
			ys[i] = s.LatencyMs
			if s.Percentile >= 100 {
				// The maximum: at the end of what the requests resolve.
				xs[i] = math.Log10(float64(o.Requests))
			} else {
				xs[i] = math.Log10(1 / (1 - s.Percentile/100))
			}
		}
		c := opColor(o.Op)
		thick := 3
		if o.Op == "all" {
			thick = 2
		}
		p.polyline(xs, ys, c, thick)
		names, colors = append(names, o.Op), append(colors, c)
	}
	p.legend(names, colors, "")
}

// decadeLabel names the percentile 1 - 10^-d: 0%, 90%, 99%, 99.9%, …
func decadeLabel(d int) string {
	switch d {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", d-2) + "%"
}

// axisTicks returns an axis from 0 to a round number at or above hi, and
// about n ticks at round steps (1, 2 or 5 times a power of ten).
func axisTicks(hi float64, n int, label func(float64) string) (lo, top float64, ticks []tick) {
	if !(hi > 0) {
		hi = 1
	}
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
		ticks = append(ticks, tick{v, label(v)})
	}
	return 0, top, ticks
}

// fmtMsTick labels a latency tick: "0", "500us", "2ms", "1.5s".
func fmtMsTick(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%gus", math.Round(ms*1e3*1e6)/1e6)
	case ms < 1000:
		return fmt.Sprintf("%gms", math.Round(ms*1e6)/1e6)
	}
	return fmt.Sprintf("%gs", math.Round(ms/1e3*1e6)/1e6)
}
