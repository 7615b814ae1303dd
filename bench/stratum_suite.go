package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/iouring"
	"github.com/stratadb/strata/segment"
)

// StratumSuiteOptions configure RunStratumSuite.
type StratumSuiteOptions struct {
	// Reads is the number of samples of each kind (ours and the
	// reference) per row: reads, or batches of 64 reads for memory hits. Default StratumSuiteReadsDefault; at most
	// StratumSuiteReadsMax.
	Reads int
	// Dir is where the suite makes its temporary directories (the ssd
	// tier's cache file, the efs tier, the store). Default os.TempDir().
	// O_DIRECT needs a file system that has it (not tmpfs).
	Dir string
	// Progress, if set, is told the name of each row before it runs.
	Progress func(name string)
}

const (
	// StratumSuiteReadsDefault reads per row take a few seconds for the
	// whole suite on a 2-core VM.
	StratumSuiteReadsDefault = 2000
	// StratumSuiteReadsMax bounds a row's reads (and its histograms' work).
	StratumSuiteReadsMax = 10_000_000
)

// StratumSuitePkg is the package the results of RunStratumSuite name, as
// `go test -bench` output of package bench would.
const StratumSuitePkg = "github.com/stratadb/strata/bench"

// RunStratumSuite runs the local rows of BenchmarkStratum in this process:
// memory (refs otter and wtinylfu), ssd (lz4 and zstd, ref
// pread-odirect) and efs (lz4 and zstd, refs pread and readfile), with the
// same segments, the same loop (pair) and the same references as the
// benchmarks, and returns them as the parsed output of `go test -bench`
// would be, under the same names. The rows that need a server (s3 and the
// cold reads against MinIO) or take minutes (the emulated AWS profile) are
// listed in Skips with the command that runs them; the ssd rows are
// skipped, with the reason, where the ssd tier or O_DIRECT is unavailable.
//
// It is not safe to run two suites at once in one process: their
// timings would disturb each other.
func RunStratumSuite(ctx context.Context, opts StratumSuiteOptions) (*BenchOutput, error) {
	if opts.Reads == 0 {
		opts.Reads = StratumSuiteReadsDefault
	}
	if opts.Reads < 1 || opts.Reads > StratumSuiteReadsMax {
		return nil, fmt.Errorf("stratum suite: %d reads per row: want 1 to %d", opts.Reads, StratumSuiteReadsMax)
	}
	root, err := os.MkdirTemp(opts.Dir, "strata-bench-strata-")
	if err != nil {
		return nil, fmt.Errorf("stratum suite: %w", err)
	}
	r := &suiteRun{ctx: ctx, opts: opts, root: root, out: &BenchOutput{Env: suiteEnv()}}
	defer r.close()
	segs := make(map[segment.Codec]*benchSeg)
	var all []*benchSeg
	for k, c := range benchCodecs {
		// The seeds of BenchmarkStratum: the same segments.
		if segs[c], err = newStratumSegment(c, uint64(k+1)); err != nil {
			return nil, fmt.Errorf("stratum suite: build a %s segment: %w", c, err)
		}
		all = append(all, segs[c])
	}
	for _, step := range []func() error{
		func() error { return r.memory(segs[segment.CodecLZ4]) },
		func() error { return r.ssd(all) },
		func() error { return r.efs(all) },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("stratum suite: %w", err)
		}
	}
	for _, s := range []struct{ name, why string }{
		{benchStratum + "/stratum=s3", "needs MinIO: ./scripts/with-servers go test -run '^$' -bench '^BenchmarkStratum$' ./bench/ (or make bench)"},
		{benchStratumCold, "needs MinIO: make bench"},
		{benchStratumEmulated, "reads wait emulated AWS delays (~15 ms each): go test -run '^$' -bench '^BenchmarkStratumEmulated$' -benchtime 300x ./bench/"},
	} {
		r.out.Skips = append(r.out.Skips, BenchSkip{Pkg: StratumSuitePkg, Name: s.name, Reason: "not run in-process: " + s.why})
	}
	return r.out, nil
}

// benchCodecs are the codecs the tier rows run with: lz4, fast to decode,
// and zstd, smaller.
var benchCodecs = []segment.Codec{segment.CodecLZ4, segment.CodecZstd}

// memoryCapacity holds every block and index of the suite many times over.
const memoryCapacity = 64 << 20

// suiteEnv describes this machine as `go test -bench` does.
func suiteEnv() map[string]string {
	env := map[string]string{"goos": goos(), "goarch": goarch()}
	if cpu := cpuModel(); cpu != "" {
		env["cpu"] = cpu
	}
	return env
}

// suiteRun is one RunStratumSuite: its results and what to close after.
type suiteRun struct {
	ctx     context.Context
	opts    StratumSuiteOptions
	root    string
	out     *BenchOutput
	closers []func()
	dirs    int
}

func (r *suiteRun) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	os.RemoveAll(r.root)
}

func (r *suiteRun) dir() (string, error) {
	r.dirs++
	d := fmt.Sprintf("%s/%d", r.root, r.dirs)
	return d, os.Mkdir(d, 0o700)
}

func (r *suiteRun) memoryTier() (*cachetiers.Memory, error) {
	m, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: memoryCapacity})
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { m.Close() })
	return m, nil
}

func (r *suiteRun) dirStore(segs ...*benchSeg) (*cachetiers.DirStore, error) {
	d, err := r.dir()
	if err != nil {
		return nil, err
	}
	st, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: d})
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { st.Close() })
	return st, r.putAll(st, segs...)
}

func (r *suiteRun) putAll(t cachetiers.Tier, segs ...*benchSeg) error {
	for _, s := range segs {
		if err := t.Put(r.ctx, s.id, s.data); err != nil {
			return fmt.Errorf("put %s into %s: %w", s.id.Short(), t.Name(), err)
		}
	}
	return nil
}

func (r *suiteRun) stratified(mem *cachetiers.Memory, tiers ...cachetiers.Tier) (*cachetiers.Stratified, error) {
	s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: tiers})
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { s.Close() })
	return s, nil
}

// warmIndexes reads each segment's index through s, as the benchmarks do.
func (r *suiteRun) warmIndexes(s *cachetiers.Stratified, segs ...*benchSeg) error {
	for _, sg := range segs {
		if _, err := s.Index(r.ctx, sg.id); err != nil {
			return err
		}
	}
	return nil
}

// row runs p for Reads reads, checks that stratum served ours, and records
// the metrics the benchmark named name reports.
func (r *suiteRun) row(name string, s *cachetiers.Stratified, stratum string, p *pair, extra int) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if r.opts.Progress != nil {
		r.opts.Progress(name)
	}
	// A batched row (memory hits) records one sample per batch: it reads
	// Reads batches, so that every row has Reads samples.
	n := r.opts.Reads * max(p.batch, 1)
	before := tierHits(s)
	ours, ref, refRead, err := p.measure(n)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	allocs, err := p.oursAllocs()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := servedOnly(s, before, stratum, n+extra); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	res := BenchResult{Pkg: StratumSuitePkg, Name: name, Procs: procs(), Iterations: int64(n), Metrics: make(map[string]float64)}
	rep := metricMap(res.Metrics)
	ReportPair(rep, ours, ref)
	ReportLatency(rep, RefReadPrefix, refRead)
	rep.ReportMetric(allocs, UnitOursAllocs)
	r.out.Results = append(r.out.Results, res)
	return nil
}

// metricMap collects metrics as b.ReportMetric would report them.
type metricMap map[string]float64

func (m metricMap) ReportMetric(n float64, unit string) { m[unit] = n }

// memory is benchMemory's rows (stratum_bench_test.go).
func (r *suiteRun) memory(sg *benchSeg) error {
	mem, err := r.memoryTier()
	if err != nil {
		return err
	}
	st, err := r.dirStore(sg)
	if err != nil {
		return err
	}
	s, err := r.stratified(mem, st)
	if err != nil {
		return err
	}
	oc, err := otter.New(&otter.Options[memKey, []byte]{
		MaximumWeight: memoryCapacity,
		Weigher:       func(_ memKey, v []byte) uint32 { return uint32(cap(v)) },
	})
	if err != nil {
		return err
	}
	r.closers = append(r.closers, func() { oc.StopAllGoroutines() })
	wt, err := cachetiers.NewWTinyLFU[memKey, []byte](cachetiers.WTinyLFUOptions{
		Capacity:        memoryCapacity,
		ExpectedEntries: memoryCapacity / segment.DefaultBlockSize,
		Seed:            1,
	}, memKey.hash)
	if err != nil {
		return err
	}
	var wtMu sync.Mutex
	for i := range sg.blocks() {
		blk, err := s.Block(r.ctx, sg.id, i)
		if err != nil {
			return err
		}
		oc.Set(memKey{sg.id, i}, blk)
		wt.Add(memKey{sg.id, i}, blk, uint32(cap(blk)))
	}
	refs := []struct {
		name string
		get  func(memKey) ([]byte, bool)
	}{
		{"otter", oc.GetIfPresent},
		{"wtinylfu", func(k memKey) ([]byte, bool) {
			wtMu.Lock()
			v, ok := wt.Get(k)
			wtMu.Unlock()
			return v, ok
		}},
	}
	for _, ref := range refs {
		p := &pair{
			blocks: sg.blocks(),
			batch:  64,
			ours: func(i int) error {
				_, err := s.Block(r.ctx, sg.id, i)
				return err
			},
			read: func(i int) ([]byte, error) {
				v, ok := ref.get(memKey{sg.id, i})
				if !ok {
					return nil, fmt.Errorf("%s reference: block %d missing", ref.name, i)
				}
				return v, nil
			},
		}
		if err := r.row(benchStratum+"/stratum=memory/ref="+ref.name, s, "memory", p, 0); err != nil {
			return err
		}
	}
	return nil
}

// ssd is benchSSD's rows. Where the ssd tier or O_DIRECT is unavailable
// the rows are skipped, with the reason, as the benchmark skips them.
func (r *suiteRun) ssd(segs []*benchSeg) error {
	d, err := r.dir()
	if err != nil {
		return err
	}
	ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{
		Dir: d, CapacityBytes: 16 << 20, RegionSize: 4 << 20,
		RingOptions: iouring.Options{FixedBuffers: 8, FixedBufferSize: 64 << 10},
	})
	if err != nil {
		r.skip(benchStratum+"/stratum=ssd", fmt.Sprintf("ssd tier unavailable here: %v", err))
		return nil
	}
	r.closers = append(r.closers, func() { ssd.Close() })
	if err := r.putAll(ssd, segs...); err != nil {
		return err
	}
	mem, err := r.memoryTier()
	if err != nil {
		return err
	}
	st, err := r.dirStore(segs...)
	if err != nil {
		return err
	}
	s, err := r.stratified(mem, ssd, st)
	if err != nil {
		return err
	}
	if err := r.warmIndexes(s, segs...); err != nil {
		return err
	}
	backend := ssd.Stats().Backend
	path, err := findSSDCacheFile(d)
	if err != nil {
		return err
	}
	raw, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		r.skip(benchStratum+"/stratum=ssd", fmt.Sprintf("O_DIRECT reference unavailable: %v", err))
		return nil
	}
	r.closers = append(r.closers, func() { raw.Close() })
	buf := iouring.AlignedBuffer(256 << 10)
	for _, sg := range segs {
		base, err := findSegmentInSSD(raw, sg)
		if err != nil {
			return err
		}
		p := &pair{
			blocks:  sg.blocks(),
			prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
			ours: func(i int) error {
				_, err := s.Block(r.ctx, sg.id, i)
				return err
			},
			read: func(i int) ([]byte, error) {
				off, n := sg.ix.BlockRange(i)
				aligned := (n + iouring.BlockSize - 1) &^ (iouring.BlockSize - 1)
				got, err := unix.Pread(int(raw.Fd()), buf[:aligned], base+off)
				if err != nil || got < n {
					return nil, fmt.Errorf("pread %d bytes at %d: got %d: %v", aligned, base+off, got, err)
				}
				return buf[:n], nil
			},
			decode: sg.decode,
		}
		name := benchStratum + "/stratum=ssd/backend=" + backend + "/codec=" + sg.codec.String() + "/ref=pread-odirect"
		if err := r.row(name, s, "ssd", p, 20); err != nil {
			return err
		}
	}
	return nil
}

// efs is benchEFS's rows.
func (r *suiteRun) efs(segs []*benchSeg) error {
	d, err := r.dir()
	if err != nil {
		return err
	}
	efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: d})
	if err != nil {
		return err
	}
	r.closers = append(r.closers, func() { efs.Close() })
	if err := r.putAll(efs, segs...); err != nil {
		return err
	}
	mem, err := r.memoryTier()
	if err != nil {
		return err
	}
	st, err := r.dirStore(segs...)
	if err != nil {
		return err
	}
	s, err := r.stratified(mem, efs, st)
	if err != nil {
		return err
	}
	if err := r.warmIndexes(s, segs...); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for _, sg := range segs {
		path := efs.Path(sg.id)
		refs := []struct {
			name string
			read func(i int) ([]byte, error)
		}{
			{"pread", func(i int) ([]byte, error) {
				off, n := sg.ix.BlockRange(i)
				f, err := os.Open(path)
				if err != nil {
					return nil, err
				}
				defer f.Close()
				if _, err := f.ReadAt(buf[:n], off); err != nil {
					return nil, err
				}
				return buf[:n], nil
			}},
			{"readfile", func(i int) ([]byte, error) {
				data, err := os.ReadFile(path)
				if err != nil {
					return nil, err
				}
				off, n := sg.ix.BlockRange(i)
				if int64(len(data)) < off+int64(n) {
					return nil, fmt.Errorf("%s: %d bytes, block range ends at %d", path, len(data), off+int64(n))
				}
				return data[off : off+int64(n)], nil
			}},
		}
		for _, ref := range refs {
			p := &pair{
				blocks:  sg.blocks(),
				prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
				ours: func(i int) error {
					_, err := s.Block(r.ctx, sg.id, i)
					return err
				},
				read:   ref.read,
				decode: sg.decode,
			}
			name := benchStratum + "/stratum=efs/codec=" + sg.codec.String() + "/ref=" + ref.name
			if err := r.row(name, s, "efs", p, 20); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *suiteRun) skip(name, reason string) {
	r.out.Skips = append(r.out.Skips, BenchSkip{Pkg: StratumSuitePkg, Name: name, Reason: reason})
}

func goos() string   { return runtime.GOOS }
func goarch() string { return runtime.GOARCH }
func procs() int     { return runtime.GOMAXPROCS(0) }

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
