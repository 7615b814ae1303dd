package engine

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stratadb/strata/datom"
)

// The memory layer's per-index orders are datom.Compare written out on
// pointers: they must agree with it on every pair.
func TestLessIndexAgreesWithCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	values := []datom.Value{
		datom.Long(-1), datom.Long(3), datom.String("a"), datom.String("b"), datom.Keyword("k/a"),
		datom.Ref(1000), datom.Ref(1001), datom.Boolean(true), datom.Double(0.5), datom.BigInt(big.NewInt(7)),
		datom.Tuple(datom.Long(1), datom.String("x")), datom.Tuple(datom.Long(1)),
	}
	ds := make([]datom.Datom, 400)
	for i := range ds {
		ds[i] = datom.Datom{
			E: datom.E(1000 + rng.IntN(3)), A: datom.E(50 + rng.IntN(3)), V: values[rng.IntN(len(values))],
			Tx: datom.TxE(datom.T(rng.IntN(3))), Added: rng.IntN(2) == 0,
		}
	}
	for x := range datom.NumIndexes {
		for i := range ds {
			for j := range ds {
				a, b := &entry{d: ds[i]}, &entry{d: ds[j]}
				if got, want := lessIndex[x](a, b), datom.Compare(x, ds[i], ds[j]) < 0; got != want {
					t.Fatalf("%s: less(%s, %s) = %v, Compare says %v", x, ds[i], ds[j], got, want)
				}
			}
		}
	}
}
