package bench

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms hold nanoseconds from 1 ns to 60 s with 3 significant
// figures (HdrHistogram's usual set-up): a percentile is exact to 0.1%, and a
// stall longer than a minute is counted as a minute rather than lost.
const (
	latencyMinNs   = 1
	latencyMaxNs   = int64(60 * time.Second)
	latencySigFigs = 3
)

// Metric units that the latency benchmarks report with b.ReportMetric and
// that ParseBenchOutput and WriteStratumTable read back. Ours are the
// strata's; the reference's carry RefPrefix ("ref-p50-ns").
const (
	UnitP50     = "p50-ns"
	UnitP99     = "p99-ns"
	UnitP999    = "p999-ns"
	UnitSamples = "samples"

	// RefPrefix marks the reference measured in the same loop.
	RefPrefix = "ref-"
	// RefReadPrefix marks the reference's I/O alone, without the decode
	// step that the reference shares with the stratum (see WriteStratumTable).
	RefReadPrefix = "ref-read-"

	UnitRatioP50  = "ratio-p50"  // ours / reference at the median
	UnitRatioP99  = "ratio-p99"  // … at the 99th percentile
	UnitRatioP999 = "ratio-p999" // … at the 99.9th percentile

	// UnitStoreGets counts round trips to the store of record per read on
	// the read path; UnitFillGets counts the whole-segment reads that
	// promotion into the shallower tiers adds (off the read path).
	UnitStoreGets = "store-gets/op"
	UnitFillGets  = "fill-gets/op"

	// UnitOursAllocs is the allocations of one read through the strata,
	// measured apart from the reference (Go's allocs/op counts the pair).
	UnitOursAllocs = "ours-allocs/op"
)

// Latency is a histogram of operation latencies. It is not safe for
// concurrent use: a benchmark loop records into it from one goroutine.
type Latency struct {
	h *hdrhistogram.Histogram
}

// NewLatency returns an empty histogram.
func NewLatency() *Latency {
	return &Latency{h: hdrhistogram.New(latencyMinNs, latencyMaxNs, latencySigFigs)}
}

// Record adds one latency, clamped to [1 ns, 60 s].
func (l *Latency) Record(d time.Duration) {
	v := min(max(int64(d), latencyMinNs), latencyMaxNs)
	// RecordValue fails only for a value outside the range, excluded above.
	_ = l.h.RecordValue(v)
}

// Count returns the number of latencies recorded.
func (l *Latency) Count() int64 { return l.h.TotalCount() }

// Quantile returns the latency at quantile q in [0, 1] (0.5 is the median),
// or 0 if nothing was recorded.
func (l *Latency) Quantile(q float64) time.Duration {
	return time.Duration(l.h.ValueAtQuantile(100 * q))
}

// Reset empties the histogram.
func (l *Latency) Reset() { l.h.Reset() }

// clockEpoch is the base of Now.
var clockEpoch = time.Now()

// Now returns monotonic time since the process started. It reads the clock
// once, where time.Now reads it twice (wall and monotonic): on the 2-core
// virtual machines these numbers come from, one read costs about 50 ns and
// time.Now with time.Since about 250 ns, more than a memory hit.
func Now() time.Duration { return time.Since(clockEpoch) }

// MetricReporter receives benchmark metrics; *testing.B is one. It keeps
// package bench free of the testing package, which cmd/strata links.
type MetricReporter interface {
	ReportMetric(n float64, unit string)
}

// quantiles are the percentiles every latency benchmark reports.
var quantiles = [...]struct {
	q     float64
	unit  string
	ratio string
}{
	{0.50, UnitP50, UnitRatioP50},
	{0.99, UnitP99, UnitRatioP99},
	{0.999, UnitP999, UnitRatioP999},
}

// ReportLatency reports l's p50, p99 and p999 in nanoseconds as
// prefix+"p50-ns" and so on. An empty histogram reports nothing.
func ReportLatency(r MetricReporter, prefix string, l *Latency) {
	if l.Count() == 0 {
		return
	}
	for _, q := range quantiles {
		r.ReportMetric(float64(l.Quantile(q.q)), prefix+q.unit)
	}
}

// ReportPair reports ours and the reference measured in the same loop: both
// sets of percentiles, the number of samples behind ours (a p999 from fewer
// than 1000 samples is the maximum, and says so in the table), and ours/ref
// at each percentile. A ratio above 1 is what the strata cost over the
// reference.
func ReportPair(r MetricReporter, ours, ref *Latency) {
	ReportLatency(r, "", ours)
	ReportLatency(r, RefPrefix, ref)
	r.ReportMetric(float64(ours.Count()), UnitSamples)
	if ours.Count() == 0 || ref.Count() == 0 {
		return
	}
	for _, q := range quantiles {
		if d := ref.Quantile(q.q); d > 0 {
			r.ReportMetric(float64(ours.Quantile(q.q))/float64(d), q.ratio)
		}
	}
}
