package query

import (
	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// Predicate pushdown: a data pattern that reads an attribute's values into
// a new variable, [?e :a ?v], followed in its conjunction by comparisons of
// ?v with constants or bound variables, [(> ?v 50000)], reads only the
// range of AVET the comparisons allow instead of every datom of the
// attribute. The comparisons still run after it: the range only narrows
// what is read (a bound of another type than the attribute's is not used).

// pushdown turns the pushdown on (a variable so that tests can compare
// with it off).
var pushdown = true

// rangeBound is one comparison of the pattern's value: v op other.
type rangeBound struct {
	op    string // <, <=, >, >= with the value on the left
	other Term   // a constant or a variable bound before the pattern
}

// flipOp is the comparison with its sides swapped.
var flipOp = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}

// rangeBounds returns the comparisons among rest that bound p's value
// variable, when p can be read as a range: an unbound entity, a constant
// attribute, and a value variable that nothing has bound and the pattern
// does not repeat.
func rangeBounds(p *Pattern, rest []Clause, rel *relation) []rangeBound {
	if !pushdown || len(p.Terms) < 3 {
		return nil
	}
	if _, ok := p.Terms[1].(Const); !ok {
		return nil
	}
	if e, ok := p.Terms[0].(Var); ok && rel.col(e) >= 0 {
		return nil
	}
	if _, ok := p.Terms[0].(Const); ok {
		return nil
	}
	v, ok := p.Terms[2].(Var)
	if !ok || rel.col(v) >= 0 {
		return nil
	}
	for i, t := range p.Terms {
		if i != 2 && t == Term(v) {
			return nil // repeated: the pattern itself filters
		}
	}
	usable := func(t Term) bool {
		switch t := t.(type) {
		case Const:
			return true
		case Var:
			return rel.col(t) >= 0
		}
		return false
	}
	var out []rangeBound
	for _, c := range rest {
		pr, ok := c.(*Pred)
		if !ok || len(pr.Args) != 2 || flipOp[pr.Fn] == "" {
			continue
		}
		switch {
		case pr.Args[0] == Term(v) && usable(pr.Args[1]):
			out = append(out, rangeBound{pr.Fn, pr.Args[1]})
		case pr.Args[1] == Term(v) && usable(pr.Args[0]):
			out = append(out, rangeBound{flipOp[pr.Fn], pr.Args[0]})
		}
	}
	return out
}

// valueRange returns, for one row, the AVET range of attribute at that
// the bounds allow: a start (invalid: from the first value) and an end
// (invalid: to the last), inclusive or not.
func valueRange(at *engine.Attr, bounds []rangeBound, rel *relation, row []datom.Value) (lo, hi datom.Value, hiIncl bool) {
	for _, b := range bounds {
		var x datom.Value
		switch t := b.other.(type) {
		case Const:
			x = constValue(t.V)
		case Var:
			x = row[rel.col(t)]
		}
		if x.Type() != at.Type {
			continue // ordered apart in AVET: the comparison alone decides
		}
		switch b.op {
		case ">", ">=":
			if !lo.IsValid() || datom.CompareValue(x, lo) > 0 {
				lo = x
			}
		case "<", "<=":
			c := 0
			if hi.IsValid() {
				c = datom.CompareValue(x, hi)
			}
			if !hi.IsValid() || c < 0 || c == 0 && b.op == "<" {
				hi, hiIncl = x, b.op == "<="
			}
		}
	}
	return lo, hi, hiIncl
}

// scanRange calls fn with the current datoms of attribute a whose value
// lies in the range, in AVET order.
func (ev *evaluator) scanRange(db *engine.DB, a datom.E, lo, hi datom.Value, hiIncl bool, fn func(datom.Datom)) error {
	n := 0
	for d, err := range db.SeekDatoms(ev.ctx, datom.AVET, engine.Components{A: a, HasA: true, V: lo}) {
		if err != nil {
			return err
		}
		if d.A != a {
			return nil
		}
		if hi.IsValid() {
			if c := datom.CompareValue(d.V, hi); c > 0 || c == 0 && !hiIncl {
				return nil
			}
		}
		if n++; n%1024 == 0 {
			if err := ev.ctx.Err(); err != nil {
				return anomaly.Wrap(anomaly.Interrupted, "query", err)
			}
		}
		fn(d)
	}
	return nil
}
