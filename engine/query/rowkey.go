package query

import "github.com/stratadb/strata/datom"

// Row keys: the values of some columns of a row as a map key. Rows of up
// to three booleans, longs, instants and refs (entity ids: most joins)
// get a fixed-size key that costs no allocation; others get rowKey's
// string. A value's key kind depends on its type only, so equal rows always
// get the same kind of key.

type fixedKey [4]uint64

// fixedKeyOf packs row's cols into a fixedKey, with their types.
func fixedKeyOf(row []datom.Value, cols []int) (fixedKey, bool) {
	var k fixedKey
	if len(cols) > 3 {
		return k, false
	}
	for i, c := range cols {
		bits, ok := row[c].FixedBits()
		if !ok {
			return k, false
		}
		k[0] |= uint64(row[c].Type()) << (8 * i)
		k[i+1] = bits
	}
	k[0] |= uint64(len(cols)) << 32
	return k, true
}

// rowMap maps rows' keys on some columns to values.
type rowMap[V any] struct {
	fixed map[fixedKey]V
	str   map[string]V
}

func newRowMap[V any](n int) *rowMap[V] {
	return &rowMap[V]{fixed: make(map[fixedKey]V, n)}
}

func (m *rowMap[V]) get(row []datom.Value, cols []int) (V, bool) {
	if k, ok := fixedKeyOf(row, cols); ok {
		v, found := m.fixed[k]
		return v, found
	}
	v, found := m.str[rowKey(row, cols)]
	return v, found
}

func (m *rowMap[V]) put(row []datom.Value, cols []int, v V) {
	if k, ok := fixedKeyOf(row, cols); ok {
		m.fixed[k] = v
		return
	}
	if m.str == nil {
		m.str = map[string]V{}
	}
	m.str[rowKey(row, cols)] = v
}

// allCols returns 0..n-1.
func allCols(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
