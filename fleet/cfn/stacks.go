package cfn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/stratadb/strata/anomaly"
)

// Stack tags: which system a stack belongs to and which part of it it is.
// Status and Down find a system's stacks by these, not by name (a system
// "demo" and a system "demo-query" would share name prefixes).
const (
	tagSystem = "strata:system"
	tagPart   = "strata:part"
)

// SystemStatus is what Status reports.
type SystemStatus struct {
	System string
	Stacks []StackStatus // storage, primary, then query groups by name
}

// Stack returns the stack of part ("storage", "primary", "query-NAME").
func (s *SystemStatus) Stack(part string) (StackStatus, bool) {
	for _, st := range s.Stacks {
		if st.Part == part {
			return st, true
		}
	}
	return StackStatus{}, false
}

// StackStatus is one stack of a system.
type StackStatus struct {
	Name       string
	Part       string // "storage", "primary" or "query-NAME"
	Status     string // CloudFormation's, e.g. CREATE_COMPLETE
	Reason     string
	Outputs    map[string]string
	Parameters map[string]string
	// Nodes are the compute group's instances (none for storage).
	Nodes []NodeStatus
	// NodesErr says why Nodes could not be read, if they could not.
	NodesErr string
}

// NodeStatus is one instance of a compute group, as Auto Scaling sees it.
type NodeStatus struct {
	InstanceID            string
	AvailabilityZone      string
	Lifecycle             string // InService, Pending, Terminating, …
	Health                string // Healthy or Unhealthy (the load balancer's /ready check)
	LaunchTemplateVersion string
}

// Up creates the stacks p describes that do not exist and updates those
// that do, storage first, then the primary group, then query groups, each
// waited for before the next. An update keeps the running version (only
// Deploy changes it). Query groups that exist but are not in p are left
// alone. It returns the system's status.
func (c *Client) Up(ctx context.Context, p Params) (*SystemStatus, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, s := range p.stacks() {
		if err := c.ensure(ctx, p.System, s, p.Templates); err != nil {
			return nil, err
		}
	}
	return c.Status(ctx, p.System)
}

// ensure creates or updates one stack and waits for it.
func (c *Client) ensure(ctx context.Context, system string, s stackSpec, topts TemplateOptions) error {
	op := "up " + s.name
	body, err := Template(s.kind, topts)
	if err != nil {
		return err
	}
	tpl, err := parseTemplate(body)
	if err != nil {
		return err
	}
	declared := mapOf(tpl["Parameters"])
	cur, err := c.describe(ctx, s.name)
	if err != nil {
		return err
	}
	if cur != nil && cur.StackStatus == types.StackStatusRollbackComplete {
		// A create that failed and rolled back leaves a stack that can only
		// be deleted. Its events stay visible in the console.
		if err := c.deleteAndWait(ctx, s.name); err != nil {
			return err
		}
		cur = nil
	}
	tags := []types.Tag{{Key: aws.String(tagSystem), Value: aws.String(system)}, {Key: aws.String(tagPart), Value: aws.String(s.part)}}
	if cur == nil {
		var params []types.Parameter
		for _, k := range sortedKeys(s.params) {
			params = append(params, types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(s.params[k])})
		}
		_, err := c.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName:    aws.String(s.name),
			TemplateBody: aws.String(string(body)),
			Parameters:   params,
			Capabilities: []types.Capability{types.CapabilityCapabilityIam},
			OnFailure:    types.OnFailureRollback,
			Tags:         tags,
			// The storage stack holds the data: deleting it takes
			// strata fleet down --storage, which lifts this first.
			EnableTerminationProtection: aws.Bool(s.kind == KindStorage),
		})
		if err != nil {
			return classify(op+": create", err)
		}
		return c.wait(ctx, s.name, "CREATE")
	}
	if st := string(cur.StackStatus); strings.HasSuffix(st, "_IN_PROGRESS") {
		return anomaly.New(anomaly.Busy, op, "the stack is %s; try again when it is done", st)
	}
	decl := map[string]paramDecl{}
	for k, v := range declared {
		d := paramDecl{typ: strOf(get(v, "Type"))}
		if def, ok := mapOf(v)["Default"]; ok {
			ds := fmt.Sprint(def)
			d.def = &ds
		}
		decl[k] = d
	}
	params := updateValues(cur.Parameters, decl, s.params, s.keep)
	_, err = c.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{
		StackName:    aws.String(s.name),
		TemplateBody: aws.String(string(body)),
		Parameters:   params,
		Capabilities: []types.Capability{types.CapabilityCapabilityIam},
		Tags:         tags,
	})
	if noUpdates(err) {
		return nil
	}
	if err != nil {
		return classify(op+": update", err)
	}
	return c.wait(ctx, s.name, "UPDATE")
}

// paramDecl is what an update needs to know of a template's parameter.
type paramDecl struct {
	typ string
	def *string // the default, if any
}

// updateValues returns the parameters of an update: set's values (but not
// for keys in keep the stack already has), and for every other parameter
// the stack has, its current value — what UsePreviousValue would keep.
// A current value equal to the template's default is left out, which
// means the default, i.e. the same value: that is how moto_server, whose
// UsePreviousValue fails for defaulted parameters and whose change
// detection counts every parameter passed that was not passed at
// creation, sees an update that changes nothing as one. An SSM-typed
// parameter whose resolved value the service did not report is left out
// too: moto_server reports the resolved AMI as its value (AWS reports the
// parameter's name, and the resolved value beside it).
func updateValues(cur []types.Parameter, decl map[string]paramDecl, set map[string]string, keep []string) []types.Parameter {
	values := map[string]string{}
	had := map[string]bool{}
	for _, p := range cur {
		k, v := aws.ToString(p.ParameterKey), aws.ToString(p.ParameterValue)
		d, ok := decl[k]
		if !ok {
			continue // the template no longer has it
		}
		had[k] = true
		if strings.HasPrefix(d.typ, "AWS::SSM::Parameter::Value<") && p.ResolvedValue == nil {
			continue
		}
		if d.def != nil && *d.def == v {
			continue
		}
		values[k] = v
	}
	for k, v := range set {
		if _, ok := decl[k]; !ok || (had[k] && slices.Contains(keep, k)) {
			continue
		}
		values[k] = v
	}
	params := make([]types.Parameter, 0, len(values))
	for _, k := range sortedKeys(values) {
		params = append(params, types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(values[k])})
	}
	return params
}

// noUpdates recognizes CloudFormation's refusal of an update that changes
// nothing, which for Up is success.
func noUpdates(err error) bool {
	return err != nil && strings.Contains(err.Error(), "No updates are to be performed")
}

// describe returns the stack, or nil if there is none of that name.
func (c *Client) describe(ctx context.Context, name string) (*types.Stack, error) {
	out, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		err = classify("describe stack "+name, err)
		if errors.Is(err, anomaly.NotFound) {
			return nil, nil
		}
		return nil, err
	}
	for i := range out.Stacks {
		if aws.ToString(out.Stacks[i].StackName) == name && out.Stacks[i].StackStatus != types.StackStatusDeleteComplete {
			return &out.Stacks[i], nil
		}
	}
	return nil, nil
}

// wait polls stack name until its operation op (CREATE, UPDATE, DELETE)
// ends, and returns an error with the failed resources' reasons unless it
// ended in op_COMPLETE (or, for DELETE, the stack is gone).
func (c *Client) wait(ctx context.Context, name, op string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StackTimeout)
	defer cancel()
	started := time.Now().Add(-time.Minute) // events are stamped by AWS's clock
	for {
		st, err := c.describe(ctx, name)
		if err != nil {
			return err
		}
		if st == nil {
			if op == "DELETE" {
				return nil
			}
			return anomaly.New(anomaly.Fault, strings.ToLower(op)+" "+name, "the stack disappeared")
		}
		status := string(st.StackStatus)
		if !strings.HasSuffix(status, "_IN_PROGRESS") {
			if status == op+"_COMPLETE" {
				return nil
			}
			reasons := c.failureReasons(ctx, name, started)
			if r := aws.ToString(st.StackStatusReason); r != "" {
				reasons = append([]string{r}, reasons...)
			}
			return anomaly.New(anomaly.Fault, strings.ToLower(op)+" "+name, "ended %s: %s", status, strings.Join(reasons, "; "))
		}
		if err := c.sleep(ctx, c.opts.PollInterval); err != nil {
			return anomaly.Wrap(anomaly.Interrupted, strings.ToLower(op)+" "+name,
				fmt.Errorf("still %s after %v: %w", status, c.opts.StackTimeout, err))
		}
	}
}

// maxReasons bounds the failure reasons an error carries.
const maxReasons = 5

// failureReasons returns the reasons of the stack's failed resources since
// since, oldest first (the first failure is usually the cause; the rest
// are cancellations it set off).
func (c *Client) failureReasons(ctx context.Context, name string, since time.Time) []string {
	out, err := c.cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)})
	if err != nil {
		return []string{"(events unavailable: " + err.Error() + ")"}
	}
	var reasons []string
	for _, e := range slices.Backward(out.StackEvents) {
		if e.Timestamp != nil && e.Timestamp.Before(since) {
			continue
		}
		if strings.HasSuffix(string(e.ResourceStatus), "_FAILED") && aws.ToString(e.ResourceStatusReason) != "" {
			reasons = append(reasons, aws.ToString(e.LogicalResourceId)+": "+aws.ToString(e.ResourceStatusReason))
			if len(reasons) == maxReasons {
				break
			}
		}
	}
	return reasons
}

// stacksOf lists the system's stacks by their tags.
func (c *Client) stacksOf(ctx context.Context, system string) ([]types.Stack, error) {
	var out []types.Stack
	var token *string
	for {
		page, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{NextToken: token})
		if err != nil {
			return nil, classify("list stacks of "+system, err)
		}
		for _, s := range page.Stacks {
			if tag(s.Tags, tagSystem) == system && s.StackStatus != types.StackStatusDeleteComplete {
				out = append(out, s)
			}
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	slices.SortFunc(out, func(a, b types.Stack) int { return partOrder(tag(a.Tags, tagPart)) - partOrder(tag(b.Tags, tagPart)) })
	return out, nil
}

func tag(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func partOrder(part string) int {
	switch {
	case part == "storage":
		return 0
	case part == "primary":
		return 1
	}
	return 2
}

// Status reports the system's stacks, their outputs and parameters, and
// the instances of each compute group. A system with no stacks is
// anomaly.NotFound.
func (c *Client) Status(ctx context.Context, system string) (*SystemStatus, error) {
	stacks, err := c.stacksOf(ctx, system)
	if err != nil {
		return nil, err
	}
	if len(stacks) == 0 {
		return nil, anomaly.New(anomaly.NotFound, "status", "system %q has no stacks", system)
	}
	st := &SystemStatus{System: system}
	for _, s := range stacks {
		ss := StackStatus{
			Name:       aws.ToString(s.StackName),
			Part:       tag(s.Tags, tagPart),
			Status:     string(s.StackStatus),
			Reason:     aws.ToString(s.StackStatusReason),
			Outputs:    map[string]string{},
			Parameters: map[string]string{},
		}
		for _, o := range s.Outputs {
			ss.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
		for _, p := range s.Parameters {
			ss.Parameters[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
		}
		if g := ss.Outputs["NodeGroupName"]; g != "" {
			ss.Nodes, err = c.nodes(ctx, g)
			if err != nil {
				ss.NodesErr = err.Error()
			}
		}
		st.Stacks = append(st.Stacks, ss)
	}
	return st, nil
}

// nodes lists an Auto Scaling group's instances.
func (c *Client) nodes(ctx context.Context, group string) ([]NodeStatus, error) {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return nil, classify("describe group "+group, err)
	}
	var nodes []NodeStatus
	for _, g := range out.AutoScalingGroups {
		for _, i := range g.Instances {
			n := NodeStatus{
				InstanceID:       aws.ToString(i.InstanceId),
				AvailabilityZone: aws.ToString(i.AvailabilityZone),
				Lifecycle:        string(i.LifecycleState),
				Health:           aws.ToString(i.HealthStatus),
			}
			if i.LaunchTemplate != nil {
				n.LaunchTemplateVersion = aws.ToString(i.LaunchTemplate.Version)
			}
			nodes = append(nodes, n)
		}
	}
	slices.SortFunc(nodes, func(a, b NodeStatus) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return nodes, nil
}

// DownOptions say what Down removes.
type DownOptions struct {
	// QueryGroup removes only that query group's stack.
	QueryGroup string
	// Storage also removes the storage stack (after every compute stack).
	// Its table, bucket and key are retained (DeletionPolicy Retain): the
	// data outlives the stack, and deleting it is a separate, manual step.
	Storage bool
}

// Down deletes a system's compute stacks (query groups, then the primary
// group), and with opts.Storage its storage stack, waiting for each.
// Nothing to delete is anomaly.NotFound.
func (c *Client) Down(ctx context.Context, system string, opts DownOptions) error {
	stacks, err := c.stacksOf(ctx, system)
	if err != nil {
		return err
	}
	byPart := map[string]types.Stack{}
	var queries []string
	for _, s := range stacks {
		part := tag(s.Tags, tagPart)
		byPart[part] = s
		if strings.HasPrefix(part, "query-") {
			queries = append(queries, aws.ToString(s.StackName))
		}
	}
	if opts.QueryGroup != "" {
		s, ok := byPart["query-"+opts.QueryGroup]
		if !ok {
			return anomaly.New(anomaly.NotFound, "down", "system %q has no query group %q", system, opts.QueryGroup)
		}
		return c.deleteAndWait(ctx, aws.ToString(s.StackName))
	}
	if len(stacks) == 0 {
		return anomaly.New(anomaly.NotFound, "down", "system %q has no stacks", system)
	}
	// Query groups are independent of each other: delete them together.
	if err := c.deleteAll(ctx, queries); err != nil {
		return err
	}
	if s, ok := byPart["primary"]; ok {
		if err := c.deleteAndWait(ctx, aws.ToString(s.StackName)); err != nil {
			return err
		}
	}
	if s, ok := byPart["storage"]; ok && opts.Storage {
		return c.deleteStorage(ctx, aws.ToString(s.StackName))
	}
	return nil
}

// deleteStorage deletes the storage stack, lifting its termination
// protection if (and only if) the delete is refused for it. Trying first
// also serves moto_server, which records the protection but neither
// enforces it nor implements UpdateTerminationProtection.
func (c *Client) deleteStorage(ctx context.Context, name string) error {
	_, err := c.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(name)})
	if err != nil && strings.Contains(err.Error(), "TerminationProtection") {
		_, err = c.cfn.UpdateTerminationProtection(ctx, &cloudformation.UpdateTerminationProtectionInput{
			StackName: aws.String(name), EnableTerminationProtection: aws.Bool(false),
		})
		if err != nil {
			return classify("down "+name+": lift termination protection", err)
		}
		_, err = c.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(name)})
	}
	if err != nil {
		return classify("delete "+name, err)
	}
	return c.wait(ctx, name, "DELETE")
}

func (c *Client) deleteAll(ctx context.Context, names []string) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { errs[i] = c.deleteAndWait(ctx, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Client) deleteAndWait(ctx context.Context, name string) error {
	if _, err := c.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(name)}); err != nil {
		return classify("delete "+name, err)
	}
	return c.wait(ctx, name, "DELETE")
}
