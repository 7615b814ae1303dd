package cachetiers

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/maypok86/otter/v2"
)

func mixKey(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	return k ^ k>>33
}

func newTestWTinyLFU(t testing.TB, opts WTinyLFUOptions) *WTinyLFU[uint64, struct{}] {
	t.Helper()
	p, err := NewWTinyLFU[uint64, struct{}](opts, mixKey)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkInvariants walks every list and compares it with the index and the
// per-region weights.
func (p *WTinyLFU[K, V]) checkInvariants(t testing.TB) {
	t.Helper()
	seen := 0
	for r := range 3 {
		var w uint64
		prev := int32(r)
		for i := p.nodes[r].next; i != int32(r); i = p.nodes[i].next {
			n := p.nodes[i]
			if n.region != wtRegion(r) || n.prev != prev {
				t.Fatalf("node %d in list %d has region %d, prev %d (want %d)", i, r, n.region, n.prev, prev)
			}
			if j, ok := p.index[n.key]; !ok || j != i {
				t.Fatalf("node %d key %v indexed at %d, %v", i, n.key, j, ok)
			}
			w += uint64(n.weight)
			prev = i
			seen++
		}
		if w != p.weight[r] {
			t.Fatalf("region %d holds weight %d, counted %d", r, p.weight[r], w)
		}
	}
	if seen != len(p.index) {
		t.Fatalf("lists hold %d nodes, index %d", seen, len(p.index))
	}
	if p.Weight() > p.capacity {
		t.Fatalf("weight %d over capacity %d", p.Weight(), p.capacity)
	}
}

func TestWTinyLFUInvariants(t *testing.T) {
	for _, climber := range []Climber{ClimberMiniSim, ClimberHill} {
		for _, door := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(1, 2))
			p := newTestWTinyLFU(t, WTinyLFUOptions{Capacity: 5000, ExpectedEntries: 200, Seed: 3,
				Climber: climber, Doorkeeper: door, SamplePeriod: 100})
			evicted := 0
			p.OnEvict(func(uint64, uint32) { evicted++ })
			z := rand.NewZipf(rng, 1.2, 1, 2000)
			for i := range 200000 {
				k := z.Uint64()
				if i%3 == 0 {
					k = uint64(rng.IntN(4000))
				}
				w := uint32(1 + k%50) // weighted: 1..50
				switch {
				case i%97 == 0:
					p.Remove(k)
				case i%89 == 0:
					if p.Contains(k) {
						p.Add(k, struct{}{}, w+10) // a held key grows
					}
				default:
					p.Access(k, w)
				}
				if i%1000 == 0 {
					p.checkInvariants(t)
				}
			}
			p.checkInvariants(t)
			if evicted == 0 {
				t.Errorf("climber %d door %v: nothing evicted", climber, door)
			}
		}
	}
}

// TestWTinyLFUWindowAllIsLRU checks the limit the climber relies on: a
// window of the whole capacity is LRU.
func TestWTinyLFUWindowAllIsLRU(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	const capacity = 64
	p := newTestWTinyLFU(t, WTinyLFUOptions{Capacity: capacity, WindowInitial: 1, NoClimber: true})
	var model []uint64 // most recent last
	for i := range 50000 {
		k := uint64(rng.IntN(150))
		want := slices.Contains(model, k)
		if got := p.Access(k, 1); got != want {
			t.Fatalf("access %d key %d: hit %v, LRU %v", i, k, got, want)
		}
		if j := slices.Index(model, k); j >= 0 {
			model = slices.Delete(model, j, j+1)
		} else if len(model) == capacity {
			model = model[1:]
		}
		model = append(model, k)
	}
}

// TestWTinyLFUScanResistance: a hot set survives a long scan of one-hit keys.
func TestWTinyLFUScanResistance(t *testing.T) {
	p := newTestWTinyLFU(t, WTinyLFUOptions{Capacity: 1000, Seed: 1})
	for range 20 {
		for k := range uint64(500) {
			p.Access(k, 1)
		}
	}
	for k := uint64(1e6); k < 1e6+50000; k++ {
		p.Access(k, 1)
	}
	held := 0
	for k := range uint64(500) {
		if p.Contains(k) {
			held++
		}
	}
	if held < 450 {
		t.Errorf("%d of 500 hot keys survive a scan of 50000", held)
	}
}

func TestWTinyLFUOversizedAndOptions(t *testing.T) {
	p := newTestWTinyLFU(t, WTinyLFUOptions{Capacity: 100})
	var dropped []uint64
	p.OnEvict(func(k uint64, _ uint32) { dropped = append(dropped, k) })
	p.Access(1, 101)
	if p.Contains(1) || !slices.Equal(dropped, []uint64{1}) {
		t.Errorf("an entry heavier than the cache: held %v, dropped %v", p.Contains(1), dropped)
	}
	for _, bad := range []WTinyLFUOptions{
		{},
		{Capacity: 10, WindowMin: 0.5, WindowMax: 0.2},
		{Capacity: 10, StepDecay: 2},
		{Capacity: 10, TieAdmitProbability: 2},
	} {
		if _, err := NewWTinyLFU[uint64, struct{}](bad, mixKey); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
	if _, err := NewWTinyLFU[uint64, struct{}](WTinyLFUOptions{Capacity: 10}, nil); err == nil {
		t.Error("nil hash accepted")
	}
}

// BenchmarkWTinyLFUAccess measures one access (Get, and Add on a miss) of
// WTinyLFU on a Zipf trace, beside otter's GetIfPresent/Set on the same keys
// (the memory tier's reference, measured in the same run). WTinyLFU is
// single-threaded: a cache on it adds a mutex (measured here as
// "wtinylfu+mutex") and sharding.
func BenchmarkWTinyLFUAccess(b *testing.B) {
	const capacity = 1 << 14
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.01, 1, 1<<20)
	keys := make([]uint64, 1<<20)
	for i := range keys {
		keys[i] = z.Uint64()
	}
	run := func(b *testing.B, access func(k uint64) bool) {
		b.ReportAllocs()
		hits, n := 0, 0
		for b.Loop() {
			if access(keys[n&(len(keys)-1)]) {
				hits++
			}
			n++
		}
		b.ReportMetric(100*float64(hits)/float64(n), "hit%")
	}
	for _, climber := range []struct {
		name string
		c    Climber
	}{{"minisim", ClimberMiniSim}, {"hill", ClimberHill}} {
		b.Run("policy=wtinylfu/climber="+climber.name, func(b *testing.B) {
			p := newTestWTinyLFU(b, WTinyLFUOptions{Capacity: capacity, Seed: 1, Climber: climber.c})
			run(b, func(k uint64) bool { return p.Access(k, 1) })
		})
	}
	b.Run("policy=wtinylfu+mutex/climber=minisim", func(b *testing.B) {
		p := newTestWTinyLFU(b, WTinyLFUOptions{Capacity: capacity, Seed: 1})
		var mu sync.Mutex
		run(b, func(k uint64) bool { mu.Lock(); defer mu.Unlock(); return p.Access(k, 1) })
	})
	b.Run("policy=otter", func(b *testing.B) {
		c, err := otter.New(&otter.Options[uint64, struct{}]{
			MaximumWeight: capacity,
			Weigher:       func(uint64, struct{}) uint32 { return 1 },
		})
		if err != nil {
			b.Fatal(err)
		}
		defer c.StopAllGoroutines()
		run(b, func(k uint64) bool {
			if _, ok := c.GetIfPresent(k); ok {
				return true
			}
			c.Set(k, struct{}{})
			return false
		})
	})
}
