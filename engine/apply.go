package engine

import (
	"slices"
	"time"

	"github.com/stratadb/strata/datom"
)

// factKey identifies a fact (e, a, v) in maps.
type factKey struct {
	e, a datom.E
	v    datom.ValueKey
}

func keyOf(e, a datom.E, v datom.Value) factKey { return factKey{e, a, v.Key()} }

type eaKey struct{ e, a datom.E }

// apply computes the transaction's datoms from the resolved operations
// and builds db-after.
func (tx *txn) apply() (*TxReport, error) {
	db := tx.db
	// The assertions in order, and where each fact is among them.
	type pending struct {
		d    datom.Datom
		form Op
	}
	addList := make([]pending, 0, len(tx.rops))
	adds := make(map[factKey]int, len(tx.rops))
	explicitRetracts := map[factKey]datom.Datom{} // the current datoms retracted
	var retractOrder []factKey
	cardOne := make(map[eaKey]datom.Datom, len(tx.rops))

	retract := func(c datom.Datom) {
		k := keyOf(c.E, c.A, c.V)
		if _, ok := explicitRetracts[k]; !ok {
			explicitRetracts[k] = c
			retractOrder = append(retractOrder, k)
		}
	}
	var retractEntity func(e datom.E, seen map[datom.E]bool)
	retractEntity = func(e datom.E, seen map[datom.E]bool) {
		if seen[e] {
			return
		}
		seen[e] = true
		var comps []datom.E
		db.scanCur(tx.r, datom.EAVT, datom.Datom{E: e}, func(d datom.Datom) bool { return d.E == e }, func(d datom.Datom) bool {
			retract(d)
			if at, ok := db.schema.Attr(d.A); ok && at.Component {
				comps = append(comps, d.V.Ref())
			}
			return true
		})
		db.scanCur(tx.r, datom.VAET, datom.Datom{V: datom.Ref(e)}, func(d datom.Datom) bool {
			return d.V.Type() == datom.TypeRef && d.V.Ref() == e
		}, func(d datom.Datom) bool {
			retract(d)
			return true
		})
		for _, c := range comps {
			retractEntity(c, seen)
		}
	}

	for i := range tx.rops {
		r := &tx.rops[i]
		switch r.kind {
		case kTouch:
		case kRetractEntity:
			if r.e == tx.txE {
				return nil, txErr(CodeInvalidTxData, r.form, "cannot retract the transaction's own entity")
			}
			retractEntity(r.e, map[datom.E]bool{})
		case kRetract:
			if r.hasV {
				if c, ok := db.current(tx.r, r.e, r.at.ID, r.v); ok {
					retract(c)
				}
				continue
			}
			db.currentValues(tx.r, r.e, r.at.ID, func(c datom.Datom) bool { retract(c); return true })
		case kCAS:
			var curV datom.Value
			has := false
			db.currentValues(tx.r, r.e, r.at.ID, func(c datom.Datom) bool { curV, has = c.V, true; return false })
			switch {
			case r.oldNone && has:
				return nil, txErr(CodeCASFailed, r.form, "expected no value for :%s, found %s", r.at.Ident, curV)
			case !r.oldNone && !has:
				return nil, txErr(CodeCASFailed, r.form, "expected %s for :%s, found none", r.old, r.at.Ident)
			case !r.oldNone && !datom.EqualValue(curV, r.old):
				return nil, txErr(CodeCASFailed, r.form, "expected %s for :%s, found %s", r.old, r.at.Ident, curV)
			}
			fallthrough
		case kAdd:
			d := datom.Datom{E: r.e, A: r.at.ID, V: r.v, Tx: tx.txE, Added: true}
			k := keyOf(d.E, d.A, d.V)
			if _, dup := adds[k]; dup {
				continue
			}
			if !r.at.Many {
				ea := eaKey{d.E, d.A}
				if prev, ok := cardOne[ea]; ok {
					return nil, txErr(CodeDatomsConflict, r.form, "two values for the cardinality-one :%s of %d: %s and %s",
						r.at.Ident, d.E, prev.V, d.V)
				}
				cardOne[ea] = d
			}
			adds[k] = len(addList)
			addList = append(addList, pending{d, r.form})
		}
	}
	for k := range explicitRetracts {
		if i, ok := adds[k]; ok {
			p := addList[i]
			if _, cur := db.current(tx.r, p.d.E, p.d.A, p.d.V); cur {
				return nil, txErr(CodeDatomsConflict, p.form, "the transaction both asserts and retracts %s", p.d)
			}
		}
	}

	// Redundant assertions drop out; cardinality-one assertions retract
	// the value they replace.
	asserted := make([]datom.Datom, 0, len(addList)+1)
	var replaced []datom.Datom
	for _, p := range addList {
		d := p.d
		if at, _ := db.schema.Attr(d.A); at.Many {
			if _, ok := db.current(tx.r, d.E, d.A, d.V); ok {
				continue
			}
		} else {
			// One scan of (e, a) finds both a redundant value and the
			// ones it replaces.
			redundant := false
			replaced = replaced[:0]
			db.currentValues(tx.r, d.E, d.A, func(c datom.Datom) bool {
				if datom.EqualValue(c.V, d.V) {
					redundant = true
				} else {
					replaced = append(replaced, c)
				}
				return true
			})
			if redundant {
				continue
			}
			for _, c := range replaced {
				retract(c)
			}
		}
		asserted = append(asserted, d)
	}

	// Unique values: no other entity may hold one (after this
	// transaction's retractions).
	uniq := map[factKey]datom.E{}
	for _, d := range asserted {
		at, _ := db.schema.Attr(d.A)
		if at.Unique == UniqueNone {
			continue
		}
		uk := keyOf(0, d.A, d.V)
		if other, ok := uniq[uk]; ok && other != d.E {
			return nil, txErr(CodeUniqueConflict, d, "both %d and %d would have :%s %s", other, d.E, at.Ident, d.V)
		}
		uniq[uk] = d.E
		if owner, ok := db.lookupCur(tx.r, d.A, d.V); ok && owner != d.E {
			if _, gone := explicitRetracts[keyOf(owner, d.A, d.V)]; !gone {
				return nil, txErr(CodeUniqueConflict, d, "%d already has :%s %s", owner, at.Ident, d.V)
			}
		}
	}

	// The transaction entity's instant.
	now := tx.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	instant := max(now.UnixMilli(), db.lastInstant)
	if d, ok := cardOne[eaKey{tx.txE, eTxInstant}]; ok {
		if d.V.Millis() < db.lastInstant {
			return nil, txErr(CodeTxInstant, d, ":db/txInstant %s is earlier than the last transaction's %s",
				d.V, datom.InstantMillis(db.lastInstant))
		}
		instant = d.V.Millis()
	} else {
		asserted = append(asserted, datom.Datom{E: tx.txE, A: eTxInstant, V: datom.InstantMillis(instant), Tx: tx.txE, Added: true})
	}

	// db-after.
	if tx.r.err != nil {
		return nil, tx.r.err
	}
	// From here on the transaction writes its layer (in place when db is
	// its newest value) and must take the writes back if it fails.
	w := beginTx(db, tx.t, tx.opts.Writer)
	defer w.abort()
	after := &DB{basis: tx.t, nextN: tx.nextN, lastInstant: instant, schema: db.schema, mem: w.l, base: db.base}
	txData := make([]datom.Datom, 0, len(retractOrder)+len(asserted))
	rets := make([]retraction, 0, len(retractOrder))
	touchedSchema := map[datom.E]bool{}
	for _, k := range retractOrder {
		c := explicitRetracts[k]
		txData = append(txData, retractionOf(c, tx.t))
		rets = append(rets, retraction{d: c, noHist: db.schema.noHistory(c.A)})
		if schemaAttrs[c.A] {
			touchedSchema[c.E] = true
		}
	}
	for _, d := range asserted {
		txData = append(txData, d)
		if schemaAttrs[d.A] {
			touchedSchema[d.E] = true
		}
	}
	w.write(rets, asserted)
	more, err := tx.composites(w, after, txData)
	if err == nil {
		err = tx.r.err
	}
	if err != nil {
		return nil, err
	}
	txData = append(txData, more...)
	if len(touchedSchema) > 0 {
		s, err := after.rebuildSchema(tx.r, db.schema, touchedSchema)
		if err != nil {
			return nil, &TxError{Code: CodeSchema, Msg: "schema change refused", Err: err}
		}
		after.schema = s
	}
	if err := tx.checkPreds(after, txData); err != nil {
		return nil, err
	}
	if tx.r.err != nil {
		return nil, tx.r.err
	}
	slices.SortFunc(txData, func(a, b datom.Datom) int { return datom.Compare(datom.EAVT, a, b) })
	if tx.opts.Writer == nil {
		// A writer's values keep no log in memory: its durable log has
		// every transaction (and the heap stays the memory index's).
		after.log = db.log.push(TxEntry{T: tx.t, NextN: tx.nextN, Data: txData})
	}
	after.memSize = w.commit()
	return &TxReport{DBBefore: db, DBAfter: after, TxData: txData, TempIDs: tx.publicTempIDs()}, nil
}

func (tx *txn) publicTempIDs() map[TempID]datom.E {
	out := make(map[TempID]datom.E, len(tx.tempids))
	for t, e := range tx.tempids {
		if len(t) > 0 && t[0] == 0 {
			continue // generated for a map form without :db/id
		}
		out[t] = e
	}
	return out
}

// composites maintains composite tuple attributes (:db/tupleAttrs): for
// every entity whose source attributes changed, the tuple of their current
// values (nil where absent) is asserted, replacing the old one, or
// retracted when every element is nil.
func (tx *txn) composites(w *layerTx, after *DB, txData []datom.Datom) ([]datom.Datom, error) {
	s := tx.db.schema
	if len(s.composites) == 0 {
		return nil, nil
	}
	type ec struct{ e, c datom.E }
	todo := map[ec]bool{}
	var order []ec
	for _, d := range txData {
		for _, c := range s.composites[d.A] {
			if k := (ec{d.E, c}); !todo[k] {
				todo[k] = true
				order = append(order, k)
			}
		}
	}
	var out []datom.Datom
	for _, k := range order {
		at, _ := s.Attr(k.c)
		elems := make([]datom.Value, len(at.TupleAttrs))
		present := false
		for i, src := range at.TupleAttrs {
			after.currentValues(tx.r, k.e, src, func(d datom.Datom) bool { elems[i], present = d.V, true; return false })
		}
		var old datom.Datom
		hasOld := false
		after.currentValues(tx.r, k.e, k.c, func(d datom.Datom) bool { old, hasOld = d, true; return false })
		if present {
			nv := datom.Tuple(elems...)
			if hasOld && datom.EqualValue(old.V, nv) {
				continue
			}
			if at.Unique != UniqueNone {
				if owner, ok := after.lookupCur(tx.r, k.c, nv); ok && owner != k.e {
					return nil, txErr(CodeUniqueConflict, nil, "%d already has :%s %s", owner, at.Ident, nv)
				}
			}
			d := datom.Datom{E: k.e, A: k.c, V: nv, Tx: tx.txE, Added: true}
			var rets []retraction
			if hasOld {
				rets = append(rets, tx.retractionIn(old))
				out = append(out, retractionOf(old, tx.t))
			}
			w.write(rets, []datom.Datom{d})
			out = append(out, d)
		} else if hasOld {
			w.write([]retraction{tx.retractionIn(old)}, nil)
			out = append(out, retractionOf(old, tx.t))
		}
	}
	return out, nil
}

// retractionIn is the retraction of the current datom c.
func (tx *txn) retractionIn(c datom.Datom) retraction {
	return retraction{d: c, noHist: tx.db.schema.noHistory(c.A)}
}
