package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// StratumReport is one run of `strata bench strata`, as --json writes it
// and `strata bench compare` reads it: one row per stratum (and
// configuration), each with its reference and their ratio.
type StratumReport struct {
	// Source is "local" (the suite in-process) or the node's endpoint.
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	// Env describes the machine: goos, goarch, cpu, cores; for a node,
	// what drove it.
	Env   map[string]string `json:"env,omitempty"`
	Rows  []StratumRow      `json:"rows"`
	Skips []BenchSkip       `json:"skips,omitempty"`
	// Notes are printed under the table.
	Notes []string `json:"notes,omitempty"`
}

// StratumRow is one row of the per-stratum table. Latencies are in
// nanoseconds; 0 means not measured. Ratios are ours / reference.
type StratumRow struct {
	// Name identifies the row across runs: the benchmark's name for the
	// local suite ("BenchmarkStratum/stratum=ssd/…"), "node/stratum=X" for
	// a node.
	Name      string  `json:"name"`
	Stratum   string  `json:"stratum"`
	Served    string  `json:"served_by,omitempty"`
	P50Ns     float64 `json:"p50_ns"`
	P99Ns     float64 `json:"p99_ns"`
	P999Ns    float64 `json:"p999_ns"`
	Reference string  `json:"reference"`
	RefP50Ns  float64 `json:"ref_p50_ns,omitempty"`
	RefP99Ns  float64 `json:"ref_p99_ns,omitempty"`
	RefP999Ns float64 `json:"ref_p999_ns,omitempty"`
	RatioP50  float64 `json:"ratio_p50,omitempty"`
	RatioP99  float64 `json:"ratio_p99,omitempty"`
	RatioP999 float64 `json:"ratio_p999,omitempty"`
	// Samples is the number of latencies behind ours.
	Samples int64 `json:"samples"`
}

// StratumRows returns the per-stratum rows of out (merged: the median of
// repeated runs), labelled as WriteStratumTable labels them.
func StratumRows(out *BenchOutput) []StratumRow {
	var rows []StratumRow
	for _, r := range out.Merged() {
		if !isStratumRow(r) {
			continue
		}
		stratum, served := servedBy(r)
		ref := r.Param("ref")
		if d, ok := refNames[ref]; ok {
			ref = d
		}
		m := r.Metrics
		rows = append(rows, StratumRow{
			Name: r.Name, Stratum: stratum, Served: served,
			P50Ns: m[UnitP50], P99Ns: m[UnitP99], P999Ns: m[UnitP999],
			Reference: ref,
			RefP50Ns:  m[RefPrefix+UnitP50], RefP99Ns: m[RefPrefix+UnitP99], RefP999Ns: m[RefPrefix+UnitP999],
			RatioP50: m[UnitRatioP50], RatioP99: m[UnitRatioP99], RatioP999: m[UnitRatioP999],
			Samples: int64(m[UnitSamples]),
		})
	}
	return rows
}

// ReadStratumReport reads a report that WriteJSON wrote, and checks it.
func ReadStratumReport(r io.Reader) (*StratumReport, error) {
	var rep StratumReport
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("not a strata bench strata report: %w", err)
	}
	if len(rep.Rows) == 0 {
		return nil, fmt.Errorf("not a strata bench strata report: no rows")
	}
	seen := make(map[string]bool)
	for i, row := range rep.Rows {
		switch {
		case row.Name == "":
			return nil, fmt.Errorf("row %d has no name", i+1)
		case seen[row.Name]:
			return nil, fmt.Errorf("row %d: %s appears twice", i+1, row.Name)
		}
		seen[row.Name] = true
		for _, v := range []float64{row.P50Ns, row.P99Ns, row.P999Ns, row.RefP50Ns, row.RefP99Ns, row.RefP999Ns, row.RatioP50, row.RatioP99, row.RatioP999} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("row %d (%s): a latency or ratio of %v", i+1, row.Name, v)
			}
		}
	}
	return &rep, nil
}

// WriteJSON writes rep as indented JSON.
func (rep *StratumReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes rep as one Markdown table (stratum, p50, p99, p999,
// reference, its p50 and p99, ratio at p50 and p99), then its notes and
// the rows that were not run.
func (rep *StratumReport) WriteTable(w io.Writer) error {
	header := []string{"stratum", "served by", "p50", "p99", "p999", "reference", "ref p50", "ref p99", "ratio p50", "ratio p99"}
	rows := make([][]string, 0, len(rep.Rows))
	few := false
	for _, r := range rep.Rows {
		p999 := nsCell(r.P999Ns)
		if r.Samples > 0 && r.Samples < 1000 && r.P999Ns > 0 {
			p999 += "*"
			few = true
		}
		rows = append(rows, []string{r.Stratum, r.Served, nsCell(r.P50Ns), nsCell(r.P99Ns), p999,
			orDash(r.Reference), nsCell(r.RefP50Ns), nsCell(r.RefP99Ns), ratioCell(r.RatioP50), ratioCell(r.RatioP99)})
	}
	bw := &errWriter{w: w}
	bw.printf("%s, %s\n\n", rep.Source, rep.Time.UTC().Format("2006-01-02 15:04 UTC"))
	writeTable(bw, header, rows)
	if few {
		bw.printf("\n* fewer than 1,000 samples: p999 is at or near the maximum.\n")
	}
	for _, n := range rep.Notes {
		bw.printf("\n%s\n", n)
	}
	if env := envLine(rep.Env); env != "" {
		bw.printf("\n%s\n", env)
	}
	if len(rep.Skips) > 0 {
		bw.printf("\nNot run:\n")
		for _, s := range rep.Skips {
			bw.printf("  %s: %s\n", s.Name, s.Reason)
		}
	}
	return bw.err
}

// WriteStratumCompare writes a and b side by side, one row per row name in
// either (a's order, then b's new rows): p50, p99 and p999 of each and
// b / a, and each run's ratio to its own reference at p50. A row only one
// run has shows "–" for the other.
func WriteStratumCompare(w io.Writer, a, b *StratumReport) error {
	bRows := make(map[string]StratumRow, len(b.Rows))
	for _, r := range b.Rows {
		bRows[r.Name] = r
	}
	aNames := make(map[string]bool, len(a.Rows))
	type both struct {
		a, b       StratumRow
		hasA, hasB bool
	}
	var list []both
	for _, r := range a.Rows {
		aNames[r.Name] = true
		br, ok := bRows[r.Name]
		list = append(list, both{a: r, b: br, hasA: true, hasB: ok})
	}
	for _, r := range b.Rows {
		if !aNames[r.Name] {
			list = append(list, both{b: r, hasB: true})
		}
	}
	header := []string{"stratum", "served by", "reference", "A p50", "B p50", "B/A p50", "A p99", "B p99", "B/A p99", "A p999", "B p999", "B/A p999", "A ratio p50", "B ratio p50"}
	var rows [][]string
	for _, x := range list {
		id := x.a
		if !x.hasA {
			id = x.b
		}
		cell := func(has bool, v float64) string {
			if !has {
				return "–"
			}
			return nsCell(v)
		}
		change := func(av, bv float64) string {
			if !x.hasA || !x.hasB || av <= 0 || bv <= 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f×", bv/av)
		}
		rc := func(has bool, v float64) string {
			if !has {
				return "–"
			}
			return ratioCell(v)
		}
		rows = append(rows, []string{id.Stratum, id.Served, orDash(id.Reference),
			cell(x.hasA, x.a.P50Ns), cell(x.hasB, x.b.P50Ns), change(x.a.P50Ns, x.b.P50Ns),
			cell(x.hasA, x.a.P99Ns), cell(x.hasB, x.b.P99Ns), change(x.a.P99Ns, x.b.P99Ns),
			cell(x.hasA, x.a.P999Ns), cell(x.hasB, x.b.P999Ns), change(x.a.P999Ns, x.b.P999Ns),
			rc(x.hasA, x.a.RatioP50), rc(x.hasB, x.b.RatioP50)})
	}
	bw := &errWriter{w: w}
	bw.printf("A: %s, %s\nB: %s, %s\n\n", a.Source, a.Time.UTC().Format("2006-01-02 15:04 UTC"), b.Source, b.Time.UTC().Format("2006-01-02 15:04 UTC"))
	writeTable(bw, header, rows)
	bw.printf("\nB/A above 1: B is slower. \"ratio\" is each run's own ours / reference, measured in the same loop;\n" +
		"on shared machines it is the figure to compare, more than the absolute times.\n")
	return bw.err
}

func nsCell(ns float64) string {
	if ns <= 0 {
		return "–"
	}
	return FormatNs(ns)
}

func ratioCell(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// NodeStratum is one stratum's read latency as a node's /metrics reports
// it (strata_stratum_read_seconds, server/metrics.go): quantiles over the
// reads that stratum served since the node started.
type NodeStratum struct {
	Name           string
	P50, P99, P999 time.Duration
	Count          int64
	Hits           int64 // strata_stratum_hits_total
}

// ParseNodeStrata reads a node's /metrics (Prometheus text format) and
// returns its strata in the order they appear. Other metrics are ignored;
// a strata line whose value does not parse is an error.
func ParseNodeStrata(r io.Reader) ([]NodeStratum, error) {
	var order []string
	by := make(map[string]*NodeStratum)
	get := func(name string) *NodeStratum {
		if s, ok := by[name]; ok {
			return s
		}
		order = append(order, name)
		by[name] = &NodeStratum{Name: name}
		return by[name]
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		var metric string
		for _, m := range []string{"strata_stratum_read_seconds{", "strata_stratum_read_seconds_count{", "strata_stratum_hits_total{"} {
			if strings.HasPrefix(line, m) {
				metric = strings.TrimSuffix(m, "{")
			}
		}
		if metric == "" {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			return nil, fmt.Errorf("metrics line %d: no closing brace: %q", n, line)
		}
		labels := parseLabels(line[len(metric)+1 : end])
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("metrics line %d: value of %q", n, line)
		}
		name := labels["stratum"]
		if name == "" {
			return nil, fmt.Errorf("metrics line %d: no stratum label: %q", n, line)
		}
		s := get(name)
		switch metric {
		case "strata_stratum_read_seconds":
			d := time.Duration(math.Round(v * 1e9))
			switch labels["quantile"] {
			case "0.5":
				s.P50 = d
			case "0.99":
				s.P99 = d
			case "0.999":
				s.P999 = d
			}
		case "strata_stratum_read_seconds_count":
			s.Count = int64(v)
		case "strata_stratum_hits_total":
			s.Hits = int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]NodeStratum, 0, len(order))
	for _, name := range order {
		out = append(out, *by[name])
	}
	return out, nil
}

// parseLabels parses `a="x",b="y"` (values as Go quotes them, which is what
// server/metrics.go writes with %q).
func parseLabels(s string) map[string]string {
	m := make(map[string]string)
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		v, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		m[strings.TrimSpace(k)], _ = strconv.Unquote(v)
		s = strings.TrimPrefix(rest[len(v):], ",")
	}
	return m
}

// NodeStratumRows makes the table's rows of a node's strata: each
// stratum's quantiles, with the node's memory stratum as the reference of
// the others (the memory row's reference is "-"). hitsDuring, if set, is
// the hits each stratum took during the load, shown in "served by".
func NodeStratumRows(strata []NodeStratum, hitsDuring map[string]int64) []StratumRow {
	var mem *NodeStratum
	for i := range strata {
		if strata[i].Name == "memory" && strata[i].Count > 0 {
			mem = &strata[i]
		}
	}
	rows := make([]StratumRow, 0, len(strata))
	for _, s := range strata {
		served := fmt.Sprintf("%d reads since start", s.Count)
		if hitsDuring != nil {
			served += fmt.Sprintf(", %d hits during the load", hitsDuring[s.Name])
		}
		row := StratumRow{Name: "node/stratum=" + s.Name, Stratum: s.Name, Served: served,
			P50Ns: float64(s.P50), P99Ns: float64(s.P99), P999Ns: float64(s.P999), Reference: "-", Samples: s.Count}
		if s.Count == 0 {
			row.P50Ns, row.P99Ns, row.P999Ns = 0, 0, 0
		}
		if mem != nil && s.Name != "memory" && s.Count > 0 {
			row.Reference = "node's memory stratum"
			row.RefP50Ns, row.RefP99Ns, row.RefP999Ns = float64(mem.P50), float64(mem.P99), float64(mem.P999)
			row.RatioP50 = ratioOf(row.P50Ns, row.RefP50Ns)
			row.RatioP99 = ratioOf(row.P99Ns, row.RefP99Ns)
			row.RatioP999 = ratioOf(row.P999Ns, row.RefP999Ns)
		}
		rows = append(rows, row)
	}
	return rows
}

func ratioOf(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}
