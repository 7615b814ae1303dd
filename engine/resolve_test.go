package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/edn"
)

func TestEntityOfAndValueOf(t *testing.T) {
	ctx := context.Background()
	rep := mustWith(t, peopleSchema(t), Map{ID: TempID("ann"), Attrs: []KV{{kw("person/email"), "ann@x"}, {kw("person/age"), int64(40)}}})
	db, ann := rep.DBAfter, rep.TempIDs["ann"]
	email, _ := db.Schema().AttrByIdent("person/email")
	age, _ := db.Schema().AttrByIdent("person/age")
	friend, _ := db.Schema().AttrByIdent("person/friend")
	for _, c := range []struct {
		v     any
		want  datom.E
		found bool
	}{
		{ann, ann, true},
		{int64(ann), ann, true},
		{edn.Keyword{Namespace: "person", Name: "email"}, email.ID, true},
		{Keyword("person/age"), age.ID, true},
		{Keyword("no/such"), 0, false},
		{edn.Vector{edn.Keyword{Namespace: "person", Name: "email"}, "ann@x"}, ann, true},
		{[]any{Keyword("person/email"), "bob@x"}, 0, false},
		{LookupRef{Attr: Keyword("person/email"), Value: "ann@x"}, ann, true},
	} {
		e, found, err := db.EntityOf(ctx, c.v)
		if err != nil || found != c.found || e != c.want {
			t.Errorf("EntityOf(%v) = %d, %v, %v; want %d, %v", c.v, e, found, err, c.want, c.found)
		}
	}
	for _, bad := range []any{int64(-1), []any{Keyword("person/age"), int64(40)}, []any{Keyword("person/email")}, 1.5} {
		if _, _, err := db.EntityOf(ctx, bad); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("EntityOf(%v): %v", bad, err)
		}
	}
	if v, err := db.ValueOf(ctx, age.ID, int64(41)); err != nil || v.Long() != 41 {
		t.Fatalf("ValueOf long: %v, %v", v, err)
	}
	if v, err := db.ValueOf(ctx, friend.ID, edn.Vector{edn.Keyword{Namespace: "person", Name: "email"}, "ann@x"}); err != nil || v.Ref() != ann {
		t.Fatalf("ValueOf ref by lookup ref: %v, %v", v, err)
	}
	if _, err := db.ValueOf(ctx, friend.ID, []any{Keyword("person/email"), "bob@x"}); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("ValueOf ref naming nobody: %v", err)
	}
	if _, err := db.ValueOf(ctx, age.ID, "forty"); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("ValueOf of the wrong type: %v", err)
	}
	if _, err := db.ValueOf(ctx, age.ID, datom.String("x")); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("ValueOf of a datom value of the wrong type: %v", err)
	}
}
