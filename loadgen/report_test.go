package loadgen

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// syntheticResult records 5 s of a read and write mix with known
// latencies, without a run: a request due every millisecond, reads taking
// 1 to 10 ms (i mod 10 + 1), writes 20 ms, every 100th write failing busy,
// and one read dropped at 1 s.
func syntheticResult(t *testing.T) *Result {
	t.Helper()
	start := time.Now().Add(-time.Hour)
	rec := newRecorder(start)
	mix := Mix{{OpRead, 4}, {OpWrite, 1}}
	for i := range 5000 {
		sched := start.Add(time.Duration(i) * time.Millisecond)
		if i == 1000 {
			rec.drop(OpRead, sched)
		}
		if i%5 == 4 {
			var err error
			if i%500 == 4 {
				err = anomaly.New(anomaly.Busy, "test", "full")
			}
			rec.record(OpWrite, sched, sched.Add(20*time.Millisecond), err, false)
			continue
		}
		rec.record(OpRead, sched, sched.Add(time.Duration(i%10+1)*time.Millisecond), nil, false)
	}
	res := &Result{Mode: "open", TargetRatePerSec: 1000, MaxOutstanding: 100, Mix: mix.String(), Dist: "uniform",
		Start: start, DurationSec: 5, MeasuredSec: 5, Ops: rec.result(mix, start.Add(5*time.Second), 5*time.Second)}
	return res
}

func TestResultFigures(t *testing.T) {
	res := syntheticResult(t)
	r, w, all := only(t, res, "read"), only(t, res, "write"), only(t, res, "all")
	if r.Requests != 4000 || w.Requests != 1000 || all.Requests != 5000 || r.Dropped != 1 || all.Dropped != 1 {
		t.Fatalf("requests read %d write %d all %d, dropped %d", r.Requests, w.Requests, all.Requests, r.Dropped)
	}
	// Reads: 1 to 10 ms, 400 each (i mod 10 skips the writes' 4 and 9:
	// reads take 1, 2, 3, 4, 6, 7, 8, 9 ms).
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.002+0.001 }
	if !near(r.Latency.P50Ms, 4) || !near(r.Latency.MaxMs, 9) || !near(r.Latency.P99Ms, 9) {
		t.Errorf("read latency %+v: want p50 4 ms, p99 and max 9 ms", r.Latency)
	}
	if !near(w.Latency.P50Ms, 20) || w.Errors["busy"] != 10 || w.OK != 990 {
		t.Errorf("write: %+v", w)
	}
	if r.RatePerSec != 800 || w.RatePerSec != 200 {
		t.Errorf("rates %g and %g, want 800 and 200", r.RatePerSec, w.RatePerSec)
	}
	// The spectrum climbs with the percentile and ends at the maximum.
	sp := r.Spectrum
	if len(sp) < 60 || sp[len(sp)-1].Percentile != 100 || sp[len(sp)-1].LatencyMs != r.Latency.MaxMs {
		t.Fatalf("spectrum of %d points ending %+v", len(sp), sp[len(sp)-1])
	}
	for i := 1; i < len(sp); i++ {
		if sp[i].Percentile <= sp[i-1].Percentile || sp[i].LatencyMs < sp[i-1].LatencyMs {
			t.Fatalf("spectrum not increasing at %d: %+v then %+v", i, sp[i-1], sp[i])
		}
	}
	// The timeline counts each request in the second its answer came: 800
	// reads a second, the last few of each second in the next one, the
	// last of all in a sixth.
	if len(r.Seconds) != 6 {
		t.Fatalf("%d seconds: %+v", len(r.Seconds), r.Seconds)
	}
	var count, dropped int64
	for i, s := range r.Seconds {
		count += s.Count
		dropped += s.Dropped
		if s.T != i || (i < 5 && (s.Count < 780 || s.Count > 800 || !near(s.MaxMs, 9))) {
			t.Errorf("second %d: %+v", i, s)
		}
	}
	if count != 4000 || dropped != 1 || r.Seconds[1].Dropped != 1 {
		t.Errorf("the timeline has %d reads and %d dropped, want 4000 and 1 in second 1", count, dropped)
	}
	if len(all.Seconds) != 0 {
		t.Errorf("all has a timeline")
	}
}

func TestJSON(t *testing.T) {
	res := syntheticResult(t)
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(back)
	want, _ := json.Marshal(res)
	if !bytes.Equal(got, want) {
		t.Fatalf("JSON does not round-trip:\n%s\n%s", got, want)
	}
	// The names machines read.
	var raw map[string]any
	json.Unmarshal(buf.Bytes(), &raw)
	op := raw["ops"].([]any)[0].(map[string]any)
	for _, k := range []string{"op", "requests", "ok", "errors", "dropped", "rate_per_sec", "latency_ms", "spectrum", "seconds"} {
		if _, ok := op[k]; !ok && k != "errors" {
			t.Errorf("ops[0] lacks %q: %v", k, op)
		}
	}
	lat := op["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999", "max", "mean"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_ms lacks %q", k)
		}
	}
}

func TestPNG(t *testing.T) {
	for _, res := range []*Result{syntheticResult(t), {Mode: "closed", Concurrency: 4, Mix: "read", Dist: "uniform", Ops: []OpResult{{Op: "read"}}}} {
		var buf bytes.Buffer
		if err := res.WritePNG(&buf); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != PNGWidth || b.Dy() != PNGHeight {
			t.Fatalf("PNG of %v, want %dx%d", b, PNGWidth, PNGHeight)
		}
		if len(res.Ops) == 1 {
			continue // the empty report: it draws, that is all
		}
		// Each operation's colour in the timeline (upper half) and the
		// spectrum (lower half), in lines, not dots.
		rgba, ok := img.(*image.RGBA)
		if !ok {
			t.Fatalf("the PNG decodes to a %T", img)
		}
		for _, op := range []Op{OpRead, OpWrite} {
			c := opColors[op]
			var upper, lower int
			for y := range PNGHeight {
				row := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*PNGWidth]
				for x := 0; x < len(row); x += 4 {
					if row[x] == c.R && row[x+1] == c.G && row[x+2] == c.B {
						if y < PNGHeight/2 {
							upper++
						} else {
							lower++
						}
					}
				}
			}
			if upper < 500 || lower < 500 {
				t.Errorf("%s: %d pixels of its colour in the upper half, %d in the lower", op, upper, lower)
			}
		}
	}
}

// TestAxisLabels checks the labels of the spectrum's decades and of the
// latency ticks.
func TestAxisLabels(t *testing.T) {
	for _, c := range []struct {
		d    int
		want string
	}{{0, "0%"}, {1, "90%"}, {2, "99%"}, {4, "99.99%"}} {
		if got := decadeLabel(c.d); got != c.want {
			t.Errorf("decadeLabel(%d) = %q", c.d, got)
		}
	}
	for _, c := range []struct {
		ms   float64
		want string
	}{{0, "0"}, {0.5, "500us"}, {2, "2ms"}, {1500, "1.5s"}} {
		if got := fmtMsTick(c.ms); got != c.want {
			t.Errorf("fmtMsTick(%g) = %q, want %q", c.ms, got, c.want)
		}
	}
}

func TestSummaryAndDisplay(t *testing.T) {
	res := syntheticResult(t)
	res.SendLag = &Percentiles{P50Ms: 0.01, P99Ms: 0.5, MaxMs: 2}
	var buf bytes.Buffer
	if err := res.WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`open loop at 1000/s`, `read +4000 +800 +4\.00ms +9\.01ms .* 1  -\n`, `write +1000 +200 +20\.0ms .* busy=10\n`,
		`all +5000 +1000 `, `send lag .*p50 0\.010ms`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("summary lacks %s:\n%s", want, out)
		}
	}
	p := Progress{Elapsed: 3 * time.Second, Total: 10 * time.Second, Warmup: true, Outstanding: 2, Ops: []WindowStat{
		{Op: OpRead, Count: 400, RatePerSec: 400, P50: time.Millisecond, P99: 3 * time.Millisecond, P999: 5 * time.Millisecond, Errors: map[string]int64{"busy": 2}},
		{Op: OpWrite, Count: 100, RatePerSec: 100, P50: 2 * time.Millisecond, Dropped: 3},
	}}
	buf.Reset()
	plain := NewDisplay(&buf, false)
	plain.Update(p)
	plain.Update(p)
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "read 400/s p50 1.00ms p99 3.00ms p999 5.00ms errors busy=2") ||
		!strings.Contains(lines[0], "warm-up") || !strings.Contains(lines[0], "dropped 3") || strings.Contains(lines[0], "\x1b") {
		t.Errorf("plain display:\n%s", buf.String())
	}
	buf.Reset()
	term := NewDisplay(&buf, true)
	term.Update(p)
	first := buf.String()
	term.Update(p)
	second := strings.TrimPrefix(buf.String(), first)
	if strings.Contains(first, "\x1b[4A") || !strings.HasPrefix(second, "\x1b[4A") || strings.Count(second, "\n") != 4 {
		t.Errorf("terminal display does not redraw its 4 lines in place:\n%q\n%q", first, second)
	}
}
