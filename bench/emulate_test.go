package bench

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/segment"
)

func TestDistMatchesItsParameters(t *testing.T) {
	for name, d := range map[string]Dist{"efs": ProfileAWS.EFS, "store": ProfileAWS.Store} {
		if err := d.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		near := func(got, want time.Duration, tol float64) bool {
			return math.Abs(float64(got-want)) <= tol*float64(want)
		}
		if q := d.Quantile(0.5); !near(q, d.Median, 1e-6) {
			t.Errorf("%s: Quantile(0.5) = %v, want %v", name, q, d.Median)
		}
		if q := d.Quantile(0.99); !near(q, d.P99, 1e-6) {
			t.Errorf("%s: Quantile(0.99) = %v, want %v", name, q, d.P99)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		draws := make([]time.Duration, 50000)
		for i := range draws {
			draws[i] = d.Sample(rng)
			if draws[i] < d.Floor {
				t.Fatalf("%s: draw %v below the floor %v", name, draws[i], d.Floor)
			}
		}
		slices.Sort(draws)
		if m := draws[len(draws)/2]; !near(m, d.Median, 0.02) {
			t.Errorf("%s: sample median %v, want %v ± 2%%", name, m, d.Median)
		}
		if p := draws[len(draws)*99/100]; !near(p, d.P99, 0.05) {
			t.Errorf("%s: sample p99 %v, want %v ± 5%%", name, p, d.P99)
		}
	}
}

func TestDistValidate(t *testing.T) {
	for _, d := range []Dist{
		{Floor: -1, Median: 2, P99: 3},
		{Floor: 2, Median: 2, P99: 3},
		{Floor: 1, Median: 3, P99: 3},
		{Median: 3},
	} {
		if err := d.Validate(); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("%+v: Validate = %v, want an incorrect error", d, err)
		}
		if _, err := NewDelay(d, 1); err == nil {
			t.Errorf("%+v: NewDelay accepted it", d)
		}
	}
	var zero Dist
	if err := zero.Validate(); err != nil || zero.Sample(rand.New(rand.NewPCG(1, 1))) != 0 || zero.Quantile(0.5) != 0 {
		t.Errorf("the zero Dist is not 'no delay'")
	}
}

func TestDelayReseedRepeatsTheDraws(t *testing.T) {
	a, _ := NewDelay(ProfileAWS.Store, 7)
	b, _ := NewDelay(ProfileAWS.Store, 7)
	_ = a.draw() // a is one draw ahead, as a tier is after warming an index
	a.Reseed(7)
	for i := range 100 {
		if x, y := a.draw(), b.draw(); x != y {
			t.Fatalf("draw %d: %v and %v differ", i, x, y)
		}
	}
}

func TestSleep(t *testing.T) {
	for _, d := range []time.Duration{200 * time.Microsecond, 3 * time.Millisecond} {
		t0 := Now()
		if err := Sleep(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if got := Now() - t0; got < d {
			t.Errorf("Sleep(%v) returned after %v", d, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	t0 := Now()
	err := Sleep(ctx, time.Minute)
	if !errors.Is(err, anomaly.Interrupted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sleep past the deadline: %v", err)
	}
	if got := Now() - t0; got > 5*time.Second {
		t.Errorf("Sleep ignored its context for %v", got)
	}
}

func TestDelayTier(t *testing.T) {
	ctx := context.Background()
	store, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sg := newBenchSeg(t, segment.CodecLZ4, 3)
	if err := store.Put(ctx, sg.id, sg.data); err != nil {
		t.Fatal(err)
	}
	counted, err := NewDelayTier(store, Dist{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if counted.Name() != "store" || counted.Stats().Backend != "dir" {
		t.Errorf("name %q, backend %q", counted.Name(), counted.Stats().Backend)
	}
	p := make([]byte, len(sg.data))
	if n, size, err := counted.ReadAt(ctx, sg.id, p[:segment.FooterReadSize], -1); err != nil || n != segment.FooterReadSize || size != int64(len(sg.data)) {
		t.Fatalf("suffix read: %d, %d, %v", n, size, err)
	}
	if n, _, err := counted.ReadAt(ctx, sg.id, p, 0); err != nil || n != len(sg.data) || string(p) != string(sg.data) {
		t.Fatalf("whole read: %d, %v", n, err)
	}
	if _, _, err := counted.ReadAt(ctx, segment.NewID(), p[:10], 0); !errors.Is(err, cachetiers.ErrNotFound) {
		t.Fatalf("missing segment: %v", err)
	}
	if counted.ReadAts() != 3 || counted.WholeReads() != 1 {
		t.Errorf("ReadAts %d, WholeReads %d; want 3, 1", counted.ReadAts(), counted.WholeReads())
	}

	slow, err := NewDelayTier(store, Dist{Floor: time.Millisecond, Median: 2 * time.Millisecond, P99: 3 * time.Millisecond}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := slow.Stats().Backend; got != "dir+emulated" {
		t.Errorf("backend %q", got)
	}
	t0 := Now()
	if _, _, err := slow.ReadAt(ctx, sg.id, p[:100], 0); err != nil {
		t.Fatal(err)
	}
	if got := Now() - t0; got < time.Millisecond {
		t.Errorf("a read with a 1 ms floor took %v", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := slow.ReadAt(cctx, sg.id, p[:100], 0); !errors.Is(err, anomaly.Interrupted) {
		t.Errorf("read with a cancelled context: %v", err)
	}
	if err := slow.Close(); err != nil {
		t.Fatal(err)
	}
}

// metrics collects what a benchmark reports.
type metrics map[string]float64

func (m metrics) ReportMetric(v float64, unit string) { m[unit] = v }

func TestLatencyAndReportPair(t *testing.T) {
	ours, ref := NewLatency(), NewLatency()
	for i := 1; i <= 1000; i++ {
		ours.Record(time.Duration(2*i) * time.Microsecond)
		ref.Record(time.Duration(i) * time.Microsecond)
	}
	if ours.Count() != 1000 {
		t.Fatalf("count %d", ours.Count())
	}
	near := func(got, want time.Duration) bool { return math.Abs(float64(got-want)) <= 0.002*float64(want) }
	if q := ref.Quantile(0.5); !near(q, 500*time.Microsecond) {
		t.Errorf("p50 %v", q)
	}
	if q := ref.Quantile(0.999); !near(q, 999*time.Microsecond) {
		t.Errorf("p999 %v", q)
	}
	m := metrics{}
	ReportPair(m, ours, ref)
	for _, unit := range []string{UnitRatioP50, UnitRatioP99, UnitRatioP999} {
		if r := m[unit]; math.Abs(r-2) > 0.005 {
			t.Errorf("%s = %v, want 2", unit, r)
		}
	}
	if m[UnitSamples] != 1000 || m[RefPrefix+UnitP50] == 0 || m[UnitP999] == 0 {
		t.Errorf("metrics %v", m)
	}
	ours.Record(-time.Second) // clamped, not lost
	ours.Record(time.Hour)
	if ours.Count() != 1002 {
		t.Errorf("out-of-range values were dropped: count %d", ours.Count())
	}
	ours.Reset()
	m = metrics{}
	ReportLatency(m, "x-", ours)
	if len(m) != 0 {
		t.Errorf("an empty histogram reported %v", m)
	}
}
