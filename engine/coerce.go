package engine

import (
	"math"
	"math/big"
	"time"

	"github.com/stratadb/strata/datom"
)

// coerce converts a Go value to a value of type t (for a tuple attribute,
// at describes the elements). Refs are resolved elsewhere.
func coerce(at *Attr, t datom.Type, v any, inTuple bool) (datom.Value, bool) {
	if dv, ok := v.(datom.Value); ok {
		return dv, dv.Type() == t
	}
	switch t {
	case datom.TypeString:
		if s, ok := v.(string); ok {
			return datom.String(s), true
		}
	case datom.TypeKeyword:
		if k, ok := v.(Keyword); ok {
			return datom.Keyword(string(k)), true
		}
	case datom.TypeSymbol:
		if s, ok := v.(Symbol); ok {
			return datom.Symbol(string(s)), true
		}
	case datom.TypeBoolean:
		if b, ok := v.(bool); ok {
			return datom.Boolean(b), true
		}
	case datom.TypeLong:
		switch n := v.(type) {
		case int64:
			return datom.Long(n), true
		case int:
			return datom.Long(int64(n)), true
		case int32:
			return datom.Long(int64(n)), true
		case *big.Int:
			if n.IsInt64() {
				return datom.Long(n.Int64()), true
			}
		}
	case datom.TypeBigInt:
		switch n := v.(type) {
		case *big.Int:
			return datom.BigInt(n), true
		case int64:
			return datom.BigInt(big.NewInt(n)), true
		case int:
			return datom.BigInt(big.NewInt(int64(n))), true
		}
	case datom.TypeBigDec:
		switch d := v.(type) {
		case BigDec:
			if d.Unscaled != nil {
				return datom.BigDec(d.Unscaled, d.Scale), true
			}
		case int64:
			return datom.BigDec(big.NewInt(d), 0), true
		}
	case datom.TypeDouble:
		switch f := v.(type) {
		case float64:
			return datom.Double(f), true
		case float32:
			return datom.Double(float64(f)), true
		}
	case datom.TypeFloat:
		switch f := v.(type) {
		case float32:
			return datom.Float(f), true
		case float64:
			if f32 := float32(f); float64(f32) == f || math.IsNaN(f) || math.IsInf(f, 0) {
				return datom.Float(f32), true
			}
		}
	case datom.TypeInstant:
		if tm, ok := v.(time.Time); ok {
			return datom.Instant(tm), true
		}
	case datom.TypeUUID:
		if u, ok := v.([16]byte); ok {
			return datom.UUID(u), true
		}
	case datom.TypeURI:
		if s, ok := v.(string); ok {
			return datom.URI(s), true
		}
	case datom.TypeBytes:
		if b, ok := v.([]byte); ok {
			return datom.Bytes(b), true
		}
	case datom.TypeTuple:
		if inTuple {
			return datom.Value{}, false
		}
		elems, ok := v.([]any)
		if !ok || at == nil {
			return datom.Value{}, false
		}
		out := make([]datom.Value, len(elems))
		for i, e := range elems {
			if e == nil {
				continue // nil elements are allowed
			}
			var et datom.Type
			switch {
			case at.TupleType != datom.TypeInvalid:
				et = at.TupleType
			case i < len(at.TupleTypes):
				et = at.TupleTypes[i]
			default:
				return datom.Value{}, false
			}
			ev, ok := coerce(nil, et, e, true)
			if !ok {
				return datom.Value{}, false
			}
			out[i] = ev
		}
		if len(at.TupleTypes) > 0 && len(elems) != len(at.TupleTypes) {
			return datom.Value{}, false
		}
		return datom.Tuple(out...), true
	}
	return datom.Value{}, false
}
