package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Result is a run's outcome, as --json writes it.
type Result struct {
	// Mode is "open" (a target rate) or "closed" (a fixed concurrency).
	Mode string `json:"mode"`
	// TargetRatePerSec is the open loop's rate; 0 in a closed loop.
	TargetRatePerSec float64 `json:"target_rate_per_sec,omitempty"`
	// Concurrency is the closed loop's workers; 0 in an open loop.
	Concurrency int `json:"concurrency,omitempty"`
	// MaxOutstanding is the open loop's bound on requests in flight.
	MaxOutstanding int    `json:"max_outstanding,omitempty"`
	Mix            string `json:"mix"`
	Dist           string `json:"dist"`
	Seed           uint64 `json:"seed"`
	// Start is when the measurement began (after the warm-up).
	Start       time.Time `json:"start"`
	WarmupSec   float64   `json:"warmup_sec"`
	DurationSec float64   `json:"duration_sec"`
	// MeasuredSec is how long requests were sent after the warm-up:
	// DurationSec unless the run was stopped early.
	MeasuredSec float64 `json:"measured_sec"`
	// Info describes the target (endpoint, database, query…), as the
	// caller fills it.
	Info map[string]string `json:"info,omitempty"`
	// SendLag is the open loop's time from a request's due time to its
	// send, included in its latency: the generator's own delay (a busy
	// machine, a scheduler, a timer). Nil in a closed loop.
	SendLag *Percentiles `json:"send_lag_ms,omitempty"`
	// Ops has one entry per operation of the mix, in the order of Op,
	// then "all" if there are several.
	Ops []OpResult `json:"ops"`
}

// OpResult is one operation's figures over the measurement.
type OpResult struct {
	Op string `json:"op"`
	// Requests counts those that finished, failed ones included: a
	// failure's time is a latency too (a timeout is the slowest answer).
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// Errors counts failures by anomaly category ("busy", …), and
	// "cut-off" for requests the run stopped waiting for.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Dropped counts requests due in the open loop but not sent, because
	// MaxOutstanding were in flight. They have no latency: report them
	// with it.
	Dropped    int64   `json:"dropped"`
	RatePerSec float64 `json:"rate_per_sec"`
	// Latency is measured from the time a request was due (open loop) or
	// sent (closed loop) to its answer.
	Latency  Percentiles     `json:"latency_ms"`
	Spectrum []SpectrumPoint `json:"spectrum,omitempty"`
	// Seconds is the timeline, a second at a time from Start, by the time
	// each answer came back; empty for "all".
	Seconds []SecondStat `json:"seconds,omitempty"`
}

// Percentiles are latencies in milliseconds.
type Percentiles struct {
	P50Ms  float64 `json:"p50"`
	P90Ms  float64 `json:"p90"`
	P99Ms  float64 `json:"p99"`
	P999Ms float64 `json:"p999"`
	MaxMs  float64 `json:"max"`
	MeanMs float64 `json:"mean"`
}

// SpectrumPoint is the latency at a percentile.
type SpectrumPoint struct {
	Percentile float64 `json:"percentile"`
	LatencyMs  float64 `json:"latency_ms"`
}

// SecondStat is one second of the timeline: the requests that finished in
// it (T seconds after Start) and their latencies.
type SecondStat struct {
	T       int     `json:"t"`
	Count   int64   `json:"count"`
	Errors  int64   `json:"errors,omitempty"`
	Dropped int64   `json:"dropped,omitempty"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Progress is what the live display shows, every Config.Every.
type Progress struct {
	// Elapsed is the time since the run began, warm-up included.
	Elapsed time.Duration
	// Warmup says that the figures are the warm-up's (not recorded).
	Warmup bool
	// Total is the warm-up and the duration together.
	Total time.Duration
	// Outstanding is the number of requests in flight.
	Outstanding int64
	// Ops are the operations' figures over the last window.
	Ops []WindowStat
}

// WindowStat is one operation's figures over the live display's window.
type WindowStat struct {
	Op             Op
	Count          int64
	RatePerSec     float64
	P50, P99, P999 time.Duration
	Errors         map[string]int64
	Dropped        int64
}

// Op returns the result of operation name ("read", …, "all"), if any.
func (r *Result) Op(name string) (OpResult, bool) {
	for _, o := range r.Ops {
		if o.Op == name {
			return o, true
		}
	}
	return OpResult{}, false
}

// WriteJSON writes the result as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteJSONFile writes the result to path as WriteJSON does.
func (r *Result) WriteJSONFile(path string) error {
	return writeFile(path, r.WriteJSON)
}

// writeFile creates path and writes it with write, reporting the first
// error of either.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
