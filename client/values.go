package client

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/edn"
)

// Datom is one fact: entity, attribute, value, transaction, and whether
// it was added (false: retracted, in history views and tx data).
type Datom struct {
	E int64
	// A is the attribute's ident (an edn.Keyword), or its id (int64) if
	// it has none.
	A     any
	V     any
	Tx    int64
	Added bool
}

// String prints the datom as EDN, [e a v tx added].
func (d Datom) String() string {
	b, err := edn.Marshal(edn.Vector{d.E, d.A, d.V, d.Tx, d.Added})
	if err != nil {
		return fmt.Sprintf("[%d %v %v %d %t]", d.E, d.A, d.V, d.Tx, d.Added)
	}
	return string(b)
}

// datomOf reads a datom of an answer: [e a v tx added].
func datomOf(v any) (Datom, error) {
	x, ok := v.(edn.Vector)
	if !ok || len(x) != 5 {
		return Datom{}, badAnswer("a datom is %T of %d, not [e a v tx added]", v, len(x))
	}
	e, ok1 := x[0].(int64)
	tx, ok2 := x[3].(int64)
	added, ok3 := x[4].(bool)
	if !ok1 || !ok2 || !ok3 {
		return Datom{}, badAnswer("a datom's e, tx or added is %T, %T, %T", x[0], x[3], x[4])
	}
	return Datom{E: e, A: x[1], V: x[2], Tx: tx, Added: added}, nil
}

// TxReport is what a transaction did.
type TxReport struct {
	// TBefore and TAfter are the database's basis t before and after.
	TBefore, TAfter int64
	// TempIDs maps each tempid of the transaction to its entity id.
	TempIDs map[string]int64
	// TxData are the datoms the transaction asserted and retracted,
	// its own :db/txInstant included.
	TxData []Datom
	// DBBefore and DBAfter are the database values before and after (for
	// a speculative With, DBAfter is nil).
	DBBefore, DBAfter *DB
}

func reportOf(m edn.Map) (*TxReport, error) {
	var rep TxReport
	var err error
	if rep.TBefore, err = field[int64](m, "t-before"); err != nil {
		return nil, err
	}
	if rep.TAfter, err = field[int64](m, "t-after"); err != nil {
		return nil, err
	}
	ids, err := field[edn.Map](m, "tempids")
	if err != nil {
		return nil, err
	}
	rep.TempIDs = make(map[string]int64, len(ids))
	for _, e := range ids {
		k, ok1 := e.Key.(string)
		id, ok2 := e.Value.(int64)
		if !ok1 || !ok2 {
			return nil, badAnswer("tempids holds %T %T", e.Key, e.Value)
		}
		rep.TempIDs[k] = id
	}
	data, err := field[edn.Vector](m, "tx-data")
	if err != nil {
		return nil, err
	}
	rep.TxData = make([]Datom, len(data))
	for i, x := range data {
		if rep.TxData[i], err = datomOf(x); err != nil {
			return nil, err
		}
	}
	return &rep, nil
}

func txEntryOf(v any) (TxEntry, error) {
	m, ok := v.(edn.Map)
	if !ok {
		return TxEntry{}, badAnswer("a transaction is %T, not a map", v)
	}
	t, err := field[int64](m, "t")
	if err != nil {
		return TxEntry{}, err
	}
	data, err := field[edn.Vector](m, "data")
	if err != nil {
		return TxEntry{}, err
	}
	e := TxEntry{T: t, Data: make([]Datom, len(data))}
	for i, x := range data {
		if e.Data[i], err = datomOf(x); err != nil {
			return TxEntry{}, err
		}
	}
	return e, nil
}

// ednText returns code as EDN text: a string or []byte as it is (the
// node reads it), EDN values printed.
func ednText(code any) (string, error) {
	switch c := code.(type) {
	case string:
		return c, nil
	case []byte:
		return string(c), nil
	case nil:
		return "", incorrect("no EDN code given")
	}
	v, err := toEDN(code)
	if err != nil {
		return "", err
	}
	b, err := edn.Marshal(v)
	if err != nil {
		return "", &Error{Category: anomaly.Incorrect, Message: "printing EDN", Err: err}
	}
	return string(b), nil
}

// toEDN turns Go values into the EDN values edn.ToJSON and edn.Marshal
// take: integers of every width as int64 (or *big.Int past it), float32
// as float64, slices and arrays as vectors, Go maps as edn.Map. EDN
// values, strings, bools, time.Time and nil pass as they are.
func toEDN(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int64, float64, time.Time, *big.Int, *big.Rat,
		edn.Keyword, edn.Symbol, edn.Char, edn.UUID, edn.BigDec, edn.Tagged:
		return v, nil
	case int:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case edn.Vector:
		return seqEDN(x, func(s []any) any { return edn.Vector(s) })
	case edn.List:
		return seqEDN(x, func(s []any) any { return edn.List(s) })
	case edn.Set:
		return seqEDN(x, func(s []any) any { return edn.Set(s) })
	case []any:
		return seqEDN(x, func(s []any) any { return edn.Vector(s) })
	case edn.Map:
		out := make(edn.Map, len(x))
		for i, e := range x {
			k, err := toEDN(e.Key)
			if err != nil {
				return nil, err
			}
			val, err := toEDN(e.Value)
			if err != nil {
				return nil, err
			}
			out[i] = edn.Entry{Key: k, Value: val}
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		} else {
			return new(big.Int).SetUint64(u), nil
		}
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Slice, reflect.Array:
		out := make(edn.Vector, rv.Len())
		for i := range out {
			x, err := toEDN(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		out := make(edn.Map, 0, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k, err := toEDN(it.Key().Interface())
			if err != nil {
				return nil, err
			}
			val, err := toEDN(it.Value().Interface())
			if err != nil {
				return nil, err
			}
			out = append(out, edn.Entry{Key: k, Value: val})
		}
		return out, nil
	}
	return nil, incorrect("a %T is no EDN value (use package edn's types)", v)
}

func seqEDN(s []any, wrap func([]any) any) (any, error) {
	out := make([]any, len(s))
	for i, x := range s {
		v, err := toEDN(x)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return wrap(out), nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
