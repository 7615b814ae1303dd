package cfn

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stratadb/strata/anomaly"
)

// A template is read into a tree of map[string]any, []any and scalars
// (string, int, float64, bool, nil), with CloudFormation's short forms
// turned into their long forms: `!Ref X` becomes {"Ref": "X"}, `!GetAtt A.B`
// becomes {"Fn::GetAtt": ["A", "B"]}, `!Sub s` becomes {"Fn::Sub": s}. That
// is the tree CloudFormation itself evaluates, so the checks look at one
// form only. go.yaml.in/yaml/v3 (the YAML organization's continuation of
// gopkg.in/yaml.v3) keeps a custom tag on each node instead of refusing it.

// parseTemplate reads a YAML template.
func parseTemplate(body []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "parse template", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, anomaly.New(anomaly.Incorrect, "parse template", "not one YAML document")
	}
	budget := maxTreeNodes
	v, err := treeOf(doc.Content[0], 0, &budget)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "parse template", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "parse template", "the top level is a %T, not a mapping", v)
	}
	return m, nil
}

// maxTreeDepth bounds nesting and maxTreeNodes the nodes of the tree, both
// far above what a template holds (ours are about 3,000 nodes, 12 deep);
// the node bound also stops aliases that expand exponentially ("billion
// laughs").
const (
	maxTreeDepth = 100
	maxTreeNodes = 1 << 17
)

func treeOf(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("line %d: nested deeper than %d", n.Line, maxTreeDepth)
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("line %d: more than %d nodes (aliases expanding?)", n.Line, maxTreeNodes)
	}
	if n.Kind == yaml.AliasNode {
		return treeOf(n.Alias, depth+1, budget)
	}
	if fn, ok := intrinsic(n.Tag); ok {
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		arg, err := treeOf(&plain, depth+1, budget)
		if err != nil {
			return nil, err
		}
		if fn == "Fn::GetAtt" {
			if s, ok := arg.(string); ok {
				res, attr, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q: want RESOURCE.ATTRIBUTE", n.Line, s)
				}
				arg = []any{res, attr}
			}
		}
		return map[string]any{fn: arg}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key that is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q twice", k.Line, k.Value)
			}
			v, err := treeOf(n.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := treeOf(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

// intrinsic maps a short-form tag to the function's long name.
func intrinsic(tag string) (string, bool) {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return "", false
	}
	switch name := tag[1:]; name {
	case "Ref", "Condition":
		return name, true
	case "":
		return "", false
	default:
		return "Fn::" + name, true
	}
}

// Accessors that treat the tree loosely: a missing or mistyped value is
// the zero value, and the checks report what they needed and did not find.

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }
func listOf(v any) []any         { l, _ := v.([]any); return l }
func strOf(v any) string         { s, _ := v.(string); return s }

// get walks keys down nested maps.
func get(v any, keys ...string) any {
	for _, k := range keys {
		v = mapOf(v)[k]
	}
	return v
}

// refOf returns X for {"Ref": "X"}.
func refOf(v any) (string, bool) {
	m := mapOf(v)
	if len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// getAttOf returns (A, B) for {"Fn::GetAtt": ["A", "B"]}.
func getAttOf(v any) (res, attr string, ok bool) {
	m := mapOf(v)
	l := listOf(m["Fn::GetAtt"])
	if len(m) != 1 || len(l) != 2 {
		return "", "", false
	}
	return strOf(l[0]), strOf(l[1]), true
}

// importOf returns the export name of {"Fn::ImportValue": {"Fn::Sub": NAME}}
// or {"Fn::ImportValue": NAME}.
func importOf(v any) (string, bool) {
	m := mapOf(v)
	if len(m) != 1 {
		return "", false
	}
	arg, ok := m["Fn::ImportValue"]
	if !ok {
		return "", false
	}
	if s, ok := arg.(string); ok {
		return s, true
	}
	s, ok := mapOf(arg)["Fn::Sub"].(string)
	return s, ok
}

// subOf returns the text of {"Fn::Sub": TEXT} or {"Fn::Sub": [TEXT, vars]}.
func subOf(v any) (string, bool) {
	m := mapOf(v)
	if len(m) != 1 {
		return "", false
	}
	switch a := m["Fn::Sub"].(type) {
	case string:
		return a, true
	case []any:
		if len(a) == 2 {
			s, ok := a[0].(string)
			return s, ok
		}
	}
	return "", false
}

// isTrue accepts a YAML true or CloudFormation's string "true".
func isTrue(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

// intOf accepts an int or a decimal string.
func intOf(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case string:
		var i int
		if _, err := fmt.Sscanf(n, "%d", &i); err == nil && fmt.Sprint(i) == n {
			return i, true
		}
	}
	return 0, false
}
