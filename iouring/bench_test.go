//go:build linux

package iouring_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratadb/strata/iouring"
)

// The benchmarks read 4 KiB blocks at random offsets of one file with
// O_DIRECT, through this package and through fio on the same file in the
// same process run, and report our figures as ratios of fio's (DESIGN.md:
// absolute numbers on these shared machines are noise).
//
//	go test -run XXX -bench RandRead4K -benchtime=5s ./iouring/
//
// Environment:
//
//	STRATA_BENCH_FILE    an existing file to read (default: a 1 GiB file of
//	                     random bytes written once per run to a temp dir)
//	STRATA_BENCH_SIZE    size in bytes of the generated file (default 1 GiB)
//
// Our reads and fio alternate in segments of half a second (see paired), so
// that both see the same machine: on these shared machines the device's
// speed drifts by tens of percent within a minute. fio is skipped, with no
// ratio reported, for runs too short to pair (the framework's probes of b.N).
// Time spent in fio is excluded from ns/op.
//
// Metrics: p50-ns, p99-ns (QD1, per ReadAt, end to end); fio-p50-ns and
// fio-p99-ns are fio's total latency (lat = slat + clat) and
// p50-ratio-vs-fio compares the two; p50-ratio-vs-fio-clat compares our
// end-to-end p50 with fio's completion latency alone, which leaves out the
// ~13 us submit syscall that every read pays on virtio. iops, fio-iops,
// iops-ratio-vs-fio (QD32, totals) and iops-ratio-vs-fio-pairs-p50 (the
// median of the ratios of each segment of ours and the fio run right after
// it, robust to the drift); *-vs-fio-psync compare the pread backend with
// fio's psync engine (numjobs = queue depth), its like-for-like.

var benchTmp string // removed by TestMain

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		// Each Open logs its backend at Info; keep benchmark output
		// benchstat-readable.
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	code := m.Run()
	if benchTmp != "" {
		os.RemoveAll(benchTmp)
	}
	os.Exit(code)
}

var benchFileOnce = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("STRATA_BENCH_FILE"); p != "" {
		return p, nil
	}
	size := int64(1 << 30)
	if s := os.Getenv("STRATA_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1<<20 {
			return "", fmt.Errorf("STRATA_BENCH_SIZE=%q: want a byte count >= 1 MiB", s)
		}
		size = n / 4096 * 4096
	}
	dir, err := os.MkdirTemp("", "strata-iouring-bench-")
	if err != nil {
		return "", err
	}
	benchTmp = dir
	path := filepath.Join(dir, "data")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// Real bytes, not a hole or fallocate's unwritten extents, which the
	// file system would answer without touching the device.
	rng := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 4<<20)
	for written := int64(0); written < size; written += int64(len(chunk)) {
		rng.Read(chunk)
		if _, err := f.Write(chunk[:min(int64(len(chunk)), size-written)]); err != nil {
			return "", err
		}
	}
	return path, f.Sync()
})

func benchFile(b *testing.B) (string, int64) {
	path, err := benchFileOnce()
	if err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	if st.Size() < 1<<20 {
		b.Fatalf("%s: %d bytes; want at least 1 MiB", path, st.Size())
	}
	return path, st.Size() / 4096 * 4096
}

// fioResult is what the benchmarks use of fio's JSON report.
type fioResult struct {
	iops      float64
	latP50    float64 // ns, slat+clat: what the caller of one read waits
	latP99    float64
	clatP50   float64 // ns, from submission to completion, without the submit syscall
	clatP99   float64
	slatMean  float64
	cmdline   string
	runtimeMs int64
}

// segment is how long our reads run before fio runs for as long: ours and
// fio's alternate in segments so that both see the same machine. On these
// shared machines the device's speed drifts by tens of percent within
// seconds, so one fio run before or after ours is not a fair reference.
const segment = 500 * time.Millisecond

// minPairedRun is the shortest tail segment that still gets a fio run; a
// run too short for any (the framework's probes of b.N) reports no ratio.
const minPairedRun = 200 * time.Millisecond

func fioPath(b *testing.B) string {
	bin, err := exec.LookPath("fio")
	if err != nil {
		b.Skipf("fio is not installed (apt-get install -y fio); it is the reference this benchmark reports against: %v", err)
	}
	return bin
}

// runFio runs fio for dur with engine at queue depth qd on the file.
func runFio(b *testing.B, path string, size int64, engine string, qd int, dur time.Duration) fioResult {
	bin := fioPath(b)
	runtime := strconv.FormatInt(dur.Milliseconds(), 10) + "ms"
	key := fmt.Sprintf("%s/iodepth=%d", engine, qd)
	args := []string{"--name=randread", "--filename=" + path, "--ioengine=" + engine, "--direct=1",
		"--rw=randread", "--bs=4k", "--size=" + strconv.FormatInt(size, 10), "--norandommap", "--randrepeat=0",
		"--runtime=" + runtime, "--time_based", "--lat_percentiles=1", "--output-format=json"}
	if engine == "psync" {
		args = append(args, "--numjobs="+strconv.Itoa(qd), "--group_reporting")
	} else {
		args = append(args, "--iodepth="+strconv.Itoa(qd))
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		b.Fatalf("fio %v: %v\n%s", args, err, out)
	}
	var rep struct {
		Jobs []struct {
			Read struct {
				IOPS    float64 `json:"iops"`
				Runtime int64   `json:"runtime"`
				Slat    struct {
					Mean float64 `json:"mean"`
				} `json:"slat_ns"`
				Clat struct {
					Percentile map[string]float64 `json:"percentile"`
				} `json:"clat_ns"`
				Lat struct {
					Percentile map[string]float64 `json:"percentile"`
				} `json:"lat_ns"`
			} `json:"read"`
		} `json:"jobs"`
	}
	// fio may print notices before the JSON document.
	if i := slices.Index(out, '{'); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Jobs) == 0 {
		b.Fatalf("fio JSON: %v\n%s", err, out)
	}
	rd := rep.Jobs[0].Read
	r := fioResult{
		iops: rd.IOPS, runtimeMs: max(rd.Runtime, 1), slatMean: rd.Slat.Mean,
		latP50: rd.Lat.Percentile["50.000000"], latP99: rd.Lat.Percentile["99.000000"],
		clatP50: rd.Clat.Percentile["50.000000"], clatP99: rd.Clat.Percentile["99.000000"],
		cmdline: "fio " + fmt.Sprint(args),
	}
	if r.iops == 0 || r.latP50 == 0 || r.clatP50 == 0 {
		b.Fatalf("fio reported no reads: %+v\n%s", r, out)
	}
	if testing.Verbose() {
		b.Logf("fio %s for %s: %.0f IOPS, lat p50 %.0f ns p99 %.0f ns, clat p50 %.0f ns p99 %.0f ns, slat mean %.0f ns",
			key, runtime, r.iops, r.latP50, r.latP99, r.clatP50, r.clatP99, r.slatMean)
	}
	return r
}

// fioSum accumulates the fio runs of one benchmark, weighted by their length.
type fioSum struct {
	runs                                   int
	ms                                     float64
	ios                                    float64
	latP50, latP99, clatP50, clatP99, slat float64   // sums of value*ms
	pairRatios                             []float64 // per segment: our IOPS / fio's
}

func (s *fioSum) add(r fioResult) {
	w := float64(r.runtimeMs)
	s.runs++
	s.ms += w
	s.ios += r.iops * w / 1000
	s.latP50 += r.latP50 * w
	s.latP99 += r.latP99 * w
	s.clatP50 += r.clatP50 * w
	s.clatP99 += r.clatP99 * w
	s.slat += r.slatMean * w
}

// addPaired adds a fio run that followed a segment of ours of ops
// operations in d, and remembers the IOPS ratio of the pair.
func (s *fioSum) addPaired(r fioResult, d time.Duration, ops int) {
	s.add(r)
	s.pairRatios = append(s.pairRatios, float64(ops)/d.Seconds()/r.iops)
}

// pairMedian is the median over the pairs of our IOPS over fio's: each pair
// saw the same machine within a second, so drifts of the device between
// pairs cancel out, which a ratio of the totals does not do.
func (s *fioSum) pairMedian() float64 {
	r := slices.Clone(s.pairRatios)
	slices.Sort(r)
	if len(r) == 0 {
		return 0
	}
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

func (s *fioSum) result() fioResult {
	return fioResult{iops: s.ios / s.ms * 1000, latP50: s.latP50 / s.ms, latP99: s.latP99 / s.ms,
		clatP50: s.clatP50 / s.ms, clatP99: s.clatP99 / s.ms, slatMean: s.slat / s.ms}
}

// paired runs total operations through run, in chunks, and after every
// segment of them calls ref for as long as that segment took, with the
// number of operations the segment ran. It returns the
// time spent in run.
func paired(b *testing.B, total int, run func(n int), ref func(time.Duration, int)) time.Duration {
	var ours, seg time.Duration
	segOps := 0
	chunk := min(total, 64)
	for done := 0; done < total; {
		n := min(chunk, total-done)
		t0 := time.Now()
		run(n)
		d := time.Since(t0)
		ours, seg, done, segOps = ours+d, seg+d, done+n, segOps+n
		if seg >= segment || (done == total && seg >= minPairedRun) {
			b.StopTimer()
			ref(seg, segOps)
			b.StartTimer()
			seg, segOps = 0, 0
		}
		// Chunks of about a tenth of a segment.
		chunk = max(1, int(int64(segment/10)*int64(n)/max(int64(d), 1)))
	}
	return ours
}

func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))])
}

// BenchmarkRandRead4K: 4 KiB O_DIRECT random reads, for both backends:
//
//   - qd=1: p50 and p99 latency of ReadAt, against fio's io_uring engine at
//     iodepth=1.
//   - qd=32/via=goroutines: IOPS of 32 goroutines calling ReadAt, against fio
//     at iodepth=32. This is how the cache tier reads: one goroutine per
//     request.
//   - qd=32/via=goroutines-coop: the same with Options.CoopTaskrun.
//   - qd=32/via=batch: IOPS of one goroutine keeping 32 reads in flight with
//     ReadBatch on a 32-entry ring, against fio at iodepth=32: fio's own
//     shape (one thread, 32 in flight), the like-for-like comparison.
//
// The pread backend is also compared with fio's psync engine (numjobs=qd).
func BenchmarkRandRead4K(b *testing.B) {
	path, size := benchFile(b)
	type variant struct {
		name string
		qd   int
		via  string // "goroutines", "goroutines-coop" (Options.CoopTaskrun) or "batch"
	}
	for _, v := range []variant{{"qd=1", 1, "goroutines"}, {"qd=32", 32, "goroutines"}, {"qd=32", 32, "goroutines-coop"}, {"qd=32", 32, "batch"}} {
		for _, backend := range []iouring.Backend{iouring.BackendIOUring, iouring.BackendPread} {
			if v.via == "goroutines-coop" && backend == iouring.BackendPread {
				continue // an io_uring option
			}
			name := fmt.Sprintf("%s/backend=%s", v.name, backend)
			if v.qd > 1 {
				name += "/via=" + v.via
			}
			b.Run(name, func(b *testing.B) {
				if backend == iouring.BackendIOUring {
					if err := iouring.Supported(); err != nil {
						b.Skipf("io_uring unavailable: %v", err)
					}
				}
				fioPath(b)
				var ref, refSync fioSum
				refs := func(d time.Duration, ops int) {
					ref.addPaired(runFio(b, path, size, "io_uring", v.qd, d), d, ops)
					if backend == iouring.BackendPread {
						refSync.addPaired(runFio(b, path, size, "psync", v.qd, d), d, ops)
					}
				}
				// For batches, Entries is the window: exactly qd reads
				// in flight.
				opts := iouring.Options{ForcePread: backend == iouring.BackendPread, CoopTaskrun: v.via == "goroutines-coop"}
				if v.via == "batch" {
					opts.Entries = uint32(v.qd)
				}
				r, err := iouring.Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				h, err := r.AddFile(openDirect(b, path))
				if err != nil {
					b.Fatal(err)
				}
				blocks := int(size / 4096)
				b.SetBytes(4096)
				b.ReportAllocs()
				switch {
				case v.qd == 1:
					benchQD1(b, r, h, blocks, refs, &ref, &refSync)
				case v.via == "batch":
					benchBatch(b, r, h, blocks, refs, &ref, &refSync)
				default:
					benchQDN(b, r, h, blocks, v.qd, refs, &ref, &refSync)
				}
			})
		}
	}
}

func benchQD1(b *testing.B, r *iouring.Ring, h iouring.File, blocks int, refs func(time.Duration, int), fio, fioSync *fioSum) {
	buf := iouring.AlignedBuffer(4096)
	lat := make([]int64, 0, b.N)
	rng := rand.New(rand.NewPCG(uint64(b.N), 1))
	ctx := context.Background()
	b.ResetTimer()
	paired(b, b.N, func(n int) {
		for range n {
			off := int64(rng.IntN(blocks)) * 4096
			t0 := time.Now()
			if _, err := r.ReadAt(ctx, h, buf, off); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, int64(time.Since(t0)))
		}
	}, refs)
	b.StopTimer()
	slices.Sort(lat)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
	if fio.runs == 0 {
		return
	}
	ref := fio.result()
	b.ReportMetric(ref.latP50, "fio-p50-ns")
	b.ReportMetric(ref.latP99, "fio-p99-ns")
	b.ReportMetric(p50/ref.latP50, "p50-ratio-vs-fio")
	b.ReportMetric(p99/ref.latP99, "p99-ratio-vs-fio")
	b.ReportMetric(p50/ref.clatP50, "p50-ratio-vs-fio-clat")
	if fioSync.runs > 0 {
		b.ReportMetric(p50/fioSync.result().latP50, "p50-ratio-vs-fio-psync")
	}
}

func benchQDN(b *testing.B, r *iouring.Ring, h iouring.File, blocks, qd int, refs func(time.Duration, int), fio, fioSync *fioSum) {
	ctx := context.Background()
	rngs := make([]*rand.Rand, qd)
	bufs := make([][]byte, qd)
	for g := range qd {
		rngs[g] = rand.New(rand.NewPCG(uint64(b.N), uint64(g)))
		bufs[g] = iouring.AlignedBuffer(4096)
	}
	b.ResetTimer()
	// Each chunk runs n reads with qd goroutines keeping qd reads in flight.
	elapsed := paired(b, b.N, func(n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for g := range qd {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if _, err := r.ReadAt(ctx, h, bufs[g], int64(rngs[g].IntN(blocks))*4096); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}, refs)
	b.StopTimer()
	reportIOPS(b, r, b.N, elapsed, fio, fioSync)
}

// benchBatch keeps the ring's Entries reads in flight from one goroutine:
// each ReadBatch call slides a window of Entries reads over its batch.
func benchBatch(b *testing.B, r *iouring.Ring, h iouring.File, blocks int, refs func(time.Duration, int), fio, fioSync *fioSum) {
	const batch = 1024
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(b.N), 3))
	reads := make([]iouring.Read, batch)
	mem := iouring.AlignedBuffer(batch * 4096)
	b.ResetTimer()
	elapsed := paired(b, b.N, func(n int) {
		for n > 0 {
			k := min(n, batch)
			for i := range reads[:k] {
				reads[i] = iouring.Read{File: h, Buf: mem[i*4096 : (i+1)*4096], Off: int64(rng.IntN(blocks)) * 4096}
			}
			if err := r.ReadBatch(ctx, reads[:k]); err != nil {
				b.Fatal(err)
			}
			n -= k
		}
	}, refs)
	b.StopTimer()
	reportIOPS(b, r, b.N, elapsed, fio, fioSync)
}

func reportIOPS(b *testing.B, r *iouring.Ring, n int, elapsed time.Duration, fio, fioSync *fioSum) {
	iops := float64(n) / elapsed.Seconds()
	b.ReportMetric(iops, "iops")
	st := r.Stats()
	if st.Submitted > 0 && st.Enters > 0 {
		b.ReportMetric(float64(st.Submitted)/float64(st.Enters), "reads/enter")
	}
	if testing.Verbose() {
		b.Logf("N=%d stats %+v", n, st)
	}
	if fio.runs == 0 {
		return
	}
	ref := fio.result()
	b.ReportMetric(ref.iops, "fio-iops")
	b.ReportMetric(iops/ref.iops, "iops-ratio-vs-fio")
	b.ReportMetric(fio.pairMedian(), "iops-ratio-vs-fio-pairs-p50")
	if fioSync.runs > 0 {
		b.ReportMetric(iops/fioSync.result().iops, "iops-ratio-vs-fio-psync")
	}
}
