package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errw bytes.Buffer
	code = run(args, &out, &errw)
	return code, out.String(), errw.String()
}

func writeTrace(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var line = regexp.MustCompile(`^capacity=([1-9][0-9]*) policy=(memory-tier|lru|optimal) hit=([0-9]{1,3}\.[0-9]{2})%$`)

func TestBenchCache(t *testing.T) {
	// 1 2 1 3 1 2 at capacity 2. LRU: 1 F, 2 F, 1 H, 3 F evicts 2, 1 H, 2 F
	// evicts 3: 2 hits of 6 = 33.33%. Optimal bypasses 3: 3 hits = 50.00%.
	lirs := writeTrace(t, "t.trace", []byte("1\n2\n*\n1\n3\n1\n2\n"))
	code, stdout, stderr := runCLI("bench", "cache", "--trace", lirs, "--format", "lirs", "--capacity", "1,2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	want := []struct{ capacity, policy string }{
		{"1", "memory-tier"}, {"1", "lru"}, {"1", "optimal"},
		{"2", "memory-tier"}, {"2", "lru"}, {"2", "optimal"},
	}
	if len(lines) != len(want) {
		t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil || m[1] != want[i].capacity || m[2] != want[i].policy {
			t.Errorf("line %d %q, want capacity=%s policy=%s hit=NN.NN%%", i, l, want[i].capacity, want[i].policy)
		}
	}
	if lines[4] != "capacity=2 policy=lru hit=33.33%" || lines[5] != "capacity=2 policy=optimal hit=50.00%" {
		t.Errorf("capacity 2 lines %q %q", lines[4], lines[5])
	}
	if !strings.Contains(stderr, "capacity=2 memory-tier-lru=") || !strings.Contains(stderr, "6 accesses") {
		t.Errorf("stderr summary %q", stderr)
	}

	// cache2k, the same keys.
	var bin []byte
	for _, k := range []uint32{1, 2, 1, 3, 1, 2} {
		bin = binary.BigEndian.AppendUint32(bin, k)
	}
	c2k := writeTrace(t, "t.bin", bin)
	code, stdout, stderr = runCLI("bench", "cache", "-trace", c2k, "-format", "cache2k", "-capacity", "2")
	if code != 0 || !strings.Contains(stdout, "capacity=2 policy=lru hit=33.33%\n") {
		t.Errorf("cache2k: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestBenchCacheErrors(t *testing.T) {
	good := writeTrace(t, "good.trace", []byte("1\n2\n"))
	bad := writeTrace(t, "bad.trace", []byte("1\nxyz\n"))
	partial := writeTrace(t, "partial.bin", []byte{0, 0, 0, 1, 0, 0})
	missing := filepath.Join(t.TempDir(), "missing.trace")
	cases := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no trace", []string{"--format", "lirs", "--capacity", "1"}, "--trace is required"},
		{"no format", []string{"--trace", good, "--capacity", "1"}, "--format is required"},
		{"unknown format", []string{"--trace", good, "--format", "arc", "--capacity", "1"}, `unknown format "arc"`},
		{"no capacity", []string{"--trace", good, "--format", "lirs"}, "--capacity is required"},
		{"capacity 0", []string{"--trace", good, "--format", "lirs", "--capacity", "0"}, "0 is not a positive number"},
		{"negative capacity", []string{"--trace", good, "--format", "lirs", "--capacity", "5,-3"}, "-3 is not a positive number"},
		{"capacity not a number", []string{"--trace", good, "--format", "lirs", "--capacity", "1k"}, `"1k" is not a number`},
		{"empty capacity item", []string{"--trace", good, "--format", "lirs", "--capacity", "5,"}, `"" is not a number`},
		{"missing file", []string{"--trace", missing, "--format", "lirs", "--capacity", "1"}, "cannot open " + missing + ": no such file"},
		{"directory", []string{"--trace", t.TempDir(), "--format", "lirs", "--capacity", "1"}, "cannot read"},
		{"bad line", []string{"--trace", bad, "--format", "lirs", "--capacity", "1"}, bad + ": line 2: "},
		{"partial record", []string{"--trace", partial, "--format", "cache2k", "--capacity", "1"}, "byte offset 4: trailing partial record"},
		{"unknown flag", []string{"--trace", good, "--format", "lirs", "--capacity", "1", "--bogus"}, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"--trace", good, "--format", "lirs", "--capacity", "1", "extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"bench", "cache"}, c.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, "strata bench cache: ") || !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q, want it to name %q", stderr, c.want)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	code, stdout, stderr := runCLI()
	if code != exitUsage || !strings.Contains(stderr, "missing command") || !strings.Contains(stderr, "bench") || stdout != "" {
		t.Errorf("no args: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI("frob")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "frob"`) {
		t.Errorf("unknown: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("bench", "frob")
	if code != exitUsage || !strings.Contains(stderr, `strata bench: unknown command "frob"`) {
		t.Errorf("unknown bench: exit %d, stderr %q", code, stderr)
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, _ = runCLI(args...)
		if code != 0 || !strings.Contains(stdout, "bench") || !strings.Contains(stdout, "version") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
	code, stdout, _ = runCLI("help", "bench")
	if code != 0 || !strings.Contains(stdout, "usage: strata bench <command>") || !strings.Contains(stdout, "cache") {
		t.Errorf("help bench: exit %d, stdout %q", code, stdout)
	}
	for _, args := range [][]string{{"help", "bench", "cache"}, {"bench", "cache", "-h"}} {
		code, stdout, stderr = runCLI(args...)
		if code != 0 || !strings.Contains(stdout, "--trace FILE --format lirs|cache2k --capacity N[,N…]") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	code, _, stderr = runCLI("help", "bench", "frob")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "bench frob"`) {
		t.Errorf("help bench frob: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ = runCLI("version")
	if code != 0 || !strings.HasPrefix(stdout, "strata ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("version: exit %d, stdout %q", code, stdout)
	}
	code, _, _ = runCLI("version", "extra")
	if code != exitUsage {
		t.Errorf("version extra: exit %d", code)
	}
}
