// Package query is strata's Datalog: the query language as Datomic users
// write it (EDN, vector or map form), parsed into clauses here, planned and
// evaluated over engine database values (issue 5).
package query

import (
	"fmt"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/edn"
)

// Query is a parsed query.
type Query struct {
	Find FindSpec
	// Keys names the columns of a relation (:keys, :strs or :syms).
	Keys     []string
	KeysKind KeysKind
	With     []Var
	In       []Input // default: one source, $
	Where    []Clause
}

// KeysKind says how :find results become maps.
type KeysKind uint8

const (
	KeysNone KeysKind = iota
	KeysKeywords
	KeysStrings
	KeysSymbols
)

// Term is what a clause position holds: a Var, a Blank, a SrcVar (only
// where a source goes) or a Const.
type Term interface{ isTerm() }

// Var is a logic variable, "?x".
type Var string

// Blank is _.
type Blank struct{}

// SrcVar names a source, "$" or "$name".
type SrcVar string

// Const is a constant: any EDN value but a symbol (keywords, strings,
// numbers, booleans, nil, vectors of constants for tuples).
type Const struct{ V any }

func (Var) isTerm()    {}
func (Blank) isTerm()  {}
func (SrcVar) isTerm() {}
func (Const) isTerm()  {}

// FindKind is the shape of the result.
type FindKind uint8

const (
	FindRel    FindKind = iota // [:find ?a ?b]: a set of tuples
	FindColl                   // [:find [?a ...]]: a collection
	FindScalar                 // [:find ?a .]: one value
	FindTuple                  // [:find [?a ?b]]: one tuple
)

// FindSpec is :find's shape and elements.
type FindSpec struct {
	Kind  FindKind
	Elems []FindElem
}

// FindElem is a Var, a PullElem or an AggElem.
type FindElem interface{ isFind() }

// PullElem is (pull ?e pattern) or (pull $src ?e pattern).
type PullElem struct {
	Src     SrcVar
	Var     Var
	Pattern any // the EDN pattern (a vector) or a Var bound by :in
}

// AggElem is an aggregate, (count ?x), (max 3 ?x), (sample 10 ?x), (my/agg ?x).
type AggElem struct {
	Fn   string
	Args []Term // leading constants, then the aggregated Var last
}

func (Var) isFind()      {}
func (PullElem) isFind() {}
func (AggElem) isFind()  {}

// Input is one :in binding.
type Input interface{ isInput() }

type (
	// SrcInput binds a source ($, $x).
	SrcInput struct{ Src SrcVar }
	// RulesInput is %: the rules.
	RulesInput struct{}
	// ScalarInput binds one value.
	ScalarInput struct{ Var Var }
	// TupleInput binds a tuple, [?a ?b].
	TupleInput struct{ Vars []Term } // Var or Blank
	// CollInput binds each of a collection, [?a ...].
	CollInput struct{ Var Var }
	// RelInput binds a relation, [[?a ?b]].
	RelInput struct{ Vars []Term }
)

func (SrcInput) isInput()    {}
func (RulesInput) isInput()  {}
func (ScalarInput) isInput() {}
func (TupleInput) isInput()  {}
func (CollInput) isInput()   {}
func (RelInput) isInput()    {}

// Clause is one :where clause.
type Clause interface {
	isClause()
	// Form is the clause as written, for messages and explain.
	Form() string
}

type (
	// Pattern is a data pattern, [$src? e a v tx added].
	Pattern struct {
		Src   SrcVar
		Terms []Term
		form  string
	}
	// Pred is a predicate expression, [(< ?a 3)].
	Pred struct {
		Fn   string
		Args []Term
		form string
	}
	// Fn is a function expression with a binding, [(+ ?a 1) ?b].
	Fn struct {
		Fn   string
		Args []Term
		Bind Binding
		form string
	}
	// Not is (not clause...) or (not-join [?v...] clause...).
	Not struct {
		Src    SrcVar
		Join   []Var // nil for not: every variable it shares with the query
		Body   []Clause
		form   string
		isJoin bool
	}
	// Or is (or branch...) or (or-join [[?req...] ?free...] branch...);
	// a branch is one clause or (and clause...).
	Or struct {
		Src      SrcVar
		Required []Var
		Join     []Var // nil for or: every variable of the branches
		Branches [][]Clause
		form     string
		isJoin   bool
	}
	// RuleCall is (rule-name $src? arg...).
	RuleCall struct {
		Src  SrcVar
		Name string
		Args []Term
		form string
	}
)

func (*Pattern) isClause()  {}
func (*Pred) isClause()     {}
func (*Fn) isClause()       {}
func (*Not) isClause()      {}
func (*Or) isClause()       {}
func (*RuleCall) isClause() {}

func (c *Pattern) Form() string  { return c.form }
func (c *Pred) Form() string     { return c.form }
func (c *Fn) Form() string       { return c.form }
func (c *Not) Form() string      { return c.form }
func (c *Or) Form() string       { return c.form }
func (c *RuleCall) Form() string { return c.form }

// Binding is how a function's result binds: BindScalar ?x, BindTuple
// [?a ?b], BindColl [?x ...], BindRel [[?a ?b]].
type Binding interface{ isBinding() }

type (
	BindScalar struct{ Var Var }
	BindTuple  struct{ Vars []Term }
	BindColl   struct{ Var Var }
	BindRel    struct{ Vars []Term }
)

func (BindScalar) isBinding() {}
func (BindTuple) isBinding()  {}
func (BindColl) isBinding()   {}
func (BindRel) isBinding()    {}

// Rule is one head and body of a rule; several with one name are a
// disjunction.
type Rule struct {
	Name     string
	Required []Var // [?x] in the head: must be bound when called
	Vars     []Var
	Body     []Clause
}

// Limits of a query (bound everything: STYLE.md).
const (
	MaxClauses  = 1 << 12 // clauses in a query or rule set, nested ones counted
	MaxNesting  = 32      // depth of not/or/and nesting
	MaxFindElem = 256
)

// Error is a query that cannot be parsed or run as written: an
// anomaly.Incorrect naming the clause.
func errorf(form any, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if form != nil {
		msg += " (in " + formString(form) + ")"
	}
	return anomaly.New(anomaly.Incorrect, "query", "%s", msg)
}

func formString(form any) string {
	b, err := edn.Marshal(form)
	if err != nil {
		return fmt.Sprint(form)
	}
	s := string(b)
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// Parse parses a query from EDN text.
func Parse(src []byte) (*Query, error) {
	v, err := edn.Parse(src)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "query", err)
	}
	return FromEDN(v)
}

// FromEDN parses a query from its EDN value: the vector form [:find ...
// :in ... :where ...] or the map form {:find [...] :in [...] :where [...]}.
func FromEDN(v any) (*Query, error) {
	sections, err := sectionsOf(v)
	if err != nil {
		return nil, err
	}
	p := &parser{}
	q := &Query{}
	find, ok := sections["find"]
	if !ok || len(find) == 0 {
		return nil, errorf(v, ":find is missing or empty")
	}
	if q.Find, err = p.findSpec(find); err != nil {
		return nil, err
	}
	for _, kk := range []struct {
		name string
		kind KeysKind
	}{{"keys", KeysKeywords}, {"strs", KeysStrings}, {"syms", KeysSymbols}} {
		ks, ok := sections[kk.name]
		if !ok {
			continue
		}
		if q.KeysKind != KeysNone {
			return nil, errorf(v, "only one of :keys, :strs and :syms")
		}
		if q.Find.Kind != FindRel {
			return nil, errorf(v, ":%s needs a relation :find", kk.name)
		}
		if len(ks) != len(q.Find.Elems) {
			return nil, errorf(v, ":%s names %d columns, :find has %d", kk.name, len(ks), len(q.Find.Elems))
		}
		q.KeysKind = kk.kind
		for _, k := range ks {
			s, ok := k.(edn.Symbol)
			if !ok {
				return nil, errorf(k, ":%s takes symbols", kk.name)
			}
			q.Keys = append(q.Keys, s.String())
		}
	}
	for _, w := range sections["with"] {
		v, ok := asVar(w)
		if !ok {
			return nil, errorf(w, ":with takes variables")
		}
		q.With = append(q.With, v)
	}
	in, hasIn := sections["in"]
	if !hasIn {
		q.In = []Input{SrcInput{"$"}}
	}
	for _, i := range in {
		inp, err := p.input(i)
		if err != nil {
			return nil, err
		}
		q.In = append(q.In, inp)
	}
	if q.Where, err = p.clauses(sections["where"], 0); err != nil {
		return nil, err
	}
	if err := check(q); err != nil {
		return nil, err
	}
	return q, nil
}

// sectionsOf splits a query into its keyword sections.
func sectionsOf(v any) (map[string][]any, error) {
	out := map[string][]any{}
	known := map[string]bool{"find": true, "keys": true, "strs": true, "syms": true, "with": true, "in": true, "where": true}
	switch q := v.(type) {
	case edn.Vector:
		cur := ""
		for _, x := range q {
			if k, ok := x.(edn.Keyword); ok && k.Namespace == "" {
				if !known[k.Name] {
					return nil, errorf(k, "unknown query section")
				}
				if _, dup := out[k.Name]; dup {
					return nil, errorf(k, "section given twice")
				}
				cur = k.Name
				out[cur] = []any{}
				continue
			}
			if cur == "" {
				return nil, errorf(x, "a query starts with :find")
			}
			out[cur] = append(out[cur], x)
		}
	case edn.Map:
		for _, e := range q {
			k, ok := e.Key.(edn.Keyword)
			if !ok || k.Namespace != "" || !known[k.Name] {
				if ok && (k.Name == "timeout" || k.Name == "offset" || k.Name == "limit" || k.Name == "args" || k.Name == "query") {
					continue // options of the query call, read by the caller
				}
				return nil, errorf(e.Key, "unknown query section")
			}
			seq, ok := e.Value.(edn.Vector)
			if !ok {
				if l, isList := e.Value.(edn.List); isList {
					seq = edn.Vector(l)
				} else {
					return nil, errorf(e.Value, ":%s takes a vector", k.Name)
				}
			}
			out[k.Name] = seq
		}
	default:
		return nil, errorf(v, "a query is a vector [:find ...] or a map {:find [...]}")
	}
	return out, nil
}

type parser struct {
	clauseCount int
}

func asVar(v any) (Var, bool) {
	s, ok := v.(edn.Symbol)
	if !ok || s.Namespace != "" || len(s.Name) < 2 || s.Name[0] != '?' {
		return "", false
	}
	return Var(s.Name), true
}

func asSrc(v any) (SrcVar, bool) {
	s, ok := v.(edn.Symbol)
	if !ok || s.Namespace != "" || s.Name == "" || s.Name[0] != '$' {
		return "", false
	}
	return SrcVar(s.Name), true
}

func isSym(v any, name string) bool {
	s, ok := v.(edn.Symbol)
	return ok && s.Namespace == "" && s.Name == name
}

// term parses a clause argument.
func term(v any) (Term, error) {
	if x, ok := asVar(v); ok {
		return x, nil
	}
	if isSym(v, "_") {
		return Blank{}, nil
	}
	if s, ok := asSrc(v); ok {
		return s, nil
	}
	if s, ok := v.(edn.Symbol); ok {
		return nil, errorf(s, "a symbol here must be a variable (?x), _ or a source ($x)")
	}
	if _, err := goToValue(v); err != nil {
		return nil, errorf(v, "a constant must be a value: %v", err)
	}
	return Const{v}, nil
}

func (p *parser) findSpec(find []any) (FindSpec, error) {
	// [:find [?a ...]], [:find ?a .], [:find [?a ?b]]
	if len(find) == 2 && isSym(find[1], ".") {
		e, err := p.findElem(find[0])
		return FindSpec{Kind: FindScalar, Elems: []FindElem{e}}, err
	}
	if len(find) == 1 {
		if v, ok := find[0].(edn.Vector); ok {
			if len(v) == 2 && isSym(v[1], "...") {
				e, err := p.findElem(v[0])
				return FindSpec{Kind: FindColl, Elems: []FindElem{e}}, err
			}
			spec := FindSpec{Kind: FindTuple}
			for _, x := range v {
				e, err := p.findElem(x)
				if err != nil {
					return spec, err
				}
				spec.Elems = append(spec.Elems, e)
			}
			if len(spec.Elems) == 0 {
				return spec, errorf(v, "an empty :find tuple")
			}
			return spec, nil
		}
	}
	if len(find) > MaxFindElem {
		return FindSpec{}, errorf(nil, ":find has %d elements (max %d)", len(find), MaxFindElem)
	}
	spec := FindSpec{Kind: FindRel}
	for _, x := range find {
		if isSym(x, ".") || isSym(x, "...") {
			return spec, errorf(x, "misplaced in :find")
		}
		e, err := p.findElem(x)
		if err != nil {
			return spec, err
		}
		spec.Elems = append(spec.Elems, e)
	}
	return spec, nil
}

func (p *parser) findElem(x any) (FindElem, error) {
	if v, ok := asVar(x); ok {
		return v, nil
	}
	l, ok := x.(edn.List)
	if !ok || len(l) == 0 {
		return nil, errorf(x, ":find takes variables, (pull ?e pattern) and aggregates")
	}
	fn, ok := l[0].(edn.Symbol)
	if !ok {
		return nil, errorf(x, "a :find expression starts with a symbol")
	}
	if fn.Namespace == "" && fn.Name == "pull" {
		args := l[1:]
		var pe PullElem
		if len(args) == 3 {
			src, ok := asSrc(args[0])
			if !ok {
				return nil, errorf(x, "pull takes an optional source, a variable and a pattern")
			}
			pe.Src, args = src, args[1:]
		}
		if len(args) != 2 {
			return nil, errorf(x, "pull takes an optional source, a variable and a pattern")
		}
		v, ok := asVar(args[0])
		if !ok {
			return nil, errorf(x, "pull's entity must be a variable")
		}
		pe.Var = v
		if pv, ok := asVar(args[1]); ok {
			pe.Pattern = pv
		} else if _, ok := args[1].(edn.Vector); ok {
			pe.Pattern = args[1]
		} else {
			return nil, errorf(x, "pull's pattern must be a vector or a variable bound by :in")
		}
		if pe.Src == "" {
			pe.Src = "$"
		}
		return pe, nil
	}
	agg := AggElem{Fn: fn.String()}
	if len(l) < 2 {
		return nil, errorf(x, "aggregate %s needs a variable", agg.Fn)
	}
	for i, a := range l[1:] {
		t, err := term(a)
		if err != nil {
			return nil, err
		}
		last := i == len(l)-2
		if _, isVar := t.(Var); isVar != last {
			return nil, errorf(x, "an aggregate takes constants, then the variable it aggregates, last")
		}
		agg.Args = append(agg.Args, t)
	}
	return agg, nil
}

func (p *parser) input(i any) (Input, error) {
	if s, ok := asSrc(i); ok {
		return SrcInput{s}, nil
	}
	if isSym(i, "%") {
		return RulesInput{}, nil
	}
	if v, ok := asVar(i); ok {
		return ScalarInput{v}, nil
	}
	v, ok := i.(edn.Vector)
	if !ok || len(v) == 0 {
		return nil, errorf(i, ":in takes sources, %%, variables, [?a ?b], [?a ...] and [[?a ?b]]")
	}
	if len(v) == 2 && isSym(v[1], "...") {
		x, ok := asVar(v[0])
		if !ok {
			return nil, errorf(i, "a collection binding is [?x ...]")
		}
		return CollInput{x}, nil
	}
	if len(v) == 1 {
		if inner, ok := v[0].(edn.Vector); ok {
			vars, err := bindVars(inner, i)
			return RelInput{vars}, err
		}
	}
	vars, err := bindVars(v, i)
	return TupleInput{vars}, err
}

func bindVars(v edn.Vector, form any) ([]Term, error) {
	if len(v) == 0 {
		return nil, errorf(form, "an empty binding")
	}
	var out []Term
	for _, x := range v {
		if isSym(x, "_") {
			out = append(out, Blank{})
			continue
		}
		xv, ok := asVar(x)
		if !ok {
			return nil, errorf(form, "a binding takes variables and _")
		}
		out = append(out, xv)
	}
	return out, nil
}

func (p *parser) clauses(cs []any, depth int) ([]Clause, error) {
	if depth > MaxNesting {
		return nil, errorf(nil, "clauses nest deeper than %d", MaxNesting)
	}
	out := make([]Clause, 0, len(cs))
	for _, c := range cs {
		cl, err := p.clause(c, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, cl)
	}
	return out, nil
}

func (p *parser) clause(c any, depth int) (Clause, error) {
	if p.clauseCount++; p.clauseCount > MaxClauses {
		return nil, errorf(nil, "more than %d clauses", MaxClauses)
	}
	form := formString(c)
	switch c := c.(type) {
	case edn.Vector:
		if len(c) == 0 {
			return nil, errorf(c, "an empty clause")
		}
		if l, ok := c[0].(edn.List); ok {
			return p.expr(c, l, form)
		}
		pat := &Pattern{Src: "$", form: form}
		terms := []any(c)
		if s, ok := asSrc(terms[0]); ok {
			pat.Src, terms = s, terms[1:]
		}
		if len(terms) == 0 || len(terms) > 5 {
			return nil, errorf(c, "a data pattern has 1 to 5 elements [e a v tx added]")
		}
		for _, t := range terms {
			tt, err := term(t)
			if err != nil {
				return nil, err
			}
			if _, isSrc := tt.(SrcVar); isSrc {
				return nil, errorf(c, "a source goes first in a data pattern")
			}
			pat.Terms = append(pat.Terms, tt)
		}
		return pat, nil
	case edn.List:
		if len(c) == 0 {
			return nil, errorf(c, "an empty clause")
		}
		src := SrcVar("")
		rest := []any(c)
		if s, ok := asSrc(rest[0]); ok {
			src, rest = s, rest[1:]
			if len(rest) == 0 {
				return nil, errorf(c, "a source with no clause")
			}
		}
		head, ok := rest[0].(edn.Symbol)
		if !ok {
			return nil, errorf(c, "a list clause starts with not, not-join, or, or-join, and, or a rule name")
		}
		switch head.String() {
		case "not":
			body, err := p.clauses(rest[1:], depth+1)
			if err != nil {
				return nil, err
			}
			if len(body) == 0 {
				return nil, errorf(c, "not needs clauses")
			}
			return &Not{Src: src, Body: body, form: form}, nil
		case "not-join":
			if len(rest) < 3 {
				return nil, errorf(c, "not-join takes [?vars] and clauses")
			}
			jv, ok := rest[1].(edn.Vector)
			if !ok {
				return nil, errorf(c, "not-join takes [?vars] and clauses")
			}
			join, err := varList(jv, c)
			if err != nil {
				return nil, err
			}
			body, err := p.clauses(rest[2:], depth+1)
			if err != nil {
				return nil, err
			}
			return &Not{Src: src, Join: join, Body: body, form: form, isJoin: true}, nil
		case "or", "or-join":
			o := &Or{Src: src, form: form}
			branches := rest[1:]
			if head.Name == "or-join" {
				o.isJoin = true
				if len(rest) < 3 {
					return nil, errorf(c, "or-join takes [?vars] and branches")
				}
				jv, ok := rest[1].(edn.Vector)
				if !ok {
					return nil, errorf(c, "or-join takes [?vars] and branches")
				}
				req, free, err := ruleVars(jv, c)
				if err != nil {
					return nil, err
				}
				o.Required, o.Join = req, append(append([]Var{}, req...), free...)
				branches = rest[2:]
			}
			if len(branches) == 0 {
				return nil, errorf(c, "%s needs branches", head.Name)
			}
			for _, b := range branches {
				if bl, ok := b.(edn.List); ok && len(bl) > 0 && isSym(bl[0], "and") {
					body, err := p.clauses(bl[1:], depth+1)
					if err != nil {
						return nil, err
					}
					if len(body) == 0 {
						return nil, errorf(b, "and needs clauses")
					}
					o.Branches = append(o.Branches, body)
					continue
				}
				cl, err := p.clause(b, depth+1)
				if err != nil {
					return nil, err
				}
				o.Branches = append(o.Branches, []Clause{cl})
			}
			return o, nil
		case "and":
			return nil, errorf(c, "and belongs inside or and or-join")
		}
		if head.Namespace != "" || strings.HasPrefix(head.Name, "?") || head.Name == "_" {
			return nil, errorf(c, "a rule name is a plain symbol")
		}
		call := &RuleCall{Src: src, Name: head.Name, form: form}
		for _, a := range rest[1:] {
			t, err := term(a)
			if err != nil {
				return nil, err
			}
			if _, isSrc := t.(SrcVar); isSrc {
				return nil, errorf(c, "a source goes before the rule name")
			}
			call.Args = append(call.Args, t)
		}
		if len(call.Args) == 0 {
			return nil, errorf(c, "rule %s called without arguments", head.Name)
		}
		return call, nil
	}
	return nil, errorf(c, "a clause is a vector (pattern, predicate, function) or a list (not, or, rule)")
}

// expr parses [(f args...)] and [(f args...) binding].
func (p *parser) expr(c edn.Vector, l edn.List, form string) (Clause, error) {
	if len(l) == 0 {
		return nil, errorf(c, "an empty expression")
	}
	fn, ok := l[0].(edn.Symbol)
	if !ok {
		return nil, errorf(c, "an expression starts with a function's symbol")
	}
	var args []Term
	for _, a := range l[1:] {
		t, err := term(a)
		if err != nil {
			return nil, err
		}
		args = append(args, t)
	}
	switch len(c) {
	case 1:
		return &Pred{Fn: fn.String(), Args: args, form: form}, nil
	case 2:
		b, err := binding(c[1], c)
		if err != nil {
			return nil, err
		}
		return &Fn{Fn: fn.String(), Args: args, Bind: b, form: form}, nil
	}
	return nil, errorf(c, "an expression clause is [(f ...)] or [(f ...) binding]")
}

func binding(b any, form any) (Binding, error) {
	if v, ok := asVar(b); ok {
		return BindScalar{v}, nil
	}
	v, ok := b.(edn.Vector)
	if !ok || len(v) == 0 {
		return nil, errorf(form, "a function binds ?x, [?a ?b], [?x ...] or [[?a ?b]]")
	}
	if len(v) == 2 && isSym(v[1], "...") {
		x, ok := asVar(v[0])
		if !ok {
			return nil, errorf(form, "a collection binding is [?x ...]")
		}
		return BindColl{x}, nil
	}
	if len(v) == 1 {
		if inner, ok := v[0].(edn.Vector); ok {
			vars, err := bindVars(inner, form)
			return BindRel{vars}, err
		}
	}
	vars, err := bindVars(v, form)
	return BindTuple{vars}, err
}

func varList(v edn.Vector, form any) ([]Var, error) {
	var out []Var
	for _, x := range v {
		xv, ok := asVar(x)
		if !ok {
			return nil, errorf(form, "a variable list takes variables only")
		}
		out = append(out, xv)
	}
	if len(out) == 0 {
		return nil, errorf(form, "an empty variable list")
	}
	return out, nil
}

// ruleVars parses a rule head's or or-join's variables: an optional
// leading vector of required ones, then free ones.
func ruleVars(v edn.Vector, form any) (req, free []Var, err error) {
	rest := []any(v)
	if len(rest) > 0 {
		if rv, ok := rest[0].(edn.Vector); ok {
			if req, err = varList(rv, form); err != nil {
				return nil, nil, err
			}
			rest = rest[1:]
		}
	}
	for _, x := range rest {
		xv, ok := asVar(x)
		if !ok {
			return nil, nil, errorf(form, "a variable list takes variables only")
		}
		free = append(free, xv)
	}
	if len(req)+len(free) == 0 {
		return nil, nil, errorf(form, "an empty variable list")
	}
	return req, free, nil
}

// ParseRules parses a rule set: [[(name ?a [?b]) clause...] ...].
func ParseRules(v any) (map[string][]Rule, error) {
	rs, ok := v.(edn.Vector)
	if !ok {
		return nil, errorf(v, "rules are a vector of [(head ...) clause...]")
	}
	p := &parser{}
	out := map[string][]Rule{}
	for _, r := range rs {
		rv, ok := r.(edn.Vector)
		if !ok || len(rv) < 2 {
			return nil, errorf(r, "a rule is [(head ...) clause...]")
		}
		head, ok := rv[0].(edn.List)
		if !ok || len(head) < 2 {
			return nil, errorf(r, "a rule's head is (name ?var...)")
		}
		name, ok := head[0].(edn.Symbol)
		if !ok || name.Namespace != "" || strings.HasPrefix(name.Name, "?") || strings.HasPrefix(name.Name, "$") {
			return nil, errorf(r, "a rule's name is a plain symbol")
		}
		req, free, err := ruleVars(edn.Vector(head[1:]), r)
		if err != nil {
			return nil, err
		}
		body, err := p.clauses(rv[1:], 1)
		if err != nil {
			return nil, err
		}
		rule := Rule{Name: name.Name, Required: req, Vars: append(append([]Var{}, req...), free...), Body: body}
		if prev := out[rule.Name]; len(prev) > 0 && len(prev[0].Vars) != len(rule.Vars) {
			return nil, errorf(r, "rule %s has heads of %d and %d variables", rule.Name, len(prev[0].Vars), len(rule.Vars))
		}
		out[rule.Name] = append(out[rule.Name], rule)
	}
	return out, nil
}

// check validates what parsing alone cannot: :find and :with variables
// are bound somewhere, and or branches bind the same variables.
func check(q *Query) error {
	bound := map[Var]bool{}
	for _, in := range q.In {
		for _, v := range inputVars(in) {
			bound[v] = true
		}
	}
	for _, c := range q.Where {
		collectVars(c, bound)
	}
	for _, e := range q.Find.Elems {
		var v Var
		switch e := e.(type) {
		case Var:
			v = e
		case PullElem:
			v = e.Var
			if pv, ok := e.Pattern.(Var); ok && !bound[pv] {
				return errorf(nil, "pull pattern variable %s is not bound by :in", pv)
			}
		case AggElem:
			v = e.Args[len(e.Args)-1].(Var)
		}
		if !bound[v] {
			return errorf(nil, "unknown variable %s in :find: no clause or input binds it", v)
		}
	}
	for _, v := range q.With {
		if !bound[v] {
			return errorf(nil, "unknown variable %s in :with", v)
		}
	}
	srcs := map[SrcVar]bool{}
	rules := false
	for _, in := range q.In {
		switch in := in.(type) {
		case SrcInput:
			srcs[in.Src] = true
		case RulesInput:
			rules = true
		}
	}
	if err := checkSources(q.Where, srcs, rules, "$"); err != nil {
		return err
	}
	for _, e := range q.Find.Elems {
		if pe, ok := e.(PullElem); ok && !srcs[pe.Src] {
			return errorf(nil, "pull reads source %s, which :in does not name", pe.Src)
		}
	}
	return checkOrs(q.Where)
}

// checkSources: every source a clause reads is an input, and rules are
// called only with % among the inputs. Inside ($src not …) and ($src or
// …), $ means src (deflt).
func checkSources(cs []Clause, srcs map[SrcVar]bool, rules bool, deflt SrcVar) error {
	for _, c := range cs {
		var src SrcVar
		var body [][]Clause
		switch c := c.(type) {
		case *Pattern:
			src = c.Src
		case *Not:
			src, body = c.Src, [][]Clause{c.Body}
		case *Or:
			src, body = c.Src, c.Branches
		case *RuleCall:
			src = c.Src
			if !rules {
				return errorf(nil, "rule %s is called but :in has no %% (in %s)", c.Name, c.form)
			}
		}
		if src == "$" {
			src = deflt
		}
		if src != "" && !srcs[src] {
			return errorf(nil, "source %s is not among the inputs (in %s)", src, c.Form())
		}
		inner := deflt
		if src != "" {
			inner = src
		}
		for _, b := range body {
			if err := checkSources(b, srcs, rules, inner); err != nil {
				return err
			}
		}
	}
	return nil
}

func inputVars(in Input) []Var {
	switch in := in.(type) {
	case ScalarInput:
		return []Var{in.Var}
	case CollInput:
		return []Var{in.Var}
	case TupleInput:
		return termVars(in.Vars)
	case RelInput:
		return termVars(in.Vars)
	}
	return nil
}

func termVars(ts []Term) []Var {
	var out []Var
	for _, t := range ts {
		if v, ok := t.(Var); ok {
			out = append(out, v)
		}
	}
	return out
}

// collectVars adds the variables a clause can bind (not/not-join bind
// nothing outside).
func collectVars(c Clause, into map[Var]bool) {
	switch c := c.(type) {
	case *Pattern:
		for _, v := range termVars(c.Terms) {
			into[v] = true
		}
	case *Fn:
		switch b := c.Bind.(type) {
		case BindScalar:
			into[b.Var] = true
		case BindColl:
			into[b.Var] = true
		case BindTuple:
			for _, v := range termVars(b.Vars) {
				into[v] = true
			}
		case BindRel:
			for _, v := range termVars(b.Vars) {
				into[v] = true
			}
		}
	case *Or:
		if c.isJoin {
			for _, v := range c.Join {
				into[v] = true
			}
			return
		}
		for _, br := range c.Branches {
			for _, bc := range br {
				collectVars(bc, into)
			}
		}
	case *RuleCall:
		for _, v := range termVars(c.Args) {
			into[v] = true
		}
	}
}

// checkOrs: the branches of an or (not or-join) must bind the same
// variables, as Datomic requires.
func checkOrs(cs []Clause) error {
	for _, c := range cs {
		switch c := c.(type) {
		case *Or:
			if !c.isJoin {
				var first map[Var]bool
				for i, br := range c.Branches {
					vs := map[Var]bool{}
					for _, bc := range br {
						collectVars(bc, vs)
					}
					if i == 0 {
						first = vs
						continue
					}
					if !sameVars(first, vs) {
						return errorf(nil, "all branches of or must use the same variables; use or-join to name them (in %s)", c.form)
					}
				}
			}
			for _, br := range c.Branches {
				if err := checkOrs(br); err != nil {
					return err
				}
			}
		case *Not:
			if err := checkOrs(c.Body); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameVars(a, b map[Var]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for v := range a {
		if !b[v] {
			return false
		}
	}
	return true
}
