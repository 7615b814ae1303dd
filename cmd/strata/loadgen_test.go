package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stratadb/strata/loadgen"
)

// strata loadgen against a node: setup, an open-loop mixed run with the
// live display as plain lines (stdout is no terminal here), the summary,
// the JSON and the PNG; a closed-loop run reusing the entities.
func TestLoadgenCommand(t *testing.T) {
	cleanEnv(t)
	n := startCmdNode(t, true)
	dir := t.TempDir()
	jsonPath, pngPath := filepath.Join(dir, "run.json"), filepath.Join(dir, "run.png")
	code, out, errOut := runCLI("loadgen", "--endpoint", n.url, "--workload", "mixed", "--mix", "read=6,query=2,write=2",
		"--dist", "hot:90/10", "--rate", "200", "--warmup", "400ms", "--duration", "1s", "--entities", "100",
		"--every", "250ms", "--json", jsonPath, "--png", pngPath, "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "loadgen holds 100 loadgen entities") {
		t.Errorf("stderr: %q", errOut)
	}
	for _, want := range []string{
		`(?m)^loadgen 0\.[23]s of 1\.4s \(warm-up, not recorded\); read `,
		`(?m)^loadgen 1\.[0-4]s of 1\.4s; read \d+/s p50 \S+ p99 \S+ p999 \S+; query .*; write .*; in flight \d+$`,
		`(?m)^open loop at 200/s, read=6,query=2,write=2, keys hot:90/10, 1s after 0\.4s warm-up$`,
		`(?m)^op +requests +rate/s +p50 +p90 +p99 +p999 +max +dropped +errors$`,
		`(?m)^read +\d+ +\d+ +[0-9.]+m?s .* 0  -$`,
		`(?m)^all +200 +200 `,
		`(?m)^send lag `,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stdout lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("terminal escapes in output to a non-terminal:\n%q", out)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	all, ok := res.Op("all")
	if !ok || all.Requests != 200 || all.OK != 200 || res.Seed != 3 || res.Info["endpoint"] != n.url || res.Info["db"] != "loadgen" || len(all.Spectrum) == 0 {
		t.Errorf("JSON: %s", b)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != loadgen.PNGWidth || b.Dy() != loadgen.PNGHeight {
		t.Errorf("PNG of %v", b)
	}

	// Closed loop, reusing the database as it is.
	out = must(t, "loadgen", "--endpoint", n.url, "--workload", "read", "--setup=false", "--entities", "100",
		"--concurrency", "2", "--warmup", "0s", "--duration", "300ms")
	if !regexp.MustCompile(`(?m)^closed loop of 2, read, keys uniform, 0\.3s$`).MatchString(out) || strings.Contains(out, "send lag") {
		t.Errorf("closed loop:\n%s", out)
	}
}

func TestLoadgenUsage(t *testing.T) {
	cleanEnv(t)
	code, out, _ := runCLI("loadgen", "-h")
	if code != 0 || !strings.Contains(out, "example:\n  strata loadgen --workload mixed") || !strings.Contains(out, "-max-outstanding") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	if out := must(t, "help"); !strings.Contains(out, "loadgen") {
		t.Errorf("help lacks loadgen:\n%s", out)
	}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"--workload", []string{"--workload", "scan"}},
		{"--workload", []string{"--workload", "read=1,write=1"}},
		{"--mix is for --workload mixed", []string{"--mix", "read=1"}},
		{"--mix", []string{"--workload", "mixed", "--mix", "read=x"}},
		{"--dist", []string{"--dist", "zipf:0.5"}},
		{"--concurrency is for a closed loop", []string{"--rate", "10", "--concurrency", "3"}},
		{"--max-outstanding is for an open loop", []string{"--max-outstanding", "3"}},
		{"duration", []string{"--duration", "0s"}},
		{"entities", []string{"--entities", "0"}},
		{"query", []string{"--workload", "query", "--query", "[:find"}},
		{"flags only", []string{"extra"}},
		{"no such file or directory", []string{"--json", "/nonexistent/dir/x.json"}},
	} {
		// No node at this endpoint: each must fail before connecting.
		refused(t, 2, c.want, append([]string{"loadgen", "--endpoint", "http://127.0.0.1:1"}, c.args...)...)
	}
	refused(t, 1, "unavailable", "loadgen", "--endpoint", "http://127.0.0.1:1", "--timeout", "1s", "--duration", "1s")
}
