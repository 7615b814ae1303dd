package iouring_test

import (
	"context"
	"encoding/json"
	"fmt"
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
//	STRATA_FIO_RUNTIME   seconds each fio run lasts (default 3)

var benchTmp string // removed by TestMain

func TestMain(m *testing.M) {
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

var (
	fioMu    sync.Mutex
	fioCache = map[string]fioResult{}
)

// runFio runs fio once per (engine, qd) per process; the benchmarks of both
// backends compare against the same run.
func runFio(b *testing.B, path string, size int64, engine string, qd int) fioResult {
	fioMu.Lock()
	defer fioMu.Unlock()
	key := fmt.Sprintf("%s/%d", engine, qd)
	if r, ok := fioCache[key]; ok {
		return r
	}
	bin, err := exec.LookPath("fio")
	if err != nil {
		b.Skipf("fio is not installed (apt-get install -y fio); it is the reference this benchmark reports against: %v", err)
	}
	runtime := "3"
	if s := os.Getenv("STRATA_FIO_RUNTIME"); s != "" {
		runtime = s
	}
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
		iops: rd.IOPS, runtimeMs: rd.Runtime, slatMean: rd.Slat.Mean,
		latP50: rd.Lat.Percentile["50.000000"], latP99: rd.Lat.Percentile["99.000000"],
		clatP50: rd.Clat.Percentile["50.000000"], clatP99: rd.Clat.Percentile["99.000000"],
		cmdline: "fio " + fmt.Sprint(args),
	}
	if r.iops == 0 || r.latP50 == 0 || r.clatP50 == 0 {
		b.Fatalf("fio reported no reads: %+v\n%s", r, out)
	}
	b.Logf("reference: %s: %.0f IOPS, lat p50 %.0f ns p99 %.0f ns, clat p50 %.0f ns p99 %.0f ns, slat mean %.0f ns",
		key, r.iops, r.latP50, r.latP99, r.clatP50, r.clatP99, r.slatMean)
	fioCache[key] = r
	return r
}

func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))])
}

// BenchmarkRandRead4K: 4 KiB O_DIRECT random reads at queue depth 1 (p50
// and p99 latency of ReadAt, against fio's io_uring engine at iodepth=1) and
// at queue depth 32 (IOPS of 32 goroutines calling ReadAt, against fio's
// io_uring engine at iodepth=32), for both backends. The pread backend is
// also compared with fio's psync engine (numjobs=qd), its like-for-like.
//
// p50-ratio-vs-fio compares our end-to-end ReadAt latency with fio's total
// latency (lat = slat + clat), since a ReadAt includes the submitting
// io_uring_enter; p50-ratio-vs-fio-clat compares it with fio's completion
// latency alone, which leaves the submit syscall out.
func BenchmarkRandRead4K(b *testing.B) {
	path, size := benchFile(b)
	for _, qd := range []int{1, 32} {
		for _, backend := range []iouring.Backend{iouring.BackendIOUring, iouring.BackendPread} {
			b.Run(fmt.Sprintf("qd=%d/backend=%s", qd, backend), func(b *testing.B) {
				if backend == iouring.BackendIOUring {
					if err := iouring.Supported(); err != nil {
						b.Skipf("io_uring unavailable: %v", err)
					}
				}
				ref := runFio(b, path, size, "io_uring", qd)
				var refSync fioResult
				if backend == iouring.BackendPread {
					refSync = runFio(b, path, size, "psync", qd)
				}
				r, err := iouring.Open(iouring.Options{ForcePread: backend == iouring.BackendPread})
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
				if qd == 1 {
					benchQD1(b, r, h, blocks, ref, refSync)
				} else {
					benchQDN(b, r, h, blocks, qd, ref, refSync)
				}
			})
		}
	}
}

func benchQD1(b *testing.B, r *iouring.Ring, h iouring.File, blocks int, ref, refSync fioResult) {
	buf := iouring.AlignedBuffer(4096)
	lat := make([]int64, b.N)
	rng := rand.New(rand.NewPCG(uint64(b.N), 1))
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		off := int64(rng.IntN(blocks)) * 4096
		t0 := time.Now()
		if _, err := r.ReadAt(ctx, h, buf, off); err != nil {
			b.Fatal(err)
		}
		lat[i] = int64(time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
	b.ReportMetric(ref.latP50, "fio-p50-ns")
	b.ReportMetric(ref.latP99, "fio-p99-ns")
	b.ReportMetric(p50/ref.latP50, "p50-ratio-vs-fio")
	b.ReportMetric(p99/ref.latP99, "p99-ratio-vs-fio")
	b.ReportMetric(p50/ref.clatP50, "p50-ratio-vs-fio-clat")
	if refSync.latP50 != 0 {
		b.ReportMetric(p50/refSync.latP50, "p50-ratio-vs-fio-psync")
	}
}

func benchQDN(b *testing.B, r *iouring.Ring, h iouring.File, blocks, qd int, ref, refSync fioResult) {
	var next atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for g := range qd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := iouring.AlignedBuffer(4096)
			rng := rand.New(rand.NewPCG(uint64(b.N), uint64(g)))
			for next.Add(1) <= int64(b.N) {
				if _, err := r.ReadAt(ctx, h, buf, int64(rng.IntN(blocks))*4096); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	iops := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(iops, "iops")
	b.ReportMetric(ref.iops, "fio-iops")
	b.ReportMetric(iops/ref.iops, "iops-ratio-vs-fio")
	if refSync.iops != 0 {
		b.ReportMetric(iops/refSync.iops, "iops-ratio-vs-fio-psync")
	}
	st := r.Stats()
	if st.Submitted > 0 && st.Enters > 0 {
		b.ReportMetric(float64(st.Submitted)/float64(st.Enters), "reads/enter")
	}
}
