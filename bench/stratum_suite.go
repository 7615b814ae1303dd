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
	r := newSuiteRun(ctx, opts, root)
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
		func() error { rows, err := r.memoryRows(segs[segment.CodecLZ4]); return r.rows(rows, "", err) },
		func() error { return r.rows(r.ssdRows(all)) },
		func() error { rows, err := r.efsRows(all); return r.rows(rows, "", err) },
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
	*stratumSetup
	opts    StratumSuiteOptions
	root    string
	out     *BenchOutput
	closers []func()
	dirs    int
}

func newSuiteRun(ctx context.Context, opts StratumSuiteOptions, root string) *suiteRun {
	r := &suiteRun{opts: opts, root: root, out: &BenchOutput{Env: suiteEnv()}}
	r.stratumSetup = &stratumSetup{
		ctx: ctx,
		newDir: func() (string, error) {
			r.dirs++
			d := fmt.Sprintf("%s/%d", r.root, r.dirs)
			return d, os.Mkdir(d, 0o700)
		},
		onClose: func(f func()) { r.closers = append(r.closers, f) },
	}
	return r
}

func (r *suiteRun) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	os.RemoveAll(r.root)
}

// rows runs the rows of one stratum, or records why they were skipped.
func (r *suiteRun) rows(rows []stratumRow, skip string, err error) error {
	if err != nil {
		return err
	}
	if skip != "" {
		r.skip(skip)
		return nil
	}
	for _, row := range rows {
		if err := r.row(row); err != nil {
			return err
		}
	}
	return nil
}

// row runs one row for Reads reads, checks that its stratum served ours,
// and records the metrics its benchmark reports.
func (r *suiteRun) row(row stratumRow) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	name := benchStratum + "/" + row.name
	if r.opts.Progress != nil {
		r.opts.Progress(name)
	}
	// A batched row (memory hits) records one sample per batch: it reads
	// Reads batches, so that every row has Reads samples.
	n := r.opts.Reads * max(row.pair.batch, 1)
	before := tierHits(row.s)
	ours, ref, refRead, err := row.pair.measure(n)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	allocs, err := row.pair.oursAllocs()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := servedOnly(row.s, before, row.stratum, n+row.extra); err != nil {
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

// stratumSetup makes the strata of the per-stratum rows, for
// RunStratumSuite and the benchmarks (stratum_bench_test.go) alike: newDir
// gives a fresh directory, onClose takes what to close when done.
type stratumSetup struct {
	ctx     context.Context
	newDir  func() (string, error)
	onClose func(func())
}

// stratumRow is one row of BenchmarkStratum: its name under it
// ("stratum=ssd/backend=…/codec=…/ref=…"), the pair it measures, the
// strata ours reads through, the stratum that must serve every read of
// ours, and extra: reads that stratum serves beyond the measured ones (the
// pair's warm-up).
type stratumRow struct {
	name    string
	pair    *pair
	s       *cachetiers.Stratified
	stratum string
	extra   int
}

// missExtra is the reads of the pair's warm-up that a miss row's stratum
// serves besides the measured ones.
const missExtra = 20

func (u *stratumSetup) memoryTier() (*cachetiers.Memory, error) {
	m, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: memoryCapacity})
	if err != nil {
		return nil, err
	}
	u.onClose(func() { m.Close() })
	return m, nil
}

func (u *stratumSetup) dirStore(segs ...*benchSeg) (*cachetiers.DirStore, error) {
	d, err := u.newDir()
	if err != nil {
		return nil, err
	}
	st, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: d})
	if err != nil {
		return nil, err
	}
	u.onClose(func() { st.Close() })
	return st, u.putAll(st, segs...)
}

func (u *stratumSetup) putAll(t cachetiers.Tier, segs ...*benchSeg) error {
	for _, s := range segs {
		if err := t.Put(u.ctx, s.id, s.data); err != nil {
			return fmt.Errorf("put %s into %s: %w", s.id.Short(), t.Name(), err)
		}
	}
	return nil
}

func (u *stratumSetup) stratified(mem *cachetiers.Memory, tiers ...cachetiers.Tier) (*cachetiers.Stratified, error) {
	s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: tiers})
	if err != nil {
		return nil, err
	}
	u.onClose(func() { s.Close() })
	return s, nil
}

// warmIndexes reads each segment's index through s, so that memory holds it
// as it does on a node once the segment has been read (DESIGN.md: "once the
// root is cached"). A block read then costs one read at the stratum below.
func (u *stratumSetup) warmIndexes(s *cachetiers.Stratified, segs ...*benchSeg) error {
	for _, sg := range segs {
		if _, err := s.Index(u.ctx, sg.id); err != nil {
			return err
		}
	}
	return nil
}

// missStrata is a memory tier over tiers then a directory store holding
// segs, with their indexes read: the strata of a miss row.
func (u *stratumSetup) missStrata(segs []*benchSeg, tiers ...cachetiers.Tier) (*cachetiers.Memory, *cachetiers.Stratified, error) {
	mem, err := u.memoryTier()
	if err != nil {
		return nil, nil, err
	}
	st, err := u.dirStore(segs...)
	if err != nil {
		return nil, nil, err
	}
	s, err := u.stratified(mem, append(tiers, st)...)
	if err != nil {
		return nil, nil, err
	}
	return mem, s, u.warmIndexes(s, segs...)
}

// missPair reads block i of sg through s after dropping it from mem (so a
// deeper stratum serves it), against read and the same decode.
func (u *stratumSetup) missPair(s *cachetiers.Stratified, mem *cachetiers.Memory, sg *benchSeg, read func(int) ([]byte, error)) *pair {
	return &pair{
		blocks:  sg.blocks(),
		prepare: func(i int) { mem.RemoveBlock(sg.id, i) },
		ours: func(i int) error {
			_, err := s.Block(u.ctx, sg.id, i)
			return err
		},
		read:   read,
		decode: sg.decode,
	}
}

// memoryRows: a memory hit through Stratified.Block against two raw
// lookups of the same decoded blocks: a Get from a plain otter cache (the
// off-the-shelf concurrent W-TinyLFU the memory tier was first built on),
// and a Get from the tier's own policy core, a cachetiers.WTinyLFU, behind
// one mutex as each of the tier's shards holds it. The second isolates what
// Stratified and Memory add above the policy.
func (u *stratumSetup) memoryRows(sg *benchSeg) ([]stratumRow, error) {
	mem, err := u.memoryTier()
	if err != nil {
		return nil, err
	}
	st, err := u.dirStore(sg)
	if err != nil {
		return nil, err
	}
	s, err := u.stratified(mem, st)
	if err != nil {
		return nil, err
	}
	oc, err := otter.New(&otter.Options[memKey, []byte]{
		MaximumWeight: memoryCapacity,
		Weigher:       func(_ memKey, v []byte) uint32 { return uint32(cap(v)) },
	})
	if err != nil {
		return nil, err
	}
	u.onClose(func() { oc.StopAllGoroutines() })
	wt, err := cachetiers.NewWTinyLFU[memKey, []byte](cachetiers.WTinyLFUOptions{
		Capacity:        memoryCapacity,
		ExpectedEntries: memoryCapacity / segment.DefaultBlockSize,
		Seed:            1,
	}, memKey.hash)
	if err != nil {
		return nil, err
	}
	var wtMu sync.Mutex
	for i := range sg.blocks() {
		blk, err := s.Block(u.ctx, sg.id, i)
		if err != nil {
			return nil, err
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
	var rows []stratumRow
	for _, ref := range refs {
		p := &pair{
			blocks: sg.blocks(),
			batch:  64,
			ours: func(i int) error {
				_, err := s.Block(u.ctx, sg.id, i)
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
		rows = append(rows, stratumRow{name: "stratum=memory/ref=" + ref.name, pair: p, s: s, stratum: "memory"})
	}
	return rows, nil
}

// ssdRows: a block read that misses memory (the segment's index held) and
// is served by the ssd tier, against a raw O_DIRECT pread of the same 4 KiB
// aligned range of the same cache file, plus the same decode. Where the
// ssd tier or O_DIRECT is unavailable it returns why instead.
func (u *stratumSetup) ssdRows(segs []*benchSeg) (rows []stratumRow, skip string, err error) {
	d, err := u.newDir()
	if err != nil {
		return nil, "", err
	}
	ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{
		Dir: d, CapacityBytes: 16 << 20, RegionSize: 4 << 20,
		// Fixed buffers make the ring read with IORING_OP_READ_FIXED into
		// registered memory; one block range fits in 64 KiB.
		RingOptions: iouring.Options{FixedBuffers: 8, FixedBufferSize: 64 << 10},
	})
	if err != nil {
		return nil, fmt.Sprintf("ssd tier unavailable here: %v", err), nil
	}
	u.onClose(func() { ssd.Close() })
	if err := u.putAll(ssd, segs...); err != nil {
		return nil, "", err
	}
	mem, s, err := u.missStrata(segs, ssd)
	if err != nil {
		return nil, "", err
	}
	backend := ssd.Stats().Backend // "io_uring", or "pread" where io_uring is forbidden
	path, err := findSSDCacheFile(d)
	if err != nil {
		return nil, "", err
	}
	raw, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Sprintf("O_DIRECT reference unavailable: %v", err), nil
	}
	u.onClose(func() { raw.Close() })
	buf := iouring.AlignedBuffer(256 << 10)
	for _, sg := range segs {
		base, err := findSegmentInSSD(raw, sg)
		if err != nil {
			return nil, "", err
		}
		p := u.missPair(s, mem, sg, func(i int) ([]byte, error) {
			off, n := sg.ix.BlockRange(i)
			aligned := (n + iouring.BlockSize - 1) &^ (iouring.BlockSize - 1)
			got, err := unix.Pread(int(raw.Fd()), buf[:aligned], base+off)
			if err != nil || got < n {
				return nil, fmt.Errorf("pread %d bytes at %d: got %d: %v", aligned, base+off, got, err)
			}
			return buf[:n], nil
		})
		rows = append(rows, stratumRow{name: "stratum=ssd/backend=" + backend + "/codec=" + sg.codec.String() + "/ref=pread-odirect",
			pair: p, s: s, stratum: "ssd", extra: missExtra})
	}
	return rows, "", nil
}

// efsRows: a block read served by the efs tier (a directory here), against
// open + pread + close of the same range of the same file (what the tier
// does, the fair reference) and against os.ReadFile of the whole segment
// file (the reference), each plus the same decode.
func (u *stratumSetup) efsRows(segs []*benchSeg) ([]stratumRow, error) {
	d, err := u.newDir()
	if err != nil {
		return nil, err
	}
	efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: d})
	if err != nil {
		return nil, err
	}
	u.onClose(func() { efs.Close() })
	if err := u.putAll(efs, segs...); err != nil {
		return nil, err
	}
	mem, s, err := u.missStrata(segs, efs)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 256<<10)
	var rows []stratumRow
	for _, sg := range segs {
		path := efs.Path(sg.id)
		refs := []struct {
			name string
			read func(i int) ([]byte, error)
		}{
			{"pread", func(i int) ([]byte, error) {
				off, n := sg.ix.BlockRange(i)
				return preadFile(path, buf, off, n)
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
			rows = append(rows, stratumRow{name: "stratum=efs/codec=" + sg.codec.String() + "/ref=" + ref.name,
				pair: u.missPair(s, mem, sg, ref.read), s: s, stratum: "efs", extra: missExtra})
		}
	}
	return rows, nil
}

// preadFile reads n bytes at off of the file at path into buf, opening
// and closing it as the efs tier does (the fair reference of a file read).
func preadFile(path string, buf []byte, off int64, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf[:n], off); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// skip records that the ssd rows did not run, and why.
func (r *suiteRun) skip(reason string) {
	r.out.Skips = append(r.out.Skips, BenchSkip{Pkg: StratumSuitePkg, Name: benchStratum + "/stratum=ssd", Reason: reason})
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
