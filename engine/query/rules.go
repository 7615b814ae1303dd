package query

import (
	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
)

// Rules. A call of a rule that does not call itself (through any chain of
// calls) runs top-down: each head's body is evaluated from the caller's
// bindings of the arguments, so required variables ([?x] in the head) may
// feed predicates and functions. A recursive rule is computed bottom-up to
// its fixpoint, semi-naively: after the first round, each round evaluates
// a body once per recursive call in it, with that call reading only the
// tuples the previous round added, until a round adds nothing.

// Limits of rule evaluation.
const (
	MaxRuleRounds = 1 << 16
	MaxRuleTuples = 1 << 24
)

type ruleSet struct {
	defs      map[string][]Rule
	recursive map[string]bool
	// The fixpoint of every recursive rule, once computed (per query).
	full  map[string]*rowSet
	delta map[string]*relation
	// deltaCall is the call that reads delta in the current round.
	deltaCall *RuleCall
	computing bool
}

// rulesInput reads the % input: parsed rules, or their EDN.
func rulesInput(v any) (*ruleSet, error) {
	var defs map[string][]Rule
	switch v := v.(type) {
	case map[string][]Rule:
		defs = v
	case edn.Vector:
		var err error
		if defs, err = ParseRules(v); err != nil {
			return nil, err
		}
	case string:
		parsed, err := edn.Parse([]byte(v))
		if err != nil {
			return nil, anomaly.Wrap(anomaly.Incorrect, "rules", err)
		}
		if defs, err = ParseRules(parsed); err != nil {
			return nil, err
		}
	default:
		return nil, errorf(nil, "the rules input (%%) must be rules (ParseRules) or their EDN, not %T", v)
	}
	rs := &ruleSet{defs: defs, recursive: map[string]bool{}, full: map[string]*rowSet{}, delta: map[string]*relation{}}
	// A rule is recursive if it can reach itself through calls.
	calls := map[string][]string{}
	for name, ds := range defs {
		for _, d := range ds {
			for _, c := range d.Body {
				ruleCalls(c, func(rc *RuleCall) { calls[name] = append(calls[name], rc.Name) })
			}
		}
	}
	for name := range defs {
		seen := map[string]bool{}
		stack := append([]string{}, calls[name]...)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n == name {
				rs.recursive[name] = true
				break
			}
			if !seen[n] {
				seen[n] = true
				stack = append(stack, calls[n]...)
			}
		}
	}
	return rs, nil
}

// ruleCalls calls fn with every rule call in c, nested ones too.
func ruleCalls(c Clause, fn func(*RuleCall)) {
	switch c := c.(type) {
	case *RuleCall:
		fn(c)
	case *Not:
		for _, b := range c.Body {
			ruleCalls(b, fn)
		}
	case *Or:
		for _, br := range c.Branches {
			for _, b := range br {
				ruleCalls(b, fn)
			}
		}
	}
}

// call joins rel with a rule call.
func (ev *evaluator) call(c *RuleCall, rel *relation) (*relation, error) {
	rs := ev.rules
	if rs == nil {
		return nil, errorf(nil, "rule %s is called but no rules were given (in %s)", c.Name, c.form)
	}
	defs, ok := rs.defs[c.Name]
	if !ok {
		return nil, errorf(nil, "unknown rule %s (in %s)", c.Name, c.form)
	}
	if len(c.Args) != len(defs[0].Vars) {
		return nil, errorf(nil, "rule %s takes %d arguments, not %d (in %s)", c.Name, len(defs[0].Vars), len(c.Args), c.form)
	}
	bound := func(t Term) bool {
		switch t := t.(type) {
		case Const:
			return true
		case Var:
			return rel.col(t) >= 0
		}
		return false
	}
	for i := range defs[0].Required {
		if !bound(c.Args[i]) {
			return nil, errorf(nil, "insufficient binding: rule %s requires %s bound (in %s)", c.Name, defs[0].Required[i], c.form)
		}
	}
	sub, err := ev.withDefault(c.Src, c.form)
	if err != nil {
		return nil, err
	}
	var heads *relation // the rule's tuples, over its head variables
	if rs.recursive[c.Name] {
		if heads, err = sub.fixpoint(c); err != nil {
			return nil, err
		}
	} else {
		// Top-down from the caller's bindings of the bound arguments.
		var seedVars []Var // head variables the caller binds
		var seedFrom []Term
		for i, a := range c.Args {
			if bound(a) {
				seedVars = append(seedVars, defs[0].Vars[i])
				seedFrom = append(seedFrom, a)
			}
		}
		seed := seedRelation(rel, seedVars, seedFrom)
		set := newRowSet(defs[0].Vars)
		for _, d := range defs {
			start := renameVars(seed, defs[0].Vars, d.Vars)
			res, err := sub.sub(d.Body, start)
			if err != nil {
				return nil, err
			}
			for _, v := range d.Vars {
				if res.col(v) < 0 {
					return nil, errorf(nil, "rule %s does not bind %s (in %s)", c.Name, v, c.form)
				}
			}
			set.addAll(project(res, d.Vars))
		}
		heads = set.rel
	}
	return join(rel, argsRelation(heads, defs[0].Vars, c.Args)), nil
}

// seedRelation is the distinct rows of rel's values for the bound
// arguments, as the head variables they feed.
func seedRelation(rel *relation, headVars []Var, from []Term) *relation {
	out := newRowSet(headVars)
	for _, row := range rel.rows {
		vals := make([]datom.Value, len(from))
		for i, t := range from {
			switch t := t.(type) {
			case Const:
				vals[i] = constValue(t.V)
			case Var:
				vals[i] = row[rel.col(t)]
			}
		}
		out.add(vals)
	}
	if len(headVars) == 0 {
		out.rel.rows = [][]datom.Value{{}}
	}
	return out.rel
}

// renameVars renames the variables of r from one head's names to
// another's (rule heads of one name may name their variables apart).
func renameVars(r *relation, from, to []Var) *relation {
	out := &relation{rows: r.rows}
	for _, v := range r.vars {
		nv := v
		for i, f := range from {
			if f == v {
				nv = to[i]
				break
			}
		}
		out.vars = append(out.vars, nv)
	}
	return out
}

// rowSet is a relation without duplicate rows, with the keys of its rows
// kept so that adding to it costs what is added.
type rowSet struct {
	rel  *relation
	seen *rowMap[struct{}]
	cols []int
}

func newRowSet(vars []Var) *rowSet {
	return &rowSet{rel: &relation{vars: vars, distinct: true}, seen: newRowMap[struct{}](0), cols: allCols(len(vars))}
}

func (s *rowSet) has(row []datom.Value) bool {
	_, ok := s.seen.get(row, s.cols)
	return ok
}

// add adds row unless the set has it, and reports whether it did.
func (s *rowSet) add(row []datom.Value) bool {
	if _, ok := s.seen.get(row, s.cols); ok {
		return false
	}
	s.seen.put(row, s.cols, struct{}{})
	s.rel.rows = append(s.rel.rows, row)
	return true
}

// addAll adds r's rows (r has the set's variables, in its order).
func (s *rowSet) addAll(r *relation) {
	for _, row := range r.rows {
		s.add(row)
	}
}

// argsRelation turns a rule's tuples (over its head variables) into the
// caller's terms: variables named as the caller names them, constants and
// repeated variables as filters, blanks dropped.
func argsRelation(heads *relation, headVars []Var, args []Term) *relation {
	out := &relation{}
	var cols []int
	for i, a := range args {
		if v, ok := a.(Var); ok && !containsVar(out.vars, v) {
			out.vars = append(out.vars, v)
			cols = append(cols, heads.col(headVars[i]))
		}
	}
next:
	for _, row := range heads.rows {
		first := map[Var]datom.Value{}
		for i, a := range args {
			v := row[heads.col(headVars[i])]
			switch a := a.(type) {
			case Const:
				if !datom.EqualValue(constValue(a.V), v) && compareLoose(constValue(a.V), v) != 0 {
					continue next
				}
			case Var:
				if prev, ok := first[a]; ok && !datom.EqualValue(prev, v) {
					continue next
				}
				first[a] = v
			}
		}
		vals := make([]datom.Value, len(cols))
		for i, c := range cols {
			vals[i] = row[c]
		}
		out.rows = append(out.rows, vals)
	}
	return out
}

// fixpoint computes every recursive rule bottom-up, semi-naively, once per
// query, and returns the called one's tuples.
func (ev *evaluator) fixpoint(c *RuleCall) (*relation, error) {
	rs := ev.rules
	if r, ok := rs.full[c.Name]; ok && !rs.computing {
		return r.rel, nil
	}
	if rs.computing {
		// A call inside a body during the computation: the current full
		// relation, or the delta for the call being differentiated.
		if c == rs.deltaCall {
			return rs.delta[c.Name], nil
		}
		return rs.full[c.Name].rel, nil
	}
	rs.computing = true
	defer func() { rs.computing = false; rs.deltaCall = nil }()
	for name := range rs.recursive {
		rs.full[name] = newRowSet(rs.defs[name][0].Vars)
		rs.delta[name] = &relation{vars: rs.defs[name][0].Vars}
	}
	unit := &relation{rows: [][]datom.Value{{}}}
	eval := func(name string, d Rule) (*relation, error) {
		res, err := ev.sub(d.Body, unit)
		if err != nil {
			return nil, err
		}
		for _, v := range d.Vars {
			if res.col(v) < 0 {
				return nil, errorf(nil, "recursive rule %s does not bind %s on its own (required bindings of recursive rules are not evaluated yet)", name, v)
			}
		}
		return renameVars(project(res, d.Vars), d.Vars, rs.defs[name][0].Vars), nil
	}
	total := 0
	// addNew keeps the rows of r that the rule does not have yet.
	addNew := func(next map[string]*rowSet, name string, r *relation) {
		if next[name] == nil {
			next[name] = newRowSet(r.vars)
		}
		for _, row := range r.rows {
			if !rs.full[name].has(row) {
				next[name].add(row)
			}
		}
	}
	// Round one: every body, with the recursive relations empty.
	next := map[string]*rowSet{}
	for name := range rs.recursive {
		for _, d := range rs.defs[name] {
			r, err := eval(name, d)
			if err != nil {
				return nil, err
			}
			addNew(next, name, r)
		}
	}
	for round := 0; ; round++ {
		grew := false
		for name, d := range next {
			if len(d.rel.rows) > 0 {
				grew = true
				total += len(d.rel.rows)
			}
			rs.full[name].addAll(d.rel)
			rs.delta[name] = d.rel
		}
		for name := range rs.recursive {
			if _, ok := next[name]; !ok {
				rs.delta[name] = &relation{vars: rs.defs[name][0].Vars}
			}
		}
		if !grew {
			break
		}
		if round >= MaxRuleRounds || total > MaxRuleTuples {
			return nil, anomaly.New(anomaly.Incorrect, "query", "rule %s did not reach a fixpoint within %d rounds and %d tuples", c.Name, MaxRuleRounds, MaxRuleTuples)
		}
		if err := ev.ctx.Err(); err != nil {
			return nil, anomaly.Wrap(anomaly.Interrupted, "query", err)
		}
		next = map[string]*rowSet{}
		for name := range rs.recursive {
			for _, d := range rs.defs[name] {
				for _, bc := range d.Body {
					rc, ok := bc.(*RuleCall)
					if !ok || !rs.recursive[rc.Name] || len(rs.delta[rc.Name].rows) == 0 {
						continue
					}
					rs.deltaCall = rc
					r, err := eval(name, d)
					rs.deltaCall = nil
					if err != nil {
						return nil, err
					}
					addNew(next, name, r)
				}
			}
		}
	}
	return rs.full[c.Name].rel, nil
}
