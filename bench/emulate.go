package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/segment"
)

// Dist is a latency distribution: a floor (the fastest a request ever is)
// plus a log-normal part, fixed by its median and 99th percentile. Service
// latencies are usually modelled this way: never below the network and
// protocol minimum, skewed to the right above it.
//
// A zero Dist draws 0: no delay.
type Dist struct {
	Floor  time.Duration // no draw is faster
	Median time.Duration // half the draws are faster
	P99    time.Duration // 99% of the draws are faster
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740408408

// Validate reports whether d is zero or satisfies 0 <= Floor < Median < P99.
func (d Dist) Validate() error {
	if d == (Dist{}) {
		return nil
	}
	if d.Floor < 0 || d.Median <= d.Floor || d.P99 <= d.Median {
		return anomaly.New(anomaly.Incorrect, "latency distribution",
			"want 0 <= Floor < Median < P99, have %v, %v, %v", d.Floor, d.Median, d.P99)
	}
	return nil
}

// Quantile returns the latency below which a fraction q of the draws fall
// (q in (0, 1)), from the same model Sample draws from.
func (d Dist) Quantile(q float64) time.Duration {
	if d == (Dist{}) {
		return 0
	}
	mu, sigma := d.params()
	// The standard normal quantile via the inverse error function.
	z := math.Sqrt2 * math.Erfinv(2*q-1)
	return d.Floor + time.Duration(math.Round(math.Exp(mu+sigma*z)))
}

// Sample draws one latency with rng.
func (d Dist) Sample(rng *rand.Rand) time.Duration {
	if d == (Dist{}) {
		return 0
	}
	mu, sigma := d.params()
	return d.Floor + time.Duration(math.Round(math.Exp(mu+sigma*rng.NormFloat64())))
}

// params returns the log-normal part's mu and sigma, in log-nanoseconds.
func (d Dist) params() (mu, sigma float64) {
	m, p := float64(d.Median-d.Floor), float64(d.P99-d.Floor)
	return math.Log(m), math.Log(p/m) / z99
}

// String returns e.g. "250µs + lognormal(p50 500µs, p99 1ms)".
func (d Dist) String() string {
	if d == (Dist{}) {
		return "none"
	}
	return fmt.Sprintf("%v + lognormal(p50 %v, p99 %v)", d.Floor, d.Median, d.P99)
}

// Profile is a set of latency distributions to add to the strata that are
// remote on a real deployment, so that a benchmark on one machine shows what
// a node there would see. Numbers measured under a profile are emulated and
// are labelled so (profile=NAME in the benchmark name).
type Profile struct {
	Name string
	// EFS is added to every read of the efs stratum.
	EFS Dist
	// Store is added to every read of the store of record.
	Store Dist
}

// ProfileAWS is a node on AWS, from the published figures in DESIGN.md:
// EFS General Purpose reads from about 250 µs, typically 0.25–1 ms; S3
// small-object GETs take tens of milliseconds at the median, here 8 ms at
// best, 15 ms median and 30 ms at p99 (S3's real tail is longer, and varies
// by region and hour). The ssd stratum is not emulated: an i3 NVMe read is
// under 100 µs under moderate load, the same order as this machine's virtio
// disk, so the real disk stands in for it; memory is memory.
var ProfileAWS = Profile{
	Name:  "aws",
	EFS:   Dist{Floor: 250 * time.Microsecond, Median: 500 * time.Microsecond, P99: time.Millisecond},
	Store: Dist{Floor: 8 * time.Millisecond, Median: 15 * time.Millisecond, P99: 30 * time.Millisecond},
}

// Delay draws latencies from a Dist and waits them out. It is safe for
// concurrent use.
type Delay struct {
	dist Dist
	mu   sync.Mutex
	rng  *rand.Rand
}

// NewDelay returns a Delay drawing from d with a generator seeded by seed, so
// that a benchmark's delays are the same from run to run.
func NewDelay(d Dist, seed uint64) (*Delay, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &Delay{dist: d, rng: rand.New(rand.NewPCG(seed, 0x5eed))}, nil
}

// Dist returns the distribution drawn from.
func (d *Delay) Dist() Dist { return d.dist }

// Reseed restarts the draws from seed. Two Delays with one Dist and one seed
// draw the same sequence: a benchmark gives its reference the delays the
// strata got, read for read, so that their ratio shows the strata's own
// cost and not the luck of the draw.
func (d *Delay) Reseed(seed uint64) {
	d.mu.Lock()
	d.rng = rand.New(rand.NewPCG(seed, 0x5eed))
	d.mu.Unlock()
}

// Wait draws one latency and waits for it, or until ctx ends (then it
// returns an anomaly.Interrupted error wrapping ctx.Err()).
func (d *Delay) Wait(ctx context.Context) error {
	if d.dist == (Dist{}) {
		return nil
	}
	return Sleep(ctx, d.draw())
}

// draw returns the next latency of the sequence.
func (d *Delay) draw() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dist.Sample(d.rng)
}

// spinBelow is the remaining wait under which Sleep spins instead of
// sleeping: a Go timer can wake tens of microseconds late, which would add
// its own noise to an emulated 250 µs EFS read.
const spinBelow = time.Millisecond

// Sleep waits for d, sleeping for all but the last millisecond and yielding
// the processor in a loop for the rest, so that short waits are accurate to
// a few microseconds. It returns early with an anomaly.Interrupted error if
// ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	deadline := Now() + d
	if d > spinBelow {
		t := time.NewTimer(d - spinBelow)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return anomaly.Wrap(anomaly.Interrupted, "emulated delay", ctx.Err())
		}
	}
	for Now() < deadline {
		if err := ctx.Err(); err != nil {
			return anomaly.Wrap(anomaly.Interrupted, "emulated delay", err)
		}
		runtime.Gosched()
	}
	return nil
}

// DelayTier wraps a cachetiers.Tier: every ReadAt first waits a latency
// drawn from a Dist, then reads from the wrapped tier; Put, Remove, Stats and
// Close pass through (the benchmarks measure reads). It also counts reads,
// and with a zero Dist it is only a counter: the cold-read benchmark counts
// store round trips with it.
//
// For an emulated remote stratum, wrap a local one whose own latency is
// small next to the Dist (a directory in the page cache for S3, say), since
// the two add up.
//
// A DelayTier is safe for concurrent use.
type DelayTier struct {
	inner cachetiers.Tier
	delay *Delay

	reads      atomic.Int64
	wholeReads atomic.Int64
}

var _ cachetiers.Tier = (*DelayTier)(nil)

// NewDelayTier wraps inner with delays drawn from d (seeded by seed).
func NewDelayTier(inner cachetiers.Tier, d Dist, seed uint64) (*DelayTier, error) {
	delay, err := NewDelay(d, seed)
	if err != nil {
		return nil, err
	}
	return &DelayTier{inner: inner, delay: delay}, nil
}

// Name returns the wrapped tier's name.
func (t *DelayTier) Name() string { return t.inner.Name() }

// ReadAt waits one drawn latency, then reads from the wrapped tier.
func (t *DelayTier) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	t.reads.Add(1)
	if err := t.delay.Wait(ctx); err != nil {
		return 0, 0, err
	}
	n, size, err := t.inner.ReadAt(ctx, id, p, off)
	if err == nil && off == 0 && n > 0 && int64(n) == size {
		t.wholeReads.Add(1)
	}
	return n, size, err
}

// Reseed restarts the tier's delays from seed (see Delay.Reseed).
func (t *DelayTier) Reseed(seed uint64) { t.delay.Reseed(seed) }

// ReadAts returns the number of ReadAt calls so far.
func (t *DelayTier) ReadAts() int64 { return t.reads.Load() }

// WholeReads returns how many of the ReadAt calls read a whole segment, as
// promotion into shallower tiers does (a read path reads a footer or a block).
func (t *DelayTier) WholeReads() int64 { return t.wholeReads.Load() }

// Put passes through, without delay.
func (t *DelayTier) Put(ctx context.Context, id segment.ID, data []byte) error {
	return t.inner.Put(ctx, id, data)
}

// Remove passes through, without delay.
func (t *DelayTier) Remove(ctx context.Context, id segment.ID) error {
	return t.inner.Remove(ctx, id)
}

// Stats returns the wrapped tier's counters, its Backend marked "+emulated"
// when reads are delayed.
func (t *DelayTier) Stats() cachetiers.TierStats {
	st := t.inner.Stats()
	if t.delay.dist != (Dist{}) {
		st.Backend += "+emulated"
	}
	return st
}

// Close closes the wrapped tier.
func (t *DelayTier) Close() error { return t.inner.Close() }
