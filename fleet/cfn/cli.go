package cfn

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// Exit statuses of RunFleet, as cmd/strata's.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// fleetUsage is strata fleet's own help.
const fleetUsage = `usage: %[1]s render|validate|up|down|status|deploy [flags]

Runs strata on AWS with CloudFormation (see fleet/README.md):

  render    write the templates (and a system's parameter files) to a directory
  validate  check templates with cfn-lint and strata's security checks
  up        create or update a system's stacks: storage, primary group, query groups
  down      delete a system's compute stacks (or one query group; --storage: all)
  status    show a system's stacks, endpoints and nodes
  deploy    roll a new strata version over a group, one node at a time

'%[1]s COMMAND -h' describes a command's flags.
`

// RunFleet is strata fleet: it runs the subcommand in args[0] (path names
// the command in messages, e.g. "strata fleet") and returns the exit
// status: 0, 1 when the operation fails, 2 for a bad command line.
// AWS credentials come from the SDK's default chain (environment, shared
// files, instance role); --endpoint points it at moto_server or another
// stand-in.
func RunFleet(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, fleetUsage, path)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	r := &runner{path: path + " " + cmd, stdout: stdout, stderr: stderr}
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, fleetUsage, path)
		return exitOK
	case "render":
		return r.render(rest)
	case "validate":
		return r.validate(rest)
	case "up":
		return r.up(rest)
	case "down":
		return r.down(rest)
	case "status":
		return r.status(rest)
	case "deploy":
		return r.deploy(rest)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q (see %s -h)\n", path, cmd, path)
	return exitUsage
}

type runner struct {
	path           string
	stdout, stderr io.Writer
}

// parse parses args; -h prints usage to stdout. It returns the exit status
// to stop with, or -1 to go on.
func (r *runner) parse(fs *flag.FlagSet, args []string, synopsis, about, example string) int {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(r.stdout, "usage: %s %s\n\n%s\n", r.path, synopsis, about)
			if example != "" {
				fmt.Fprintf(r.stdout, "\nexample:\n  %s\n", example)
			}
			fmt.Fprintf(r.stdout, "\nflags:\n")
			fs.SetOutput(r.stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(r.stderr, "%s: %v (see -h)\n", r.path, err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(r.stderr, "%s: unexpected argument %q (flags only; see -h)\n", r.path, fs.Arg(0))
		return exitUsage
	}
	return -1
}

// fail prints err with its category: exit 2 for incorrect input, 1 otherwise.
func (r *runner) fail(err error) int {
	cat := anomaly.CategoryOf(err)
	msg := err.Error()
	if !strings.HasPrefix(msg, cat.String()+":") {
		msg = cat.String() + ": " + msg
	}
	fmt.Fprintf(r.stderr, "%s: %s\n", r.path, msg)
	if cat == anomaly.Incorrect {
		return exitUsage
	}
	return exitFailure
}

func (r *runner) usagef(format string, args ...any) int {
	fmt.Fprintf(r.stderr, "%s: %s (see -h)\n", r.path, fmt.Sprintf(format, args...))
	return exitUsage
}

// listFlag collects a flag given many times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// systemFlags are the flags that describe a system (render, up).
type systemFlags struct {
	p            Params
	topology     string
	loadBalancer string
	queryGroups  listFlag
}

func addSystemFlags(fs *flag.FlagSet) *systemFlags {
	s := &systemFlags{}
	fs.StringVar(&s.p.System, "system", "", "the system's `name` (stacks are strata-NAME-*)")
	fs.StringVar(&s.topology, "topology", "solo", "solo (one t3.small) or production (2+ i3.large)")
	fs.StringVar(&s.p.Version, "version", "", "the strata `release` the nodes run (s3://BUCKET/releases/RELEASE/linux-amd64/strata)")
	fs.StringVar(&s.p.BastionCIDR, "bastion-cidr", "", "the only `cidr` that may SSH to the bastion, e.g. 203.0.113.0/24")
	fs.StringVar(&s.p.KeyName, "key-name", "", "EC2 key `pair` for SSH")
	fs.StringVar(&s.p.InstanceType, "instance-type", "", "primary nodes' instance `type` (default t3.small, or i3.large for production)")
	fs.IntVar(&s.p.Nodes, "nodes", 0, "primary nodes (production: at least 2; default 2)")
	fs.IntVar(&s.p.MaxNodes, "max-nodes", 0, "the primary group's upper bound (default nodes+2)")
	fs.StringVar(&s.p.PrivateEgress, "private-egress", "", "endpoints (default), nat or none: how nodes reach KMS and CloudWatch Logs")
	fs.StringVar(&s.p.ClientCIDR, "client-cidr", "", "`cidr` that may reach the load balancers (default the VPC)")
	fs.StringVar(&s.loadBalancer, "load-balancer", "network", "network or application")
	fs.Var(&s.queryGroups, "query-group", "a query group, NAME[:TYPE[:MIN[:MAX[:CPU]]]] (repeatable)")
	fs.BoolVar(&s.p.StorageOnly, "storage-only", false, "only the storage stack (to upload a release to its bucket before the nodes start)")
	return s
}

func (s *systemFlags) params() (Params, error) {
	s.p.Topology = Topology(s.topology)
	s.p.Templates.LoadBalancer = LoadBalancer(s.loadBalancer)
	for _, q := range s.queryGroups {
		g, err := ParseQueryGroup(q)
		if err != nil {
			return Params{}, err
		}
		s.p.QueryGroups = append(s.p.QueryGroups, g)
	}
	return s.p, nil
}

// awsFlags say how to reach AWS.
type awsFlags struct{ opts ClientOptions }

func addAWSFlags(fs *flag.FlagSet) *awsFlags {
	a := &awsFlags{}
	fs.StringVar(&a.opts.Region, "region", "", "AWS `region` (default the SDK's configuration)")
	fs.StringVar(&a.opts.Endpoint, "endpoint", "", "CloudFormation and Auto Scaling `url` (e.g. moto_server's)")
	fs.DurationVar(&a.opts.PollInterval, "poll", DefaultPollInterval, "how often to look at a stack or refresh while waiting")
	fs.DurationVar(&a.opts.StackTimeout, "stack-timeout", DefaultStackTimeout, "longest wait for one stack operation")
	return a
}

// signalContext ends on SIGINT or SIGTERM: waits stop, the stacks go on.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func (r *runner) render(args []string) int {
	fs := flag.NewFlagSet(r.path, flag.ContinueOnError)
	out := fs.String("out", "", "`dir`ectory to write the templates to (required)")
	sys := addSystemFlags(fs)
	if code := r.parse(fs, args, "--out DIR [--system NAME --version V --bastion-cidr CIDR …]",
		"Writes the CloudFormation templates (storage, solo, production, query-group) to DIR.\n"+
			"With --system it also writes DIR/params/STACK.json for each stack of that system,\n"+
			"for aws cloudformation create-stack --parameters file://….",
		"strata fleet render --out ./cfn --system demo --version 0.4.0 --bastion-cidr 203.0.113.0/24"); code >= 0 {
		return code
	}
	if *out == "" {
		return r.usagef("--out is required")
	}
	p, err := sys.params()
	if err != nil {
		return r.fail(err)
	}
	if err := Render(*out, p); err != nil {
		return r.fail(err)
	}
	fmt.Fprintf(r.stdout, "templates written to %s\n", *out)
	return exitOK
}

func (r *runner) validate(args []string) int {
	fs := flag.NewFlagSet(r.path, flag.ContinueOnError)
	dir := fs.String("dir", "", "`dir`ectory of templates (default: render them to a temporary one)")
	lint := fs.String("cfn-lint", "cfn-lint", "the cfn-lint `program`")
	regions := fs.String("regions", "us-east-1", "comma-separated `regions` cfn-lint checks against")
	lb := fs.String("load-balancer", "network", "when rendering: network or application")
	if code := r.parse(fs, args, "[--dir DIR]",
		"Checks templates with cfn-lint (no errors allowed) and with strata's own checks of\n"+
			"their security properties: encryption at rest with the system's key, no public\n"+
			"bucket, TLS only, a least-privilege node policy, and node ports open only to the\n"+
			"load balancer and the bastion. Exits 1 when a template fails.",
		"strata fleet validate --dir ./cfn"); code >= 0 {
		return code
	}
	ctx, cancel := signalContext()
	defer cancel()
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "strata-fleet-")
		if err != nil {
			return r.fail(anomaly.Wrap(anomaly.Unavailable, "validate", err))
		}
		defer os.RemoveAll(tmp)
		if err := Render(tmp, Params{Templates: TemplateOptions{LoadBalancer: LoadBalancer(*lb)}}); err != nil {
			return r.fail(err)
		}
		*dir = tmp
	}
	rep, err := Validate(ctx, *dir, ValidateOptions{CfnLint: *lint, Regions: strings.Split(*regions, ",")})
	if err != nil {
		return r.fail(err)
	}
	for _, f := range rep.Findings {
		fmt.Fprintln(r.stdout, f)
	}
	if errs := rep.Errors(); len(errs) > 0 {
		fmt.Fprintf(r.stderr, "%s: %d errors in %d templates\n", r.path, len(errs), len(rep.Files))
		return exitFailure
	}
	fmt.Fprintf(r.stdout, "%d templates: no errors (%d other findings)\n", len(rep.Files), len(rep.Findings))
	return exitOK
}

func (r *runner) up(args []string) int {
	fs := flag.NewFlagSet(r.path, flag.ContinueOnError)
	sys := addSystemFlags(fs)
	aw := addAWSFlags(fs)
	if code := r.parse(fs, args, "--system NAME --version V --bastion-cidr CIDR [flags]",
		"Creates or updates the system's stacks and waits for them: storage, the primary group,\n"+
			"then each --query-group. A running version is kept (deploy changes it); query groups\n"+
			"not named are left alone, so adding one is: up … --query-group reports:i3.large:1:4.",
		"strata fleet up --system demo --version 0.4.0 --bastion-cidr 203.0.113.0/24"); code >= 0 {
		return code
	}
	p, err := sys.params()
	if err != nil {
		return r.fail(err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	c, err := NewClient(ctx, aw.opts)
	if err != nil {
		return r.fail(err)
	}
	st, err := c.Up(ctx, p)
	if err != nil {
		return r.fail(err)
	}
	printStatus(r.stdout, st)
	return exitOK
}

func (r *runner) down(args []string) int {
	fs := flag.NewFlagSet(r.path, flag.ContinueOnError)
	system := fs.String("system", "", "the system's `name`")
	var opts DownOptions
	fs.StringVar(&opts.QueryGroup, "query-group", "", "remove only this query `group`")
	fs.BoolVar(&opts.Storage, "storage", false, "also remove the storage stack (its table, bucket and key are retained)")
	aw := addAWSFlags(fs)
	if code := r.parse(fs, args, "--system NAME [--query-group NAME | --storage]",
		"Deletes the system's query groups and primary group (or only --query-group), and waits.\n"+
			"The storage stack stays unless --storage; even then the DynamoDB table, the S3 bucket\n"+
			"and the KMS key are retained, and must be deleted by hand once the data is not wanted.",
		"strata fleet down --system demo --query-group reports"); code >= 0 {
		return code
	}
	if *system == "" {
		return r.usagef("--system is required")
	}
	if opts.QueryGroup != "" && opts.Storage {
		return r.usagef("--query-group and --storage do not go together")
	}
	ctx, cancel := signalContext()
	defer cancel()
	c, err := NewClient(ctx, aw.opts)
	if err != nil {
		return r.fail(err)
	}
	if err := c.Down(ctx, *system, opts); err != nil {
		return r.fail(err)
	}
	switch {
	case opts.QueryGroup != "":
		fmt.Fprintf(r.stdout, "query group %s of %s removed\n", opts.QueryGroup, *system)
	case opts.Storage:
		fmt.Fprintf(r.stdout, "system %s removed; its table, bucket and key are retained\n", *system)
	default:
		fmt.Fprintf(r.stdout, "compute of %s removed; storage kept (%s)\n", *system, StackName(*system, "storage"))
	}
	return exitOK
}

func (r *runner) status(args []string) int {
	fs := flag.NewFlagSet(r.path, flag.ContinueOnError)
	system := fs.String("system", "", "the system's `name`")
	asJSON := fs.Bool("json", false, "print JSON")
	aw := addAWSFlags(fs)
	if code := r.parse(fs, args, "--system NAME [--json]",
		"Shows the system's stacks, their endpoints and versions, and each group's nodes.",
		"strata fleet status --system demo"); code >= 0 {
		return code
	}
	if *system == "" {
		return r.usagef("--system is required")
	}
	ctx, cancel := signalContext()
	defer cancel()
	c, err := NewClient(ctx, aw.opts)
	if err != nil {
		return r.fail(err)
	}
	st, err := c.Status(ctx, *system)
	if err != nil {
		return r.fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(r.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return r.fail(anomaly.Wrap(anomaly.Unavailable, "status", err))
		}
		return exitOK
	}
	printStatus(r.stdout, st)
	return exitOK
}

func (r *runner) deploy(args []string) int {
	fs := flag.NewFlagSet(r.path, flag.ContinueOnError)
	system := fs.String("system", "", "the system's `name`")
	var opts DeployOptions
	fs.StringVar(&opts.Version, "version", "", "the strata `release` to roll out")
	fs.StringVar(&opts.Group, "group", "primary", "primary, or a query group's `name`")
	fs.DurationVar(&opts.Timeout, "timeout", DefaultDeployTimeout, "roll back if the refresh is not done by then")
	fs.DurationVar(&opts.InstanceWarmup, "warmup", 0, "wait this long after a node is healthy before the next (default the group's)")
	fs.BoolVar(&opts.NoAlarm, "no-alarm", false, "do not roll back on the group's UnhealthyNodesAlarm")
	aw := addAWSFlags(fs)
	if code := r.parse(fs, args, "--system NAME --version V [--group NAME]",
		"Rolls a new strata release over one group, one node at a time (an Auto Scaling instance\n"+
			"refresh: a new node is launched, must pass GET /ready on the load balancer, then an old\n"+
			"one goes). If a new node fails its health check, or the group's unhealthy-nodes alarm\n"+
			"fires, Auto Scaling puts the old release back on every replaced node and the stack\n"+
			"returns to the old version. Upload the release first:\n"+
			"  s3://BUCKET/releases/V/linux-amd64/strata and strata.sha256 (sha256sum output).",
		"strata fleet deploy --system demo --version 0.4.1"); code >= 0 {
		return code
	}
	if *system == "" || opts.Version == "" {
		return r.usagef("--system and --version are required")
	}
	ctx, cancel := signalContext()
	defer cancel()
	c, err := NewClient(ctx, aw.opts)
	if err != nil {
		return r.fail(err)
	}
	opts.Progress = func(msg string) { fmt.Fprintf(r.stdout, "%s %s\n", time.Now().Format("15:04:05"), msg) }
	res, err := c.Deploy(ctx, *system, opts)
	if err != nil {
		return r.fail(err)
	}
	if res.Status == "Unchanged" {
		fmt.Fprintf(r.stdout, "%s already runs %s\n", res.Stack, res.ToVersion)
		return exitOK
	}
	fmt.Fprintf(r.stdout, "%s runs %s (launch template version %s)\n", res.Stack, res.ToVersion, res.ToTemplate)
	return exitOK
}

// printStatus writes a system's status for people.
func printStatus(w io.Writer, st *SystemStatus) {
	fmt.Fprintf(w, "system %s\n", st.System)
	for _, s := range st.Stacks {
		fmt.Fprintf(w, "  %-32s %-16s %s", s.Name, s.Part, s.Status)
		if s.Reason != "" && !strings.HasSuffix(s.Status, "_COMPLETE") {
			fmt.Fprintf(w, " (%s)", s.Reason)
		}
		fmt.Fprintln(w)
		keys := make([]string, 0, len(s.Outputs))
		for k := range s.Outputs {
			switch k {
			case "Endpoint", "StrataVersion", "BastionPublicDnsName", "TableName", "BucketName", "KeyArn", "LogGroupName":
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    %-22s %s\n", k, s.Outputs[k])
		}
		for _, n := range s.Nodes {
			fmt.Fprintf(w, "    node %-20s %-12s %-12s %-10s launch template v%s\n", n.InstanceID, n.AvailabilityZone, n.Lifecycle, n.Health, n.LaunchTemplateVersion)
		}
		if s.NodesErr != "" {
			fmt.Fprintf(w, "    nodes: %s\n", s.NodesErr)
		}
	}
}
