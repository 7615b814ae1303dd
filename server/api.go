package server

import (
	"context"
	"errors"
	"iter"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/engine/query"
	"github.com/stratadb/strata/transactor"
)

// The HTTP API, version 1. Every operation on a database is a POST of a
// map of arguments to /v1/dbs/NAME/OP; reads take "as-of", "since" (a t,
// a transaction id or an instant) and "history" (true) to pick the view.
//
//	GET    /v1/dbs                      list databases
//	POST   /v1/dbs         {name}       create one
//	DELETE /v1/dbs/NAME                 delete one
//	POST   /v1/dbs/NAME/transact  {tx-data}
//	POST   /v1/dbs/NAME/with      {tx-data}                 speculative
//	POST   /v1/dbs/NAME/q         {query, args, sources, offset, limit, timeout-ms, explain}
//	POST   /v1/dbs/NAME/pull      {pattern, eid} or {pattern, eids}
//	POST   /v1/dbs/NAME/datoms    {index, components, offset, limit}
//	POST   /v1/dbs/NAME/index-range {attrid, start, end, offset, limit}
//	POST   /v1/dbs/NAME/index-pull  {index, selector, start, reverse, offset, limit}
//	POST   /v1/dbs/NAME/tx-range  {start, end, limit}
//	POST   /v1/dbs/NAME/stats
//	POST   /v1/dbs/NAME/sync      {t}
//	GET    /health, /ready, /metrics
//
// Results are engine.ResultEDN's values: entity ids as integers, datoms as
// [e a v tx added] with the attribute's ident.

// defaultLimit bounds datoms, index-range, index-pull and tx-range
// results when the request names no limit; maxLimit bounds any.
const (
	defaultLimit = 1000
	maxLimit     = 100_000
)

func (s *Server) routes() {
	s.handle("GET /health", false, s.health)
	s.handle("GET /ready", false, s.ready)
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { s.writeMetrics(w) })
	s.handle("GET /v1/dbs", false, s.listDBs)
	s.handle("POST /v1/dbs", true, s.createDB)
	s.handle("DELETE /v1/dbs/{db}", true, s.deleteDB)
	s.handle("POST /v1/dbs/{db}/transact", true, s.transact)
	for op, fn := range map[string]func(*call) (fields, error){
		"with": s.with, "q": s.q, "pull": s.pull, "datoms": s.datoms, "index-range": s.indexRange,
		"index-pull": s.indexPull, "tx-range": s.txRange, "stats": s.stats, "sync": s.sync,
	} {
		s.handle("POST /v1/dbs/{db}/"+op, false, fn)
	}
}

// call is one API request, parsed.
type call struct {
	ctx  context.Context
	r    *http.Request
	raw  []byte
	args body
	db   string // the database named in the path ("" for none)
}

func (s *Server) health(c *call) (fields, error) {
	return fields{{"status", "ok"}, {"node", s.node.cfg.NodeID}, {"group", s.node.cfg.Group}}, nil
}

func (s *Server) ready(c *call) (fields, error) {
	if s.closing.Load() {
		return nil, anomaly.New(anomaly.Unavailable, "ready", "shutting down")
	}
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	if _, err := s.node.catalog.ListDBs(ctx); err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "ready: the catalog", err)
	}
	return fields{{"status", "ready"}}, nil
}

func (s *Server) listDBs(c *call) (fields, error) {
	infos, err := s.node.catalog.ListDBs(c.ctx)
	if err != nil {
		return nil, err
	}
	names := make([]any, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	return fields{{"dbs", edn.Vector(names)}}, nil
}

func (s *Server) createDB(c *call) (fields, error) {
	if err := c.args.known("name"); err != nil {
		return nil, err
	}
	name, ok, err := c.args.name("name")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "create database", `argument "name" is required`)
	}
	info, err := s.node.createDB(c.ctx, name)
	if err != nil {
		return nil, err
	}
	return fields{{"name", info.Name}, {"created", info.Created}}, nil
}

func (s *Server) deleteDB(c *call) (fields, error) {
	if err := s.node.deleteDB(c.ctx, c.db); err != nil {
		return nil, err
	}
	return fields{{"deleted", c.db}}, nil
}

// txData reads the tx-data argument.
func txData(c *call) ([]engine.Op, error) {
	v, _, err := c.args.code("tx-data", true)
	if err != nil {
		return nil, err
	}
	return engine.TxDataFromEDN(v)
}

func (s *Server) transact(c *call) (fields, error) {
	if err := c.args.known("tx-data"); err != nil {
		return nil, err
	}
	ops, err := txData(c)
	if err != nil {
		return nil, err
	}
	conn, err := s.node.writer(c.ctx, c.db)
	if err != nil {
		return nil, err
	}
	rep, err := conn.Transact(c.ctx, ops)
	if err != nil {
		return nil, err
	}
	s.metrics_.txs.Add(1)
	return reportFields(rep), nil
}

func reportFields(rep *engine.TxReport) fields {
	tempids := edn.Map{}
	keys := make([]string, 0, len(rep.TempIDs))
	for k := range rep.TempIDs {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	for _, k := range keys {
		tempids = append(tempids, edn.Entry{Key: k, Value: int64(rep.TempIDs[engine.TempID(k)])})
	}
	return fields{
		{"t-before", int64(rep.DBBefore.BasisT())},
		{"t-after", int64(rep.DBAfter.BasisT())},
		{"tempids", tempids},
		{"tx-data", datomsEDN(rep.DBAfter, rep.TxData)},
	}
}

// datomsEDN renders datoms as [e a v tx added], a as its ident.
func datomsEDN(db *engine.DB, ds []datom.Datom) edn.Vector {
	out := make(edn.Vector, len(ds))
	for i, d := range ds {
		out[i] = datomEDN(db, d)
	}
	return out
}

func datomEDN(db *engine.DB, d datom.Datom) edn.Vector {
	var a any = int64(d.A)
	if at, ok := db.Schema().Attr(d.A); ok {
		a = engine.ResultEDN(engine.Keyword(at.Ident))
	}
	return edn.Vector{int64(d.E), a, engine.ResultEDN(d.V), int64(d.Tx), d.Added}
}

func (s *Server) with(c *call) (fields, error) {
	if err := c.args.known("tx-data", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	ops, err := txData(c)
	if err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	rep, err := db.With(c.ctx, ops, engine.TxOptions{})
	if err != nil {
		return nil, err
	}
	return reportFields(rep), nil
}

// view returns the database value a read asks for: the newest this node
// has, then as-of, since and history.
func (s *Server) view(c *call) (*engine.DB, error) {
	db, _, err := s.node.reader(c.ctx, c.db)
	if err != nil {
		return nil, err
	}
	return viewOf(c, db)
}

func viewOf(c *call, db *engine.DB) (*engine.DB, error) {
	for _, k := range []string{"as-of", "since"} {
		v, ok := c.args[k]
		if !ok || v == nil {
			continue
		}
		var point any
		switch p := v.(type) {
		case int64:
			point = p
		case time.Time:
			point = p
		default:
			return nil, anomaly.New(anomaly.Incorrect, "request", "%q: a t, a transaction id or an #inst, not %s", k, ednKind(v))
		}
		var err error
		if k == "as-of" {
			db, err = db.AsOfPoint(c.ctx, point)
		} else {
			db, err = db.SincePoint(c.ctx, point)
		}
		if err != nil {
			return nil, err
		}
	}
	h, err := c.args.boolean("history")
	if err != nil {
		return nil, err
	}
	if h {
		db = db.History()
	}
	return db, nil
}

func (s *Server) q(c *call) (fields, error) {
	if err := c.args.known("query", "args", "sources", "offset", "limit", "timeout-ms", "explain", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	qv, _, err := c.args.code("query", true)
	if err != nil {
		return nil, err
	}
	src, err := edn.Marshal(qv)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "query", err)
	}
	q, err := query.Parse(src)
	if err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	opts := query.Options{Timeout: s.node.cfg.QueryTimeout}
	if ms, ok, err := c.args.integer("timeout-ms"); err != nil {
		return nil, err
	} else if ok {
		if ms <= 0 {
			return nil, anomaly.New(anomaly.Incorrect, "q", "timeout-ms %d: want a positive number", ms)
		}
		opts.Timeout = min(opts.Timeout, time.Duration(ms)*time.Millisecond)
	}
	for _, k := range []string{"offset", "limit"} {
		n, _, err := c.args.integer(k)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, anomaly.New(anomaly.Incorrect, "q", "%s %d must not be negative", k, n)
		}
		if k == "offset" {
			opts.Offset = int(n)
		} else {
			opts.Limit = int(n)
		}
	}
	// :in's inputs: each source is the request's database (or the view a
	// "sources" entry names), the others come from "args" in order.
	var args []any
	if v, ok := c.args["args"]; ok && v != nil {
		vec, isVec := v.(edn.Vector)
		if !isVec {
			return nil, anomaly.New(anomaly.Incorrect, "q", `"args" must be a vector, not %s`, ednKind(v))
		}
		args = vec
	}
	sources := map[string]*engine.DB{}
	if v, ok := c.args["sources"]; ok && v != nil {
		m, isMap := v.(edn.Map)
		if !isMap {
			return nil, anomaly.New(anomaly.Incorrect, "q", `"sources" must be a map of $name to a view, not %s`, ednKind(v))
		}
		for _, e := range m {
			name, _ := e.Key.(string)
			if sym, isSym := e.Key.(edn.Symbol); isSym {
				name = sym.String()
			}
			spec, isMap := e.Value.(edn.Map)
			if !strings.HasPrefix(name, "$") || !isMap {
				return nil, anomaly.New(anomaly.Incorrect, "q", `"sources": each key is a source ($x), each value a map with "db" and optionally "as-of", "since", "history"`)
			}
			sdb, err := s.sourceView(c, spec)
			if err != nil {
				return nil, err
			}
			sources[name] = sdb
		}
	}
	inputs := make([]any, 0, len(q.In))
	next := 0
	for _, in := range q.In {
		if src, isSrc := in.(query.SrcInput); isSrc {
			if sdb, ok := sources[string(src.Src)]; ok {
				inputs = append(inputs, sdb)
			} else {
				inputs = append(inputs, db)
			}
			continue
		}
		if next >= len(args) {
			return nil, anomaly.New(anomaly.Incorrect, "q", "the query's :in takes %d arguments besides its sources; %d given", countNonSources(q), len(args))
		}
		inputs = append(inputs, inputValue(args[next]))
		next++
	}
	if next != len(args) {
		return nil, anomaly.New(anomaly.Incorrect, "q", "the query's :in takes %d arguments besides its sources; %d given", countNonSources(q), len(args))
	}
	explain, err := c.args.boolean("explain")
	if err != nil {
		return nil, err
	}
	if explain {
		out, steps, err := query.Explain(c.ctx, q, opts, inputs...)
		if err != nil {
			return nil, err
		}
		plan := make(edn.Vector, len(steps))
		for i, st := range steps {
			plan[i] = edn.Map{{Key: c.key("clause"), Value: st.Clause}, {Key: c.key("access"), Value: st.Access},
				{Key: c.key("estimate"), Value: int64(st.Estimate)}, {Key: c.key("rows-in"), Value: int64(st.RowsIn)},
				{Key: c.key("rows-out"), Value: int64(st.RowsOut)}}
		}
		return fields{{"result", engine.ResultEDN(resultSeq(out))}, {"plan", plan}, {"basis-t", int64(db.BasisT())}}, nil
	}
	out, err := query.RunWith(c.ctx, q, opts, inputs...)
	if err != nil {
		return nil, err
	}
	return fields{{"result", engine.ResultEDN(resultSeq(out))}, {"basis-t", int64(db.BasisT())}}, nil
}

func countNonSources(q *query.Query) int {
	n := 0
	for _, in := range q.In {
		if _, isSrc := in.(query.SrcInput); !isSrc {
			n++
		}
	}
	return n
}

// resultSeq turns a query result ([][]any, []any, a scalar, maps) into
// the []any tree ResultEDN renders.
func resultSeq(v any) any {
	switch v := v.(type) {
	case [][]any:
		out := make([]any, len(v))
		for i, r := range v {
			out[i] = r
		}
		return out
	case []map[any]any:
		out := make([]any, len(v))
		for i, m := range v {
			out[i] = m
		}
		return out
	}
	return v
}

// inputValue turns an EDN argument into what query.Run takes: vectors as
// []any (collections, tuples, relations), the rest as is.
func inputValue(v any) any {
	switch v := v.(type) {
	case edn.Vector:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = inputValue(x)
		}
		return out
	case edn.List:
		return inputValue(edn.Vector(v))
	}
	return v
}

// sourceView is the view of another database a "sources" entry names.
func (s *Server) sourceView(c *call, spec edn.Map) (*engine.DB, error) {
	b := body{}
	for _, e := range spec {
		switch k := e.Key.(type) {
		case string:
			b[k] = e.Value
		case edn.Keyword:
			b[k.String()[1:]] = e.Value
		}
	}
	if err := b.known("db", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	name, ok, err := b.name("db")
	if err != nil || !ok {
		return nil, anomaly.New(anomaly.Incorrect, "q", `a source needs "db", the database's name`)
	}
	db, _, err := s.node.reader(c.ctx, name)
	if err != nil {
		return nil, err
	}
	return viewOf(&call{ctx: c.ctx, args: b}, db)
}

func (s *Server) pull(c *call) (fields, error) {
	if err := c.args.known("pattern", "selector", "eid", "eids", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	pv, ok, err := c.args.code("pattern", false)
	if err != nil {
		return nil, err
	}
	if !ok {
		if pv, _, err = c.args.code("selector", true); err != nil {
			return nil, err
		}
	}
	pat, err := engine.PatternFromEDN(pv)
	if err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	eids, many, err := c.args.code("eids", false)
	if err != nil {
		return nil, err
	}
	if many {
		vec, isVec := eids.(edn.Vector)
		if !isVec {
			return nil, anomaly.New(anomaly.Incorrect, "pull", `"eids" must be a vector of entities, not %s`, ednKind(eids))
		}
		es := make([]datom.E, len(vec))
		for i, x := range vec {
			e, err := entity(c.ctx, db, x)
			if err != nil {
				return nil, err
			}
			es[i] = e
		}
		ms, err := db.PullMany(c.ctx, pat, es)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(ms))
		for i, m := range ms {
			out[i] = m
		}
		return fields{{"result", engine.ResultEDN(out)}, {"basis-t", int64(db.BasisT())}}, nil
	}
	ev, ok, err := c.args.code("eid", false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "pull", `argument "eid" (or "eids") is required`)
	}
	e, err := entity(c.ctx, db, ev)
	if err != nil {
		return nil, err
	}
	m, err := db.Pull(c.ctx, pat, e)
	if err != nil {
		return nil, err
	}
	return fields{{"result", engine.ResultEDN(m)}, {"basis-t", int64(db.BasisT())}}, nil
}

// entity resolves an entity argument: an id, an ident keyword, or a
// lookup ref [attr value]. One that names nothing is not-found.
func entity(ctx context.Context, db *engine.DB, v any) (datom.E, error) {
	e, found, err := db.EntityOf(ctx, ednArg(v))
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, anomaly.New(anomaly.NotFound, "entity", "%s names no entity", printEDN(v))
	}
	return e, nil
}

// ednArg turns an EDN value into the Go form the engine's resolvers take
// (keywords as engine.Keyword, vectors as []any).
func ednArg(v any) any {
	switch v := v.(type) {
	case edn.Keyword:
		return engine.Keyword(v.String()[1:])
	case edn.Vector:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = ednArg(x)
		}
		return out
	case *big.Int:
		return v
	}
	return v
}

func printEDN(v any) string {
	b, err := edn.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// limits reads offset and limit (default defaultLimit, at most maxLimit).
func limits(c *call) (offset, limit int, err error) {
	o, _, err := c.args.integer("offset")
	if err != nil {
		return 0, 0, err
	}
	l, ok, err := c.args.integer("limit")
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		l = defaultLimit
	}
	if o < 0 || l < 0 || l > maxLimit {
		return 0, 0, anomaly.New(anomaly.Incorrect, "request", "offset %d and limit %d: not negative, limit at most %d", o, l, maxLimit)
	}
	return int(o), int(l), nil
}

func indexArg(c *call, def datom.Index, allowed ...datom.Index) (datom.Index, error) {
	name, ok, err := c.args.name("index")
	if err != nil {
		return 0, err
	}
	if !ok {
		return def, nil
	}
	for _, x := range allowed {
		if strings.EqualFold(x.String(), name) {
			return x, nil
		}
	}
	var names []string
	for _, x := range allowed {
		names = append(names, ":"+strings.ToLower(x.String()))
	}
	return 0, anomaly.New(anomaly.Incorrect, "request", "index %q: one of %s", name, strings.Join(names, ", "))
}

// components reads the components argument in x's order.
func components(c *call, db *engine.DB, x datom.Index, key string) (engine.Components, error) {
	var comp engine.Components
	v, ok, err := c.args.code(key, false)
	if err != nil || !ok {
		return comp, err
	}
	vec, isVec := v.(edn.Vector)
	if !isVec || len(vec) > 3 {
		return comp, anomaly.New(anomaly.Incorrect, "request", "%q: a vector of up to 3 components in the index's order", key)
	}
	var order []byte
	switch x {
	case datom.EAVT:
		order = []byte("eav")
	case datom.AEVT:
		order = []byte("aev")
	case datom.AVET:
		order = []byte("ave")
	case datom.VAET:
		order = []byte("vae")
	}
	for i, part := range vec {
		switch order[i] {
		case 'e':
			e, err := entity(c.ctx, db, part)
			if err != nil {
				return comp, err
			}
			comp.E, comp.HasE = e, true
		case 'a':
			a, err := entity(c.ctx, db, part)
			if err != nil {
				return comp, err
			}
			if _, isAttr := db.Schema().Attr(a); !isAttr {
				return comp, anomaly.New(anomaly.Incorrect, "request", "%s is not an attribute", printEDN(part))
			}
			comp.A, comp.HasA = a, true
		case 'v':
			if comp.HasA {
				val, err := db.ValueOf(c.ctx, comp.A, ednArg(part))
				if err != nil {
					return comp, err
				}
				comp.V = val
			} else {
				e, err := entity(c.ctx, db, part) // VAET: a ref value
				if err != nil {
					return comp, err
				}
				comp.V = datom.Ref(e)
			}
		}
	}
	return comp, nil
}

// datomPage answers limit datoms of seq after the first offset.
func datomPage(db *engine.DB, seq iter.Seq2[datom.Datom, error], offset, limit int) (fields, error) {
	out := edn.Vector{}
	i := 0
	for d, err := range seq {
		if err != nil {
			return nil, err
		}
		if i++; i <= offset {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, datomEDN(db, d))
	}
	return fields{{"datoms", out}, {"basis-t", int64(db.BasisT())}}, nil
}

func (s *Server) datoms(c *call) (fields, error) {
	if err := c.args.known("index", "components", "offset", "limit", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	x, err := indexArg(c, datom.EAVT, datom.EAVT, datom.AEVT, datom.AVET, datom.VAET)
	if err != nil {
		return nil, err
	}
	offset, limit, err := limits(c)
	if err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	comp, err := components(c, db, x, "components")
	if err != nil {
		return nil, err
	}
	return datomPage(db, db.Datoms(c.ctx, x, comp), offset, limit)
}

func (s *Server) indexRange(c *call) (fields, error) {
	if err := c.args.known("attrid", "start", "end", "offset", "limit", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	offset, limit, err := limits(c)
	if err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	av, ok := c.args["attrid"]
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "index-range", `argument "attrid" is required`)
	}
	a, err := entity(c.ctx, db, av)
	if err != nil {
		return nil, err
	}
	var bounds [2]datom.Value
	for i, k := range []string{"start", "end"} {
		if v, ok := c.args[k]; ok && v != nil {
			if bounds[i], err = db.ValueOf(c.ctx, a, ednArg(v)); err != nil {
				return nil, err
			}
		}
	}
	return datomPage(db, db.IndexRange(c.ctx, a, bounds[0], bounds[1]), offset, limit)
}

func (s *Server) indexPull(c *call) (fields, error) {
	if err := c.args.known("index", "selector", "start", "reverse", "offset", "limit", "as-of", "since", "history"); err != nil {
		return nil, err
	}
	x, err := indexArg(c, datom.AVET, datom.AVET, datom.AEVT)
	if err != nil {
		return nil, err
	}
	offset, limit, err := limits(c)
	if err != nil {
		return nil, err
	}
	sel, _, err := c.args.code("selector", true)
	if err != nil {
		return nil, err
	}
	pat, err := engine.PatternFromEDN(sel)
	if err != nil {
		return nil, err
	}
	rev, err := c.args.boolean("reverse")
	if err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	start, err := components(c, db, x, "start")
	if err != nil {
		return nil, err
	}
	out := edn.Vector{}
	for m, err := range db.IndexPull(c.ctx, pat, engine.IndexPullOptions{Index: x, Start: start, Reverse: rev, Offset: offset}) {
		if err != nil {
			return nil, err
		}
		if len(out) == limit {
			break
		}
		out = append(out, engine.ResultEDN(m))
	}
	return fields{{"result", out}, {"basis-t", int64(db.BasisT())}}, nil
}

func (s *Server) txRange(c *call) (fields, error) {
	if err := c.args.known("start", "end", "limit"); err != nil {
		return nil, err
	}
	start, _, err := c.args.integer("start")
	if err != nil {
		return nil, err
	}
	end, _, err := c.args.integer("end")
	if err != nil {
		return nil, err
	}
	_, limit, err := limits(c)
	if err != nil {
		return nil, err
	}
	if start < 0 || end < 0 {
		return nil, anomaly.New(anomaly.Incorrect, "tx-range", "start %d and end %d must not be negative", start, end)
	}
	db, _, err := s.node.reader(c.ctx, c.db)
	if err != nil {
		return nil, err
	}
	out := edn.Vector{}
	err = s.node.txRange(c.ctx, c.db, datom.T(start), datom.T(end), func(e engine.TxEntry) bool {
		out = append(out, edn.Map{{Key: c.key("t"), Value: int64(e.T)}, {Key: c.key("data"), Value: datomsEDN(db, e.Data)}})
		return len(out) < limit
	})
	if err != nil {
		return nil, err
	}
	return fields{{"txs", out}}, nil
}

// key is a map key in the response's format.
func (c *call) key(name string) any {
	if wantsEDN(c.r) {
		return edn.Keyword{Name: name}
	}
	return name
}

func (s *Server) stats(c *call) (fields, error) {
	if err := c.args.known("as-of", "since", "history"); err != nil {
		return nil, err
	}
	db, err := s.view(c)
	if err != nil {
		return nil, err
	}
	st, err := db.Stats(c.ctx)
	if err != nil {
		return nil, err
	}
	attrs := edn.Map{}
	names := make([]string, 0, len(st.Attrs))
	for k := range st.Attrs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		attrs = append(attrs, edn.Entry{Key: engine.ResultEDN(engine.Keyword(k)), Value: int64(st.Attrs[k])})
	}
	return fields{{"datoms", int64(st.Datoms)}, {"attrs", attrs}, {"basis-t", int64(db.BasisT())}}, nil
}

func (s *Server) sync(c *call) (fields, error) {
	if err := c.args.known("t"); err != nil {
		return nil, err
	}
	t, _, err := c.args.integer("t")
	if err != nil {
		return nil, err
	}
	_, sync, err := s.node.reader(c.ctx, c.db)
	if err != nil {
		return nil, err
	}
	if t == 0 {
		// Sync with no t: the log's head now.
		info, err := s.node.dbInfo(c.ctx, c.db)
		if err != nil {
			return nil, err
		}
		head, err := s.node.log.Head(c.ctx, info.ID)
		if err != nil {
			return nil, err
		}
		t = int64(head)
	}
	db, err := sync(c.ctx, datom.T(t))
	if err != nil {
		return nil, err
	}
	return fields{{"basis-t", int64(db.BasisT())}}, nil
}

// notWriter reports whether err says that another node writes the
// database (or that this node writes nothing), and which node.
func notWriter(err error) (holder string, ok bool) {
	var nw *transactor.NotWriterError
	if errors.As(err, &nw) {
		return nw.Holder, true
	}
	if errors.Is(err, errNotPrimary) {
		return "", true
	}
	return "", false
}
