package query

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

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
		`[:find ?e :where [?e :no/such 1]]`:                               anomaly.Incorrect,
		`[:find ?e :where [(> ?a 1)] [?e :person/age ?a]]`:                anomaly.Incorrect,
		`[:find ?e :where [?e :person/age ?a] (not [?e :person/friend])]`: anomaly.Unsupported,
	} {
		_, err := Run(context.Background(), mustParse(t, src), db)
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
