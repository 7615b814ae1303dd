package cfn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/stratadb/strata/anomaly"
)

// DefaultDeployTimeout bounds an instance refresh. Each node takes its
// boot, install and the health check grace (300 s by default) plus the
// warm-up; a group of ten i3 nodes takes about an hour.
const DefaultDeployTimeout = 2 * time.Hour

// DeployOptions configure Deploy.
type DeployOptions struct {
	// Group is "primary" (the default) or a query group's name.
	Group string
	// Version is the strata release to roll out. Required.
	Version string
	// NoAlarm does not hand the group's UnhealthyNodesAlarm to the
	// refresh. Without it the refresh still rolls back when a new node
	// never passes its health check, but a node that passes and then fails
	// /ready (after the warm-up) no longer stops it.
	NoAlarm bool
	// InstanceWarmup is how long after a new node is in service the
	// refresh waits before replacing the next. Default: the group's.
	InstanceWarmup time.Duration
	// Timeout bounds the refresh; past it Deploy rolls back. Default DefaultDeployTimeout.
	Timeout time.Duration
	// Progress, if set, is told of each step and of the refresh's progress.
	Progress func(msg string)
}

// DeployResult says what Deploy did.
type DeployResult struct {
	Stack, AutoScalingGroup string
	FromVersion, ToVersion  string
	// FromTemplate and ToTemplate are the launch template versions.
	FromTemplate, ToTemplate string
	RefreshID                string
	// Status is the instance refresh's last status (Successful,
	// RollbackSuccessful, …), or "Unchanged" when the version was running.
	Status     string
	StatusNote string
	RolledBack bool
}

// refreshDone are the instance refresh statuses that end it.
var refreshDone = map[astypes.InstanceRefreshStatus]bool{
	astypes.InstanceRefreshStatusSuccessful:         true,
	astypes.InstanceRefreshStatusFailed:             true,
	astypes.InstanceRefreshStatusCancelled:          true,
	astypes.InstanceRefreshStatusRollbackSuccessful: true,
	astypes.InstanceRefreshStatusRollbackFailed:     true,
}

// Deploy rolls strata version opts.Version over a compute group, one node
// at a time, and rolls back if a new node fails its health checks.
//
// How: the group's stack is updated with the new version and with the
// group pinned to the launch template version it runs (CloudFormation
// makes a new launch template version and changes no instance). Then an
// Auto Scaling instance refresh moves the group to the new launch template
// version as its desired configuration: it launches one node beyond the
// group's size (MinHealthyPercentage 100, MaxHealthyPercentage one node
// over), waits until the load balancer finds it healthy (GET /ready) and
// its warm-up passes, terminates one old node, and so on. With
// AutoRollback and the group's UnhealthyNodesAlarm, a new node that does
// not become healthy, or the alarm firing, makes Auto Scaling put the old
// version back on every replaced node. AutoRollback needs the desired
// configuration to be a numbered launch template version, which is why
// the stack pins the group instead of following the latest version.
//
// When the refresh succeeds the stack is updated to pin the new version
// (so that it states what runs); when it does not, the stack is put back
// to the old version and the error says why. Deploy waits for all of it.
func (c *Client) Deploy(ctx context.Context, system string, opts DeployOptions) (*DeployResult, error) {
	if opts.Group == "" {
		opts.Group = "primary"
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultDeployTimeout
	}
	if opts.Progress == nil {
		opts.Progress = func(string) {}
	}
	part := "primary"
	if opts.Group != "primary" {
		part = "query-" + opts.Group
	}
	if !versionRE.MatchString(opts.Version) || !nameRE.MatchString(opts.Group) || opts.Timeout < 0 || opts.InstanceWarmup < 0 {
		return nil, anomaly.New(anomaly.Incorrect, "deploy", "version %q, group %q, timeout %v, warm-up %v: want a release name, a group name and durations that are not negative",
			opts.Version, opts.Group, opts.Timeout, opts.InstanceWarmup)
	}
	name := StackName(system, part)
	op := "deploy " + opts.Version + " to " + name
	st, err := c.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, anomaly.New(anomaly.NotFound, op, "no such stack (strata fleet up makes it)")
	}
	if s := string(st.StackStatus); s != string(types.StackStatusCreateComplete) && s != string(types.StackStatusUpdateComplete) &&
		s != string(types.StackStatusUpdateRollbackComplete) {
		return nil, anomaly.New(anomaly.Busy, op, "the stack is %s", s)
	}
	outputs, params := map[string]string{}, map[string]string{}
	for _, o := range st.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, p := range st.Parameters {
		params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	res := &DeployResult{Stack: name, AutoScalingGroup: outputs["NodeGroupName"], FromVersion: params["StrataVersion"], ToVersion: opts.Version}
	if res.AutoScalingGroup == "" || outputs["LaunchTemplateId"] == "" {
		return nil, anomaly.New(anomaly.Fault, op, "the stack has no NodeGroupName or LaunchTemplateId output")
	}
	if res.FromVersion == opts.Version {
		res.Status = "Unchanged"
		return res, nil
	}

	group, err := c.group(ctx, res.AutoScalingGroup)
	if err != nil {
		return nil, err
	}
	if group.LaunchTemplate == nil {
		return nil, anomaly.New(anomaly.Fault, op, "group %s has no launch template", res.AutoScalingGroup)
	}
	res.FromTemplate = aws.ToString(group.LaunchTemplate.Version)
	if _, err := strconv.Atoi(res.FromTemplate); err != nil {
		return nil, anomaly.New(anomaly.Fault, op, "group %s runs launch template version %q; a rollback needs a numbered one", res.AutoScalingGroup, res.FromTemplate)
	}

	opts.Progress(fmt.Sprintf("updating %s: version %s, group pinned to launch template version %s", name, opts.Version, res.FromTemplate))
	if err := c.updateParams(ctx, name, map[string]string{"StrataVersion": opts.Version, "PinnedLaunchTemplateVersion": res.FromTemplate}); err != nil {
		return res, err // CloudFormation rolled the stack back itself
	}
	// revert puts the stack back to the old version, the group still pinned
	// to the old launch template (which the refresh left it on).
	revert := func(cause error) error {
		opts.Progress(fmt.Sprintf("putting %s back to version %s", name, res.FromVersion))
		err := c.updateParams(ctx, name, map[string]string{"StrataVersion": res.FromVersion, "PinnedLaunchTemplateVersion": res.FromTemplate})
		if err != nil {
			return errors.Join(cause, fmt.Errorf("and putting the stack back to version %s failed: %w", res.FromVersion, err))
		}
		return cause
	}
	st, err = c.describe(ctx, name)
	if err != nil {
		return res, revert(err)
	}
	for _, o := range st.Outputs {
		if aws.ToString(o.OutputKey) == "LaunchTemplateVersion" {
			res.ToTemplate = aws.ToString(o.OutputValue)
		}
	}
	if res.ToTemplate == "" || res.ToTemplate == res.FromTemplate {
		return res, revert(anomaly.New(anomaly.Fault, op, "the stack update made no new launch template version (have %q)", res.ToTemplate))
	}

	prefs := &astypes.RefreshPreferences{
		// One node at a time, launched before an old one goes: never fewer
		// healthy nodes than the group's size, at most one more.
		MinHealthyPercentage:      aws.Int32(100),
		MaxHealthyPercentage:      aws.Int32(maxHealthyPercent(aws.ToInt32(group.DesiredCapacity))),
		SkipMatching:              aws.Bool(true),
		AutoRollback:              aws.Bool(true),
		ScaleInProtectedInstances: astypes.ScaleInProtectedInstancesRefresh,
		StandbyInstances:          astypes.StandbyInstancesTerminate,
	}
	if opts.InstanceWarmup > 0 {
		prefs.InstanceWarmup = aws.Int32(int32(opts.InstanceWarmup / time.Second))
	}
	if alarm := outputs["UnhealthyNodesAlarm"]; alarm != "" && !opts.NoAlarm {
		prefs.AlarmSpecification = &astypes.AlarmSpecification{Alarms: []string{alarm}}
	}
	opts.Progress(fmt.Sprintf("instance refresh of %s to launch template version %s, one node at a time", res.AutoScalingGroup, res.ToTemplate))
	started, err := c.asg.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(res.AutoScalingGroup),
		Strategy:             astypes.RefreshStrategyRolling,
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(outputs["LaunchTemplateId"]),
			Version:          aws.String(res.ToTemplate),
		}},
		Preferences: prefs,
	})
	if err != nil {
		return res, revert(classify(op+": start instance refresh", err))
	}
	res.RefreshID = aws.ToString(started.InstanceRefreshId)

	status, note, err := c.watchRefresh(ctx, res.AutoScalingGroup, res.RefreshID, opts)
	res.Status, res.StatusNote = string(status), note
	if err != nil {
		// We could not follow the refresh to its end: leave the stack as
		// it is (pinned to the old version, the new one in the template),
		// and say so; strata fleet status shows the nodes.
		return res, err
	}
	switch status {
	case astypes.InstanceRefreshStatusSuccessful:
		opts.Progress(fmt.Sprintf("updating %s: group pinned to launch template version %s", name, res.ToTemplate))
		if err := c.updateParams(ctx, name, map[string]string{"PinnedLaunchTemplateVersion": res.ToTemplate}); err != nil {
			return res, anomaly.Wrap(anomaly.Fault, op, fmt.Errorf("the nodes run %s, but recording that in the stack failed: %w", opts.Version, err))
		}
		return res, nil
	case astypes.InstanceRefreshStatusRollbackFailed:
		return res, anomaly.New(anomaly.Fault, op, "instance refresh %s failed and so did its rollback (%s): the group runs a mix of versions; see strata fleet status and the group's activity history",
			res.RefreshID, note)
	default:
		res.RolledBack = status == astypes.InstanceRefreshStatusRollbackSuccessful
		return res, revert(anomaly.New(anomaly.Fault, op, "instance refresh %s ended %s (%s); the nodes run %s", res.RefreshID, status, note, res.FromVersion))
	}
}

// maxHealthyPercent is the MaxHealthyPercentage that lets a refresh launch
// one node above a group of n: 100 + ⌈100/n⌉, so that n·p/100 is at least
// n+1 and, rounded down, exactly n+1 (for n up to 100). Auto Scaling's
// documentation does not say how it rounds the maximum; were it to round
// up, a group whose size does not divide 100 (3, 6, 7, …) would get two
// new nodes at a time, still never fewer healthy ones than its size.
func maxHealthyPercent(n int32) int32 {
	if n < 1 {
		n = 1
	}
	return min(200, 100+(100+n-1)/n)
}

// watchRefresh polls the refresh until it ends. Past opts.Timeout it asks
// Auto Scaling to roll back and keeps watching the rollback (bounded by
// the longer of that timeout and DefaultDeployTimeout).
func (c *Client) watchRefresh(ctx context.Context, group, id string, opts DeployOptions) (astypes.InstanceRefreshStatus, string, error) {
	deadline := time.Now().Add(opts.Timeout)
	rolledBack := false
	last := ""
	for {
		out, err := c.asg.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
			AutoScalingGroupName: aws.String(group), InstanceRefreshIds: []string{id},
		})
		if err != nil {
			return "", "", classify("watch instance refresh "+id, err)
		}
		if len(out.InstanceRefreshes) != 1 {
			return "", "", anomaly.New(anomaly.Fault, "watch instance refresh "+id, "Auto Scaling returned %d refreshes", len(out.InstanceRefreshes))
		}
		r := out.InstanceRefreshes[0]
		note := aws.ToString(r.StatusReason)
		if msg := fmt.Sprintf("refresh %s: %s, %d%% done %s", id, r.Status, aws.ToInt32(r.PercentageComplete), note); msg != last {
			opts.Progress(msg)
			last = msg
		}
		if refreshDone[r.Status] {
			return r.Status, note, nil
		}
		if time.Now().After(deadline) {
			if rolledBack {
				return r.Status, note, anomaly.New(anomaly.Interrupted, "watch instance refresh "+id, "still %s %v after asking for a rollback", r.Status, opts.Timeout)
			}
			opts.Progress(fmt.Sprintf("refresh %s: not done after %v: rolling back", id, opts.Timeout))
			if _, err := c.asg.RollbackInstanceRefresh(ctx, &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(group)}); err != nil {
				return r.Status, note, classify("roll back instance refresh "+id, err)
			}
			rolledBack = true
			// Putting back the nodes replaced so far takes about as long as
			// replacing them did, which a short --timeout may not cover.
			deadline = time.Now().Add(max(opts.Timeout, DefaultDeployTimeout))
		}
		if err := c.sleep(ctx, c.opts.PollInterval); err != nil {
			return r.Status, note, anomaly.Wrap(anomaly.Interrupted, "watch instance refresh "+id, err)
		}
	}
}

// group describes one Auto Scaling group.
func (c *Client) group(ctx context.Context, name string) (*astypes.AutoScalingGroup, error) {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return nil, classify("describe group "+name, err)
	}
	if len(out.AutoScalingGroups) != 1 {
		return nil, anomaly.New(anomaly.NotFound, "describe group "+name, "no such Auto Scaling group")
	}
	return &out.AutoScalingGroups[0], nil
}

// updateParams updates a stack's parameters in set, keeping its template
// and every other parameter, and waits for the update.
func (c *Client) updateParams(ctx context.Context, name string, set map[string]string) error {
	st, err := c.describe(ctx, name)
	if err != nil {
		return err
	}
	if st == nil {
		return anomaly.New(anomaly.NotFound, "update "+name, "no such stack")
	}
	summary, err := c.cfn.GetTemplateSummary(ctx, &cloudformation.GetTemplateSummaryInput{StackName: aws.String(name)})
	if err != nil {
		return classify("update "+name+": template summary", err)
	}
	decl := map[string]paramDecl{}
	for _, p := range summary.Parameters {
		decl[aws.ToString(p.ParameterKey)] = paramDecl{typ: aws.ToString(p.ParameterType), def: p.DefaultValue}
	}
	params := updateValues(st.Parameters, decl, set, nil)
	_, err = c.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{
		StackName:           aws.String(name),
		UsePreviousTemplate: aws.Bool(true),
		Parameters:          params,
		Capabilities:        []types.Capability{types.CapabilityCapabilityIam},
	})
	if noUpdates(err) {
		return nil
	}
	if err != nil {
		return classify("update "+name, err)
	}
	return c.wait(ctx, name, "UPDATE")
}
