package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Target makes the requests of a run. Strata is the one that talks to a
// node; tests have their own.
type Target interface {
	// Keys returns the size of op's key space: Do is called with keys in
	// [0, Keys(op)). It is called once per operation of the mix, before
	// the run.
	Keys(op Op) int
	// Do makes one request. It is called from many goroutines at once.
	Do(ctx context.Context, op Op, key int) error
}

// Defaults and bounds of Config.
const (
	DefaultConcurrency    = 8
	MaxConcurrency        = 10_000
	DefaultMaxOutstanding = 1000
	MaxOutstanding        = 100_000
	MaxRatePerSec         = 1_000_000
	DefaultDrain          = 10 * time.Second
	DefaultEvery          = time.Second
	MaxDuration           = 7 * 24 * time.Hour
)

// Config is a run's shape.
type Config struct {
	// Mix is the operations and their weights. Required.
	Mix Mix
	// Dist chooses the key of each request, per operation. Default
	// uniform.
	Dist Dist
	// Rate is the target rate in requests per second, all operations
	// together: an open loop, which sends each request when it is due,
	// whether or not the ones before it were answered, and measures its
	// latency from that time. 0: a closed loop of Concurrency workers,
	// each sending its next request when the last one is answered.
	Rate float64
	// Concurrency is the closed loop's workers. Default 8.
	Concurrency int
	// MaxOutstanding bounds the open loop's requests in flight; a request
	// due while that many are is not sent, and counted as dropped.
	// Default 1000.
	MaxOutstanding int
	// Warmup is run first and not recorded (the live display shows it).
	Warmup time.Duration
	// Duration is how long requests are sent after the warm-up. Required.
	Duration time.Duration
	// Drain is how long the run waits for requests still in flight after
	// Duration (or after ctx is cancelled); those it stops waiting for are
	// counted as errors "cut-off", with the time they had taken as their
	// latency. Default 10 s.
	Drain time.Duration
	// Seed seeds the choice of operations and keys; 0: one from the
	// clock (Result.Seed says which).
	Seed uint64
	// Progress, if set, is called every Every with the live figures, from
	// a goroutine of its own (never two calls at once).
	Progress func(Progress)
	// Every is the period of Progress. Default 1 s.
	Every time.Duration
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxOutstanding == 0 {
		c.MaxOutstanding = DefaultMaxOutstanding
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.Every == 0 {
		c.Every = DefaultEvery
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c
}

func (c Config) validate() error {
	if err := c.Mix.validate(); err != nil {
		return err
	}
	if err := c.Dist.validate(); err != nil {
		return err
	}
	switch {
	case !(c.Rate >= 0 && c.Rate <= MaxRatePerSec):
		return fmt.Errorf("rate %g: want 0 (closed loop) to %d requests per second", c.Rate, MaxRatePerSec)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d: want 1 to %d", c.Concurrency, MaxConcurrency)
	case c.MaxOutstanding < 1 || c.MaxOutstanding > MaxOutstanding:
		return fmt.Errorf("max outstanding %d: want 1 to %d", c.MaxOutstanding, MaxOutstanding)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("duration %s: want more than 0, at most %s", c.Duration, MaxDuration)
	case c.Warmup < 0 || c.Warmup > MaxDuration:
		return fmt.Errorf("warm-up %s: want 0 to %s", c.Warmup, MaxDuration)
	case c.Drain < 0 || c.Every < 0:
		return fmt.Errorf("drain %s and display period %s must not be negative", c.Drain, c.Every)
	}
	return nil
}

// run is one Run's state.
type run struct {
	cfg     Config
	t       Target
	keys    [numOps]int
	rec     *recorder
	begin   time.Time // the warm-up's start
	end     time.Time // when no more requests are due
	reqCtx  context.Context
	wg      sync.WaitGroup // the requests (open loop) or workers (closed)
	pending atomic.Int64   // requests in flight
	cutOff  atomic.Bool    // set when the drain gives up on the rest
}

// Run runs the workload against t: the warm-up, then Duration of
// measurement, then waits (up to Drain) for the requests in flight.
// Cancelling ctx stops sending early; the result covers what was sent.
// Errors of requests are counted in the result, not returned: Run fails
// only for a bad Config or Target.
func Run(ctx context.Context, t Target, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, t: t}
	for _, s := range cfg.Mix {
		n := t.Keys(s.Op)
		if n < 1 || n > MaxKeys {
			return nil, fmt.Errorf("%s: the target has %d keys: want 1 to %d", s.Op, n, MaxKeys)
		}
		r.keys[s.Op] = n
	}
	r.begin = time.Now()
	start := r.begin.Add(cfg.Warmup)
	r.end = start.Add(cfg.Duration)
	r.rec = newRecorder(start)
	// Requests outlive ctx by up to Drain: stopping a run stops sending,
	// not the requests sent, whose latencies are what was asked for.
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	r.reqCtx = reqCtx

	stopDisplay := r.display()
	var stopped time.Time
	if cfg.Rate > 0 {
		stopped = r.openLoop(ctx)
	} else {
		stopped = r.closedLoop(ctx)
	}
	drained := make(chan struct{})
	go func() { r.wg.Wait(); close(drained) }()
	timer := time.NewTimer(cfg.Drain)
	select {
	case <-drained:
		timer.Stop()
	case <-timer.C:
		r.cutOff.Store(true)
		cancelReqs()
		<-drained
	}
	stopDisplay()

	measured := max(0, stopped.Sub(start))
	res := &Result{
		Mix: cfg.Mix.String(), Dist: cfg.Dist.String(), Seed: cfg.Seed, Start: start,
		WarmupSec: cfg.Warmup.Seconds(), DurationSec: cfg.Duration.Seconds(), MeasuredSec: measured.Seconds(),
		Ops: r.rec.result(cfg.Mix, time.Now(), measured),
	}
	if cfg.Rate > 0 {
		res.Mode, res.TargetRatePerSec, res.MaxOutstanding = "open", cfg.Rate, cfg.MaxOutstanding
		res.SendLag = r.rec.sendLag()
	} else {
		res.Mode, res.Concurrency = "closed", cfg.Concurrency
	}
	return res, nil
}

// display calls Progress every Every until the returned stop is called.
// Its ticks also close the timeline's seconds when no answer does.
func (r *run) display() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(r.cfg.Every)
		defer tick.Stop()
		last := r.begin
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				ops := r.rec.window(r.cfg.Mix, now.Sub(last))
				last = now
				if r.cfg.Progress != nil {
					r.cfg.Progress(Progress{Elapsed: now.Sub(r.begin), Warmup: now.Before(r.rec.start),
						Total: r.cfg.Warmup + r.cfg.Duration, Outstanding: r.pending.Load(), Ops: ops})
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// source is one goroutine's choice of operations and keys.
type source struct {
	rnd      *rand.Rand
	pick     picker
	choosers [numOps]*chooser
}

func (r *run) source(stream uint64) *source {
	rnd := rand.New(rand.NewPCG(r.cfg.Seed, stream))
	s := &source{rnd: rnd, pick: newPicker(r.cfg.Mix)}
	for _, sh := range r.cfg.Mix {
		s.choosers[sh.Op] = newChooser(r.cfg.Dist, r.keys[sh.Op], rnd)
	}
	return s
}

func (s *source) next() (Op, int) {
	op := s.pick.pick(s.rnd)
	return op, s.choosers[op].next()
}

// do makes one request due at sched and records it; open says that sched
// is a due time, whose lag to the send is recorded apart too.
func (r *run) do(op Op, key int, sched time.Time, open bool) {
	if open {
		r.rec.lag(sched, time.Now())
	}
	err := r.t.Do(r.reqCtx, op, key)
	done := time.Now()
	r.rec.record(op, sched, done, err, err != nil && r.cutOff.Load())
}

// The open loop's wait for a request's due time, in three steps. Go's
// timers wake 0.3 to 1 ms late on the 2-core machines this runs on
// (measured: a 2 ms timer fires 0.3 ms late on average, a sleep under 1 ms
// takes about 1 ms more), and every request would carry that lag in its
// latency, more than a fast read takes. So: a timer (which ctx can
// interrupt) until timerSlack before the due time, then nanosleep(2),
// which wakes about 0.1 ms late, until spinWindow before it, then a spin.
// Measured at 200 requests/s: the send lags its due time by a few
// microseconds at the median, for 2% of a core; at 5,000/s, 40%.
const (
	timerSlack = 2 * time.Millisecond
	spinWindow = 150 * time.Microsecond
)

// waitUntil returns at due, or false as soon as ctx is done.
func waitUntil(ctx context.Context, timer *time.Timer, due time.Time) bool {
	if wait := time.Until(due) - timerSlack; wait > 0 {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if wait := time.Until(due) - spinWindow; wait > 0 {
		// Blocks this goroutine's thread (the runtime runs the others on
		// another) for at most timerSlack and the timer's lateness.
		ts := unix.NsecToTimespec(int64(wait))
		for unix.Nanosleep(&ts, &ts) == unix.EINTR {
		}
	}
	for time.Now().Before(due) {
		runtime.Gosched()
	}
	return true
}

// senderPause, if set (by tests), is called before the open loop sends
// request i, to pause the sender as a busy machine would.
var senderPause func(i int64)

// openLoop sends requests at the target rate until end or ctx's end, and
// returns when it stopped. The i-th request is due at begin + i/rate: the
// loop sleeps until the next one is due, then sends every request due by
// now, each with its due time. A late wake-up (a busy machine, a long
// pause of the process) sends a burst, and the time the requests waited
// counts in their latencies: nothing is omitted because the sender was
// slow (Gil Tene's coordinated omission, as wrk2 corrects it).
func (r *run) openLoop(ctx context.Context) time.Time {
	src := r.source(0)
	interval := float64(time.Second) / r.cfg.Rate
	limit := int64(r.cfg.MaxOutstanding)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		sched := r.begin.Add(time.Duration(float64(i) * interval))
		if !sched.Before(r.end) {
			return r.end
		}
		if !waitUntil(ctx, timer, sched) {
			return time.Now()
		}
		if senderPause != nil {
			senderPause(i)
		}
		op, key := src.next()
		if r.pending.Load() >= limit {
			r.rec.drop(op, sched)
			continue
		}
		r.pending.Add(1)
		r.wg.Go(func() {
			defer r.pending.Add(-1)
			r.do(op, key, sched, true)
		})
		// Let the request start now: the new goroutine waits on this P's
		// queue, and this one is about to block its thread in nanosleep
		// (until the runtime takes the P back, up to 10 ms later).
		runtime.Gosched()
	}
}

// closedLoop runs Concurrency workers, each sending a request when its
// last one is answered, until end or ctx's end, and returns when they
// stopped sending. Latency counts from the send: a closed loop measures
// what its workers saw, and a stalled server slows the workers instead of
// showing as latency (use a rate for that).
func (r *run) closedLoop(ctx context.Context) time.Time {
	for w := range r.cfg.Concurrency {
		r.wg.Go(func() {
			src := r.source(uint64(w) + 1)
			for ctx.Err() == nil {
				sent := time.Now()
				if !sent.Before(r.end) {
					return
				}
				op, key := src.next()
				r.pending.Add(1)
				r.do(op, key, sent, false)
				r.pending.Add(-1)
			}
		})
	}
	select {
	case <-ctx.Done():
		return time.Now()
	case <-time.After(time.Until(r.end)):
		return r.end
	}
}

// CheckConfig reports what Run and NewStrata would refuse in cfg and
// scfg, without running anything: for a command to check its flags
// before it connects.
func CheckConfig(cfg Config, scfg StrataConfig) error {
	if err := cfg.withDefaults().validate(); err != nil {
		return err
	}
	return scfg.withDefaults().validate()
}
