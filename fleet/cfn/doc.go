// Package cfn deploys strata on AWS with CloudFormation: the templates of
// the Solo and Production topologies and of query groups, their
// validation, and the stack operations behind strata fleet render,
// validate, up, down, status and deploy.
//
// A system is a set of stacks named after it:
//
//	strata-SYSTEM-storage      DynamoDB table (log, catalog), S3 bucket (segments),
//	                           EFS (shared cache), KMS key, VPC, log group, node policy
//	strata-SYSTEM-primary      the primary group (Solo or Production) and the bastion
//	strata-SYSTEM-query-NAME   a query group
//
// Compute stacks import the storage stack's exports (strata-SYSTEM-storage-*),
// so they come and go without touching storage, whose data resources are
// also retained if the storage stack itself is deleted.
//
// The templates are embedded (templates/) and rendered with text/template
// (for the node port and the user data script the compute templates share);
// what Render writes and Up sends is plain CloudFormation YAML. Validate
// runs cfn-lint and then Check, our own checks of the security properties
// the deployment guide promises (fleet/README.md): encryption at rest, no
// public bucket, TLS-only access, least-privilege node policy, and node
// ports open only to the load balancer and the bastion.
//
// Everything here is safe for concurrent use; a Client serializes nothing,
// so two Ups of one system at once race as two aws CLI calls would.
//
// Example:
//
//	c, err := cfn.NewClient(ctx, cfn.ClientOptions{Region: "eu-west-1"})
//	…
//	st, err := c.Up(ctx, cfn.Params{System: "demo", Version: "0.4.0", BastionCIDR: "203.0.113.0/24"})
package cfn
