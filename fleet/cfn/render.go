package cfn

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/stratadb/strata/anomaly"
)

// NodePort is the port every node serves its API and GET /ready on: the
// port of server.DefaultListen (a test keeps the two equal).
const NodePort = 4334

// NodeUID is the uid and gid of the strata user on a node, which owns the
// EFS access point's root directory.
const NodeUID = 4334

// Kind names a template.
type Kind string

// The templates.
const (
	KindStorage    Kind = "storage"     // table, bucket, file system, key, VPC, log group
	KindSolo       Kind = "solo"        // one t3.small node, NLB, bastion
	KindProduction Kind = "production"  // two or more i3.large nodes, NLB, bastion
	KindQueryGroup Kind = "query-group" // a query group's nodes, NLB, scaling policy
)

// Kinds lists every template, storage first.
var Kinds = []Kind{KindStorage, KindSolo, KindProduction, KindQueryGroup}

// File returns the template's file name, e.g. "storage.yaml".
func (k Kind) File() string { return string(k) + ".yaml" }

//go:embed templates/*.yaml templates/*.tmpl templates/*.sh
var templateFS embed.FS

// templateData is what the compute templates are executed with.
type templateData struct {
	Kind        string // "storage", "solo", "production" or "query"
	NodePort    int
	NodeUID     int
	GroupLabel  string // in descriptions, inside !Sub: "primary" or "query group ${GroupName}"
	GroupSuffix string // in names, inside !Sub: "primary" or "${GroupName}"
	GroupValue  string // a YAML value: primary or !Ref GroupName

	LoadBalancer string // "network" or "application"
	LBLabel      string // "NLB" or "ALB"
	LBProtocol   string // the listener's and target group's: TCP or HTTP
	LBNamespace  string // the CloudWatch namespace of its metrics
}

func dataFor(k Kind, opts TemplateOptions) templateData {
	d := templateData{NodePort: NodePort, NodeUID: NodeUID, GroupLabel: "primary", GroupSuffix: "primary", GroupValue: "primary",
		LoadBalancer: "network", LBLabel: "NLB", LBProtocol: "TCP", LBNamespace: "AWS/NetworkELB"}
	if opts.LoadBalancer == ApplicationLoadBalancer {
		d.LoadBalancer, d.LBLabel, d.LBProtocol, d.LBNamespace = "application", "ALB", "HTTP", "AWS/ApplicationELB"
	}
	switch k {
	case KindStorage:
		d.Kind = "storage"
	case KindSolo:
		d.Kind = "solo"
	case KindProduction:
		d.Kind = "production"
	case KindQueryGroup:
		d.Kind = "query"
		d.GroupLabel = "query group ${GroupName}"
		d.GroupSuffix = "${GroupName}"
		d.GroupValue = "!Ref GroupName"
	}
	return d
}

// LoadBalancer is the kind of load balancer in front of a compute group.
type LoadBalancer string

// The load balancers.
const (
	// NetworkLoadBalancer (the default) passes TCP through to the nodes,
	// so TLS (strata node --tls-cert) ends at the node, and health-checks
	// them with HTTP GET /ready.
	NetworkLoadBalancer LoadBalancer = "network"
	// ApplicationLoadBalancer speaks HTTP to the nodes. It is there for
	// deployments that want HTTP routing in front of strata, and because
	// moto's CloudFormation makes every load balancer an application one
	// (it ignores Type), so that the tests can create the compute stacks.
	ApplicationLoadBalancer LoadBalancer = "application"
)

// TemplateOptions choose between variants of the templates.
type TemplateOptions struct {
	// LoadBalancer of the compute groups. Default NetworkLoadBalancer.
	LoadBalancer LoadBalancer
}

func (o TemplateOptions) validate() error {
	switch o.LoadBalancer {
	case "", NetworkLoadBalancer, ApplicationLoadBalancer:
		return nil
	}
	return anomaly.New(anomaly.Incorrect, "template options", "load balancer %q: want network or application", o.LoadBalancer)
}

// Template returns the rendered CloudFormation template of kind k.
func Template(k Kind, opts TemplateOptions) ([]byte, error) {
	if !validKind(k) {
		return nil, anomaly.New(anomaly.Incorrect, "render template", "unknown template %q (want one of %v)", k, Kinds)
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	set := template.New("").Delims("[[", "]]")
	set.Funcs(template.FuncMap{
		"indent": indent,
		// bootstrap is the node's user data script, itself a template.
		"bootstrap": func() (string, error) {
			var b strings.Builder
			err := set.ExecuteTemplate(&b, "node-bootstrap.sh", dataFor(k, opts))
			return b.String(), err
		},
	})
	if _, err := set.ParseFS(templateFS, "templates/fragments.tmpl", "templates/node-bootstrap.sh", "templates/"+k.File()); err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "render "+k.File(), err)
	}
	var out bytes.Buffer
	if err := set.ExecuteTemplate(&out, k.File(), dataFor(k, opts)); err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "render "+k.File(), err)
	}
	return out.Bytes(), nil
}

func validKind(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// indent puts n spaces before every line of s that is not empty.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// Render writes every template to dir (storage.yaml, solo.yaml,
// production.yaml, query-group.yaml), creating dir if needed. When
// p.System is set it also writes, for each stack p describes, a
// parameters file in the form aws cloudformation create-stack
// --parameters file://… takes: dir/params/STACK.json.
func Render(dir string, p Params) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "render", err)
	}
	for _, k := range Kinds {
		body, err := Template(k, p.Templates)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, k.File()), body, 0o644); err != nil {
			return anomaly.Wrap(anomaly.Unavailable, "render", err)
		}
	}
	if p.System == "" {
		return nil
	}
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "params"), 0o755); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "render", err)
	}
	for _, s := range p.stacks() {
		type param struct {
			ParameterKey   string
			ParameterValue string
		}
		var list []param
		for _, k := range sortedKeys(s.params) {
			list = append(list, param{k, s.params[k]})
		}
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return anomaly.Wrap(anomaly.Fault, "render", err)
		}
		name := filepath.Join(dir, "params", s.name+".json")
		if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
			return anomaly.Wrap(anomaly.Unavailable, "render", err)
		}
	}
	return nil
}

// stackSpec is one stack Up creates or updates.
type stackSpec struct {
	name   string
	kind   Kind
	part   string // "storage", "primary" or "query-NAME"
	params map[string]string
	// keep are parameters an update leaves as they are (the version, which
	// only deploy changes).
	keep []string
}

func (s stackSpec) String() string { return fmt.Sprintf("%s (%s)", s.name, s.kind) }
