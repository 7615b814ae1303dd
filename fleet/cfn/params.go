package cfn

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/stratadb/strata/anomaly"
)

// Topology is the shape of a system's primary group.
type Topology string

// The topologies.
const (
	// Solo is one t3.small node: for development and small workloads.
	Solo Topology = "solo"
	// Production is two or more i3.large nodes across availability zones,
	// with the SSD tier on their instance-store NVMe.
	Production Topology = "production"
)

// Defaults for Params.
const (
	DefaultSoloInstanceType       = "t3.small"
	DefaultProductionInstanceType = "i3.large"
	DefaultQueryInstanceType      = "i3.large"
	DefaultProductionNodes        = 2
	DefaultQueryMinNodes          = 1
	DefaultQueryTargetCPU         = 60
	DefaultPrivateEgress          = "endpoints"
)

// Params describe a system: what Up creates and what Render writes
// parameter files for. The zero value of each optional field means its
// default; withDefaults is the one place defaults are filled and validate
// the one place bad values are rejected.
type Params struct {
	// System names the system: stacks are strata-SYSTEM-storage,
	// strata-SYSTEM-primary and strata-SYSTEM-query-NAME. Required.
	System string

	// Topology of the primary group. Default Solo.
	Topology Topology

	// Version is the strata release the nodes run, read from
	// s3://BUCKET/releases/VERSION/linux-amd64/strata. Required. Up sets it
	// only when it creates a compute stack; Deploy changes it afterwards.
	Version string

	// BastionCIDR is the only network that may SSH to the bastion, e.g. an
	// office's 203.0.113.0/24. Required; /8 or narrower, never 0.0.0.0/0.
	BastionCIDR string

	// KeyName is an EC2 key pair for SSH (optional).
	KeyName string

	// InstanceType of the primary nodes. Default t3.small (Solo) or
	// i3.large (Production; the type must have instance-store NVMe).
	InstanceType string

	// Nodes is the primary group's size: 1 for Solo, at least 2 (default 2)
	// for Production. MaxNodes bounds the group (default Nodes+2; Production
	// needs at least Nodes+1 so that a deploy can launch before it terminates).
	Nodes, MaxNodes int

	// PrivateEgress is how nodes reach KMS and CloudWatch Logs: "endpoints"
	// (interface endpoints, the default), "nat" (one NAT gateway) or "none".
	PrivateEgress string

	// ClientCIDR may reach the load balancers. Default: the VPC.
	ClientCIDR string

	// StorageOnly makes Up create or update only the storage stack (and
	// Render write only its parameters): the bucket must exist before a
	// release can be uploaded to it for the nodes. Version and BastionCIDR
	// are not needed then.
	StorageOnly bool

	// Templates choose template variants (the load balancer's kind).
	Templates TemplateOptions

	// QueryGroups are the query groups Up creates or updates. Groups that
	// exist but are not listed are left alone (Down removes one).
	QueryGroups []QueryGroup
}

// QueryGroup describes one query group.
type QueryGroup struct {
	// Name of the group (strata node --group NAME). Required; not "primary".
	Name string
	// InstanceType of its nodes. Default i3.large.
	InstanceType string
	// MinNodes and MaxNodes bound the group; the scaling policy moves it
	// between them. Defaults 1 and MinNodes+3.
	MinNodes, MaxNodes int
	// TargetCPU is the average CPU percentage the scaling policy aims at. Default 60.
	TargetCPU int
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
)

func (p Params) withDefaults() (Params, error) {
	if p.Topology == "" {
		p.Topology = Solo
	}
	if p.InstanceType == "" {
		p.InstanceType = DefaultSoloInstanceType
		if p.Topology == Production {
			p.InstanceType = DefaultProductionInstanceType
		}
	}
	if p.Nodes == 0 {
		p.Nodes = 1
		if p.Topology == Production {
			p.Nodes = DefaultProductionNodes
		}
	}
	if p.MaxNodes == 0 {
		p.MaxNodes = p.Nodes + 2
		if p.Topology == Solo {
			p.MaxNodes = 1
		}
	}
	if p.PrivateEgress == "" {
		p.PrivateEgress = DefaultPrivateEgress
	}
	p.QueryGroups = slices.Clone(p.QueryGroups)
	for i := range p.QueryGroups {
		g := &p.QueryGroups[i]
		if g.InstanceType == "" {
			g.InstanceType = DefaultQueryInstanceType
		}
		if g.MinNodes == 0 {
			g.MinNodes = DefaultQueryMinNodes
		}
		if g.MaxNodes == 0 {
			g.MaxNodes = g.MinNodes + 3
		}
		if g.TargetCPU == 0 {
			g.TargetCPU = DefaultQueryTargetCPU
		}
	}
	return p, p.validate()
}

// validate reports every bad field, each by name, in one anomaly.Incorrect error.
func (p Params) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !nameRE.MatchString(p.System) {
		bad("system %q: want a lower-case letter, then up to 19 lower-case letters, digits or '-'", p.System)
	}
	if !versionRE.MatchString(p.Version) && !p.StorageOnly {
		bad("version %q: want up to 64 letters, digits, '.', '_', '+' or '-'", p.Version)
	}
	if err := checkCIDR(p.BastionCIDR); err != nil && !p.StorageOnly {
		bad("bastion CIDR: %v", err)
	}
	if p.ClientCIDR != "" {
		if err := checkCIDR(p.ClientCIDR); err != nil {
			bad("client CIDR: %v", err)
		}
	}
	switch p.Topology {
	case Solo:
		if p.Nodes != 1 || p.MaxNodes != 1 {
			bad("solo: one node (nodes %d, max %d); use the production topology for more", p.Nodes, p.MaxNodes)
		}
	case Production:
		if p.Nodes < 2 {
			bad("production: at least 2 nodes across availability zones, not %d", p.Nodes)
		}
		if p.MaxNodes <= p.Nodes {
			bad("production: max nodes %d must exceed nodes %d, so that a deploy can launch a node before it terminates one", p.MaxNodes, p.Nodes)
		}
	default:
		bad("topology %q: want solo or production", p.Topology)
	}
	switch p.PrivateEgress {
	case "endpoints", "nat", "none":
	default:
		bad("private egress %q: want endpoints, nat or none", p.PrivateEgress)
	}
	seen := map[string]bool{}
	for _, g := range p.QueryGroups {
		switch {
		case g.Name == "primary":
			bad("query group %q: primary is the primary group's name", g.Name)
		case !nameRE.MatchString(g.Name):
			bad("query group %q: want a lower-case letter, then up to 19 lower-case letters, digits or '-'", g.Name)
		case seen[g.Name]:
			bad("query group %q: named twice", g.Name)
		}
		seen[g.Name] = true
		if g.MinNodes < 0 || g.MaxNodes < 1 || g.MaxNodes < g.MinNodes {
			bad("query group %q: nodes %d..%d: want 0 <= min <= max and max >= 1", g.Name, g.MinNodes, g.MaxNodes)
		}
		if g.TargetCPU < 10 || g.TargetCPU > 90 {
			bad("query group %q: target CPU %d%%: want 10 to 90", g.Name, g.TargetCPU)
		}
	}
	if err := p.Templates.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return anomaly.Wrap(anomaly.Incorrect, "fleet parameters", errors.Join(errs...))
	}
	return nil
}

// checkCIDR accepts an IPv4 CIDR of /8 or narrower: 0.0.0.0/0, or anything
// close to it, is never an allowed source.
func checkCIDR(s string) error {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q: want an IPv4 CIDR such as 203.0.113.0/24", s)
	}
	if !pfx.Addr().Is4() {
		return fmt.Errorf("%q: want an IPv4 CIDR", s)
	}
	if pfx.Bits() < 8 {
		return fmt.Errorf("%q: /%d is too wide (want /8 or narrower; never 0.0.0.0/0)", s, pfx.Bits())
	}
	return nil
}

// StackName returns the name of a system's stack: part is "storage",
// "primary" or "query-NAME".
func StackName(system, part string) string { return "strata-" + system + "-" + part }

// stacks lists the stacks p describes, in the order Up makes them.
func (p Params) stacks() []stackSpec {
	storage := stackSpec{
		name: StackName(p.System, "storage"), kind: KindStorage, part: "storage",
		params: map[string]string{"SystemName": p.System, "PrivateEgress": p.PrivateEgress},
	}
	primary := stackSpec{
		name: StackName(p.System, "primary"), part: "primary",
		params: map[string]string{
			"SystemName":    p.System,
			"StrataVersion": p.Version,
			"InstanceType":  p.InstanceType,
			"BastionCidr":   p.BastionCIDR,
			"KeyName":       p.KeyName,
			"ClientCidr":    p.ClientCIDR,
		},
		keep: []string{"StrataVersion", "PinnedLaunchTemplateVersion"},
	}
	if p.Topology == Production {
		primary.kind = KindProduction
		primary.params["NodeCount"] = strconv.Itoa(p.Nodes)
		primary.params["MaxNodeCount"] = strconv.Itoa(p.MaxNodes)
	} else {
		primary.kind = KindSolo
	}
	if p.StorageOnly {
		return []stackSpec{storage}
	}
	out := []stackSpec{storage, primary}
	for _, g := range p.QueryGroups {
		out = append(out, stackSpec{
			name: StackName(p.System, "query-"+g.Name), kind: KindQueryGroup, part: "query-" + g.Name,
			params: map[string]string{
				"SystemName":       p.System,
				"GroupName":        g.Name,
				"StrataVersion":    p.Version,
				"InstanceType":     g.InstanceType,
				"MinNodes":         strconv.Itoa(g.MinNodes),
				"MaxNodes":         strconv.Itoa(g.MaxNodes),
				"TargetCpuPercent": strconv.Itoa(g.TargetCPU),
				"KeyName":          p.KeyName,
				"ClientCidr":       p.ClientCIDR,
			},
			keep: []string{"StrataVersion", "PinnedLaunchTemplateVersion"},
		})
	}
	return out
}

// ParseQueryGroup parses NAME[:TYPE[:MIN[:MAX[:CPU]]]], the form of
// strata fleet up --query-group.
func ParseQueryGroup(s string) (QueryGroup, error) {
	f := strings.Split(s, ":")
	if len(f) > 5 || f[0] == "" {
		return QueryGroup{}, anomaly.New(anomaly.Incorrect, "query group", "%q: want NAME[:TYPE[:MIN[:MAX[:CPU]]]]", s)
	}
	g := QueryGroup{Name: f[0]}
	if len(f) > 1 {
		g.InstanceType = f[1]
	}
	ints := []*int{&g.MinNodes, &g.MaxNodes, &g.TargetCPU}
	for i, v := range f[min(len(f), 2):] {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return QueryGroup{}, anomaly.New(anomaly.Incorrect, "query group", "%q: %q is not a count", s, v)
		}
		*ints[i] = n
	}
	return g, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
