package datom

import (
	"cmp"
	"fmt"
	"strings"
)

// Datom is one fact: entity E has value V for attribute A, asserted (Added)
// or retracted by the transaction Tx.
type Datom struct {
	E     E
	A     E
	V     Value
	Tx    E
	Added bool
}

// T is the t of the datom's transaction.
func (d Datom) T() T { return d.Tx.T() }

// String prints d as Datomic does: #datom [e a v tx added].
func (d Datom) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#datom [%d %d ", d.E, d.A)
	d.V.appendEDN(&b)
	fmt.Fprintf(&b, " %d %t]", d.Tx, d.Added)
	return b.String()
}

// Index names a sort order of datoms (a covering index).
type Index uint8

// The covering indexes. VAET holds only datoms whose value is a ref.
const (
	EAVT Index = iota
	AEVT
	AVET
	VAET
	NumIndexes
)

var indexNames = [NumIndexes]string{"eavt", "aevt", "avet", "vaet"}

func (x Index) String() string {
	if x < NumIndexes {
		return indexNames[x]
	}
	return fmt.Sprintf("index(%d)", uint8(x))
}

// IndexByName returns the index named "eavt", ":eavt", "EAVT", … .
func IndexByName(name string) (Index, bool) {
	name = strings.ToLower(strings.TrimPrefix(name, ":"))
	for i, n := range indexNames {
		if n == name {
			return Index(i), true
		}
	}
	return 0, false
}

// Compare orders datoms in index x: by the index's components, then by
// transaction, then retractions before assertions (a transaction never both
// asserts and retracts the same fact, so this only makes the order total).
func Compare(x Index, a, b Datom) int {
	var c int
	switch x {
	case EAVT:
		if c = cmp.Compare(a.E, b.E); c == 0 {
			if c = cmp.Compare(a.A, b.A); c == 0 {
				c = CompareValue(a.V, b.V)
			}
		}
	case AEVT:
		if c = cmp.Compare(a.A, b.A); c == 0 {
			if c = cmp.Compare(a.E, b.E); c == 0 {
				c = CompareValue(a.V, b.V)
			}
		}
	case AVET:
		if c = cmp.Compare(a.A, b.A); c == 0 {
			if c = CompareValue(a.V, b.V); c == 0 {
				c = cmp.Compare(a.E, b.E)
			}
		}
	case VAET:
		if c = CompareValue(a.V, b.V); c == 0 {
			if c = cmp.Compare(a.A, b.A); c == 0 {
				c = cmp.Compare(a.E, b.E)
			}
		}
	default:
		panic(fmt.Sprintf("datom: invariant: Compare in unknown index %d", x))
	}
	if c != 0 {
		return c
	}
	if c = cmp.Compare(a.Tx, b.Tx); c != 0 {
		return c
	}
	switch {
	case a.Added == b.Added:
		return 0
	case !a.Added:
		return -1
	}
	return 1
}
