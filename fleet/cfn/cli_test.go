package cfn

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runFleet(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = RunFleet("strata fleet", args, &out, &errw)
	return code, out.String(), errw.String()
}

func TestRunFleetUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, 2, "render|validate|up|down|status|deploy"},
		{[]string{"help"}, 0, "roll a new strata version"},
		{[]string{"launch"}, 2, `unknown command "launch"`},
		{[]string{"render", "-h"}, 0, "--out"},
		{[]string{"render"}, 2, "--out is required"},
		{[]string{"render", "--out", "x", "extra"}, 2, "unexpected argument"},
		{[]string{"render", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"render", "--out", t.TempDir(), "--system", "demo", "--version", "1", "--bastion-cidr", "0.0.0.0/0"}, 2, "too wide"},
		{[]string{"up", "-h"}, 0, "--query-group"},
		{[]string{"up", "--system", "demo"}, 2, "incorrect"},
		{[]string{"down"}, 2, "--system is required"},
		{[]string{"down", "--system", "d", "--query-group", "q", "--storage"}, 2, "do not go together"},
		{[]string{"status"}, 2, "--system is required"},
		{[]string{"deploy", "--system", "demo"}, 2, "--version are required"},
		{[]string{"deploy", "-h"}, 0, "one node at a time"},
		{[]string{"validate", "-h"}, 0, "cfn-lint"},
	} {
		code, out, errs := runFleet(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.out) {
			t.Errorf("strata fleet %q: exit %d, want %d; output lacks %q:\n%s%s", tc.args, code, tc.code, tc.out, out, errs)
		}
	}
}

func TestRunFleetRenderValidate(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runFleet(t, "render", "--out", dir, "--system", "demo", "--version", "0.4.0", "--bastion-cidr", "203.0.113.0/24",
		"--topology", "production", "--query-group", "reports:r6i.large:1:3")
	if code != 0 {
		t.Fatalf("render: exit %d: %s%s", code, out, errs)
	}
	for _, f := range []string{"storage.yaml", "production.yaml", "params/strata-demo-primary.json", "params/strata-demo-query-reports.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	fake := filepath.Join(t.TempDir(), "cfn-lint")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho '[]'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runFleet(t, "validate", "--dir", dir, "--cfn-lint", fake); code != 0 {
		t.Fatalf("validate: exit %d: %s%s", code, out, errs)
	}
	path := filepath.Join(dir, "solo.yaml")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(body), "  # --- The nodes", nodeOpenTo("0.0.0.0/0"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runFleet(t, "validate", "--dir", dir, "--cfn-lint", fake)
	if code != 1 || !strings.Contains(out, "solo.yaml: NodeOpen: error open-ingress") {
		t.Fatalf("validate of a node port open to the internet: exit %d:\n%s%s", code, out, errs)
	}
}

// up, status, deploy and down through the command line, against moto_server.
func TestRunFleetAgainstMoto(t *testing.T) {
	endpoint := startMoto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	aws := []string{"--endpoint", endpoint, "--region", "us-east-1", "--poll", "10ms"}
	code, out, errs := runFleet(t, append([]string{"up", "--system", "cli", "--version", "0.4.0", "--bastion-cidr", "203.0.113.0/24",
		"--load-balancer", "application", "--query-group", "reports"}, aws...)...)
	if code != 0 || !strings.Contains(out, "strata-cli-query-reports") || !strings.Contains(out, "node i-") {
		t.Fatalf("up: exit %d:\n%s%s", code, out, errs)
	}
	code, out, errs = runFleet(t, append([]string{"status", "--system", "cli", "--json"}, aws...)...)
	var st SystemStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Stacks) != 3 {
		t.Fatalf("status --json: exit %d:\n%s%s", code, out, errs)
	}
	code, out, errs = runFleet(t, append([]string{"deploy", "--system", "cli", "--version", "0.5.0", "--group", "reports"}, aws...)...)
	if code != 1 || !strings.Contains(errs, "start instance refresh") || !strings.Contains(out, "putting strata-cli-query-reports back to version 0.4.0") {
		t.Fatalf("deploy against moto (which has no instance refresh): exit %d:\n%s%s", code, out, errs)
	}
	if code, out, errs := runFleet(t, append([]string{"down", "--system", "cli", "--query-group", "reports"}, aws...)...); code != 0 {
		t.Fatalf("down --query-group: exit %d:\n%s%s", code, out, errs)
	}
	if code, out, errs := runFleet(t, append([]string{"down", "--system", "cli"}, aws...)...); code != 0 || !strings.Contains(out, "storage kept") {
		t.Fatalf("down: exit %d:\n%s%s", code, out, errs)
	}
	if code, _, errs := runFleet(t, append([]string{"status", "--system", "nosuch"}, aws...)...); code != 1 || !strings.Contains(errs, "not-found") {
		t.Fatalf("status of no system: exit %d: %s", code, errs)
	}
}
