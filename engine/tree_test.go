package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
)

// testStore is the embedded default: a directory store of record with a
// memory tier in front, through cachetiers.Stratified. The directory is on
// tmpfs (/dev/shm) where there is one: the store fsyncs every segment, and
// the randomized tests write thousands of small ones, which on the disk of
// a shared VM costs minutes of waiting and tests nothing more.
func testStore(t testing.TB) *cachetiers.Stratified {
	t.Helper()
	root := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "strata-engine-test-"); err == nil {
			root = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	if root == "" {
		root = t.TempDir()
	}
	dir, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: []cachetiers.Tier{dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomDatoms(rng *rand.Rand, n int, t0 datom.T) []datom.Datom {
	ds := make([]datom.Datom, n)
	for i := range ds {
		var v datom.Value
		switch rng.IntN(3) {
		case 0:
			v = datom.Long(rng.Int64N(1000))
		case 1:
			v = datom.String(fmt.Sprint("s", rng.IntN(500)))
		default:
			v = datom.Ref(datom.MakeE(datom.PartUser, uint64(rng.IntN(5000))))
		}
		ds[i] = datom.Datom{E: datom.MakeE(datom.PartUser, uint64(rng.IntN(5000))), A: datom.E(100 + rng.IntN(8)), V: v,
			Tx: datom.TxE(t0 + datom.T(rng.IntN(100))), Added: true}
	}
	return ds
}

func sortUnique(x datom.Index, ds []datom.Datom) []datom.Datom {
	slices.SortFunc(ds, func(a, b datom.Datom) int { return datom.Compare(x, a, b) })
	return slices.CompactFunc(ds, func(a, b datom.Datom) bool { return datom.Compare(x, a, b) == 0 })
}

func collect(t *testing.T, io *treeIO, root TreeRef, probe *datom.Datom) []datom.Datom {
	t.Helper()
	var out []datom.Datom
	if err := io.ascend(context.Background(), root, probe, func(d datom.Datom) bool { out = append(out, d); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTreeBuildMergeAscend(t *testing.T) {
	ctx := context.Background()
	store := testStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	// Small nodes so that a few thousand datoms make a tree of height 2+.
	opts := TreeOptions{ChunkDatoms: 8, LeafDatoms: 64, Fanout: 4}
	for _, x := range []datom.Index{datom.EAVT, datom.AVET} {
		model := sortUnique(x, randomDatoms(rng, 3000, 1))
		root, err := BuildTree(ctx, store, opts, x, model)
		if err != nil {
			t.Fatal(err)
		}
		if root.Count != uint64(len(model)) || root.Height < 2 {
			t.Fatalf("%s: root %v for %d datoms", x, root, len(model))
		}
		io, _ := newTreeIO(store, opts, x)
		if got := collect(t, io, root, nil); !slices.EqualFunc(got, model, datomEq) {
			t.Fatalf("%s: full scan differs", x)
		}
		for round := range 20 {
			// Seeks from random probes, present or not.
			for range 20 {
				p := randomDatoms(rng, 1, 1)[0]
				if rng.IntN(2) == 0 {
					p = model[rng.IntN(len(model))]
				}
				i, _ := slices.BinarySearchFunc(model, p, func(a, b datom.Datom) int { return datom.Compare(x, a, b) })
				if got := collect(t, io, root, &p); !slices.EqualFunc(got, model[i:], datomEq) {
					t.Fatalf("%s round %d: seek to %v: got %d datoms, want %d", x, round, p, len(got), len(model)-i)
				}
			}
			// A small change touches few leaves.
			adds := sortUnique(x, randomDatoms(rng, 1+rng.IntN(20), datom.T(100*round+200)))
			var dels []datom.Datom
			for range rng.IntN(30) {
				dels = append(dels, model[rng.IntN(len(model))])
			}
			dels = sortUnique(x, dels)
			newRoot, st, err := MergeTree(ctx, store, opts, x, root, adds, dels)
			if err != nil {
				t.Fatal(err)
			}
			model = mergeSorted(x, model, adds, dels)
			if newRoot.Count != uint64(len(model)) {
				t.Fatalf("%s round %d: count %d, want %d", x, round, newRoot.Count, len(model))
			}
			if got := collect(t, io, newRoot, nil); !slices.EqualFunc(got, model, datomEq) {
				t.Fatalf("%s round %d: scan after merge differs", x, round)
			}
			if st.LeavesKept == 0 || st.LeavesWritten > 2*(len(adds)+len(dels))+2 {
				t.Fatalf("%s round %d: %d changes rewrote %d leaves, kept %d: not copy-on-write", x, round, len(adds)+len(dels), st.LeavesWritten, st.LeavesKept)
			}
			// The old root still reads the old tree (immutability).
			if root.Count > 0 && len(collect(t, io, root, nil)) != int(root.Count) {
				t.Fatalf("%s: old root changed", x)
			}
			root = newRoot
		}
		// Deleting everything empties the tree.
		empty, _, err := MergeTree(ctx, store, opts, x, root, nil, model)
		if err != nil {
			t.Fatal(err)
		}
		if !empty.IsEmpty() {
			t.Fatalf("%s: deleting every datom left %v", x, empty)
		}
	}
}

func datomEq(a, b datom.Datom) bool { return datom.Compare(datom.EAVT, a, b) == 0 }
