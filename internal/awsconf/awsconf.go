// Package awsconf loads the AWS SDK's configuration one way for every
// client strata makes (S3, DynamoDB, KMS, CloudFormation): the SDK's
// default chain, a region and static credentials when given, and a
// buildable HTTP client, so that LoadDefaultConfig installs AWS_CA_BUNDLE
// into it (DESIGN.md).
package awsconf

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stratadb/strata/anomaly"
)

// Options say what Load adds to the SDK's defaults.
type Options struct {
	// Region, when set; else the environment's, else DefaultRegion.
	Region, DefaultRegion string
	// Static credentials, when AccessKeyID is set; else the default chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// HTTPClient is the client to configure; nil makes a new one.
	HTTPClient *awshttp.BuildableClient
	// NoRetries turns the SDK's retries off (the caller retries itself).
	NoRetries bool
}

// Load loads the configuration; a failure is incorrect and names op.
func Load(ctx context.Context, op string, o Options) (aws.Config, error) {
	hc := o.HTTPClient
	if hc == nil {
		hc = awshttp.NewBuildableClient()
	}
	load := []func(*config.LoadOptions) error{config.WithHTTPClient(hc)}
	if o.NoRetries {
		load = append(load, config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	}
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		load = append(load, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, anomaly.Wrap(anomaly.Incorrect, op+": load AWS configuration", err)
	}
	if cfg.Region == "" {
		cfg.Region = o.DefaultRegion
	}
	return cfg, nil
}
