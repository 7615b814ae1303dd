package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Display draws a run's Progress: on a terminal, a block of lines redrawn
// in place every call; elsewhere (a file, a pipe) a plain line per call.
// Its methods are not safe for concurrent use; Run's Progress calls come
// one at a time.
type Display struct {
	w        io.Writer
	terminal bool
	lines    int // lines of the block drawn last, to redraw over
}

// NewDisplay returns a display on w; terminal says whether w is one.
func NewDisplay(w io.Writer, terminal bool) *Display {
	return &Display{w: w, terminal: terminal}
}

// Update draws p.
func (d *Display) Update(p Progress) {
	secs := "%.0fs of %.0fs"
	if p.Total < 10*time.Second {
		secs = "%.1fs of %.1fs"
	}
	phase := fmt.Sprintf(secs, p.Elapsed.Seconds(), p.Total.Seconds())
	if p.Warmup {
		phase += " (warm-up, not recorded)"
	}
	if !d.terminal {
		parts := []string{"loadgen " + phase}
		for _, o := range p.Ops {
			s := fmt.Sprintf("%s %s/s p50 %s p99 %s p999 %s", o.Op, fmtCount(o.RatePerSec), fmtDur(o.P50), fmtDur(o.P99), fmtDur(o.P999))
			if e := fmtErrors(o.Errors); e != "-" {
				s += " errors " + e
			}
			if o.Dropped > 0 {
				s += fmt.Sprintf(" dropped %d", o.Dropped)
			}
			parts = append(parts, s)
		}
		fmt.Fprintf(d.w, "%s; in flight %d\n", strings.Join(parts, "; "), p.Outstanding)
		return
	}
	lines := []string{
		fmt.Sprintf("loadgen %s   in flight %d", phase, p.Outstanding),
		fmt.Sprintf("  %-7s %10s %9s %9s %9s %8s  %s", "op", "rate/s", "p50", "p99", "p999", "dropped", "errors"),
	}
	for _, o := range p.Ops {
		lines = append(lines, fmt.Sprintf("  %-7s %10s %9s %9s %9s %8d  %s", o.Op, fmtCount(o.RatePerSec),
			fmtDur(o.P50), fmtDur(o.P99), fmtDur(o.P999), o.Dropped, fmtErrors(o.Errors)))
	}
	var b strings.Builder
	if d.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.lines) // back to the block's first line
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	d.lines = len(lines)
	io.WriteString(d.w, b.String())
}

// WriteSummary writes the run's shape and a table of every operation's
// requests, rate, latency percentiles, errors and dropped requests.
func (r *Result) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.describe())
	if r.Mode == "open" {
		b.WriteString("latency counts from each request's due time (open loop: time waiting to be sent included)\n")
	} else {
		b.WriteString("latency counts from each request's send (closed loop)\n")
	}
	fmt.Fprintf(&b, "%-7s %9s %10s %9s %9s %9s %9s %9s %9s  %s\n", "op", "requests", "rate/s", "p50", "p90", "p99", "p999", "max", "dropped", "errors")
	for _, o := range r.Ops {
		l := o.Latency
		fmt.Fprintf(&b, "%-7s %9d %10s %9s %9s %9s %9s %9s %9d  %s\n", o.Op, o.Requests, fmtCount(o.RatePerSec),
			fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs), o.Dropped, fmtErrors(o.Errors))
	}
	if l := r.SendLag; l != nil {
		fmt.Fprintf(&b, "send lag (due to sent, part of the latencies above): p50 %s p99 %s p999 %s max %s\n",
			fmtMs(l.P50Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtErrors prints error counts by name, sorted: "busy=2 unavailable=1",
// or "-" for none.
func fmtErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, m[n])
	}
	return strings.Join(parts, " ")
}

// fmtMs prints a latency with three significant digits or so: 0.412ms,
// 4.12ms, 41.2ms, 412ms, 4.12s.
func fmtMs(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3fms", ms)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1e3)
}

func fmtDur(d time.Duration) string { return fmtMs(float64(d) / 1e6) }

// fmtCount prints a rate: whole numbers from 100 up, one decimal below.
func fmtCount(v float64) string {
	if v >= 99.95 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
