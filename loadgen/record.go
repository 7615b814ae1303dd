package loadgen

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/stratadb/strata/anomaly"
)

// Latency histograms hold microseconds from 1 µs to 10 minutes with 3
// significant figures (HdrHistogram's usual set-up: a percentile is exact
// to 0.1%). A longer request is counted as 10 minutes rather than lost; the
// client's own timeout (2 minutes by default) ends requests long before.
const (
	latencyMinUs   = 1
	latencyMaxUs   = int64(10 * time.Minute / time.Microsecond)
	latencySigFigs = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(latencyMinUs, latencyMaxUs, latencySigFigs)
}

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), latencyMinUs), latencyMaxUs)
	// RecordValue fails only for a value outside the range, excluded above.
	_ = h.RecordValue(us)
}

// Error kinds: an anomaly category's index, and errCutOff for a request
// still outstanding when the drain ended (see Config.Drain).
const (
	errCutOff   = 0
	numErrKinds = int(anomaly.Fault) + 1
)

// CutOff is the error name of requests the run stopped waiting for.
const CutOff = "cut-off"

func errKind(err error, cutOff bool) int {
	if cutOff {
		return errCutOff
	}
	c := int(anomaly.CategoryOf(err))
	if c <= errCutOff || c >= numErrKinds {
		c = int(anomaly.Fault)
	}
	return c
}

func errName(kind int) string {
	if kind == errCutOff {
		return CutOff
	}
	return anomaly.Category(kind).String()
}

type errCounts [numErrKinds]int64

func (e *errCounts) sum() int64 {
	var n int64
	for _, c := range e {
		n += c
	}
	return n
}

// named returns the non-zero counts by name, or nil if there are none.
func (e *errCounts) named() map[string]int64 {
	var m map[string]int64
	for k, c := range e {
		if c > 0 {
			if m == nil {
				m = map[string]int64{}
			}
			m[errName(k)] += c
		}
	}
	return m
}

// recorder collects the latencies of a run: per operation, the whole
// measurement, the current second of the timeline, and the current window
// of the live display (warm-up included). It is safe for concurrent use; one
// mutex suffices at the rates one client process makes (a record is three
// histogram increments, well under a microsecond).
type recorder struct {
	mu    sync.Mutex
	start time.Time // the measurement's start: the warm-up's end
	sec   int       // the second of the timeline being filled, from start
	ops   [numOps]opRecord
	// lags are the open loop's times from due to sent, measured
	// requests only.
	lags *hdrhistogram.Histogram
}

type opRecord struct {
	total, second, window *hdrhistogram.Histogram

	errs, secErrs, winErrs          errCounts
	dropped, secDropped, winDropped int64

	seconds []SecondStat
}

func newRecorder(start time.Time) *recorder {
	r := &recorder{start: start, lags: newHistogram()}
	for i := range r.ops {
		o := &r.ops[i]
		o.total, o.second, o.window = newHistogram(), newHistogram(), newHistogram()
	}
	return r
}

// record adds a finished request: latency from sched (when it was due to
// be sent) to done.
func (r *recorder) record(op Op, sched, done time.Time, err error, cutOff bool) {
	lat := done.Sub(sched)
	kind := -1
	if err != nil {
		kind = errKind(err, cutOff)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := &r.ops[op]
	recordLatency(o.window, lat)
	if kind >= 0 {
		o.winErrs[kind]++
	}
	if sched.Before(r.start) {
		return // warm-up
	}
	r.rotateLocked(done)
	recordLatency(o.total, lat)
	recordLatency(o.second, lat)
	if kind >= 0 {
		o.errs[kind]++
		o.secErrs[kind]++
	}
}

// lag records that a request due at sched was sent at sent.
func (r *recorder) lag(sched, sent time.Time) {
	if sched.Before(r.start) {
		return
	}
	r.mu.Lock()
	recordLatency(r.lags, sent.Sub(sched))
	r.mu.Unlock()
}

// sendLag summarizes the lags, nil if there are none.
func (r *recorder) sendLag() *Percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lags.TotalCount() == 0 {
		return nil
	}
	p := percentiles(r.lags)
	return &p
}

// drop counts a request that was due at sched and not sent: too many
// were outstanding.
func (r *recorder) drop(op Op, sched time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := &r.ops[op]
	o.winDropped++
	if sched.Before(r.start) {
		return
	}
	r.rotateLocked(sched)
	o.dropped++
	o.secDropped++
}

// rotateLocked closes the seconds of the timeline before now's.
func (r *recorder) rotateLocked(now time.Time) {
	if now.Before(r.start) {
		return
	}
	for idx := int(now.Sub(r.start) / time.Second); r.sec < idx; r.sec++ {
		r.closeSecondLocked()
	}
}

func (r *recorder) closeSecondLocked() {
	for i := range r.ops {
		o := &r.ops[i]
		h := o.second
		s := SecondStat{T: r.sec, Count: h.TotalCount(), Errors: o.secErrs.sum(), Dropped: o.secDropped}
		if s.Count > 0 {
			s.P50Ms = usToMs(h.ValueAtQuantile(50))
			s.P99Ms = usToMs(h.ValueAtQuantile(99))
			s.MaxMs = usToMs(h.Max())
		}
		o.seconds = append(o.seconds, s)
		h.Reset()
		o.secErrs, o.secDropped = errCounts{}, 0
	}
}

// window returns the live display's figures since the last call and
// starts a new window.
func (r *recorder) window(mix Mix, span time.Duration) []WindowStat {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotateLocked(time.Now())
	var out []WindowStat
	for op := range numOps {
		o := &r.ops[op]
		if !mix.Has(op) {
			continue
		}
		h := o.window
		w := WindowStat{Op: op, Count: h.TotalCount(), Errors: o.winErrs.named(), Dropped: o.winDropped}
		if span > 0 {
			w.RatePerSec = float64(w.Count) / span.Seconds()
		}
		if w.Count > 0 {
			w.P50 = usDuration(h.ValueAtQuantile(50))
			w.P99 = usDuration(h.ValueAtQuantile(99))
			w.P999 = usDuration(h.ValueAtQuantile(99.9))
		}
		out = append(out, w)
		h.Reset()
		o.winErrs, o.winDropped = errCounts{}, 0
	}
	return out
}

// result summarizes the measurement, which lasted measured. It closes the
// timeline's seconds up to end.
func (r *recorder) result(mix Mix, end time.Time, measured time.Duration) []OpResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotateLocked(end)
	if end.After(r.start) && r.sec == int(end.Sub(r.start)/time.Second) {
		r.closeSecondLocked() // the last, partial second
		r.sec++
	}
	var out []OpResult
	all := newHistogram()
	var allErrs errCounts
	var allDropped int64
	n := 0
	for op := range numOps {
		o := &r.ops[op]
		if !mix.Has(op) {
			continue
		}
		n++
		res := opResult(op.String(), o.total, &o.errs, o.dropped, measured)
		res.Seconds = o.seconds
		out = append(out, res)
		all.Merge(o.total)
		for k, c := range o.errs {
			allErrs[k] += c
		}
		allDropped += o.dropped
	}
	if n > 1 {
		out = append(out, opResult("all", all, &allErrs, allDropped, measured))
	}
	return out
}

func opResult(name string, h *hdrhistogram.Histogram, errs *errCounts, dropped int64, measured time.Duration) OpResult {
	res := OpResult{Op: name, Requests: h.TotalCount(), Errors: errs.named(), Dropped: dropped}
	res.OK = res.Requests - errs.sum()
	if measured > 0 {
		res.RatePerSec = float64(res.Requests) / measured.Seconds()
	}
	if res.Requests > 0 {
		res.Latency = percentiles(h)
		res.Spectrum = spectrum(h)
	}
	return res
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	return Percentiles{
		P50Ms:  usToMs(h.ValueAtQuantile(50)),
		P90Ms:  usToMs(h.ValueAtQuantile(90)),
		P99Ms:  usToMs(h.ValueAtQuantile(99)),
		P999Ms: usToMs(h.ValueAtQuantile(99.9)),
		MaxMs:  usToMs(h.Max()),
		MeanMs: h.Mean() / 1e3,
	}
}

// spectrumPerDecade is how many points the percentile spectrum has per
// decade of 1/(1-p): p = 0, 20.6%, 36.9%, … 90%, … 99%, …
const spectrumPerDecade = 20

// spectrum is the latency at percentiles evenly spaced on a log scale of
// 1/(1-p), as HdrHistogram's percentile plots draw it, up to where the
// requests recorded run out (1/(1-p) = count), then the maximum at 100%.
func spectrum(h *hdrhistogram.Histogram) []SpectrumPoint {
	n := float64(h.TotalCount())
	var out []SpectrumPoint
	for j := 0; ; j++ {
		inv := math.Pow(10, float64(j)/spectrumPerDecade)
		if inv > n {
			break
		}
		pct := 100 * (1 - 1/inv)
		out = append(out, SpectrumPoint{Percentile: pct, LatencyMs: usToMs(h.ValueAtQuantile(pct))})
	}
	return append(out, SpectrumPoint{Percentile: 100, LatencyMs: usToMs(h.Max())})
}

func usToMs(us int64) float64 { return float64(us) / 1e3 }

func usDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
