package cfn

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Level is how bad a finding is. Validate fails on any error.
type Level string

// The levels, named as cfn-lint names them.
const (
	LevelError       Level = "error"
	LevelWarning     Level = "warning"
	LevelInformation Level = "informational"
)

// Finding is one problem in a template, from cfn-lint or from Check.
type Finding struct {
	File     string // e.g. "production.yaml"
	Resource string // the resource's logical id, or "" for the template
	Rule     string // our rule ("node-ingress") or cfn-lint's id ("E3002")
	Level    Level
	Message  string
}

func (f Finding) String() string {
	where := f.File
	if f.Resource != "" {
		where += ": " + f.Resource
	}
	return fmt.Sprintf("%s: %s %s: %s", where, f.Level, f.Rule, f.Message)
}

// nodeActions are the only actions a node's policy may allow. Each is an
// operation the node makes (transactor's DynamoDB log and catalog,
// cachetiers' S3 store and envelope keys, the EFS mount, the log agent).
// No s3:DeleteObject: the store of record never deletes (only a garbage
// collector would, with its own role).
var nodeActions = map[string]bool{
	"dynamodb:DescribeTable": true, "dynamodb:GetItem": true, "dynamodb:PutItem": true,
	"dynamodb:UpdateItem": true, "dynamodb:DeleteItem": true, "dynamodb:Query": true, "dynamodb:Scan": true,
	"s3:ListBucket": true, "s3:GetObject": true, "s3:PutObject": true,
	"kms:Decrypt": true, "kms:GenerateDataKey": true, "kms:DescribeKey": true,
	"elasticfilesystem:ClientMount": true, "elasticfilesystem:ClientWrite": true,
	"logs:CreateLogStream": true, "logs:PutLogEvents": true, "logs:DescribeLogStreams": true,
}

// nodeFlags must all appear in the nodes' user data: the node is started
// with its table, bucket, prefix, region, tiers, group and addresses.
var nodeFlags = []string{
	"strata node", "--dynamodb-table", "--s3-bucket", "--s3-prefix", "--region",
	"--efs-path", "--ssd-path", "--ssd-bytes", "--group", "--listen", "--advertise",
}

// Check runs our property checks on a template of kind k and returns what
// it found (nil when the template keeps every promise). It parses the
// template itself; a template it cannot parse is one error finding.
func Check(k Kind, body []byte) []Finding {
	c := &checker{kind: k, file: k.File()}
	tpl, err := parseTemplate(body)
	if err != nil {
		c.errorf("", "parse", "%v", err)
		return c.findings
	}
	c.tpl = tpl
	c.resources = mapOf(tpl["Resources"])
	c.params = mapOf(tpl["Parameters"])
	if len(c.resources) == 0 {
		c.errorf("", "resources", "the template has no resources")
		return c.findings
	}
	c.checkIngressSources()
	c.checkPolicies()
	switch k {
	case KindStorage:
		c.checkTable()
		c.checkBucket()
		c.checkFileSystem()
		c.checkKey()
		c.checkEndpoints()
		c.checkLogGroup()
		c.checkStorageGroups()
	case KindSolo, KindProduction, KindQueryGroup:
		c.checkCompute()
	default:
		c.errorf("", "kind", "unknown template kind %q", k)
	}
	return c.findings
}

type checker struct {
	kind      Kind
	file      string
	tpl       map[string]any
	resources map[string]any
	params    map[string]any
	findings  []Finding
}

func (c *checker) errorf(res, rule, format string, args ...any) {
	c.findings = append(c.findings, Finding{File: c.file, Resource: res, Rule: rule, Level: LevelError, Message: fmt.Sprintf(format, args...)})
}

// ofType returns the logical ids of the resources of type typ, sorted.
func (c *checker) ofType(typ string) []string {
	var ids []string
	for id, r := range c.resources {
		if strOf(get(r, "Type")) == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (c *checker) props(id string) map[string]any { return mapOf(get(c.resources[id], "Properties")) }

// one returns the single resource of type typ, reporting none or several.
func (c *checker) one(typ, rule string) (string, bool) {
	ids := c.ofType(typ)
	if len(ids) != 1 {
		c.errorf("", rule, "want exactly one %s, found %d", typ, len(ids))
		return "", false
	}
	return ids[0], true
}

// paramDefault returns the Default of parameter name, if it has one.
func (c *checker) paramDefault(name string) (any, bool) {
	p := mapOf(c.params[name])
	d, ok := p["Default"]
	return d, ok && p != nil
}

// literals returns what v can evaluate to where that is knowable without
// deploying: a literal, a parameter's default, either branch of an Fn::If.
// open lists what could not be resolved (an import, a parameter without a
// default, another function), for the caller to judge.
func (c *checker) literals(v any) (vals []string, open []any) {
	if ref, ok := refOf(v); ok {
		if d, ok := c.paramDefault(ref); ok && fmt.Sprint(d) != "" {
			vals = append(vals, fmt.Sprint(d))
		}
		// Whatever the default, a deployer may pass another value (or v is
		// a resource or pseudo parameter): the caller judges it.
		return vals, []any{v}
	}
	if l := listOf(mapOf(v)["Fn::If"]); len(l) == 3 {
		for _, branch := range l[1:] {
			vs, os := c.literals(branch)
			vals, open = append(vals, vs...), append(open, os...)
		}
		return vals, open
	}
	switch x := v.(type) {
	case string, int, float64, bool:
		return []string{fmt.Sprint(x)}, nil
	}
	return nil, []any{v}
}

// refs returns the logical ids v names with Ref or Fn::GetAtt.
func refs(v any) []string {
	if r, ok := refOf(v); ok {
		return []string{r}
	}
	if r, _, ok := getAttOf(v); ok {
		return []string{r}
	}
	return nil
}

// --- Security groups -----------------------------------------------------

// ingress is one ingress rule, inline or a SecurityGroupIngress resource.
type ingress struct {
	resource string // where it is written
	group    any    // the group it opens (Ref, import)
	rule     map[string]any
}

func (c *checker) ingresses() []ingress {
	var out []ingress
	for _, id := range c.ofType("AWS::EC2::SecurityGroup") {
		for _, r := range listOf(c.props(id)["SecurityGroupIngress"]) {
			out = append(out, ingress{resource: id, group: map[string]any{"Ref": id}, rule: mapOf(r)})
		}
	}
	for _, id := range c.ofType("AWS::EC2::SecurityGroupIngress") {
		p := c.props(id)
		out = append(out, ingress{resource: id, group: p["GroupId"], rule: p})
	}
	return out
}

var (
	anyIPv4 = regexp.MustCompile(`^0\.0\.0\.0/0$`)
	anyIPv6 = regexp.MustCompile(`^::/0$`)
)

// checkIngressSources: no ingress rule anywhere is open to the internet
// (0.0.0.0/0, ::/0), or to all protocols.
func (c *checker) checkIngressSources() {
	for _, in := range c.ingresses() {
		if p := fmt.Sprint(in.rule["IpProtocol"]); p == "-1" || p == "all" {
			c.errorf(in.resource, "open-ingress", "an ingress rule for all protocols and ports")
		}
		for _, key := range []string{"CidrIp", "CidrIpv6"} {
			v, ok := in.rule[key]
			if !ok {
				continue
			}
			vals, open := c.literals(v)
			for _, s := range vals {
				if anyIPv4.MatchString(s) || anyIPv6.MatchString(s) {
					c.errorf(in.resource, "open-ingress", "%s %s: ingress from anywhere", key, s)
				}
			}
			for _, o := range open {
				c.checkOpenCIDR(in.resource, key, o)
			}
		}
	}
}

// checkOpenCIDR judges a CIDR that is not known until deployment: a
// parameter whose AllowedPattern refuses 0.0.0.0/0, or the VPC's CIDR.
func (c *checker) checkOpenCIDR(res, key string, v any) {
	if name, ok := importOf(v); ok {
		if strings.HasSuffix(name, "-VpcCidr") {
			return
		}
		c.errorf(res, "open-ingress", "%s from import %q: only the VPC's CIDR may be imported", key, name)
		return
	}
	ref, ok := refOf(v)
	if !ok || c.params[ref] == nil {
		c.errorf(res, "open-ingress", "%s is computed by %v, which cannot be checked", key, v)
		return
	}
	pattern := strOf(get(c.params[ref], "AllowedPattern"))
	if pattern == "" {
		c.errorf(res, "open-ingress", "%s from parameter %s, which has no AllowedPattern to refuse 0.0.0.0/0", key, ref)
		return
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		c.errorf(res, "open-ingress", "%s from parameter %s: AllowedPattern %q cannot be checked: %v", key, ref, pattern, err)
		return
	}
	for _, open := range []string{"0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1"} {
		if re.MatchString(open) {
			c.errorf(res, "open-ingress", "%s from parameter %s, whose AllowedPattern accepts %s", key, ref, open)
		}
	}
}

// portIs reports whether rule opens exactly port.
func portIs(rule map[string]any, port int) bool {
	from, ok1 := intOf(rule["FromPort"])
	to, ok2 := intOf(rule["ToPort"])
	return ok1 && ok2 && from == port && to == port && fmt.Sprint(rule["IpProtocol"]) == "tcp"
}

// sameGroup reports whether a and b name the same group (same Ref, or the
// same import).
func sameGroup(a, b any) bool {
	if ra, ok := refOf(a); ok {
		rb, ok := refOf(b)
		return ok && ra == rb
	}
	if ia, ok := importOf(a); ok {
		ib, ok := importOf(b)
		return ok && ia == ib
	}
	return false
}

func containsGroup(list []any, g any) bool {
	return slices.ContainsFunc(list, func(x any) bool { return sameGroup(x, g) })
}

// --- IAM -----------------------------------------------------------------

// checkPolicies: every IAM policy in the template allows only node
// actions, on named resources; roles are for EC2 and carry only the
// storage stack's node policy.
func (c *checker) checkPolicies() {
	for _, id := range c.ofType("AWS::IAM::ManagedPolicy") {
		c.checkPolicyDocument(id, c.props(id)["PolicyDocument"])
	}
	for _, id := range c.ofType("AWS::IAM::Policy") {
		c.checkPolicyDocument(id, c.props(id)["PolicyDocument"])
	}
	for _, id := range c.ofType("AWS::IAM::Role") {
		p := c.props(id)
		for _, pol := range listOf(p["Policies"]) {
			c.checkPolicyDocument(id, get(pol, "PolicyDocument"))
		}
		for _, st := range listOf(get(p, "AssumeRolePolicyDocument", "Statement")) {
			svc := get(st, "Principal", "Service")
			if s := strOf(svc); s != "ec2.amazonaws.com" {
				c.errorf(id, "iam-trust", "the role trusts %v; a node role trusts ec2.amazonaws.com only", svc)
			}
		}
		for _, arn := range listOf(p["ManagedPolicyArns"]) {
			name, ok := importOf(arn)
			r := refs(arn)
			switch {
			case ok && strings.HasSuffix(name, "-NodeAccessPolicyArn"):
			case len(r) == 1 && strOf(get(c.resources[r[0]], "Type")) == "AWS::IAM::ManagedPolicy":
			default:
				c.errorf(id, "iam-managed", "managed policy %v: a node role carries only the storage stack's node policy", arn)
			}
		}
	}
}

func (c *checker) checkPolicyDocument(id string, doc any) {
	stmts := get(doc, "Statement")
	if stmts == nil {
		c.errorf(id, "iam-policy", "no policy statements")
		return
	}
	for _, st := range listOf(stmts) {
		sid := strOf(get(st, "Sid"))
		if strOf(get(st, "Effect")) != "Allow" {
			continue
		}
		var actions []string
		switch a := get(st, "Action").(type) {
		case string:
			actions = []string{a}
		case []any:
			for _, x := range a {
				actions = append(actions, strOf(x))
			}
		}
		for _, a := range actions {
			switch {
			case strings.Contains(a, "*"):
				c.errorf(id, "iam-policy", "statement %s allows %q: name each action", sid, a)
			case !nodeActions[a]:
				c.errorf(id, "iam-policy", "statement %s allows %q, which a node does not use", sid, a)
			}
			if a == "s3:ListBucket" && get(st, "Condition", "StringLike", "s3:prefix") == nil {
				c.errorf(id, "iam-policy", "statement %s lists the whole bucket: limit s3:prefix", sid)
			}
		}
		resources := listOf(get(st, "Resource"))
		if r := get(st, "Resource"); resources == nil && r != nil {
			resources = []any{r}
		}
		if len(resources) == 0 {
			c.errorf(id, "iam-policy", "statement %s names no resource", sid)
		}
		for _, r := range resources {
			c.checkPolicyResource(id, sid, actions, r)
		}
	}
}

// checkPolicyResource accepts a resource of this template (Ref, GetAtt),
// or an object ARN under a prefix of one: ${Bucket.Arn}/${SomePrefix}*.
func (c *checker) checkPolicyResource(id, sid string, actions []string, r any) {
	if s, ok := r.(string); ok {
		c.errorf(id, "iam-policy", "statement %s: resource %q is a literal; name this system's resources", sid, s)
		return
	}
	if rs := refs(r); len(rs) == 1 {
		if c.resources[rs[0]] == nil {
			c.errorf(id, "iam-policy", "statement %s: resource %s is not in this template", sid, rs[0])
		}
		return
	}
	sub, ok := subOf(r)
	if !ok {
		c.errorf(id, "iam-policy", "statement %s: resource %v cannot be checked", sid, r)
		return
	}
	if m := ownARN.FindStringSubmatch(sub); m != nil && c.resources[m[1]] != nil {
		return // arn:…:file-system/${FileSystem}: a resource of this template
	}
	m := objectARN.FindStringSubmatch(sub)
	if m == nil || c.resources[m[1]] == nil || c.params[m[2]] == nil {
		c.errorf(id, "iam-policy", "statement %s: resource %q: want ${BUCKET.Arn}/${PREFIX}* (objects under a prefix)", sid, sub)
		return
	}
	if pat := strOf(get(c.params[m[2]], "AllowedPattern")); !strings.HasPrefix(pat, "^") || !strings.HasSuffix(pat, "$") {
		c.errorf(id, "iam-policy", "statement %s: prefix parameter %s needs an anchored AllowedPattern", sid, m[2])
	} else if re, err := regexp.Compile(pat); err != nil || re.MatchString("") || re.MatchString("*") {
		c.errorf(id, "iam-policy", "statement %s: prefix parameter %s may be empty or a wildcard", sid, m[2])
	}
}

var (
	objectARN = regexp.MustCompile(`^\$\{(\w+)\.Arn\}/\$\{(\w+)\}\*$`)
	ownARN    = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:[a-z0-9-]+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:[a-z-]+/\$\{(\w+)\}$`)
)

// --- Storage -------------------------------------------------------------

func (c *checker) checkTable() {
	id, ok := c.one("AWS::DynamoDB::Table", "table")
	if !ok {
		return
	}
	p := c.props(id)
	if strOf(p["BillingMode"]) != "PAY_PER_REQUEST" {
		c.errorf(id, "table", "BillingMode %v: want PAY_PER_REQUEST (on demand)", p["BillingMode"])
	}
	if !isTrue(get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")) {
		c.errorf(id, "table", "point-in-time recovery is off")
	}
	sse := mapOf(p["SSESpecification"])
	if !isTrue(sse["SSEEnabled"]) || strOf(sse["SSEType"]) != "KMS" || sse["KMSMasterKeyId"] == nil {
		c.errorf(id, "table", "want SSE with SSEType KMS and this system's key (KMSMasterKeyId)")
	}
	c.checkRetained(id)
}

func (c *checker) checkRetained(id string) {
	if strOf(get(c.resources[id], "DeletionPolicy")) != "Retain" {
		c.errorf(id, "retain", "DeletionPolicy is not Retain: deleting the stack would delete the data")
	}
}

func (c *checker) checkBucket() {
	id, ok := c.one("AWS::S3::Bucket", "bucket")
	if !ok {
		return
	}
	p := c.props(id)
	rules := listOf(get(p, "BucketEncryption", "ServerSideEncryptionConfiguration"))
	kms := len(rules) > 0
	for _, r := range rules {
		d := mapOf(get(r, "ServerSideEncryptionByDefault"))
		if strOf(d["SSEAlgorithm"]) != "aws:kms" || d["KMSMasterKeyID"] == nil {
			kms = false
		}
	}
	if !kms {
		c.errorf(id, "bucket", "want default encryption SSE-KMS with this system's key")
	}
	pab := mapOf(p["PublicAccessBlockConfiguration"])
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if !isTrue(pab[k]) {
			c.errorf(id, "bucket", "public access block %s is not true", k)
		}
	}
	c.checkRetained(id)
	// A TLS-only policy on this bucket: deny everything, to everyone, on
	// the bucket and its objects, when aws:SecureTransport is false.
	found := false
	for _, pid := range c.ofType("AWS::S3::BucketPolicy") {
		pp := c.props(pid)
		if r, ok := refOf(pp["Bucket"]); !ok || r != id {
			continue
		}
		for _, st := range listOf(get(pp, "PolicyDocument", "Statement")) {
			if strOf(get(st, "Effect")) != "Deny" || strOf(get(st, "Principal")) != "*" || strOf(get(st, "Action")) != "s3:*" {
				continue
			}
			if v := get(st, "Condition", "Bool", "aws:SecureTransport"); v == nil || isTrue(v) {
				continue
			}
			var bucket, objects bool
			for _, r := range listOf(get(st, "Resource")) {
				if rs, attr, ok := getAttOf(r); ok && rs == id && attr == "Arn" {
					bucket = true
				}
				if s, ok := subOf(r); ok && s == "${"+id+".Arn}/*" {
					objects = true
				}
			}
			found = found || (bucket && objects)
		}
	}
	if !found {
		c.errorf(id, "bucket-tls", "no bucket policy denies s3:* on the bucket and its objects without TLS (aws:SecureTransport false)")
	}
}

// publicSubnets returns the subnets whose route table routes to an
// internet gateway, or that give instances public addresses.
func (c *checker) publicSubnets() map[string]bool {
	igwTables := map[string]bool{}
	for _, id := range c.ofType("AWS::EC2::Route") {
		p := c.props(id)
		if p["GatewayId"] == nil {
			continue
		}
		for _, rt := range refs(p["RouteTableId"]) {
			igwTables[rt] = true
		}
	}
	public := map[string]bool{}
	for _, id := range c.ofType("AWS::EC2::SubnetRouteTableAssociation") {
		p := c.props(id)
		rt, sn := refs(p["RouteTableId"]), refs(p["SubnetId"])
		if len(rt) == 1 && len(sn) == 1 && igwTables[rt[0]] {
			public[sn[0]] = true
		}
	}
	for _, id := range c.ofType("AWS::EC2::Subnet") {
		if isTrue(c.props(id)["MapPublicIpOnLaunch"]) {
			public[id] = true
		}
	}
	return public
}

func (c *checker) checkFileSystem() {
	id, ok := c.one("AWS::EFS::FileSystem", "efs")
	if !ok {
		return
	}
	p := c.props(id)
	if !isTrue(p["Encrypted"]) || p["KmsKeyId"] == nil {
		c.errorf(id, "efs", "want Encrypted with this system's key (KmsKeyId)")
	}
	public := c.publicSubnets()
	n := 0
	for _, mt := range c.ofType("AWS::EFS::MountTarget") {
		mp := c.props(mt)
		if r := refs(mp["FileSystemId"]); len(r) != 1 || r[0] != id {
			continue
		}
		n++
		sn := refs(mp["SubnetId"])
		if len(sn) != 1 || c.resources[sn[0]] == nil {
			c.errorf(mt, "efs", "mount target subnet %v is not a subnet of this template", mp["SubnetId"])
		} else if public[sn[0]] {
			c.errorf(mt, "efs", "mount target in %s, a public subnet", sn[0])
		}
	}
	if n < 2 {
		c.errorf(id, "efs", "%d mount targets: want one in each private subnet (at least 2)", n)
	}
}

func (c *checker) checkKey() {
	id, ok := c.one("AWS::KMS::Key", "kms")
	if !ok {
		return
	}
	if !isTrue(c.props(id)["EnableKeyRotation"]) {
		c.errorf(id, "kms", "key rotation is off")
	}
	c.checkRetained(id)
}

func (c *checker) checkEndpoints() {
	public := c.publicSubnets()
	privateTables := map[string]bool{}
	for _, id := range c.ofType("AWS::EC2::SubnetRouteTableAssociation") {
		p := c.props(id)
		if sn := refs(p["SubnetId"]); len(sn) == 1 && !public[sn[0]] {
			for _, rt := range refs(p["RouteTableId"]) {
				privateTables[rt] = true
			}
		}
	}
	for _, svc := range []string{"s3", "dynamodb"} {
		found := false
		for _, id := range c.ofType("AWS::EC2::VPCEndpoint") {
			p := c.props(id)
			name, _ := subOf(p["ServiceName"])
			if name == "" {
				name = strOf(p["ServiceName"])
			}
			if strOf(p["VpcEndpointType"]) != "Gateway" || !strings.HasSuffix(name, "."+svc) {
				continue
			}
			for _, rt := range listOf(p["RouteTableIds"]) {
				if r := refs(rt); len(r) == 1 && privateTables[r[0]] {
					found = true
				}
			}
		}
		if !found {
			c.errorf("", "endpoints", "no %s gateway endpoint on the private subnets' route table", svc)
		}
	}
}

func (c *checker) checkLogGroup() {
	id, ok := c.one("AWS::Logs::LogGroup", "logs")
	if !ok {
		return
	}
	p := c.props(id)
	if p["RetentionInDays"] == nil {
		c.errorf(id, "logs", "no retention: the operational log would be kept (and paid for) forever")
	}
	if p["KmsKeyId"] == nil {
		c.errorf(id, "logs", "the operational log is not encrypted with this system's key")
	}
}

// checkStorageGroups: the cluster group (every node is in it) opens only
// the node port, only to itself; the file system's group opens only NFS,
// only to the cluster group.
func (c *checker) checkStorageGroups() {
	cluster := c.exportedGroup("-ClusterSecurityGroup")
	if cluster == "" {
		c.errorf("", "cluster-ingress", "no exported cluster security group")
		return
	}
	self := map[string]any{"Ref": cluster}
	efsGroups := map[string]bool{}
	for _, mt := range c.ofType("AWS::EFS::MountTarget") {
		for _, g := range listOf(c.props(mt)["SecurityGroups"]) {
			for _, r := range refs(g) {
				efsGroups[r] = true
			}
		}
	}
	for _, in := range c.ingresses() {
		g, _ := refOf(in.group)
		switch {
		case g == cluster:
			if !sameGroup(in.rule["SourceSecurityGroupId"], self) || !portIs(in.rule, NodePort) {
				c.errorf(in.resource, "cluster-ingress", "the cluster group may open only port %d, only to itself", NodePort)
			}
		case efsGroups[g]:
			if !sameGroup(in.rule["SourceSecurityGroupId"], self) || !portIs(in.rule, 2049) {
				c.errorf(in.resource, "efs-ingress", "the file system's group may open only NFS (2049), only to the cluster group")
			}
		}
	}
}

// exportedGroup returns the logical id of the security group exported
// under a name ending in suffix.
func (c *checker) exportedGroup(suffix string) string {
	for _, o := range mapOf(c.tpl["Outputs"]) {
		name, _ := subOf(get(o, "Export", "Name"))
		if r, ok := refOf(get(o, "Value")); ok && strings.HasSuffix(name, suffix) {
			return r
		}
	}
	return ""
}

// --- Compute -------------------------------------------------------------

func (c *checker) checkCompute() {
	asg, ok := c.one("AWS::AutoScaling::AutoScalingGroup", "asg")
	if !ok {
		return
	}
	ap := c.props(asg)
	if strOf(ap["HealthCheckType"]) != "ELB" {
		c.errorf(asg, "asg", "HealthCheckType %v: want ELB, so that a node failing GET /ready is replaced (and a deploy rolls back)", ap["HealthCheckType"])
	}
	if len(listOf(ap["TargetGroupARNs"])) == 0 {
		c.errorf(asg, "asg", "the group is in no target group")
	}
	subnets := get(ap, "VPCZoneIdentifier")
	if l := listOf(mapOf(subnets)["Fn::Split"]); len(l) != 2 || !strings.HasSuffix(firstImport(l[1]), "-PrivateSubnets") {
		c.errorf(asg, "asg", "VPCZoneIdentifier: want the storage stack's private subnets (both availability zones)")
	}
	vals, _ := c.literals(get(ap, "LaunchTemplate", "Version"))
	for _, v := range vals {
		if strings.HasPrefix(v, "$") {
			c.errorf(asg, "asg", "launch template version %v: deploys roll back only to a numbered version", v)
		}
	}
	c.checkGroupSize(asg, ap)

	lt := refs(get(ap, "LaunchTemplate", "LaunchTemplateId"))
	if len(lt) != 1 || c.resources[lt[0]] == nil {
		c.errorf(asg, "asg", "the group's launch template is not in this template")
		return
	}
	nodeGroups := c.checkLaunchTemplate(lt[0], true)
	lbGroups, bastionGroups := c.checkLoadBalancer(), c.bastionGroups()
	c.checkNodeIngress(nodeGroups, lbGroups, bastionGroups)
	if c.kind != KindQueryGroup && len(c.ofType("AWS::EC2::Instance")) != 1 {
		c.errorf("", "bastion", "want one bastion instance")
	}
	for _, id := range c.ofType("AWS::EC2::Instance") {
		if r := refs(get(c.props(id), "LaunchTemplate", "LaunchTemplateId")); len(r) == 1 {
			c.checkLaunchTemplate(r[0], false)
		} else {
			c.errorf(id, "imds", "the instance has no launch template requiring IMDSv2")
		}
	}
	if c.kind == KindQueryGroup {
		found := false
		for _, id := range c.ofType("AWS::AutoScaling::ScalingPolicy") {
			if r, ok := refOf(c.props(id)["AutoScalingGroupName"]); ok && r == asg {
				found = true
			}
		}
		if !found {
			c.errorf(asg, "scaling", "a query group scales: want a scaling policy on its group")
		}
	}
}

func firstImport(v any) string { s, _ := importOf(v); return s }

// checkGroupSize: Solo is exactly one node; Production at least two.
func (c *checker) checkGroupSize(asg string, ap map[string]any) {
	minimum := func(v any) int {
		if n, ok := intOf(v); ok {
			return n
		}
		if r, ok := refOf(v); ok {
			p := mapOf(c.params[r])
			lo, ok1 := intOf(fmt.Sprint(p["MinValue"]))
			d, ok2 := intOf(fmt.Sprint(p["Default"]))
			if ok1 && ok2 {
				return min(lo, d)
			}
		}
		return -1
	}
	switch c.kind {
	case KindSolo:
		for _, k := range []string{"MinSize", "MaxSize", "DesiredCapacity"} {
			if n, ok := intOf(ap[k]); !ok || n != 1 {
				c.errorf(asg, "size", "Solo: %s %v, want 1", k, ap[k])
			}
		}
	case KindProduction:
		if n := minimum(ap["MinSize"]); n < 2 {
			c.errorf(asg, "size", "Production: MinSize may be %d; want at least 2 nodes across availability zones", n)
		}
		for _, t := range listOf(get(c.params, "InstanceType", "AllowedValues")) {
			if !hasInstanceStore(strOf(t)) {
				c.errorf(asg, "size", "Production: instance type %v has no instance-store NVMe for the SSD tier", t)
			}
		}
	}
}

// hasInstanceStore reports whether an instance type's family has
// instance-store NVMe (the families the templates offer).
func hasInstanceStore(t string) bool {
	family, _, _ := strings.Cut(t, ".")
	switch family {
	case "i3", "i3en", "i4i", "i4g", "im4gn", "is4gen", "i7ie", "i8g", "m5d", "m6id", "r5d", "r6id", "c5d", "c6id":
		return true
	}
	return false
}

// checkLaunchTemplate checks IMDSv2 and encrypted volumes (and, for the
// nodes' template, the user data) and returns the groups it puts
// instances in.
func (c *checker) checkLaunchTemplate(id string, node bool) []any {
	if strOf(get(c.resources[id], "Type")) != "AWS::EC2::LaunchTemplate" {
		c.errorf(id, "launch-template", "not a launch template")
		return nil
	}
	d := mapOf(c.props(id)["LaunchTemplateData"])
	if strOf(get(d, "MetadataOptions", "HttpTokens")) != "required" {
		c.errorf(id, "imds", "MetadataOptions.HttpTokens is not required (IMDSv2 only)")
	}
	bdm := listOf(d["BlockDeviceMappings"])
	if len(bdm) == 0 {
		c.errorf(id, "ebs", "no block device mappings: the root volume's encryption is not set")
	}
	for _, m := range bdm {
		if e := get(m, "Ebs"); e != nil && !isTrue(get(e, "Encrypted")) {
			c.errorf(id, "ebs", "volume %v is not encrypted", get(m, "DeviceName"))
		}
	}
	if !node {
		return nil
	}
	script, _ := subOf(get(d, "UserData", "Fn::Base64"))
	for _, f := range nodeFlags {
		if !strings.Contains(script, f) {
			c.errorf(id, "user-data", "the user data does not start the node with %s", f)
		}
	}
	if !strings.Contains(script, "mount -t efs") {
		c.errorf(id, "user-data", "the user data does not mount EFS")
	}
	if c.kind == KindProduction && !(strings.Contains(script, "Instance Storage") && strings.Contains(script, "mkfs")) {
		c.errorf(id, "user-data", "Production: the user data does not format and mount the instance-store NVMe")
	}
	groups := listOf(d["SecurityGroupIds"])
	if len(groups) == 0 {
		c.errorf(id, "node-ingress", "the nodes' launch template names no security groups")
	}
	return groups
}

// checkLoadBalancer checks the LB and its health check and returns its
// security groups.
func (c *checker) checkLoadBalancer() []any {
	lb, ok := c.one("AWS::ElasticLoadBalancingV2::LoadBalancer", "lb")
	if !ok {
		return nil
	}
	p := c.props(lb)
	if strOf(p["Scheme"]) != "internal" {
		c.errorf(lb, "lb", "Scheme %v: want internal (clients reach it in the VPC or through the bastion)", p["Scheme"])
	}
	groups := listOf(p["SecurityGroups"])
	if len(groups) == 0 {
		c.errorf(lb, "lb", "no security groups: nodes could only admit the load balancer's traffic by address")
	}
	for _, tg := range c.ofType("AWS::ElasticLoadBalancingV2::TargetGroup") {
		tp := c.props(tg)
		if strOf(tp["HealthCheckPath"]) != "/ready" || !strings.HasPrefix(strOf(tp["HealthCheckProtocol"]), "HTTP") {
			c.errorf(tg, "health-check", "health check %v %v: want HTTP GET /ready", tp["HealthCheckProtocol"], tp["HealthCheckPath"])
		}
		if n, ok := intOf(tp["Port"]); !ok || n != NodePort {
			c.errorf(tg, "health-check", "port %v: want the node port %d", tp["Port"], NodePort)
		}
	}
	return groups
}

// bastionGroups: the groups of the bastion instance here, or the primary
// stack's exported bastion group.
func (c *checker) bastionGroups() []any {
	var out []any
	for _, id := range c.ofType("AWS::EC2::Instance") {
		out = append(out, listOf(c.props(id)["SecurityGroupIds"])...)
	}
	for _, in := range c.ingresses() {
		if name, ok := importOf(in.rule["SourceSecurityGroupId"]); ok && strings.HasSuffix(name, "-primary-BastionSecurityGroup") {
			out = append(out, in.rule["SourceSecurityGroupId"])
		}
	}
	return out
}

// checkNodeIngress: the nodes' own groups admit the node port only from
// the load balancer's and the bastion's groups, and SSH only from the
// bastion's; never from an address range. (Node to node traffic goes
// through the storage stack's cluster group, checked there.)
func (c *checker) checkNodeIngress(nodeGroups, lbGroups, bastionGroups []any) {
	var local []any
	for _, g := range nodeGroups {
		if r, ok := refOf(g); ok {
			local = append(local, g)
			if strOf(get(c.resources[r], "Type")) != "AWS::EC2::SecurityGroup" {
				c.errorf(r, "node-ingress", "the nodes' group %s is not a security group of this template", r)
			}
		} else if name, ok := importOf(g); !ok || !strings.HasSuffix(name, "-storage-ClusterSecurityGroup") {
			c.errorf("", "node-ingress", "the nodes are in group %v, which is neither this template's nor the cluster group", g)
		}
	}
	if len(local) == 0 {
		c.errorf("", "node-ingress", "the nodes have no group of their own")
		return
	}
	fromLB := false
	for _, in := range c.ingresses() {
		if !containsGroup(local, in.group) {
			continue
		}
		src := in.rule["SourceSecurityGroupId"]
		for _, k := range []string{"CidrIp", "CidrIpv6", "SourcePrefixListId"} {
			if v, ok := in.rule[k]; ok {
				c.errorf(in.resource, "node-ingress", "the nodes admit %s %v: only the load balancer's and bastion's groups may reach them", k, v)
			}
		}
		if src == nil {
			continue
		}
		switch {
		case portIs(in.rule, NodePort) && containsGroup(lbGroups, src):
			fromLB = true
		case portIs(in.rule, NodePort) && containsGroup(bastionGroups, src):
		case portIs(in.rule, 22) && containsGroup(bastionGroups, src):
		default:
			c.errorf(in.resource, "node-ingress", "the nodes admit ports %v-%v from %v: only the node port from the load balancer and bastion, SSH from the bastion",
				in.rule["FromPort"], in.rule["ToPort"], src)
		}
	}
	if !fromLB {
		c.errorf("", "node-ingress", "the nodes do not admit the load balancer on port %d (health checks would fail)", NodePort)
	}
}
