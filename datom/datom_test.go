package datom

import (
	"math/big"
	"slices"
	"testing"
)

func TestCompareMatchesReference(t *testing.T) {
	r := newRand(t)
	for x := range NumIndexes {
		for range 100000 {
			a, b := randDatom(r), randDatom(r)
			// Share components often, so later ones get compared.
			if r.IntN(2) == 0 {
				b.E = a.E
			}
			if r.IntN(2) == 0 {
				b.A = a.A
			}
			if r.IntN(2) == 0 {
				b.V = a.V
			}
			if r.IntN(2) == 0 {
				b.Tx = a.Tx
			}
			c := Compare(x, a, b)
			if want := refCompare(x, a, b); sign(c) != want {
				t.Fatalf("%v: Compare(%v, %v) = %d, want %d", x, a, b, c, want)
			}
			if back := Compare(x, b, a); sign(back) != -sign(c) {
				t.Fatalf("%v: Compare not antisymmetric on %v, %v", x, a, b)
			}
		}
	}
}

func TestCompareComponentOrder(t *testing.T) {
	// Lowering a more significant component and raising a less
	// significant one gives a smaller datom: the ranks of each index.
	type component struct {
		name        string
		lower, rise func(*Datom)
	}
	comp := map[byte]component{
		'e': {"e", func(d *Datom) { d.E-- }, func(d *Datom) { d.E++ }},
		'a': {"a", func(d *Datom) { d.A-- }, func(d *Datom) { d.A++ }},
		'v': {"v", func(d *Datom) { d.V = Long(d.V.Long() - 1) }, func(d *Datom) { d.V = Long(d.V.Long() + 1) }},
		't': {"tx", func(d *Datom) { d.Tx-- }, func(d *Datom) { d.Tx++ }},
		'+': {"added", func(d *Datom) { d.Added = false }, func(d *Datom) { d.Added = true }},
	}
	for x, order := range map[Index]string{EAVT: "eavt+", AEVT: "aevt+", AVET: "avet+", VAET: "vaet+"} {
		for i := range len(order) {
			for j := i + 1; j < len(order); j++ {
				base := Datom{E: 5, A: 5, V: Long(5), Tx: 5, Added: false}
				d := base
				comp[order[i]].lower(&d)
				comp[order[j]].rise(&d) // added: false to true
				if Compare(x, d, base) >= 0 || Compare(x, base, d) <= 0 {
					t.Errorf("%v: %s is not more significant than %s: %v vs %v", x, comp[order[i]].name, comp[order[j]].name, d, base)
				}
			}
		}
	}
	d := Datom{E: 1, A: 2, V: Long(3), Tx: 4, Added: true}
	if Compare(EAVT, d, d) != 0 {
		t.Error("a datom differs from itself")
	}
}

func TestIndexNames(t *testing.T) {
	for x := range NumIndexes {
		for _, name := range []string{x.String(), ":" + x.String(), upper(x.String())} {
			got, ok := IndexByName(name)
			if !ok || got != x {
				t.Errorf("IndexByName(%q) = %v, %v", name, got, ok)
			}
		}
	}
	if _, ok := IndexByName("xyzt"); ok {
		t.Error("unknown index name accepted")
	}
	if NumIndexes.String() != "index(4)" {
		t.Errorf("unknown index prints %q", NumIndexes.String())
	}
	defer func() {
		if recover() == nil {
			t.Error("Compare in an unknown index did not panic")
		}
	}()
	Compare(NumIndexes, Datom{}, Datom{})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestDatomString(t *testing.T) {
	d := Datom{E: 17592186045418, A: 72, V: BigDec(big.NewInt(110), 2), Tx: TxE(1000), Added: false}
	if got, want := d.String(), "#datom [17592186045418 72 1.10M 13194139534312 false]"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestSortPeople(t *testing.T) {
	// A sorted index is sorted by the reference as well.
	p := makePeople(500, 1)
	for x := range NumIndexes {
		ds := p.sorted(x)
		if !slices.IsSortedFunc(ds, func(a, b Datom) int { return refCompare(x, a, b) }) {
			t.Errorf("%v: Compare's order disagrees with the reference", x)
		}
	}
}
