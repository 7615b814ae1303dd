package cfn

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needCfnLint(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not running cfn-lint")
	}
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint): skipping the lint of the templates")
	}
}

// Every template, as Validate runs it: cfn-lint reports no errors (nor
// warnings: a new warning is worth a look), and our checks pass.
func TestValidate(t *testing.T) {
	needCfnLint(t)
	t.Parallel()
	dir := t.TempDir()
	if err := Render(dir, testParams); err != nil {
		t.Fatal(err)
	}
	rep, err := Validate(context.Background(), dir, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != len(Kinds) {
		t.Fatalf("validated %d files, want %d", len(rep.Files), len(Kinds))
	}
	for _, f := range rep.Findings {
		t.Errorf("%v", f)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
}

// The application load balancer variant (used against moto) lints clean too.
func TestCfnLintApplicationVariant(t *testing.T) {
	needCfnLint(t)
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for _, k := range []Kind{KindSolo, KindProduction, KindQueryGroup} {
		body, err := Template(k, TemplateOptions{LoadBalancer: ApplicationLoadBalancer})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, k.File())
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	findings, err := RunCfnLint(context.Background(), "cfn-lint", []string{"us-east-1"}, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("%v", f)
	}
}

// cfn-lint's own errors come back as findings (so that Validate fails on
// them): a template with a property CloudFormation does not have.
func TestCfnLintReportsErrors(t *testing.T) {
	needCfnLint(t)
	t.Parallel()
	body, err := Template(KindSolo, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(body), "      HealthCheckType: ELB", "      HealthCheckType: ELB\n      HealthCheckKind: ELB", 1)
	path := filepath.Join(t.TempDir(), "solo.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	findings, err := RunCfnLint(context.Background(), "cfn-lint", []string{"us-east-1"}, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		if f.Level == LevelError && f.Resource == "NodeGroup" {
			return
		}
	}
	t.Fatalf("no cfn-lint error on NodeGroup; findings: %v", findings)
}

// Validate fails a template our checks reject even when cfn-lint (here a
// stand-in that finds nothing) does not.
func TestValidateRunsChecks(t *testing.T) {
	dir := t.TempDir()
	if err := Render(dir, Params{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KindProduction.File())
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	open := strings.Replace(string(body), "  # --- The nodes", nodeOpenTo("0.0.0.0/0"), 1)
	if err := os.WriteFile(path, []byte(open), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "cfn-lint")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho '[]'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err := Validate(context.Background(), dir, ValidateOptions{CfnLint: fake})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() == nil || !strings.Contains(rep.Err().Error(), "0.0.0.0/0") {
		t.Fatalf("Validate passed a node port open to 0.0.0.0/0: %v", rep.Findings)
	}
	for _, f := range rep.Errors() {
		if f.File != "production.yaml" {
			t.Errorf("error in a template that was not changed: %v", f)
		}
	}
	if _, err := Validate(context.Background(), t.TempDir(), ValidateOptions{CfnLint: fake}); err == nil {
		t.Fatal("Validate of an empty directory: no error")
	}
	if _, err := Validate(context.Background(), dir, ValidateOptions{CfnLint: "no-such-cfn-lint"}); err == nil {
		t.Fatal("Validate without cfn-lint: no error")
	}
}
