package loadgen

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"

	"github.com/stratadb/strata/internal/chart"
)

// The PNG report's size and layout, in pixels.
const (
	PNGWidth, PNGHeight = 1200, 1000

	textScale   = chart.LabelScale
	marginLeft  = 100
	marginRight = 30
	panelGap    = 90
	titleTop    = 14
)

// opColors are the operations' colours, colour-blind safe (Okabe and
// Ito), by Op; "all" is dark gray.
var opColors = [numOps]color.RGBA{
	OpRead:   chart.Blue,
	OpQuery:  chart.BluishGreen,
	OpWrite:  chart.Vermillion,
	OpImport: chart.ReddishPurple,
}

// opColor is the colour of the operation named name.
func opColor(name string) color.RGBA {
	if op, ok := ParseOp(name); ok {
		return opColors[op]
	}
	return chart.DarkGray
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
	img := chart.NewImage(PNGWidth, PNGHeight)
	step := chart.LineHeight(textScale)
	title := chart.Wrap("strata loadgen: "+r.describe(), (PNGWidth-marginLeft-marginRight)/chart.Advance(textScale), titleLines)
	for i, l := range title {
		chart.Text(img, marginLeft, titleTop+i*step, l, chart.Ink, textScale)
	}
	// A line per operation: the figures the plots show, to read exactly.
	for i, o := range r.Ops {
		chart.Text(img, marginLeft, titleTop+(len(title)+i)*step, r.opLine(o), opColor(o.Op), textScale)
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

// drawTimeline plots p50 and p99 per second of each operation.
func (r *Result) drawTimeline(img *image.RGBA, area image.Rectangle) {
	p := &chart.Plot{Img: img, Area: area, Title: "latency over time: p99 (thick) and p50 (light), per second", XName: "seconds after warm-up"}
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
		p.X0, p.X1, p.Y0, p.Y1 = 0, 1, 0, 1
		p.Frame()
		chart.Text(img, area.Min.X+20, area.Min.Y+20, "no requests finished", chart.Ink, textScale)
		return
	}
	p.X0, p.X1 = 0, float64(max(secs-1, 1))
	p.Y1, p.YTicks = chart.LinearTicks(yMax*1.05, 6, fmtMsTick)
	// Whole seconds: at most 10 ticks, a second apart at least.
	_, p.XTicks = chart.LinearTicks(p.X1, min(10, int(p.X1)), func(v float64) string { return fmt.Sprintf("%gs", v) })
	p.Frame()
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
		p.Polyline(xs, p50, chart.Lighter(c), 2)
		p.Polyline(xs, p99, c, 3)
		names, colors = append(names, o.Op), append(colors, c)
	}
	p.Legend(names, colors, "")
}

// drawSpectrum plots each operation's latency by percentile.
func (r *Result) drawSpectrum(img *image.RGBA, area image.Rectangle) {
	p := &chart.Plot{Img: img, Area: area, Title: "percentile spectrum: latency at each percentile", XName: "percentile (log scale of 1/(1-p))"}
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
		p.X0, p.X1, p.Y0, p.Y1 = 0, 1, 0, 1
		p.Frame()
		chart.Text(img, area.Min.X+20, area.Min.Y+20, "no requests finished", chart.Ink, textScale)
		return
	}
	p.X0, p.X1 = 0, max(2, math.Ceil(decades))
	p.Y1, p.YTicks = chart.LinearTicks(yMax*1.05, 6, fmtMsTick)
	for d := 0; d <= int(p.X1); d++ {
		p.XTicks = append(p.XTicks, chart.Tick{V: float64(d), Label: decadeLabel(d)})
	}
	p.Frame()
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
		p.Polyline(xs, ys, c, thick)
		names, colors = append(names, o.Op), append(colors, c)
	}
	p.Legend(names, colors, "")
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
