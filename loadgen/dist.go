package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// DistKind is how requests choose their key.
type DistKind uint8

const (
	// Uniform: every key equally often.
	Uniform DistKind = iota
	// Zipf: the key of rank k (from 0) with probability proportional to
	// (1+k)^-s, as math/rand/v2's Zipf draws it (v = 1).
	Zipf
	// HotSet: HotRequests percent of the requests on HotKeys percent of
	// the keys, each set uniform.
	HotSet
)

// Defaults of Dist.
const (
	// DefaultZipfS is Zipf's exponent. YCSB's 0.99 is not allowed:
	// math/rand/v2's Zipf wants s > 1.
	DefaultZipfS       = 1.1
	DefaultHotRequests = 90.0
	DefaultHotKeys     = 10.0
)

// Dist is a key distribution. The zero Dist is uniform.
type Dist struct {
	Kind DistKind
	// ZipfS is Zipf's exponent, > 1.
	ZipfS float64
	// HotRequests percent of requests go to HotKeys percent of the keys.
	HotRequests, HotKeys float64
}

// ParseDist reads a distribution: "uniform", "zipf" or "zipf:S" (S > 1),
// "hot" or "hot:X/Y" (X% of the requests on Y% of the keys).
func ParseDist(s string) (Dist, error) {
	name, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch name {
	case "uniform":
		if hasArg {
			return Dist{}, fmt.Errorf("distribution %q: uniform takes no argument", s)
		}
		return Dist{Kind: Uniform}, nil
	case "zipf":
		d := Dist{Kind: Zipf, ZipfS: DefaultZipfS}
		if hasArg {
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil {
				return Dist{}, fmt.Errorf("distribution %q: want zipf:S with S a number > 1", s)
			}
			d.ZipfS = v
		}
		return d, d.validate()
	case "hot":
		d := Dist{Kind: HotSet, HotRequests: DefaultHotRequests, HotKeys: DefaultHotKeys}
		if hasArg {
			x, y, ok := strings.Cut(arg, "/")
			var err1, err2 error
			d.HotRequests, err1 = strconv.ParseFloat(strings.TrimSuffix(x, "%"), 64)
			d.HotKeys, err2 = strconv.ParseFloat(strings.TrimSuffix(y, "%"), 64)
			if !ok || err1 != nil || err2 != nil {
				return Dist{}, fmt.Errorf("distribution %q: want hot:X/Y (X%% of the requests on Y%% of the keys)", s)
			}
		}
		return d, d.validate()
	}
	return Dist{}, fmt.Errorf("distribution %q: want uniform, zipf[:S] or hot[:X/Y]", s)
}

func (d Dist) validate() error {
	switch d.Kind {
	case Uniform:
		return nil
	case Zipf:
		if !(d.ZipfS > 1) || d.ZipfS > 100 {
			return fmt.Errorf("distribution zipf:%g: the exponent must be above 1 (and at most 100)", d.ZipfS)
		}
		return nil
	case HotSet:
		if !(d.HotRequests >= 0 && d.HotRequests <= 100 && d.HotKeys > 0 && d.HotKeys <= 100) {
			return fmt.Errorf("distribution hot:%g/%g: want 0 <= X <= 100 percent of the requests on 0 < Y <= 100 percent of the keys", d.HotRequests, d.HotKeys)
		}
		return nil
	}
	return fmt.Errorf("distribution: unknown kind %d", d.Kind)
}

// String prints the distribution as ParseDist reads it.
func (d Dist) String() string {
	switch d.Kind {
	case Zipf:
		return "zipf:" + strconv.FormatFloat(d.ZipfS, 'g', -1, 64)
	case HotSet:
		return "hot:" + strconv.FormatFloat(d.HotRequests, 'g', -1, 64) + "/" + strconv.FormatFloat(d.HotKeys, 'g', -1, 64)
	}
	return "uniform"
}

// MaxKeys bounds a key space, so that scatter's product fits 64 bits.
const MaxKeys = 1 << 31

// scatterMul is Knuth's multiplicative-hash prime (2^32/φ). It is above
// MaxKeys, so it is coprime with every key count n, and rank ↦ rank·mul
// mod n is a bijection of [0, n).
const scatterMul = 2654435761

// scatter maps a popularity rank to a key, spreading the popular keys
// over the key space: the first entities of the setup share segments, and
// a hot set of neighbours would measure the cache's block locality rather
// than the distribution.
func scatter(rank, n uint64) uint64 { return rank * scatterMul % n }

// chooser draws keys in [0, n) from a distribution. Not safe for
// concurrent use: it draws from the rand it was made with, which belongs
// to one goroutine.
type chooser struct {
	kind DistKind
	r    *rand.Rand
	n    uint64
	zipf *rand.Zipf
	// hotN keys take hotP of the requests.
	hotN uint64
	hotP float64
}

// newChooser returns a chooser of keys in [0, n) (n >= 1, at most MaxKeys)
// drawing from r.
func newChooser(d Dist, n int, r *rand.Rand) *chooser {
	if n < 1 || n > MaxKeys {
		panic(fmt.Sprintf("loadgen: key space of %d keys: want 1 to %d", n, MaxKeys))
	}
	c := &chooser{kind: d.Kind, r: r, n: uint64(n)}
	switch d.Kind {
	case Zipf:
		if n == 1 {
			c.kind = Uniform
			break
		}
		c.zipf = rand.NewZipf(r, d.ZipfS, 1, uint64(n-1))
	case HotSet:
		c.hotN = max(1, uint64(float64(n)*d.HotKeys/100+0.5))
		c.hotP = d.HotRequests / 100
		if c.hotN >= c.n {
			c.kind = Uniform
		}
	}
	return c
}

func (c *chooser) next() int {
	switch c.kind {
	case Zipf:
		return int(scatter(c.zipf.Uint64(), c.n))
	case HotSet:
		var rank uint64
		if c.r.Float64() < c.hotP {
			rank = c.r.Uint64N(c.hotN)
		} else {
			rank = c.hotN + c.r.Uint64N(c.n-c.hotN)
		}
		return int(scatter(rank, c.n))
	}
	return int(c.r.Uint64N(c.n))
}
