package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/stratadb/strata/internal/race"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
)

// ---- hand-worked reference strings ----

// silberschatz is the reference string of Silberschatz, Galvin and Gagne,
// "Operating System Concepts", chapter "Virtual Memory", used there for FIFO,
// OPT and LRU with 3 frames (15, 9 and 12 faults).
var silberschatz = []uint64{7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1}

// beladyAnomaly is the string of Bélády's FIFO anomaly (Bélády, Nelson and
// Shedler, CACM 1969): 1 2 3 4 1 2 5 1 2 3 4 5.
var beladyAnomaly = []uint64{1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5}

func TestLRUTextbook(t *testing.T) {
	cases := []struct {
		name     string
		trace    []uint64
		capacity int
		hits     int
	}{
		// Silberschatz, 3 frames. Cache after each access, most recent last
		// (F = fault, H = hit):
		//  1 7 F [7]        6 3 F [2 0 3]   11 0 F [2 3 0]   16 0 F [1 2 0]
		//  2 0 F [7 0]      7 0 H [2 3 0]   12 3 H [2 0 3]   17 1 H [2 0 1]
		//  3 1 F [7 0 1]    8 4 F [3 0 4]   13 2 H [0 3 2]   18 7 F [0 1 7]
		//  4 2 F [0 1 2]    9 2 F [0 4 2]   14 1 F [3 2 1]   19 0 H [1 7 0]
		//  5 0 H [1 2 0]   10 3 F [4 2 3]   15 2 H [3 1 2]   20 1 H [7 0 1]
		// 12 faults, 8 hits: the book's figure.
		{"silberschatz/3", silberschatz, 3, 8},
		// Bélády's string, 3 frames:
		//  1 F [1]  2 F [1 2]  3 F [1 2 3]  4 F [2 3 4]  1 F [3 4 1]  2 F [4 1 2]
		//  5 F [1 2 5]  1 H [2 5 1]  2 H [5 1 2]  3 F [1 2 3]  4 F [2 3 4]  5 F [3 4 5]
		// 10 faults, 2 hits.
		{"belady/3", beladyAnomaly, 3, 2},
		// 4 frames: 1 2 3 4 F; 1 H; 2 H; 5 F [4 1 2 5] (evicts 3); 1 H; 2 H;
		// 3 F (evicts 4); 4 F (evicts 5); 5 F (evicts 1). 8 faults, 4 hits.
		{"belady/4", beladyAnomaly, 4, 4},
		// One frame: a hit only when a key repeats immediately; here never.
		{"belady/1", beladyAnomaly, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLRU(c.capacity)
			if got := Replay(c.trace, l); got != c.hits {
				t.Errorf("LRU hits = %d, want %d", got, c.hits)
			}
			if l.Len() > c.capacity {
				t.Errorf("LRU holds %d keys, capacity %d", l.Len(), c.capacity)
			}
		})
	}
}

func TestOptimalTextbook(t *testing.T) {
	cases := []struct {
		name     string
		trace    []uint64
		capacity int
		bypass   bool
		hits     int
	}{
		// Silberschatz, 3 frames, demand paging (always insert). At a fault the
		// held key used farthest ahead (access number in parentheses) goes:
		//  4: 2 F  next 7(18) 0(5) 1(14)  → evict 7  {0 1 2}
		//  6: 3 F  next 0(7) 1(14) 2(9)   → evict 1  {0 2 3}
		//  8: 4 F  next 0(11) 2(9) 3(10)  → evict 0  {2 3 4}
		// 11: 0 F  next 2(13) 3(12) 4(-)  → evict 4  {2 3 0}
		// 14: 1 F  next 2(15) 3(-) 0(16)  → evict 3  {2 0 1}
		// 18: 7 F  next 2(-) 0(19) 1(20)  → evict 2  {0 1 7}
		// plus 3 cold faults: 9 faults, 11 hits (the book's OPT figure).
		{"silberschatz/3/demand", silberschatz, 3, false, 11},
		// With bypass, 4 at access 8 is never used again: it is not inserted,
		// so 0 stays and access 11 hits; 7 at access 18 is bypassed too.
		// Faults: 3 cold, 2 (4), 3 (6), 4 (8), 1 (14), 7 (18) = 8; 12 hits.
		{"silberschatz/3/bypass", silberschatz, 3, true, 12},
		// Bélády's string, 3 frames, demand: 1 2 3 F; 4 F evicts 3 (next 10,
		// farther than 1 at 5 and 2 at 6); 1 H 2 H; 5 F evicts 4 (11); 1 H 2 H;
		// 3 F, 4 F evict keys never used again; 5 H. 7 faults, 5 hits.
		{"belady/3/demand", beladyAnomaly, 3, false, 5},
		// Bypass: 4 (next 11) and 5 (next 12) are bypassed when they fault at
		// 4 and 7, then 1 2 H, 3 H; 4 F, 5 F. Still 7 faults, 5 hits.
		{"belady/3/bypass", beladyAnomaly, 3, true, 5},
		// 4 frames, demand: 4 cold faults; 1 H 2 H; 5 F evicts 4 (next 11);
		// 1 H 2 H 3 H; 4 F evicts one of 1 2 3 (never used again); 5 H.
		// 6 faults, 6 hits.
		{"belady/4/demand", beladyAnomaly, 4, false, 6},
		{"belady/4/bypass", beladyAnomaly, 4, true, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mustFuture(t, c.trace)
			if got := Replay(c.trace, NewOptimal(f, c.capacity, c.bypass)); got != c.hits {
				t.Errorf("optimal hits = %d, want %d", got, c.hits)
			}
		})
	}
}

func mustFuture(t testing.TB, trace []uint64) *Future {
	t.Helper()
	f, err := NewFuture(trace)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// bruteForceOptimal returns the most hits any policy can score on trace with
// capacity slots, by exhaustive search over every decision: which held key
// to evict on a miss, and, with bypass, whether to insert at all. Keys must
// be < 64 (a held set is a bitmask). Exponential; for tiny traces only.
func bruteForceOptimal(trace []uint64, capacity int, bypass bool) int {
	type state struct {
		pos  int
		held uint64
	}
	memo := map[state]int{}
	var best func(pos int, held uint64) int
	best = func(pos int, held uint64) int {
		if pos == len(trace) {
			return 0
		}
		s := state{pos, held}
		if v, ok := memo[s]; ok {
			return v
		}
		bit := uint64(1) << trace[pos]
		var v int
		switch {
		case held&bit != 0:
			v = 1 + best(pos+1, held)
		case countBits(held) < capacity:
			v = best(pos+1, held|bit)
			if bypass {
				v = max(v, best(pos+1, held))
			}
		default:
			v = -1
			if bypass {
				v = best(pos+1, held)
			}
			for h := held; h != 0; h &= h - 1 {
				victim := h & -h
				v = max(v, best(pos+1, held&^victim|bit))
			}
		}
		memo[s] = v
		return v
	}
	return best(0, 0)
}

func countBits(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// TestOptimalBruteForce checks Bélády's policy against an exhaustive search
// over every policy: MIN is optimal (Bélády 1966; Mattson et al. 1970), with
// and without bypass.
func TestOptimalBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		n := 1 + rng.IntN(14)
		keys := 1 + rng.IntN(6)
		trace := make([]uint64, n)
		for j := range trace {
			trace[j] = uint64(rng.IntN(keys))
		}
		f := mustFuture(t, trace)
		for capacity := 1; capacity <= 4; capacity++ {
			for _, bypass := range []bool{false, true} {
				want := bruteForceOptimal(trace, capacity, bypass)
				if got := Replay(trace, NewOptimal(f, capacity, bypass)); got != want {
					t.Fatalf("case %d: trace %v capacity %d bypass %v: optimal hits %d, exhaustive search %d",
						i, trace, capacity, bypass, got, want)
				}
			}
		}
	}
}

// naiveLRU is an obviously right LRU: a slice, most recent last.
type naiveLRU struct {
	capacity int
	keys     []uint64
}

func (l *naiveLRU) Name() string { return "naive-lru" }

func (l *naiveLRU) Access(key uint64) bool {
	if i := slices.Index(l.keys, key); i >= 0 {
		l.keys = append(slices.Delete(l.keys, i, i+1), key)
		return true
	}
	if len(l.keys) == l.capacity {
		l.keys = slices.Delete(l.keys, 0, 1)
	}
	l.keys = append(l.keys, key)
	return false
}

func TestLRUAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, capacity := range []int{1, 2, 3, 7, 50} {
		l, model := NewLRU(capacity), &naiveLRU{capacity: capacity}
		for i := range 20000 {
			k := uint64(rng.IntN(4 * capacity))
			if got, want := l.Access(k), model.Access(k); got != want {
				t.Fatalf("capacity %d, access %d (key %d): hit %v, model %v", capacity, i, k, got, want)
			}
		}
		if l.Len() != capacity {
			t.Errorf("capacity %d: holds %d keys after a long run", capacity, l.Len())
		}
	}
}

// randomTraces returns traces with different locality: uniform, Zipf-skewed,
// a loop larger than the caches, and a mix of a hot set with scans.
func randomTraces(rng *rand.Rand, n int) map[string][]uint64 {
	uniform := make([]uint64, n)
	zipf := make([]uint64, n)
	loop := make([]uint64, n)
	mixed := make([]uint64, n)
	z := rand.NewZipf(rng, 1.1, 1, 5000)
	scan := uint64(100000)
	for i := range n {
		uniform[i] = uint64(rng.IntN(1000))
		zipf[i] = z.Uint64()
		loop[i] = uint64(i % 700)
		if rng.IntN(3) == 0 {
			mixed[i] = scan
			scan++
		} else {
			mixed[i] = z.Uint64()
		}
	}
	return map[string][]uint64{"uniform": uniform, "zipf": zipf, "loop": loop, "mixed": mixed}
}

// TestOptimalBounds checks that no policy beats Bélády's on random traces:
// demand-paging MIN bounds LRU, MIN with bypass bounds everything including
// the memory tier (which may decline to admit a key).
func TestOptimalBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for name, trace := range randomTraces(rng, 30000) {
		f := mustFuture(t, trace)
		for _, capacity := range []int{1, 10, 100, 500} {
			lru := Replay(trace, NewLRU(capacity))
			mem := Replay(trace, NewMemoryTier(capacity))
			demand := Replay(trace, NewOptimal(f, capacity, false))
			bypass := Replay(trace, NewOptimal(f, capacity, true))
			t.Logf("%s capacity=%d: lru=%d memory-tier=%d optimal(demand)=%d optimal(bypass)=%d",
				name, capacity, lru, mem, demand, bypass)
			if demand < lru {
				t.Errorf("%s capacity=%d: demand-paging optimal %d hits < lru %d", name, capacity, demand, lru)
			}
			if bypass < demand {
				t.Errorf("%s capacity=%d: optimal with bypass %d hits < demand paging %d", name, capacity, bypass, demand)
			}
			if bypass < mem {
				t.Errorf("%s capacity=%d: optimal %d hits < memory-tier %d", name, capacity, bypass, mem)
			}
			if limit := len(trace) - f.DistinctKeys(); bypass > limit {
				t.Errorf("%s capacity=%d: optimal %d hits > accesses minus cold misses %d", name, capacity, bypass, limit)
			}
		}
	}
}

// TestColdMisses checks that every policy misses the first access of a key
// and counts it.
func TestColdMisses(t *testing.T) {
	trace := []uint64{1, 2, 3, 1, 2, 3, 4, 4, 5, 1}
	f := mustFuture(t, trace)
	for _, p := range []Policy{NewMemoryTier(8), NewLRU(8), NewOptimal(f, 8, true)} {
		seen := map[uint64]bool{}
		for i, k := range trace {
			hit := p.Access(k)
			if hit != seen[k] {
				t.Errorf("%s: access %d of key %d: hit %v, want %v (capacity exceeds the keys)", p.Name(), i, k, hit, seen[k])
			}
			seen[k] = true
		}
	}
}

func TestOptimalPanicsOffTrace(t *testing.T) {
	f := mustFuture(t, []uint64{1, 2})
	o := NewOptimal(f, 1, true)
	o.Access(1)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "does not follow its trace") {
			t.Errorf("recovered %v, want a panic naming the trace mismatch", r)
		}
	}()
	o.Access(3)
}

func TestOptimalHeapStaysBounded(t *testing.T) {
	// A hot key hit many times leaves stale heap entries; the heap must be
	// rebuilt rather than grow with the trace.
	trace := make([]uint64, 100000)
	for i := range trace {
		trace[i] = uint64(i % 3)
	}
	o := NewOptimal(mustFuture(t, trace), 4, true)
	Replay(trace, o)
	if len(o.heap) > 2*4+64 {
		t.Errorf("heap holds %d entries for capacity 4", len(o.heap))
	}
}

var resultLine = regexp.MustCompile(`^capacity=[1-9][0-9]* policy=(memory-tier|lru|optimal) hit=[0-9]{1,3}\.[0-9]{2}%$`)

func TestSimulateCache(t *testing.T) {
	trace := []uint64{1, 2, 1, 3, 1, 2}
	results, err := SimulateCache(trace, []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range results {
		if !resultLine.MatchString(r.String()) {
			t.Errorf("result line %q does not match %v", r.String(), resultLine)
		}
		if r.Accesses != len(trace) {
			t.Errorf("%v: accesses %d, want %d", r, r.Accesses, len(trace))
		}
		names = append(names, fmt.Sprintf("%d/%s", r.Capacity, r.Policy))
	}
	want := []string{"1/memory-tier", "1/lru", "1/optimal", "2/memory-tier", "2/lru", "2/optimal"}
	if !slices.Equal(names, want) {
		t.Errorf("results %v, want %v", names, want)
	}
	// Capacity 2, optimal with bypass: 1 F, 2 F, 1 H; 3 F is never used again
	// while 1 and 2 are (accesses 5 and 6), so 3 is bypassed; 1 H, 2 H.
	// 3 hits of 6 accesses = 50.00%.
	if got := results[5].String(); got != "capacity=2 policy=optimal hit=50.00%" {
		t.Errorf("got %q", got)
	}

	for _, bad := range [][]int{{0}, {-1}, {1, 0}} {
		if _, err := SimulateCache(trace, bad); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("capacities %v: err %v, want incorrect", bad, err)
		}
	}
	if _, err := SimulateCache(nil, []int{1}); !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("empty trace: err %v, want incorrect", err)
	}
}

func TestWriteCacheGaps(t *testing.T) {
	results := []CacheResult{
		{Capacity: 10, Policy: PolicyMemoryTier, Accesses: 100, Hits: 40},
		{Capacity: 10, Policy: PolicyLRU, Accesses: 100, Hits: 45},
		{Capacity: 10, Policy: PolicyOptimal, Accesses: 100, Hits: 60},
	}
	var b bytes.Buffer
	if err := WriteCacheGaps(&b, results); err != nil {
		t.Fatal(err)
	}
	if want := "capacity=10 memory-tier-lru=-5.00 optimal-memory-tier=20.00 (points)\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// ---- trace readers ----

func TestReadLIRS(t *testing.T) {
	in := "1\n2\n*\n\n  3  \r\n*\n18446744073709551615\n-1\n+4\n"
	keys, err := ReadLIRS(strings.NewReader(in), "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{1, 2, 3, 1<<64 - 1, 1<<64 - 1, 4}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}

	bad := []struct {
		in   string
		line int
	}{
		{"1\n2\nx\n", 3},
		{"1\n\n*\n1.5\n", 4},
		{"**\n", 1},
		{"1 2\n", 1},
		{"18446744073709551616\n", 1}, // 2^64
		{"0x10\n", 1},
		{"1\n" + strings.Repeat("9", lirsLineBytesMax+1) + "\n", 2},
	}
	for _, b := range bad {
		_, err := ReadLIRS(strings.NewReader(b.in), "bad.trace", 0)
		var te *TraceError
		if !errors.As(err, &te) || te.Line != b.line || te.Name != "bad.trace" {
			t.Errorf("%q: err %v, want a TraceError at bad.trace line %d", b.in, err, b.line)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("bad.trace: line %d: ", b.line)) || !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("%q: error %q should name the file and line and match incorrect", b.in, err)
		}
	}

	_, err = ReadLIRS(strings.NewReader("1\n2\n3\n"), "big", 2)
	var te *TraceError
	if !errors.As(err, &te) || te.Line != 3 || !strings.Contains(err.Error(), "more than 2 keys") {
		t.Errorf("over the limit: err %v", err)
	}
}

func TestReadCache2k(t *testing.T) {
	var in []byte
	for _, k := range []uint32{0, 1, 0xfffffffe, 0x1f8b0800} {
		in = binary.BigEndian.AppendUint32(in, k)
	}
	keys, err := ReadCache2k(bytes.NewReader(in), "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{0, 1, 0xfffffffe, 0x1f8b0800}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}

	for extra := 1; extra < 4; extra++ {
		_, err := ReadCache2k(bytes.NewReader(append(slices.Clone(in), make([]byte, extra)...)), "p.trace", 0)
		var te *TraceError
		if !errors.As(err, &te) || te.Offset != 16 || !strings.Contains(err.Error(), "p.trace: byte offset 16: trailing partial record") {
			t.Errorf("%d trailing bytes: err %v, want a partial record at offset 16", extra, err)
		}
	}
	// A partial record after more than one read buffer's worth of keys.
	long := make([]byte, 4*40000+2)
	_, err = ReadCache2k(bytes.NewReader(long), "long", 0)
	var te *TraceError
	if !errors.As(err, &te) || te.Offset != 4*40000 {
		t.Errorf("long trace with a partial record: err %v, want offset %d", err, 4*40000)
	}

	_, err = ReadCache2k(bytes.NewReader(in), "big", 3)
	if !errors.As(err, &te) || te.Offset != 12 || !strings.Contains(err.Error(), "more than 3 keys") {
		t.Errorf("over the limit: err %v", err)
	}
}

func writeFile(t *testing.T, name string, data []byte, compress bool) string {
	t.Helper()
	if compress {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadTraceFile(t *testing.T) {
	lirs := []byte("5\n*\n6\n5\n")
	var c2k []byte
	for _, k := range []uint32{5, 6, 5} {
		c2k = binary.BigEndian.AppendUint32(c2k, k)
	}
	want := []uint64{5, 6, 5}
	files := []struct {
		name     string
		data     []byte
		compress bool
		format   TraceFormat
	}{
		{"a.trace", lirs, false, FormatLIRS},
		{"a.trace.gz", lirs, true, FormatLIRS},
		{"a.trace", lirs, true, FormatLIRS}, // gzip recognized by its magic number
		{"a.bin", c2k, false, FormatCache2k},
		{"a.bin.gz", c2k, true, FormatCache2k},
	}
	for _, f := range files {
		path := writeFile(t, f.name, f.data, f.compress)
		keys, err := ReadTraceFile(path, f.format, 0)
		if err != nil || !slices.Equal(keys, want) {
			t.Errorf("%s (gzip %v, %s): keys %v, err %v; want %v", f.name, f.compress, f.format, keys, err, want)
		}
	}

	// Bad line inside a gzip-compressed trace: the error names the file and the line.
	path := writeFile(t, "bad.trace.gz", []byte("1\n2\nthree\n"), true)
	if _, err := ReadTraceFile(path, FormatLIRS, 0); err == nil || !strings.Contains(err.Error(), path+": line 3: ") {
		t.Errorf("bad line: err %v", err)
	}
	// A truncated gzip stream is an error, not a shorter trace.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(bytes.Repeat(c2k, 1000))
	zw.Close()
	path = writeFile(t, "cut.bin.gz", z.Bytes()[:z.Len()-12], false)
	if _, err := ReadTraceFile(path, FormatCache2k, 0); !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("truncated gzip: err %v, want incorrect", err)
	}
	path = writeFile(t, "notgz.trace.gz", lirs, false)
	if _, err := ReadTraceFile(path, FormatLIRS, 0); err == nil || !strings.Contains(err.Error(), "not a gzip stream") {
		t.Errorf("plain file named .gz: err %v", err)
	}
	path = writeFile(t, "empty.trace", []byte("*\n\n"), false)
	if _, err := ReadTraceFile(path, FormatLIRS, 0); err == nil || !strings.Contains(err.Error(), "no keys") {
		t.Errorf("empty trace: err %v", err)
	}
	if _, err := ReadTraceFile(filepath.Join(t.TempDir(), "missing"), FormatLIRS, 0); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("missing file: err %v", err)
	}
	if _, err := ReadTraceFile(path, "arc", 0); err == nil || !strings.Contains(err.Error(), `unknown format "arc"`) {
		t.Errorf("unknown format: err %v", err)
	}
	if _, err := ParseTraceFormat("LIRS"); err == nil {
		t.Error("ParseTraceFormat is case-sensitive and should reject LIRS")
	}
}

func FuzzLIRS(f *testing.F) {
	for _, s := range []string{"1\n2\n", "*\n\n3\r\n", "-5\n", "x", "18446744073709551616\n", "1\n\xff\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ReadLIRS(bytes.NewReader(data), "fuzz", 1000)
		if err != nil {
			var te *TraceError
			if !errors.As(err, &te) || te.Line < 1 || !errors.Is(err, anomaly.Incorrect) {
				t.Fatalf("error %v is not a TraceError with a line", err)
			}
			return
		}
		// Every key read round-trips through its decimal form.
		var b bytes.Buffer
		for _, k := range keys {
			fmt.Fprintf(&b, "%d\n", k)
		}
		again, err := ReadLIRS(&b, "again", 1000)
		if err != nil || !slices.Equal(again, keys) {
			t.Fatalf("round trip: %v, %v; want %v", again, err, keys)
		}
	})
}

func FuzzCache2k(f *testing.F) {
	for _, s := range []string{"", "\x00\x00\x00\x01", "\x00\x00\x00\x01\x02", "\x1f\x8b\x08\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ReadCache2k(bytes.NewReader(data), "fuzz", 1000)
		whole := len(data) / 4
		switch {
		case whole > 1000:
			if err == nil {
				t.Fatalf("%d keys over a limit of 1000 accepted", whole)
			}
		case len(data)%4 != 0:
			var te *TraceError
			if !errors.As(err, &te) || te.Offset != int64(4*whole) {
				t.Fatalf("partial record: err %v, want offset %d", err, 4*whole)
			}
		default:
			if err != nil || len(keys) != whole {
				t.Fatalf("%d bytes: %d keys, err %v", len(data), len(keys), err)
			}
			for i, k := range keys {
				if k != uint64(binary.BigEndian.Uint32(data[4*i:])) {
					t.Fatalf("key %d = %d", i, k)
				}
			}
		}
	})
}

// ---- acceptance on the LIRS traces (issue 2) ----

// acceptanceCapacities are the capacities each LIRS trace is replayed at: one
// eighth and one half of its distinct keys, rounded to the nearest 50. They
// are fixed by that rule, not picked by result; a sweep over more capacities
// is in the report of issue 2.
var acceptanceCapacities = map[string][2]int{
	"2_pools": {1250, 4950}, // 9,939 distinct keys, 100,000 accesses
	"cs":      {200, 700},   // 1,409 distinct, 6,781 accesses
	"gli":     {300, 1250},  // 2,529 distinct, 6,015 accesses
	"loop":    {150, 500},   // 1,011 distinct, 505,500 accesses
	"multi2":  {700, 2850},  // 5,684 distinct, 26,311 accesses
	"ps":      {400, 1550},  // 3,083 distinct, 10,448 accesses
	"sprite":  {900, 3550},  // 7,075 distinct, 133,996 accesses
	"zigzag":  {250, 1000},  // 2,001 distinct, 52,001 accesses
}

// memoryTierSeeds are the seeds TestCacheAcceptance replays the memory tier
// with besides the default (seed 0, what `strata bench cache` prints). The
// policy admits ties at random, seeded; one seed's hit ratio on zigzag at
// 1000 differs from another's by up to about half a point, so the criterion
// is held by the default seed and by the mean over these.
var memoryTierSeeds = []uint64{1, 2, 3}

// allowedGapPoints is issue 2's criterion: the memory tier no more than one
// point below LRU.
const allowedGapPoints = 1.0

// newMemoryTierSeed is NewMemoryTier with a seed.
func newMemoryTierSeed(t *testing.T, capacity int, seed uint64) Policy {
	t.Helper()
	sim, err := cachetiers.NewMemoryPolicySimSeed(capacity, seed)
	if err != nil {
		t.Fatal(err)
	}
	return &memoryTier{sim: sim}
}

// TestCacheAcceptance holds the memory tier to issue 2's criterion on every
// LIRS trace at the acceptance capacities, with no exception: no more than
// allowedGapPoints below LRU with the default seed and on the mean over
// memoryTierSeeds, and never above Bélády's optimal.
func TestCacheAcceptance(t *testing.T) {
	skipUnderRace(t)
	dir, ok := sharedTraces(t, "lirs")
	if !ok {
		t.Skipf("no LIRS traces at %s (../shared/traces/lirs from the repository root): skipping the issue 2 acceptance replay", dir)
	}
	names := make([]string, 0, len(acceptanceCapacities))
	for name := range acceptanceCapacities {
		names = append(names, name)
	}
	slices.Sort(names)
	found := 0
	for _, name := range names {
		path := filepath.Join(dir, name+".trace.gz")
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s: not present, skipped", path)
			continue
		}
		found++
		t.Run(name, func(t *testing.T) {
			trace, err := ReadTraceFile(path, FormatLIRS, 0)
			if err != nil {
				t.Fatal(err)
			}
			f := mustFuture(t, trace)
			for _, capacity := range acceptanceCapacities[name] {
				pct := func(hits int) float64 { return 100 * float64(hits) / float64(len(trace)) }
				lru := pct(Replay(trace, NewLRU(capacity)))
				opt := pct(Replay(trace, NewOptimal(f, capacity, true)))
				def := pct(Replay(trace, NewMemoryTier(capacity)))
				var runs []float64
				var mean float64
				for _, seed := range memoryTierSeeds {
					r := pct(Replay(trace, newMemoryTierSeed(t, capacity, seed)))
					runs = append(runs, r)
					mean += r / float64(len(memoryTierSeeds))
				}
				if again := pct(Replay(trace, NewMemoryTier(capacity))); again != def {
					t.Errorf("capacity=%d: two replays with the default seed differ: %.4f%% and %.4f%%", capacity, def, again)
				}
				t.Logf("capacity=%d memory-tier=%.2f%% (seeds %v: %.2f, mean %.2f) lru=%.2f%% optimal=%.2f%%: memory-tier-lru=%+.2f optimal-memory-tier=%.2f points",
					capacity, def, memoryTierSeeds, runs, mean, lru, opt, def-lru, opt-def)
				if best := max(def, slices.Max(runs)); best > opt+1e-9 {
					t.Errorf("capacity=%d: memory tier %.2f%% beats Bélády's optimal %.2f%%: a bug in the simulator", capacity, best, opt)
				}
				if def < lru-allowedGapPoints {
					t.Errorf("capacity=%d: memory tier (default seed) %.2f%% is %.2f points below LRU %.2f%% (allowed %.1f)",
						capacity, def, lru-def, lru, allowedGapPoints)
				}
				if mean < lru-allowedGapPoints {
					t.Errorf("capacity=%d: memory tier (mean of seeds %v) %.2f%% is %.2f points below LRU %.2f%% (allowed %.1f)",
						capacity, memoryTierSeeds, mean, lru-mean, lru, allowedGapPoints)
				}
			}
		})
	}
	if found == 0 {
		t.Skipf("no known LIRS trace in %s", dir)
	}
}

// wtinylfuSeeds are the seeds TestWTinyLFUAcceptance averages over (see
// memoryTierSeeds).
var wtinylfuSeeds = []uint64{1, 2, 3}

// TestWTinyLFUAcceptance holds cachetiers.WTinyLFU alone, unsharded (the
// memory tier's policy), to issue 2's criterion on every LIRS trace
// at the acceptance capacities: its mean hit ratio over wtinylfuSeeds no more
// than allowedGapPoints below LRU, and never above Bélády's optimal.
func TestWTinyLFUAcceptance(t *testing.T) {
	skipUnderRace(t)
	dir, ok := sharedTraces(t, "lirs")
	if !ok {
		t.Skipf("no LIRS traces at %s: skipping the wtinylfu acceptance replay", dir)
	}
	names := make([]string, 0, len(acceptanceCapacities))
	for name := range acceptanceCapacities {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(dir, name+".trace.gz")
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s: not present, skipped", path)
			continue
		}
		t.Run(name, func(t *testing.T) {
			trace, err := ReadTraceFile(path, FormatLIRS, 0)
			if err != nil {
				t.Fatal(err)
			}
			f := mustFuture(t, trace)
			pct := func(hits int) float64 { return 100 * float64(hits) / float64(len(trace)) }
			for _, capacity := range acceptanceCapacities[name] {
				lru := pct(Replay(trace, NewLRU(capacity)))
				opt := pct(Replay(trace, NewOptimal(f, capacity, true)))
				var runs []float64
				var mean float64
				for _, seed := range wtinylfuSeeds {
					r := pct(Replay(trace, NewWTinyLFU(capacity, seed)))
					runs = append(runs, r)
					mean += r / float64(len(wtinylfuSeeds))
				}
				t.Logf("capacity=%d wtinylfu=%.2f%% (runs %.2f) lru=%.2f%% optimal=%.2f%%: wtinylfu-lru=%+.2f",
					capacity, mean, runs, lru, opt, mean-lru)
				if slices.Max(runs) > opt+1e-9 {
					t.Errorf("capacity=%d: wtinylfu %.2f%% beats Bélády's optimal %.2f%%", capacity, slices.Max(runs), opt)
				}
				if mean < lru-allowedGapPoints {
					t.Errorf("capacity=%d: wtinylfu %.2f%% is %.2f points below LRU %.2f%% (allowed %.1f)",
						capacity, mean, lru-mean, lru, allowedGapPoints)
				}
			}
		})
	}
}

// TestWTinyLFUDeterministic checks that a seed fixes every decision.
func TestWTinyLFUDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	trace := randomTraces(rng, 50000)["mixed"]
	a, b := Replay(trace, NewWTinyLFU(300, 7)), Replay(trace, NewWTinyLFU(300, 7))
	if a != b {
		t.Errorf("same seed, different hits: %d and %d", a, b)
	}
}

// sharedTraces returns ../shared/traces/<sub> relative to the repository
// root (the directory holding go.mod), and whether it exists.
func sharedTraces(t *testing.T, sub string) (string, bool) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			traces := filepath.Join(dir, "..", "shared", "traces", sub)
			st, err := os.Stat(traces)
			return traces, err == nil && st.IsDir()
		}
		if filepath.Dir(dir) == dir {
			return filepath.Join("..", "shared", "traces", sub), false
		}
	}
}

// ---- benchmarks ----

func BenchmarkCachePolicy(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	trace := randomTraces(rng, 1<<18)["zipf"]
	f := mustFuture(b, trace)
	const capacity = 1000
	policies := []struct {
		name string
		new  func() Policy
	}{
		{PolicyMemoryTier, func() Policy { return NewMemoryTier(capacity) }},
		{PolicyLRU, func() Policy { return NewLRU(capacity) }},
		{PolicyOptimal, func() Policy { return NewOptimal(f, capacity, true) }},
		{PolicyWTinyLFU, func() Policy { return NewWTinyLFU(capacity, 1) }},
	}
	for _, p := range policies {
		b.Run("policy="+p.name, func(b *testing.B) {
			b.ReportAllocs()
			var hits int
			for b.Loop() {
				hits = Replay(trace, p.new())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(trace)), "ns/access")
			b.ReportMetric(100*float64(hits)/float64(len(trace)), "hit%")
		})
	}
}

// skipUnderRace skips a single-goroutine trace replay under -race: the
// detector slows it tenfold and has nothing to find in it. `make test` runs
// these in its race-free pass.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("single-goroutine trace replay: runs in the race-free pass of make test")
	}
}
