package cfn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/stratadb/strata/anomaly"
)

// motoParams describes a system for moto: its CloudFormation makes every
// load balancer an application one, so the compute stacks use that variant.
func motoParams(system string) Params {
	p := testParams
	p.System = system
	p.Templates.LoadBalancer = ApplicationLoadBalancer
	return p
}

// parts lists the system's stacks as PART=STATUS, where STATUS is ok for
// CREATE_COMPLETE and UPDATE_COMPLETE (moto_server applies an update that
// changes nothing where AWS refuses it; either is fine for Up).
func parts(st *SystemStatus) []string {
	var out []string
	for _, s := range st.Stacks {
		status := s.Status
		if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
			status = "ok"
		}
		out = append(out, s.Part+"="+status)
	}
	return out
}

// up, status and down of a whole system against moto_server: storage, a
// primary group and query groups come and go in the order promised, and
// storage outlives compute.
func TestUpStatusDown(t *testing.T) {
	c := motoClient(t, startMoto(t))
	ctx := context.Background()
	p := motoParams("updown")

	// Storage first (the release goes into its bucket), then the rest.
	st, err := c.Up(ctx, Params{System: p.System, StorageOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := parts(st); !slices.Equal(got, []string{"storage=ok"}) {
		t.Fatalf("after up --storage-only: %v", got)
	}

	st, err = c.Up(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"storage=ok", "primary=ok", "query-reports=ok"}
	if got := parts(st); !slices.Equal(got, want) {
		t.Fatalf("after up: %v, want %v", got, want)
	}
	storage, _ := st.Stack("storage")
	for _, k := range []string{"TableName", "BucketName", "KeyArn", "FileSystemId", "ClusterSecurityGroup", "NodeAccessPolicyArn", "PrivateSubnets"} {
		if storage.Outputs[k] == "" {
			t.Errorf("storage output %s is empty", k)
		}
	}
	primary, _ := st.Stack("primary")
	if primary.Parameters["StrataVersion"] != "0.4.0" || primary.Parameters["InstanceType"] != "t3.small" {
		t.Errorf("primary parameters: %v", primary.Parameters)
	}
	if len(primary.Nodes) != 1 || primary.Nodes[0].Lifecycle != "InService" {
		t.Errorf("primary nodes: %+v (%s)", primary.Nodes, primary.NodesErr)
	}
	if primary.Outputs["Endpoint"] == "" {
		t.Errorf("primary has no endpoint: %v", primary.Outputs)
	}

	// Up again changes nothing, and does not take a new version: that is
	// deploy's job.
	again := p
	again.Version = "0.5.0"
	if _, err := c.Up(ctx, again); err != nil {
		t.Fatal(err)
	}
	st, err = c.Status(ctx, p.System)
	if err != nil {
		t.Fatal(err)
	}
	if got := parts(st); !slices.Equal(got, want) {
		t.Fatalf("after a second up: %v, want %v", got, want)
	}
	if primary, _ := st.Stack("primary"); primary.Parameters["StrataVersion"] != "0.4.0" {
		t.Errorf("up changed the running version to %s", primary.Parameters["StrataVersion"])
	}

	// Adding a query group creates only its stack.
	more := p
	more.QueryGroups = []QueryGroup{{Name: "batch", InstanceType: "r6i.large", MinNodes: 2, MaxNodes: 6}}
	st, err = c.Up(ctx, more)
	if err != nil {
		t.Fatal(err)
	}
	batch, ok := st.Stack("query-batch")
	if !ok || batch.Status != "CREATE_COMPLETE" || len(batch.Nodes) != 2 || batch.Parameters["InstanceType"] != "r6i.large" {
		t.Fatalf("query group batch: %+v", batch)
	}
	if s, _ := st.Stack("query-reports"); !strings.HasSuffix(s.Status, "_COMPLETE") || strings.Contains(s.Status, "ROLLBACK") {
		t.Fatalf("query group reports after adding batch: %s", s.Status)
	}

	// A system whose name extends this one's is not this one.
	other := motoParams("updown-x")
	other.QueryGroups = nil
	if _, err := c.Up(ctx, other); err != nil {
		t.Fatal(err)
	}

	if err := c.Down(ctx, p.System, DownOptions{QueryGroup: "batch"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Down(ctx, p.System, DownOptions{QueryGroup: "batch"}); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("down of a removed query group: %v, want not-found", err)
	}
	if err := c.Down(ctx, p.System, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err = c.Status(ctx, p.System)
	if err != nil {
		t.Fatal(err)
	}
	if got := parts(st); !slices.Equal(got, []string{"storage=ok"}) {
		t.Fatalf("after down: %v, want storage only", got)
	}
	if st, err := c.Status(ctx, other.System); err != nil || len(st.Stacks) != 2 {
		t.Fatalf("down of %s touched %s: %v %v", p.System, other.System, err, st)
	}

	// Compute comes back on the kept storage.
	st, err = c.Up(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := parts(st); !slices.Equal(got, want) {
		t.Fatalf("up after down: %v, want %v", got, want)
	}
	if s, _ := st.Stack("storage"); s.Outputs["TableName"] != storage.Outputs["TableName"] {
		t.Fatalf("the table changed from %s to %s", storage.Outputs["TableName"], s.Outputs["TableName"])
	}
}

// protectedCFN is a CloudFormation with one storage stack under
// termination protection, which it enforces as AWS does. (moto_server
// records the protection but does not enforce it, and its CloudFormation
// cannot delete our storage stack at all: it leaves the VPC endpoints and
// routes, so the VPC's deletion fails.)
type protectedCFN struct {
	cfnAPI
	name               string
	protected, deleted bool
	calls              []string
}

func (f *protectedCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if f.deleted {
		if in.StackName == nil {
			return &cloudformation.DescribeStacksOutput{}, nil
		}
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + *in.StackName + " does not exist"}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []types.Stack{{
		StackName: aws.String(f.name), StackStatus: types.StackStatusCreateComplete, EnableTerminationProtection: aws.Bool(f.protected),
		Tags: []types.Tag{{Key: aws.String(tagSystem), Value: aws.String("prot")}, {Key: aws.String(tagPart), Value: aws.String("storage")}},
	}}}, nil
}

func (f *protectedCFN) DeleteStack(context.Context, *cloudformation.DeleteStackInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error) {
	f.calls = append(f.calls, "delete")
	if f.protected {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack [" + f.name + "] cannot be deleted while TerminationProtection is enabled"}
	}
	f.deleted = true
	return &cloudformation.DeleteStackOutput{}, nil
}

func (f *protectedCFN) UpdateTerminationProtection(_ context.Context, in *cloudformation.UpdateTerminationProtectionInput, _ ...func(*cloudformation.Options)) (*cloudformation.UpdateTerminationProtectionOutput, error) {
	f.calls = append(f.calls, fmt.Sprintf("protect=%v", aws.ToBool(in.EnableTerminationProtection)))
	f.protected = aws.ToBool(in.EnableTerminationProtection)
	return &cloudformation.UpdateTerminationProtectionOutput{}, nil
}

// down keeps the storage stack; down --storage lifts its termination
// protection when the delete is refused for it, and deletes it.
func TestDownStorage(t *testing.T) {
	f := &protectedCFN{name: StackName("prot", "storage"), protected: true}
	c := &Client{cfn: f, opts: ClientOptions{}.withDefaults(), sleep: sleepCtx}
	ctx := context.Background()
	if err := c.Down(ctx, "prot", DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 0 {
		t.Fatalf("down without --storage touched the storage stack: %v", f.calls)
	}
	if err := c.Down(ctx, "prot", DownOptions{Storage: true}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"delete", "protect=false", "delete"}; !slices.Equal(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if err := c.Down(ctx, "prot", DownOptions{}); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("down of nothing: %v, want not-found", err)
	}
}

// A compute stack cannot be made without its storage stack's exports, and
// the failure names the cause.
func TestUpWithoutStorageFails(t *testing.T) {
	c := motoClient(t, startMoto(t))
	ctx := context.Background()
	p := motoParams("orphan")
	specs := p.stacks()
	err := c.ensure(ctx, p.System, specs[1], p.Templates)
	if err == nil {
		t.Fatal("a primary stack without a storage stack was created")
	}
	t.Logf("as expected: %v", err)
	// Nothing half-made is left behind to block the next up.
	out, derr := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(specs[1].name)})
	if derr == nil && len(out.Stacks) == 1 && out.Stacks[0].StackStatus == "CREATE_COMPLETE" {
		t.Fatalf("stack %s is CREATE_COMPLETE", specs[1].name)
	}
}
