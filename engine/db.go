package engine

import (
	"context"
	"fmt"
	"iter"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// DB is an immutable database value: every datom up to its basis t, as of
// which it answers every read. Filtered views (AsOf, Since, History) are
// DB values too. A DB is safe to use from many goroutines.
type DB struct {
	basis       datom.T
	nextN       uint64 // the counter of t and new entity numbers
	lastInstant int64  // :db/txInstant of the basis transaction, ms
	schema      *Schema
	mem         *memLayer  // the datoms since base, read at basis
	memSize     int        // entries in mem at basis (tombstones and retracted ones too)
	base        *indexBase // nil: everything is in mem
	log         *txLog

	// The view: all zero for the current database.
	asOf, since       datom.T
	hasAsOf, hasSince bool
	history           bool
}

// Empty returns the database every database starts as: the bootstrap schema
// at t = 0.
func Empty() *DB {
	db := &DB{mem: newLayer(nil, 0), nextN: firstUserN,
		schema: &Schema{attrs: map[datom.E]*Attr{}, idents: map[string]datom.E{}, identOf: map[datom.E]string{},
			composites: map[datom.E][]datom.E{}}}
	boot := bootstrapDatoms()
	touched := map[datom.E]bool{}
	for _, d := range boot {
		db.mem.add(d)
		touched[d.E] = true
	}
	db.memSize = int(db.mem.size.Load())
	s, err := db.rebuildSchema(newRd(nil), db.schema, touched)
	if err != nil {
		panic("engine: invariant: bootstrap schema: " + err.Error())
	}
	db.schema = s
	return db
}

// BasisT is the t of the last transaction in db.
func (db *DB) BasisT() datom.T { return db.basis }

// Schema is db's schema.
func (db *DB) Schema() *Schema { return db.schema }

// AsOf returns db as it was at t: only transactions up to t.
func (db *DB) AsOf(t datom.T) *DB {
	c := *db
	if !c.hasAsOf || t < c.asOf {
		c.asOf, c.hasAsOf = t, true
	}
	return &c
}

// Since returns db with only the datoms added after t.
func (db *DB) Since(t datom.T) *DB {
	c := *db
	if !c.hasSince || t > c.since {
		c.since, c.hasSince = t, true
	}
	return &c
}

// History returns a view of every assertion and retraction of db.
func (db *DB) History() *DB {
	c := *db
	c.history = true
	return &c
}

// IsHistory reports whether db is a history view.
func (db *DB) IsHistory() bool { return db.history }

// AsOfT and SinceT return the view's limits, if set.
func (db *DB) AsOfT() (datom.T, bool)  { return db.asOf, db.hasAsOf }
func (db *DB) SinceT() (datom.T, bool) { return db.since, db.hasSince }

func (db *DB) filtered() bool { return db.hasAsOf || db.hasSince || db.history }

// inTime reports whether a datom's transaction is inside the view's limits.
func (db *DB) inTime(d datom.Datom) bool {
	t := d.T()
	return (!db.hasAsOf || t <= db.asOf) && (!db.hasSince || t > db.since)
}

// Components select datoms by their leading components in an index's order:
// for EAVT, E then A then V; for AEVT, A then E then V; for AVET, A then V
// then E; for VAET, V then A then E. Only a leading run may be set.
type Components struct {
	E, A       datom.E
	V          datom.Value
	HasE, HasA bool // V is set when V.IsValid()
}

// order returns the components in x's order as (set, kind) pairs to check
// that only a leading run is set.
func (c Components) check(x datom.Index) error {
	hasV := c.V.IsValid()
	var seq []bool
	switch x {
	case datom.EAVT:
		seq = []bool{c.HasE, c.HasA, hasV}
	case datom.AEVT:
		seq = []bool{c.HasA, c.HasE, hasV}
	case datom.AVET:
		seq = []bool{c.HasA, hasV, c.HasE}
	case datom.VAET:
		seq = []bool{hasV, c.HasA, c.HasE}
		if hasV && c.V.Type() != datom.TypeRef {
			return anomaly.New(anomaly.Incorrect, "datoms", "VAET holds ref values only, not %s", c.V.Type())
		}
	default:
		return anomaly.New(anomaly.Incorrect, "datoms", "unknown index %d", x)
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] && !seq[i-1] {
			return anomaly.New(anomaly.Incorrect, "datoms", "%s components must be a leading run", x)
		}
	}
	return nil
}

func (c Components) probe() datom.Datom {
	return datom.Datom{E: c.E, A: c.A, V: c.V}
}

func (c Components) match(d datom.Datom) bool {
	return (!c.HasE || d.E == c.E) && (!c.HasA || d.A == c.A) && (!c.V.IsValid() || datom.EqualValue(d.V, c.V))
}

// Datoms returns the datoms of index x whose leading components are c, in
// index order, as seen by db's view: the current datoms, as of or since a
// t, or with history every assertion and retraction. A read that fails
// (bad components, or storage unavailable) ends the sequence with the error.
func (db *DB) Datoms(ctx context.Context, x datom.Index, c Components) iter.Seq2[datom.Datom, error] {
	// Components form a prefix of the index order: the scan stops at the
	// first datom that does not match them.
	return db.datomsFrom(ctx, x, c, c.match)
}

// datomsFrom is the scan behind Datoms and SeekDatoms: db's view of index
// x from c's position while inRange holds.
func (db *DB) datomsFrom(ctx context.Context, x datom.Index, c Components, inRange func(datom.Datom) bool) iter.Seq2[datom.Datom, error] {
	return func(yield func(datom.Datom, error) bool) {
		if err := c.check(x); err != nil {
			yield(datom.Datom{}, err)
			return
		}
		r := newRd(ctx)
		more := true
		db.scan(r, x, c.probe(), inRange, func(d datom.Datom) bool { more = yield(d, nil); return more })
		if more && r.err != nil {
			yield(datom.Datom{}, r.err)
		}
	}
}

// Entid resolves an entity designator: an entity id (returned as is), an
// ident keyword, or a lookup ref (attribute, value). It returns false when
// nothing matches.
func (db *DB) Entid(ident string) (datom.E, bool) {
	return db.schema.Entid(ident)
}

// Lookup resolves a lookup ref in db's view: the entity whose unique
// attribute a has value v.
func (db *DB) Lookup(ctx context.Context, a datom.E, v datom.Value) (datom.E, error) {
	at, ok := db.schema.Attr(a)
	if !ok {
		return 0, anomaly.New(anomaly.Incorrect, "lookup ref", "%d is not an attribute", a)
	}
	if at.Unique == UniqueNone {
		return 0, anomaly.New(anomaly.Incorrect, "lookup ref", "attribute :%s is not unique", at.Ident)
	}
	for d, err := range db.Datoms(ctx, datom.AVET, Components{A: a, HasA: true, V: v}) {
		if err != nil {
			return 0, err
		}
		return d.E, nil
	}
	return 0, anomaly.New(anomaly.NotFound, "lookup ref", "no entity with :%s %s", at.Ident, v)
}

// String describes db briefly.
func (db *DB) String() string {
	s := fmt.Sprintf("db(basis-t %d", db.basis)
	if db.hasAsOf {
		s += fmt.Sprintf(", as-of %d", db.asOf)
	}
	if db.hasSince {
		s += fmt.Sprintf(", since %d", db.since)
	}
	if db.history {
		s += ", history"
	}
	return s + ")"
}
