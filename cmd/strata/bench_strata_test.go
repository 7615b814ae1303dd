package main

import (
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/bench"
	"github.com/stratadb/strata/internal/chart"
)

// readChart decodes the PNG at path and checks it is a bar chart of
// groups groups: its width, a height that fits them, and bars in each
// colour of cs.
func readChart(t *testing.T, path string, groups int, cs ...color.RGBA) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != chart.BarsWidth || b.Dy() < 200+50*groups || b.Dy() > 300+100*groups {
		t.Errorf("%s: a chart of %d groups is %d×%d", path, groups, b.Dx(), b.Dy())
	}
	rgba, ok := img.(*image.RGBA)
	if !ok {
		t.Fatalf("%s decodes to a %T", path, img)
	}
	for _, c := range cs {
		n := 0
		for i := 0; i < len(rgba.Pix); i += 4 {
			if rgba.Pix[i] == c.R && rgba.Pix[i+1] == c.G && rgba.Pix[i+2] == c.B {
				n++
			}
		}
		// The legend's swatch alone is 260 pixels; each bar at least
		// its thickness, 16.
		if n < 260+16*groups {
			t.Errorf("%s: %d pixels of %v, want bars", path, n, c)
		}
	}
}

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
	pngPath := filepath.Join(t.TempDir(), "compare.png")
	code, stdout, stderr := runCLI("bench", "compare", a, b, "--png", pngPath)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	readChart(t, pngPath, 3, colorOurs, chart.Orange)
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
		{[]string{good, good, "--png", filepath.Join(t.TempDir(), "missing", "c.png")}, "--png: open "},
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
	jsonPath, pngPath := filepath.Join(t.TempDir(), "run.json"), filepath.Join(t.TempDir(), "run.png")
	code, stdout, stderr := runCLI("bench", "strata", "--reads", "20", "--json", jsonPath, "--png", pngPath)
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
	// A group per row, ours and the reference in each.
	readChart(t, pngPath, len(rep.Rows), colorOurs, colorRef)
	code, stdout, stderr = runCLI("bench", "compare", jsonPath, jsonPath)
	if code != 0 || !strings.Contains(stdout, "1.00×") {
		t.Errorf("compare a run with itself: exit %d, stderr %q\n%s", code, stderr, stdout)
	}
}

func TestBenchStrataUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reads", "0"}, "--reads 0"},
		{[]string{"--reads", "5", "--png", filepath.Join(missing, "run.png")}, "--png: open " + missing},
		{[]string{"--reads", "5", "--png", t.TempDir()}, "--png: open "},
		{[]string{"--reads", "5", "--json", filepath.Join(missing, "run.json")}, "--json: open " + missing},
		{[]string{"--duration", "1s"}, "--duration is for --endpoint"},
		{[]string{"--endpoint", "http://127.0.0.1:1", "--reads", "5"}, "--reads is for the local suite"},
		{[]string{"extra"}, "flags only"},
	} {
		code, _, stderr := runCLI(append([]string{"bench", "strata"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench strata %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
		// Refused before the suite runs.
		if strings.Contains(stderr, "BenchmarkStratum/") {
			t.Errorf("bench strata %v ran the suite before failing:\n%s", tc.args, stderr)
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

	// The chart of a node's rows: one group per row, the memory stratum
	// the others' reference, the store's row not measured.
	rep.Env = map[string]string{"driver": "loadgen read, 8 workers"}
	rep.Rows = append(rep.Rows, bench.StratumRow{Name: "node/pull", Stratum: "pull (client)", Served: "HTTP pull end to end",
		P50Ns: 300_000, P99Ns: 2e6, Reference: "-", Samples: 500})
	ch := stratumChart(rep)
	if len(ch.Groups) != 4 || ch.Groups[1].Label != "ssd: 40 reads since start, 4 hits during the load vs node's memory stratum" ||
		ch.Groups[1].Values[1][0] != 200 || ch.Groups[2].Values[0][1] != 0 || ch.Groups[3].Values[0][1] != 2e6 {
		t.Errorf("the node's chart: %+v", ch.Groups)
	}
	if want := srv.URL + ", loadgen read, 8 workers; 40 to 900 samples per row"; ch.Title[1] != want {
		t.Errorf("the node's chart is titled %q, want %q", ch.Title[1], want)
	}
	pngPath := filepath.Join(t.TempDir(), "node.png")
	pngOut, err := createOutput("png", pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := pngOut.write(ch.WritePNG); err != nil {
		t.Fatal(err)
	}
	readChart(t, pngPath, 4, colorOurs, colorRef)
}

func TestChartLabels(t *testing.T) {
	for ns, want := range map[float64]string{10: "10 ns", 200: "200 ns", 1e3: "1 µs", 5e4: "50 µs", 1e6: "1 ms", 2e7: "20 ms", 1e9: "1 s", 1e10: "10 s"} {
		if got := nsTick(ns); got != want {
			t.Errorf("nsTick(%g) = %q, want %q", ns, got, want)
		}
	}
	rep := &bench.StratumReport{Source: "local", Time: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
		Env:  map[string]string{"goos": "linux", "goarch": "amd64", "cpu": "AMD EPYC (2 cores)"},
		Rows: []bench.StratumRow{{Name: "a", Stratum: "memory", Reference: "otter", Samples: 2000}, {Name: "b", Stratum: "ssd", Samples: 2000}}}
	ch := stratumChart(rep)
	if want := "linux/amd64, AMD EPYC (2 cores), 2026-11-30 08:00 UTC; 2000 samples per row"; ch.Title[1] != want {
		t.Errorf("chart titled %q, want %q", ch.Title[1], want)
	}
	if ch.Groups[0].Label != "memory vs otter" || ch.Groups[1].Label != "ssd" {
		t.Errorf("group labels %q and %q", ch.Groups[0].Label, ch.Groups[1].Label)
	}
}

// A run that fails after its outputs were started leaves the files at
// their paths as they were, and no temporary files beside them.
func TestBenchStrataFailedRunKeepsOutputs(t *testing.T) {
	dir := t.TempDir()
	jsonPath, pngPath := filepath.Join(dir, "run.json"), filepath.Join(dir, "run.png")
	if err := os.WriteFile(jsonPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("bench", "strata", "--endpoint", "http://127.0.0.1:1", "--duration", "1s",
		"--json", jsonPath, "--png", pngPath)
	if code == exitOK {
		t.Fatalf("bench strata against a closed port succeeded: %s", stderr)
	}
	if b, err := os.ReadFile(jsonPath); err != nil || string(b) != "old" {
		t.Errorf("after a failed run --json's file holds %q (%v), want the old contents", b, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after a failed run the directory holds %v, want run.json alone", names)
	}
}
