package cfn

import (
	"slices"
	"strings"
	"testing"
)

// Every template, in both load balancer variants, keeps every promise.
func TestCheckPasses(t *testing.T) {
	for _, lb := range []LoadBalancer{NetworkLoadBalancer, ApplicationLoadBalancer} {
		for _, k := range Kinds {
			body, err := Template(k, TemplateOptions{LoadBalancer: lb})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range Check(k, body) {
				t.Errorf("%s load balancer: %v", lb, f)
			}
		}
	}
}

// nodeOpenTo is an ingress rule a careless edit might add to a compute template.
func nodeOpenTo(cidr string) string {
	return `  NodeOpen:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref NodeSecurityGroup
      IpProtocol: tcp
      FromPort: 4334
      ToPort: 4334
      CidrIp: ` + cidr + `

  # --- The nodes`
}

// Each mutation breaks one promise; Check must say which.
func TestCheckRejects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kind     Kind
		old, new string
		rule     string // a finding of this rule is expected
	}{
		// Compute: who reaches the nodes.
		{"node port open to the internet", KindProduction, "  # --- The nodes", nodeOpenTo("0.0.0.0/0"), "open-ingress"},
		{"node port open to the internet, node rule", KindProduction, "  # --- The nodes", nodeOpenTo("0.0.0.0/0"), "node-ingress"},
		{"node port open to an address range", KindSolo, "  # --- The nodes", nodeOpenTo("10.0.0.0/8"), "node-ingress"},
		{"query group node port open to the internet", KindQueryGroup, "  # --- The nodes", nodeOpenTo("0.0.0.0/0"), "open-ingress"},
		{"node ssh from the internet, inline", KindProduction,
			"      Tags:\n        - Key: Name\n          Value: !Sub 'strata-${SystemName}-primary-nodes'",
			"      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          CidrIp: 0.0.0.0/0\n      Tags:\n        - Key: Name\n          Value: !Sub 'strata-${SystemName}-primary-nodes'",
			"node-ingress"},
		{"node port from the cluster of another port", KindProduction,
			"      FromPort: 22\n      ToPort: 22\n      SourceSecurityGroupId: !Ref BastionSecurityGroup",
			"      FromPort: 0\n      ToPort: 65535\n      SourceSecurityGroupId: !Ref BastionSecurityGroup", "node-ingress"},
		{"no rule from the load balancer", KindSolo, "      SourceSecurityGroupId: !Ref LoadBalancerSecurityGroup", "      SourceSecurityGroupId: !Ref BastionSecurityGroup", "node-ingress"},
		{"bastion pattern admits anything", KindSolo,
			`    AllowedPattern: '^(\d{1,3}\.){3}\d{1,3}/([89]|[12]\d|3[0-2])$'` + "\n    ConstraintDescription: a CIDR of /8 or narrower (your office or VPN)",
			"    AllowedPattern: '.*'\n    ConstraintDescription: a CIDR of /8 or narrower (your office or VPN)", "open-ingress"},
		{"bastion defaults to the internet", KindProduction,
			"  BastionCidr:\n    Type: String\n", "  BastionCidr:\n    Type: String\n    Default: 0.0.0.0/0\n", "open-ingress"},
		{"all protocols", KindSolo, "      IpProtocol: tcp\n      FromPort: 22", "      IpProtocol: '-1'\n      FromPort: 22", "open-ingress"},
		// Compute: the nodes themselves.
		{"IMDSv1", KindProduction, "          HttpTokens: required", "          HttpTokens: optional", "imds"},
		{"unencrypted root volume", KindQueryGroup, "              Encrypted: true", "              Encrypted: false", "ebs"},
		{"health check on /health", KindProduction, "      HealthCheckPath: /ready", "      HealthCheckPath: /health", "health-check"},
		{"EC2 health checks only", KindProduction, "      HealthCheckType: ELB", "      HealthCheckType: EC2", "asg"},
		{"public load balancer", KindSolo, "      Scheme: internal", "      Scheme: internet-facing", "lb"},
		{"production of one node", KindProduction, "  NodeCount:\n    Type: Number\n    Default: 2\n    MinValue: 2", "  NodeCount:\n    Type: Number\n    Default: 2\n    MinValue: 1", "size"},
		{"production without instance store", KindProduction, "AllowedValues: [i3.large,", "AllowedValues: [m6i.large, i3.large,", "size"},
		{"solo of two", KindSolo, "      MaxSize: '1'", "      MaxSize: '2'", "size"},
		{"no ssd format", KindProduction, "mkfs.xfs -f -K", "echo", "user-data"},
		{"node without its table", KindSolo, "--dynamodb-table", "--table", "user-data"},
		{"admin role", KindSolo, "      ManagedPolicyArns:\n", "      ManagedPolicyArns:\n        - arn:aws:iam::aws:policy/AdministratorAccess\n", "iam-managed"},
		{"role for lambda", KindSolo, "              Service: ec2.amazonaws.com", "              Service: lambda.amazonaws.com", "iam-trust"},
		{"query group without scaling", KindQueryGroup, "      AutoScalingGroupName: !Ref NodeGroup", "      AutoScalingGroupName: other", "scaling"},
		{"latest launch template", KindProduction, "          - !GetAtt NodeLaunchTemplate.LatestVersionNumber", "          - '$Latest'", "asg"},
		// Storage.
		{"no point-in-time recovery", KindStorage, "PointInTimeRecoveryEnabled: true", "PointInTimeRecoveryEnabled: false", "table"},
		{"table encrypted by AWS's key", KindStorage, "        SSEType: KMS\n        KMSMasterKeyId: !GetAtt Key.Arn", "        SSEType: KMS", "table"},
		{"provisioned table", KindStorage, "BillingMode: PAY_PER_REQUEST", "BillingMode: PROVISIONED", "table"},
		{"table deleted with the stack", KindStorage, "    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n    Properties:\n      BillingMode", "    DeletionPolicy: Delete\n    Properties:\n      BillingMode", "retain"},
		{"public bucket", KindStorage, "RestrictPublicBuckets: true", "RestrictPublicBuckets: false", "bucket"},
		{"bucket with SSE-S3", KindStorage, "SSEAlgorithm: aws:kms", "SSEAlgorithm: AES256", "bucket"},
		{"bucket without TLS policy", KindStorage, "            Action: 's3:*'", "            Action: 's3:GetObject'", "bucket-tls"},
		{"TLS policy on the bucket only", KindStorage, "              - !GetAtt Bucket.Arn\n              - !Sub '${Bucket.Arn}/*'\n            Condition:", "              - !GetAtt Bucket.Arn\n            Condition:", "bucket-tls"},
		{"unencrypted file system", KindStorage, "      Encrypted: true\n      KmsKeyId", "      Encrypted: false\n      KmsKeyId", "efs"},
		{"mount target in a public subnet", KindStorage, "      SubnetId: !Ref PrivateSubnetB\n      SecurityGroups", "      SubnetId: !Ref PublicSubnetB\n      SecurityGroups", "efs"},
		{"key not rotated", KindStorage, "EnableKeyRotation: true", "EnableKeyRotation: false", "kms"},
		{"no S3 gateway endpoint", KindStorage, "ServiceName: !Sub 'com.amazonaws.${AWS::Region}.s3'", "ServiceName: !Sub 'com.amazonaws.${AWS::Region}.s3-outposts'", "endpoints"},
		{"log kept forever", KindStorage, "      RetentionInDays: !Ref LogRetentionDays\n", "", "logs"},
		{"nodes write the whole bucket", KindStorage, "            Resource: !Sub '${Bucket.Arn}/${SegmentPrefix}*'", "            Resource: !Sub '${Bucket.Arn}/*'", "iam-policy"},
		{"nodes delete segments", KindStorage, "              - s3:PutObject\n", "              - s3:PutObject\n              - s3:DeleteObject\n", "iam-policy"},
		{"nodes use any key", KindStorage, "              - kms:DescribeKey\n            Resource: !GetAtt Key.Arn", "              - kms:DescribeKey\n            Resource: '*'", "iam-policy"},
		{"nodes do anything to the table", KindStorage, "              - dynamodb:DescribeTable\n", "              - 'dynamodb:*'\n", "iam-policy"},
		{"nodes list the whole bucket", KindStorage, "            Condition:\n              StringLike:\n                's3:prefix':\n                  - !Sub '${SegmentPrefix}*'\n                  - !Sub '${ReleasePrefix}*'\n", "", "iam-policy"},
		{"prefix may be empty", KindStorage, "    Default: segments/\n    AllowedPattern: '^[a-z0-9][a-z0-9/_-]*/$'", "    Default: segments/\n    AllowedPattern: '^.*$'", "iam-policy"},
		{"cluster open to the VPC", KindStorage, "      SourceSecurityGroupId: !Ref ClusterSecurityGroup\n      Description: node to node", "      CidrIp: !Ref VpcCidr\n      Description: node to node", "cluster-ingress"},
		{"NFS from the VPC", KindStorage, "          SourceSecurityGroupId: !Ref ClusterSecurityGroup\n          Description: NFS", "          CidrIp: !Ref VpcCidr\n          Description: NFS", "efs-ingress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := Template(tc.kind, TemplateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			src := string(body)
			if n := strings.Count(src, tc.old); n < 1 {
				t.Fatalf("the %s template does not contain %q: the test is stale", tc.kind, tc.old)
			}
			mutated := strings.Replace(src, tc.old, tc.new, 1)
			findings := Check(tc.kind, []byte(mutated))
			if !slices.ContainsFunc(findings, func(f Finding) bool { return f.Rule == tc.rule && f.Level == LevelError }) {
				t.Fatalf("no %s error; findings: %v", tc.rule, findings)
			}
		})
	}
}

func TestCheckUnparsable(t *testing.T) {
	for _, body := range []string{"", "[1, 2]", "a: [", "Resources: {}", "Resources:\n  A: !GetAtt nodot"} {
		if f := Check(KindStorage, []byte(body)); len(f) == 0 {
			t.Errorf("Check(%q): no finding", body)
		}
	}
}

func TestParseShortForms(t *testing.T) {
	tpl, err := parseTemplate([]byte(`
Resources:
  A:
    Properties:
      R: !Ref X
      G: !GetAtt B.Arn
      S: !Sub 'x-${Y}'
      J: !Join [',', [!Ref P, !Ref Q]]
      I: !If [C, 1, !Ref AWS::NoValue]
      N: 3
      T: true
`))
	if err != nil {
		t.Fatal(err)
	}
	p := mapOf(get(tpl, "Resources", "A", "Properties"))
	if r, _ := refOf(p["R"]); r != "X" {
		t.Errorf("!Ref: %v", p["R"])
	}
	if r, a, _ := getAttOf(p["G"]); r != "B" || a != "Arn" {
		t.Errorf("!GetAtt: %v", p["G"])
	}
	if s, _ := subOf(p["S"]); s != "x-${Y}" {
		t.Errorf("!Sub: %v", p["S"])
	}
	if j := listOf(mapOf(p["J"])["Fn::Join"]); len(j) != 2 || len(listOf(j[1])) != 2 {
		t.Errorf("!Join: %v", p["J"])
	}
	if i := listOf(mapOf(p["I"])["Fn::If"]); len(i) != 3 || i[1] != 1 {
		t.Errorf("!If: %v", p["I"])
	}
	if p["N"] != 3 || p["T"] != true {
		t.Errorf("scalars: %v %v", p["N"], p["T"])
	}
}

// FuzzCheck: Check parses whatever it is given and never panics.
func FuzzCheck(f *testing.F) {
	for _, k := range Kinds {
		body, err := Template(k, TemplateOptions{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), body)
	}
	f.Add(uint8(1), []byte("Resources:\n  A: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, k uint8, body []byte) {
		Check(Kinds[int(k)%len(Kinds)], body)
	})
}
