package client

import (
	"context"
	"iter"
	"sync/atomic"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/edn"
)

// DB is a database value: the database at one basis t, or a view of it
// (see the package documentation). Reads of one DB are consistent with
// each other. A DB is safe for concurrent use.
type DB struct {
	conn  *Conn
	basis *basis // shared by a DB and the views made from it
	// The view's arguments: nil for none.
	asOf, since any
	history     bool
}

// basis is a DB value's t: 0 until its first answer fixes it.
type basis struct {
	t atomic.Int64
	// pinned is set once the database has moved past t: reads then ask
	// for the database as of t.
	pinned atomic.Bool
}

// maxCatchUps bounds how often one read waits for a node behind the DB's
// basis before giving up.
const maxCatchUps = 3

// BasisT returns the DB's basis t (0 before its first answer, for a DB
// of a Conn that had seen none).
func (db *DB) BasisT() int64 { return db.basis.t.Load() }

// Conn returns the DB's connection.
func (db *DB) Conn() *Conn { return db.conn }

// AsOf returns a view of the database as it was at point: a t, a
// transaction id, or a time.Time (the last transaction at or before it).
// The point replaces the DB's basis as the view's upper limit.
func (db *DB) AsOf(point any) *DB {
	c := *db
	c.asOf = point
	return &c
}

// Since returns a view with only the datoms added after point (a t, a
// transaction id or a time.Time).
func (db *DB) Since(point any) *DB {
	c := *db
	c.since = point
	return &c
}

// History returns a view of every assertion and retraction.
func (db *DB) History() *DB {
	c := *db
	c.history = true
	return &c
}

// viewArgs appends the view's arguments to args: asOf, or the basis t if
// pinned.
func (db *DB) viewArgs(args edn.Map, pin bool, t int64) (edn.Map, error) {
	out := make(edn.Map, len(args), len(args)+3)
	copy(out, args)
	for _, v := range []struct {
		name  string
		point any
	}{{"as-of", db.asOf}, {"since", db.since}} {
		if v.point == nil {
			continue
		}
		p, err := toEDN(v.point)
		if err != nil {
			return nil, err
		}
		switch p.(type) {
		case int64, time.Time:
		default:
			return nil, incorrect("%s %v: want a t, a transaction id or a time.Time, not %T", v.name, v.point, v.point)
		}
		out = append(out, edn.Entry{Key: v.name, Value: p})
	}
	if pin && db.asOf == nil {
		out = append(out, edn.Entry{Key: "as-of", Value: t})
	}
	if db.history {
		out = append(out, edn.Entry{Key: "history", Value: true})
	}
	return out, nil
}

// read makes a read of the DB: it fixes the basis from the first answer,
// asks again as of the basis if the database moved on, and waits for a
// node behind the basis to catch up.
func (db *DB) read(ctx context.Context, op string, args edn.Map) (edn.Map, error) {
	cn := db.conn
	for catchUps := 0; ; {
		t := db.basis.t.Load()
		pin := t > 0 && db.basis.pinned.Load()
		a, err := db.viewArgs(args, pin, t)
		if err != nil {
			return nil, err
		}
		m, err := cn.c.call(ctx, request{method: "POST", path: cn.path + op, args: a})
		if err != nil {
			return nil, err
		}
		answered, err := field[int64](m, "basis-t")
		if err != nil {
			return nil, err
		}
		cn.saw(answered)
		switch {
		case t == 0:
			if db.basis.t.CompareAndSwap(0, answered) {
				return m, nil
			}
			// Another read fixed the basis first: check against it.
		case answered == t, db.asOf != nil, answered > t && pin:
			return m, nil
		case answered > t:
			db.basis.pinned.Store(true)
		default: // answered < t: the node is behind.
			if catchUps++; catchUps > maxCatchUps {
				return nil, &Error{Category: anomaly.Unavailable,
					Message: "the node stays behind the database value's basis t " + itoa(t)}
			}
			if _, err := cn.Sync(ctx, t); err != nil {
				return nil, err
			}
		}
	}
}

// Query is a query with its inputs and limits.
type Query struct {
	// Query is the query: EDN text or EDN values.
	Query any
	// Args are the :in inputs besides the database, in order.
	Args []any
	// Offset and Limit page the result (0: from the start, no limit).
	Offset, Limit int
	// Timeout bounds the query on the node (it keeps its own bound too);
	// 0: the node's.
	Timeout time.Duration
}

// Q runs a query with args as its inputs besides the database and
// returns the result as EDN values (for a relation, an edn.Vector of
// edn.Vector rows).
func (db *DB) Q(ctx context.Context, query string, args ...any) (any, error) {
	return db.Query(ctx, Query{Query: query, Args: args})
}

// Query runs q.
func (db *DB) Query(ctx context.Context, q Query) (any, error) {
	code, err := ednText(q.Query)
	if err != nil {
		return nil, err
	}
	inputs := make(edn.Vector, len(q.Args))
	for i, a := range q.Args {
		if inputs[i], err = toEDN(a); err != nil {
			return nil, err
		}
	}
	args := edn.Map{{Key: "query", Value: code}, {Key: "args", Value: inputs}}
	if q.Offset < 0 || q.Limit < 0 || q.Timeout < 0 {
		return nil, incorrect("query: offset %d, limit %d and timeout %s must not be negative", q.Offset, q.Limit, q.Timeout)
	}
	if q.Offset > 0 {
		args = append(args, edn.Entry{Key: "offset", Value: int64(q.Offset)})
	}
	if q.Limit > 0 {
		args = append(args, edn.Entry{Key: "limit", Value: int64(q.Limit)})
	}
	if q.Timeout > 0 {
		args = append(args, edn.Entry{Key: "timeout-ms", Value: max(1, q.Timeout.Milliseconds())})
	}
	m, err := db.read(ctx, "q", args)
	if err != nil {
		return nil, err
	}
	return get(m, "result"), nil
}

// Pull returns the entity eid (an id, an ident keyword, a lookup ref
// [attr value], or EDN text of one) as the pattern selects it.
func (db *DB) Pull(ctx context.Context, pattern any, eid any) (edn.Map, error) {
	code, err := ednText(pattern)
	if err != nil {
		return nil, err
	}
	e, err := entityArg(eid)
	if err != nil {
		return nil, err
	}
	m, err := db.read(ctx, "pull", edn.Map{{Key: "pattern", Value: code}, {Key: "eid", Value: e}})
	if err != nil {
		return nil, err
	}
	return pulled(get(m, "result"))
}

// PullMany pulls several entities (as Pull takes them), in order.
func (db *DB) PullMany(ctx context.Context, pattern any, eids []any) ([]edn.Map, error) {
	code, err := ednText(pattern)
	if err != nil {
		return nil, err
	}
	es := make(edn.Vector, len(eids))
	for i, e := range eids {
		if es[i], err = entityArg(e); err != nil {
			return nil, err
		}
	}
	m, err := db.read(ctx, "pull", edn.Map{{Key: "pattern", Value: code}, {Key: "eids", Value: es}})
	if err != nil {
		return nil, err
	}
	v, err := field[edn.Vector](m, "result")
	if err != nil {
		return nil, err
	}
	out := make([]edn.Map, len(v))
	for i, x := range v {
		if out[i], err = pulled(x); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// entityArg is an entity argument: a string is EDN text (a lookup ref,
// an ident), anything else an EDN value.
func entityArg(v any) (any, error) {
	if s, ok := v.(string); ok {
		x, err := edn.Parse([]byte(s))
		if err != nil {
			return nil, &Error{Category: anomaly.Incorrect, Message: "entity " + s, Err: err}
		}
		return x, nil
	}
	return toEDN(v)
}

func pulled(v any) (edn.Map, error) {
	switch m := v.(type) {
	case nil:
		return edn.Map{}, nil
	case edn.Map:
		return m, nil
	}
	return nil, badAnswer("a pull's result is %T, not a map", v)
}

// Datoms yields the datoms of an index ("eavt", "aevt", "avet" or
// "vaet") whose leading components, in the index's order, are components
// (entities and attributes as ids, idents or lookup refs; values as EDN
// values), a page at a time.
func (db *DB) Datoms(ctx context.Context, index string, components ...any) iter.Seq2[Datom, error] {
	return func(yield func(Datom, error) bool) {
		comp := make(edn.Vector, len(components))
		for i, c := range components {
			var err error
			if comp[i], err = toEDN(c); err != nil {
				yield(Datom{}, err)
				return
			}
		}
		args := edn.Map{{Key: "index", Value: index}, {Key: "components", Value: comp}}
		db.pageDatoms(ctx, "datoms", args, yield)
	}
}

// IndexRange yields the AVET datoms of attr with start <= value < end
// (nil: open), a page at a time.
func (db *DB) IndexRange(ctx context.Context, attr, start, end any) iter.Seq2[Datom, error] {
	return func(yield func(Datom, error) bool) {
		args := edn.Map{}
		for _, a := range []struct {
			k string
			v any
		}{{"attrid", attr}, {"start", start}, {"end", end}} {
			if a.v == nil {
				continue
			}
			x, err := toEDN(a.v)
			if a.k == "attrid" {
				x, err = entityArg(a.v)
			}
			if err != nil {
				yield(Datom{}, err)
				return
			}
			args = append(args, edn.Entry{Key: a.k, Value: x})
		}
		db.pageDatoms(ctx, "index-range", args, yield)
	}
}

// pageDatoms reads op's "datoms" a page at a time, by offset.
func (db *DB) pageDatoms(ctx context.Context, op string, args edn.Map, yield func(Datom, error) bool) {
	limit := int64(db.conn.c.cfg.PageSize)
	for offset := int64(0); ; offset += limit {
		page := append(args[:len(args):len(args)], edn.Entry{Key: "offset", Value: offset}, edn.Entry{Key: "limit", Value: limit})
		m, err := db.read(ctx, op, page)
		if err != nil {
			yield(Datom{}, err)
			return
		}
		ds, err := field[edn.Vector](m, "datoms")
		if err != nil {
			yield(Datom{}, err)
			return
		}
		for _, x := range ds {
			d, err := datomOf(x)
			if err != nil {
				yield(Datom{}, err)
				return
			}
			if !yield(d, nil) {
				return
			}
		}
		if int64(len(ds)) < limit {
			return
		}
	}
}

// IndexPull is an index-pull: entities in the order of an index's
// values, pulled.
type IndexPull struct {
	// Index is "avet" (default) or "aevt".
	Index string
	// Selector is the pull pattern, EDN text or EDN values.
	Selector any
	// Start is the leading components to start at, in the index's order:
	// at least the attribute.
	Start []any
	// Reverse walks the index backwards.
	Reverse bool
}

// IndexPull yields the entities p selects, pulled, a page at a time.
func (db *DB) IndexPull(ctx context.Context, p IndexPull) iter.Seq2[edn.Map, error] {
	return func(yield func(edn.Map, error) bool) {
		sel, err := ednText(p.Selector)
		if err != nil {
			yield(nil, err)
			return
		}
		start := make(edn.Vector, len(p.Start))
		for i, c := range p.Start {
			if start[i], err = toEDN(c); err != nil {
				yield(nil, err)
				return
			}
		}
		args := edn.Map{{Key: "selector", Value: sel}, {Key: "start", Value: start}, {Key: "reverse", Value: p.Reverse}}
		if p.Index != "" {
			args = append(args, edn.Entry{Key: "index", Value: p.Index})
		}
		limit := int64(db.conn.c.cfg.PageSize)
		for offset := int64(0); ; offset += limit {
			page := append(args[:len(args):len(args)], edn.Entry{Key: "offset", Value: offset}, edn.Entry{Key: "limit", Value: limit})
			m, err := db.read(ctx, "index-pull", page)
			if err != nil {
				yield(nil, err)
				return
			}
			rs, err := field[edn.Vector](m, "result")
			if err != nil {
				yield(nil, err)
				return
			}
			for _, x := range rs {
				e, err := pulled(x)
				if err != nil {
					yield(nil, err)
					return
				}
				if !yield(e, nil) {
					return
				}
			}
			if int64(len(rs)) < limit {
				return
			}
		}
	}
}

// Stats are a database value's counts.
type Stats struct {
	Datoms int64
	// Attrs counts datoms per attribute ident.
	Attrs  map[edn.Keyword]int64
	BasisT int64
}

// Stats returns the DB's counts.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	m, err := db.read(ctx, "stats", edn.Map{})
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	if st.Datoms, err = field[int64](m, "datoms"); err != nil {
		return st, err
	}
	st.BasisT, _ = field[int64](m, "basis-t")
	attrs, err := field[edn.Map](m, "attrs")
	if err != nil {
		return st, err
	}
	st.Attrs = make(map[edn.Keyword]int64, len(attrs))
	for _, e := range attrs {
		k, ok1 := e.Key.(edn.Keyword)
		n, ok2 := e.Value.(int64)
		if !ok1 || !ok2 {
			return st, badAnswer("stats: attrs holds %T %T", e.Key, e.Value)
		}
		st.Attrs[k] = n
	}
	return st, nil
}

// With applies txData speculatively and returns the report; nothing is
// committed. The node applies it to its newest value of the database, not
// to an older basis or a view (it cannot: it refuses views), so
// TBefore may be past the DB's basis. DBBefore is the DB; DBAfter is
// nil, as the node keeps no speculative value to read.
func (db *DB) With(ctx context.Context, txData any) (*TxReport, error) {
	code, err := ednText(txData)
	if err != nil {
		return nil, err
	}
	args, err := db.viewArgs(edn.Map{{Key: "tx-data", Value: code}}, false, 0)
	if err != nil {
		return nil, err
	}
	m, err := db.conn.c.call(ctx, request{method: "POST", path: db.conn.path + "with", args: args})
	if err != nil {
		return nil, err
	}
	rep, err := reportOf(m)
	if err != nil {
		return nil, err
	}
	rep.DBBefore = db
	return rep, nil
}
