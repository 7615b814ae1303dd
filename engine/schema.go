package engine

import (
	"fmt"
	"maps"
	"slices"

	"github.com/stratadb/strata/datom"
)

// Unique is :db/unique.
type Unique uint8

const (
	UniqueNone     Unique = iota
	UniqueValue           // :db.unique/value: a second entity with the value is refused
	UniqueIdentity        // :db.unique/identity: a tempid with the value upserts
)

// Attr is an installed attribute, read from its entity's datoms.
type Attr struct {
	ID         datom.E
	Ident      string // "person/name", no colon
	Type       datom.Type
	Many       bool // :db.cardinality/many
	Unique     Unique
	Component  bool
	NoHistory  bool
	Indexed    bool
	Doc        string
	TupleAttrs []datom.E    // composite tuple: the attributes it is made of
	TupleTypes []datom.Type // heterogeneous tuple: the element types
	TupleType  datom.Type   // homogeneous tuple: the element type
	Preds      []string     // :db.attr/preds: names of registered predicates
}

// Schema is the immutable map of idents and attributes of one database
// value. A transaction that changes the schema makes a new Schema; the
// maps are never modified after construction.
type Schema struct {
	attrs   map[datom.E]*Attr
	idents  map[string]datom.E
	identOf map[datom.E]string
	// composites: attribute → the composite tuple attributes it is part of.
	composites map[datom.E][]datom.E
}

// Attr returns the attribute with entity id a.
func (s *Schema) Attr(a datom.E) (*Attr, bool) {
	at, ok := s.attrs[a]
	return at, ok
}

// AttrByIdent returns the attribute named ident ("person/name").
func (s *Schema) AttrByIdent(ident string) (*Attr, bool) {
	e, ok := s.idents[ident]
	if !ok {
		return nil, false
	}
	return s.Attr(e)
}

// Entid returns the entity named by ident.
func (s *Schema) Entid(ident string) (datom.E, bool) {
	e, ok := s.idents[ident]
	return e, ok
}

// Ident returns the ident of e, if it has one.
func (s *Schema) Ident(e datom.E) (string, bool) {
	id, ok := s.identOf[e]
	return id, ok
}

// Attrs returns every attribute, ordered by ident.
func (s *Schema) Attrs() []*Attr {
	out := slices.Collect(maps.Values(s.attrs))
	slices.SortFunc(out, func(a, b *Attr) int {
		switch {
		case a.Ident < b.Ident:
			return -1
		case a.Ident > b.Ident:
			return 1
		}
		return 0
	})
	return out
}

func (s *Schema) clone() *Schema {
	return &Schema{attrs: maps.Clone(s.attrs), idents: maps.Clone(s.idents),
		identOf: maps.Clone(s.identOf), composites: maps.Clone(s.composites)}
}

// The bootstrap entities: partitions, the system attributes and the enum
// idents they refer to. Their ids are fixed, in :db.part/db.
const (
	eIdent       = datom.E(10)
	eValueType   = datom.E(11)
	eCardinality = datom.E(12)
	eUnique      = datom.E(13)
	eIsComponent = datom.E(14)
	eNoHistory   = datom.E(15)
	eIndex       = datom.E(16)
	eDoc         = datom.E(17)
	eTxInstant   = datom.E(18)
	eTupleAttrs  = datom.E(19)
	eTupleTypes  = datom.E(20)
	eTupleType   = datom.E(21)
	eAttrPreds   = datom.E(22)
	eEnsure      = datom.E(23)
	eEntityAttrs = datom.E(24)
	eEntityPreds = datom.E(25)

	eCardOne        = datom.E(40)
	eCardMany       = datom.E(41)
	eUniqueValue    = datom.E(42)
	eUniqueIdentity = datom.E(43)
	eTypeBase       = datom.E(50) // + datom.Type: :db.type/…

	// firstUserN is the first number the counter of t and new entities
	// gives out after the bootstrap (Datomic's first user t is near 1000).
	firstUserN = 1000
)

func typeEntity(t datom.Type) datom.E { return eTypeBase + datom.E(t) }

// schemaAttrs are the attributes whose datoms define the schema: a
// transaction touching one of them rebuilds the affected attributes.
var schemaAttrs = map[datom.E]bool{
	eIdent: true, eValueType: true, eCardinality: true, eUnique: true, eIsComponent: true, eNoHistory: true,
	eIndex: true, eDoc: true, eTupleAttrs: true, eTupleTypes: true, eTupleType: true, eAttrPreds: true,
}

type bootAttr struct {
	e      datom.E
	ident  string
	typ    datom.Type
	many   bool
	unique Unique
	doc    string
}

var bootAttrs = []bootAttr{
	{eIdent, "db/ident", datom.TypeKeyword, false, UniqueIdentity, "The name of an entity, a keyword."},
	{eValueType, "db/valueType", datom.TypeRef, false, UniqueNone, "The type of an attribute's values."},
	{eCardinality, "db/cardinality", datom.TypeRef, false, UniqueNone, "One value or many."},
	{eUnique, "db/unique", datom.TypeRef, false, UniqueNone, ":db.unique/value or :db.unique/identity."},
	{eIsComponent, "db/isComponent", datom.TypeBoolean, false, UniqueNone, "Ref values are owned components."},
	{eNoHistory, "db/noHistory", datom.TypeBoolean, false, UniqueNone, "Keep no history of the attribute."},
	{eIndex, "db/index", datom.TypeBoolean, false, UniqueNone, "Accepted for compatibility: every attribute is in AVET."},
	{eDoc, "db/doc", datom.TypeString, false, UniqueNone, "Documentation."},
	{eTxInstant, "db/txInstant", datom.TypeInstant, false, UniqueNone, "The wall-clock time of a transaction."},
	{eTupleAttrs, "db/tupleAttrs", datom.TypeTuple, false, UniqueNone, "The attributes of a composite tuple."},
	{eTupleTypes, "db/tupleTypes", datom.TypeTuple, false, UniqueNone, "The element types of a heterogeneous tuple."},
	{eTupleType, "db/tupleType", datom.TypeRef, false, UniqueNone, "The element type of a homogeneous tuple."},
	{eAttrPreds, "db.attr/preds", datom.TypeSymbol, true, UniqueNone, "Predicates every value must satisfy."},
	{eEnsure, "db/ensure", datom.TypeRef, true, UniqueNone, "Entity specs the entity must satisfy."},
	{eEntityAttrs, "db.entity/attrs", datom.TypeKeyword, true, UniqueNone, "Attributes an entity spec requires."},
	{eEntityPreds, "db.entity/preds", datom.TypeSymbol, true, UniqueNone, "Predicates an entity spec requires."},
}

// bootstrapDatoms are the datoms of t = 0, which every database starts with.
func bootstrapDatoms() []datom.Datom {
	tx := datom.TxE(0)
	var ds []datom.Datom
	add := func(e, a datom.E, v datom.Value) {
		ds = append(ds, datom.Datom{E: e, A: a, V: v, Tx: tx, Added: true})
	}
	kw := datom.Keyword
	add(datom.E(datom.PartDB), eIdent, kw("db.part/db"))
	add(datom.MakeE(datom.PartDB, uint64(datom.PartTx)), eIdent, kw("db.part/tx"))
	add(datom.MakeE(datom.PartDB, uint64(datom.PartUser)), eIdent, kw("db.part/user"))
	add(eCardOne, eIdent, kw("db.cardinality/one"))
	add(eCardMany, eIdent, kw("db.cardinality/many"))
	add(eUniqueValue, eIdent, kw("db.unique/value"))
	add(eUniqueIdentity, eIdent, kw("db.unique/identity"))
	for t := datom.TypeBoolean; t <= datom.TypeTuple; t++ {
		add(typeEntity(t), eIdent, kw(t.Ident()))
	}
	for _, b := range bootAttrs {
		add(b.e, eIdent, kw(b.ident))
		add(b.e, eValueType, datom.Ref(typeEntity(b.typ)))
		card := eCardOne
		if b.many {
			card = eCardMany
		}
		add(b.e, eCardinality, datom.Ref(card))
		switch b.unique {
		case UniqueIdentity:
			add(b.e, eUnique, datom.Ref(eUniqueIdentity))
		case UniqueValue:
			add(b.e, eUnique, datom.Ref(eUniqueValue))
		}
		add(b.e, eDoc, datom.String(b.doc))
	}
	// The homogeneous tuples of the schema: refs to attributes and types.
	add(eTupleAttrs, eTupleType, datom.Ref(typeEntity(datom.TypeRef)))
	add(eTupleTypes, eTupleType, datom.Ref(typeEntity(datom.TypeRef)))
	return ds
}

// attrFromDatoms builds the attribute of entity e from its current datoms
// (attribute → values), or returns nil when e is not an attribute (no
// :db/valueType). It checks the combination and names what is wrong.
func attrFromDatoms(e datom.E, vals map[datom.E][]datom.Value, identOf func(datom.E) (string, bool)) (*Attr, error) {
	one := func(a datom.E) (datom.Value, bool) {
		if v := vals[a]; len(v) > 0 {
			return v[0], true
		}
		return datom.Value{}, false
	}
	vt, ok := one(eValueType)
	if !ok {
		return nil, nil
	}
	at := &Attr{ID: e, Indexed: true}
	if v, ok := one(eIdent); ok {
		at.Ident = v.Str()
	} else {
		return nil, fmt.Errorf("attribute %d has no :db/ident", e)
	}
	typeIdent, _ := identOf(vt.Ref())
	t, ok := datom.TypeByIdent(typeIdent)
	if !ok {
		return nil, fmt.Errorf("attribute :%s: :db/valueType %d is not a value type", at.Ident, vt.Ref())
	}
	at.Type = t
	card, ok := one(eCardinality)
	if !ok {
		return nil, fmt.Errorf("attribute :%s has no :db/cardinality", at.Ident)
	}
	switch card.Ref() {
	case eCardOne:
	case eCardMany:
		at.Many = true
	default:
		return nil, fmt.Errorf("attribute :%s: :db/cardinality must be :db.cardinality/one or /many", at.Ident)
	}
	if u, ok := one(eUnique); ok {
		switch u.Ref() {
		case eUniqueValue:
			at.Unique = UniqueValue
		case eUniqueIdentity:
			at.Unique = UniqueIdentity
		default:
			return nil, fmt.Errorf("attribute :%s: :db/unique must be :db.unique/value or /identity", at.Ident)
		}
	}
	if v, ok := one(eIsComponent); ok {
		at.Component = v.Boolean()
		if at.Component && t != datom.TypeRef {
			return nil, fmt.Errorf("attribute :%s: :db/isComponent needs :db.type/ref, not %s", at.Ident, t.Ident())
		}
	}
	if v, ok := one(eNoHistory); ok {
		at.NoHistory = v.Boolean()
	}
	if v, ok := one(eDoc); ok {
		at.Doc = v.Str()
	}
	for _, p := range vals[eAttrPreds] {
		at.Preds = append(at.Preds, p.Str())
	}
	slices.Sort(at.Preds)
	if v, ok := one(eTupleAttrs); ok {
		for _, el := range v.Elems() {
			at.TupleAttrs = append(at.TupleAttrs, el.Ref())
		}
	}
	if v, ok := one(eTupleTypes); ok {
		for _, el := range v.Elems() {
			id, _ := identOf(el.Ref())
			et, ok := datom.TypeByIdent(id)
			if !ok || et == datom.TypeTuple {
				return nil, fmt.Errorf("attribute :%s: :db/tupleTypes element %d is not a scalar value type", at.Ident, el.Ref())
			}
			at.TupleTypes = append(at.TupleTypes, et)
		}
	}
	if v, ok := one(eTupleType); ok {
		id, _ := identOf(v.Ref())
		et, ok := datom.TypeByIdent(id)
		if !ok || et == datom.TypeTuple {
			return nil, fmt.Errorf("attribute :%s: :db/tupleType %d is not a scalar value type", at.Ident, v.Ref())
		}
		at.TupleType = et
	}
	if t == datom.TypeTuple {
		n := 0
		for _, set := range []bool{len(at.TupleAttrs) > 0, len(at.TupleTypes) > 0, at.TupleType != datom.TypeInvalid} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("attribute :%s: a tuple attribute needs exactly one of :db/tupleAttrs, :db/tupleTypes, :db/tupleType", at.Ident)
		}
		if l := max(len(at.TupleAttrs), len(at.TupleTypes)); l > 0 && (l < datom.MinTupleLen || l > datom.MaxTupleLen) {
			return nil, fmt.Errorf("attribute :%s: tuples have %d to %d elements, not %d", at.Ident, datom.MinTupleLen, datom.MaxTupleLen, l)
		}
	} else if len(at.TupleAttrs) > 0 || len(at.TupleTypes) > 0 || at.TupleType != datom.TypeInvalid {
		return nil, fmt.Errorf("attribute :%s: tuple options need :db.type/tuple, not %s", at.Ident, t.Ident())
	}
	return at, nil
}

// noHistory reports whether attribute a keeps no history.
func (s *Schema) noHistory(a datom.E) bool {
	at, ok := s.attrs[a]
	return ok && at.NoHistory
}
