package loadgen

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestParseDist(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Dist
	}{
		{"uniform", Dist{Kind: Uniform}},
		{"zipf", Dist{Kind: Zipf, ZipfS: DefaultZipfS}},
		{"zipf:1.5", Dist{Kind: Zipf, ZipfS: 1.5}},
		{"hot", Dist{Kind: HotSet, HotRequests: 90, HotKeys: 10}},
		{"hot:99/1", Dist{Kind: HotSet, HotRequests: 99, HotKeys: 1}},
		{"hot:80%/20%", Dist{Kind: HotSet, HotRequests: 80, HotKeys: 20}},
	} {
		got, err := ParseDist(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDist(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, err := ParseDist(got.String()); err != nil || again != got {
			t.Errorf("ParseDist(%q.String() = %q) = %+v, %v", c.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "normal", "zipf:1", "zipf:0.99", "zipf:x", "hot:90", "hot:101/10", "hot:90/0", "uniform:3"} {
		if d, err := ParseDist(bad); err == nil {
			t.Errorf("ParseDist(%q) = %+v, want an error", bad, d)
		}
	}
}

// scatter must be a bijection of [0, n), or some keys are never chosen
// and others twice as often.
func TestScatterIsABijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 10, 100, 1000, 65536, 99991} {
		seen := make([]bool, n)
		for r := range n {
			k := scatter(r, n)
			if k >= n || seen[k] {
				t.Fatalf("n %d: rank %d maps to %d, out of range or taken", n, r, k)
			}
			seen[k] = true
		}
	}
	if k := scatter(MaxKeys-1, MaxKeys); k >= MaxKeys {
		t.Fatalf("scatter at MaxKeys overflows: %d", k)
	}
}

func draw(t *testing.T, d Dist, n, samples int) []int {
	t.Helper()
	c := newChooser(d, n, rand.New(rand.NewPCG(1, 2)))
	counts := make([]int, n)
	for range samples {
		k := c.next()
		if k < 0 || k >= n {
			t.Fatalf("%s: key %d outside [0, %d)", d, k, n)
		}
		counts[k]++
	}
	return counts
}

func TestUniform(t *testing.T) {
	const n, samples = 100, 200_000
	counts := draw(t, Dist{}, n, samples)
	// Each count is binomial(samples, 1/n): mean 2000, sd about 44; 6 sd.
	for k, c := range counts {
		if math.Abs(float64(c)-samples/n) > 6*math.Sqrt(samples/n) {
			t.Errorf("key %d drawn %d times of %d, want about %d", k, c, samples, samples/n)
		}
	}
}

func TestHotSet(t *testing.T) {
	const n, samples = 1000, 200_000
	d := Dist{Kind: HotSet, HotRequests: 90, HotKeys: 10}
	counts := draw(t, d, n, samples)
	// The hot keys are the first 10% of ranks, scattered.
	hot := map[int]bool{}
	for r := range uint64(100) {
		hot[int(scatter(r, n))] = true
	}
	onHot := 0
	for k, c := range counts {
		if hot[k] {
			onHot += c
			if c == 0 {
				t.Errorf("hot key %d never drawn", k)
			}
		}
	}
	if share := float64(onHot) / samples; math.Abs(share-0.9) > 0.01 {
		t.Errorf("hot keys took %.3f of the requests, want 0.90", share)
	}
	// A hot key gets 0.9/100 of the requests, a cold one 0.1/900: 81 times less.
	hotMean, coldMean := float64(onHot)/100, float64(samples-onHot)/900
	if r := hotMean / coldMean; r < 70 || r > 95 {
		t.Errorf("a hot key is drawn %.1f times as often as a cold one, want about 81", r)
	}
}

func TestZipf(t *testing.T) {
	const n, samples = 1000, 200_000
	d := Dist{Kind: Zipf, ZipfS: 1.2}
	counts := draw(t, d, n, samples)
	// Rank k has probability (1+k)^-s / H, H = sum over j of j^-s.
	h := 0.0
	for j := 1; j <= n; j++ {
		h += math.Pow(float64(j), -d.ZipfS)
	}
	for _, rank := range []uint64{0, 1, 2, 9, 99} {
		want := math.Pow(float64(rank+1), -d.ZipfS) / h * samples
		got := float64(counts[scatter(rank, n)])
		if math.Abs(got-want) > 5*math.Sqrt(want)+0.02*want {
			t.Errorf("rank %d: drawn %.0f times, want about %.0f", rank, got, want)
		}
	}
	// A one-key space is the only key.
	if c := draw(t, d, 1, 10); c[0] != 10 {
		t.Errorf("one key: %v", c)
	}
}

func TestParseMix(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"read", "read"}, {"import", "import"}, {"mixed", "read=8,write=2"},
		{"read=8,write=2", "read=8,write=2"}, {" query=3, read=1 ", "query=3,read=1"}, {"read=1,write=0", "read"},
	} {
		m, err := ParseMix(c.in)
		if err != nil || m.String() != c.want {
			t.Errorf("ParseMix(%q) = %v, %v; want %s", c.in, m, err, c.want)
		}
	}
	for _, bad := range []string{"", "scan", "read=x", "read=-1", "read=1,read=2", "read=0", "read=8,bogus=2"} {
		if m, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) = %v, want an error", bad, m)
		}
	}
}

func TestPickerWeights(t *testing.T) {
	m, _ := ParseMix("read=6,query=3,write=1")
	p := newPicker(m)
	r := rand.New(rand.NewPCG(3, 4))
	var counts [numOps]int
	const samples = 100_000
	for range samples {
		counts[p.pick(r)]++
	}
	for _, s := range m {
		want := float64(s.Weight) / 10
		if got := float64(counts[s.Op]) / samples; math.Abs(got-want) > 0.01 {
			t.Errorf("%s picked %.3f of the time, want %.2f", s.Op, got, want)
		}
	}
	if counts[OpImport] != 0 {
		t.Errorf("import picked %d times, weight 0", counts[OpImport])
	}
}
