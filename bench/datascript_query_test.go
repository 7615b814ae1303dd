package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/engine/query"
)

// The same queries on strata and on Datascript (npm datascript under node,
// bench/datascript/query.mjs) over the same 2,000 people, compared as sets
// of result tuples. Runs when node and the package are installed (make
// test installs neither; make bench runs npm ci), and skips otherwise.
//
// The queries are written for strata (keyword attributes, :male); the
// Datascript side gets the same text with attributes and keyword values as
// the strings its JS API stores. Deliberate differences: none among these.
var datascriptQueries = []struct {
	q    string
	args []any
}{
	{`[:find ?e :where [?e :name "Ivan"]]`, nil},
	{`[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]`, nil},
	{`[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]`, nil},
	{`[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex :male]]`, nil},
	{`[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex :male]]`, nil},
	{`[:find ?e ?s :where [?e :salary ?s] [(> ?s 90000)]]`, nil},
	{`[:find ?e ?s :in $ ?min :where [?e :salary ?s] [(> ?s ?min)]]`, []any{int64(95000)}},
	{`[:find ?n (count ?e) :where [?e :name ?n]]`, nil},
	{`[:find ?n (max ?a) (min ?a) :where [?e :name ?n] [?e :age ?a]]`, nil},
	{`[:find ?l :where [?e :last-name ?l] (not [?e :sex :male])]`, nil},
	{`[:find ?e :where [?e :name "Oleg"] (or [?e :age 10] [?e :age 20])]`, nil},
	{`[:find ?e ?e2 :where [?e :name "Yuri"] [?e :age ?a] [?e2 :age ?a] [?e2 :name "Fedor"] [(< ?e ?e2)]]`, nil},
	{`[:find ?x :in $ [?x ...] :where [(* ?x 2) ?y] [(> ?y 5)]]`, []any{[]any{int64(1), int64(3), int64(5)}}},
}

func TestQueriesAgainstDatascript(t *testing.T) {
	node := needDatascript(t)
	ctx := context.Background()
	w := NewPeopleWorkload(2000, 7)
	// strata: the same people, entity ids mapped back to people numbers.
	var schema []engine.Op
	for _, a := range peopleAttrs {
		schema = append(schema, schemaAttr(a.ident, a.typ, a.many, false))
	}
	rep, err := engine.Empty().With(ctx, schema, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]engine.Op, len(w.People))
	for i, p := range w.People {
		ops[i] = personMap(p, engine.TempID(fmt.Sprint(i+1)))
	}
	rep, err = rep.DBAfter.With(ctx, ops, engine.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db := rep.DBAfter
	number := map[datom.E]int{}
	for tid, e := range rep.TempIDs {
		var n int
		fmt.Sscan(string(tid), &n)
		number[e] = n
	}
	norm := func(v any) string {
		switch v := v.(type) {
		case datom.E:
			return fmt.Sprint(number[v])
		case engine.Keyword:
			return ":" + string(v)
		case float64:
			if v == float64(int64(v)) {
				return fmt.Sprint(int64(v))
			}
		}
		return fmt.Sprint(v)
	}
	// Datascript's text: attributes as strings, :male as ":male".
	dsText := func(q string) string {
		for _, a := range peopleAttrs {
			q = strings.ReplaceAll(q, " :"+a.ident+" ", ` "`+a.ident+`" `)
			q = strings.ReplaceAll(q, " :"+a.ident+"]", ` "`+a.ident+`"]`)
		}
		return strings.ReplaceAll(q, ":male", `":male"`)
	}
	type dsQuery struct {
		Q    string `json:"q"`
		Args []any  `json:"args,omitempty"`
	}
	in := struct {
		People  []Person  `json:"people"`
		Queries []dsQuery `json:"queries"`
	}{People: w.People}
	for _, q := range datascriptQueries {
		in.Queries = append(in.Queries, dsQuery{Q: dsText(q.q), Args: q.args})
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "query.mjs")
	cmd.Dir = datascriptDir
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node query.mjs: %v\n%s", err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for i, q := range datascriptQueries {
		if !sc.Scan() {
			t.Fatalf("query %d: no answer from Datascript", i)
		}
		var ds struct {
			Rows  [][]any `json:"rows"`
			Error string  `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ds); err != nil {
			t.Fatal(err)
		}
		if ds.Error != "" {
			t.Fatalf("%s: Datascript: %s", q.q, ds.Error)
		}
		res, err := query.Q(ctx, q.q, query.Options{}, append([]any{db}, q.args...)...)
		if err != nil {
			t.Fatalf("%s: %v", q.q, err)
		}
		var ours []string
		for _, r := range res.([][]any) {
			var parts []string
			for _, v := range r {
				parts = append(parts, norm(v))
			}
			ours = append(ours, strings.Join(parts, ","))
		}
		var theirs []string
		for _, r := range ds.Rows {
			var parts []string
			for _, v := range r {
				parts = append(parts, norm(v))
			}
			theirs = append(theirs, strings.Join(parts, ","))
		}
		sort.Strings(ours)
		sort.Strings(theirs)
		if strings.Join(ours, " | ") != strings.Join(theirs, " | ") {
			t.Errorf("%s: %d rows on strata, %d on Datascript\n  ours   %.300v\n  theirs %.300v", q.q, len(ours), len(theirs), ours, theirs)
		}
	}
}
