package query

import (
	"fmt"
	"strings"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// The planner, first part: clauses run in an order chosen from what is
// bound and from how many datoms each data pattern's constants select (an
// attribute alone: the count the statistics keep, see engine.AttrCount;
// with a constant entity or value: counted in the index, up to a cap, per
// query), not in the order written — so that a query with its clauses in a bad order runs like the
// good order. Filters (predicates, functions, not, or) run as soon as the
// variables they need are bound; among data patterns, the one with the
// fewest candidate datoms per row goes first. Ties go to the clause's
// text, so that the order does not depend on the order written.

// countCap bounds the datoms counted to estimate a pattern.
const countCap = 4096

// PlanStep is one clause of a plan, with what it did when run.
type PlanStep struct {
	Clause   string
	Estimate int // candidate datoms per input row (patterns), 0 for filters
	// Access is how a data pattern read the index: "lookup" (a seek per
	// row), "merge AEVT" (one ordered read merged with the rows), "range
	// AVET" (the values its comparisons allow) or "scan" (one read of what
	// its constants select); empty for other clauses.
	Access  string
	RowsIn  int
	RowsOut int
}

// order returns cs in the order to run them, given the variables bound
// before them.
func (ev *evaluator) order(cs []Clause, bound []Var) ([]Clause, []int) {
	if len(cs) == 1 && !ev.explain {
		return cs, []int{0} // nothing to order (and no estimate to show)
	}
	isBound := map[Var]bool{}
	for _, v := range bound {
		isBound[v] = true
	}
	left := append([]Clause{}, cs...)
	var out []Clause
	var est []int
	for len(left) > 0 {
		best, bestCost := -1, 0
		for i, c := range left {
			cost, ready := ev.cost(c, isBound)
			if !ready {
				continue
			}
			if best < 0 || cost < bestCost || cost == bestCost && c.Form() < left[best].Form() {
				best, bestCost = i, cost
			}
		}
		if best < 0 {
			// Nothing is ready (a filter whose variables no clause binds):
			// run the rest as written, and let the clause say what is
			// missing.
			for _, c := range left {
				out = append(out, c)
				est = append(est, 0)
			}
			break
		}
		c := left[best]
		out = append(out, c)
		est = append(est, bestCost)
		left = append(left[:best], left[best+1:]...)
		m := map[Var]bool{}
		collectVars(c, m)
		for v := range m {
			isBound[v] = true
		}
	}
	return out, est
}

// cost estimates a clause given the bound variables; ready is false when
// the clause needs variables not bound yet.
func (ev *evaluator) cost(c Clause, bound map[Var]bool) (int, bool) {
	needs := func(ts []Term) bool {
		for _, v := range termVars(ts) {
			if !bound[v] {
				return false
			}
		}
		return true
	}
	switch c := c.(type) {
	case *Pred:
		return 0, needs(c.Args)
	case *Fn:
		return 1, needs(c.Args)
	case *Not:
		if c.Join != nil {
			return 2, needs(varsAsTerms(c.Join))
		}
		// not: its variables shared with the query must be bound; the
		// ones that are not are local. Run it once anything it shares is.
		var all []Var
		for _, b := range c.Body {
			clauseVars(b, &all)
		}
		for _, v := range all {
			if bound[v] {
				return 2, true
			}
		}
		return 2, len(all) == 0
	case *Or:
		if !needs(varsAsTerms(c.Required)) {
			return 0, false
		}
		return 3 + countCap/2, true
	case *RuleCall:
		n := 0
		for _, a := range c.Args {
			if v, ok := a.(Var); ok && !bound[v] {
				n++
			}
		}
		return 8 + n*countCap/4, true
	case *Pattern:
		return ev.patternCost(c, bound), true
	}
	return countCap, true
}

func varsAsTerms(vs []Var) []Term {
	out := make([]Term, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// patternCost: the datoms the pattern's constants select (counted up to
// countCap), divided down when a bound variable narrows each lookup.
func (ev *evaluator) patternCost(p *Pattern, bound map[Var]bool) int {
	db, ok := ev.srcs[p.Src]
	if !ok {
		return countCap
	}
	isBound := func(i int) bool {
		if i >= len(p.Terms) {
			return false
		}
		switch t := p.Terms[i].(type) {
		case Const:
			return true
		case Var:
			return bound[t]
		}
		return false
	}
	// A bound entity, or an attribute with a bound value, is a lookup of
	// a few datoms per row.
	if isBound(0) {
		if isBound(1) {
			return 1
		}
		return 4
	}
	n := ev.constCount(db, p)
	if isBound(1) && isBound(2) {
		if _, isConst := p.Terms[2].(Const); !isConst {
			return max(1, n/64) // a bound value: one value's datoms
		}
	}
	if len(p.Terms) > 2 && isBound(2) {
		if _, isConst := p.Terms[2].(Const); !isConst && !isBound(1) {
			return max(1, n/16)
		}
	}
	return n
}

// constCount counts (up to countCap) the datoms matching the pattern's
// constant E, A and V, memoized per query.
func (ev *evaluator) constCount(db *engine.DB, p *Pattern) int {
	var consts []string
	for i, t := range p.Terms {
		if c, ok := t.(Const); ok && i < 3 {
			consts = append(consts, fmt.Sprint(i, formString(c.V)))
		} else {
			consts = append(consts, "_")
		}
	}
	key := string(p.Src) + strings.Join(consts, " ")
	if n, ok := ev.counts[key]; ok {
		return n
	}
	known := make([]datom.Value, 4)
	has := make([]bool, 4)
	n := 0
	resolved := true
	for i, t := range p.Terms {
		c, ok := t.(Const)
		if !ok || i > 2 {
			continue
		}
		switch i {
		case 0, 1:
			e, found, err := db.EntityOf(ev.ctx, c.V)
			if err != nil || !found {
				resolved = false
				continue
			}
			known[i], has[i] = datom.Ref(e), true
		case 2:
			if has[1] {
				v, err := db.ValueOf(ev.ctx, known[1].Ref(), c.V)
				if err != nil {
					resolved = false
					continue
				}
				known[2], has[2] = v, true
			} else {
				known[2], has[2] = constValue(c.V), true
			}
		}
	}
	switch {
	case !resolved:
	case has[1] && !has[0] && !has[2] && db.AttrCount(known[1].Ref()) >= 0:
		// An attribute alone: the statistics have its count.
		n = int(min(db.AttrCount(known[1].Ref()), 1<<40))
	default:
		ev.scanCapped(db, known, has, countCap, func() { n++ })
	}
	if ev.counts == nil {
		ev.counts = map[string]int{}
	}
	ev.counts[key] = n
	return n
}

// scanCapped is scan, stopping after limit datoms.
func (ev *evaluator) scanCapped(db *engine.DB, known []datom.Value, has []bool, limit int, fn func()) {
	n := 0
	stop := fmt.Errorf("enough")
	_ = ev.scanUntil(db, known, has, func(datom.Datom) error {
		fn()
		if n++; n >= limit {
			return stop
		}
		return nil
	})
}

// explainSteps formats a plan.
func explainSteps(steps []PlanStep) string {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "%2d. %-60s %-11s est %6d  rows %d -> %d\n", i+1, s.Clause, s.Access, s.Estimate, s.RowsIn, s.RowsOut)
	}
	return b.String()
}
