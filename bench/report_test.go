package bench

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/ with the current output")

// The testdata files are real output, captured from this package's and the
// other packages' benchmarks:
//
//	bench-output.txt       make bench (scripts/bench: all packages, -v, MinIO and fio running)
//	bench-output-skip.txt  go test -v -bench 'BenchmarkStratum$/stratum=(memory|s3)' without MinIO
//	bench-output-fail.txt  the same for BenchmarkStratumCold with STRATA_TEST_REQUIRE_SERVERS=1, without -v
//	bench-output-nov.txt   scripts/with-servers go test -run '^$' -bench Stratum ./bench/ (no -v: a log
//	                       line cuts a result line in two)

func readTestdata(t *testing.T, name string) *BenchOutput {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := ParseBenchOutput(f)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return out
}

func findResult(t *testing.T, rs []BenchResult, name string) BenchResult {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result named %s", name)
	return BenchResult{}
}

func TestParseBenchOutput(t *testing.T) {
	out := readTestdata(t, "bench-output.txt")
	// Every result line of the file is parsed: count them independently.
	raw, _ := os.ReadFile(filepath.Join("testdata", "bench-output.txt"))
	want := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "Benchmark") && len(strings.Fields(line)) > 2 {
			want++
		}
	}
	if len(out.Results) != want || want < 30 {
		t.Fatalf("parsed %d results, the file has %d result lines", len(out.Results), want)
	}
	if len(out.Skips) != 0 {
		t.Errorf("skips %+v, want none (the run had MinIO)", out.Skips)
	}
	if out.Env["goos"] != "linux" || out.Env["cpu"] == "" {
		t.Errorf("env %v", out.Env)
	}

	// One line, field by field:
	// BenchmarkStratum/stratum=ssd/backend=io_uring/codec=lz4/ref=pread-odirect-2  25208  147423 ns/op  21.00 ours-allocs/op  81727 p50-ns …
	r := findResult(t, out.Results, "BenchmarkStratum/stratum=ssd/backend=io_uring/codec=lz4/ref=pread-odirect")
	if r.Pkg != "github.com/stratadb/strata/bench" || r.Procs != 2 || r.Iterations != 25208 {
		t.Errorf("pkg %q procs %d iterations %d", r.Pkg, r.Procs, r.Iterations)
	}
	for unit, v := range map[string]float64{
		"ns/op": 147423, UnitP50: 81727, UnitP999: 444671, RefPrefix + UnitP50: 58815,
		RefReadPrefix + UnitP50: 52319, UnitRatioP50: 1.39, UnitSamples: 25208, UnitOursAllocs: 21, "allocs/op": 22,
	} {
		if got, ok := r.Metric(unit); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", unit, got, ok, v)
		}
	}
	if got := r.Param("stratum"); got != "ssd" {
		t.Errorf(`Param("stratum") = %q`, got)
	}
	if got := r.Param("ref"); got != "pread-odirect" {
		t.Errorf(`Param("ref") = %q: the -2 suffix must not stay on the last element`, got)
	}
	if got := r.Param("nope"); got != "" {
		t.Errorf(`Param("nope") = %q`, got)
	}
	if r.Top() != "BenchmarkStratum" {
		t.Errorf("Top() = %q", r.Top())
	}

	// Results from other packages keep theirs.
	o := findResult(t, out.Results, "BenchmarkOverhead/codec=lz4/op=decode")
	if o.Pkg != "github.com/stratadb/strata/segment" || o.Metrics["ours/raw"] != 1.121 {
		t.Errorf("segment overhead: %+v", o)
	}
	c := findResult(t, out.Results, "BenchmarkStratumCold/store=s3/tiers=store/ref=sdk-cold")
	if c.Metrics[UnitStoreGets] != 2 || c.Metrics[UnitFillGets] != 0 {
		t.Errorf("cold: store gets %v, fill gets %v", c.Metrics[UnitStoreGets], c.Metrics[UnitFillGets])
	}
}

func TestParseCutResultLine(t *testing.T) {
	out := readTestdata(t, "bench-output-nov.txt")
	raw, _ := os.ReadFile(filepath.Join("testdata", "bench-output-nov.txt"))
	if want := strings.Count(string(raw), " ns/op"); len(out.Results) != want || want != 14 {
		t.Fatalf("parsed %d results, the file has %d (want 14)", len(out.Results), want)
	}
	// In the file: "BenchmarkStratumCold/store=s3/tiers=ssd+efs+store/ref=sdk-cold-2 \t2026/11/25 … INFO iouring: …",
	// log lines, then "     241\t   4680821 ns/op …".
	r := findResult(t, out.Results, "BenchmarkStratumCold/store=s3/tiers=ssd+efs+store/ref=sdk-cold")
	if r.Iterations != 241 || r.Metrics["ns/op"] != 4680821 || r.Metrics[UnitFillGets] != 1.1 || r.Procs != 2 {
		t.Errorf("cut result: %+v", r)
	}
}

func TestParseSkipsAndFailures(t *testing.T) {
	const minio = "needs MinIO: STRATA_TEST_S3_ENDPOINT is not set (run the tests with `make test`, which starts MinIO)"

	// -v: the message comes before the --- SKIP line.
	out := readTestdata(t, "bench-output-skip.txt")
	if len(out.Results) != 1 || out.Results[0].Param("stratum") != "memory" {
		t.Fatalf("results %+v", out.Results)
	}
	if len(out.Skips) != 1 {
		t.Fatalf("skips %+v", out.Skips)
	}
	if s := out.Skips[0]; s.Name != "BenchmarkStratum/stratum=s3" || s.Failed || s.Reason != minio {
		t.Errorf("skip %+v", s)
	}

	// Without -v: the message comes after the --- FAIL line.
	out = readTestdata(t, "bench-output-fail.txt")
	if len(out.Results) != 0 || len(out.Skips) != 2 {
		t.Fatalf("results %d, skips %+v", len(out.Results), out.Skips)
	}
	if s := out.Skips[0]; s.Name != "BenchmarkStratumCold/store=s3" || !s.Failed || s.Reason != minio {
		t.Errorf("failure %+v", s)
	}
	var buf bytes.Buffer
	if err := WriteStratumTable(&buf, out); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if len(out.FailedPkgs) != 1 || out.FailedPkgs[0] != "github.com/stratadb/strata/bench" {
		t.Errorf("failed packages %q", out.FailedPkgs)
	}
	if !strings.Contains(got, "BenchmarkStratumCold/store=s3 FAILED: "+minio) {
		t.Errorf("table does not report the failure:\n%s", got)
	}
	if strings.Contains(got, "BenchmarkStratumCold FAILED") {
		t.Errorf("table repeats the parent of a failed benchmark:\n%s", got)
	}
}

func TestWriteStratumTableGolden(t *testing.T) {
	out := readTestdata(t, "bench-output.txt")
	var buf bytes.Buffer
	if err := WriteStratumTable(&buf, out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "bench-table.golden")
	if *rewrite {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestWriteStratumTableGolden -rewrite to create it)", err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("table differs from %s (rerun with -rewrite if the change is intended):\n%s", golden, got)
	}

	// Independently of the golden file: one row per per-stratum result, in
	// run order, with its figures formatted.
	got := buf.String()
	rows := 0
	for _, line := range strings.Split(got, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| stratum") && !strings.HasPrefix(line, "| package") &&
			!strings.HasPrefix(line, "| ---") && !strings.Contains(line, "Benchmark") {
			rows++
		}
	}
	if rows != 15 {
		t.Errorf("%d stratum rows, want 15 (2 memory, 2 ssd, 4 efs, 2 s3, 2 cold, 3 emulated)", rows)
	}
	for _, want := range []string{
		"| ssd                 | ssd tier, io_uring, O_DIRECT, lz4 ", "| 81.7 µs | 158 µs  | 445 µs  | pread O_DIRECT + decode ",
		"| 58.8 µs | 97.0 µs | 52.3 µs     | 1.39×     | 1.63×     |",
		"| memory              | memory hit ", "| WTinyLFU.Get under a mutex ",
		"| cold (s3)           | Get, nothing cached, tiers store, 2 store GETs ",
		"| cold (s3)           | Get, nothing cached, tiers ssd+efs+store, 2 store GETs + 1.08 to promote |",
		"| s3 (emulated aws)   | store: dir + S3 delay, lz4 ",
		"| segment    | BenchmarkOverhead/codec=lz4/op=decode            | ours/raw                | 1.121 | target ≤ 1.10: MISSED |",
		"| iouring    | BenchmarkRandRead4K/qd=1/backend=io_uring        | p50-ratio-vs-fio        | 1.065 | target ≤ 1.15: met    |",
		"| iouring    | BenchmarkRandRead4K/qd=32/backend=io_uring       | iops-ratio-vs-fio       | 0.801 | target ≥ 0.85: MISSED |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(got, "BenchmarkEncode/") {
		t.Errorf("segment's compression ratio is listed as a cost ratio")
	}
}

func TestMergedTakesMedians(t *testing.T) {
	in := `pkg: github.com/stratadb/strata/bench
BenchmarkStratum/stratum=efs/codec=lz4/ref=pread-2   100   30000 ns/op   10 p50-ns   2.0 ratio-p50
BenchmarkStratum/stratum=efs/codec=lz4/ref=pread-2   100   10000 ns/op   30 p50-ns   1.0 ratio-p50
BenchmarkStratum/stratum=memory/ref=otter-2          900      90 ns/op   90 p50-ns
BenchmarkStratum/stratum=efs/codec=lz4/ref=pread-2   200   20000 ns/op   20 p50-ns   4.0 ratio-p50
`
	out, err := ParseBenchOutput(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	m := out.Merged()
	if len(m) != 2 || m[0].Param("stratum") != "efs" || m[1].Param("stratum") != "memory" {
		t.Fatalf("merged %+v", m)
	}
	if m[0].Iterations != 400 || m[0].Metrics[UnitP50] != 20 || m[0].Metrics["ns/op"] != 20000 || m[0].Metrics[UnitRatioP50] != 2 {
		t.Errorf("efs merged to %+v", m[0])
	}
}

func TestParseBenchOutputErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"cut line", "pkg: p\nBenchmarkX-2  \tsome log\nmore log\n   12  10 ns/op 3\n", "line 4: BenchmarkX: metrics"},
		{"odd metrics", "BenchmarkX-2  10  10 ns/op 5\n", "line 1: BenchmarkX: metrics"},
		{"value", "ok\nBenchmarkX-2  10  ten ns/op\n", `line 2: BenchmarkX: metric "ns/op"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBenchOutput(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseBuildFailure(t *testing.T) {
	in := "# github.com/stratadb/strata/bench [github.com/stratadb/strata/bench.test]\n" +
		"bench/cachesim.go:228:36: not enough type arguments for type WTinyLFU: have 1, want 2\n" +
		"FAIL\tgithub.com/stratadb/strata/bench [build failed]\nFAIL\n"
	out, err := ParseBenchOutput(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.FailedPkgs) != 1 || out.FailedPkgs[0] != "github.com/stratadb/strata/bench [build failed]" {
		t.Fatalf("failed packages %q", out.FailedPkgs)
	}
	var buf bytes.Buffer
	if err := WriteStratumTable(&buf, out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Packages whose benchmarks failed: github.com/stratadb/strata/bench [build failed]") {
		t.Errorf("table:\n%s", buf.String())
	}
}

func TestFormatNs(t *testing.T) {
	for _, tc := range []struct {
		ns   float64
		want string
	}{
		{0, "0 ns"}, {95, "95 ns"}, {999, "999 ns"}, {1000, "1.00 µs"}, {74687, "74.7 µs"},
		{147385, "147 µs"}, {1_323_007, "1.32 ms"}, {15_818_751, "15.8 ms"}, {2.5e9, "2.50 s"}, {-1, "?"},
		{99_967, "100 µs"}, {999.7, "1.00 µs"}, {9_996, "10.0 µs"}, {999_700, "1.00 ms"}, {999_700_000, "1.00 s"},
	} {
		if got := FormatNs(tc.ns); got != tc.want {
			t.Errorf("FormatNs(%v) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}
