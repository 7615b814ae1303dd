package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

func peopleDB(t testing.TB) *engine.DB {
	t.Helper()
	ops, err := engine.ParseTxDataEDN([]byte(`[
	 {:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
	 {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
	 {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := engine.Empty().With(ctx, ops, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ops, err = engine.ParseTxDataEDN([]byte(`[
	 {:db/id "ann" :person/name "ann" :person/age 40 :person/friend ["bob" "cid"]}
	 {:db/id "bob" :person/name "bob" :person/age 30 :person/friend ["cid"]}
	 {:db/id "cid" :person/name "cid" :person/age 20}
	 {:db/id "dan" :person/name "dan" :person/age 30 :person/friend ["ann"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = rep.DBAfter.With(ctx, ops, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep.DBAfter
}

func run(t *testing.T, db *engine.DB, src string, inputs ...any) any {
	t.Helper()
	q := mustParse(t, src)
	out, err := Run(context.Background(), q, append([]any{db}, inputs...)...)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return out
}

// sorted prints a relation result in a stable order.
func sorted(v any) string {
	rows, ok := v.([][]any)
	if !ok {
		return fmt.Sprint(v)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r...))
	}
	sort.Strings(out)
	return strings.Join(out, " | ")
}

func TestRun(t *testing.T) {
	db := peopleDB(t)
	for src, want := range map[string]string{
		`[:find ?n :where [?e :person/age 30] [?e :person/name ?n]]`:                                  "bob | dan",
		`[:find ?n ?fn :where [?e :person/name ?n] [?e :person/friend ?f] [?f :person/name ?fn]]`:     "annbob | anncid | bobcid | danann",
		`[:find ?n :where [?e :person/age ?a] [(> ?a 25)] [?e :person/name ?n]]`:                      "ann | bob | dan",
		`[:find ?n :where [?e :person/name ?n] [?e :person/friend ?f] [?f :person/friend ?e]]`:        "",
		`[:find ?n :where [?e :person/friend ?f] [?f :person/friend ?g] [?g :person/name ?n]]`:        "bob | cid",
		`[:find ?n :where [?e :person/name ?n] [?e :person/age ?a] [?d :person/age ?a] [(!= ?e ?d)]]`: "bob | dan",
		`[:find ?n :where [?e :person/name ?n] [?e :person/friend [:person/name "cid"]]]`:             "ann | bob",
		`[:find ?n :where [?e :person/name ?n] [?e :person/age 99]]`:                                  "",
	} {
		if got := sorted(run(t, db, src)); got != want {
			t.Errorf("%s\n  got  %s\n  want %s", src, got, want)
		}
	}
	if got := run(t, db, `[:find ?a . :in $ ?n :where [?e :person/name ?n] [?e :person/age ?a]]`, "bob"); got != int64(30) {
		t.Errorf("scalar %v", got)
	}
	got := run(t, db, `[:find [?a ...] :in $ [?n ...] :where [?e :person/name ?n] [?e :person/age ?a]]`, []any{"ann", "cid"})
	as := got.([]any)
	slices.SortFunc(as, func(a, b any) int { return int(a.(int64) - b.(int64)) })
	if fmt.Sprint(as) != "[20 40]" {
		t.Errorf("collection %v", as)
	}
	if got := run(t, db, `[:find [?n ?a] :where [?e :person/name ?n] [?e :person/age ?a] [(< ?a 21)]]`); fmt.Sprint(got) != "[cid 20]" {
		t.Errorf("tuple %v", got)
	}
	m := run(t, db, `[:find ?n ?a :keys name age :where [?e :person/name ?n] [?e :person/age ?a] [(= ?a 40)]]`).([]map[any]any)
	if len(m) != 1 || m[0][engine.Keyword("name")] != "ann" || m[0][engine.Keyword("age")] != int64(40) {
		t.Errorf(":keys %v", m)
	}
	// Refusals: unknown attribute, unbound predicate argument, not yet
	// evaluated clauses.
	for src, cat := range map[string]anomaly.Category{
		`[:find ?e :where [?e :no/such 1]]`:                                             anomaly.Incorrect,
		`[:find ?e :where [(> ?z 1)] [?e :person/age ?a]]`:                              anomaly.Incorrect,
		`[:find ?e :in $ % :where [?e :person/age ?a] (r ?e)]`:                          anomaly.Incorrect,
		`[:find ?e :where [?e :person/age ?a] [(no-such ?a)]]`:                          anomaly.Incorrect,
		`[:find ?e :where [?e :person/age ?a] (not [?e :person/friend ?f] [(> ?z 1)])]`: anomaly.Incorrect,
	} {
		q := mustParse(t, src)
		in := []any{db}
		if len(q.In) == 2 {
			in = append(in, `[[(other ?x) [?x :person/age 1]]]`)
		}
		_, err := Run(context.Background(), q, in...)
		if !errors.Is(err, cat) {
			t.Errorf("%s: %v, want %s", src, err, cat)
		}
	}
}

// Patterns and comparisons on a random database against a brute-force
// evaluation of the same conjunctive query over every datom.
func TestRunDifferential(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	db := peopleDB(t)
	var ops []engine.Op
	for i := range 60 {
		m := engine.Map{ID: engine.TempID(fmt.Sprint("p", i)), Attrs: []engine.KV{
			{A: engine.Keyword("person/name"), V: fmt.Sprint("p", i)},
			{A: engine.Keyword("person/age"), V: int64(rng.IntN(6))}}}
		if i > 0 {
			m.Attrs = append(m.Attrs, engine.KV{A: engine.Keyword("person/friend"), V: engine.TempID(fmt.Sprint("p", rng.IntN(i)))})
		}
		ops = append(ops, m)
	}
	rep, err := db.With(ctx, ops, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db = rep.DBAfter
	age, _ := db.Schema().AttrByIdent("person/age")
	friend, _ := db.Schema().AttrByIdent("person/friend")
	var ages, friends []datom.Datom
	for d, err := range db.Datoms(ctx, datom.AEVT, engine.Components{A: age.ID, HasA: true}) {
		if err != nil {
			t.Fatal(err)
		}
		ages = append(ages, d)
	}
	for d, err := range db.Datoms(ctx, datom.AEVT, engine.Components{A: friend.ID, HasA: true}) {
		if err != nil {
			t.Fatal(err)
		}
		friends = append(friends, d)
	}
	ageOf := map[datom.E]int64{}
	for _, d := range ages {
		ageOf[d.E] = d.V.Long()
	}
	for range 30 {
		lo := int64(rng.IntN(6))
		// People with a friend older than lo whose own age differs from the friend's.
		src := fmt.Sprintf(`[:find ?e ?f :where [?e :person/friend ?f] [?f :person/age ?fa] [(> ?fa %d)] [?e :person/age ?ea] [(!= ?ea ?fa)]]`, lo)
		got := map[string]bool{}
		for _, r := range run(t, db, src).([][]any) {
			got[fmt.Sprint(r...)] = true
		}
		want := map[string]bool{}
		for _, d := range friends {
			f := d.V.Ref()
			if ageOf[f] > lo && ageOf[d.E] != ageOf[f] {
				want[fmt.Sprint(d.E, f)] = true
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s:\n got  %v\n want %v", src, got, want)
		}
	}
}

func TestRunFunctionsNotOrAggregates(t *testing.T) {
	db := peopleDB(t)
	for src, want := range map[string]string{
		// functions and bindings
		`[:find ?n ?b :where [?e :person/name ?n] [?e :person/age ?a] [(+ ?a 1) ?b] [(> ?b 35)]]`:                 "ann41",
		`[:find ?s :where [?e :person/name "bob"] [?e :person/age ?a] [(str "age-" ?a) ?s]]`:                      "age-30",
		`[:find ?x :where [(ground [1 2 3]) [?x ...]]]`:                                                           "1 | 2 | 3",
		`[:find ?a ?b :where [(ground [[1 2] [3 4]]) [[?a ?b]]]]`:                                                 "1 2 | 3 4",
		`[:find ?a ?b :where [(tuple 1 "x") ?t] [(untuple ?t) [?a ?b]]]`:                                          "1x",
		`[:find ?n ?g :where [?e :person/name ?n] [(get-else $ ?e :person/friend 0) ?g] [(= ?g 0)]]`:              "cid0",
		`[:find ?n :where [?e :person/name ?n] [(missing? $ ?e :person/friend)]]`:                                 "cid",
		`[:find ?n :where [?e :person/name ?n] [(clojure.string/starts-with? ?n "b")]]`:                           "bob",
		`[:find ?n :where [?e :person/name ?n] [?e :person/age ?a] [(even? ?a)] [(subs ?n 0 1) ?i] [(= ?i "a")]]`: "ann",
		// not, not-join, or, or-join
		`[:find ?n :where [?e :person/name ?n] (not [?e :person/friend])]`:                                                               "cid",
		`[:find ?n :where [?e :person/name ?n] (not-join [?e] [?e :person/friend ?f] [?f :person/age 20])]`:                              "cid | dan",
		`[:find ?n :where [?e :person/name ?n] (or [?e :person/age 20] [?e :person/age 40])]`:                                            "ann | cid",
		`[:find ?n :where [?e :person/name ?n] (or-join [?e] [?e :person/age 20] (and [?e :person/friend ?f] [?f :person/name "ann"]))]`: "cid | dan",
		// aggregates
		`[:find (count ?e) . :where [?e :person/name]]`:                                              "4",
		`[:find ?a (count ?e) :where [?e :person/age ?a]]`:                                           "20 1 | 30 2 | 40 1",
		`[:find (sum ?a) (min ?a) (max ?a) (count-distinct ?a) :with ?e :where [?e :person/age ?a]]`: "120 20 40 3",
		`[:find (avg ?a) (median ?a) :with ?e :where [?e :person/age ?a]]`:                           "30 30",
		`[:find (max 2 ?a) (min 1 ?a) :where [?e :person/age ?a]]`:                                   "[40 30] [20]",
		`[:find (count ?e) . :where [?e :person/age 99]]`:                                            "0",
		// :with without an aggregate: a bag, one tuple per ?e
		`[:find ?a :with ?e :where [?e :person/age ?a]]`: "20 | 30 | 30 | 40",
	} {
		if got := sorted(run(t, db, src)); got != want {
			t.Errorf("%s\n  got  %s\n  want %s", src, got, want)
		}
	}
	v := run(t, db, `[:find (variance ?a) (stddev ?a) :with ?e :where [?e :person/age ?a]]`).([][]any)
	if len(v) != 1 || v[0][0].(float64) != 50 || v[0][1].(float64) < 7.07 || v[0][1].(float64) > 7.08 {
		t.Errorf("variance/stddev %v", v)
	}
	s := run(t, db, `[:find (sample 2 ?n) . :where [_ :person/name ?n]]`).([]any)
	if len(s) != 2 || s[0] == s[1] {
		t.Errorf("sample %v", s)
	}
}

func TestRunPull(t *testing.T) {
	db := peopleDB(t)
	rows := run(t, db, `[:find (pull ?e [:person/name {:person/friend [:person/name]}]) ?a :where [?e :person/age ?a] [(< ?a 35)]]`).([][]any)
	var got []string
	for _, r := range rows {
		m := r[0].(map[any]any)
		got = append(got, fmt.Sprint(m[engine.Keyword("person/name")], len(m), r[1]))
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "bob2 30,cid1 20,dan2 30" {
		t.Fatalf("pull %v", got)
	}
	pat, err := engine.ParsePatternEDN([]byte(`[:person/age]`))
	if err != nil {
		t.Fatal(err)
	}
	m := run(t, db, `[:find (pull ?e ?p) . :in $ ?p :where [?e :person/name "ann"]]`, pat)
	if m.(map[any]any)[engine.Keyword("person/age")] != int64(40) {
		t.Fatalf("pull with a pattern input: %v", m)
	}
}

func TestRunRules(t *testing.T) {
	db := peopleDB(t)
	rules := `[[(friend-of ?a ?b) [?a :person/friend ?b]]
	           [(reach ?a ?b) [?a :person/friend ?b]]
	           [(reach ?a ?b) [?a :person/friend ?x] (reach ?x ?b)]
	           [(older [?x] ?y) [?x :person/age ?ax] [?y :person/age ?ay] [(> ?ax ?ay)]]
	           [(named ?e ?n) [?e :person/name ?n]]
	           [(adult-or-young ?e) [?e :person/age ?a] [(> ?a 35)]]
	           [(adult-or-young ?e) [?e :person/age ?a] [(< ?a 25)]]]`
	for src, want := range map[string]string{
		`[:find ?n :in $ % :where (named ?e "ann") (friend-of ?e ?f) (named ?f ?n)]`:            "bob | cid",
		`[:find ?n :in $ % :where (named ?e "dan") (reach ?e ?f) (named ?f ?n)]`:                "ann | bob | cid",
		`[:find ?n :in $ % :where (named ?e "cid") (reach ?e ?f) (named ?f ?n)]`:                "",
		`[:find ?n :in $ % :where (named ?x "bob") (older ?x ?y) (named ?y ?n)]`:                "cid",
		`[:find ?n :in $ % :where (adult-or-young ?e) (named ?e ?n)]`:                           "ann | cid",
		`[:find ?a ?b :in $ % :where (reach ?x ?y) (named ?x ?a) (named ?y ?b) [(= ?a "bob")]]`: "bobcid",
	} {
		q := mustParse(t, src)
		out, err := Run(context.Background(), q, db, rules)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := sorted(out); got != want {
			t.Errorf("%s\n  got  %s\n  want %s", src, got, want)
		}
	}
	// A required variable left unbound is refused.
	q := mustParse(t, `[:find ?y :in $ % :where (older ?x ?y)]`)
	if _, err := Run(context.Background(), q, db, rules); !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), "requires ?x") {
		t.Fatalf("unbound required variable: %v", err)
	}
}

// Recursive rules against a brute-force transitive closure on random
// graphs (cycles included).
func TestRunRulesDifferential(t *testing.T) {
	ctx := context.Background()
	for seed := range 5 {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		db := peopleDB(t)
		var ops []engine.Op
		n := 25
		for i := range n {
			ops = append(ops, engine.Map{ID: engine.TempID(fmt.Sprint("g", i)), Attrs: []engine.KV{{A: engine.Keyword("person/name"), V: fmt.Sprint("g", i)}}})
		}
		edges := map[[2]int]bool{}
		for range 35 {
			a, b := rng.IntN(n), rng.IntN(n)
			edges[[2]int{a, b}] = true
			ops = append(ops, engine.Add{E: engine.TempID(fmt.Sprint("g", a)), A: engine.Keyword("person/friend"), V: engine.TempID(fmt.Sprint("g", b))})
		}
		rep, err := db.With(ctx, ops, engine.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reach := map[[2]int]bool{}
		for e := range edges {
			reach[e] = true
		}
		for changed := true; changed; {
			changed = false
			for x := range reach {
				for y := range reach {
					if x[1] == y[0] && !reach[[2]int{x[0], y[1]}] {
						reach[[2]int{x[0], y[1]}] = true
						changed = true
					}
				}
			}
		}
		want := map[string]bool{}
		for r := range reach {
			want[fmt.Sprint("g", r[0], "g", r[1])] = true
		}
		q := mustParse(t, `[:find ?a ?b :in $ % :where (reach ?x ?y) [?x :person/name ?a] [?y :person/name ?b]]`)
		out, err := Run(ctx, q, rep.DBAfter, `[[(reach ?a ?b) [?a :person/friend ?b]] [(reach ?a ?b) (reach ?a ?x) (reach ?x ?b)]]`)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range out.([][]any) {
			if strings.HasPrefix(r[0].(string), "g") {
				got[fmt.Sprint(r[0], r[1])] = true
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: %d pairs, want %d", seed, len(got), len(want))
		}
	}
}

func TestRunOptions(t *testing.T) {
	ctx := context.Background()
	db := peopleDB(t)
	opts := Options{
		Funcs: map[string]func([]any) (any, error){
			"my/double":   func(a []any) (any, error) { return a[0].(int64) * 2, nil },
			"my/teen?":    func(a []any) (any, error) { return a[0].(int64) < 25, nil },
			"my/initials": func(a []any) (any, error) { return []any{a[0].(string)[:1], a[1].(string)[:1]}, nil },
		},
		Aggs: map[string]func([]any) (any, error){
			"my/spread": func(vs []any) (any, error) {
				lo, hi := vs[0].(int64), vs[0].(int64)
				for _, v := range vs {
					lo, hi = min(lo, v.(int64)), max(hi, v.(int64))
				}
				return hi - lo, nil
			},
		},
	}
	out, err := Q(ctx, `[:find ?n ?d :where [?e :person/name ?n] [?e :person/age ?a] [(my/teen? ?a)] [(my/double ?a) ?d]]`, opts, db)
	if err != nil || sorted(out) != "cid40" {
		t.Fatalf("user function: %v, %v", sorted(out), err)
	}
	out, err = Q(ctx, `[:find [?i ?j] :where [?e :person/name "ann"] [(my/initials "ann" "bob") [?i ?j]]]`, opts, db)
	if err != nil || fmt.Sprint(out) != "[a b]" {
		t.Fatalf("user function with a tuple: %v, %v", out, err)
	}
	out, err = Q(ctx, `[:find (my/spread ?a) . :with ?e :where [?e :person/age ?a]]`, opts, db)
	if err != nil || out != int64(20) {
		t.Fatalf("user aggregate: %v, %v", out, err)
	}
	all, err := Q(ctx, `[:find ?n :where [_ :person/name ?n]]`, Options{}, db)
	if err != nil {
		t.Fatal(err)
	}
	page, err := Q(ctx, `[:find ?n :where [_ :person/name ?n]]`, Options{Offset: 1, Limit: 2}, db)
	if err != nil || len(page.([][]any)) != 2 || fmt.Sprint(page.([][]any)[0]) != fmt.Sprint(all.([][]any)[1]) {
		t.Fatalf("offset and limit: %v, %v", page, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Q(cctx, `[:find ?n :where [_ :person/name ?n]]`, Options{}, db); !errors.Is(err, anomaly.Interrupted) {
		t.Fatalf("a cancelled query: %v", err)
	}
	if _, err := Q(ctx, `[:find ?n :where [_ :person/name ?n]]`, Options{Limit: -1}, db); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a negative limit: %v", err)
	}
}

// The planner runs a query's clauses in the same order whatever order
// they are written in, the selective pattern first; explain shows it.
func TestPlanner(t *testing.T) {
	ctx := context.Background()
	db := peopleDB(t)
	var ops []engine.Op
	for i := range 500 {
		ops = append(ops, engine.Map{ID: engine.TempID(fmt.Sprint("p", i)), Attrs: []engine.KV{
			{A: engine.Keyword("person/name"), V: fmt.Sprint("p", i)}, {A: engine.Keyword("person/age"), V: int64(i % 50)}}})
	}
	rep, err := db.With(ctx, ops, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db = rep.DBAfter
	good := `[:find ?n2 :where [?e :person/name "p7"] [?e :person/age ?a] [?e2 :person/age ?a] [?e2 :person/name ?n2]]`
	bad := `[:find ?n2 :where [?e2 :person/name ?n2] [?e2 :person/age ?a] [?e :person/age ?a] [?e :person/name "p7"]]`
	var plans []string
	var results []string
	for _, src := range []string{good, bad} {
		out, steps, err := Explain(ctx, mustParse(t, src), Options{}, db)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, sorted(out))
		var order []string
		for _, s := range steps {
			order = append(order, s.Clause)
		}
		plans = append(plans, strings.Join(order, " "))
		if steps[0].Clause != `[?e :person/name "p7"]` || steps[0].RowsOut != 1 {
			t.Fatalf("%s: the plan starts with %s (%d rows)\n%s", src, steps[0].Clause, steps[0].RowsOut, FormatPlan(steps))
		}
	}
	if plans[0] != plans[1] || results[0] != results[1] {
		t.Fatalf("plans differ:\n%s\n%s", plans[0], plans[1])
	}
	if !strings.Contains(results[0], "p57") || len(strings.Split(results[0], " | ")) != 10 {
		t.Fatalf("result %s", results[0])
	}
}

// Sources before not, or and rule calls read that source.
func TestRunSources(t *testing.T) {
	ctx := context.Background()
	a := peopleDB(t)
	rep, err := a.With(ctx, []engine.Op{engine.Map{Attrs: []engine.KV{{A: engine.Keyword("person/name"), V: "eve"}, {A: engine.Keyword("person/age"), V: int64(40)}}}}, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := rep.DBAfter // a and eve
	for src, want := range map[string]string{
		// In b, not in a.
		`[:find ?n :in $a $b :where [$b ?e :person/name ?n] ($a not [_ :person/name ?n])]`: "eve",
		// Aged 40 in a or in b.
		`[:find ?n :in $a $b :where [$b _ :person/name ?n] ($a or-join [?n] (and [?x :person/age 20] [?x :person/name ?n]) (and [?x :person/age 40] [?x :person/name ?n]))]`: "ann | cid",
		`[:find ?n :in $a $b % :where [$b ?e :person/name ?n] ($b forty ?e)]`:                                                                                                "ann | eve",
	} {
		q := mustParse(t, src)
		in := []any{a, b}
		if len(q.In) == 3 {
			in = append(in, `[[(forty ?e) [?e :person/age 40]]]`)
		}
		out, err := Run(ctx, q, in...)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := sorted(out); got != want {
			t.Errorf("%s\n  got  %s\n  want %s", src, got, want)
		}
	}
}

// Inputs, constants and Go functions' results of Go types that are no
// value are refused as incorrect, naming what was given; every integer
// width, float32 and the other value types are taken.
func TestRunValueTypes(t *testing.T) {
	db := peopleDB(t)
	ctx := context.Background()
	for _, in := range []any{int32(30), uint8(30), int16(30), uint64(30), uint(30), int(30), datom.Long(30)} {
		out, err := Q(ctx, `[:find ?n :in $ ?a :where [?e :person/age ?a] [?e :person/name ?n]]`, Options{}, db, in)
		if err != nil || sorted(out) != "bob | dan" {
			t.Errorf("input %T: %v, %v", in, out, err)
		}
	}
	type point struct{ X, Y int }
	for _, in := range []any{point{1, 2}, struct{}{}, nil, map[string]int{}, uint64(math.MaxUint64), []any{1, point{}}} {
		_, err := Q(ctx, `[:find ?n :in $ ?a :where [?e :person/age ?a] [?e :person/name ?n]]`, Options{}, db, in)
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), "input 1") {
			t.Errorf("input %T: %v", in, err)
		}
		_, err = Q(ctx, `[:find ?n :in $ [?a ...] :where [?e :person/age ?a] [?e :person/name ?n]]`, Options{}, db, []any{30, in})
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), "item 1") {
			t.Errorf("collection item %T: %v", in, err)
		}
	}
	// An instant, a float and a tuple as inputs reach functions intact.
	when := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	out, err := Q(ctx, `[:find ?x ?f ?t :in ?x ?f ?t]`, Options{}, when, float32(1.5), []any{1, "a"})
	if err != nil {
		t.Fatal(err)
	}
	row := out.([][]any)[0]
	if !row[0].(time.Time).Equal(when) || row[1] != float32(1.5) || fmt.Sprint(row[2]) != "[1 a]" {
		t.Errorf("got %v", row)
	}
	// A character constant is no value strata stores.
	if _, err := Parse([]byte(`[:find ?e :where [?e :person/name \a]]`)); !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), "constant") {
		t.Errorf("char constant: %v", err)
	}
	// A Go function returning a struct.
	opts := Options{Funcs: map[string]func([]any) (any, error){"my/pt": func([]any) (any, error) { return point{}, nil }}}
	if _, err := Q(ctx, `[:find ?p :where [(my/pt) ?p]]`, opts, db); !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), "point") {
		t.Errorf("function result: %v", err)
	}
}

// Rows that repeat before :find (a blank over a cardinality-many
// attribute, a fact asserted twice in history) come out once.
func TestRunSetSemantics(t *testing.T) {
	db := peopleDB(t)
	ctx := context.Background()
	for src, want := range map[string]string{
		`[:find ?n :where [?e :person/friend _] [?e :person/name ?n]]`: "ann | bob | dan",
		`[:find ?n :where [?e :person/friend] [?e :person/name ?n]]`:   "ann | bob | dan",
		`[:find ?e :where [?e :person/friend ?f]]`:                     "",
		`[:find ?e :where [?e :person/friend _]]`:                      "",
		`[:find ?e :where [?e :person/friend]]`:                        "",
	} {
		out := run(t, db, src)
		if want != "" && sorted(out) != want {
			t.Errorf("%s: got %s, want %s", src, sorted(out), want)
		}
		if n := len(out.([][]any)); n != 3 {
			t.Errorf("%s: %d rows, want 3", src, n)
		}
	}
	// bob's age retracted and asserted again: the history holds [bob age 30] twice.
	bob, _, err := db.EntityOf(ctx, []any{engine.Keyword("person/name"), "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ops := range [][]engine.Op{{engine.Retract{E: bob, A: engine.Keyword("person/age"), V: int64(30)}}, {engine.Add{E: bob, A: engine.Keyword("person/age"), V: int64(30)}}} {
		rep, err := db.With(ctx, ops, engine.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		db = rep.DBAfter
	}
	out := run(t, db.History(), `[:find ?e ?a :where [?e :person/age ?a] [?e :person/name "bob"]]`)
	if n := len(out.([][]any)); n != 1 {
		t.Errorf("history: %d rows %v, want 1", n, out)
	}
}

// The merge join against the same brute-force evaluations, forced on every
// pattern it can serve, with no gap (a seek whenever a datom does not
// match) and with a gap that keeps scanning.
func TestMergeJoinDifferential(t *testing.T) {
	defer func(rows, gap int) { mergeMinRows, mergeGap = rows, gap }(mergeMinRows, mergeGap)
	for _, gap := range []int{0, 1, 1 << 20} {
		mergeMinRows, mergeGap = 0, gap
		t.Run(fmt.Sprint("gap=", gap), func(t *testing.T) {
			t.Run("run", TestRunDifferential)
			t.Run("query", TestQueryDifferential)
			t.Run("rules", TestRunRulesDifferential)
			t.Run("sets", TestRunSetSemantics)
		})
	}
}

// Explain names how each pattern read the index, and each access path
// gives the answer the others give.
func TestExplainAccess(t *testing.T) {
	ctx := context.Background()
	db := peopleDB(t)
	var ops []engine.Op
	for i := range 200 {
		ops = append(ops, engine.Map{Attrs: []engine.KV{{A: engine.Keyword("person/name"), V: fmt.Sprint("q", i)}, {A: engine.Keyword("person/age"), V: int64(i % 50)}}})
	}
	rep, err := db.With(ctx, ops, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db = rep.DBAfter
	for _, c := range []struct{ src, access, want string }{
		{`[:find (count ?e) . :where [?e :person/age ?a] [(>= ?a 45)] [(< ?a 48)]]`, "range AVET", "12"},
		{`[:find (count ?e) . :in $ ?min :where [?e :person/age ?a] [(< ?min ?a)]]`, "range AVET", "4"},
		{`[:find (count ?n) . :where [?e :person/age 7] [?e :person/name ?n]]`, "", "4"},
		{`[:find (count ?n) . :where [?e :person/age ?a] [(< ?a 40)] [?e :person/name ?n]]`, "merge AEVT", "163"},
	} {
		in := []any{db}
		if strings.Contains(c.src, "?min") {
			in = append(in, int64(48))
		}
		out, steps, err := Explain(ctx, mustParse(t, c.src), Options{}, in...)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(out) != c.want {
			t.Errorf("%s: %v, want %s\n%s", c.src, out, c.want, FormatPlan(steps))
		}
		var accesses []string
		for _, s := range steps {
			accesses = append(accesses, s.Access)
		}
		if c.access != "" && !slices.Contains(accesses, c.access) {
			t.Errorf("%s: accesses %q, want %s\n%s", c.src, accesses, c.access, FormatPlan(steps))
		}
		// The same query with the merge join and the pushdown off agrees.
		func() {
			defer func(rows int, on bool) { mergeMinRows, pushdown = rows, on }(mergeMinRows, pushdown)
			mergeMinRows, pushdown = 1<<30, false
			got, steps, err := Explain(ctx, mustParse(t, c.src), Options{}, in...)
			if err != nil || fmt.Sprint(got) != c.want {
				t.Errorf("%s without merge or range: %v, %v", c.src, got, err)
			}
			for _, s := range steps {
				if s.Access != "" && s.Access != "scan" && s.Access != "lookup" {
					t.Errorf("%s: access %s with both off", c.src, s.Access)
				}
			}
		}()
	}
}

// The fifth position of a data pattern binds or tests whether a datom is
// an assertion (history views hold retractions too).
func TestRunAddedPosition(t *testing.T) {
	ctx := context.Background()
	db := peopleDB(t)
	bob, _, err := db.EntityOf(ctx, []any{engine.Keyword("person/name"), "bob"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.With(ctx, []engine.Op{engine.Add{E: bob, A: engine.Keyword("person/age"), V: int64(31)}}, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := rep.DBAfter.History()
	for src, want := range map[string]string{
		`[:find ?a ?added :where [?e :person/name "bob"] [?e :person/age ?a _ ?added]]`: "30 false | 30 true | 31 true",
		`[:find ?a :where [?e :person/name "bob"] [?e :person/age ?a _ false]]`:         "30",
		`[:find ?a :where [?e :person/age ?a ?tx true] [?e :person/name "bob"]]`:        "30 | 31",
	} {
		if got := sorted(run(t, h, src)); got != want {
			t.Errorf("%s: got %s, want %s", src, got, want)
		}
	}
	if got := sorted(run(t, rep.DBAfter, `[:find ?a ?added :where [?e :person/name "bob"] [?e :person/age ?a _ ?added]]`)); got != "31 true" {
		t.Errorf("current view: %s", got)
	}
	if _, err := Q(ctx, `[:find ?a :where [?e :person/age ?a _ 1]]`, Options{}, h); !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("added position 1: %v", err)
	}
}
