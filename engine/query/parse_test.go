package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/edn"
)

func mustParse(t *testing.T, src string) *Query {
	t.Helper()
	q, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return q
}

func TestParseShapes(t *testing.T) {
	q := mustParse(t, `[:find ?e ?name :in $ ?age :where [?e :person/age ?age] [?e :person/name ?name]]`)
	if q.Find.Kind != FindRel || len(q.Find.Elems) != 2 || len(q.In) != 2 || len(q.Where) != 2 {
		t.Fatalf("%+v", q)
	}
	if p := q.Where[0].(*Pattern); p.Src != "$" || p.Terms[0] != Var("?e") || p.Terms[1].(Const).V != (edn.Keyword{Namespace: "person", Name: "age"}) {
		t.Fatalf("pattern %+v", p)
	}
	if q.In[1] != (ScalarInput{"?age"}) {
		t.Fatalf("in %+v", q.In)
	}
	for src, kind := range map[string]FindKind{
		`[:find [?n ...] :where [_ :person/name ?n]]`:        FindColl,
		`[:find ?n . :where [_ :person/name ?n]]`:            FindScalar,
		`[:find [?n ?a] :where [?e :n ?n] [?e :a ?a]]`:       FindTuple,
		`{:find [?n] :where [[_ :person/name ?n]]}`:          FindRel,
		`{:find [[?n ...]] :in [$] :where [[_ :n ?n]]}`:      FindColl,
		`[:find (count ?e) :with ?n :where [?e :n ?n]]`:      FindRel,
		`[:find (pull ?e [*]) :where [?e :n]]`:               FindRel,
		`[:find (pull $h ?e [:n]) :in $h :where [$h ?e :n]]`: FindRel,
	} {
		if got := mustParse(t, src).Find.Kind; got != kind {
			t.Errorf("%s: kind %d, want %d", src, got, kind)
		}
	}
	q = mustParse(t, `[:find ?e (max 3 ?a) (my.ns/agg ?a) :keys e top agg :where [?e :a ?a]]`)
	if q.KeysKind != KeysKeywords || strings.Join(q.Keys, ",") != "e,top,agg" {
		t.Fatalf("keys %v", q.Keys)
	}
	if agg := q.Find.Elems[1].(AggElem); agg.Fn != "max" || agg.Args[0].(Const).V != int64(3) || agg.Args[1] != Var("?a") {
		t.Fatalf("aggregate %+v", agg)
	}
	if agg := q.Find.Elems[2].(AggElem); agg.Fn != "my.ns/agg" {
		t.Fatalf("aggregate %+v", agg)
	}
}

func TestParseClauses(t *testing.T) {
	q := mustParse(t, `[:find ?e ?x ?t
	  :in $ $other % [?min ...] [[?k ?v]] [?a _]
	  :where
	  [?e :age ?age]
	  [(>= ?age ?min)]
	  [(+ ?age 1) ?next]
	  [(tuple ?age ?next) ?t]
	  [(ground [1 2]) [?x ...]]
	  [(my.fn ?e) [[?r1 ?r2]]]
	  [$other ?e :flag true]
	  (not [?e :banned])
	  (not-join [?e] [?e :friend ?f] [?f :banned])
	  (or [?e :kind :a] (and [?e :kind :b] [?e :vip true]))
	  (or-join [[?e] ?z] [?e :z ?z] [?e :w ?z])
	  ($other follows ?e ?k)
	  (follows ?e ?v)]`)
	var kinds []string
	for _, c := range q.Where {
		switch c := c.(type) {
		case *Pattern:
			kinds = append(kinds, "pattern"+string(c.Src))
		case *Pred:
			kinds = append(kinds, "pred:"+c.Fn)
		case *Fn:
			kinds = append(kinds, "fn:"+c.Fn)
		case *Not:
			kinds = append(kinds, "not")
		case *Or:
			kinds = append(kinds, "or")
		case *RuleCall:
			kinds = append(kinds, "rule:"+c.Name+string(c.Src))
		}
	}
	want := "pattern$ pred:>= fn:+ fn:tuple fn:ground fn:my.fn pattern$other not not or or rule:follows$other rule:follows"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("clauses\n%s\nwant\n%s", got, want)
	}
	if b := q.Where[4].(*Fn).Bind; b != (BindColl{"?x"}) {
		t.Fatalf("binding %+v", b)
	}
	if b := q.Where[5].(*Fn).Bind.(BindRel); len(b.Vars) != 2 {
		t.Fatalf("binding %+v", b)
	}
	if o := q.Where[9].(*Or); len(o.Branches) != 2 || len(o.Branches[1]) != 2 {
		t.Fatalf("or %+v", o)
	}
	if o := q.Where[10].(*Or); len(o.Required) != 1 || len(o.Join) != 2 {
		t.Fatalf("or-join %+v", o)
	}
	if n := q.Where[7].(*Not); n.Join != nil || q.Where[8].(*Not).Join[0] != "?e" {
		t.Fatal("not / not-join joins")
	}
	if q.In[2] != (RulesInput{}) || q.In[3] != (CollInput{"?min"}) {
		t.Fatalf("in %+v", q.In)
	}
	if q.Where[0].Form() != "[?e :age ?age]" {
		t.Fatalf("form %q", q.Where[0].Form())
	}
}

func TestParseRules(t *testing.T) {
	v, err := edn.Parse([]byte(`[[(follows ?a ?b) [?a :follows ?b]]
	  [(follows ?a ?b) [?a :follows ?x] (follows ?x ?b)]
	  [(adult [?p]) [?p :age ?age] [(>= ?age 18)]]]`))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs["follows"]) != 2 || len(rs["adult"]) != 1 || rs["adult"][0].Required[0] != "?p" {
		t.Fatalf("rules %+v", rs)
	}
	for _, bad := range []string{`[[(r ?a) [?a :x]] [(r ?a ?b) [?a :x ?b]]]`, `[[(?r ?a) [?a :x]]]`, `[(r ?a)]`, `{}`, `[[(r) [?a :x]]]`} {
		v, err := edn.Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseRules(v); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("rules %s: %v", bad, err)
		}
	}
}

// Bad queries fail with an incorrect error that says what and where.
func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		`[:find ?x :where [?e :a ?v]]`:                      "unknown variable ?x in :find",
		`[:find ?v :with ?w :where [?e :a ?v]]`:             "unknown variable ?w in :with",
		`[:where [?e :a ?v]]`:                               ":find is missing",
		`[?e :find ?e]`:                                     "starts with :find",
		`[:find ?e :find ?e]`:                               "section given twice",
		`[:find ?e :wher [?e :a]]`:                          "unknown query section",
		`[:find ?e :where [?e :a ?v :tx true :extra]]`:      "1 to 5 elements",
		`[:find ?e :where [?e :a foo]]`:                     "must be a variable",
		`[:find ?e :where [?e :a] (or [?e :b ?x] [?e :c])]`: "same variables",
		`[:find ?e :where [?e :a] (and [?e :b])]`:           "and belongs inside or",
		`[:find ?e :where [?e :a] []]`:                      "an empty clause",
		`[:find ?e :where [?e :a] [(< ?e 1) ?x ?y]]`:        "[(f ...)] or [(f ...) binding]",
		`[:find ?e :where [?e :a] [(f ?e) [?x ... ?y]]]`:    "a binding takes variables",
		`[:find ?e ?n :keys e :where [?e :a ?n]]`:           "names 1 columns, :find has 2",
		`[:find [?e ...] :keys e :where [?e :a]]`:           "needs a relation",
		`[:find (max ?e 3) :where [?e :a]]`:                 "the variable it aggregates, last",
		`[:find (pull ?e) :where [?e :a]]`:                  "pull takes",
		`[:find (pull ?e ?p) :where [?e :a]]`:               "not bound by :in",
		`[:find ?e :in [] :where [?e :a]]`:                  ":in takes",
		`[:find ?e . ?f :where [?e :a ?f]]`:                 "misplaced in :find",
		`{:find [?e] :where [?e :a]}`:                       "a clause is a vector",
		`"query"`:                                           "a query is a vector",
		`[:find ?e :where (not-join ?e [?e :a])]`:           "not-join takes",
		`[:find ?e :where [?e :a] ($ not)]`:                 "not needs clauses",
		`[:find ?e :where [?e :a] (rule)]`:                  "called without arguments",
		`[:find ?e :where [?e :a] (ns/rule ?e)]`:            "plain symbol",
		`[:find ?e :where [?e :a ?v] [$ ?e]`:                "edn",
	} {
		_, err := Parse([]byte(src))
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n  got  %v\n  want an incorrect error containing %q", src, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`[:find ?e :in $ ?x :where [?e :a ?x] (not [?e :b]) [(< ?x 3)]]`,
		`{:find [(count ?e) .] :where [[?e :a]]}`,
		`[:find (pull ?e [*]) :where (or-join [?e] [?e :a] (and [?e :b] [?e :c]))]`,
		`[:find ?e :with ?x :in $ % [[?a ?b]] :where (r ?e ?a) [(f ?a) [?x ...]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		q, err := Parse(src)
		if err != nil {
			if !errors.Is(err, anomaly.Incorrect) {
				t.Fatalf("error without the incorrect category: %v", err)
			}
			return
		}
		if len(q.Find.Elems) == 0 {
			t.Fatalf("a parsed query without :find elements: %+v", q)
		}
		for _, c := range q.Where {
			if c.Form() == "" {
				t.Fatal("a clause without its form")
			}
		}
	})
}
