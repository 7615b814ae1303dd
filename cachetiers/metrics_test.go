package cachetiers

import (
	"sync"
	"testing"
	"time"
)

func TestLatencyHist(t *testing.T) {
	l := newLatencyHist()
	if s := l.Snapshot(); s.Count != 0 || s.P99 != 0 {
		t.Fatalf("empty snapshot %+v", s)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1 + g; v <= 1000; v += 4 {
				l.Record(time.Duration(v) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	s := l.Snapshot()
	near := func(got time.Duration, want int) bool {
		w := time.Duration(want) * time.Microsecond
		return got >= w-w/100 && got <= w+w/100
	}
	if s.Count != 1000 || !near(s.P50, 500) || !near(s.P99, 990) || !near(s.P999, 999) || !near(s.Max, 1000) {
		t.Fatalf("snapshot %+v; want 1000 values 1..1000µs", s)
	}
	// Out of range values are clamped, not lost.
	l.Record(0)
	l.Record(2 * time.Minute)
	s = l.Snapshot()
	if s.Count != 1002 || !near(s.Max, 60_000_000) {
		t.Fatalf("after clamping: %+v", s)
	}
}
