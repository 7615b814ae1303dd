package engine

import (
	"cmp"
	"context"
	"math/big"
	"slices"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// Pull patterns, as Go values (the EDN reader produces the same shapes):
//
//	[]any{Keyword("person/name"), "*", map[any]any{Keyword("person/friend"): []any{...}}}
//
// Elements of a pattern:
//   - Keyword: an attribute, or a reverse attribute "ns/_attr", or "db/id";
//   - "*" or Symbol("*"): every attribute of the entity; components are
//     pulled whole, other refs as {:db/id e};
//   - AttrSpec: an attribute with options (:as, :limit, :default);
//   - map[any]any or MapSpec: attribute (Keyword or AttrSpec) → sub-pattern
//     ([]any), or a recursion limit (int, or Symbol("...") for unbounded).
//
// Results are map[any]any keyed by Keyword (or the :as value); a
// cardinality-many attribute gives a []any; a ref gives a map (its
// sub-pattern, or {:db/id e}).

// AttrSpec is an attribute with options: [:attr :as x :limit n :default v].
type AttrSpec struct {
	Attr       Keyword
	As         any  // result key; nil means the attribute's keyword
	Limit      int  // values of a many attribute; 0 means DefaultPullLimit
	NoLimit    bool // :limit nil: every value
	Default    any
	HasDefault bool
}

// MapSpec is one entry of a map in a pattern.
type MapSpec struct {
	Attr    any // Keyword or AttrSpec
	Pattern any // []any sub-pattern, int recursion depth, or Symbol("...")
}

// DefaultPullLimit is how many values of a cardinality-many attribute a
// pull returns unless :limit says otherwise (Datomic's default).
const DefaultPullLimit = 1000

// MaxPullDepth bounds unbounded recursion ("...") and nesting.
const MaxPullDepth = 100

type pattern struct {
	wildcard bool
	withID   bool
	attrs    []pullAttr
}

type pullAttr struct {
	spec      AttrSpec
	at        *Attr
	reverse   bool
	sub       *pattern // nil: values as is, refs as {:db/id}
	recurse   int      // > 0: recursion depth; -1 unbounded
	recursive bool
}

// compilePattern checks a pattern against db's schema.
func (db *DB) compilePattern(p any, depth int) (*pattern, error) {
	if depth > MaxPullDepth {
		return nil, anomaly.New(anomaly.Incorrect, "pull", "pattern nests deeper than %d", MaxPullDepth)
	}
	list, ok := p.([]any)
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "pull", "a pattern is a vector, not %T", p)
	}
	out := &pattern{attrs: make([]pullAttr, 0, len(list))}
	for _, el := range list {
		switch el := el.(type) {
		case string:
			if el != "*" {
				return nil, anomaly.New(anomaly.Incorrect, "pull", "unknown pattern element %q", el)
			}
			out.wildcard = true
		case Symbol:
			if el != "*" {
				return nil, anomaly.New(anomaly.Incorrect, "pull", "unknown pattern symbol %s", string(el))
			}
			out.wildcard = true
		case Keyword:
			if el == "db/id" {
				out.withID = true
				continue
			}
			pa, err := db.pullAttr(AttrSpec{Attr: el})
			if err != nil {
				return nil, err
			}
			out.attrs = append(out.attrs, pa)
		case AttrSpec:
			pa, err := db.pullAttr(el)
			if err != nil {
				return nil, err
			}
			out.attrs = append(out.attrs, pa)
		case map[any]any:
			for k, v := range el {
				if err := db.addMapSpec(out, MapSpec{k, v}, depth); err != nil {
					return nil, err
				}
			}
		case MapSpec:
			if err := db.addMapSpec(out, el, depth); err != nil {
				return nil, err
			}
		case []MapSpec:
			for _, ms := range el {
				if err := db.addMapSpec(out, ms, depth); err != nil {
					return nil, err
				}
			}
		default:
			return nil, anomaly.New(anomaly.Incorrect, "pull", "unknown pattern element %v (%T)", el, el)
		}
	}
	return out, nil
}

func (db *DB) addMapSpec(out *pattern, ms MapSpec, depth int) error {
	var spec AttrSpec
	switch a := ms.Attr.(type) {
	case Keyword:
		spec = AttrSpec{Attr: a}
	case AttrSpec:
		spec = a
	default:
		return anomaly.New(anomaly.Incorrect, "pull", "map key %v is not an attribute", ms.Attr)
	}
	pa, err := db.pullAttr(spec)
	if err != nil {
		return err
	}
	if pa.at.Type != datom.TypeRef {
		return anomaly.New(anomaly.Incorrect, "pull", ":%s is not a ref attribute; it takes no sub-pattern", pa.at.Ident)
	}
	switch p := ms.Pattern.(type) {
	case int:
		pa.recursive, pa.recurse = true, p
	case int64:
		pa.recursive, pa.recurse = true, int(p)
	case Symbol:
		if p != "..." {
			return anomaly.New(anomaly.Incorrect, "pull", "recursion limit %s: want a number or ...", string(p))
		}
		pa.recursive, pa.recurse = true, -1
	default:
		sub, err := db.compilePattern(p, depth+1)
		if err != nil {
			return err
		}
		pa.sub = sub
	}
	if pa.recursive && pa.recurse == 0 {
		pa.recursive = false
	}
	out.attrs = append(out.attrs, pa)
	return nil
}

func (db *DB) pullAttr(spec AttrSpec) (pullAttr, error) {
	name := string(spec.Attr)
	reverse := false
	at, ok := db.schema.AttrByIdent(name)
	if !ok {
		if ns, n, cut := strings.Cut(name, "/"); cut && strings.HasPrefix(n, "_") {
			at, ok = db.schema.AttrByIdent(ns + "/" + n[1:])
			reverse = ok
		}
	}
	if !ok {
		return pullAttr{}, anomaly.New(anomaly.Incorrect, "pull", ":%s is not an attribute", name)
	}
	if reverse && at.Type != datom.TypeRef {
		return pullAttr{}, anomaly.New(anomaly.Incorrect, "pull", "reverse :%s of the non-ref attribute :%s", name, at.Ident)
	}
	if spec.Limit < 0 {
		return pullAttr{}, anomaly.New(anomaly.Incorrect, "pull", ":limit %d of :%s is negative", spec.Limit, name)
	}
	return pullAttr{spec: spec, at: at, reverse: reverse}, nil
}

// Pull returns the entity e as the pattern describes it, or nil when it
// has none of the pattern's attributes.
func (db *DB) Pull(ctx context.Context, p any, e datom.E) (map[any]any, error) {
	pat, err := db.compilePattern(p, 0)
	if err != nil {
		return nil, err
	}
	r := newRd(ctx)
	m := db.pull(r, pat, e, &pullPath{}, 0)
	return m, r.err
}

// PullMany pulls each entity with one compiled pattern.
func (db *DB) PullMany(ctx context.Context, p any, es []datom.E) ([]map[any]any, error) {
	pat, err := db.compilePattern(p, 0)
	if err != nil {
		return nil, err
	}
	r := newRd(ctx)
	out := make([]map[any]any, len(es))
	for i, e := range es {
		out[i] = db.pull(r, pat, e, &pullPath{}, 0)
		if r.err != nil {
			return nil, r.err
		}
	}
	return out, nil
}

func (db *DB) pull(r *rd, p *pattern, e datom.E, path *pullPath, depth int) map[any]any {
	res := map[any]any{}
	if p.withID {
		res[Keyword("db/id")] = e
	}
	path.push(e)
	defer path.pop()
	// One EAVT scan of e serves every forward attribute (a point pull is
	// then one seek, not one per attribute), grouped by attribute in
	// index order: the values in one slice, each group a range of it.
	// Without a wildcard only the pattern's attributes are kept.
	type group struct {
		a        datom.E
		from, to int
	}
	var groups []group
	var vals []datom.Value
	forward := p.wildcard
	for _, pa := range p.attrs {
		forward = forward || !pa.reverse
	}
	wanted := func(a datom.E) bool {
		if p.wildcard {
			return true
		}
		for _, pa := range p.attrs {
			if !pa.reverse && pa.at.ID == a {
				return true
			}
		}
		return false
	}
	if forward {
		db.scan(r, datom.EAVT, datom.Datom{E: e}, func(d datom.Datom) bool { return d.E == e }, func(d datom.Datom) bool {
			n := len(groups)
			if n > 0 && groups[n-1].a == d.A {
				vals = append(vals, d.V)
				groups[n-1].to = len(vals)
			} else if wanted(d.A) {
				vals = append(vals, d.V)
				groups = append(groups, group{a: d.A, from: len(vals) - 1, to: len(vals)})
			}
			return true
		})
	}
	find := func(a datom.E) []datom.Value {
		i, ok := slices.BinarySearchFunc(groups, a, func(g group, a datom.E) int { return cmp.Compare(g.a, a) })
		if !ok {
			return nil
		}
		return vals[groups[i].from:groups[i].to:groups[i].to]
	}
	var done map[datom.E]bool
	if p.wildcard {
		done = map[datom.E]bool{}
	}
	for _, pa := range p.attrs {
		key := any(pa.spec.Attr)
		if pa.spec.As != nil {
			key = pa.spec.As
		}
		var v any
		ok := false
		if pa.reverse {
			v, ok = db.reverseValues(r, p, pa, e, path, depth)
		} else {
			if done != nil {
				done[pa.at.ID] = true
			}
			if vals := find(pa.at.ID); len(vals) > 0 {
				if limit := pa.limit(); limit >= 0 && len(vals) > limit && pa.at.Many {
					vals = vals[:limit]
				}
				v, ok = db.convertValues(r, p, pa, vals, path, depth), true
			}
		}
		if ok {
			res[key] = v
		} else if pa.spec.HasDefault {
			res[key] = pa.spec.Default
		}
	}
	if p.wildcard {
		res[Keyword("db/id")] = e
		for _, g := range groups {
			if done[g.a] {
				continue
			}
			at, ok := db.schema.Attr(g.a)
			if !ok {
				continue
			}
			pa := pullAttr{spec: AttrSpec{Attr: Keyword(at.Ident), NoLimit: true}, at: at}
			res[Keyword(at.Ident)] = db.convertValues(r, p, pa, vals[g.from:g.to:g.to], path, depth)
		}
	}
	if len(res) == 0 {
		return nil
	}
	return res
}

// limit is how many values of a many attribute to return; -1 is all.
func (pa pullAttr) limit() int {
	switch {
	case pa.spec.NoLimit:
		return -1
	case pa.spec.Limit == 0:
		return DefaultPullLimit
	}
	return pa.spec.Limit
}

// reverseValues reads the entities whose reverse attribute pa points at e
// (VAET) and converts them; forward attributes come from pull's one EAVT
// scan of e.
func (db *DB) reverseValues(r *rd, p *pattern, pa pullAttr, e datom.E, path *pullPath, depth int) (any, bool) {
	var vals []datom.Value
	limit := pa.limit()
	db.scan(r, datom.VAET, datom.Datom{V: datom.Ref(e), A: pa.at.ID}, func(d datom.Datom) bool {
		return d.V.Type() == datom.TypeRef && d.V.Ref() == e && d.A == pa.at.ID
	}, func(d datom.Datom) bool {
		vals = append(vals, datom.Ref(d.E))
		return limit < 0 || len(vals) < limit
	})
	if len(vals) == 0 {
		return nil, false
	}
	return db.convertValues(r, p, pa, vals, path, depth), true
}

// convertValues turns datom values into pull results: one value for a
// cardinality-one attribute (and for a reversed component), a []any else.
func (db *DB) convertValues(r *rd, p *pattern, pa pullAttr, vals []datom.Value, path *pullPath, depth int) any {
	one := !pa.at.Many
	if pa.reverse {
		one = pa.at.Component // a component has one owner
	}
	conv := func(v datom.Value) any {
		if v.Type() != datom.TypeRef {
			return GoValue(v)
		}
		e := v.Ref()
		switch {
		case pa.recursive:
			if path.has(e) || (pa.recurse > 0 && depth >= pa.recurse) || depth >= MaxPullDepth {
				return map[any]any{Keyword("db/id"): e}
			}
			if m := db.pull(r, p, e, path, depth+1); m != nil {
				return m
			}
		case pa.sub != nil:
			if m := db.pull(r, pa.sub, e, path, depth+1); m != nil {
				return m
			}
		case p.wildcard && pa.at.Component && !pa.reverse && !path.has(e) && depth < MaxPullDepth:
			// * pulls components whole.
			return db.pull(r, &pattern{wildcard: true}, e, path, depth+1)
		}
		return map[any]any{Keyword("db/id"): e}
	}
	if one {
		return conv(vals[0])
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = conv(v)
	}
	return out
}

// GoValue converts a datom value to the Go value pull and query results
// use: string, Keyword, Symbol, bool, int64, float32, float64, *big.Int,
// BigDec, time.Time, [16]byte, []byte, datom.E (refs), []any (tuples).
func GoValue(v datom.Value) any {
	switch v.Type() {
	case datom.TypeString, datom.TypeURI:
		return v.Str()
	case datom.TypeKeyword:
		return Keyword(v.Str())
	case datom.TypeSymbol:
		return Symbol(v.Str())
	case datom.TypeBoolean:
		return v.Boolean()
	case datom.TypeLong:
		return v.Long()
	case datom.TypeFloat:
		return v.Float()
	case datom.TypeDouble:
		return v.Double()
	case datom.TypeBigInt:
		return new(big.Int).Set(v.BigInt())
	case datom.TypeBigDec:
		return BigDec{Unscaled: new(big.Int).Set(v.BigInt()), Scale: v.Scale()}
	case datom.TypeInstant:
		return v.Time()
	case datom.TypeUUID:
		return v.UUIDBytes()
	case datom.TypeBytes:
		return []byte(v.Str())
	case datom.TypeRef:
		return v.Ref()
	case datom.TypeTuple:
		el := v.Elems()
		out := make([]any, len(el))
		for i, x := range el {
			if x.IsValid() {
				out[i] = GoValue(x)
			}
		}
		return out
	}
	return nil
}

// BigDec is a decimal: Unscaled × 10^-Scale.
type BigDec struct {
	Unscaled *big.Int
	Scale    int32
}

func (d BigDec) String() string { return datom.DecString(d.Unscaled, d.Scale) + "M" }

// pullPath is the chain of entities from the pulled one down to the one
// being pulled: recursion stops at an entity already on it (a cycle). It is
// short (bounded by MaxPullDepth), so a slice beats a map.
type pullPath struct{ es []datom.E }

func (p *pullPath) push(e datom.E) { p.es = append(p.es, e) }
func (p *pullPath) pop()           { p.es = p.es[:len(p.es)-1] }
func (p *pullPath) has(e datom.E) bool {
	return slices.Contains(p.es, e)
}

// Pattern is a pull pattern checked against a schema once, to pull with
// many times (PullPattern) without reading the pattern again.
type Pattern struct {
	src    any
	schema *Schema
	p      *pattern
}

// CompilePattern checks a pattern (see Pull) against db's schema.
func (db *DB) CompilePattern(p any) (*Pattern, error) {
	c, err := db.compilePattern(p, 0)
	if err != nil {
		return nil, err
	}
	return &Pattern{src: p, schema: db.schema, p: c}, nil
}

// PullPattern is Pull with a compiled pattern. A pattern compiled against
// another schema (an attribute renamed since, say) is compiled again.
func (db *DB) PullPattern(ctx context.Context, pat *Pattern, e datom.E) (map[any]any, error) {
	c := pat.p
	if pat.schema != db.schema {
		var err error
		if c, err = db.compilePattern(pat.src, 0); err != nil {
			return nil, err
		}
	}
	r := newRd(ctx)
	m := db.pull(r, c, e, &pullPath{}, 0)
	return m, r.err
}
