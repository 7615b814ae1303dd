package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratadb/strata/internal/testenv"
)

// The self-test: a node behind toxiproxy, which delays every answer by a
// known latency, and loadgen must report that latency. At a low rate (25
// reads/s for 1.6 s, so the 2-core machine is idle and requests do not
// queue) the median read must lie between the delay and the delay plus 30
// ms (the read itself is well under a millisecond, a few through the proxy;
// the rest is the shared machine's noise). Without toxiproxy (STRATA_TEST_TOXIPROXY unset), the
// test skips; `make test` and scripts/with-servers start it.
func TestSelfTestInjectedDelay(t *testing.T) {
	toxi := testenv.Toxi(t)
	ctx := context.Background()
	addr := startNode(t)
	read := Mix{{OpRead, 1}}
	const entities = 200
	if _, err := NewStrata(ctx, connect(t, addr), StrataConfig{Setup: true, Entities: entities}, read); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("loadgen-selftest-%d", time.Now().UnixNano())
	target, err := NewStrata(ctx, connect(t, toxi.Proxy(name, addr)), StrataConfig{Entities: entities}, read)
	if err != nil {
		t.Fatal(err)
	}
	measure := func(d time.Duration) OpResult {
		t.Helper()
		res, err := Run(ctx, target, Config{Mix: read, Rate: 25, Warmup: 300 * time.Millisecond, Duration: d, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		o := only(t, res, "read")
		if want := int64(d.Seconds() * 25); o.Requests != want || o.OK != o.Requests || o.Dropped != 0 {
			t.Fatalf("%d requests, %d ok, %d dropped, errors %v: want %d answered", o.Requests, o.OK, o.Dropped, o.Errors, want)
		}
		return o
	}
	// The proxy's own cost, for the log.
	base := measure(time.Second)
	t.Logf("no delay: p50 %.2f ms, p99 %.2f ms", base.Latency.P50Ms, base.Latency.P99Ms)
	for _, delayMs := range []float64{50, 100} {
		toxi.AddToxic(name, "delay", "latency", "downstream", map[string]any{"latency": delayMs})
		o := measure(1600 * time.Millisecond)
		toxi.RemoveToxic(name, "delay")
		t.Logf("injected %g ms: p50 %.2f ms, p99 %.2f ms, max %.2f ms", delayMs, o.Latency.P50Ms, o.Latency.P99Ms, o.Latency.MaxMs)
		if o.Latency.P50Ms < delayMs || o.Latency.P50Ms > delayMs+30 {
			t.Errorf("injected %g ms: loadgen reports a p50 of %.2f ms, want %g to %g ms", delayMs, o.Latency.P50Ms, delayMs, delayMs+30)
		}
	}
}
