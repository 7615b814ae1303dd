package cfn

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stratadb/strata/server"
)

var testParams = Params{
	System:      "demo",
	Version:     "0.4.0",
	BastionCIDR: "203.0.113.0/24",
	QueryGroups: []QueryGroup{{Name: "reports"}},
}

func TestNodePortIsTheServers(t *testing.T) {
	_, port, err := net.SplitHostPort(server.DefaultListen)
	if err != nil {
		t.Fatal(err)
	}
	if port != strconv.Itoa(NodePort) {
		t.Fatalf("NodePort %d, but strata node listens on %s by default", NodePort, server.DefaultListen)
	}
}

func TestRender(t *testing.T) {
	dir := t.TempDir()
	if err := Render(dir, testParams); err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		b, err := os.ReadFile(filepath.Join(dir, k.File()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "[[") || strings.Contains(string(b), "<no value>") {
			t.Errorf("%s: a template action was left unrendered", k.File())
		}
		// CloudFormation takes at most 51,200 bytes of TemplateBody.
		if len(b) > 51200 {
			t.Errorf("%s: %d bytes, over CloudFormation's 51,200 for a template body", k.File(), len(b))
		}
	}
	var params []struct{ ParameterKey, ParameterValue string }
	b, err := os.ReadFile(filepath.Join(dir, "params", "strata-demo-query-reports.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &params); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range params {
		got[p.ParameterKey] = p.ParameterValue
	}
	for k, want := range map[string]string{"SystemName": "demo", "GroupName": "reports", "StrataVersion": "0.4.0", "InstanceType": "i3.large", "MinNodes": "1", "MaxNodes": "4"} {
		if got[k] != want {
			t.Errorf("query group parameter %s = %q, want %q", k, got[k], want)
		}
	}
	for _, name := range []string{"strata-demo-storage.json", "strata-demo-primary.json"} {
		if _, err := os.Stat(filepath.Join(dir, "params", name)); err != nil {
			t.Error(err)
		}
	}
}

// The user data is the script with CloudFormation's substitutions; EC2
// takes at most 16 KiB of it, before base64.
func TestUserDataSize(t *testing.T) {
	for _, k := range []Kind{KindSolo, KindProduction, KindQueryGroup} {
		body, err := Template(k, TemplateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tpl, err := parseTemplate(body)
		if err != nil {
			t.Fatal(err)
		}
		script, ok := subOf(get(tpl, "Resources", "NodeLaunchTemplate", "Properties", "LaunchTemplateData", "UserData", "Fn::Base64"))
		if !ok {
			t.Fatalf("%s: no user data", k)
		}
		// Substituted values (names, ARNs) are short; allow 2 KiB for them.
		if n := len(script) + 2048; n > 16384 {
			t.Errorf("%s: user data about %d bytes, over EC2's 16 KiB", k, n)
		}
		if !strings.HasPrefix(script, "#!/bin/bash\n") {
			t.Errorf("%s: user data does not start with #!/bin/bash", k)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Params)
		want string // in the error; "" for none
	}{
		{"ok", func(*Params) {}, ""},
		{"no system", func(p *Params) { p.System = "" }, "system"},
		{"system with capitals", func(p *Params) { p.System = "Demo" }, "system"},
		{"no version", func(p *Params) { p.Version = "" }, "version"},
		{"open bastion", func(p *Params) { p.BastionCIDR = "0.0.0.0/0" }, "too wide"},
		{"wide bastion", func(p *Params) { p.BastionCIDR = "10.0.0.0/7" }, "too wide"},
		{"ipv6 bastion", func(p *Params) { p.BastionCIDR = "::/0" }, "IPv4"},
		{"open clients", func(p *Params) { p.ClientCIDR = "0.0.0.0/0" }, "client CIDR"},
		{"solo of two", func(p *Params) { p.Nodes = 2 }, "solo"},
		{"production of one", func(p *Params) { p.Topology, p.Nodes = Production, 1 }, "at least 2"},
		{"production without room", func(p *Params) { p.Topology, p.Nodes, p.MaxNodes = Production, 3, 3 }, "must exceed"},
		{"query group primary", func(p *Params) { p.QueryGroups = []QueryGroup{{Name: "primary"}} }, "primary"},
		{"query group twice", func(p *Params) { p.QueryGroups = []QueryGroup{{Name: "a"}, {Name: "a"}} }, "twice"},
		{"query group bounds", func(p *Params) { p.QueryGroups = []QueryGroup{{Name: "a", MinNodes: 5, MaxNodes: 2}} }, "nodes 5..2"},
		{"egress", func(p *Params) { p.PrivateEgress = "internet" }, "private egress"},
		{"load balancer", func(p *Params) { p.Templates.LoadBalancer = "classic" }, "load balancer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams
			tc.edit(&p)
			_, err := p.withDefaults()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseQueryGroup(t *testing.T) {
	g, err := ParseQueryGroup("reports:r6i.large:2:8:50")
	if err != nil {
		t.Fatal(err)
	}
	if g != (QueryGroup{Name: "reports", InstanceType: "r6i.large", MinNodes: 2, MaxNodes: 8, TargetCPU: 50}) {
		t.Fatalf("got %+v", g)
	}
	for _, bad := range []string{"", ":x", "a:b:c", "a:b:1:2:3:4", "a:b:-1"} {
		if _, err := ParseQueryGroup(bad); err == nil {
			t.Errorf("ParseQueryGroup(%q): no error", bad)
		}
	}
}
