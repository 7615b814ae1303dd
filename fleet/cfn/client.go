package cfn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/internal/awsconf"
)

// Defaults for ClientOptions.
const (
	// DefaultPollInterval is how often a stack or an instance refresh is
	// looked at while waiting. CloudFormation takes minutes per stack.
	DefaultPollInterval = 10 * time.Second
	// DefaultStackTimeout bounds the wait for one stack operation. A
	// storage stack with interface endpoints and EFS mount targets takes
	// about 5 minutes; an i3 group whose nodes must pass /ready, 10.
	DefaultStackTimeout = time.Hour
	defaultRegion       = "us-east-1"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Region of the stacks. Default: the SDK's configuration, else us-east-1.
	Region string
	// Endpoint replaces the CloudFormation and Auto Scaling endpoints, e.g.
	// http://127.0.0.1:5000 for moto_server, which serves both.
	Endpoint string
	// AccessKeyID and SecretAccessKey (and SessionToken): static
	// credentials. Both or neither; without them the SDK's default chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// PollInterval is how often waits look. Default DefaultPollInterval.
	PollInterval time.Duration
	// StackTimeout bounds the wait for one stack operation. Default DefaultStackTimeout.
	StackTimeout time.Duration
	// MaxAttempts of each API call, the first included. Default: the SDK's (3).
	MaxAttempts int
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.StackTimeout == 0 {
		o.StackTimeout = DefaultStackTimeout
	}
	return o
}

func (o ClientOptions) validate() error {
	var errs []error
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q: want an http:// or https:// URL with a host", o.Endpoint))
		}
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		errs = append(errs, errors.New("AccessKeyID and SecretAccessKey: set both or neither"))
	}
	if o.PollInterval < 0 || o.StackTimeout < 0 || o.MaxAttempts < 0 {
		errs = append(errs, errors.New("PollInterval, StackTimeout and MaxAttempts must not be negative"))
	}
	if len(errs) > 0 {
		return anomaly.Wrap(anomaly.Incorrect, "fleet client options", errors.Join(errs...))
	}
	return nil
}

// cfnAPI is what a Client uses of CloudFormation.
type cfnAPI interface {
	CreateStack(context.Context, *cloudformation.CreateStackInput, ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	UpdateStack(context.Context, *cloudformation.UpdateStackInput, ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error)
	DeleteStack(context.Context, *cloudformation.DeleteStackInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	DescribeStackEvents(context.Context, *cloudformation.DescribeStackEventsInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error)
	GetTemplateSummary(context.Context, *cloudformation.GetTemplateSummaryInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error)
	UpdateTerminationProtection(context.Context, *cloudformation.UpdateTerminationProtectionInput, ...func(*cloudformation.Options)) (*cloudformation.UpdateTerminationProtectionOutput, error)
}

// asgAPI is what a Client uses of Auto Scaling.
type asgAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	StartInstanceRefresh(context.Context, *autoscaling.StartInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.StartInstanceRefreshOutput, error)
	DescribeInstanceRefreshes(context.Context, *autoscaling.DescribeInstanceRefreshesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error)
	RollbackInstanceRefresh(context.Context, *autoscaling.RollbackInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.RollbackInstanceRefreshOutput, error)
}

// Client runs a system's stacks through CloudFormation (and deploys
// through Auto Scaling instance refreshes).
type Client struct {
	cfn  cfnAPI
	asg  asgAPI
	opts ClientOptions
	// sleep waits between polls; tests replace it.
	sleep func(context.Context, time.Duration) error
}

// NewClient makes a Client. It does not contact AWS.
func NewClient(ctx context.Context, opts ClientOptions) (*Client, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg, err := awsconf.Load(ctx, "fleet client", awsconf.Options{Region: opts.Region, DefaultRegion: defaultRegion,
		AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey, SessionToken: opts.SessionToken})
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfn: cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) {
			if opts.Endpoint != "" {
				o.BaseEndpoint = aws.String(opts.Endpoint)
			}
			if opts.MaxAttempts > 0 {
				o.RetryMaxAttempts = opts.MaxAttempts
			}
		}),
		asg: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
			if opts.Endpoint != "" {
				o.BaseEndpoint = aws.String(opts.Endpoint)
			}
			if opts.MaxAttempts > 0 {
				o.RetryMaxAttempts = opts.MaxAttempts
			}
		}),
		opts:  opts,
		sleep: sleepCtx,
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// classify gives an SDK error its category.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case code == "AccessDenied" || code == "AccessDeniedException" || code == "InsufficientCapabilitiesException" ||
		code == "UnrecognizedClientException" || code == "InvalidClientTokenId" || code == "ExpiredToken":
		return anomaly.Wrap(anomaly.Forbidden, op, err)
	case code == "Throttling" || code == "ThrottlingException" || code == "LimitExceededException":
		return anomaly.Wrap(anomaly.Busy, op, err)
	case code == "AlreadyExistsException" || code == "InstanceRefreshInProgress" || code == "ResourceContention":
		return anomaly.Wrap(anomaly.Conflict, op, err)
	case code == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist"):
		return anomaly.Wrap(anomaly.NotFound, op, err)
	case code == "ValidationError":
		return anomaly.Wrap(anomaly.Incorrect, op, err)
	case status == 501 || notImplemented(err):
		return anomaly.Wrap(anomaly.Unsupported, op, err)
	case status == 0 || status >= 500:
		return anomaly.Wrap(anomaly.Unavailable, op, err)
	}
	return anomaly.Wrap(anomaly.Fault, op, err)
}

// notImplemented recognizes moto_server's answer to an action it lacks
// (HTTP 500, "The X action has not been implemented").
func notImplemented(err error) bool {
	return strings.Contains(err.Error(), "has not been implemented")
}
