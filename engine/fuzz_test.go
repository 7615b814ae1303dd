package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/stratadb/strata/anomaly"
)

// FuzzTxData: any input, read as EDN transaction data and transacted
// against a small schema, either commits or fails with a categorized
// error; it never panics, and a failed transaction changes nothing.
func FuzzTxData(f *testing.F) {
	for _, s := range []string{
		`[[:db/add "a" :person/name "Ann"]]`,
		`[{:db/id "a" :person/email "a@x" :person/alias ["x" "y"] :person/friend {:person/email "b@x"}}]`,
		`[[:db/retract [:person/email "a@x"] :person/age]]`,
		`[[:db/cas 17592186045418 :person/age nil 3]]`,
		`[[:db/retractEntity [:person/email "a@x"]]]`,
		`[[:db/add "datomic.tx" :db/doc "x"]]`,
		`[{:db/ident :x/y :db/valueType :db.type/tuple :db/tupleTypes [:db.type/long :db.type/string] :db/cardinality :db.cardinality/one}]`,
		`[[:db/add #db/id[:db.part/user -1] :person/age 1]]`,
		`({:person/_friend "x" :person/email "q@x"})`,
	} {
		f.Add([]byte(s))
	}
	base := peopleSchemaF(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		ops, err := ParseTxDataEDN(src)
		if err != nil {
			if anomaly.CategoryOf(err) != anomaly.Incorrect {
				t.Fatalf("parse error not in the incorrect category: %v", err)
			}
			return
		}
		rep, err := base.With(context.Background(), ops, TxOptions{})
		if err != nil {
			var te *TxError
			if !errors.As(err, &te) {
				t.Fatalf("transaction error without a code: %v", err)
			}
			return
		}
		if rep.DBAfter.BasisT() <= base.BasisT() {
			t.Fatal("basis did not advance")
		}
	})
}

func peopleSchemaF(f *testing.F) *DB {
	ops, err := ParseTxDataEDN([]byte(`[
 {:db/ident :person/email :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
 {:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one}
 {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
 {:db/ident :person/alias :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
 {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
 {:db/ident :person/address :db/valueType :db.type/ref :db/cardinality :db.cardinality/one :db/isComponent true}]`))
	if err != nil {
		f.Fatal(err)
	}
	rep, err := Empty().With(context.Background(), ops, TxOptions{})
	if err != nil {
		f.Fatal(err)
	}
	return rep.DBAfter
}
