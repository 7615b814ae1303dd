package query

import (
	"cmp"
	"slices"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// The merge join: a data pattern whose entity is a variable the rows bind
// and whose attribute is a constant reads the attribute's datoms in AEVT
// order once, the rows taken in entity order, instead of seeking the index
// once per row. Where the rows' entities lie far apart in the attribute
// (mergeGap datoms read without a match), the scan seeks ahead to the next
// row's entity, so a sparse join costs at most a seek per row and mergeGap
// datoms more.

// Variables so that tests can force the merge join and its seeks.
var (
	// mergeMinRows is the fewest rows a merge join is used for.
	mergeMinRows = 32
	// mergeGap is how many datoms the scan reads past without a match
	// before it seeks.
	mergeGap = 16
)

// patternJoin is what a data pattern's join precomputes.
type patternJoin struct {
	p        *Pattern
	consts   []datom.Value // resolved constants by position (E, A, V, Tx, added)
	boundCol [5]int        // row column of a bound variable, or -1
	firstPos [5]int        // first position of a variable repeated in the pattern, or -1
	newPos   []int         // the positions that supply the new variables
}

// extend returns row extended with d's values for the new variables, or
// false when d does not match the row's known V, Tx and added or the
// pattern's repeated variables (the merge joins' and the range's check: a
// scan through the known positions has made the first one, see bind).
func (j *patternJoin) extend(row []datom.Value, d datom.Datom) ([]datom.Value, bool) {
	for i := 2; i < len(j.p.Terms); i++ {
		var k datom.Value
		switch {
		case j.boundCol[i] >= 0:
			k = row[j.boundCol[i]]
		case j.consts[i].IsValid():
			k = j.consts[i]
		default:
			continue
		}
		if i == 2 && !datom.EqualValue(d.V, k) || i == 3 && !(k.Type() == datom.TypeRef && d.Tx == k.Ref()) ||
			i == 4 && !(k.Type() == datom.TypeBoolean && d.Added == k.Boolean()) {
			return nil, false
		}
	}
	return j.bind(row, d)
}

// bind returns row extended with d's values for the new variables, or
// false when d does not match the pattern's repeated variables.
func (j *patternJoin) bind(row []datom.Value, d datom.Datom) ([]datom.Value, bool) {
	vals := [5]datom.Value{datom.Ref(d.E), datom.Ref(d.A), d.V, datom.Ref(d.Tx), datom.Boolean(d.Added)}
	for i, f := range j.firstPos {
		if f >= 0 && i < len(j.p.Terms) && !datom.EqualValue(vals[f], vals[i]) {
			return nil, false
		}
	}
	ext := make([]datom.Value, len(row)+len(j.newPos))
	copy(ext, row)
	for k, pos := range j.newPos {
		ext[len(row)+k] = vals[pos]
	}
	return ext, true
}

// mergeable reports whether the merge join serves j over rows rows.
func (j *patternJoin) mergeable(rows int) bool {
	return rows >= mergeMinRows && j.boundCol[0] >= 0 && j.consts[1].Type() == datom.TypeRef
}

// mergeableByValue reports whether the merge join by value serves j over
// rows rows: the value is a variable the rows bind, the attribute a
// constant, the entity not bound (else the merge by entity serves).
func (j *patternJoin) mergeableByValue(rows int) bool {
	return rows >= mergeMinRows && j.boundCol[0] < 0 && len(j.p.Terms) > 2 && j.boundCol[2] >= 0 &&
		j.consts[1].Type() == datom.TypeRef && !j.consts[0].IsValid()
}

// mergeJoinByValue is the merge join on the value: the rows taken in value
// order, the attribute read in AVET order, seeking ahead where the rows'
// values are sparse in it. It is mergeJoin's loop with values for entity
// ids: one loop over both, with the comparison passed in, was 15–25% slower
// on the people queries. Rows whose value is not of the attribute's type
// match nothing.
func (ev *evaluator) mergeJoinByValue(db *engine.DB, at *engine.Attr, j *patternJoin, rel, out *relation) error {
	type probe struct {
		v   datom.Value
		row int32
	}
	probes := make([]probe, 0, len(rel.rows))
	for r, row := range rel.rows {
		if v := row[j.boundCol[2]]; v.Type() == at.Type {
			probes = append(probes, probe{v, int32(r)})
		}
	}
	slices.SortFunc(probes, func(x, y probe) int { return datom.CompareValue(x.v, y.v) })
	read := 0
	for i := 0; i < len(probes); {
		gap, reseek := 0, false
		for d, err := range db.SeekDatoms(ev.ctx, datom.AVET, engine.Components{A: at.ID, HasA: true, V: probes[i].v}) {
			if err != nil {
				return err
			}
			if read++; read%256 == 0 {
				if err := ev.ctx.Err(); err != nil {
					return anomaly.Wrap(anomaly.Interrupted, "query", err)
				}
			}
			if d.A != at.ID {
				return nil
			}
			for i < len(probes) && datom.CompareValue(probes[i].v, d.V) < 0 {
				i++
			}
			if i == len(probes) {
				return nil
			}
			if datom.CompareValue(probes[i].v, d.V) == 0 {
				gap = 0
				for k := i; k < len(probes) && datom.CompareValue(probes[k].v, d.V) == 0; k++ {
					if ext, ok := j.extend(rel.rows[probes[k].row], d); ok {
						out.rows = append(out.rows, ext)
					}
				}
				continue
			}
			if gap++; gap > mergeGap {
				reseek = true
				break
			}
		}
		if !reseek {
			return nil
		}
	}
	return nil
}

// mergeJoin joins rel with j's pattern into out (see mergeable).
func (ev *evaluator) mergeJoin(db *engine.DB, j *patternJoin, rel, out *relation) error {
	a := j.consts[1].Ref()
	type probe struct {
		e   datom.E
		row int32
	}
	probes := make([]probe, 0, len(rel.rows))
	for r, row := range rel.rows {
		if v := row[j.boundCol[0]]; v.Type() == datom.TypeRef {
			probes = append(probes, probe{v.Ref(), int32(r)})
		}
	}
	slices.SortFunc(probes, func(x, y probe) int { return cmp.Compare(x.e, y.e) })
	read := 0
	for i := 0; i < len(probes); {
		gap, reseek := 0, false
		for d, err := range db.SeekDatoms(ev.ctx, datom.AEVT, engine.Components{A: a, HasA: true, E: probes[i].e, HasE: true}) {
			if err != nil {
				return err
			}
			if read++; read%256 == 0 {
				if err := ev.ctx.Err(); err != nil {
					return anomaly.Wrap(anomaly.Interrupted, "query", err)
				}
			}
			if d.A != a {
				return nil
			}
			for i < len(probes) && probes[i].e < d.E {
				i++
			}
			if i == len(probes) {
				return nil
			}
			if probes[i].e == d.E {
				gap = 0
				for k := i; k < len(probes) && probes[k].e == d.E; k++ {
					if ext, ok := j.extend(rel.rows[probes[k].row], d); ok {
						out.rows = append(out.rows, ext)
					}
				}
				continue
			}
			if gap++; gap > mergeGap {
				reseek = true
				break
			}
		}
		if !reseek {
			return nil
		}
	}
	return nil
}
