package bench

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
)

// The "people" workload of Datascript's own benchmark suite (tonsky's
// datascript bench: bench/datascript/bench/bench.cljc and datascript.cljc in
// the Datascript repository), generated in Go so that strata and the
// Datascript reference (bench/datascript/people.mjs) transact and read
// exactly the same data: the Go benchmark hands it to the node script as
// JSON (PeopleWorkload.MarshalJSON's shape).
//
// What follows Datascript's generator (random-man) and what does not:
//
//   - name, last-name: drawn from the same 8 first names and 6 last names;
//     full-name is name + " " + last-name.
//   - alias: rand-int 10 draws from the same 11 pen names; Datascript keeps
//     the duplicates in its vector and its cardinality-many set drops them,
//     so we drop them here (first occurrence kept) to hand both databases
//     the same distinct values. A person with no alias has no alias datom.
//   - sex: the keyword :male or :female.
//   - age: rand-int 100; salary: rand-int 100000.
//   - Datascript draws with Clojure's unseeded rand; we draw from a PCG
//     seeded with PeopleSeed, so every run has the same data.
//   - The schema: alias is cardinality many, follows a cardinality-many ref
//     (as Datascript's bench). Datascript's latest bench also declares an :id
//     unique attribute its generator does not use in the people tasks; it is
//     left out.
//
// 20,000 people give 191,763 datoms with PeopleSeed (6 per person plus 3.6 distinct aliases on
// average). Datascript's bench calls its database "db100k" from the time its
// people had five attributes; the add-1 task still transacts those five.

// PeopleSeed seeds the generator of the people workload.
const PeopleSeed = 20140426

// PeopleCount is how many people the workload has (Datascript's people20k).
const PeopleCount = 20_000

// PeopleSliceIDs is how many entities the slice-eavt task reads
// (Datascript's ids10k).
const PeopleSliceIDs = 10_000

// Wide tree of the pull tasks (Datascript's (wide-db 4 5)): every entity
// down to depth 4 follows 5 others, 781 entities in all.
const (
	PeopleTreeDepth = 4
	PeopleTreeWidth = 5
)

var (
	peopleNames     = []string{"Ivan", "Petr", "Sergei", "Oleg", "Yuri", "Dmitry", "Fedor", "Denis"}
	peopleLastNames = []string{"Ivanov", "Petrov", "Sidorov", "Kovalev", "Kuznetsov", "Voronoi"}
	peopleAliases   = []string{"A. C. Q. W.", "A. J. Finn", "A.A. Fair", "Aapeli", "Aaron Wolfe", "Abigail Van Buren",
		"Jeanne Phillips", "Abram Tertz", "Abu Nuwas", "Acton Bell", "Adunis"}
)

// Person is one person of the workload. Sex is a keyword's name ("male"):
// a keyword value in both databases.
type Person struct {
	Name     string   `json:"name"`
	LastName string   `json:"last-name"`
	FullName string   `json:"full-name"`
	Alias    []string `json:"alias,omitempty"`
	Sex      string   `json:"sex"`
	Age      int64    `json:"age"`
	Salary   int64    `json:"salary"`
}

// TreeNode is one entity of the pull tasks' wide tree. ID is Datascript's
// entity number for it (the root is 1, the children of n are n·width+0 …
// n·width+width-1); Person is the index of the person whose attributes it
// has; Follows are the IDs of its children.
type TreeNode struct {
	ID      int   `json:"id"`
	Person  int   `json:"person"`
	Follows []int `json:"follows,omitempty"`
}

// PeopleWorkload is the data of every task; see BenchmarkPeople for the
// tasks.
type PeopleWorkload struct {
	People []Person `json:"people"`
	// RetractOrder is the order in which retract-5 retracts the people,
	// as indexes into People (Datascript's shuffled :name entities).
	RetractOrder []int `json:"retractOrder"`
	// SliceIDs are the people slice-eavt reads, as indexes into People
	// (Datascript's ids10k: 10,000 distinct entities, shuffled).
	SliceIDs []int `json:"sliceIds"`
	// Tree is the wide tree of the pull tasks, in Datascript's order
	// (depth first, parents before children).
	Tree []TreeNode `json:"tree"`
}

// NewPeopleWorkload generates the workload from seed: n people, the
// retraction order, the slice ids (min(PeopleSliceIDs, n) of them) and the
// wide tree (whose nodes take the first people).
func NewPeopleWorkload(n int, seed uint64) *PeopleWorkload {
	rng := rand.New(rand.NewPCG(seed, 0x7065_6f70_6c65)) // "people"
	w := &PeopleWorkload{People: make([]Person, n)}
	for i := range w.People {
		w.People[i] = NewPerson(rng)
	}
	w.RetractOrder = rng.Perm(n)
	w.SliceIDs = rng.Perm(n)[:min(PeopleSliceIDs, n)]
	next := 0
	var grow func(id, depth int)
	grow = func(id, depth int) {
		node := TreeNode{ID: id, Person: next % n}
		next++
		if depth > 0 {
			for k := range PeopleTreeWidth {
				node.Follows = append(node.Follows, id*PeopleTreeWidth+k)
			}
		}
		w.Tree = append(w.Tree, node)
		if depth > 0 {
			for _, c := range node.Follows {
				grow(c, depth-1)
			}
		}
	}
	grow(1, PeopleTreeDepth)
	return w
}

// NewPerson draws one person as Datascript's random-man does (see the
// package comment for the differences).
func NewPerson(rng *rand.Rand) Person {
	name := peopleNames[rng.IntN(len(peopleNames))]
	last := peopleLastNames[rng.IntN(len(peopleLastNames))]
	p := Person{Name: name, LastName: last, FullName: name + " " + last}
	for range rng.IntN(10) {
		a := peopleAliases[rng.IntN(len(peopleAliases))]
		if !slices.Contains(p.Alias, a) {
			p.Alias = append(p.Alias, a)
		}
	}
	p.Sex = []string{"male", "female"}[rng.IntN(2)]
	p.Age = int64(rng.IntN(100))
	p.Salary = int64(rng.IntN(100000))
	return p
}

// Datoms is how many datoms of the people attributes a database holding
// every person has.
func (w *PeopleWorkload) Datoms() int {
	n := 0
	for _, p := range w.People {
		n += 6 + len(p.Alias)
	}
	return n
}

// JSON is the workload as the node script reads it.
func (w *PeopleWorkload) JSON() ([]byte, error) { return json.Marshal(w) }
