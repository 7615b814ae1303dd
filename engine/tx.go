package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stratadb/strata/datom"
)

// TxFunc is a transaction function: given the database before the
// transaction and the call's arguments, it returns transaction data.
type TxFunc func(db *DB, args []any) ([]Op, error)

// TxOptions configure one transaction.
type TxOptions struct {
	// Now is the wall-clock time of the transaction (:db/txInstant unless
	// the data asserts one); zero means time.Now(). The instant is kept
	// monotonic: never earlier than the previous transaction's.
	Now time.Time
	// Funcs are the registered transaction functions, by name.
	Funcs map[string]TxFunc
	// Preds are the registered attribute and entity predicates, by name.
	Preds map[string]Pred
	// Writer, when set, is the database's single writer (the transactor)
	// transacting: see Writer. Nil for speculative transactions (d/with).
	// A writer's values keep no transaction log in memory (TxRange on them
	// yields nothing): the writer's durable log has it.
	Writer *Writer
}

// Writer identifies a database's single writer. A transaction on the
// newest value of a memory layer writes the layer in place; a layer a
// Writer has written is its own, so that speculative transactions (With
// without the Writer) on its values fork a layer of their own instead of
// taking the writer's, whose next transaction would then have to fork.
type Writer struct{ _ byte }

// NewWriter returns a new writer identity.
func NewWriter() *Writer { return &Writer{} }

// Pred is an attribute predicate (:db.attr/preds, called with the value)
// or an entity predicate (:db.entity/preds, called with the database after
// the transaction and the entity id; v is then nil).
type Pred func(db *DB, e datom.E, v datom.Value) bool

// Limits of one transaction (bound everything: STYLE.md).
const (
	MaxTxOps       = 1 << 20 // operations after expansion
	MaxTxFuncDepth = 16      // nesting of transaction function calls
)

// TxReport is the result of a transaction.
type TxReport struct {
	DBBefore, DBAfter *DB
	TxData            []datom.Datom // the datoms added to the log, in order
	TempIDs           map[TempID]datom.E
}

// With applies ops to db and returns the report: db-after is a new
// database value; db itself does not change. A failed transaction returns
// a *TxError and changes nothing. With is Datomic's d/with, and the
// transactor's step for every transaction it commits.
func (db *DB) With(ctx context.Context, ops []Op, opts TxOptions) (*TxReport, error) {
	if db.filtered() {
		return nil, txErr(CodeInvalidTxData, nil, "cannot transact against a filtered database (%s)", db)
	}
	tx := &txn{db: db, r: newRd(ctx), opts: opts, t: datom.T(db.nextN), tempids: map[TempID]datom.E{}}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	tx.nextN = db.nextN + 1
	tx.txE = datom.TxE(tx.t)
	if err := tx.expand(ops, 0); err != nil {
		return nil, err
	}
	if err := tx.resolve(); err != nil {
		return nil, err
	}
	return tx.apply()
}

// txn is one transaction in progress.
type txn struct {
	db      *DB
	r       *rd // reads of db; a failed read fails the transaction
	opts    TxOptions
	t       datom.T
	txE     datom.E
	nextN   uint64
	ops     []Op // expanded: Add, Retract, CAS, RetractEntity only
	tempids map[TempID]datom.E
	newTemp int // counter of generated tempids for maps without :db/id
	rops    []rop
	// Idents installed by this transaction, by keyword (collectNewIdents).
	newIdents map[string]Entity
	// Tuple elements resolved to tempids (resolveValue, takeTupleTemps).
	pendingTuple []tupleTemp
}

// expand flattens maps and calls into Add/Retract/CAS/RetractEntity.
func (tx *txn) expand(ops []Op, depth int) error {
	for _, op := range ops {
		if len(tx.ops) > MaxTxOps {
			return txErr(CodeTooLarge, nil, "more than %d operations", MaxTxOps)
		}
		switch op := op.(type) {
		case Add, Retract, CAS, RetractEntity:
			tx.ops = append(tx.ops, op)
		case *Map:
			if err := tx.expandMap(*op, depth); err != nil {
				return err
			}
		case Map:
			if err := tx.expandMap(op, depth); err != nil {
				return err
			}
		case Call:
			if depth >= MaxTxFuncDepth {
				return txErr(CodeInvalidTxData, op, "transaction functions nest deeper than %d", MaxTxFuncDepth)
			}
			fn, ok := tx.opts.Funcs[op.Fn]
			if !ok {
				return txErr(CodeUnknownFunction, op, "no transaction function %s is registered", op.Fn)
			}
			more, err := fn(tx.db, op.Args)
			if err != nil {
				e := txErr(CodeFunctionFailed, op, "transaction function %s failed", op.Fn)
				e.Err = err
				return e
			}
			if err := tx.expand(more, depth+1); err != nil {
				return err
			}
		case nil:
			return txErr(CodeInvalidTxData, nil, "nil operation")
		default:
			return txErr(CodeInvalidTxData, op, "unknown operation %T", op)
		}
	}
	return nil
}

func (tx *txn) freshTemp() TempID {
	tx.newTemp++
	return TempID(fmt.Sprintf("\x00map-%d", tx.newTemp)) // no user string starts with NUL
}

// expandMap turns a map form into Adds. A map without :db/id gets a fresh
// tempid; a nested map under a ref attribute becomes its own entity, which
// must be a component or carry a unique attribute (Datomic's rule: an
// orphan entity otherwise).
func (tx *txn) expandMap(m Map, depth int) error {
	id := m.ID
	if id == nil {
		id = tx.freshTemp()
	}
	if len(m.Attrs) == 0 && m.ID == nil {
		return txErr(CodeInvalidTxData, m, "a map form needs at least one attribute")
	}
	for _, kv := range m.Attrs {
		a, reverse, err := tx.attrOf(kv.A, m)
		if err != nil {
			return err
		}
		vals := []any{kv.V}
		if list, ok := kv.V.([]any); ok && (a.Many || reverse) && a.Type != datom.TypeTuple {
			if _, isRef := tx.asLookupRef(kv.V); !(isRef && (a.Type == datom.TypeRef || reverse)) {
				vals = list
			}
		}
		for _, v := range vals {
			if nested, ok := asMap(v); ok {
				if a.Type != datom.TypeRef {
					return txErr(CodeWrongType, m, "a nested map is the value of :%s, which is not a ref attribute", a.Ident)
				}
				if reverse {
					return txErr(CodeInvalidTxData, m, "a nested map under the reverse attribute :%s", reverseIdent(a.Ident))
				}
				if nested.ID == nil {
					nested.ID = tx.freshTemp()
					if !a.Component && !tx.hasUnique(nested) {
						return txErr(CodeInvalidTxData, m,
							"the nested map under :%s has no :db/id and no unique attribute, and :%s is not a component", a.Ident, a.Ident)
					}
				}
				if err := tx.expandMap(nested, depth); err != nil {
					return err
				}
				v = nested.ID
			}
			if reverse {
				tx.ops = append(tx.ops, Add{E: v, A: a.ID, V: id})
			} else {
				tx.ops = append(tx.ops, Add{E: id, A: a.ID, V: v})
			}
		}
	}
	if len(m.Attrs) == 0 {
		// {:db/id x} alone asserts nothing, but resolves x (Datomic
		// accepts it).
		tx.ops = append(tx.ops, Retract{E: id, A: nil})
	}
	return nil
}

func asMap(v any) (Map, bool) {
	switch m := v.(type) {
	case Map:
		return m, true
	case *Map:
		return *m, true
	}
	return Map{}, false
}

func (tx *txn) hasUnique(m Map) bool {
	for _, kv := range m.Attrs {
		if a, rev, err := tx.attrOf(kv.A, m); err == nil && !rev && a.Unique != UniqueNone {
			return true
		}
	}
	return false
}

// asLookupRef reports whether v is a lookup ref written as a two-element
// list [unique-attr value] (as EDN gives it).
func (tx *txn) asLookupRef(v any) (LookupRef, bool) {
	l, ok := v.([]any)
	if !ok || len(l) != 2 {
		return LookupRef{}, false
	}
	k, ok := l[0].(Keyword)
	if !ok {
		return LookupRef{}, false
	}
	if at, ok := tx.db.schema.AttrByIdent(string(k)); !ok || at.Unique == UniqueNone {
		return LookupRef{}, false
	}
	return LookupRef{Attr: k, Value: l[1]}, true
}

func reverseIdent(ident string) string {
	ns, name, ok := strings.Cut(ident, "/")
	if !ok {
		return "_" + ident
	}
	return ns + "/_" + name
}

// attrOf resolves the attribute position of a form; reverse is true for
// "ns/_name", which names the attribute "ns/name" read backwards.
func (tx *txn) attrOf(a Entity, form any) (*Attr, bool, error) {
	s := tx.db.schema
	switch a := a.(type) {
	case Keyword:
		if at, ok := s.AttrByIdent(string(a)); ok {
			return at, false, nil
		}
		if ns, name, ok := strings.Cut(string(a), "/"); ok && strings.HasPrefix(name, "_") {
			if at, ok := s.AttrByIdent(ns + "/" + name[1:]); ok {
				if at.Type != datom.TypeRef {
					return nil, false, txErr(CodeNotAnAttribute, form, "reverse attribute :%s of the non-ref attribute :%s", a, at.Ident)
				}
				return at, true, nil
			}
		}
		return nil, false, txErr(CodeNotAnAttribute, form, ":%s is not an attribute", a)
	case datom.E:
		if at, ok := s.Attr(a); ok {
			return at, false, nil
		}
	case int64:
		if at, ok := s.Attr(datom.E(a)); ok {
			return at, false, nil
		}
	case nil:
		return nil, false, txErr(CodeNotAnAttribute, form, "no attribute")
	}
	return nil, false, txErr(CodeNotAnAttribute, form, "%s is not an attribute", entString(a))
}

// rop is an operation with its entity, attribute and value resolved,
// except for tempids (e or a ref value), which resolve in two phases.
type rop struct {
	kind  opKind
	e     datom.E
	eTemp TempID // set when e is a tempid
	at    *Attr  // nil for a bare {:db/id x} or a retractEntity
	v     datom.Value
	vTemp TempID // a ref value that is a tempid
	// Tempids among the ref elements of a tuple value (elements left
	// empty in v until the tempids are bound).
	tupleTemps []tupleTemp
	hasV       bool
	old        datom.Value // CAS
	oldNone    bool        // CAS: only if absent
	form       Op
}

type tupleTemp struct {
	i int
	t TempID
}

type opKind uint8

const (
	kAdd opKind = iota
	kRetract
	kCAS
	kRetractEntity
	kTouch // {:db/id x}: resolve x, assert nothing
)

// resolve turns tx.ops into rops: idents and lookup refs to entity ids,
// values to typed values, and then tempids to existing entities (upsert
// through unique identity attributes) or new ones.
func (tx *txn) resolve() error {
	tx.collectNewIdents()
	rops := make([]rop, 0, len(tx.ops))
	for _, op := range tx.ops {
		var r rop
		var err error
		switch op := op.(type) {
		case Add:
			r, err = tx.resolveEAV(kAdd, op.E, op.A, op.V, true, op)
		case Retract:
			if op.A == nil {
				r, err = tx.resolveEAV(kTouch, op.E, nil, nil, false, op)
			} else {
				r, err = tx.resolveEAV(kRetract, op.E, op.A, op.V, op.V != nil, op)
			}
		case CAS:
			r, err = tx.resolveEAV(kCAS, op.E, op.A, op.New, true, op)
			if err == nil {
				if r.at.Many {
					return txErr(CodeInvalidTxData, op, ":db/cas needs a cardinality-one attribute, :%s is many", r.at.Ident)
				}
				if op.Old == nil {
					r.oldNone = true
				} else {
					old, oldTemp, err := tx.resolveValue(r.at, op.Old, op)
					if err != nil {
						return err
					}
					if oldTemp != "" || tx.takeTupleTemps() != nil {
						return txErr(CodeInvalidTxData, op, ":db/cas old value cannot be a tempid")
					}
					r.old = old
				}
			}
		case RetractEntity:
			r, err = tx.resolveEAV(kRetractEntity, op.E, nil, nil, false, op)
		}
		if err != nil {
			return err
		}
		r.form = op
		rops = append(rops, r)
	}
	if err := tx.resolveTempIDs(rops); err != nil {
		return err
	}
	tx.rops = rops
	return nil
}

func (tx *txn) resolveEAV(kind opKind, e, a Entity, v any, hasV bool, form Op) (rop, error) {
	r := rop{kind: kind, hasV: hasV}
	var err error
	if r.e, r.eTemp, err = tx.resolveEntity(e, form, kind == kAdd || kind == kCAS || kind == kTouch); err != nil {
		return r, err
	}
	if kind == kRetractEntity || kind == kTouch {
		if r.eTemp != "" && kind == kRetractEntity {
			return r, txErr(CodeInvalidTxData, form, "cannot retract the entity of a tempid")
		}
		return r, nil
	}
	at, reverse, err := tx.attrOf(a, form)
	if err != nil {
		return r, err
	}
	if reverse {
		return r, txErr(CodeInvalidTxData, form, "reverse attributes are allowed in map forms only")
	}
	r.at = at
	if hasV {
		if r.v, r.vTemp, err = tx.resolveValue(at, v, form); err != nil {
			return r, err
		}
		r.tupleTemps = tx.takeTupleTemps()
		if (r.vTemp != "" || r.tupleTemps != nil) && kind != kAdd && kind != kCAS {
			return r, txErr(CodeInvalidTxData, form, "a tempid cannot be retracted")
		}
	}
	return r, nil
}

// resolveEntity resolves an entity position. Tempids are allowed only
// where the operation asserts.
func (tx *txn) resolveEntity(e Entity, form any, tempOK bool) (datom.E, TempID, error) {
	switch e := e.(type) {
	case datom.E:
		return tx.checkEntityID(e, form)
	case int64:
		if e < 0 {
			return 0, "", txErr(CodeNotAnEntity, form, "negative entity id %d", e)
		}
		return tx.checkEntityID(datom.E(e), form)
	case int:
		if e < 0 {
			return 0, "", txErr(CodeNotAnEntity, form, "negative entity id %d", e)
		}
		return tx.checkEntityID(datom.E(e), form)
	case TempID:
		if e == TxTempID {
			return tx.txE, "", nil
		}
		if !tempOK {
			return 0, "", txErr(CodeInvalidTxData, form, "tempid %q names no entity to retract", string(e))
		}
		return 0, e, nil
	case string:
		return tx.resolveEntity(TempID(e), form, tempOK)
	case Keyword:
		if id, ok := tx.db.schema.Entid(string(e)); ok {
			return id, "", nil
		}
		if ne, ok := tx.newIdents[string(e)]; ok {
			// An ident this transaction installs: its entity.
			return tx.resolveEntity(ne, form, tempOK)
		}
		return 0, "", txErr(CodeNotAnEntity, form, ":%s is not an ident", e)
	case LookupRef:
		at, rev, err := tx.attrOf(e.Attr, form)
		if err != nil {
			return 0, "", err
		}
		if rev || at.Unique == UniqueNone {
			return 0, "", txErr(CodeInvalidTxData, form, "lookup ref attribute :%s is not unique", at.Ident)
		}
		v, vt, err := tx.resolveValue(at, e.Value, form)
		if err != nil {
			return 0, "", err
		}
		if vt != "" || tx.takeTupleTemps() != nil {
			return 0, "", txErr(CodeInvalidTxData, form, "a lookup ref value cannot be a tempid")
		}
		id, ok := tx.db.lookupCur(tx.r, at.ID, v)
		if tx.r.err != nil {
			return 0, "", tx.r.err
		}
		if !ok {
			return 0, "", txErr(CodeNotAnEntity, form, "lookup ref [:%s %s] names no entity", at.Ident, v)
		}
		return id, "", nil
	case []any:
		if lr, ok := tx.asLookupRef(e); ok {
			return tx.resolveEntity(lr, form, tempOK)
		}
		return 0, "", txErr(CodeInvalidTxData, form, "a list names an entity only as a lookup ref [unique-attr value]")
	case nil:
		return 0, "", txErr(CodeInvalidTxData, form, "no entity")
	}
	return 0, "", txErr(CodeInvalidTxData, form, "%T cannot name an entity", e)
}

// checkEntityID accepts an entity id in a known partition whose number
// the database has given out (or the transaction's own).
func (tx *txn) checkEntityID(e datom.E, form any) (datom.E, TempID, error) {
	if e == tx.txE {
		return e, "", nil
	}
	p := e.Part()
	if _, ok := tx.db.schema.identOf[datom.MakeE(datom.PartDB, uint64(p))]; !ok && !(p == datom.PartDB && e.N() < firstUserN) {
		return 0, "", txErr(CodeNotAnEntity, form, "entity id %d is in no partition", e)
	}
	if e.N() >= tx.db.nextN {
		return 0, "", txErr(CodeNotAnEntity, form, "entity id %d has not been given out", e)
	}
	return e, "", nil
}

// resolveValue types a value for attribute at; for refs it resolves the
// entity (a tempid is returned unresolved).
func (tx *txn) resolveValue(at *Attr, v any, form any) (datom.Value, TempID, error) {
	if v == nil {
		return datom.Value{}, "", txErr(CodeInvalidTxData, form, "nil value for :%s", at.Ident)
	}
	if at.Type == datom.TypeRef {
		if dv, ok := v.(datom.Value); ok {
			if dv.Type() != datom.TypeRef {
				return datom.Value{}, "", txErr(CodeWrongType, form, "value %s of :%s is not a ref", dv, at.Ident)
			}
			v = dv.Ref()
		}
		e, temp, err := tx.resolveEntity(v, form, true)
		if err != nil {
			return datom.Value{}, "", err
		}
		return datom.Ref(e), temp, nil
	}
	if at.Type == datom.TypeTuple && (at.TupleType == datom.TypeRef || slices.Contains(at.TupleTypes, datom.TypeRef)) {
		elems, ok := v.([]any)
		if !ok {
			return datom.Value{}, "", txErr(CodeWrongType, form, "value of :%s must be a tuple", at.Ident)
		}
		out := make([]datom.Value, len(elems))
		for i, el := range elems {
			et := at.TupleType
			if et == datom.TypeInvalid && i < len(at.TupleTypes) {
				et = at.TupleTypes[i]
			}
			if el == nil {
				continue
			}
			if et == datom.TypeRef {
				e, temp, err := tx.resolveEntity(el, form, true)
				if err != nil {
					return datom.Value{}, "", txErr(CodeWrongType, form, "tuple element %d of :%s must name an entity", i, at.Ident)
				}
				if temp != "" {
					tx.pendingTuple = append(tx.pendingTuple, tupleTemp{i, temp})
					continue
				}
				out[i] = datom.Ref(e)
				continue
			}
			ev, ok := coerce(nil, et, el, true)
			if !ok {
				return datom.Value{}, "", txErr(CodeWrongType, form, "tuple element %d of :%s must be a %s", i, at.Ident, et)
			}
			out[i] = ev
		}
		tv := datom.Tuple(out...)
		if err := datom.Validate(tv); err != nil {
			return datom.Value{}, "", &TxError{Code: CodeValueLimit, Msg: fmt.Sprintf("value of :%s", at.Ident), Form: formString(form), Err: err}
		}
		return tv, "", nil
	}
	dv, ok := coerce(at, at.Type, v, false)
	if !ok {
		return datom.Value{}, "", txErr(CodeWrongType, form, "value %s of :%s must be a %s", valString(v), at.Ident, at.Type)
	}
	if err := datom.Validate(dv); err != nil {
		return datom.Value{}, "", &TxError{Code: CodeValueLimit, Msg: fmt.Sprintf("value of :%s", at.Ident), Form: formString(form), Err: err}
	}
	return dv, "", nil
}

// resolveTempIDs binds every tempid: to the existing entity that has one of
// its unique identity values (upsert), else to a new entity. A tempid that
// upserts to two entities fails the transaction.
func (tx *txn) resolveTempIDs(rops []rop) error {
	// Upserts can chain (a tempid's identity value is a ref to another
	// tempid), so repeat until nothing new binds.
	for changed := true; changed; {
		changed = false
		for i := range rops {
			r := &rops[i]
			if r.kind != kAdd || r.eTemp == "" || r.at.Unique != UniqueIdentity {
				continue
			}
			v := r.v
			if r.vTemp != "" {
				e, ok := tx.tempids[r.vTemp]
				if !ok {
					continue
				}
				v = datom.Ref(e)
			}
			found, ok := tx.db.lookupCur(tx.r, r.at.ID, v)
			if tx.r.err != nil {
				return tx.r.err
			}
			if !ok {
				continue // no entity has it: the tempid will be new
			}
			if prev, ok := tx.tempids[r.eTemp]; ok {
				if prev != found {
					return txErr(CodeUniqueConflict, r.form, "tempid %q upserts to both %d and %d", string(r.eTemp), prev, found)
				}
				continue
			}
			tx.tempids[r.eTemp] = found
			changed = true
		}
	}
	// New entities, in order of first mention; an entity that gets a
	// :db/valueType or :db/ident is schema and lives in :db.part/db.
	part := map[TempID]datom.Part{}
	var order []TempID
	note := func(t TempID) {
		if t == "" {
			return
		}
		if _, ok := tx.tempids[t]; ok {
			return
		}
		if _, ok := part[t]; !ok {
			part[t] = datom.PartUser
			order = append(order, t)
		}
	}
	for i := range rops {
		r := &rops[i]
		note(r.eTemp)
		note(r.vTemp)
		for _, tt := range r.tupleTemps {
			note(tt.t)
		}
		if r.eTemp != "" && r.at != nil && (r.at.ID == eValueType || r.at.ID == eIdent) {
			if _, bound := tx.tempids[r.eTemp]; !bound {
				part[r.eTemp] = datom.PartDB
			}
		}
	}
	for _, t := range order {
		if tx.nextN > datom.MaxN {
			return txErr(CodeTooLarge, nil, "entity numbers are exhausted")
		}
		tx.tempids[t] = datom.MakeE(part[t], tx.nextN)
		tx.nextN++
	}
	for i := range rops {
		r := &rops[i]
		if r.eTemp != "" {
			r.e = tx.tempids[r.eTemp]
		}
		if r.vTemp != "" {
			r.v = datom.Ref(tx.tempids[r.vTemp])
		}
		if r.tupleTemps != nil {
			elems := slices.Clone(r.v.Elems())
			for _, tt := range r.tupleTemps {
				elems[tt.i] = datom.Ref(tx.tempids[tt.t])
			}
			r.v = datom.Tuple(elems...)
		}
	}
	return nil
}

// takeTupleTemps returns the tempids that the last resolveValue left in a
// tuple's ref elements, and forgets them.
func (tx *txn) takeTupleTemps() []tupleTemp {
	t := tx.pendingTuple
	tx.pendingTuple = nil
	return t
}

// collectNewIdents notes the idents this transaction installs (keywords
// asserted as :db/ident that are not idents yet), so that values can name
// them: a composite tuple's :db/tupleAttrs, a ref to an enum installed with
// it. Attribute positions still need an installed attribute.
func (tx *txn) collectNewIdents() {
	for _, op := range tx.ops {
		add, ok := op.(Add)
		if !ok {
			continue
		}
		switch a := add.A.(type) {
		case Keyword:
			if a != "db/ident" {
				continue
			}
		case datom.E:
			if a != eIdent {
				continue
			}
		default:
			continue
		}
		kw, ok := add.V.(Keyword)
		if !ok {
			continue
		}
		if _, known := tx.db.schema.Entid(string(kw)); known {
			continue
		}
		switch add.E.(type) {
		case TempID, string, datom.E, int64, int:
		default:
			continue // named by an ident or lookup ref: not resolved through this map
		}
		if tx.newIdents == nil {
			tx.newIdents = map[string]Entity{}
		}
		tx.newIdents[string(kw)] = add.E
	}
}
