package engine

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

type kw = Keyword

func attr(ident string, typ datom.Type, many bool, extra ...KV) Map {
	card := kw("db.cardinality/one")
	if many {
		card = kw("db.cardinality/many")
	}
	m := Map{Attrs: []KV{{kw("db/ident"), kw(ident)}, {kw("db/valueType"), kw(typ.Ident())}, {kw("db/cardinality"), card}}}
	m.Attrs = append(m.Attrs, extra...)
	return m
}

var clock = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

func mustWith(t *testing.T, db *DB, ops ...Op) *TxReport {
	t.Helper()
	clock = clock.Add(time.Second)
	rep, err := db.With(context.Background(), ops, TxOptions{Now: clock})
	if err != nil {
		t.Fatalf("transaction failed: %v", err)
	}
	return rep
}

func wantCode(t *testing.T, db *DB, code Code, cat anomaly.Category, ops ...Op) {
	t.Helper()
	_, err := db.With(context.Background(), ops, TxOptions{Now: clock})
	var te *TxError
	if !errors.As(err, &te) || te.Code != code {
		t.Fatalf("got %v, want a %s error", err, code)
	}
	if !errors.Is(err, cat) {
		t.Fatalf("%v: category %s, want %s", err, te.Category(), cat)
	}
}

func peopleSchema(t *testing.T) *DB {
	return mustWith(t, Empty(),
		attr("person/email", datom.TypeString, false, KV{kw("db/unique"), kw("db.unique/identity")}),
		attr("person/name", datom.TypeString, false),
		attr("person/age", datom.TypeLong, false),
		attr("person/alias", datom.TypeString, true),
		attr("person/friend", datom.TypeRef, true),
		attr("person/ssn", datom.TypeString, false, KV{kw("db/unique"), kw("db.unique/value")}),
		attr("person/address", datom.TypeRef, false, KV{kw("db/isComponent"), true}),
		attr("address/city", datom.TypeString, false),
	).DBAfter
}

func values(t *testing.T, db *DB, e datom.E, a string) []datom.Value {
	t.Helper()
	at, ok := db.Schema().AttrByIdent(a)
	if !ok {
		t.Fatalf("no attribute %s", a)
	}
	var out []datom.Value
	for d, err := range db.Datoms(context.Background(), datom.EAVT, Components{E: e, HasE: true, A: at.ID, HasA: true}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.V)
	}
	return out
}

func TestTransactBasics(t *testing.T) {
	db := peopleSchema(t)
	rep := mustWith(t, db,
		Map{ID: TempID("ann"), Attrs: []KV{{kw("person/email"), "ann@x"}, {kw("person/name"), "Ann"}, {kw("person/age"), int64(30)},
			{kw("person/alias"), []any{"a", "annie"}}, {kw("person/address"), Map{Attrs: []KV{{kw("address/city"), "Oslo"}}}}}},
		Add{E: TempID("bob"), A: kw("person/email"), V: "bob@x"},
		Add{E: TempID("bob"), A: kw("person/friend"), V: TempID("ann")},
	)
	ann, bob := rep.TempIDs["ann"], rep.TempIDs["bob"]
	if ann == 0 || bob == 0 || ann == bob || ann.Part() != datom.PartUser {
		t.Fatalf("tempids %v", rep.TempIDs)
	}
	db1 := rep.DBAfter
	if got := values(t, db1, ann, "person/alias"); len(got) != 2 {
		t.Fatalf("aliases %v", got)
	}
	// Upsert through the identity attribute; card-one replaces the age.
	rep2 := mustWith(t, db1, Map{Attrs: []KV{{kw("person/email"), "ann@x"}, {kw("person/age"), int64(31)}}})
	db2 := rep2.DBAfter
	if got := values(t, db2, ann, "person/age"); len(got) != 1 || got[0].Long() != 31 {
		t.Fatalf("age after upsert %v", got)
	}
	retracted := 0
	for _, d := range rep2.TxData {
		if !d.Added {
			retracted++
		}
	}
	if retracted != 1 {
		t.Fatalf("tx-data %v: want one retraction of the old age", rep2.TxData)
	}
	// Redundant assertion: only the tx instant is new.
	rep3 := mustWith(t, db2, Add{E: LookupRef{kw("person/email"), "ann@x"}, A: kw("person/name"), V: "Ann"})
	if len(rep3.TxData) != 1 || rep3.TxData[0].A != eTxInstant {
		t.Fatalf("redundant datom kept: %v", rep3.TxData)
	}
	// As-of and history.
	if got := values(t, db2.AsOf(db1.BasisT()), ann, "person/age"); len(got) != 1 || got[0].Long() != 30 {
		t.Fatalf("as-of age %v", got)
	}
	if got := values(t, db2.History(), ann, "person/age"); len(got) != 3 {
		t.Fatalf("history of age %v, want assert 30, retract 30, assert 31", got)
	}
	if got := values(t, db2.Since(db1.BasisT()), ann, "person/age"); len(got) != 1 || got[0].Long() != 31 {
		t.Fatalf("since age %v", got)
	}
	if got := values(t, db2.Since(db1.BasisT()), ann, "person/name"); len(got) != 0 {
		t.Fatalf("since name %v", got)
	}
	// CAS.
	wantCode(t, db2, CodeCASFailed, anomaly.Conflict, CAS{E: ann, A: kw("person/age"), Old: int64(30), New: int64(32)})
	db4 := mustWith(t, db2, CAS{E: ann, A: kw("person/age"), Old: int64(31), New: int64(32)}).DBAfter
	wantCode(t, db4, CodeCASFailed, anomaly.Conflict, CAS{E: ann, A: kw("person/ssn"), Old: "1", New: "2"})
	db4 = mustWith(t, db4, CAS{E: ann, A: kw("person/ssn"), Old: nil, New: "123"}).DBAfter
	// Unique value conflict.
	wantCode(t, db4, CodeUniqueConflict, anomaly.Conflict, Add{E: bob, A: kw("person/ssn"), V: "123"})
	// Retract entity: components go, refs to it go.
	addr := values(t, db4, ann, "person/address")[0].Ref()
	db5 := mustWith(t, db4, RetractEntity{E: ann}).DBAfter
	if got := values(t, db5, addr, "address/city"); len(got) != 0 {
		t.Fatalf("component survived: %v", got)
	}
	if got := values(t, db5, bob, "person/friend"); len(got) != 0 {
		t.Fatalf("ref to retracted entity survived: %v", got)
	}
	if got := values(t, db5.AsOf(db4.BasisT()), addr, "address/city"); len(got) != 1 {
		t.Fatalf("as-of before retractEntity: %v", got)
	}
}

func TestTransactErrors(t *testing.T) {
	db := peopleSchema(t)
	wantCode(t, db, CodeNotAnAttribute, anomaly.Incorrect, Add{E: TempID("x"), A: kw("no/such"), V: 1})
	wantCode(t, db, CodeWrongType, anomaly.Incorrect, Add{E: TempID("x"), A: kw("person/age"), V: "old"})
	wantCode(t, db, CodeDatomsConflict, anomaly.Incorrect,
		Add{E: TempID("x"), A: kw("person/age"), V: int64(1)}, Add{E: TempID("x"), A: kw("person/age"), V: int64(2)})
	wantCode(t, db, CodeNotAnEntity, anomaly.Incorrect,
		Add{E: LookupRef{kw("person/email"), "nobody"}, A: kw("person/age"), V: int64(1)})
	wantCode(t, db, CodeValueLimit, anomaly.Incorrect,
		Add{E: TempID("x"), A: kw("person/name"), V: string(make([]byte, 5000))})
	wantCode(t, db, CodeSchema, anomaly.Incorrect,
		Add{E: kw("person/age"), A: kw("db/valueType"), V: kw("db.type/string")})
	wantCode(t, db, CodeUnknownFunction, anomaly.NotFound, Call{Fn: "nope"})
	wantCode(t, db, CodeNotAnEntity, anomaly.Incorrect, Add{E: datom.MakeE(datom.PartUser, 999999), A: kw("person/age"), V: int64(1)})
}

func TestSchemaChanges(t *testing.T) {
	db := peopleSchema(t)
	// Rename, cardinality, noHistory are allowed.
	db = mustWith(t, db, Add{E: kw("person/name"), A: kw("db/ident"), V: kw("person/full-name")},
		Add{E: kw("person/age"), A: kw("db/cardinality"), V: kw("db.cardinality/many")},
		Add{E: kw("person/alias"), A: kw("db/noHistory"), V: true}).DBAfter
	if _, ok := db.Schema().AttrByIdent("person/full-name"); !ok {
		t.Fatal("rename lost")
	}
	if _, ok := db.Schema().AttrByIdent("person/name"); ok {
		t.Fatal("old name still resolves")
	}
	if at, _ := db.Schema().AttrByIdent("person/age"); !at.Many {
		t.Fatal("cardinality change lost")
	}
	e := mustWith(t, db, Add{E: TempID("p"), A: kw("person/alias"), V: "x"}).TempIDs["p"]
	_ = e
}

func TestTxFunctionAndInstant(t *testing.T) {
	db := peopleSchema(t)
	inc := func(db *DB, args []any) ([]Op, error) {
		e := args[0].(datom.E)
		var n int64
		at, _ := db.Schema().AttrByIdent("person/age")
		for d, err := range db.Datoms(context.Background(), datom.EAVT, Components{E: e, HasE: true, A: at.ID, HasA: true}) {
			if err != nil {
				return nil, err
			}
			n = d.V.Long()
		}
		return []Op{Add{E: e, A: kw("person/age"), V: n + 1}}, nil
	}
	rep := mustWith(t, db, Add{E: TempID("p"), A: kw("person/age"), V: int64(1)})
	p := rep.TempIDs["p"]
	db = rep.DBAfter
	clock = clock.Add(time.Second)
	rep, err := db.With(context.Background(), []Op{Call{Fn: "inc", Args: []any{p}}, Add{E: TxTempID, A: kw("db/doc"), V: "bumped"}},
		TxOptions{Now: clock, Funcs: map[string]TxFunc{"inc": inc}})
	if err != nil {
		t.Fatal(err)
	}
	if got := values(t, rep.DBAfter, p, "person/age"); got[0].Long() != 2 {
		t.Fatalf("age %v", got)
	}
	txE := datom.TxE(rep.DBAfter.BasisT())
	if got := values(t, rep.DBAfter, txE, "db/doc"); len(got) != 1 {
		t.Fatalf("reified tx attribute: %v", got)
	}
	// An explicit instant earlier than the last is refused.
	wantCode(t, rep.DBAfter, CodeTxInstant, anomaly.Incorrect,
		Add{E: TxTempID, A: kw("db/txInstant"), V: clock.Add(-time.Hour)})
	if !slices.IsSortedFunc(rep.TxData, func(a, b datom.Datom) int { return datom.Compare(datom.EAVT, a, b) }) {
		t.Fatal("tx-data not sorted")
	}
}
