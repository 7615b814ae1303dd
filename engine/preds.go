package engine

import (
	"github.com/stratadb/strata/datom"
)

// checkPreds runs attribute predicates on asserted values and the entity
// specs (:db/ensure) asserted in this transaction against db-after.
func (tx *txn) checkPreds(after *DB, txData []datom.Datom) error {
	for _, d := range txData {
		if !d.Added {
			continue
		}
		at, ok := tx.db.schema.Attr(d.A)
		if !ok {
			continue
		}
		for _, name := range at.Preds {
			p, ok := tx.opts.Preds[name]
			if !ok {
				return txErr(CodePredicateFailed, d, "attribute predicate %s of :%s is not registered", name, at.Ident)
			}
			if !p(after, d.E, d.V) {
				return txErr(CodePredicateFailed, d, "value %s of :%s fails predicate %s", d.V, at.Ident, name)
			}
		}
		if d.A != eEnsure {
			continue
		}
		spec := d.V.Ref()
		specName, _ := after.schema.Ident(spec)
		var missing []string
		after.currentValues(tx.r, spec, eEntityAttrs, func(r datom.Datom) bool {
			a, ok := after.schema.Entid(r.V.Str())
			has := false
			if ok {
				after.currentValues(tx.r, d.E, a, func(datom.Datom) bool { has = true; return false })
			}
			if !has {
				missing = append(missing, ":"+r.V.Str())
			}
			return true
		})
		if len(missing) > 0 {
			return txErr(CodePredicateFailed, d, "entity %d lacks %v required by entity spec :%s", d.E, missing, specName)
		}
		var failed error
		after.currentValues(tx.r, spec, eEntityPreds, func(r datom.Datom) bool {
			p, ok := tx.opts.Preds[r.V.Str()]
			switch {
			case !ok:
				failed = txErr(CodePredicateFailed, d, "entity predicate %s of :%s is not registered", r.V.Str(), specName)
			case !p(after, d.E, datom.Value{}):
				failed = txErr(CodePredicateFailed, d, "entity %d fails predicate %s of entity spec :%s", d.E, r.V.Str(), specName)
			}
			return failed == nil
		})
		if failed != nil {
			return failed
		}
	}
	return nil
}
