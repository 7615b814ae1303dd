package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/engine/query"
)

// BenchmarkPeople runs the "people" tasks of Datascript's own benchmark
// suite (tonsky's datascript bench) on strata's engine, and, in the same run,
// on Datascript (the npm package, driven by bench/datascript/people.mjs under
// node) over the same data (people.go). Each sub-benchmark reports strata's
// ns/op and, measured once per task outside the timed loop,
// datascript-ns/op and speedup-vs-datascript (Datascript's ns/op / ours;
// above 1 is strata faster). The goal is a speedup of 10 or more on every
// task.
//
// The databases: the schema (untimed, installed first on strata, where
// every attribute needs a type: name, last-name, full-name and alias strings,
// alias cardinality many, sex a keyword, age and salary longs, follows a
// cardinality-many ref); db100k, every one of the 20,000 people (about
// 192,000 datoms); and the wide tree, 781 people where each of the first 156
// follows 5 others, 4 levels deep (Datascript's (wide-db 4 5)).
//
// The tasks, one op each:
//
//	add-1          from the schema-only database, for each of the 20,000 people five transactions
//	               of one datom each ([:db/add e :name v], then :last-name, :sex, :age, :salary):
//	               100,000 transactions (d/db-with; strata DB.With). The first names a tempid on
//	               strata (which refuses unknown entity numbers) and entity i+1 on Datascript
//	               (which accepts any number); the next four name the entity.
//	add-5          from the schema-only database, one transaction per person of its map form
//	               {:db/id "i" :name … :last-name … :full-name … :alias […] :sex … :age … :salary …}:
//	               20,000 transactions.
//	add-all        the 20,000 maps in one transaction.
//	retract-5      from db100k, one [:db.fn/retractEntity e] transaction per person, in a shuffled
//	               order: 20,000 transactions, down to no people datoms.
//	slice-eavt     on db100k, for 10,000 distinct people in a shuffled order, the value of the first
//	               datom of (d/datoms db :eavt e :full-name) (strata DB.Datoms(EAVT, e a)).
//	pull-one       on the wide tree, (d/pull db [:name {:follows ...}] root): 781 entities.
//	pull-many      (d/pull db [:db/id :last-name :alias :sex :age :salary {:follows ...}] root).
//	pull-wildcard  (d/pull db [* {:follows ...}] root).
//	pull-many-ids  not in Datascript's bench: (d/pull-many db [:name :last-name :age :salary] ids)
//	               over the 10,000 slice-eavt people of db100k (strata DB.PullMany).
//
//	q1 … q4, qpred1, qpred2  Datascript's queries on db100k (engine/query, parsed once);
//	q2-swapped     q2 with its two clauses in the other order (the planner should not care).
//
//	rules-wide-DxW, rules-long-DxW  Datascript's rule benchmarks: the :follows closure by a recursive rule over
//	               its wide-db (a tree of depth D and width W) and long-db (W chains of D edges).
//
// Datascript's init and serialization tasks are not here.
//
// Both sides compute a check of each task's result (datoms left in the
// database, characters read, scalar values pulled) and the benchmark fails if
// they differ, so that a speedup is for the same work.
//
// Datascript is measured as its bench does (see people.mjs): warm-up, then
// the median of several samples' means. Its JS API converts tx data and
// results between JS and ClojureScript, and reads pull patterns from EDN
// strings on every call: that is Datascript's cost for a JS program, and it
// is in the reference. Without node or the package (cd bench/datascript &&
// npm ci) the benchmark skips.
func BenchmarkPeople(b *testing.B) {
	w := peopleWorkload()
	f := peopleFixtureOnce(b, w)
	for _, task := range peopleTasks {
		b.Run("task="+task.name, func(b *testing.B) {
			ds := datascriptPeople(b, task.name)
			run := task.setup(b, f)
			ourCheck := run() // untimed: the check, and one warm-up
			if ourCheck != ds.Check {
				b.Fatalf("%s: strata's check %d, Datascript's %d: the two sides did not do the same work", task.name, ourCheck, ds.Check)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				run()
				n++
			}
			oursNs := float64(b.Elapsed().Nanoseconds()) / float64(n)
			b.ReportMetric(ds.NsPerOp, "datascript-ns/op")
			b.ReportMetric(ds.NsPerOp/oursNs, "speedup-vs-datascript")
		})
	}
}

// peopleTask is one task: setup builds, untimed, the op that is timed; the
// op returns its check.
type peopleTask struct {
	name  string
	setup func(b *testing.B, f *peopleFixture) func() int
}

var peopleTasks = []peopleTask{
	{"add-1", func(b *testing.B, f *peopleFixture) func() int {
		return func() int {
			db := f.schemaDB
			for _, p := range f.w.People {
				rep := mustWith(b, db, engine.Add{E: engine.TempID("p"), A: engine.Keyword("name"), V: p.Name})
				e := rep.TempIDs["p"]
				db = mustWith(b, rep.DBAfter, engine.Add{E: e, A: engine.Keyword("last-name"), V: p.LastName}).DBAfter
				db = mustWith(b, db, engine.Add{E: e, A: engine.Keyword("sex"), V: engine.Keyword(p.Sex)}).DBAfter
				db = mustWith(b, db, engine.Add{E: e, A: engine.Keyword("age"), V: p.Age}).DBAfter
				db = mustWith(b, db, engine.Add{E: e, A: engine.Keyword("salary"), V: p.Salary}).DBAfter
			}
			return f.peopleDatoms(b, db)
		}
	}},
	{"add-5", func(b *testing.B, f *peopleFixture) func() int {
		return func() int {
			db := f.schemaDB
			for i := range f.maps {
				db = mustWith(b, db, f.maps[i]).DBAfter
			}
			return f.peopleDatoms(b, db)
		}
	}},
	{"add-all", func(b *testing.B, f *peopleFixture) func() int {
		return func() int {
			return f.peopleDatoms(b, mustWith(b, f.schemaDB, f.maps...).DBAfter)
		}
	}},
	{"retract-5", func(b *testing.B, f *peopleFixture) func() int {
		return func() int {
			db := f.db100k
			for _, i := range f.w.RetractOrder {
				db = mustWith(b, db, engine.RetractEntity{E: f.eids[i]}).DBAfter
			}
			return f.peopleDatoms(b, db)
		}
	}},
	{"slice-eavt", func(b *testing.B, f *peopleFixture) func() int {
		a := f.attr(b, "full-name")
		return func() int {
			chars := 0
			for _, i := range f.w.SliceIDs {
				for d, err := range f.db100k.Datoms(peopleCtx, datom.EAVT, engine.Components{E: f.eids[i], HasE: true, A: a, HasA: true}) {
					if err != nil {
						b.Fatal(err)
					}
					chars += len(d.V.Str())
					break
				}
			}
			return chars
		}
	}},
	{"pull-one", pullTask([]any{engine.Keyword("name"), followsAll})},
	{"pull-many", pullTask([]any{engine.Keyword("db/id"), engine.Keyword("last-name"), engine.Keyword("alias"),
		engine.Keyword("sex"), engine.Keyword("age"), engine.Keyword("salary"), followsAll})},
	{"pull-wildcard", pullTask([]any{"*", followsAll})},
	{"q1", queryTask(`[:find ?e :where [?e :name "Ivan"]]`)},
	{"q2", queryTask(`[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]`)},
	{"q2-swapped", queryTask(`[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]`)},
	{"q3", queryTask(`[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex :male]]`)},
	{"q4", queryTask(`[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex :male]]`)},
	{"qpred1", queryTask(`[:find ?e ?s :where [?e :salary ?s] [(> ?s 50000)]]`)},
	{"qpred2", queryTask(`[:find ?e ?s :in $ ?min_s :where [?e :salary ?s] [(> ?s ?min_s)]]`, int64(50000))},
	{"rules-wide-3x3", rulesTask(wideEdges(3, 3))},
	{"rules-wide-5x3", rulesTask(wideEdges(5, 3))},
	{"rules-wide-7x3", rulesTask(wideEdges(7, 3))},
	{"rules-wide-4x6", rulesTask(wideEdges(4, 6))},
	{"rules-long-10x3", rulesTask(longEdges(10, 3))},
	{"rules-long-30x3", rulesTask(longEdges(30, 3))},
	{"rules-long-30x5", rulesTask(longEdges(30, 5))},
	{"pull-many-ids", func(b *testing.B, f *peopleFixture) func() int {
		pattern := []any{engine.Keyword("name"), engine.Keyword("last-name"), engine.Keyword("age"), engine.Keyword("salary")}
		ids := make([]datom.E, len(f.w.SliceIDs))
		for k, i := range f.w.SliceIDs {
			ids[k] = f.eids[i]
		}
		return func() int {
			res, err := f.db100k.PullMany(peopleCtx, pattern, ids)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, m := range res {
				n += pullLeaves(m)
			}
			return n
		}
	}},
}

// peopleCtx is the context of every call: the databases are in memory, nothing
// is cancelled.
var peopleCtx = context.Background()

// followsAll is {:follows ...}: every level of the tree.
var followsAll = map[any]any{engine.Keyword("follows"): engine.Symbol("...")}

func pullTask(pattern []any) func(b *testing.B, f *peopleFixture) func() int {
	return func(b *testing.B, f *peopleFixture) func() int {
		return func() int {
			m, err := f.treeDB.Pull(peopleCtx, pattern, f.treeRoot)
			if err != nil {
				b.Fatal(err)
			}
			return pullLeaves(m)
		}
	}
}

// pullLeaves counts the scalar values of a pull result, as people.mjs does.
func pullLeaves(x any) int {
	switch x := x.(type) {
	case map[any]any:
		n := 0
		for _, v := range x {
			n += pullLeaves(v)
		}
		return n
	case []any:
		n := 0
		for _, v := range x {
			n += pullLeaves(v)
		}
		return n
	}
	return 1
}

var (
	peopleWorkloadOnce = sync.OnceValue(func() *PeopleWorkload { return NewPeopleWorkload(PeopleCount, PeopleSeed) })
	peopleJSONOnce     = sync.OnceValues(func() ([]byte, error) { return peopleWorkload().JSON() })
)

func peopleWorkload() *PeopleWorkload { return peopleWorkloadOnce() }

// peopleFixture holds strata's databases and tx data of the tasks, built
// untimed.
type peopleFixture struct {
	w        *PeopleWorkload
	schemaDB *engine.DB
	maps     []engine.Op // person i's map form, tempid "i+1"
	db100k   *engine.DB
	eids     []datom.E // person i's entity in db100k
	treeDB   *engine.DB
	treeRoot datom.E
}

var (
	peopleFixtureMu  sync.Mutex
	peopleFixtureVal *peopleFixture
)

func peopleFixtureOnce(b *testing.B, w *PeopleWorkload) *peopleFixture {
	peopleFixtureMu.Lock()
	defer peopleFixtureMu.Unlock()
	if peopleFixtureVal == nil {
		peopleFixtureVal = newPeopleFixture(b, w)
	}
	return peopleFixtureVal
}

// peopleAttrs is the schema of the workload: ident, type, cardinality many.
var peopleAttrs = []struct {
	ident string
	typ   datom.Type
	many  bool
}{
	{"name", datom.TypeString, false},
	{"last-name", datom.TypeString, false},
	{"full-name", datom.TypeString, false},
	{"alias", datom.TypeString, true},
	{"sex", datom.TypeKeyword, false},
	{"age", datom.TypeLong, false},
	{"salary", datom.TypeLong, false},
	{"follows", datom.TypeRef, true},
}

func newPeopleFixture(b *testing.B, w *PeopleWorkload) *peopleFixture {
	f := &peopleFixture{w: w}
	var schema []engine.Op
	for _, a := range peopleAttrs {
		schema = append(schema, schemaAttr(a.ident, a.typ, a.many, false))
	}
	f.schemaDB = mustWith(b, engine.Empty(), schema...).DBAfter

	f.maps = make([]engine.Op, len(w.People))
	for i, p := range w.People {
		f.maps[i] = personMap(p, engine.TempID(strconv.Itoa(i+1)))
	}
	rep := mustWith(b, f.schemaDB, f.maps...)
	f.db100k = rep.DBAfter
	f.eids = make([]datom.E, len(w.People))
	for i := range w.People {
		f.eids[i] = rep.TempIDs[engine.TempID(strconv.Itoa(i+1))]
	}
	if got, want := f.peopleDatoms(b, f.db100k), w.Datoms(); got != want {
		b.Fatalf("db100k has %d people datoms, want %d", got, want)
	}

	tree := make([]engine.Op, len(w.Tree))
	for k, n := range w.Tree {
		m := personMap(w.People[n.Person], engine.TempID(strconv.Itoa(n.ID)))
		if len(n.Follows) > 0 {
			follows := make([]any, len(n.Follows))
			for j, c := range n.Follows {
				follows[j] = engine.TempID(strconv.Itoa(c))
			}
			m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("follows"), V: follows})
		}
		tree[k] = m
	}
	rep = mustWith(b, f.schemaDB, tree...)
	f.treeDB = rep.DBAfter
	f.treeRoot = rep.TempIDs[engine.TempID(strconv.Itoa(w.Tree[0].ID))]
	return f
}

// personMap is p's map form with the given :db/id.
func personMap(p Person, id engine.Entity) engine.Map {
	m := engine.Map{ID: id, Attrs: []engine.KV{
		{A: engine.Keyword("name"), V: p.Name},
		{A: engine.Keyword("last-name"), V: p.LastName},
		{A: engine.Keyword("full-name"), V: p.FullName},
		{A: engine.Keyword("sex"), V: engine.Keyword(p.Sex)},
		{A: engine.Keyword("age"), V: p.Age},
		{A: engine.Keyword("salary"), V: p.Salary},
	}}
	if len(p.Alias) > 0 {
		alias := make([]any, len(p.Alias))
		for i, a := range p.Alias {
			alias[i] = a
		}
		m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("alias"), V: alias})
	}
	return m
}

func (f *peopleFixture) attr(b *testing.B, ident string) datom.E {
	at, ok := f.schemaDB.Schema().AttrByIdent(ident)
	if !ok {
		b.Fatalf("no attribute :%s", ident)
	}
	return at.ID
}

// peopleDatoms counts db's datoms of the people attributes: what
// Datascript's (count (d/datoms db :eavt)) counts, strata's databases
// holding their schema and transaction datoms besides.
func (f *peopleFixture) peopleDatoms(b *testing.B, db *engine.DB) int {
	n := 0
	for _, a := range peopleAttrs {
		for _, err := range db.Datoms(peopleCtx, datom.AEVT, engine.Components{A: f.attr(b, a.ident), HasA: true}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	return n
}

func mustWith(b *testing.B, db *engine.DB, ops ...engine.Op) *engine.TxReport {
	rep, err := db.With(peopleCtx, ops, engine.TxOptions{})
	if err != nil {
		b.Fatalf("transaction failed: %v", err)
	}
	return rep
}

// ---- the Datascript reference ----

// datascriptDir holds people.mjs and, once installed, Datascript.
const datascriptDir = "datascript"

// datascriptTimeout bounds one node run (one task: warm-up and samples).
const datascriptTimeout = 10 * time.Minute

// datascriptResult is one line of people.mjs's output.
type datascriptResult struct {
	Task       string    `json:"task"`
	NsPerOp    float64   `json:"nsPerOp"`
	SamplesNs  []float64 `json:"samplesNs"`
	Iterations int       `json:"iterations"`
	Check      int       `json:"check"`
	Datascript string    `json:"datascript"`
	Node       string    `json:"node"`
}

var (
	datascriptMu      sync.Mutex
	datascriptResults = map[string]*datascriptResult{}
)

// datascriptPeople returns Datascript's measurement of task, running
// people.mjs once per task and process; it skips b when node or the
// package is missing.
func datascriptPeople(b *testing.B, task string) *datascriptResult {
	node := needDatascript(b)
	datascriptMu.Lock()
	defer datascriptMu.Unlock()
	if r, ok := datascriptResults[task]; ok {
		return r
	}
	data, err := peopleJSONOnce()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), datascriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "people.mjs", "--task", task)
	cmd.Dir = datascriptDir
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("node people.mjs --task %s: %v\n%s", task, err, stderr.Bytes())
	}
	r, err := parseDatascriptLine(out, task)
	if err != nil {
		b.Fatalf("node people.mjs --task %s: %v\n%s", task, err, out)
	}
	b.Logf("Datascript %s on node %s: %s median of %d samples (%d runs), check %d",
		r.Datascript, r.Node, FormatNs(r.NsPerOp), len(r.SamplesNs), r.Iterations, r.Check)
	datascriptResults[task] = r
	return r
}

func parseDatascriptLine(out []byte, task string) (*datascriptResult, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r datascriptResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("bad output line %q: %w", sc.Text(), err)
		}
		if r.Task == task {
			if r.NsPerOp <= 0 {
				return nil, fmt.Errorf("task %s: %v ns/op", task, r.NsPerOp)
			}
			return &r, nil
		}
	}
	return nil, errors.New("no result for the task")
}

// queryTask runs a query on db100k (parsed once, as Datascript caches
// parsed queries); its check is the number of result tuples.
func queryTask(src string, args ...any) func(b *testing.B, f *peopleFixture) func() int {
	return func(b *testing.B, f *peopleFixture) func() int {
		q, err := query.Parse([]byte(src))
		if err != nil {
			b.Fatal(err)
		}
		in := append([]any{f.db100k}, args...)
		return func() int {
			out, err := query.Run(peopleCtx, q, in...)
			if err != nil {
				b.Fatal(err)
			}
			return len(out.([][]any))
		}
	}
}

// The graphs of Datascript's rule benchmarks (its bench's wide-db and
// long-db; only :follows matters to the rules), as edges between entity
// numbers.
func wideEdges(depth, width int) [][2]int {
	var edges [][2]int
	var walk func(id, depth int)
	walk = func(id, depth int) {
		if depth <= 0 {
			return
		}
		for k := range width {
			child := id*width + k
			edges = append(edges, [2]int{id, child})
			walk(child, depth-1)
		}
	}
	walk(1, depth)
	return edges
}

func longEdges(depth, width int) [][2]int {
	var edges [][2]int
	for x := range width {
		for y := range depth {
			edges = append(edges, [2]int{x*(depth+1) + y + 1, x*(depth+1) + y + 2})
		}
	}
	return edges
}

const followsRules = `[[(follows ?x ?y) [?x :follows ?y]] [(follows ?x ?y) [?x :follows ?t] (follows ?t ?y)]]`

// rulesTask is Datascript's rule benchmark: the :follows closure over a
// graph; its check is the number of pairs.
func rulesTask(edges [][2]int) func(b *testing.B, f *peopleFixture) func() int {
	return func(b *testing.B, f *peopleFixture) func() int {
		fs := map[int][]any{}
		var ids []int
		for _, e := range edges {
			for _, n := range e {
				if _, ok := fs[n]; !ok {
					fs[n] = nil
					ids = append(ids, n)
				}
			}
			fs[e[0]] = append(fs[e[0]], engine.TempID(strconv.Itoa(e[1])))
		}
		ops := make([]engine.Op, 0, len(ids))
		for _, id := range ids {
			m := engine.Map{ID: engine.TempID(strconv.Itoa(id)), Attrs: []engine.KV{{A: engine.Keyword("name"), V: "Ivan"}}}
			if len(fs[id]) > 0 {
				m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("follows"), V: fs[id]})
			}
			ops = append(ops, m)
		}
		db := mustWith(b, f.schemaDB, ops...).DBAfter
		q, err := query.Parse([]byte(`[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]`))
		if err != nil {
			b.Fatal(err)
		}
		rules, err := edn.Parse([]byte(followsRules))
		if err != nil {
			b.Fatal(err)
		}
		rs, err := query.ParseRules(rules)
		if err != nil {
			b.Fatal(err)
		}
		return func() int {
			out, err := query.Run(peopleCtx, q, db, rs)
			if err != nil {
				b.Fatal(err)
			}
			return len(out.([][]any))
		}
	}
}

// needDatascript returns node's path, or skips tb when node or the
// datascript package (bench/datascript) is missing.
func needDatascript(tb testing.TB) string {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("needs node for the Datascript reference: install Node.js (apt-get install nodejs npm), then: cd bench/datascript && npm ci")
	}
	if _, err := os.Stat(filepath.Join(datascriptDir, "node_modules", "datascript", "package.json")); err != nil {
		tb.Skip("needs the datascript npm package for the reference: cd bench/datascript && npm ci")
	}
	return node
}
