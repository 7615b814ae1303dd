package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// The randomized differential test: random queries (patterns with
// constants, joins, comparisons, not, not-join, or, or-join) over a random
// database, evaluated by the evaluator and by brute force — every typed
// assignment of the query's variables checked clause by clause — and
// compared as sets.

// Variables are typed so that assignments stay small: entities ?x ?y ?z,
// ages ?a ?b, names ?n.
var varKind = map[Var]string{"?x": "e", "?y": "e", "?z": "e", "?w": "e", "?a": "age", "?b": "age", "?n": "name"}

type bfDB struct {
	ents  []datom.E
	ages  []int64
	names []string
	age   map[datom.E]int64
	name  map[datom.E]string
	fr    map[[2]datom.E]bool
}

type bfClause interface {
	edn() string
	holds(db *bfDB, env map[Var]any) bool
	vars() []Var // the variables it binds (for or: all of its branches')
}

type bfPattern struct {
	e    Var
	attr string // age, name, friend
	v    any    // a Var or a constant (int64 age, string name)
}

func (p bfPattern) edn() string {
	v := fmt.Sprint(p.v)
	switch c := p.v.(type) {
	case string:
		v = fmt.Sprintf("%q", c)
	case Var:
		v = string(c)
	}
	return fmt.Sprintf("[%s :person/%s %s]", p.e, p.attr, v)
}

func (p bfPattern) holds(db *bfDB, env map[Var]any) bool {
	e := env[p.e].(datom.E)
	val := p.v
	if v, ok := p.v.(Var); ok {
		val = env[v]
	}
	switch p.attr {
	case "age":
		a, ok := db.age[e]
		return ok && a == val.(int64)
	case "name":
		n, ok := db.name[e]
		return ok && n == val.(string)
	}
	return db.fr[[2]datom.E{e, val.(datom.E)}]
}

func (p bfPattern) vars() []Var {
	out := []Var{p.e}
	if v, ok := p.v.(Var); ok {
		out = append(out, v)
	}
	return out
}

type bfCmp struct {
	op   string
	a, b any // Var or int64
}

func (c bfCmp) edn() string { return fmt.Sprintf("[(%s %v %v)]", c.op, c.a, c.b) }
func (c bfCmp) holds(_ *bfDB, env map[Var]any) bool {
	get := func(x any) int64 {
		if v, ok := x.(Var); ok {
			return env[v].(int64)
		}
		return x.(int64)
	}
	a, b := get(c.a), get(c.b)
	switch c.op {
	case "<":
		return a < b
	case ">":
		return a > b
	case "!=":
		return a != b
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	}
	return a == b
}
func (c bfCmp) vars() []Var { return nil }

type bfNot struct {
	join []Var // nil: not
	body []bfClause
}

func (n bfNot) edn() string {
	var b []string
	for _, c := range n.body {
		b = append(b, c.edn())
	}
	if n.join != nil {
		return fmt.Sprintf("(not-join %s %s)", varVec(n.join), strings.Join(b, " "))
	}
	return "(not " + strings.Join(b, " ") + ")"
}
func (n bfNot) holds(db *bfDB, env map[Var]any) bool {
	// No assignment of the body's own variables makes it hold.
	return !exists(db, env, n.local(env), n.body)
}

// local lists the body's variables the outer environment does not fix
// (for not-join: every variable but the join ones).
func (n bfNot) local(env map[Var]any) []Var {
	var out []Var
	for _, c := range n.body {
		for _, v := range c.vars() {
			_, outer := env[v]
			if n.join != nil {
				outer = containsVar(n.join, v)
			}
			if !outer && !containsVar(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}
func (n bfNot) vars() []Var { return nil }

type bfOr struct {
	join     []Var // nil: or
	branches [][]bfClause
}

func (o bfOr) edn() string {
	var bs []string
	for _, br := range o.branches {
		var b []string
		for _, c := range br {
			b = append(b, c.edn())
		}
		if len(b) == 1 {
			bs = append(bs, b[0])
		} else {
			bs = append(bs, "(and "+strings.Join(b, " ")+")")
		}
	}
	if o.join != nil {
		return fmt.Sprintf("(or-join %s %s)", varVec(o.join), strings.Join(bs, " "))
	}
	return "(or " + strings.Join(bs, " ") + ")"
}
func (o bfOr) holds(db *bfDB, env map[Var]any) bool {
	for _, br := range o.branches {
		var local []Var
		for _, c := range br {
			for _, v := range c.vars() {
				if (o.join != nil && !containsVar(o.join, v)) && !containsVar(local, v) {
					local = append(local, v)
				}
			}
		}
		if exists(db, env, local, br) {
			return true
		}
	}
	return false
}
func (o bfOr) vars() []Var {
	if o.join != nil {
		return o.join
	}
	var out []Var
	for _, br := range o.branches {
		for _, c := range br {
			for _, v := range c.vars() {
				if !containsVar(out, v) {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func varVec(vs []Var) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// domain lists the values a variable of kind k ranges over.
func (db *bfDB) domain(v Var) []any {
	var out []any
	switch varKind[v] {
	case "e":
		for _, e := range db.ents {
			out = append(out, e)
		}
	case "age":
		for _, a := range db.ages {
			out = append(out, a)
		}
	case "name":
		for _, n := range db.names {
			out = append(out, n)
		}
	}
	return out
}

// exists reports whether some assignment of vars (the others fixed by env)
// makes every clause hold.
func exists(db *bfDB, env map[Var]any, vars []Var, cs []bfClause) bool {
	if len(vars) == 0 {
		for _, c := range cs {
			if !c.holds(db, env) {
				return false
			}
		}
		return true
	}
	v := vars[0]
	for _, val := range db.domain(v) {
		env[v] = val
		ok := exists(db, env, vars[1:], cs)
		delete(env, v)
		if ok {
			return true
		}
	}
	return false
}

// answers enumerates the assignments of vars that satisfy cs and returns
// their projections on find.
func answers(db *bfDB, vars, find []Var, cs []bfClause) map[string]bool {
	out := map[string]bool{}
	env := map[Var]any{}
	var rec func(i int)
	rec = func(i int) {
		if i == len(vars) {
			for _, c := range cs {
				if !c.holds(db, env) {
					return
				}
			}
			var parts []string
			for _, f := range find {
				parts = append(parts, fmt.Sprint(env[f]))
			}
			out[strings.Join(parts, ",")] = true
			return
		}
		for _, val := range db.domain(vars[i]) {
			env[vars[i]] = val
			rec(i + 1)
		}
		delete(env, vars[i])
	}
	rec(0)
	return out
}

// genQuery builds a random query whose clauses only use variables in
// ways the evaluator can run in the order written.
func genQuery(rng *rand.Rand) ([]bfClause, []Var) {
	var cs []bfClause
	var bound []Var
	bind := func(vs ...Var) {
		for _, v := range vs {
			if !containsVar(bound, v) {
				bound = append(bound, v)
			}
		}
	}
	ent := []Var{"?x", "?y", "?z"}
	pickBound := func(kind string) (Var, bool) {
		var c []Var
		for _, v := range bound {
			if varKind[v] == kind {
				c = append(c, v)
			}
		}
		if len(c) == 0 {
			return "", false
		}
		return c[rng.IntN(len(c))], true
	}
	pattern := func() bfPattern {
		e := ent[rng.IntN(len(ent))]
		switch rng.IntN(4) {
		case 0:
			return bfPattern{e, "age", Var([]string{"?a", "?b"}[rng.IntN(2)])}
		case 1:
			return bfPattern{e, "age", int64(rng.IntN(4))}
		case 2:
			return bfPattern{e, "name", Var("?n")}
		}
		return bfPattern{e, "friend", ent[rng.IntN(len(ent))]}
	}
	first := pattern()
	cs = append(cs, first)
	bind(first.vars()...)
	for range 1 + rng.IntN(4) {
		switch rng.IntN(6) {
		case 0, 1:
			p := pattern()
			cs = append(cs, p)
			bind(p.vars()...)
		case 2:
			if a, ok := pickBound("age"); ok {
				var b any = int64(rng.IntN(4))
				if other, ok := pickBound("age"); ok && rng.IntN(2) == 0 {
					b = other
				}
				c := bfCmp{[]string{"<", ">", "!=", "<=", ">="}[rng.IntN(5)], a, b}
				if rng.IntN(3) == 0 {
					c.a, c.b = c.b, c.a // the constant or other variable first
				}
				cs = append(cs, c)
			}
		case 3:
			if e, ok := pickBound("e"); ok {
				body := []bfClause{bfPattern{e, "friend", Var("?w")}}
				if rng.IntN(2) == 0 {
					body = append(body, bfPattern{"?w", "age", int64(rng.IntN(4))})
				}
				if rng.IntN(2) == 0 {
					cs = append(cs, bfNot{body: body})
				} else {
					cs = append(cs, bfNot{join: []Var{e}, body: body})
				}
			}
		case 4:
			if e, ok := pickBound("e"); ok {
				a1, a2 := int64(rng.IntN(4)), int64(rng.IntN(4))
				cs = append(cs, bfOr{branches: [][]bfClause{{bfPattern{e, "age", a1}}, {bfPattern{e, "age", a2}}}})
			}
		case 5:
			if e, ok := pickBound("e"); ok {
				cs = append(cs, bfOr{join: []Var{e}, branches: [][]bfClause{
					{bfPattern{e, "friend", Var("?w")}, bfPattern{"?w", "age", int64(rng.IntN(4))}},
					{bfPattern{e, "age", int64(rng.IntN(4))}}}})
			}
		}
	}
	var find []Var
	for _, v := range bound {
		if rng.IntN(2) == 0 || len(find) == 0 {
			find = append(find, v)
		}
	}
	return cs, find
}

func TestQueryDifferential(t *testing.T) {
	ctx := context.Background()
	for seed := range 8 {
		rng := rand.New(rand.NewPCG(uint64(seed), 77))
		db := peopleDB(t)
		var ops []engine.Op
		n := 7
		for i := range n {
			m := engine.Map{ID: engine.TempID(fmt.Sprint("q", i)), Attrs: []engine.KV{{A: engine.Keyword("person/name"), V: fmt.Sprint("q", i)}}}
			if rng.IntN(4) != 0 {
				m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("person/age"), V: int64(rng.IntN(4))})
			}
			ops = append(ops, m)
		}
		for range 10 {
			ops = append(ops, engine.Add{E: engine.TempID(fmt.Sprint("q", rng.IntN(n))), A: engine.Keyword("person/friend"), V: engine.TempID(fmt.Sprint("q", rng.IntN(n)))})
		}
		rep, err := db.With(ctx, ops, engine.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edb := rep.DBAfter
		// The brute-force side's copy of the people (the fixture's four
		// included).
		bf := &bfDB{age: map[datom.E]int64{}, name: map[datom.E]string{}, fr: map[[2]datom.E]bool{}}
		attr := func(s string) datom.E { a, _ := edb.Schema().AttrByIdent(s); return a.ID }
		for d, err := range edb.Datoms(ctx, datom.AEVT, engine.Components{A: attr("person/name"), HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			bf.ents = append(bf.ents, d.E)
			bf.name[d.E] = d.V.Str()
			bf.names = append(bf.names, d.V.Str())
		}
		for d, err := range edb.Datoms(ctx, datom.AEVT, engine.Components{A: attr("person/age"), HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			bf.age[d.E] = d.V.Long()
		}
		for d, err := range edb.Datoms(ctx, datom.AEVT, engine.Components{A: attr("person/friend"), HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			bf.fr[[2]datom.E{d.E, d.V.Ref()}] = true
		}
		ageSet := map[int64]bool{}
		for _, a := range bf.age {
			ageSet[a] = true
		}
		for a := range ageSet {
			bf.ages = append(bf.ages, a)
		}
		for range 60 {
			cs, find := genQuery(rng)
			var where []string
			var vars []Var
			for _, c := range cs {
				where = append(where, c.edn())
				for _, v := range c.vars() {
					if !containsVar(vars, v) {
						vars = append(vars, v)
					}
				}
			}
			src := fmt.Sprintf("[:find %s :where %s]", strings.Trim(varVec(find), "[]"), strings.Join(where, " "))
			q, err := Parse([]byte(src))
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			out, err := Run(ctx, q, edb)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			got := map[string]bool{}
			for _, r := range out.([][]any) {
				var parts []string
				for _, x := range r {
					parts = append(parts, fmt.Sprint(x))
				}
				got[strings.Join(parts, ",")] = true
			}
			if n := len(out.([][]any)); n != len(got) {
				t.Fatalf("seed %d: %s\n %d rows, %d distinct: a set holds each row once", seed, src, n, len(got))
			}
			want := answers(bf, vars, find, cs)
			if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(sortedKeys(want)) {
				t.Fatalf("seed %d: %s\n got  %v\n want %v", seed, src, sortedKeys(got), sortedKeys(want))
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
