package engine

import (
	"context"
	"fmt"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
)

// What a query (engine/query) needs to turn the constants users write into
// datoms' terms: entity designators into ids, and values into the typed
// values of an attribute.

// EntityOf resolves an entity designator in db's view: an entity id
// (datom.E, int64 or int), an ident (Keyword or edn.Keyword), or a lookup
// ref ([attr value] as []any, edn.Vector or LookupRef). It returns false when
// the designator is well formed but names no entity; a malformed one is an
// incorrect error.
func (db *DB) EntityOf(ctx context.Context, v any) (datom.E, bool, error) {
	switch v := v.(type) {
	case datom.E:
		return v, true, nil
	case int64:
		if v < 0 {
			return 0, false, anomaly.New(anomaly.Incorrect, "entity", "negative entity id %d", v)
		}
		return datom.E(v), true, nil
	case int:
		return db.EntityOf(ctx, int64(v))
	case Keyword:
		e, ok := db.schema.Entid(string(v))
		return e, ok, nil
	case edn.Keyword:
		e, ok := db.schema.Entid(kwString(v))
		return e, ok, nil
	case edn.Vector:
		return db.EntityOf(ctx, []any(v))
	case []any:
		if len(v) != 2 {
			return 0, false, anomaly.New(anomaly.Incorrect, "entity", "a lookup ref is [attribute value], not %d elements", len(v))
		}
		a, ok, err := db.EntityOf(ctx, v[0])
		if err != nil {
			return 0, false, err
		}
		if !ok {
			return 0, false, anomaly.New(anomaly.Incorrect, "entity", "lookup ref attribute %v is not an attribute", v[0])
		}
		return db.EntityOf(ctx, LookupRef{Attr: a, Value: v[1]})
	case LookupRef:
		a, ok, err := db.EntityOf(ctx, v.Attr)
		if err != nil {
			return 0, false, err
		}
		at, isAttr := db.schema.Attr(a)
		if !ok || !isAttr {
			return 0, false, anomaly.New(anomaly.Incorrect, "entity", "lookup ref attribute %v is not an attribute", v.Attr)
		}
		if at.Unique == UniqueNone {
			return 0, false, anomaly.New(anomaly.Incorrect, "entity", "lookup ref attribute :%s is not unique", at.Ident)
		}
		val, err := db.ValueOf(ctx, at.ID, v.Value)
		if err != nil {
			return 0, false, err
		}
		r := newRd(ctx)
		e, found := db.lookupCur(r, at.ID, val)
		return e, found, r.err
	}
	return 0, false, anomaly.New(anomaly.Incorrect, "entity", "%T cannot name an entity", v)
}

// ValueOf types v as a value of attribute a: Go values as transactions
// take them, or EDN values (edn.Keyword, edn.Vector, ...); for a ref
// attribute, any entity designator (an ident or a lookup ref that names no
// entity is a not-found error).
func (db *DB) ValueOf(ctx context.Context, a datom.E, v any) (datom.Value, error) {
	at, ok := db.schema.Attr(a)
	if !ok {
		return datom.Value{}, anomaly.New(anomaly.Incorrect, "value", "%d is not an attribute", a)
	}
	if dv, ok := v.(datom.Value); ok {
		if dv.Type() != at.Type {
			return datom.Value{}, anomaly.New(anomaly.Incorrect, "value", "%s is not a %s, the type of :%s", dv, at.Type, at.Ident)
		}
		return dv, nil
	}
	if at.Type == datom.TypeRef {
		e, found, err := db.EntityOf(ctx, v)
		if err != nil {
			return datom.Value{}, err
		}
		if !found {
			return datom.Value{}, anomaly.New(anomaly.NotFound, "value", "%v names no entity (for :%s)", v, at.Ident)
		}
		return datom.Ref(e), nil
	}
	gv := v
	switch v.(type) {
	case edn.Keyword, edn.Symbol, edn.UUID, edn.BigDec, edn.Vector, edn.List, edn.Char:
		var err error
		if gv, err = valueFromEDN(v); err != nil {
			return datom.Value{}, anomaly.Wrap(anomaly.Incorrect, "value", err)
		}
	}
	dv, ok := coerce(at, at.Type, gv, false)
	if !ok {
		return datom.Value{}, anomaly.New(anomaly.Incorrect, "value", "%s is not a %s, the type of :%s", valString(gv), at.Type, at.Ident)
	}
	if err := datom.Validate(dv); err != nil {
		return datom.Value{}, anomaly.Wrap(anomaly.Incorrect, fmt.Sprintf("value of :%s", at.Ident), err)
	}
	return dv, nil
}
