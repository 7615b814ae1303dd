package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/bench"
)

func writeReport(t *testing.T, name string, rep *bench.StratumReport) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// rowLine returns the table line of stdout whose cells start with cells.
func rowLine(t *testing.T, stdout string, cells ...string) []string {
	t.Helper()
	for _, l := range strings.Split(stdout, "\n") {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		var got []string
		for _, c := range strings.Split(strings.Trim(l, "|"), "|") {
			got = append(got, strings.TrimSpace(c))
		}
		if len(got) >= len(cells) && strings.Join(got[:len(cells)], "|") == strings.Join(cells, "|") {
			return got
		}
	}
	t.Fatalf("no row %q in\n%s", cells, stdout)
	return nil
}

func TestBenchCompare(t *testing.T) {
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	a := writeReport(t, "a.json", &bench.StratumReport{Source: "local", Time: at, Rows: []bench.StratumRow{
		{Name: "x/stratum=ssd", Stratum: "ssd", Served: "ssd tier", Reference: "pread", P50Ns: 100_000, P99Ns: 200_000, P999Ns: 400_000, RatioP50: 1.05, Samples: 2000},
		{Name: "x/stratum=efs", Stratum: "efs", Reference: "pread", P50Ns: 30_000, P99Ns: 90_000, P999Ns: 100_000, Samples: 2000},
	}})
	b := writeReport(t, "b.json", &bench.StratumReport{Source: "local", Time: at.Add(time.Hour), Rows: []bench.StratumRow{
		{Name: "x/stratum=ssd", Stratum: "ssd", Served: "ssd tier", Reference: "pread", P50Ns: 200_000, P99Ns: 100_000, P999Ns: 400_000, RatioP50: 1.10, Samples: 2000},
		{Name: "x/stratum=memory", Stratum: "memory", Reference: "otter", P50Ns: 140, P99Ns: 700, P999Ns: 900, Samples: 2000},
	}})
	code, stdout, stderr := runCLI("bench", "compare", a, b)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	// stratum, served by, reference, A p50, B p50, B/A p50, A p99, B p99, B/A p99, A p999, B p999, B/A p999, A ratio, B ratio
	want := map[string][]string{
		"ssd":    {"ssd", "ssd tier", "pread", "100 µs", "200 µs", "2.00×", "200 µs", "100 µs", "0.50×", "400 µs", "400 µs", "1.00×", "1.05×", "1.10×"},
		"efs":    {"efs", "", "pread", "30.0 µs", "–", "–", "90.0 µs", "–", "–", "100 µs", "–", "–", "–", "–"},
		"memory": {"memory", "", "otter", "–", "140 ns", "–", "–", "700 ns", "–", "–", "900 ns", "–", "–", "–"},
	}
	for stratum, cells := range want {
		got := rowLine(t, stdout, stratum)
		if strings.Join(got, "|") != strings.Join(cells, "|") {
			t.Errorf("row %s:\n got %q\nwant %q", stratum, got, cells)
		}
	}
	// A's rows first, then B's new ones.
	if i, j, k := strings.Index(stdout, "| ssd"), strings.Index(stdout, "| efs"), strings.Index(stdout, "| memory"); !(i < j && j < k) {
		t.Errorf("rows out of order:\n%s", stdout)
	}
}

func TestBenchCompareErrors(t *testing.T) {
	good := writeReport(t, "good.json", &bench.StratumReport{Source: "local", Rows: []bench.StratumRow{{Name: "r", Stratum: "ssd", P50Ns: 1}}})
	notJSON := filepath.Join(t.TempDir(), "bench.txt")
	if err := os.WriteFile(notJSON, []byte("BenchmarkStratum/stratum=ssd 10 5 ns/op\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := writeReport(t, "empty.json", &bench.StratumReport{Source: "local"})
	twice := writeReport(t, "twice.json", &bench.StratumReport{Source: "local", Rows: []bench.StratumRow{{Name: "r"}, {Name: "r"}}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{good}, "want two report files"},
		{[]string{good, filepath.Join(t.TempDir(), "missing.json")}, "no such file"},
		{[]string{good, notJSON}, "not a strata bench strata report"},
		{[]string{empty, good}, "no rows"},
		{[]string{good, twice}, "appears twice"},
	} {
		code, _, stderr := runCLI(append([]string{"bench", "compare"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("compare %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// TestBenchStrataLocal runs the in-process suite with few reads (fast, and
// its figures are not checked): the table has the memory rows and the
// JSON file the same rows, which compare reads back.
func TestBenchStrataLocal(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "run.json")
	code, stdout, stderr := runCLI("bench", "strata", "--reads", "20", "--json", jsonPath)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	rowLine(t, stdout, "memory", "memory hit")
	for _, ref := range []string{"otter GetIfPresent", "WTinyLFU.Get under a mutex"} {
		if !strings.Contains(stdout, ref) {
			t.Errorf("no memory row against %s in\n%s", ref, stdout)
		}
	}
	for _, s := range []string{"| efs", "Not run:", "BenchmarkStratumCold"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, stdout)
		}
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := bench.ReadStratumReport(f)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range rep.Rows {
		names[r.Name] = true
		if r.P50Ns <= 0 || r.RefP50Ns <= 0 || r.RatioP50 <= 0 || r.Samples != 20 {
			t.Errorf("row %s: p50 %v, ref p50 %v, ratio %v, samples %d", r.Name, r.P50Ns, r.RefP50Ns, r.RatioP50, r.Samples)
		}
	}
	for _, n := range []string{"BenchmarkStratum/stratum=memory/ref=otter", "BenchmarkStratum/stratum=efs/codec=zstd/ref=readfile"} {
		if !names[n] {
			t.Errorf("JSON lacks row %s; has %v", n, names)
		}
	}
	code, stdout, stderr = runCLI("bench", "compare", jsonPath, jsonPath)
	if code != 0 || !strings.Contains(stdout, "1.00×") {
		t.Errorf("compare a run with itself: exit %d, stderr %q\n%s", code, stderr, stdout)
	}
}

func TestBenchStrataUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reads", "0"}, "--reads 0"},
		{[]string{"--duration", "1s"}, "--duration is for --endpoint"},
		{[]string{"--endpoint", "http://127.0.0.1:1", "--reads", "5"}, "--reads is for the local suite"},
		{[]string{"extra"}, "flags only"},
	} {
		code, _, stderr := runCLI(append([]string{"bench", "strata"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench strata %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// The node's metrics as server/metrics.go writes them.
const nodeMetrics = `# TYPE strata_stratum_hits_total counter
strata_stratum_hits_total{stratum="memory"} 900
strata_stratum_hits_total{stratum="ssd"} 40
strata_stratum_hits_total{stratum="store"} 0
# TYPE strata_stratum_read_seconds summary
strata_stratum_read_seconds{stratum="memory",quantile="0.5"} 2e-07
strata_stratum_read_seconds{stratum="memory",quantile="0.99"} 1e-06
strata_stratum_read_seconds{stratum="memory",quantile="0.999"} 5e-06
strata_stratum_read_seconds_sum{stratum="memory"} 0.0002
strata_stratum_read_seconds_count{stratum="memory"} 900
strata_stratum_read_seconds{stratum="ssd",quantile="0.5"} 0.0001
strata_stratum_read_seconds{stratum="ssd",quantile="0.99"} 0.0004
strata_stratum_read_seconds{stratum="ssd",quantile="0.999"} 0.001
strata_stratum_read_seconds_count{stratum="ssd"} 40
strata_stratum_read_seconds{stratum="store",quantile="0.5"} 0
strata_stratum_read_seconds{stratum="store",quantile="0.99"} 0
strata_stratum_read_seconds{stratum="store",quantile="0.999"} 0
strata_stratum_read_seconds_count{stratum="store"} 0
`

func TestNodeStrataTable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(nodeMetrics))
	}))
	defer srv.Close()
	strata, err := nodeStrata(t.Context(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	rep := &bench.StratumReport{Source: srv.URL, Rows: bench.NodeStratumRows(strata, map[string]int64{"memory": 100, "ssd": 4})}
	var sb strings.Builder
	if err := rep.WriteTable(&sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	// stratum, served by, p50, p99, p999, reference, ref p50, ref p99, ratio p50, ratio p99
	for stratum, cells := range map[string][]string{
		"memory": {"memory", "900 reads since start, 100 hits during the load", "200 ns", "1.00 µs", "5.00 µs*", "-", "–", "–", "–", "–"},
		"ssd":    {"ssd", "40 reads since start, 4 hits during the load", "100 µs", "400 µs", "1.00 ms*", "node's memory stratum", "200 ns", "1.00 µs", "500.00×", "400.00×"},
		"store":  {"store", "0 reads since start, 0 hits during the load", "–", "–", "–", "-", "–", "–", "–", "–"},
	} {
		got := rowLine(t, out, stratum)
		if strings.Join(got, "|") != strings.Join(cells, "|") {
			t.Errorf("row %s:\n got %q\nwant %q", stratum, got, cells)
		}
	}
	if _, err := nodeStrata(t.Context(), srv.URL+"/nothing"); err == nil {
		t.Error("a 404 for /metrics read as metrics")
	}
}
