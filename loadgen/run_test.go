package loadgen

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// fakeTarget answers after service, except while stalled: a request that
// arrives in [stallFrom, stallUntil) waits for stallUntil, as behind a
// server that stops for a while (a GC pause, a full disk, a failover).
type fakeTarget struct {
	keys                  int
	service               time.Duration
	stallFrom, stallUntil time.Time
	released              chan struct{} // closed at stallUntil
	fail                  func(key int) error
	calls                 atomic.Int64
}

func (f *fakeTarget) Keys(Op) int { return f.keys }

func (f *fakeTarget) Do(ctx context.Context, op Op, key int) error {
	f.calls.Add(1)
	if now := time.Now(); f.released != nil && !now.Before(f.stallFrom) && now.Before(f.stallUntil) {
		select {
		case <-f.released:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.service > 0 {
		time.Sleep(f.service) // the server's work, not synchronization
	}
	if f.fail != nil {
		return f.fail(key)
	}
	return nil
}

// stallAt makes the target stall from from to until, after now.
func (f *fakeTarget) stallAt(t0 time.Time, from, until time.Duration) {
	f.stallFrom, f.stallUntil = t0.Add(from), t0.Add(until)
	f.released = make(chan struct{})
	time.AfterFunc(time.Until(f.stallUntil), func() { close(f.released) })
}

func mustRun(t *testing.T, target Target, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), target, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func only(t *testing.T, res *Result, name string) OpResult {
	t.Helper()
	o, ok := res.Op(name)
	if !ok {
		t.Fatalf("no %s in the result: %+v", name, res.Ops)
	}
	return o
}

// A server that stalls for 300 ms under an open loop of 200 requests/s:
// the 60 requests due during the stall are sent on time, wait for its end,
// and each counts the time from when it was due, so the latencies spread
// evenly from 0 to 300 ms: p90 is about 200 ms (the 20 due in the first 100
// ms of the stall), the maximum about 300 ms. A closed loop of one worker
// on the same server sends one request into the stall, waits with it, and
// records one slow request among hundreds: the stall hides (coordinated
// omission), which is what the open loop must not do.
func TestOpenLoopCountsAStallFromTheDueTime(t *testing.T) {
	mix := Mix{{OpRead, 1}}
	open := &fakeTarget{keys: 10}
	open.stallAt(time.Now(), 200*time.Millisecond, 500*time.Millisecond)
	res := mustRun(t, open, Config{Mix: mix, Rate: 200, Duration: time.Second})
	o := only(t, res, "read")
	t.Logf("open loop: %d requests, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		o.Requests, o.Latency.P50Ms, o.Latency.P90Ms, o.Latency.P99Ms, o.Latency.MaxMs)
	if l := res.SendLag; l != nil {
		t.Logf("open loop: send lag p50 %.2f ms, p99 %.2f ms, max %.2f ms", l.P50Ms, l.P99Ms, l.MaxMs)
	}
	if o.Requests != 200 || o.Dropped != 0 {
		t.Fatalf("open loop: %d requests, %d dropped; want 200 sent at 200/s for 1 s", o.Requests, o.Dropped)
	}
	if o.Latency.P90Ms < 150 || o.Latency.P90Ms > 300 {
		t.Errorf("open loop: p90 %.1f ms, want about 200 ms: the requests due during the stall count it", o.Latency.P90Ms)
	}
	if o.Latency.MaxMs < 270 || o.Latency.MaxMs > 500 {
		t.Errorf("open loop: max %.1f ms, want about 300 ms", o.Latency.MaxMs)
	}
	if o.Latency.P50Ms > 50 {
		t.Errorf("open loop: p50 %.1f ms, want near 0: most requests came outside the stall", o.Latency.P50Ms)
	}

	closed := &fakeTarget{keys: 10, service: time.Millisecond}
	closed.stallAt(time.Now(), 200*time.Millisecond, 500*time.Millisecond)
	res = mustRun(t, closed, Config{Mix: mix, Concurrency: 1, Duration: time.Second})
	c := only(t, res, "read")
	t.Logf("closed loop: %d requests, p90 %.1f ms, max %.1f ms", c.Requests, c.Latency.P90Ms, c.Latency.MaxMs)
	if c.Latency.MaxMs < 250 {
		t.Errorf("closed loop: max %.1f ms, want the one stalled request's 300 ms", c.Latency.MaxMs)
	}
	if c.Latency.P90Ms > 50 {
		t.Errorf("closed loop: p90 %.1f ms; the stall should hide in a closed loop (this test shows the contrast)", c.Latency.P90Ms)
	}
}

// A sender that falls behind counts the wait: the sender pauses for 100
// ms before request 20 (as a process does in a long GC pause, or on a
// machine out of CPU), so requests 20 to 29 of 100/s go out late, in a
// burst, and their latencies count from when they were due although the
// target answers at once.
func TestOpenLoopCountsTheSendersDelay(t *testing.T) {
	senderPause = func(i int64) {
		if i == 20 {
			time.Sleep(100 * time.Millisecond) // the pause under test
		}
	}
	defer func() { senderPause = nil }()
	res := mustRun(t, &fakeTarget{keys: 10}, Config{Mix: Mix{{OpRead, 1}}, Rate: 100, Duration: 500 * time.Millisecond})
	o := only(t, res, "read")
	if o.Requests != 50 || o.Latency.MaxMs < 95 || o.Latency.P90Ms < 15 {
		t.Fatalf("%d requests, p90 %.1f ms, max %.1f ms: want 50, 10 of them late by 10 to 100 ms", o.Requests, o.Latency.P90Ms, o.Latency.MaxMs)
	}
	if l := res.SendLag; l == nil || l.MaxMs < 95 {
		t.Fatalf("send lag %+v: want the pause's 100 ms at the top", l)
	}
}

// Past MaxOutstanding requests in flight, the due ones are dropped and
// counted: every request due is either recorded or dropped.
func TestOpenLoopDropsPastTheBound(t *testing.T) {
	target := &fakeTarget{keys: 10}
	target.stallAt(time.Now(), 0, 600*time.Millisecond)
	res := mustRun(t, target, Config{Mix: Mix{{OpRead, 1}}, Rate: 100, Duration: 500 * time.Millisecond, MaxOutstanding: 5})
	o := only(t, res, "read")
	if o.Requests != 5 || o.Dropped != 45 {
		t.Fatalf("%d requests, %d dropped; want 5 in flight through the stall and the other 45 of 50 dropped", o.Requests, o.Dropped)
	}
	if o.Latency.P50Ms < 500 {
		t.Errorf("the stalled requests' p50 is %.1f ms, want above 500", o.Latency.P50Ms)
	}
	var dropped int64
	for _, s := range o.Seconds {
		dropped += s.Dropped
	}
	if dropped != 45 {
		t.Errorf("the timeline has %d dropped, want 45", dropped)
	}
}

// Requests still in flight when the drain ends are counted as cut off.
func TestDrainCutsOff(t *testing.T) {
	target := &fakeTarget{keys: 10}
	target.stallAt(time.Now(), 0, time.Hour)
	res := mustRun(t, target, Config{Mix: Mix{{OpRead, 1}}, Rate: 50, Duration: 200 * time.Millisecond, Drain: 50 * time.Millisecond})
	o := only(t, res, "read")
	if o.Requests != 10 || o.Errors[CutOff] != 10 || o.OK != 0 {
		t.Fatalf("%d requests, %d ok, errors %v; want 10 cut off", o.Requests, o.OK, o.Errors)
	}
	if o.Latency.MaxMs < 200 {
		t.Errorf("max %.1f ms: a cut-off request counts the time it had taken", o.Latency.MaxMs)
	}
}

// The warm-up is run and not recorded; errors are counted by category; the
// timeline adds up to the totals; the mix and the keys are respected.
func TestWarmupErrorsTimeline(t *testing.T) {
	var mu sync.Mutex
	keys := map[int]int{}
	target := &fakeTarget{keys: 4, fail: func(key int) error {
		mu.Lock()
		keys[key]++
		mu.Unlock()
		switch key {
		case 0:
			return anomaly.New(anomaly.Busy, "test", "full")
		case 1:
			return context.DeadlineExceeded
		}
		return nil
	}}
	var progress atomic.Int64
	res := mustRun(t, target, Config{Mix: Mix{{OpRead, 3}, {OpWrite, 1}}, Rate: 200, Warmup: 300 * time.Millisecond,
		Duration: 1200 * time.Millisecond, Seed: 7, Every: 100 * time.Millisecond, Progress: func(p Progress) { progress.Add(1) }})
	if n := target.calls.Load(); n != 300 {
		t.Errorf("%d requests made, want 300 (60 of warm-up and 240)", n)
	}
	all := only(t, res, "all")
	if all.Requests != 240 {
		t.Errorf("%d requests recorded, want the 240 after the warm-up", all.Requests)
	}
	r, w := only(t, res, "read"), only(t, res, "write")
	if r.Requests+w.Requests != 240 || r.Requests < 150 || w.Requests < 35 {
		t.Errorf("read %d, write %d: want about 3 to 1", r.Requests, w.Requests)
	}
	for _, o := range []OpResult{r, w} {
		var count, errs int64
		for _, s := range o.Seconds {
			count += s.Count
			errs += s.Errors
		}
		if count != o.Requests || errs != o.Requests-o.OK {
			t.Errorf("%s: the timeline has %d requests and %d errors, the totals %d and %d", o.Op, count, errs, o.Requests, o.Requests-o.OK)
		}
		if len(o.Seconds) < 2 {
			t.Errorf("%s: %d seconds in the timeline, want 2", o.Op, len(o.Seconds))
		}
		if o.Errors["busy"] == 0 || o.Errors["interrupted"] == 0 || o.Errors["busy"]+o.Errors["interrupted"] != o.Requests-o.OK {
			t.Errorf("%s: errors %v of %d requests, %d ok", o.Op, o.Errors, o.Requests, o.OK)
		}
	}
	if len(keys) != 4 {
		t.Errorf("keys drawn: %v, want all of 0 to 3", keys)
	}
	if progress.Load() < 5 { // 15 on an idle machine; a ticker skips ticks on a busy one
		t.Errorf("progress called %d times in 1.5 s, want every 100 ms", progress.Load())
	}
	if res.Mode != "open" || res.Seed != 7 || res.Mix != "read=3,write=1" || res.MeasuredSec < 1.19 {
		t.Errorf("result header: %+v", res)
	}
}

func TestRunRefusesBadConfigs(t *testing.T) {
	target := &fakeTarget{keys: 10}
	for _, cfg := range []Config{
		{Duration: time.Second},
		{Mix: Mix{{OpRead, 1}}},
		{Mix: Mix{{OpRead, 1}}, Duration: time.Second, Rate: -1},
		{Mix: Mix{{OpRead, 1}}, Duration: time.Second, Concurrency: MaxConcurrency + 1},
		{Mix: Mix{{OpRead, 1}}, Duration: time.Second, Dist: Dist{Kind: Zipf, ZipfS: 1}},
	} {
		if _, err := Run(context.Background(), target, cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
	if _, err := Run(context.Background(), &fakeTarget{}, Config{Mix: Mix{{OpRead, 1}}, Duration: time.Second}); err == nil ||
		!strings.Contains(err.Error(), "0 keys") {
		t.Errorf("a target of no keys: %v", err)
	}
}

// Cancelling the context stops sending; the result covers what was sent.
func TestCancelStopsEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	target := &fakeTarget{keys: 10, fail: func(key int) error { return nil }}
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := Run(ctx, target, Config{Mix: Mix{{OpRead, 1}}, Rate: 100, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o := only(t, res, "read")
	if res.MeasuredSec > 1 || o.Requests < 20 || o.Requests > 80 {
		t.Fatalf("measured %.2f s, %d requests: want about 0.3 s and 30", res.MeasuredSec, o.Requests)
	}
}
