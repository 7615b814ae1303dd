package engine

import (
	"fmt"
	"math/big"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
)

// Reading transaction data and pull patterns from EDN, as a Datomic user
// writes them:
//
//	[[:db/add "tmp" :person/name "Ann"]
//	 {:db/id "tmp" :person/email "ann@x" :person/friend [:person/email "bob@x"]}
//	 [:db/retract [:person/email "bob@x"] :person/age 31]
//	 [:db/cas 17592186045418 :person/age 31 32]
//	 [:db/retractEntity [:person/email "old@x"]]
//	 [my.ns/inc 17592186045418 :person/age]]

// ParseTxDataEDN reads transaction data from EDN text.
func ParseTxDataEDN(src []byte) ([]Op, error) {
	v, err := edn.Parse(src)
	if err != nil {
		return nil, err
	}
	return TxDataFromEDN(v)
}

// ParseTxDataJSON reads transaction data in EDN's JSON form (edn.FromJSON:
// "~:ns/name" keywords, {"~#set": …}, …), as the HTTP API takes it.
func ParseTxDataJSON(src []byte) ([]Op, error) {
	v, err := edn.FromJSON(src)
	if err != nil {
		return nil, err
	}
	return TxDataFromEDN(v)
}

// ParsePatternJSON reads a pull pattern in EDN's JSON form.
func ParsePatternJSON(src []byte) (any, error) {
	v, err := edn.FromJSON(src)
	if err != nil {
		return nil, err
	}
	return PatternFromEDN(v)
}

// TxDataFromEDN converts parsed EDN (a vector or list of forms) to
// operations. Errors are in the incorrect category and name the form.
func TxDataFromEDN(v any) ([]Op, error) {
	forms, ok := seqOf(v)
	if !ok {
		return nil, ednErr(v, "transaction data must be a vector or list of forms")
	}
	ops := make([]Op, 0, len(forms))
	for i, f := range forms {
		op, err := opFromEDN(f)
		if err != nil {
			if te, ok := err.(*TxError); ok {
				te.Msg = fmt.Sprintf("form %d: %s", i, te.Msg)
				return nil, te
			}
			return nil, fmt.Errorf("form %d: %w", i, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func ednErr(form any, format string, args ...any) error {
	s := fmt.Sprintf(format, args...)
	if form != nil {
		if b, err := edn.Marshal(form); err == nil {
			if len(b) > 200 {
				b = append(b[:197:197], "..."...)
			}
			s += " (in " + string(b) + ")"
		}
	}
	return &TxError{Code: CodeInvalidTxData, Msg: s}
}

func seqOf(v any) ([]any, bool) {
	switch v := v.(type) {
	case edn.Vector:
		return v, true
	case edn.List:
		return v, true
	}
	return nil, false
}

func kwString(k edn.Keyword) string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

func opFromEDN(f any) (Op, error) {
	if m, ok := f.(edn.Map); ok {
		return mapFromEDN(m)
	}
	list, ok := seqOf(f)
	if !ok || len(list) == 0 {
		return nil, ednErr(f, "a form is a map or a non-empty vector")
	}
	var name string
	switch h := list[0].(type) {
	case edn.Keyword:
		name = kwString(h)
	case edn.Symbol:
		name = h.String()
	default:
		return nil, ednErr(f, "a list form starts with :db/add, :db/retract, :db/cas, :db/retractEntity or a function name")
	}
	args := list[1:]
	need := func(n ...int) error {
		for _, k := range n {
			if len(args) == k {
				return nil
			}
		}
		return ednErr(f, "%s takes %v arguments, not %d", name, n, len(args))
	}
	switch name {
	case "db/add":
		if err := need(3); err != nil {
			return nil, err
		}
		e, a, err := eaFromEDN(f, args[0], args[1])
		if err != nil {
			return nil, err
		}
		v, err := valueFromEDN(args[2])
		if err != nil {
			return nil, err
		}
		return Add{E: e, A: a, V: v}, nil
	case "db/retract":
		if err := need(2, 3); err != nil {
			return nil, err
		}
		e, a, err := eaFromEDN(f, args[0], args[1])
		if err != nil {
			return nil, err
		}
		r := Retract{E: e, A: a}
		if len(args) == 3 {
			if r.V, err = valueFromEDN(args[2]); err != nil {
				return nil, err
			}
			if r.V == nil {
				return nil, ednErr(f, ":db/retract of a nil value")
			}
		}
		return r, nil
	case "db/cas", "db.fn/cas":
		if err := need(4); err != nil {
			return nil, err
		}
		e, a, err := eaFromEDN(f, args[0], args[1])
		if err != nil {
			return nil, err
		}
		old, err := valueFromEDN(args[2])
		if err != nil {
			return nil, err
		}
		nv, err := valueFromEDN(args[3])
		if err != nil {
			return nil, err
		}
		return CAS{E: e, A: a, Old: old, New: nv}, nil
	case "db/retractEntity", "db.fn/retractEntity":
		if err := need(1); err != nil {
			return nil, err
		}
		e, err := entityFromEDN(args[0])
		if err != nil {
			return nil, ednErr(f, "%v", err)
		}
		return RetractEntity{E: e}, nil
	}
	call := Call{Fn: name, Args: make([]any, len(args))}
	for i, a := range args {
		v, err := valueFromEDN(a)
		if err != nil {
			return nil, err
		}
		call.Args[i] = v
	}
	return call, nil
}

func eaFromEDN(form, e, a any) (Entity, Entity, error) {
	ee, err := entityFromEDN(e)
	if err != nil {
		return nil, nil, ednErr(form, "entity: %v", err)
	}
	aa, err := entityFromEDN(a)
	if err != nil {
		return nil, nil, ednErr(form, "attribute: %v", err)
	}
	return ee, aa, nil
}

// entityFromEDN reads an entity position: an id, a tempid string, an
// ident, a lookup ref [attr value], or #db/id[partition n].
func entityFromEDN(v any) (Entity, error) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return nil, fmt.Errorf("negative entity id %d", v)
		}
		return datom.E(v), nil
	case string:
		return TempID(v), nil
	case edn.Keyword:
		return Keyword(kwString(v)), nil
	case edn.Vector:
		if len(v) != 2 {
			return nil, fmt.Errorf("a lookup ref is [attribute value], not %d elements", len(v))
		}
		a, ok := v[0].(edn.Keyword)
		if !ok {
			return nil, fmt.Errorf("a lookup ref starts with an attribute keyword")
		}
		val, err := valueFromEDN(v[1])
		if err != nil {
			return nil, err
		}
		return LookupRef{Attr: Keyword(kwString(a)), Value: val}, nil
	case edn.Tagged:
		if v.Tag.String() == "db/id" {
			// #db/id[:db.part/user -1]: a tempid of that number.
			if parts, ok := seqOf(v.Value); ok && len(parts) == 2 {
				return TempID(fmt.Sprint("#db/id", parts)), nil
			}
			return nil, fmt.Errorf("#db/id wants [partition number]")
		}
	case nil:
		return nil, fmt.Errorf("nil is not an entity")
	}
	return nil, fmt.Errorf("%T cannot name an entity", v)
}

func mapFromEDN(m edn.Map) (Map, error) {
	out := Map{Attrs: make([]KV, 0, len(m))}
	for _, kv := range m {
		k, ok := kv.Key.(edn.Keyword)
		if !ok {
			return Map{}, ednErr(m, "map form keys are attribute keywords, not %T", kv.Key)
		}
		if kwString(k) == "db/id" {
			e, err := entityFromEDN(kv.Value)
			if err != nil {
				return Map{}, ednErr(m, ":db/id: %v", err)
			}
			out.ID = e
			continue
		}
		v, err := valueFromEDN(kv.Value)
		if err != nil {
			return Map{}, err
		}
		out.Attrs = append(out.Attrs, KV{A: Keyword(kwString(k)), V: v})
	}
	return out, nil
}

// valueFromEDN converts an EDN value to the Go values the engine coerces
// by attribute type (see Entity and Add).
func valueFromEDN(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, int64, float64, bool, *big.Int, time.Time:
		return v, nil
	case edn.Keyword:
		return Keyword(kwString(v)), nil
	case edn.Symbol:
		return Symbol(v.String()), nil
	case edn.UUID:
		return [16]byte(v), nil
	case edn.BigDec:
		return BigDec{Unscaled: v.Unscaled, Scale: v.Scale}, nil
	case edn.Map:
		return mapFromEDN(v)
	case edn.Vector, edn.List, edn.Set:
		elems, ok := seqOf(v)
		if !ok {
			elems = v.(edn.Set)
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			c, err := valueFromEDN(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case edn.Tagged:
		if e, err := entityFromEDN(v); err == nil {
			return e, nil
		}
		return nil, ednErr(v, "unsupported tagged value #%s", v.Tag)
	case edn.Char:
		return string(rune(v)), nil
	}
	return nil, &TxError{Code: CodeInvalidTxData, Msg: fmt.Sprintf("unsupported EDN value of type %T", v)}
}

// ParsePatternEDN reads a pull pattern from EDN text.
func ParsePatternEDN(src []byte) (any, error) {
	v, err := edn.Parse(src)
	if err != nil {
		return nil, err
	}
	return PatternFromEDN(v)
}

// PatternFromEDN converts a parsed EDN pull pattern to the engine's form.
func PatternFromEDN(v any) (any, error) {
	list, ok := seqOf(v)
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "a pattern is a vector, not %T", v)
	}
	out := make([]any, 0, len(list))
	for _, el := range list {
		switch el := el.(type) {
		case edn.Symbol:
			if el.String() != "*" {
				return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "unknown symbol %s", el)
			}
			out = append(out, "*")
		case string:
			out = append(out, el)
		case edn.Keyword:
			out = append(out, Keyword(kwString(el)))
		case edn.Map:
			m := map[any]any{}
			for _, kv := range el {
				k, err := patternAttr(kv.Key)
				if err != nil {
					return nil, err
				}
				var sub any
				switch pv := kv.Value.(type) {
				case int64:
					sub = int(pv)
				case edn.Symbol:
					sub = Symbol(pv.String())
				default:
					if sub, err = PatternFromEDN(pv); err != nil {
						return nil, err
					}
				}
				m[k] = sub
			}
			out = append(out, m)
		case edn.Vector, edn.List:
			spec, err := patternAttr(el)
			if err != nil {
				return nil, err
			}
			out = append(out, spec)
		default:
			return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "unknown pattern element of type %T", el)
		}
	}
	return out, nil
}

// patternAttr reads an attribute with or without options:
// :attr, [:attr :as x :limit n :default v], (:attr :limit n), and the
// older (limit :attr n) and (default :attr v).
func patternAttr(v any) (any, error) {
	if k, ok := v.(edn.Keyword); ok {
		return Keyword(kwString(k)), nil
	}
	list, ok := seqOf(v)
	if !ok || len(list) == 0 {
		return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "an attribute spec is a keyword or [attr options…]")
	}
	if s, ok := list[0].(edn.Symbol); ok && len(list) == 3 {
		k, ok := list[1].(edn.Keyword)
		if !ok {
			return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "(%s attr value) wants an attribute keyword", s)
		}
		spec := AttrSpec{Attr: Keyword(kwString(k))}
		switch s.String() {
		case "limit":
			return spec, applyLimit(&spec, list[2])
		case "default":
			d, err := valueFromEDN(list[2])
			spec.Default, spec.HasDefault = d, true
			return spec, err
		}
		return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "unknown attribute expression (%s …)", s)
	}
	k, ok := list[0].(edn.Keyword)
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "an attribute spec starts with an attribute keyword")
	}
	spec := AttrSpec{Attr: Keyword(kwString(k))}
	opts := list[1:]
	if len(opts)%2 != 0 {
		return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "options of :%s come in pairs", spec.Attr)
	}
	for i := 0; i < len(opts); i += 2 {
		o, ok := opts[i].(edn.Keyword)
		if !ok {
			return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "option names of :%s are keywords", spec.Attr)
		}
		switch kwString(o) {
		case "as":
			a, err := valueFromEDN(opts[i+1])
			if err != nil {
				return nil, err
			}
			spec.As = a
		case "limit":
			if err := applyLimit(&spec, opts[i+1]); err != nil {
				return nil, err
			}
		case "default":
			d, err := valueFromEDN(opts[i+1])
			if err != nil {
				return nil, err
			}
			spec.Default, spec.HasDefault = d, true
		default:
			return nil, anomaly.New(anomaly.Incorrect, "pull pattern", "unknown option :%s of :%s", kwString(o), spec.Attr)
		}
	}
	return spec, nil
}

func applyLimit(spec *AttrSpec, v any) error {
	switch n := v.(type) {
	case nil:
		spec.NoLimit = true
	case int64:
		if n < 0 || n > 1<<31 {
			return anomaly.New(anomaly.Incorrect, "pull pattern", ":limit %d of :%s out of range", n, spec.Attr)
		}
		if n == 0 {
			spec.Limit, spec.NoLimit = 0, false
			return anomaly.New(anomaly.Incorrect, "pull pattern", ":limit 0 of :%s: want a positive number or nil", spec.Attr)
		}
		spec.Limit = int(n)
	default:
		return anomaly.New(anomaly.Incorrect, "pull pattern", ":limit of :%s must be a number or nil", spec.Attr)
	}
	return nil
}
