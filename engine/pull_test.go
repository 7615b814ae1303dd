package engine

import (
	"context"
	"reflect"
	"testing"

	"github.com/stratadb/strata/datom"
)

func TestPull(t *testing.T) {
	db := peopleSchema(t)
	rep := mustWith(t, db,
		Map{ID: TempID("ann"), Attrs: []KV{{kw("person/email"), "ann@x"}, {kw("person/name"), "Ann"},
			{kw("person/alias"), []any{"a", "annie", "nan"}},
			{kw("person/address"), Map{Attrs: []KV{{kw("address/city"), "Oslo"}}}},
			{kw("person/friend"), []any{TempID("bob")}}}},
		Map{ID: TempID("bob"), Attrs: []KV{{kw("person/email"), "bob@x"}, {kw("person/friend"), []any{TempID("ann")}}}},
	)
	db = rep.DBAfter
	ann, bob := rep.TempIDs["ann"], rep.TempIDs["bob"]
	addr := values(t, db, ann, "person/address")[0].Ref()
	id := func(e datom.E) map[any]any { return map[any]any{kw("db/id"): e} }

	cases := []struct {
		name    string
		pattern any
		e       datom.E
		want    map[any]any
	}{
		{"attrs", []any{kw("person/name"), kw("person/email")}, ann,
			map[any]any{kw("person/name"): "Ann", kw("person/email"): "ann@x"}},
		{"missing attr omitted, default kept", []any{kw("person/age"), AttrSpec{Attr: "person/ssn", HasDefault: true, Default: "none"}}, ann,
			map[any]any{kw("person/ssn"): "none"}},
		{"as and limit", []any{AttrSpec{Attr: "person/alias", As: "names", Limit: 2}}, ann,
			map[any]any{"names": []any{"a", "annie"}}},
		{"ref without sub-pattern", []any{kw("person/address")}, ann,
			map[any]any{kw("person/address"): id(addr)}},
		{"nested", []any{map[any]any{kw("person/address"): []any{kw("address/city")}}}, ann,
			map[any]any{kw("person/address"): map[any]any{kw("address/city"): "Oslo"}}},
		{"reverse", []any{kw("person/_friend")}, ann,
			map[any]any{kw("person/_friend"): []any{id(bob)}}},
		{"reverse component is single", []any{kw("person/_address")}, addr,
			map[any]any{kw("person/_address"): id(ann)}},
		{"recursion stops on cycles", []any{kw("person/email"), map[any]any{kw("person/friend"): Symbol("...")}}, ann,
			map[any]any{kw("person/email"): "ann@x", kw("person/friend"): []any{
				map[any]any{kw("person/email"): "bob@x", kw("person/friend"): []any{id(ann)}}}}},
		{"recursion depth 1", []any{kw("person/email"), map[any]any{kw("person/friend"): 1}}, ann,
			map[any]any{kw("person/email"): "ann@x", kw("person/friend"): []any{
				map[any]any{kw("person/email"): "bob@x", kw("person/friend"): []any{id(ann)}}}}},
		{"wildcard pulls components whole", []any{"*"}, ann, map[any]any{
			kw("db/id"): ann, kw("person/email"): "ann@x", kw("person/name"): "Ann",
			kw("person/alias"):   []any{"a", "annie", "nan"},
			kw("person/address"): map[any]any{kw("db/id"): addr, kw("address/city"): "Oslo"},
			kw("person/friend"):  []any{id(bob)}}},
	}
	for _, c := range cases {
		got, err := db.Pull(context.Background(), c.pattern, c.e)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
	if _, err := db.Pull(context.Background(), []any{kw("no/attr")}, ann); err == nil {
		t.Error("unknown attribute accepted")
	}
	if _, err := db.Pull(context.Background(), []any{map[any]any{kw("person/name"): []any{kw("person/name")}}}, ann); err == nil {
		t.Error("sub-pattern on a non-ref accepted")
	}
}

func TestJSONForms(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	ops, err := ParseTxDataJSON([]byte(`[
	  {"~:db/id": "ann", "~:person/email": "ann@x", "~:person/name": "Ann", "~:person/alias": ["a", "~~tilde"]},
	  ["~:db/add", "bob", "~:person/email", "bob@x"],
	  ["~:db/add", "bob", "~:person/friend", "ann"]]`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.With(ctx, ops, TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pat, err := ParsePatternJSON([]byte(`["~:person/name", ["~:person/alias", "~:limit", null], {"~:person/_friend": ["~:person/email"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rep.DBAfter.Pull(ctx, pat, rep.TempIDs["ann"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[any]any{kw("person/name"): "Ann", kw("person/alias"): []any{"a", "~tilde"},
		kw("person/_friend"): []any{map[any]any{kw("person/email"): "bob@x"}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v\nwant %v", m, want)
	}
	if _, err := ParseTxDataJSON([]byte(`[["~:db/add", "x"]`)); err == nil {
		t.Fatal("truncated JSON accepted")
	}
}

func TestCompiledPattern(t *testing.T) {
	ctx := context.Background()
	db := peopleSchema(t)
	rep := mustWith(t, db, Map{ID: TempID("a"), Attrs: []KV{{kw("person/email"), "a@x"}, {kw("person/name"), "A"}}})
	db, a := rep.DBAfter, rep.TempIDs["a"]
	pat, err := db.CompilePattern([]any{kw("person/name")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.PullPattern(ctx, pat, a)
	if err != nil || m[kw("person/name")] != "A" {
		t.Fatalf("%v %v", m, err)
	}
	// After a rename the old name no longer compiles against the new schema.
	db2 := mustWith(t, db, Add{E: kw("person/name"), A: kw("db/ident"), V: kw("person/label")}).DBAfter
	if _, err := db2.PullPattern(ctx, pat, a); err == nil {
		t.Fatal("a pattern naming a renamed attribute pulled against the new schema")
	}
	if _, err := db.CompilePattern([]any{kw("no/such")}); err == nil {
		t.Fatal("unknown attribute compiled")
	}
}
