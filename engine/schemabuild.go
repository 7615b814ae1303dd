package engine

import (
	"slices"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// rebuildSchema returns old updated for the entities in touched, read from
// db's current datoms: their idents and, for attributes, their Attr.
func (db *DB) rebuildSchema(r *rd, old *Schema, touched map[datom.E]bool) (*Schema, error) {
	s := old.clone()
	// Idents first: attributes name their types and enums by ident.
	vals := make(map[datom.E]map[datom.E][]datom.Value, len(touched))
	for e := range touched {
		m := map[datom.E][]datom.Value{}
		db.scanCur(r, datom.EAVT, datom.Datom{E: e}, func(d datom.Datom) bool { return d.E == e }, func(d datom.Datom) bool {
			if schemaAttrs[d.A] {
				m[d.A] = append(m[d.A], d.V)
			}
			return true
		})
		if r.err != nil {
			return nil, r.err
		}
		vals[e] = m
		if id, ok := s.identOf[e]; ok {
			delete(s.idents, id)
			delete(s.identOf, e)
		}
	}
	for e, m := range vals {
		if v := m[eIdent]; len(v) > 0 {
			s.idents[v[0].Str()] = e
			s.identOf[e] = v[0].Str()
		}
	}
	identOf := func(e datom.E) (string, bool) { id, ok := s.identOf[e]; return id, ok }
	for e, m := range vals {
		prev := s.attrs[e]
		at, err := attrFromDatoms(e, m, identOf)
		if err != nil {
			return nil, anomaly.New(anomaly.Incorrect, "schema", "%v", err)
		}
		if prev != nil && at == nil {
			return nil, anomaly.New(anomaly.Incorrect, "schema", "attribute :%s: :db/valueType cannot be retracted", prev.Ident)
		}
		if prev != nil && at != nil {
			if prev.Type != at.Type {
				return nil, anomaly.New(anomaly.Incorrect, "schema",
					"attribute :%s: :db/valueType cannot change (from %s to %s)", at.Ident, prev.Type.Ident(), at.Type.Ident())
			}
			if !slices.Equal(prev.TupleAttrs, at.TupleAttrs) || !slices.Equal(prev.TupleTypes, at.TupleTypes) || prev.TupleType != at.TupleType {
				return nil, anomaly.New(anomaly.Incorrect, "schema", "attribute :%s: tuple definitions cannot change", at.Ident)
			}
		}
		if prev != nil {
			for _, src := range prev.TupleAttrs {
				s.composites[src] = slices.DeleteFunc(slices.Clone(s.composites[src]), func(c datom.E) bool { return c == e })
			}
		}
		if at == nil {
			delete(s.attrs, e)
			continue
		}
		s.attrs[e] = at
		for _, src := range at.TupleAttrs {
			if _, ok := s.attrs[src]; !ok && !touched[src] {
				return nil, anomaly.New(anomaly.Incorrect, "schema", "attribute :%s: :db/tupleAttrs names %d, not an attribute", at.Ident, src)
			}
			s.composites[src] = append(slices.Clone(s.composites[src]), e)
		}
	}
	return s, nil
}
