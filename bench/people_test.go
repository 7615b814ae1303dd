package bench

import (
	"slices"
	"testing"
)

// TestPeopleWorkload checks the generator's contract: the same seed gives
// the same data (the Datascript reference and strata must see one
// workload), and the shapes BenchmarkPeople relies on hold.
func TestPeopleWorkload(t *testing.T) {
	const n = 2000
	a, b := NewPeopleWorkload(n, PeopleSeed), NewPeopleWorkload(n, PeopleSeed)
	ja, err := a.JSON()
	if err != nil {
		t.Fatal(err)
	}
	jb, err := b.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(ja) != string(jb) {
		t.Fatal("two workloads from one seed differ")
	}
	for i, p := range a.People {
		if p.FullName != p.Name+" "+p.LastName || p.Age < 0 || p.Age >= 100 || p.Salary < 0 || p.Salary >= 100000 ||
			(p.Sex != "male" && p.Sex != "female") || len(p.Alias) > 9 {
			t.Fatalf("person %d: %+v", i, p)
		}
		sorted := slices.Clone(p.Alias)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(p.Alias) {
			t.Fatalf("person %d has a duplicate alias: %v", i, p.Alias)
		}
	}
	perm := slices.Clone(a.RetractOrder)
	slices.Sort(perm)
	for i, v := range perm {
		if v != i {
			t.Fatalf("retract order is not a permutation of the people")
		}
	}
	ids := slices.Clone(a.SliceIDs)
	slices.Sort(ids)
	if len(ids) != min(PeopleSliceIDs, n) || len(slices.Compact(ids)) != len(a.SliceIDs) || ids[len(ids)-1] >= n {
		t.Fatalf("slice ids: %d, want %d distinct people", len(a.SliceIDs), min(PeopleSliceIDs, n))
	}
	// (wide-db 4 5): 1 + 5 + 25 + 125 + 625 entities, every id once,
	// each inner node following its 5 children.
	if len(a.Tree) != 781 || a.Tree[0].ID != 1 {
		t.Fatalf("tree of %d nodes, root %d", len(a.Tree), a.Tree[0].ID)
	}
	seen := map[int]bool{}
	followed := 0
	for _, nd := range a.Tree {
		if seen[nd.ID] {
			t.Fatalf("tree id %d twice", nd.ID)
		}
		seen[nd.ID] = true
		if len(nd.Follows) != 0 && len(nd.Follows) != PeopleTreeWidth {
			t.Fatalf("node %d follows %v", nd.ID, nd.Follows)
		}
		followed += len(nd.Follows)
	}
	if followed != len(a.Tree)-1 {
		t.Fatalf("%d follows in a tree of %d", followed, len(a.Tree))
	}
	for _, nd := range a.Tree {
		for _, c := range nd.Follows {
			if !seen[c] {
				t.Fatalf("node %d follows %d, not in the tree", nd.ID, c)
			}
		}
	}
}
