package query

import (
	"context"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
	"github.com/stratadb/strata/engine"
)

// The evaluator, first part: data patterns, comparison predicates and the
// :find shapes over one or more database sources and scalar or collection
// inputs, joining clause by clause in the order written (the cost-based
// planner comes next). Clauses it does not run yet (functions, not, or,
// rules, aggregates, pull in :find) are refused with an unsupported error
// that names them.

// Options of a query run.
type Options struct {
	// Timeout bounds the run (0: none but ctx's); past it the run fails
	// with interrupted.
	Timeout time.Duration
	// Offset and Limit cut a relation result (Limit 0: all).
	Offset, Limit int
	// Funcs and Aggs are functions and aggregates registered in Go,
	// called by name from clauses and :find. Arguments arrive as Go values
	// (entity ids as datom.E); results become values the same way.
	Funcs map[string]func(args []any) (any, error)
	Aggs  map[string]func(vals []any) (any, error)
}

// Q parses a query from EDN and runs it with its inputs.
func Q(ctx context.Context, src string, opts Options, inputs ...any) (any, error) {
	q, err := Parse([]byte(src))
	if err != nil {
		return nil, err
	}
	return RunWith(ctx, q, opts, inputs...)
}

// Run evaluates q with its inputs, in :in's order (a *engine.DB for each
// source; for a scalar, a value; for a collection, a []any; for %, rules).
func Run(ctx context.Context, q *Query, inputs ...any) (any, error) {
	return RunWith(ctx, q, Options{}, inputs...)
}

// RunWith is Run with options.
func RunWith(ctx context.Context, q *Query, opts Options, inputs ...any) (any, error) {
	out, _, err := runQuery(ctx, q, opts, inputs, false)
	return out, err
}

// Explain runs q and returns, with its result, the plan of its :where
// clauses in the order they ran, each with its estimate and the rows in
// and out.
func Explain(ctx context.Context, q *Query, opts Options, inputs ...any) (any, []PlanStep, error) {
	out, ev, err := runQuery(ctx, q, opts, inputs, true)
	if ev == nil {
		return out, nil, err
	}
	return out, ev.lastSteps, err
}

// FormatPlan prints a plan, one step a line.
func FormatPlan(steps []PlanStep) string { return explainSteps(steps) }

func runQuery(ctx context.Context, q *Query, opts Options, inputs []any, explain bool) (any, *evaluator, error) {
	if len(inputs) != len(q.In) {
		return nil, nil, errorf(nil, "the query takes %d inputs, %d given", len(q.In), len(inputs))
	}
	if opts.Offset < 0 || opts.Limit < 0 {
		return nil, nil, errorf(nil, "offset %d and limit %d must not be negative", opts.Offset, opts.Limit)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	ev := &evaluator{ctx: ctx, srcs: map[SrcVar]*engine.DB{}, raw: map[Var]any{}, opts: opts, explain: explain}
	rel := &relation{rows: [][]datom.Value{{}}, distinct: true} // one empty row: the join's identity
	for i, in := range q.In {
		switch in := in.(type) {
		case SrcInput:
			db, ok := inputs[i].(*engine.DB)
			if !ok {
				return nil, nil, errorf(nil, "input %d (%s) must be a database, not %T", i, in.Src, inputs[i])
			}
			ev.srcs[in.Src] = db
		case ScalarInput:
			ev.raw[in.Var] = inputs[i] // a pull pattern, as given
			v, err := goToValue(inputs[i])
			if err != nil {
				return nil, nil, errorf(nil, "input %d (%s): %v", i, in.Var, err)
			}
			rel = product(rel, &relation{vars: []Var{in.Var}, rows: [][]datom.Value{{v}}, distinct: true})
		case CollInput:
			items, ok := inputs[i].([]any)
			if !ok {
				return nil, nil, errorf(nil, "input %d ([%s ...]) must be a collection, not %T", i, in.Var, inputs[i])
			}
			r := &relation{vars: []Var{in.Var}}
			for j, it := range items {
				v, err := goToValue(it)
				if err != nil {
					return nil, nil, errorf(nil, "input %d ([%s ...]), item %d: %v", i, in.Var, j, err)
				}
				r.rows = append(r.rows, []datom.Value{v})
			}
			rel = product(rel, r)
		case RulesInput:
			rs, err := rulesInput(inputs[i])
			if err != nil {
				return nil, nil, err
			}
			ev.rules = rs
		default:
			return nil, nil, anomaly.New(anomaly.Unsupported, "query", "input %d: this binding form is not evaluated yet", i)
		}
	}
	var steps []PlanStep
	ev.steps = &steps
	rel, err := ev.conj(q.Where, rel)
	if err != nil {
		return nil, ev, err
	}
	ev.lastSteps = steps
	out, err := ev.find(q, rel)
	if err != nil {
		return nil, ev, err
	}
	if tuples, ok := out.([][]any); ok && (opts.Offset > 0 || opts.Limit > 0) {
		tuples = tuples[min(opts.Offset, len(tuples)):]
		if opts.Limit > 0 {
			tuples = tuples[:min(opts.Limit, len(tuples))]
		}
		out = tuples
	}
	return out, ev, nil
}

type evaluator struct {
	ctx   context.Context
	srcs  map[SrcVar]*engine.DB
	raw   map[Var]any // scalar inputs as given (pull patterns)
	rules *ruleSet
	opts  Options
	// counts memoizes the planner's counts of pattern constants.
	counts map[string]int
	// steps records the top level's plan when explaining.
	steps     *[]PlanStep
	lastSteps []PlanStep
	written   bool // run clauses in the order written (no planning)
	explain   bool // estimate every clause, even where there is no choice
	// bounds are the comparisons that narrow the pattern about to run to
	// a range of its attribute's values (see rangeBounds).
	bounds []rangeBound
	access string // how the last pattern read the index (PlanStep.Access)
}

// relation is a set of bindings: rows of values for vars. It may hold a
// row more than once unless distinct says that it does not (which lets
// :find skip making the set).
type relation struct {
	vars     []Var
	rows     [][]datom.Value
	distinct bool
}

func (r *relation) col(v Var) int {
	for i, x := range r.vars {
		if x == v {
			return i
		}
	}
	return -1
}

// product is the cross product of a and b (disjoint variables).
func product(a, b *relation) *relation {
	out := &relation{vars: append(append([]Var{}, a.vars...), b.vars...), distinct: a.distinct && b.distinct}
	for _, ra := range a.rows {
		for _, rb := range b.rows {
			out.rows = append(out.rows, append(append([]datom.Value{}, ra...), rb...))
		}
	}
	return out
}

// goToValue turns an input, a constant or a Go function's result into a
// datom value (entity ids as refs, sequences as tuples). A Go type that is
// no value is incorrect, named in the error.
func goToValue(v any) (datom.Value, error) {
	switch v := v.(type) {
	case datom.Value:
		if !v.IsValid() {
			return datom.Value{}, errorf(nil, "an empty value is no value")
		}
		return v, nil
	case datom.E:
		return datom.Ref(v), nil
	case string:
		return datom.String(v), nil
	case int64:
		return datom.Long(v), nil
	case int:
		return datom.Long(int64(v)), nil
	case int32:
		return datom.Long(int64(v)), nil
	case int16:
		return datom.Long(int64(v)), nil
	case int8:
		return datom.Long(int64(v)), nil
	case uint32:
		return datom.Long(int64(v)), nil
	case uint16:
		return datom.Long(int64(v)), nil
	case uint8:
		return datom.Long(int64(v)), nil
	case uint64:
		if v > math.MaxInt64 {
			return datom.Value{}, errorf(nil, "%d does not fit a long", v)
		}
		return datom.Long(int64(v)), nil
	case uint:
		if uint64(v) > math.MaxInt64 {
			return datom.Value{}, errorf(nil, "%d does not fit a long", v)
		}
		return datom.Long(int64(v)), nil
	case float64:
		return datom.Double(v), nil
	case float32:
		return datom.Float(v), nil
	case bool:
		return datom.Boolean(v), nil
	case engine.Keyword:
		return datom.Keyword(string(v)), nil
	case engine.Symbol:
		return datom.Symbol(string(v)), nil
	case edn.Keyword:
		return datom.Keyword(strings.TrimPrefix(v.String(), ":")), nil
	case edn.Symbol:
		return datom.Symbol(v.String()), nil
	case *big.Int:
		if v == nil {
			return datom.Value{}, errorf(nil, "a nil *big.Int is no value")
		}
		return datom.BigInt(v), nil
	case edn.BigDec:
		return datom.BigDec(bigOrZero(v.Unscaled), v.Scale), nil
	case engine.BigDec:
		return datom.BigDec(bigOrZero(v.Unscaled), v.Scale), nil
	case time.Time:
		return datom.Instant(v), nil
	case edn.UUID:
		return datom.UUID(v), nil
	case [16]byte:
		return datom.UUID(v), nil
	case []byte:
		return datom.Bytes(v), nil
	case []any:
		elems := make([]datom.Value, len(v))
		for i, e := range v {
			x, err := goToValue(e)
			if err != nil {
				return datom.Value{}, err
			}
			elems[i] = x
		}
		return datom.Tuple(elems...), nil
	case edn.Vector:
		return goToValue([]any(v))
	case nil:
		return datom.Value{}, errorf(nil, "nil is no value")
	}
	return datom.Value{}, errorf(nil, "a Go %T (%v) is no value a query can hold", v, v)
}

func bigOrZero(n *big.Int) *big.Int {
	if n == nil {
		return new(big.Int)
	}
	return n
}

func (ev *evaluator) clause(c Clause, rel *relation) (*relation, error) {
	if err := ev.ctx.Err(); err != nil {
		return nil, anomaly.Wrap(anomaly.Interrupted, "query", err)
	}
	switch c := c.(type) {
	case *Pattern:
		return ev.pattern(c, rel)
	case *Pred:
		return ev.pred(c, rel)
	case *Fn:
		return ev.fn(c, rel)
	case *Not:
		return ev.not(c, rel)
	case *Or:
		return ev.or(c, rel)
	case *RuleCall:
		return ev.call(c, rel)
	}
	return nil, anomaly.New(anomaly.Unsupported, "query", "clause %s is not evaluated yet", c.Form())
}

// pattern joins rel with a data pattern: for each row, the datoms that
// match the pattern's constants and the row's bound variables.
func (ev *evaluator) pattern(p *Pattern, rel *relation) (*relation, error) {
	db, ok := ev.srcs[p.Src]
	if !ok {
		return nil, errorf(nil, "source %s is not an input (in %s)", p.Src, p.form)
	}
	// Constants of E and A resolved once.
	consts := make([]datom.Value, 5)
	isConst := make([]bool, 5)
	var attr *engine.Attr
	for i, t := range p.Terms {
		cst, ok := t.(Const)
		if !ok {
			continue
		}
		isConst[i] = true
		switch i {
		case 4:
			b, isBool := cst.V.(bool)
			if !isBool {
				return nil, errorf(nil, "the added position takes true, false or a variable, not %s (in %s)", formString(cst.V), p.form)
			}
			consts[4] = datom.Boolean(b)
		case 0, 3:
			e, found, err := db.EntityOf(ev.ctx, cst.V)
			if err != nil {
				return nil, errorf(nil, "%v (in %s)", err, p.form)
			}
			if !found {
				return &relation{vars: outVars(rel, p)}, nil // names nothing: no rows
			}
			consts[i] = datom.Ref(e)
		case 1:
			e, found, err := db.EntityOf(ev.ctx, cst.V)
			if err != nil {
				return nil, errorf(nil, "%v (in %s)", err, p.form)
			}
			at, isAttr := db.Schema().Attr(e)
			if !found || !isAttr {
				return nil, errorf(nil, "%s is not an attribute (in %s)", formString(cst.V), p.form)
			}
			attr, consts[1] = at, datom.Ref(e)
		}
	}
	if isConst[2] {
		if attr == nil {
			v, err := goToValue(p.Terms[2].(Const).V)
			if err != nil {
				return nil, errorf(nil, "%v (in %s)", err, p.form)
			}
			consts[2] = v
		} else {
			v, err := db.ValueOf(ev.ctx, attr.ID, p.Terms[2].(Const).V)
			if err != nil {
				if anomaly.CategoryOf(err) == anomaly.NotFound {
					return &relation{vars: outVars(rel, p)}, nil
				}
				return nil, errorf(nil, "%v (in %s)", err, p.form)
			}
			consts[2] = v
		}
	}
	out := &relation{vars: outVars(rel, p)}
	newVars := out.vars[len(rel.vars):]
	// Distinct rows in, distinct rows out, when every position a matching
	// datom can vary in (E, A, V: the current view holds each fact once)
	// is a variable: two datoms then differ in a variable's value.
	out.distinct = rel.distinct && !db.IsHistory() && len(p.Terms) >= 3
	for i := 0; i < 3 && i < len(p.Terms); i++ {
		if _, isBlank := p.Terms[i].(Blank); isBlank {
			out.distinct = false
		}
	}
	// Per position, precomputed: the row column of a bound variable, the
	// first position of a variable repeated in the pattern, and the
	// positions that supply the new variables.
	j := &patternJoin{p: p, consts: consts, boundCol: [5]int{-1, -1, -1, -1, -1}, firstPos: [5]int{-1, -1, -1, -1, -1}}
	for i, t := range p.Terms {
		v, ok := t.(Var)
		if !ok {
			continue
		}
		j.boundCol[i] = rel.col(v)
		for k := range i {
			if p.Terms[k] == Term(v) {
				j.firstPos[i] = k
				break
			}
		}
	}
	j.newPos = make([]int, len(newVars))
	for k, v := range newVars {
		for i, t := range p.Terms {
			if t == Term(v) {
				j.newPos[k] = i
				break
			}
		}
	}
	if attr != nil && j.mergeableByValue(len(rel.rows)) {
		ev.access = "merge AVET"
		if err := ev.mergeJoinByValue(db, attr, j, rel, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	if j.mergeable(len(rel.rows)) {
		ev.access = "merge AEVT"
		if err := ev.mergeJoin(db, j, rel, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	bounds := ev.bounds
	ev.bounds = nil
	if len(bounds) > 0 && attr != nil {
		ev.access = "range AVET"
		for r, row := range rel.rows {
			if r%256 == 0 {
				if err := ev.ctx.Err(); err != nil {
					return nil, anomaly.Wrap(anomaly.Interrupted, "query", err)
				}
			}
			lo, hi, hiIncl := valueRange(attr, bounds, rel, row)
			if err := ev.scanRange(db, attr.ID, lo, hi, hiIncl, func(d datom.Datom) {
				if ext, ok := j.extend(row, d); ok {
					out.rows = append(out.rows, ext)
				}
			}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	ev.access = "scan"
	for _, c := range j.boundCol {
		if c >= 0 {
			ev.access = "lookup"
		}
	}
	var known [5]datom.Value
	var has [5]bool
	for r, row := range rel.rows {
		// The pattern's known positions: constants, then the row's values.
		for i, t := range p.Terms {
			switch t.(type) {
			case Const:
				known[i], has[i] = consts[i], true
			case Var:
				if c := j.boundCol[i]; c >= 0 {
					known[i], has[i] = row[c], true
				} else {
					has[i] = false
				}
			default:
				has[i] = false
			}
		}
		if r%256 == 0 {
			if err := ev.ctx.Err(); err != nil {
				return nil, anomaly.Wrap(anomaly.Interrupted, "query", err)
			}
		}
		if err := ev.scan(db, known[:], has[:], func(d datom.Datom) {
			// The scan matched the known positions: only bind.
			if ext, ok := j.bind(row, d); ok {
				out.rows = append(out.rows, ext)
			}
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// outVars is rel's variables followed by the pattern's new ones, in order.
func outVars(rel *relation, p *Pattern) []Var {
	out := append([]Var{}, rel.vars...)
	for _, t := range p.Terms {
		if v, ok := t.(Var); ok && rel.col(v) < 0 && !containsVar(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func containsVar(vs []Var, v Var) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// scan calls fn with the current datoms matching the known positions
// (E, A, V, Tx), through the index their leading components allow.
func (ev *evaluator) scan(db *engine.DB, known []datom.Value, has []bool, fn func(datom.Datom)) error {
	return ev.scanUntil(db, known, has, func(d datom.Datom) error { fn(d); return nil })
}

// scanUntil is scan whose callback can stop it (its error is returned).
func (ev *evaluator) scanUntil(db *engine.DB, known []datom.Value, has []bool, fn func(datom.Datom) error) error {
	ref := func(i int) (datom.E, bool) {
		if !has[i] {
			return 0, false
		}
		if known[i].Type() != datom.TypeRef {
			return 0, false
		}
		return known[i].Ref(), true
	}
	var x datom.Index
	var c engine.Components
	e, hasE := ref(0)
	a, hasA := ref(1)
	if (has[0] && !hasE) || (has[1] && !hasA) {
		return nil // a non-entity where an entity goes: nothing matches
	}
	switch {
	case hasE:
		x, c = datom.EAVT, engine.Components{E: e, HasE: true}
		if hasA {
			c.A, c.HasA = a, true
			if has[2] {
				c.V = known[2]
			}
		}
	case hasA && has[2]:
		x, c = datom.AVET, engine.Components{A: a, HasA: true, V: known[2]}
	case hasA:
		x, c = datom.AEVT, engine.Components{A: a, HasA: true}
	case has[2] && known[2].Type() == datom.TypeRef:
		x, c = datom.VAET, engine.Components{V: known[2]}
	default:
		x = datom.EAVT
	}
	for d, err := range db.Datoms(ev.ctx, x, c) {
		if err != nil {
			return err
		}
		if has[0] && !(hasE && d.E == e) || has[1] && !(hasA && d.A == a) ||
			has[2] && !datom.EqualValue(d.V, known[2]) || has[3] && !(known[3].Type() == datom.TypeRef && d.Tx == known[3].Ref()) ||
			len(has) > 4 && has[4] && !(known[4].Type() == datom.TypeBoolean && d.Added == known[4].Boolean()) {
			continue
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// pred filters rel by a comparison predicate.
func (ev *evaluator) pred(p *Pred, rel *relation) (*relation, error) {
	var cmp func(int) bool
	switch p.Fn {
	case "=", "==":
		cmp = func(c int) bool { return c == 0 }
	case "!=", "not=":
		cmp = func(c int) bool { return c != 0 }
	case "<":
		cmp = func(c int) bool { return c < 0 }
	case "<=":
		cmp = func(c int) bool { return c <= 0 }
	case ">":
		cmp = func(c int) bool { return c > 0 }
	case ">=":
		cmp = func(c int) bool { return c >= 0 }
	default:
		test, ok := predicates[p.Fn]
		fnImpl, isFn := functions[p.Fn]
		if user, isUser := ev.opts.Funcs[p.Fn]; isUser {
			ok, fnImpl, isFn = false, userFunction(user), true
		}
		if !ok && !isFn {
			return nil, errorf(nil, "unknown function %s (in %s)", p.Fn, p.form)
		}
		out := &relation{vars: rel.vars, distinct: rel.distinct}
		for _, row := range rel.rows {
			args, err := ev.args(p.Args, rel, row, p.form)
			if err != nil {
				return nil, err
			}
			var keep bool
			if ok {
				if keep, err = test(ev, args); err != nil {
					return nil, errorf(nil, "%v (in %s)", err, p.form)
				}
			} else {
				// A function as a predicate: true unless it yields
				// nothing, false or nil.
				res, err := fnImpl(ev, args)
				if err != nil {
					return nil, errorf(nil, "%v (in %s)", err, p.form)
				}
				keep = res != nil && !(res.Type() == datom.TypeBoolean && !res.Boolean())
			}
			if keep {
				out.rows = append(out.rows, row)
			}
		}
		return out, nil
	}
	if len(p.Args) != 2 {
		return nil, errorf(nil, "%s takes 2 arguments here, not %d (in %s)", p.Fn, len(p.Args), p.form)
	}
	arg := func(t Term, row []datom.Value) (datom.Value, error) {
		switch t := t.(type) {
		case Var:
			j := rel.col(t)
			if j < 0 {
				return datom.Value{}, errorf(nil, "insufficient binding: %s is not bound before %s", t, p.form)
			}
			return row[j], nil
		case Const:
			return constValue(t.V), nil
		}
		return datom.Value{}, errorf(nil, "%s takes variables and constants (in %s)", p.Fn, p.form)
	}
	out := &relation{vars: rel.vars, distinct: rel.distinct}
	for _, row := range rel.rows {
		a, err := arg(p.Args[0], row)
		if err != nil {
			return nil, err
		}
		b, err := arg(p.Args[1], row)
		if err != nil {
			return nil, err
		}
		if cmp(compareLoose(a, b)) {
			out.rows = append(out.rows, row)
		}
	}
	return out, nil
}

// compareLoose orders values as Datomic's comparisons do: numbers by
// value across long and double, others by datom order.
func compareLoose(a, b datom.Value) int {
	num := func(v datom.Value) (float64, bool) {
		switch v.Type() {
		case datom.TypeLong:
			return float64(v.Long()), true
		case datom.TypeDouble:
			return v.Double(), true
		}
		return 0, false
	}
	if x, ok := num(a); ok {
		if y, ok := num(b); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return datom.CompareValue(a, b)
}

// find shapes the result: distinct tuples of the :find variables (with
// :with's, then dropped), aggregates computed per group of the others.
func (ev *evaluator) find(q *Query, rel *relation) (any, error) {
	type colOf struct {
		col  int
		agg  *AggElem
		pull *engine.Pattern
		db   *engine.DB
	}
	cols := make([]colOf, len(q.Find.Elems))
	hasAgg := false
	for i, e := range q.Find.Elems {
		switch e := e.(type) {
		case Var:
			if cols[i].col = rel.col(e); cols[i].col < 0 {
				return nil, errorf(nil, "unknown variable %s in :find", e)
			}
		case AggElem:
			v := e.Args[len(e.Args)-1].(Var)
			if cols[i].col = rel.col(v); cols[i].col < 0 {
				return nil, errorf(nil, "unknown variable %s in :find", v)
			}
			cols[i].agg, hasAgg = &e, true
		case PullElem:
			if cols[i].col = rel.col(e.Var); cols[i].col < 0 {
				return nil, errorf(nil, "unknown variable %s in :find", e.Var)
			}
			db, ok := ev.srcs[e.Src]
			if !ok {
				return nil, errorf(nil, "pull reads source %s, which is not an input", e.Src)
			}
			pat := e.Pattern
			if pv, isVar := pat.(Var); isVar {
				pat = ev.raw[pv]
			}
			if _, isEDN := pat.(edn.Vector); isEDN {
				var err error
				if pat, err = engine.PatternFromEDN(pat); err != nil {
					return nil, err
				}
			}
			cp, err := db.CompilePattern(pat)
			if err != nil {
				return nil, err
			}
			cols[i].pull, cols[i].db = cp, db
		}
	}
	var withCols []int
	for _, v := range q.With {
		c := rel.col(v)
		if c < 0 {
			return nil, errorf(nil, "unknown variable %s in :with", v)
		}
		withCols = append(withCols, c)
	}
	// The set of rows over the find and with columns.
	var setCols []int
	for _, c := range cols {
		if !slices.Contains(setCols, c.col) {
			setCols = append(setCols, c.col)
		}
	}
	for _, c := range withCols {
		if !slices.Contains(setCols, c) {
			setCols = append(setCols, c)
		}
	}
	rows := rel.rows
	if !rel.distinct || len(setCols) < len(rel.vars) {
		// Make the set (rows known distinct over every column are one).
		seen := newRowMap[struct{}](len(rel.rows))
		rows = nil
		for _, row := range rel.rows {
			if _, dup := seen.get(row, setCols); !dup {
				seen.put(row, setCols, struct{}{})
				rows = append(rows, row)
			}
		}
	}
	var tuples [][]any
	if !hasAgg {
		// One allocation for every tuple's elements.
		k := len(cols)
		elems := make([]any, len(rows)*k)
		tuples = make([][]any, 0, len(rows))
		for r, row := range rows {
			t := elems[r*k : (r+1)*k : (r+1)*k]
			for i, c := range cols {
				if c.pull != nil {
					v := row[c.col]
					if v.Type() != datom.TypeRef {
						return nil, errorf(nil, "pull of %s, which is not an entity", v)
					}
					m, err := c.db.PullPattern(ev.ctx, c.pull, v.Ref())
					if err != nil {
						return nil, err
					}
					t[i] = m
					continue
				}
				t[i] = resultValue(row[c.col])
			}
			tuples = append(tuples, t)
		}
		// With :with, a tuple repeats once per distinct value of the
		// :with variables: the result is a bag, as in Datomic.
	} else {
		var groupCols []int
		for _, c := range cols {
			if c.agg == nil {
				groupCols = append(groupCols, c.col)
			}
		}
		type group struct {
			row  []datom.Value
			vals [][]datom.Value // per find element
		}
		groups := map[string]*group{}
		var order []string
		for _, row := range rows {
			k := rowKey(row, groupCols)
			g, ok := groups[k]
			if !ok {
				g = &group{row: row, vals: make([][]datom.Value, len(cols))}
				groups[k] = g
				order = append(order, k)
			}
			for i, c := range cols {
				if c.agg != nil {
					g.vals[i] = append(g.vals[i], row[c.col])
				}
			}
		}
		rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		if len(order) == 0 && len(groupCols) == 0 {
			// Aggregates over nothing: one row (count 0), as Datomic.
			groups[""], order = &group{vals: make([][]datom.Value, len(cols))}, []string{""}
		}
		for _, k := range order {
			g := groups[k]
			t := make([]any, len(cols))
			for i, c := range cols {
				if c.pull != nil {
					m, err := c.db.PullPattern(ev.ctx, c.pull, g.row[c.col].Ref())
					if err != nil {
						return nil, err
					}
					t[i] = m
					continue
				}
				if c.agg == nil {
					t[i] = resultValue(g.row[c.col])
					continue
				}
				if user, ok := ev.opts.Aggs[c.agg.Fn]; ok {
					in := make([]any, len(g.vals[i]))
					for j, v := range g.vals[i] {
						in[j] = resultValue(v)
					}
					v, err := user(in)
					if err != nil {
						return nil, errorf(nil, "aggregate %s: %v", c.agg.Fn, err)
					}
					t[i] = v
					continue
				}
				v, err := aggregate(*c.agg, g.vals[i], rng)
				if err != nil {
					return nil, err
				}
				t[i] = v
			}
			tuples = append(tuples, t)
		}
	}
	switch q.Find.Kind {
	case FindColl:
		out := make([]any, len(tuples))
		for i, t := range tuples {
			out[i] = t[0]
		}
		return out, nil
	case FindScalar:
		if len(tuples) == 0 {
			return nil, nil
		}
		return tuples[0][0], nil
	case FindTuple:
		if len(tuples) == 0 {
			return nil, nil
		}
		return tuples[0], nil
	}
	if q.KeysKind != KeysNone {
		out := make([]map[any]any, len(tuples))
		for i, t := range tuples {
			m := map[any]any{}
			for j, k := range q.Keys {
				var key any = k
				switch q.KeysKind {
				case KeysKeywords:
					key = engine.Keyword(k)
				case KeysSymbols:
					key = engine.Symbol(k)
				}
				m[key] = t[j]
			}
			out[i] = m
		}
		return out, nil
	}
	return tuples, nil
}

// resultValue is a value as results carry it: entity ids as datom.E.
func resultValue(v datom.Value) any {
	if v.Type() == datom.TypeRef {
		return v.Ref()
	}
	return engine.GoValue(v)
}

// anyVector returns an EDN vector's elements.
func anyVector(v any) ([]any, bool) {
	if vec, ok := v.(edn.Vector); ok {
		return []any(vec), true
	}
	return nil, false
}
