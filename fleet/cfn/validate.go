package cfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stratadb/strata/anomaly"
)

// ValidateOptions configure Validate.
type ValidateOptions struct {
	// CfnLint is the cfn-lint program. Default: "cfn-lint" on PATH.
	CfnLint string
	// Regions cfn-lint checks the templates against (resource types and
	// properties differ by region). Default us-east-1.
	Regions []string
}

// Report is what Validate found.
type Report struct {
	Files    []string  // the templates checked
	Findings []Finding // cfn-lint's, then ours
}

// Errors returns the findings of level error.
func (r *Report) Errors() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Level == LevelError {
			out = append(out, f)
		}
	}
	return out
}

// Err returns an anomaly.Incorrect error listing the errors, or nil.
func (r *Report) Err() error {
	errs := r.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, f := range errs {
		lines[i] = f.String()
	}
	return anomaly.New(anomaly.Incorrect, "validate templates", "%d errors:\n  %s", len(errs), strings.Join(lines, "\n  "))
}

// Validate checks the templates in dir (as Render writes them: each
// Kind's file that is present, at least one): cfn-lint must report no
// errors, and Check none either. It returns the report, and an error only
// when it could not check (cfn-lint missing or failing to run, no
// templates); the report's Err says whether the templates pass.
func Validate(ctx context.Context, dir string, opts ValidateOptions) (*Report, error) {
	if opts.CfnLint == "" {
		opts.CfnLint = "cfn-lint"
	}
	if len(opts.Regions) == 0 {
		opts.Regions = []string{"us-east-1"}
	}
	rep := &Report{}
	kinds := map[string]Kind{}
	for _, k := range Kinds {
		path := filepath.Join(dir, k.File())
		if _, err := os.Stat(path); err == nil {
			rep.Files = append(rep.Files, path)
			kinds[path] = k
		}
	}
	if len(rep.Files) == 0 {
		return nil, anomaly.New(anomaly.Incorrect, "validate", "no templates in %s (want files such as storage.yaml; see strata fleet render)", dir)
	}
	lint, err := RunCfnLint(ctx, opts.CfnLint, opts.Regions, rep.Files)
	if err != nil {
		return nil, err
	}
	rep.Findings = append(rep.Findings, lint...)
	for _, path := range rep.Files {
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, anomaly.Wrap(anomaly.Unavailable, "validate", err)
		}
		rep.Findings = append(rep.Findings, Check(kinds[path], body)...)
	}
	return rep, nil
}

// ErrNoCfnLint is returned (wrapped) when cfn-lint is not installed.
var ErrNoCfnLint = errors.New("cfn-lint not found (it is a Python package: pip install cfn-lint)")

// RunCfnLint runs cfn-lint on files and returns its findings. cfn-lint
// exits with a bit mask (2 errors, 4 warnings, 8 informational), which is
// why its status is not an error here; no output on standard output, or
// output that is not its JSON, is.
func RunCfnLint(ctx context.Context, program string, regions, files []string) ([]Finding, error) {
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "cfn-lint", fmt.Errorf("%w: %v", ErrNoCfnLint, err))
	}
	args := []string{"--format", "json", "--regions"}
	args = append(args, regions...)
	args = append(args, "--")
	args = append(args, files...)
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var exit *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return nil, anomaly.Wrap(anomaly.Unavailable, "cfn-lint", runErr)
	}
	if exit != nil && exit.ExitCode()&^(2|4|8) != 0 {
		return nil, anomaly.New(anomaly.Fault, "cfn-lint", "exit status %d: %s", exit.ExitCode(), strings.TrimSpace(stderr.String()))
	}
	var out []struct {
		Level    string
		Message  string
		Filename string
		Rule     struct{ Id string }
		Location struct {
			Path  []any
			Start struct{ LineNumber int }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, anomaly.New(anomaly.Fault, "cfn-lint", "output is not JSON (%v): %.200s %s", err, stdout.String(), strings.TrimSpace(stderr.String()))
	}
	findings := make([]Finding, 0, len(out))
	for _, o := range out {
		f := Finding{
			File:    filepath.Base(o.Filename),
			Rule:    o.Rule.Id,
			Message: fmt.Sprintf("line %d: %s", o.Location.Start.LineNumber, o.Message),
		}
		switch strings.ToLower(o.Level) {
		case "error":
			f.Level = LevelError
		case "warning":
			f.Level = LevelWarning
		default:
			f.Level = LevelInformation
		}
		if p := o.Location.Path; len(p) >= 2 && p[0] == "Resources" {
			f.Resource = fmt.Sprint(p[1])
		}
		findings = append(findings, f)
	}
	return findings, nil
}
