package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
)

// Golden tests of transaction semantics and error codes: each file in
// testdata/tx is a script of commands with their expected output
// (regenerate with -rewrite after checking the change by eye).
//
//	transact            EDN transaction data as input; prints the tx-data
//	                    (+ asserted, - retracted; entities by tempid name),
//	                    or the error's category, code and message
//	pull e=NAME         EDN pattern as input; prints the result as EDN
//	as-of t=N / now     switches reads to the database as of the N-th
//	                    transaction of the file, or back to the latest
//	index               merges the memory index into persistent trees
func TestGoldenTx(t *testing.T) {
	files, err := filepath.Glob("testdata/tx/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := &golden{db: Empty(), names: map[datom.E]string{}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			g.read = g.db
			store := testStore(t)
			datadriven.RunTest(t, f, func(t *testing.T, td *datadriven.TestData) string { return g.run(t, td, store) })
		})
	}
}

type golden struct {
	db, read *DB
	names    map[datom.E]string
	bases    []datom.T
	now      time.Time
}

func (g *golden) run(t *testing.T, td *datadriven.TestData, store SegmentStore) string {
	ctx := context.Background()
	switch td.Cmd {
	case "transact":
		ops, err := ParseTxDataEDN([]byte(td.Input))
		if err != nil {
			return errString(err)
		}
		g.now = g.now.Add(time.Second)
		rep, err := g.db.With(ctx, ops, TxOptions{Now: g.now, Funcs: goldenFuncs, Preds: goldenPreds})
		if err != nil {
			return errString(err)
		}
		for name, e := range rep.TempIDs {
			g.names[e] = string(name)
		}
		g.db, g.read = rep.DBAfter, rep.DBAfter
		g.bases = append(g.bases, rep.DBAfter.BasisT())
		var b strings.Builder
		for _, d := range rep.TxData {
			if d.A == eTxInstant {
				continue
			}
			sign := "+"
			if !d.Added {
				sign = "-"
			}
			fmt.Fprintf(&b, "%s %s %s %s\n", sign, g.name(d.E, rep.DBAfter), g.name(d.A, rep.DBAfter), g.value(d.V, rep.DBAfter))
		}
		if b.Len() == 0 {
			return "(nothing)\n"
		}
		return b.String()
	case "pull":
		var who string
		td.ScanArgs(t, "e", &who)
		e, ok := g.lookup(who)
		if !ok {
			t.Fatalf("%s: no entity named %s", td.Pos, who)
		}
		pat, err := ParsePatternEDN([]byte(td.Input))
		if err != nil {
			return errString(err)
		}
		m, err := g.read.Pull(ctx, pat, e)
		if err != nil {
			return errString(err)
		}
		out, err := edn.Marshal(g.names2(ResultEDN(m)))
		if err != nil {
			t.Fatal(err)
		}
		return string(out) + "\n"
	case "as-of":
		var n int
		td.ScanArgs(t, "t", &n)
		g.read = g.db.AsOf(g.bases[n-1])
		return ""
	case "now":
		g.read = g.db
		return ""
	case "index":
		db, _, st, err := g.db.Index(ctx, store, TreeOptions{ChunkDatoms: 4, LeafDatoms: 8, Fanout: 4})
		if err != nil {
			return errString(err)
		}
		g.db, g.read = db, db
		return fmt.Sprintf("indexed %d datoms\n", st.Datoms)
	}
	t.Fatalf("%s: unknown command %s", td.Pos, td.Cmd)
	return ""
}

func errString(err error) string {
	var te *TxError
	if errors.As(err, &te) {
		return fmt.Sprintf("error: %s %s: %s\n", te.Category(), te.Code, strings.TrimPrefix(err.Error(), fmt.Sprintf("%s: transaction: %s: ", te.Category(), te.Code)))
	}
	return "error: " + err.Error() + "\n"
}

func (g *golden) lookup(name string) (datom.E, bool) {
	for e, n := range g.names {
		if n == name {
			return e, true
		}
	}
	var n uint64
	if _, err := fmt.Sscan(name, &n); err == nil {
		return datom.E(n), true
	}
	return 0, false
}

func (g *golden) name(e datom.E, db *DB) string {
	if id, ok := db.Schema().Ident(e); ok {
		return ":" + id
	}
	if n, ok := g.names[e]; ok {
		return n
	}
	if e.IsTx() {
		return "tx"
	}
	return e.String()
}

func (g *golden) value(v datom.Value, db *DB) string {
	if v.Type() == datom.TypeRef {
		return g.name(v.Ref(), db)
	}
	return v.String()
}

// names2 shows the entity ids of a result that have a tempid name by that
// name (as a symbol), as the tx-data output does.
func (g *golden) names2(v any) any {
	switch v := v.(type) {
	case edn.Map:
		for i := range v {
			if k, ok := v[i].Key.(edn.Keyword); ok && k.Namespace == "db" && k.Name == "id" {
				if id, ok := v[i].Value.(int64); ok {
					if n, ok := g.names[datom.E(id)]; ok {
						v[i].Value = edn.Symbol{Name: n}
					}
				}
			}
			v[i].Value = g.names2(v[i].Value)
		}
	case edn.Vector:
		for i := range v {
			v[i] = g.names2(v[i])
		}
	}
	return v
}

var goldenFuncs = map[string]TxFunc{
	// (my/inc e attr): increments a long attribute.
	"my/inc": func(db *DB, args []any) ([]Op, error) {
		if len(args) != 2 {
			return nil, fmt.Errorf("my/inc takes e and attr, got %d arguments", len(args))
		}
		e, ok := args[0].(Entity)
		a, ok2 := args[1].(Keyword)
		if !ok || !ok2 {
			return nil, fmt.Errorf("my/inc: bad arguments")
		}
		id, err := entityID(db, e)
		if err != nil {
			return nil, err
		}
		at, _ := db.Schema().AttrByIdent(string(a))
		var n int64
		for d, err := range db.Datoms(context.Background(), datom.EAVT, Components{E: id, HasE: true, A: at.ID, HasA: true}) {
			if err != nil {
				return nil, err
			}
			n = d.V.Long()
		}
		return []Op{Add{E: id, A: a, V: n + 1}}, nil
	},
}

func entityID(db *DB, e Entity) (datom.E, error) {
	if l, ok := e.([]any); ok && len(l) == 2 {
		e = LookupRef{Attr: l[0], Value: l[1]}
	}
	switch e := e.(type) {
	case datom.E:
		return e, nil
	case int64:
		return datom.E(e), nil
	case LookupRef:
		at, _ := db.Schema().AttrByIdent(string(e.Attr.(Keyword)))
		return db.Lookup(context.Background(), at.ID, datom.String(e.Value.(string)))
	}
	return 0, fmt.Errorf("entity %v", e)
}

var goldenPreds = map[string]Pred{
	"my/adult?":     func(_ *DB, _ datom.E, v datom.Value) bool { return v.Long() >= 18 },
	"my/has-email?": func(db *DB, e datom.E, _ datom.Value) bool { return true },
}
