package query

import (
	"testing"

	"github.com/stratadb/strata/datom"
)

// Row keys tell apart what EqualValue tells apart: a long and a ref of the
// same bits, a boolean and a long, rows of different lengths; strings and
// floats take the string key, and the two kinds never mix up rows.
func TestRowMap(t *testing.T) {
	m := newRowMap[int](0)
	rows := [][]datom.Value{
		{datom.Long(1)}, {datom.Ref(1)}, {datom.Boolean(true)}, {datom.InstantMillis(1)},
		{datom.Long(1), datom.Long(2)}, {datom.Long(2), datom.Long(1)}, {datom.Long(1), datom.Long(2), datom.Long(3)},
		{datom.String("1")}, {datom.Double(1)}, {datom.Long(1), datom.String("x")}, {datom.String("x"), datom.Long(1)},
		{datom.Long(1), datom.Long(2), datom.Long(3), datom.Long(4)},
	}
	for i, r := range rows {
		cols := allCols(len(r))
		if _, ok := m.get(r, cols); ok {
			t.Fatalf("row %d %v found before it was put", i, r)
		}
		m.put(r, cols, i)
	}
	for i, r := range rows {
		// A copy of the row finds the same entry.
		c := append([]datom.Value(nil), r...)
		if v, ok := m.get(c, allCols(len(c))); !ok || v != i {
			t.Fatalf("row %d %v: %d, %v", i, r, v, ok)
		}
	}
	if len(m.fixed) != 7 || len(m.str) != 5 {
		t.Fatalf("%d fixed keys, %d string keys", len(m.fixed), len(m.str))
	}
}
