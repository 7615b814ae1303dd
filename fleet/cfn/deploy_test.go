package cfn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/stratadb/strata/anomaly"
)

// scriptedRefresh is Auto Scaling with instance refreshes that follow a
// script: moto_server has no instance refresh at all (StartInstanceRefresh
// answers 500, "not implemented"), so the refresh's side is played here
// while everything else — the stacks, the launch template versions, the
// group — is moto's.
type scriptedRefresh struct {
	asgAPI // moto's, for DescribeAutoScalingGroups

	mu       sync.Mutex
	script   []astypes.InstanceRefreshStatus // statuses Describe returns in turn; the last repeats
	rollback []astypes.InstanceRefreshStatus // after RollbackInstanceRefresh, these instead
	started  *autoscaling.StartInstanceRefreshInput
	rolled   bool
}

func (s *scriptedRefresh) StartInstanceRefresh(_ context.Context, in *autoscaling.StartInstanceRefreshInput, _ ...func(*autoscaling.Options)) (*autoscaling.StartInstanceRefreshOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = in
	return &autoscaling.StartInstanceRefreshOutput{InstanceRefreshId: aws.String("refresh-1")}, nil
}

func (s *scriptedRefresh) DescribeInstanceRefreshes(_ context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	script := &s.script
	if s.rolled {
		script = &s.rollback
	}
	st := (*script)[0]
	if len(*script) > 1 {
		*script = (*script)[1:]
	}
	return &autoscaling.DescribeInstanceRefreshesOutput{InstanceRefreshes: []astypes.InstanceRefresh{{
		InstanceRefreshId: aws.String("refresh-1"), Status: st, StatusReason: aws.String("scripted"), PercentageComplete: aws.Int32(50),
	}}}, nil
}

func (s *scriptedRefresh) RollbackInstanceRefresh(context.Context, *autoscaling.RollbackInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.RollbackInstanceRefreshOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rolled = true
	return &autoscaling.RollbackInstanceRefreshOutput{}, nil
}

// primaryParams returns the primary stack's parameters.
func primaryParams(t *testing.T, c *Client, system string) map[string]string {
	t.Helper()
	st, err := c.Status(context.Background(), system)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := st.Stack("primary")
	if !ok {
		t.Fatalf("no primary stack: %v", parts(st))
	}
	return p.Parameters
}

// Against moto alone: the stack update makes a new launch template version
// with the group pinned to the old one; the refresh cannot start (moto has
// none), and the stack goes back to the old version.
func TestDeployAgainstMoto(t *testing.T) {
	c := motoClient(t, startMoto(t))
	ctx := context.Background()
	p := motoParams("deploymoto")
	p.QueryGroups = nil
	if _, err := c.Up(ctx, p); err != nil {
		t.Fatal(err)
	}
	res, err := c.Deploy(ctx, p.System, DeployOptions{Version: "0.5.0"})
	if err == nil {
		t.Fatal("deploy against moto succeeded, but moto has no instance refresh")
	}
	t.Logf("as expected: %v", err)
	if res == nil || res.FromTemplate != "1" || res.ToTemplate == "" || res.ToTemplate == "1" {
		t.Fatalf("result %+v: want a move from launch template version 1 to a new one", res)
	}
	params := primaryParams(t, c, p.System)
	if params["StrataVersion"] != "0.4.0" || params["PinnedLaunchTemplateVersion"] != "1" {
		t.Fatalf("after the failed deploy: version %q pinned to %q, want 0.4.0 pinned to 1", params["StrataVersion"], params["PinnedLaunchTemplateVersion"])
	}
	group, err := c.group(ctx, primaryOutput(t, c, p.System, "NodeGroupName"))
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(group.LaunchTemplate.Version); v != "1" {
		t.Fatalf("the group runs launch template version %s, want 1", v)
	}
	// The same version again is nothing to do.
	res, err = c.Deploy(ctx, p.System, DeployOptions{Version: "0.4.0"})
	if err != nil || res.Status != "Unchanged" {
		t.Fatalf("deploy of the running version: %+v, %v", res, err)
	}
	if _, err := c.Deploy(ctx, p.System, DeployOptions{Version: "0.5.0", Group: "nosuch"}); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("deploy to a missing group: %v, want not-found", err)
	}
}

func primaryOutput(t *testing.T, c *Client, system, key string) string {
	t.Helper()
	st, err := c.Status(context.Background(), system)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := st.Stack("primary")
	return p.Outputs[key]
}

// The refresh's outcomes, with moto's stacks and groups: success pins the
// new version; a rollback (Auto Scaling's, or ours past the timeout) puts
// the stack back.
func TestDeployRefresh(t *testing.T) {
	c := motoClient(t, startMoto(t))
	ctx := context.Background()
	p := motoParams("deployrefresh")
	p.Topology, p.QueryGroups = Production, nil
	if _, err := c.Up(ctx, p); err != nil {
		t.Fatal(err)
	}
	moto := c.asg
	// moto's CloudFormation has no CloudWatch alarms (it skips them and
	// the outputs that name them); give the stack its alarm's name back.
	c.cfn = withAlarm{c.cfn}

	t.Run("Successful", func(t *testing.T) {
		fake := &scriptedRefresh{asgAPI: moto, script: []astypes.InstanceRefreshStatus{
			astypes.InstanceRefreshStatusPending, astypes.InstanceRefreshStatusInProgress, astypes.InstanceRefreshStatusBaking, astypes.InstanceRefreshStatusSuccessful,
		}}
		c.asg = fake
		var progress []string
		res, err := c.Deploy(ctx, p.System, DeployOptions{Version: "0.5.0", InstanceWarmup: 90 * time.Second, Progress: func(m string) { progress = append(progress, m) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != "Successful" || res.RolledBack {
			t.Fatalf("result %+v", res)
		}
		in := fake.started
		if in == nil {
			t.Fatal("no instance refresh was started")
		}
		pr := in.Preferences
		// Two nodes: one at a time means 100% stay healthy and one more
		// (150%) is launched.
		if aws.ToInt32(pr.MinHealthyPercentage) != 100 || aws.ToInt32(pr.MaxHealthyPercentage) != 150 ||
			!aws.ToBool(pr.AutoRollback) || !aws.ToBool(pr.SkipMatching) || aws.ToInt32(pr.InstanceWarmup) != 90 {
			t.Fatalf("preferences %+v", pr)
		}
		if a := pr.AlarmSpecification; a == nil || len(a.Alarms) != 1 || a.Alarms[0] != "unhealthy-nodes" {
			t.Fatalf("alarm specification %+v, want the group's UnhealthyNodesAlarm", a)
		}
		if v := aws.ToString(in.DesiredConfiguration.LaunchTemplate.Version); v != res.ToTemplate {
			t.Fatalf("desired launch template version %s, want %s", v, res.ToTemplate)
		}
		params := primaryParams(t, c, p.System)
		if params["StrataVersion"] != "0.5.0" || params["PinnedLaunchTemplateVersion"] != res.ToTemplate {
			t.Fatalf("after the deploy: version %q pinned to %q, want 0.5.0 pinned to %s", params["StrataVersion"], params["PinnedLaunchTemplateVersion"], res.ToTemplate)
		}
		if len(progress) < 4 {
			t.Errorf("progress: %q", progress)
		}
	})

	t.Run("RolledBack", func(t *testing.T) {
		c.asg = &scriptedRefresh{asgAPI: moto, script: []astypes.InstanceRefreshStatus{
			astypes.InstanceRefreshStatusInProgress, astypes.InstanceRefreshStatusRollbackInProgress, astypes.InstanceRefreshStatusRollbackSuccessful,
		}}
		before := primaryParams(t, c, p.System)
		res, err := c.Deploy(ctx, p.System, DeployOptions{Version: "0.6.0"})
		if err == nil || !res.RolledBack {
			t.Fatalf("a refresh that rolled back: %+v, %v", res, err)
		}
		after := primaryParams(t, c, p.System)
		if after["StrataVersion"] != "0.5.0" || after["PinnedLaunchTemplateVersion"] != before["PinnedLaunchTemplateVersion"] {
			t.Fatalf("after the rollback: version %q pinned to %q, want 0.5.0 pinned to %s",
				after["StrataVersion"], after["PinnedLaunchTemplateVersion"], before["PinnedLaunchTemplateVersion"])
		}
	})

	t.Run("TimedOut", func(t *testing.T) {
		fake := &scriptedRefresh{asgAPI: moto,
			script:   []astypes.InstanceRefreshStatus{astypes.InstanceRefreshStatusInProgress},
			rollback: []astypes.InstanceRefreshStatus{astypes.InstanceRefreshStatusRollbackInProgress, astypes.InstanceRefreshStatusRollbackSuccessful},
		}
		c.asg = fake
		res, err := c.Deploy(ctx, p.System, DeployOptions{Version: "0.7.0", Timeout: time.Nanosecond, NoAlarm: true})
		if err == nil || !fake.rolled || !res.RolledBack {
			t.Fatalf("a refresh past its timeout: rolled %v, %+v, %v", fake.rolled, res, err)
		}
		if a := fake.started.Preferences.AlarmSpecification; a != nil {
			t.Errorf("NoAlarm, but the refresh watches %v", a.Alarms)
		}
		if v := primaryParams(t, c, p.System)["StrataVersion"]; v != "0.5.0" {
			t.Fatalf("after the timeout: version %s, want 0.5.0", v)
		}
	})
}

// withAlarm adds an UnhealthyNodesAlarm output to compute stacks.
type withAlarm struct{ cfnAPI }

func (w withAlarm) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, o ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	out, err := w.cfnAPI.DescribeStacks(ctx, in, o...)
	if err == nil {
		for i := range out.Stacks {
			if tag(out.Stacks[i].Tags, tagPart) != "storage" {
				out.Stacks[i].Outputs = append(out.Stacks[i].Outputs, cfntypes.Output{OutputKey: aws.String("UnhealthyNodesAlarm"), OutputValue: aws.String("unhealthy-nodes")})
			}
		}
	}
	return out, err
}

func TestMaxHealthyPercent(t *testing.T) {
	for n := int32(1); n <= 100; n++ {
		p := maxHealthyPercent(n)
		if p < 100 || p > 200 {
			t.Fatalf("n=%d: %d%%", n, p)
		}
		// Rounded down, n·p/100 is exactly one node over the group.
		if got := n * p / 100; got != n+1 {
			t.Fatalf("n=%d: %d%% allows %d nodes, want %d", n, p, got, n+1)
		}
	}
}
