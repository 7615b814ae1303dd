package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// Functions, negation, disjunction and aggregates.

// rowKey is a map key for the values of row at cols.
func rowKey(row []datom.Value, cols []int) string {
	var b []byte
	for _, c := range cols {
		b = datom.AppendValueKey(b, row[c])
		b = append(b, 0xff)
	}
	return string(b)
}

// project returns rel's distinct rows on vars (each must be in rel).
func project(rel *relation, vars []Var) *relation {
	cols := make([]int, len(vars))
	for i, v := range vars {
		cols[i] = rel.col(v)
	}
	out := &relation{vars: append([]Var{}, vars...), distinct: true}
	seen := newRowMap[struct{}](len(rel.rows))
	for _, row := range rel.rows {
		if _, dup := seen.get(row, cols); dup {
			continue
		}
		seen.put(row, cols, struct{}{})
		p := make([]datom.Value, len(cols))
		for i, c := range cols {
			p[i] = row[c]
		}
		out.rows = append(out.rows, p)
	}
	return out
}

// join is the natural (hash) join of a and b on their shared variables.
func join(a, b *relation) *relation {
	var shared []Var
	for _, v := range b.vars {
		if a.col(v) >= 0 {
			shared = append(shared, v)
		}
	}
	ac, bc := make([]int, len(shared)), make([]int, len(shared))
	for i, v := range shared {
		ac[i], bc[i] = a.col(v), b.col(v)
	}
	var extra []int // b's columns not in a
	out := &relation{vars: append([]Var{}, a.vars...)}
	for i, v := range b.vars {
		if a.col(v) < 0 {
			extra = append(extra, i)
			out.vars = append(out.vars, v)
		}
	}
	index := newRowMap[[][]datom.Value](len(b.rows))
	for _, row := range b.rows {
		rows, _ := index.get(row, bc)
		index.put(row, bc, append(rows, row))
	}
	for _, ra := range a.rows {
		match, _ := index.get(ra, ac)
		for _, rb := range match {
			row := make([]datom.Value, len(ra), len(ra)+len(extra))
			copy(row, ra)
			for _, c := range extra {
				row = append(row, rb[c])
			}
			out.rows = append(out.rows, row)
		}
	}
	return out
}

// clauseVars lists the variables a clause mentions (all of them, for
// scoping not and or).
func clauseVars(c Clause, into *[]Var) {
	add := func(ts []Term) {
		for _, v := range termVars(ts) {
			if !containsVar(*into, v) {
				*into = append(*into, v)
			}
		}
	}
	switch c := c.(type) {
	case *Pattern:
		add(c.Terms)
	case *Pred:
		add(c.Args)
	case *Fn:
		add(c.Args)
		m := map[Var]bool{}
		collectVars(c, m)
		for v := range m {
			if !containsVar(*into, v) {
				*into = append(*into, v)
			}
		}
	case *Not:
		for _, b := range c.Body {
			clauseVars(b, into)
		}
	case *Or:
		for _, br := range c.Branches {
			for _, b := range br {
				clauseVars(b, into)
			}
		}
	case *RuleCall:
		add(c.Args)
	}
}

// sub evaluates a conjunction of clauses (a body of not, or, a rule)
// starting from rel.
func (ev *evaluator) sub(cs []Clause, rel *relation) (*relation, error) {
	saved := ev.steps
	ev.steps = nil // only the top level is explained
	defer func() { ev.steps = saved }()
	return ev.conj(cs, rel)
}

// conj runs clauses in the planner's order (or as written), recording
// the steps when explaining.
func (ev *evaluator) conj(cs []Clause, rel *relation) (*relation, error) {
	order, est := cs, make([]int, len(cs))
	if !ev.written {
		order, est = ev.order(cs, rel.vars)
	}
	for i, c := range order {
		in := len(rel.rows)
		var err error
		if p, ok := c.(*Pattern); ok {
			// A pattern whose value later comparisons bound reads a range.
			ev.bounds = rangeBounds(p, order[i+1:], rel)
		}
		ev.access = ""
		rel, err = ev.clause(c, rel)
		ev.bounds = nil
		if err != nil {
			return nil, err
		}
		if ev.steps != nil {
			*ev.steps = append(*ev.steps, PlanStep{Clause: c.Form(), Access: ev.access, Estimate: est[i], RowsIn: in, RowsOut: len(rel.rows)})
		}
	}
	return rel, nil
}

// not removes the rows of rel for which the body holds, the body seeing
// only the join variables (for not: those of its variables rel binds).
func (ev *evaluator) not(n *Not, rel *relation) (*relation, error) {
	ev, err := ev.withDefault(n.Src, n.form)
	if err != nil {
		return nil, err
	}
	joinVars := n.Join
	if !n.isJoin {
		var all []Var
		for _, c := range n.Body {
			clauseVars(c, &all)
		}
		for _, v := range all {
			if rel.col(v) >= 0 {
				joinVars = append(joinVars, v)
			}
		}
	}
	for _, v := range joinVars {
		if rel.col(v) < 0 {
			return nil, errorf(nil, "insufficient binding: %s is not bound before %s", v, n.form)
		}
	}
	matched, err := ev.sub(n.Body, project(rel, joinVars))
	if err != nil {
		return nil, err
	}
	cols := make([]int, len(joinVars))
	for i, v := range joinVars {
		cols[i] = matched.col(v)
	}
	hit := newRowMap[struct{}](len(matched.rows))
	for _, row := range matched.rows {
		hit.put(row, cols, struct{}{})
	}
	rc := make([]int, len(joinVars))
	for i, v := range joinVars {
		rc[i] = rel.col(v)
	}
	out := &relation{vars: rel.vars, distinct: rel.distinct}
	for _, row := range rel.rows {
		if _, found := hit.get(row, rc); !found {
			out.rows = append(out.rows, row)
		}
	}
	return out, nil
}

// or is the union of its branches, each evaluated from rel's bindings of
// the join variables (for or: every variable of the branches), then
// joined back with rel.
func (ev *evaluator) or(o *Or, rel *relation) (*relation, error) {
	ev, err := ev.withDefault(o.Src, o.form)
	if err != nil {
		return nil, err
	}
	joinVars := o.Join
	if !o.isJoin {
		for _, br := range o.Branches {
			for _, c := range br {
				clauseVars(c, &joinVars)
			}
		}
	}
	for _, v := range o.Required {
		if rel.col(v) < 0 {
			return nil, errorf(nil, "insufficient binding: %s is required by %s", v, o.form)
		}
	}
	var bound []Var
	for _, v := range joinVars {
		if rel.col(v) >= 0 {
			bound = append(bound, v)
		}
	}
	start := project(rel, bound)
	var union *rowSet
	for _, br := range o.Branches {
		res, err := ev.sub(br, start)
		if err != nil {
			return nil, err
		}
		var out []Var
		for _, v := range joinVars {
			if res.col(v) >= 0 {
				out = append(out, v)
			}
		}
		if union == nil {
			union = newRowSet(out)
		} else if len(out) != len(union.rel.vars) {
			return nil, errorf(nil, "the branches of %s bind different variables", o.form)
		}
		union.addAll(project(res, union.rel.vars))
	}
	return join(rel, union.rel), nil
}

// fn evaluates a function expression and binds its result.
func (ev *evaluator) fn(f *Fn, rel *relation) (*relation, error) {
	impl, ok := functions[f.Fn]
	if user, isUser := ev.opts.Funcs[f.Fn]; isUser {
		impl, ok = userFunction(user), true
	}
	if !ok {
		return nil, errorf(nil, "unknown function %s (in %s)", f.Fn, f.form)
	}
	var newVars []Var
	bindVarsOf := func(ts []Term) {
		for _, v := range termVars(ts) {
			if rel.col(v) < 0 && !containsVar(newVars, v) {
				newVars = append(newVars, v)
			}
		}
	}
	switch b := f.Bind.(type) {
	case BindScalar:
		bindVarsOf([]Term{b.Var})
	case BindColl:
		bindVarsOf([]Term{b.Var})
	case BindTuple:
		bindVarsOf(b.Vars)
	case BindRel:
		bindVarsOf(b.Vars)
	}
	out := &relation{vars: append(append([]Var{}, rel.vars...), newVars...)}
	for _, row := range rel.rows {
		args, err := ev.args(f.Args, rel, row, f.form)
		if err != nil {
			return nil, err
		}
		res, err := impl(ev, args)
		if err != nil {
			return nil, errorf(nil, "%v (in %s)", err, f.form)
		}
		if res == nil {
			continue // no value: the row does not bind
		}
		// The result's shapes: one value, or rows of values.
		var tuples [][]datom.Value
		var pos []Term
		switch b := f.Bind.(type) {
		case BindScalar:
			tuples, pos = [][]datom.Value{{*res}}, []Term{b.Var}
		case BindTuple:
			tuples, pos = [][]datom.Value{res.Elems()}, b.Vars
		case BindColl:
			for _, e := range res.Elems() {
				tuples = append(tuples, []datom.Value{e})
			}
			pos = []Term{b.Var}
		case BindRel:
			for _, e := range res.Elems() {
				tuples = append(tuples, e.Elems())
			}
			pos = b.Vars
		}
	next:
		for _, tup := range tuples {
			if len(tup) < len(pos) {
				continue
			}
			ext := append([]datom.Value{}, row...)
			vals := map[Var]datom.Value{}
			for i, t := range pos {
				v, ok := t.(Var)
				if !ok {
					continue
				}
				if j := rel.col(v); j >= 0 && !datom.EqualValue(row[j], tup[i]) {
					continue next
				}
				vals[v] = tup[i]
			}
			for _, v := range newVars {
				ext = append(ext, vals[v])
			}
			out.rows = append(out.rows, ext)
		}
	}
	return out, nil
}

// argument is a function argument: a value, or a database for $ args.
type argument struct {
	v  datom.Value
	db *engine.DB
}

func (ev *evaluator) args(ts []Term, rel *relation, row []datom.Value, form string) ([]argument, error) {
	out := make([]argument, len(ts))
	for i, t := range ts {
		switch t := t.(type) {
		case Var:
			j := rel.col(t)
			if j < 0 {
				return nil, errorf(nil, "insufficient binding: %s is not bound before %s", t, form)
			}
			out[i].v = row[j]
		case Const:
			out[i].v = constValue(t.V)
		case SrcVar:
			db, ok := ev.srcs[t]
			if !ok {
				return nil, errorf(nil, "source %s is not an input (in %s)", t, form)
			}
			out[i].db = db
		default:
			return nil, errorf(nil, "_ is not an argument (in %s)", form)
		}
	}
	return out, nil
}

// constValue is a query constant as a value (vectors as tuples); the
// parser refused constants that are no value (term).
func constValue(v any) datom.Value {
	x, err := goToValue(v)
	if err != nil {
		panic("query: constant " + fmt.Sprint(v) + " passed the parser: " + err.Error())
	}
	return x
}

// function is a built-in: it returns the result (nil: none).
type function func(ev *evaluator, args []argument) (*datom.Value, error)

func val(v datom.Value) (*datom.Value, error) { return &v, nil }

func numeric(args []argument, op func(a, b float64) float64, intOp func(a, b int64) (int64, bool)) (*datom.Value, error) {
	if len(args) == 0 {
		return nil, anomaly.New(anomaly.Incorrect, "query", "needs arguments")
	}
	allLong := true
	for _, a := range args {
		switch a.v.Type() {
		case datom.TypeLong:
		case datom.TypeDouble:
			allLong = false
		default:
			return nil, anomaly.New(anomaly.Incorrect, "query", "%s is not a number", a.v)
		}
	}
	if allLong && intOp != nil {
		acc := args[0].v.Long()
		for _, a := range args[1:] {
			r, ok := intOp(acc, a.v.Long())
			if !ok {
				return nil, anomaly.New(anomaly.Incorrect, "query", "integer overflow or division by zero")
			}
			acc = r
		}
		return val(datom.Long(acc))
	}
	f := func(v datom.Value) float64 {
		if v.Type() == datom.TypeLong {
			return float64(v.Long())
		}
		return v.Double()
	}
	acc := f(args[0].v)
	for _, a := range args[1:] {
		acc = op(acc, f(a.v))
	}
	return val(datom.Double(acc))
}

var functions map[string]function

func init() {
	functions = map[string]function{
		"+": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return numeric(a, func(x, y float64) float64 { return x + y }, func(x, y int64) (int64, bool) {
				r := x + y
				return r, (r > x) == (y > 0)
			})
		},
		"-": func(_ *evaluator, a []argument) (*datom.Value, error) {
			if len(a) == 1 {
				a = append([]argument{{v: datom.Long(0)}}, a...)
			}
			return numeric(a, func(x, y float64) float64 { return x - y }, func(x, y int64) (int64, bool) {
				r := x - y
				return r, (r < x) == (y > 0)
			})
		},
		"*": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return numeric(a, func(x, y float64) float64 { return x * y }, func(x, y int64) (int64, bool) {
				if x == 0 || y == 0 {
					return 0, true
				}
				r := x * y
				return r, r/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64)
			})
		},
		"/": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return numeric(a, func(x, y float64) float64 { return x / y }, nil)
		},
		"quot": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return numeric(a, func(x, y float64) float64 { return math.Trunc(x / y) }, func(x, y int64) (int64, bool) {
				if y == 0 || x == math.MinInt64 && y == -1 {
					return 0, false
				}
				return x / y, true
			})
		},
		"rem": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return numeric(a, math.Mod, func(x, y int64) (int64, bool) {
				if y == 0 {
					return 0, false
				}
				return x % y, true
			})
		},
		"inc": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return functions["+"](nil, append(a, argument{v: datom.Long(1)}))
		},
		"dec": func(_ *evaluator, a []argument) (*datom.Value, error) {
			return functions["-"](nil, append(a, argument{v: datom.Long(1)}))
		},
		"str": func(_ *evaluator, a []argument) (*datom.Value, error) {
			var b strings.Builder
			for _, x := range a {
				b.WriteString(display(x.v))
			}
			return val(datom.String(b.String()))
		},
		"subs": func(_ *evaluator, a []argument) (*datom.Value, error) {
			if len(a) < 2 || len(a) > 3 || a[0].v.Type() != datom.TypeString || a[1].v.Type() != datom.TypeLong {
				return nil, anomaly.New(anomaly.Incorrect, "query", "subs takes a string, a start and maybe an end")
			}
			r := []rune(a[0].v.Str())
			start, end := a[1].v.Long(), int64(len(r))
			if len(a) == 3 {
				end = a[2].v.Long()
			}
			if start < 0 || end > int64(len(r)) || start > end {
				return nil, anomaly.New(anomaly.Incorrect, "query", "subs %d..%d of a %d-character string", start, end, len(r))
			}
			return val(datom.String(string(r[start:end])))
		},
		"ground": func(_ *evaluator, a []argument) (*datom.Value, error) {
			if len(a) != 1 {
				return nil, anomaly.New(anomaly.Incorrect, "query", "ground takes one constant")
			}
			return val(a[0].v)
		},
		"identity": func(_ *evaluator, a []argument) (*datom.Value, error) {
			if len(a) != 1 {
				return nil, anomaly.New(anomaly.Incorrect, "query", "identity takes one argument")
			}
			return val(a[0].v)
		},
		"tuple": func(_ *evaluator, a []argument) (*datom.Value, error) {
			elems := make([]datom.Value, len(a))
			for i, x := range a {
				elems[i] = x.v
			}
			return val(datom.Tuple(elems...))
		},
		"untuple": func(_ *evaluator, a []argument) (*datom.Value, error) {
			if len(a) != 1 || a[0].v.Type() != datom.TypeTuple {
				return nil, anomaly.New(anomaly.Incorrect, "query", "untuple takes one tuple")
			}
			return val(a[0].v)
		},
		"get-else": func(ev *evaluator, a []argument) (*datom.Value, error) {
			if len(a) != 4 || a[0].db == nil {
				return nil, anomaly.New(anomaly.Incorrect, "query", "get-else takes a source, an entity, an attribute and a default")
			}
			v, found, err := ev.attrValue(a[0].db, a[1].v, a[2].v)
			if err != nil {
				return nil, err
			}
			if !found {
				return val(a[3].v)
			}
			return val(v)
		},
		"get-some": func(ev *evaluator, a []argument) (*datom.Value, error) {
			if len(a) < 3 || a[0].db == nil {
				return nil, anomaly.New(anomaly.Incorrect, "query", "get-some takes a source, an entity and attributes")
			}
			for _, at := range a[2:] {
				v, found, err := ev.attrValue(a[0].db, a[1].v, at.v)
				if err != nil {
					return nil, err
				}
				if found {
					return val(datom.Tuple(at.v, v))
				}
			}
			return nil, nil
		},
	}
}

// display is a value as str shows it.
func display(v datom.Value) string {
	switch v.Type() {
	case datom.TypeString:
		return v.Str()
	case datom.TypeKeyword:
		return ":" + v.Str()
	}
	return v.String()
}

// attrValue reads the first current value of e's attribute a (an ident
// or an id).
func (ev *evaluator) attrValue(db *engine.DB, e, a datom.Value) (datom.Value, bool, error) {
	ent, found, err := db.EntityOf(ev.ctx, valueDesignator(e))
	if err != nil || !found {
		return datom.Value{}, false, err
	}
	attr, found, err := db.EntityOf(ev.ctx, valueDesignator(a))
	if err != nil {
		return datom.Value{}, false, err
	}
	if _, isAttr := db.Schema().Attr(attr); !found || !isAttr {
		return datom.Value{}, false, anomaly.New(anomaly.Incorrect, "query", "%s is not an attribute", a)
	}
	for d, err := range db.Datoms(ev.ctx, datom.EAVT, engine.Components{E: ent, HasE: true, A: attr, HasA: true}) {
		if err != nil {
			return datom.Value{}, false, err
		}
		return d.V, true, nil
	}
	return datom.Value{}, false, nil
}

// valueDesignator turns a value into what EntityOf takes.
func valueDesignator(v datom.Value) any {
	switch v.Type() {
	case datom.TypeRef:
		return v.Ref()
	case datom.TypeLong:
		return v.Long()
	case datom.TypeKeyword:
		return engine.Keyword(v.Str())
	}
	return v
}

// predicates beyond comparisons: name → test.
var predicates = map[string]func(ev *evaluator, args []argument) (bool, error){
	"missing?": func(ev *evaluator, a []argument) (bool, error) {
		if len(a) != 3 || a[0].db == nil {
			return false, anomaly.New(anomaly.Incorrect, "query", "missing? takes a source, an entity and an attribute")
		}
		_, found, err := ev.attrValue(a[0].db, a[1].v, a[2].v)
		return !found, err
	},
	"clojure.string/starts-with?": strPred(strings.HasPrefix),
	"clojure.string/ends-with?":   strPred(strings.HasSuffix),
	"clojure.string/includes?":    strPred(strings.Contains),
	"clojure.string/blank?": func(_ *evaluator, a []argument) (bool, error) {
		if len(a) != 1 || a[0].v.Type() != datom.TypeString {
			return false, anomaly.New(anomaly.Incorrect, "query", "blank? takes a string")
		}
		return strings.TrimSpace(a[0].v.Str()) == "", nil
	},
	"even?": intPred(func(n int64) bool { return n%2 == 0 }),
	"odd?":  intPred(func(n int64) bool { return n%2 != 0 }),
	"pos?":  intPred(func(n int64) bool { return n > 0 }),
	"neg?":  intPred(func(n int64) bool { return n < 0 }),
	"zero?": intPred(func(n int64) bool { return n == 0 }),
}

func strPred(f func(s, sub string) bool) func(*evaluator, []argument) (bool, error) {
	return func(_ *evaluator, a []argument) (bool, error) {
		if len(a) != 2 || a[0].v.Type() != datom.TypeString || a[1].v.Type() != datom.TypeString {
			return false, anomaly.New(anomaly.Incorrect, "query", "takes two strings")
		}
		return f(a[0].v.Str(), a[1].v.Str()), nil
	}
}

func intPred(f func(int64) bool) func(*evaluator, []argument) (bool, error) {
	return func(_ *evaluator, a []argument) (bool, error) {
		if len(a) != 1 || a[0].v.Type() != datom.TypeLong {
			return false, anomaly.New(anomaly.Incorrect, "query", "takes one long")
		}
		return f(a[0].v.Long()), nil
	}
}

// aggregate computes an aggregate over the values of one group.
func aggregate(a AggElem, vals []datom.Value, rng *rand.Rand) (any, error) {
	n := func() (int, error) {
		if len(a.Args) != 2 {
			return 0, errorf(nil, "%s takes a count and a variable", a.Fn)
		}
		c, ok := a.Args[0].(Const)
		k, isInt := c.V.(int64)
		if !ok || !isInt || k < 0 {
			return 0, errorf(nil, "%s takes a non-negative count first", a.Fn)
		}
		return int(k), nil
	}
	nums := func() ([]float64, bool, error) {
		out := make([]float64, len(vals))
		allLong := true
		for i, v := range vals {
			switch v.Type() {
			case datom.TypeLong:
				out[i] = float64(v.Long())
			case datom.TypeDouble:
				out[i], allLong = v.Double(), false
			default:
				return nil, false, errorf(nil, "%s of a non-number %s", a.Fn, v)
			}
		}
		return out, allLong, nil
	}
	sorted := func() []datom.Value {
		s := slices.Clone(vals)
		slices.SortFunc(s, compareLoose)
		return s
	}
	distinct := func() []datom.Value {
		seen := map[datom.ValueKey]bool{}
		var out []datom.Value
		for _, v := range vals {
			if k := v.Key(); !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		return out
	}
	goVals := func(vs []datom.Value) []any {
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = resultValue(v)
		}
		return out
	}
	switch a.Fn {
	case "count":
		return int64(len(vals)), nil
	case "count-distinct":
		return int64(len(distinct())), nil
	case "distinct":
		return goVals(distinct()), nil
	case "min", "max":
		if len(a.Args) == 2 {
			k, err := n()
			if err != nil {
				return nil, err
			}
			s := sorted()
			if a.Fn == "max" {
				slices.Reverse(s)
			}
			return goVals(s[:min(k, len(s))]), nil
		}
		if len(vals) == 0 {
			return nil, nil
		}
		s := sorted()
		if a.Fn == "max" {
			return resultValue(s[len(s)-1]), nil
		}
		return resultValue(s[0]), nil
	case "sum", "avg", "median", "variance", "stddev":
		xs, allLong, err := nums()
		if err != nil || len(xs) == 0 {
			return nil, err
		}
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		mean := sum / float64(len(xs))
		switch a.Fn {
		case "sum":
			if allLong {
				var s int64
				for _, v := range vals {
					s += v.Long()
				}
				return s, nil
			}
			return sum, nil
		case "avg":
			return mean, nil
		case "median":
			slices.Sort(xs)
			m := len(xs) / 2
			if len(xs)%2 == 1 {
				if allLong {
					return int64(xs[m]), nil
				}
				return xs[m], nil
			}
			return (xs[m-1] + xs[m]) / 2, nil
		}
		ss := 0.0
		for _, x := range xs {
			ss += (x - mean) * (x - mean)
		}
		variance := ss / float64(len(xs))
		if a.Fn == "variance" {
			return variance, nil
		}
		return math.Sqrt(variance), nil
	case "rand":
		k, err := n()
		if err != nil {
			return nil, err
		}
		out := make([]datom.Value, 0, k)
		for range k {
			if len(vals) == 0 {
				break
			}
			out = append(out, vals[rng.IntN(len(vals))])
		}
		return goVals(out), nil
	case "sample":
		k, err := n()
		if err != nil {
			return nil, err
		}
		d := distinct()
		rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		return goVals(d[:min(k, len(d))]), nil
	}
	return nil, anomaly.New(anomaly.Incorrect, "query", "unknown aggregate %s", a.Fn)
}

// userFunction adapts a function registered in Go.
func userFunction(f func(args []any) (any, error)) function {
	return func(_ *evaluator, args []argument) (*datom.Value, error) {
		in := make([]any, len(args))
		for i, a := range args {
			if a.db != nil {
				in[i] = a.db
				continue
			}
			in[i] = resultValue(a.v)
		}
		out, err := f(in)
		if err != nil || out == nil {
			return nil, err
		}
		v, err := goToValue(out)
		if err != nil {
			return nil, errorf(nil, "a function registered in Go returned %v", err)
		}
		return val(v)
	}
}

// withDefault returns an evaluator whose default source ($) is src, for
// ($src not …), ($src or …) and ($src rule …); ev itself when src is
// empty or $.
func (ev *evaluator) withDefault(src SrcVar, form string) (*evaluator, error) {
	if src == "" || src == "$" {
		return ev, nil
	}
	db, ok := ev.srcs[src]
	if !ok {
		return nil, errorf(nil, "source %s is not an input (in %s)", src, form)
	}
	srcs := make(map[SrcVar]*engine.DB, len(ev.srcs))
	for k, v := range ev.srcs {
		srcs[k] = v
	}
	srcs["$"] = db
	c := *ev
	c.srcs = srcs
	c.counts = nil
	return &c, nil
}
