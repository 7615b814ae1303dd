package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BenchResult is one result line of `go test -bench` output:
//
//	BenchmarkStratum/stratum=ssd/codec=lz4-2  2000  148655 ns/op  74687 p50-ns  …
type BenchResult struct {
	Pkg        string             // the "pkg:" line above it
	Name       string             // e.g. "BenchmarkStratum/stratum=ssd/codec=lz4", without the -GOMAXPROCS suffix
	Procs      int                // GOMAXPROCS, from the suffix (1 when there is none)
	Iterations int64              // b.N
	Metrics    map[string]float64 // by unit: "ns/op", "p50-ns", "allocs/op", …
}

// Param returns the value of a key=value element of the name, e.g.
// Param("stratum") is "ssd" for BenchmarkStratum/stratum=ssd/codec=lz4.
func (r BenchResult) Param(key string) string {
	for _, el := range strings.Split(r.Name, "/")[1:] {
		if k, v, ok := strings.Cut(el, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Top returns the top-level benchmark's name, e.g. "BenchmarkStratum".
func (r BenchResult) Top() string {
	top, _, _ := strings.Cut(r.Name, "/")
	return top
}

// Metric returns the value reported in unit and whether there is one.
func (r BenchResult) Metric(unit string) (float64, bool) {
	v, ok := r.Metrics[unit]
	return v, ok
}

// BenchSkip is a benchmark that was skipped or failed, with the message it
// logged (its first line).
type BenchSkip struct {
	Pkg    string
	Name   string
	Reason string
	Failed bool
}

// BenchOutput is what ParseBenchOutput found.
type BenchOutput struct {
	// Results in input order. A benchmark run several times (-count) has a
	// line per run; Merged combines them.
	Results []BenchResult
	Skips   []BenchSkip
	// Env holds the goos, goarch and cpu header lines (the last seen).
	Env map[string]string
	// FailedPkgs lists the packages whose run failed ("FAIL pkg …" lines),
	// each with " [build failed]" when it did not build.
	FailedPkgs []string
}

// procsSuffix is the -GOMAXPROCS suffix `go test` appends to a benchmark's
// name when GOMAXPROCS is not 1.
var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// ParseBenchOutput reads `go test -bench` output (with or without -v) and
// returns its result lines, its skipped and failed benchmarks and its
// environment. Lines that are none of these (logs, PASS, ok …) are ignored;
// a line that starts like a result but does not parse is an error naming
// its line number, since a silently dropped result would be a wrong table.
//
// A skip's reason is the first message the benchmark logged: with -v it is
// printed under the benchmark's name, before the "--- SKIP" line; otherwise
// (failures) under the "--- FAIL" line.
func ParseBenchOutput(r io.Reader) (*BenchOutput, error) {
	out := &BenchOutput{Env: make(map[string]string)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pkg := ""
	var (
		named  string   // the benchmark whose name was the last line to stand alone
		logged []string // what it logged since
		// skip is the index in out.Skips of the skip or failure on the
		// line just read, whose reason may follow it; -1 otherwise.
		skip = -1
		// quiet: the indented lines that follow belong to neither (they
		// follow a "--- BENCH:" line).
		quiet = false
		// cut is the benchmark whose result line was cut by a log line.
		cut = ""
	)
	for line := 0; sc.Scan(); {
		line++
		text := sc.Text()
		if f := strings.Fields(text); cut != "" && len(f) > 1 && isCount(f[0]) {
			// The rest of a result line that a log line cut (see below).
			res, err := parseResult(pkg, append([]string{cut}, f...))
			if err != nil {
				return nil, fmt.Errorf("bench output line %d: %w", line, err)
			}
			out.Results = append(out.Results, res)
			named, logged, cut = "", nil, ""
			continue
		}
		if msg, ok := indentedMessage(text); ok {
			switch {
			case skip >= 0:
				if out.Skips[skip].Reason == "" {
					out.Skips[skip].Reason = msg
				}
			case !quiet:
				logged = append(logged, msg)
			}
			continue
		}
		skip, quiet = -1, false
		t := strings.TrimSpace(text)
		switch {
		case strings.HasPrefix(text, "pkg: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(text, "pkg: "))
		case strings.HasPrefix(text, "goos: "), strings.HasPrefix(text, "goarch: "), strings.HasPrefix(text, "cpu: "):
			k, v, _ := strings.Cut(text, ": ")
			out.Env[k] = strings.TrimSpace(v)
		case strings.HasPrefix(t, "--- SKIP: Benchmark"), strings.HasPrefix(t, "--- FAIL: Benchmark"):
			name := procsSuffix.ReplaceAllString(strings.Fields(t)[2], "")
			sk := BenchSkip{Pkg: pkg, Name: name, Failed: strings.HasPrefix(t, "--- FAIL")}
			if name == named && len(logged) > 0 {
				sk.Reason = logged[0]
			}
			out.Skips = append(out.Skips, sk)
			skip = len(out.Skips) - 1
			named, logged = "", nil
		case strings.HasPrefix(text, "FAIL\t"):
			f := strings.Fields(text)
			if len(f) >= 2 {
				what := f[1]
				if strings.Contains(text, "[build failed]") {
					what += " [build failed]"
				}
				out.FailedPkgs = append(out.FailedPkgs, what)
			}
		case strings.HasPrefix(t, "--- "):
			quiet = true
			named, logged = "", nil
		case strings.HasPrefix(text, "Benchmark"):
			fields := strings.Fields(text)
			if len(fields) < 2 || !isCount(fields[1]) {
				// A benchmark's name alone on a line, or followed by a log
				// line: -v prints the name when the benchmark starts, and
				// without -v `go test` prints it before running the
				// benchmark, whose logs (to stderr) then cut the result line
				// in two. The result's numbers follow on a line of their own,
				// picked up at the top of the loop.
				named, logged = procsSuffix.ReplaceAllString(fields[0], ""), nil
				cut = fields[0]
				continue
			}
			named, logged, cut = "", nil, ""
			res, err := parseResult(pkg, fields)
			if err != nil {
				return nil, fmt.Errorf("bench output line %d: %w", line, err)
			}
			out.Results = append(out.Results, res)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read bench output: %w", err)
	}
	return out, nil
}

// isCount reports whether s is an iteration count: digits only.
func isCount(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// indentedMessage returns the message of a log line under a SKIP or FAIL
// line: "    file_test.go:12: message".
func indentedMessage(text string) (string, bool) {
	if !strings.HasPrefix(text, "    ") {
		return "", false
	}
	t := strings.TrimSpace(text)
	if i := strings.Index(t, ": "); i > 0 && strings.Contains(t[:i], ".go:") {
		t = t[i+2:]
	}
	return t, true
}

func parseResult(pkg string, fields []string) (BenchResult, error) {
	res := BenchResult{Pkg: pkg, Name: fields[0], Procs: 1, Metrics: make(map[string]float64)}
	if m := procsSuffix.FindStringSubmatch(res.Name); m != nil {
		res.Procs, _ = strconv.Atoi(m[1])
		res.Name = strings.TrimSuffix(res.Name, m[0])
	}
	n, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return res, fmt.Errorf("%s: iterations %q: %w", res.Name, fields[1], err)
	}
	res.Iterations = n
	rest := fields[2:]
	if len(rest)%2 != 0 {
		return res, fmt.Errorf("%s: metrics %q are not value-unit pairs", res.Name, strings.Join(rest, " "))
	}
	for i := 0; i < len(rest); i += 2 {
		v, err := strconv.ParseFloat(rest[i], 64)
		if err != nil {
			return res, fmt.Errorf("%s: metric %q: %w", res.Name, rest[i+1], err)
		}
		res.Metrics[rest[i+1]] = v
	}
	return res, nil
}

// Merged returns one result per benchmark (package and name), in order of
// first appearance; a benchmark run several times gets the median of each
// metric over its runs, and the total of their iterations.
func (o *BenchOutput) Merged() []BenchResult {
	type key struct{ pkg, name string }
	var order []key
	runs := make(map[key][]BenchResult)
	for _, r := range o.Results {
		k := key{r.Pkg, r.Name}
		if _, ok := runs[k]; !ok {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	out := make([]BenchResult, 0, len(order))
	for _, k := range order {
		rs := runs[k]
		m := BenchResult{Pkg: k.pkg, Name: k.name, Procs: rs[0].Procs, Metrics: make(map[string]float64)}
		vals := make(map[string][]float64)
		for _, r := range rs {
			m.Iterations += r.Iterations
			for u, v := range r.Metrics {
				vals[u] = append(vals[u], v)
			}
		}
		for u, vs := range vals {
			m.Metrics[u] = median(vs)
		}
		out = append(out, m)
	}
	return out
}

func median(vs []float64) float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// The benchmarks of the per-stratum table (stratum_bench_test.go).
const (
	benchStratum         = "BenchmarkStratum"
	benchStratumCold     = "BenchmarkStratumCold"
	benchStratumEmulated = "BenchmarkStratumEmulated"
)

// refNames describe the references, by the ref= element of a benchmark name.
var refNames = map[string]string{
	"otter":         "otter GetIfPresent",
	"wtinylfu":      "WTinyLFU.Get under a mutex",
	"pread-odirect": "pread O_DIRECT + decode",
	"pread":         "open, pread, close + decode",
	"readfile":      "os.ReadFile + decode",
	"sdk-getobject": "SDK ranged GetObject + decode",
	"sdk-cold":      "SDK: suffix GET, ParseFooter, ranged GET + decode",
	"delay-pread":   "same delay + pread + decode",
	"delay-cold":    "same 2 delays + 2 preads, ParseFooter + decode",
}

// servedBy names the row's stratum and says how the read was served.
func servedBy(r BenchResult) (stratum, served string) {
	var parts []string
	add := func(p ...string) {
		for _, s := range p {
			if s != "" {
				parts = append(parts, s)
			}
		}
	}
	gets := func() string {
		g, ok := r.Metric(UnitStoreGets)
		if !ok {
			return ""
		}
		s := trimFloat(g) + " store GETs"
		if f, ok := r.Metric(UnitFillGets); ok && f > 0 {
			s += " + " + trimFloat(f) + " to promote"
		}
		return s
	}
	switch r.Top() {
	case benchStratumCold:
		stratum = "cold (" + r.Param("store") + ")"
		add("Get, nothing cached, tiers "+r.Param("tiers"), gets())
	case benchStratumEmulated:
		stratum = r.Param("stratum") + " (emulated " + r.Param("profile") + ")"
		switch r.Param("stratum") {
		case "efs":
			add("efs tier: dir + EFS delay")
		case "s3":
			add("store: dir + S3 delay")
		case "cold":
			add("Get, nothing cached: dir + S3 delay", gets())
		}
	default:
		stratum = r.Param("stratum")
		switch stratum {
		case "memory":
			add("memory hit")
		case "ssd":
			add("ssd tier, " + r.Param("backend") + ", O_DIRECT")
		case "efs":
			add("efs tier (dir)")
		case "s3":
			add("S3Store → MinIO (loopback)")
		}
	}
	add(r.Param("codec"))
	return stratum, strings.Join(parts, ", ")
}

// isStratumRow reports whether r belongs in the per-stratum table.
func isStratumRow(r BenchResult) bool {
	switch r.Top() {
	case benchStratum, benchStratumCold, benchStratumEmulated:
		_, ok := r.Metric(UnitP50)
		return ok
	}
	return false
}

// ratioTarget is a bound a ratio must meet (issue 2's "done" criteria).
type ratioTarget struct {
	prefix string // benchmark name prefix
	unit   string
	max    float64 // the ratio must be at most this (0: no upper bound)
	min    float64 // … at least this (0: no lower bound)
}

var ratioTargets = []ratioTarget{
	{prefix: "BenchmarkOverhead/", unit: "ours/raw", max: 1.10},
	{prefix: "BenchmarkRandRead4K/qd=1/backend=io_uring", unit: "p50-ratio-vs-fio", max: 1.15},
	{prefix: "BenchmarkRandRead4K/qd=32/backend=io_uring", unit: "iops-ratio-vs-fio", min: 0.85},
	{prefix: "BenchmarkPeople/", unit: "speedup-vs-datascript", min: 10}, // issue 3
}

// isRatioUnit reports whether a metric of another package's benchmark is a
// ratio of ours against a reference, worth listing under the table. (A unit
// of just "ratio" is segment's compression ratio, not a cost.)
func isRatioUnit(unit string) bool {
	return unit == "ours/raw" || unit == "speedup-vs-datascript" || (strings.Contains(unit, "ratio") && unit != "ratio")
}

// WriteStratumTable writes the per-stratum latency table of out as a
// Markdown table, then the benchmarks that were skipped or failed, then every
// ratio reported by the other benchmarks (segment codec overhead, the ring
// against fio, …) with the targets of issue 2 where there is one.
//
// Each row is one benchmark: a read through cachetiers.Stratified served by
// one stratum ("ours") and its reference measured in the same loop. The
// ratio is ours / reference at that percentile: above 1 is what the strata
// cost over the raw read. For the tiers below memory the reference includes
// the same decode (checksum, decompression) as ours, so the ratio isolates
// the cache machinery; "ref I/O p50" is the raw read alone.
func WriteStratumTable(w io.Writer, out *BenchOutput) error {
	results := out.Merged()
	header := []string{"stratum", "served by", "p50", "p99", "p999", "reference", "ref p50", "ref p99", "ref I/O p50", "ratio p50", "ratio p99"}
	var rows [][]string
	fewSamples := false
	for _, r := range results {
		if !isStratumRow(r) {
			continue
		}
		stratum, served := servedBy(r)
		ref := r.Param("ref")
		if d, ok := refNames[ref]; ok {
			ref = d
		}
		p999 := fmtNs(r, UnitP999)
		if n, ok := r.Metric(UnitSamples); ok && n < 1000 {
			p999 += "*"
			fewSamples = true
		}
		rows = append(rows, []string{
			stratum, served,
			fmtNs(r, UnitP50), fmtNs(r, UnitP99), p999,
			ref,
			fmtNs(r, RefPrefix+UnitP50), fmtNs(r, RefPrefix+UnitP99), fmtNs(r, RefReadPrefix+UnitP50),
			fmtRatio(r, UnitRatioP50), fmtRatio(r, UnitRatioP99),
		})
	}
	bw := &errWriter{w: w}
	if len(rows) == 0 {
		bw.printf("No per-stratum results (BenchmarkStratum, BenchmarkStratumCold, BenchmarkStratumEmulated) in the input.\n")
	} else {
		bw.printf("Latency of reading one decoded block through cachetiers.Stratified (Block; Get for cold reads) when\n")
		bw.printf("each stratum serves it, against a raw reference measured in the same loop. ratio = ours / reference;\n")
		bw.printf("below memory both include the same decode (checksum + decompression), so the ratio is the cache\n")
		bw.printf("machinery's overhead, and \"ref I/O\" is the raw read alone.\n\n")
		writeTable(bw, header, rows)
		if fewSamples {
			bw.printf("\n* fewer than 1,000 samples: p999 is at or near the maximum.\n")
		}
		if env := envLine(out.Env); env != "" {
			bw.printf("\n%s\n", env)
		}
	}
	if len(out.FailedPkgs) > 0 {
		bw.printf("\nPackages whose benchmarks failed: %s\n", strings.Join(out.FailedPkgs, ", "))
	}
	if skips := leafSkips(out.Skips); len(skips) > 0 {
		bw.printf("\nSkipped or failed:\n")
		for _, s := range skips {
			what := "skipped"
			if s.Failed {
				what = "FAILED"
			}
			reason := s.Reason
			if reason == "" {
				reason = "(no message)"
			}
			bw.printf("  %s %s: %s\n", s.Name, what, reason)
		}
	}
	writeOtherRatios(bw, results)
	return bw.err
}

// leafSkips drops the skips and failures of benchmarks whose sub-benchmark
// is also listed: `go test` reports a parent as failed when a child failed,
// and the child says why.
func leafSkips(skips []BenchSkip) []BenchSkip {
	var out []BenchSkip
	for _, s := range skips {
		parent := false
		for _, c := range skips {
			if c.Pkg == s.Pkg && strings.HasPrefix(c.Name, s.Name+"/") {
				parent = true
				break
			}
		}
		if !parent {
			out = append(out, s)
		}
	}
	return out
}

// writeOtherRatios lists the ratios of the benchmarks outside the table.
func writeOtherRatios(bw *errWriter, results []BenchResult) {
	var lines [][]string
	for _, r := range results {
		if isStratumRow(r) || r.Top() == benchStratum || r.Top() == benchStratumCold || r.Top() == benchStratumEmulated {
			continue
		}
		units := make([]string, 0, len(r.Metrics))
		for u := range r.Metrics {
			if isRatioUnit(u) {
				units = append(units, u)
			}
		}
		slices.Sort(units)
		for _, u := range units {
			v := r.Metrics[u]
			verdict := ""
			for _, t := range ratioTargets {
				if t.unit != u || !strings.HasPrefix(r.Name, t.prefix) {
					continue
				}
				switch {
				case t.max > 0 && v <= t.max:
					verdict = fmt.Sprintf("target ≤ %.2f: met", t.max)
				case t.max > 0:
					verdict = fmt.Sprintf("target ≤ %.2f: MISSED", t.max)
				case t.min > 0 && v >= t.min:
					verdict = fmt.Sprintf("target ≥ %.2f: met", t.min)
				case t.min > 0:
					verdict = fmt.Sprintf("target ≥ %.2f: MISSED", t.min)
				}
			}
			lines = append(lines, []string{shortPkg(r.Pkg), r.Name, u, fmt.Sprintf("%.3f", v), verdict})
		}
	}
	if len(lines) == 0 {
		return
	}
	bw.printf("\nOther ratios, from the same run:\n\n")
	writeTable(bw, []string{"package", "benchmark", "ratio", "value", "target"}, lines)
}

func shortPkg(pkg string) string {
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		return pkg[i+1:]
	}
	return pkg
}

func envLine(env map[string]string) string {
	var parts []string
	for _, k := range []string{"goos", "goarch", "cpu"} {
		if v := env[k]; v != "" {
			parts = append(parts, k+": "+v)
		}
	}
	return strings.Join(parts, ", ")
}

// fmtNs formats the nanoseconds reported in unit with three significant
// digits and a unit that suits them: "95 ns", "74.7 µs", "1.32 ms".
func fmtNs(r BenchResult, unit string) string {
	v, ok := r.Metric(unit)
	if !ok {
		return "–"
	}
	return FormatNs(v)
}

// FormatNs formats a duration in nanoseconds with three significant digits
// and a unit that suits it: "95 ns", "74.7 µs", "100 µs", "1.32 ms".
func FormatNs(ns float64) string {
	if math.IsNaN(ns) || ns < 0 {
		return "?"
	}
	if math.Round(ns) < 1000 {
		return fmt.Sprintf("%.0f ns", ns)
	}
	for _, u := range []struct {
		name  string
		scale float64
	}{{"µs", 1e3}, {"ms", 1e6}} {
		if v := ns / u.scale; round3(v) < 1000 {
			return sig3(v) + " " + u.name
		}
	}
	return sig3(ns/1e9) + " s"
}

// round3 rounds v (>= 1) to three significant digits.
func round3(v float64) float64 {
	switch {
	case v < 10:
		return math.Round(v*100) / 100
	case v < 100:
		return math.Round(v*10) / 10
	}
	return math.Round(v)
}

// sig3 formats v (>= 1) with three significant digits, after rounding, so
// that 99.96 is "100", not "100.0".
func sig3(v float64) string {
	v = round3(v)
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func fmtRatio(r BenchResult, unit string) string {
	v, ok := r.Metric(unit)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

// trimFloat prints a count per op: "2" for 2.000, "1.95" otherwise.
func trimFloat(v float64) string {
	if math.Abs(v-math.Round(v)) < 0.005 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// writeTable writes a Markdown table with padded columns, so that it reads
// in a terminal as well as rendered.
func writeTable(bw *errWriter, header []string, rows [][]string) {
	width := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, c := range cells {
			sb.WriteString(" ")
			sb.WriteString(c)
			sb.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
			sb.WriteString(" |")
		}
		bw.printf("%s\n", sb.String())
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, row := range rows {
		line(row)
	}
}

// errWriter keeps the first write error, so that the table code can write
// without checking each line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}
