package engine

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stratadb/strata/internal/race"

	"github.com/stratadb/strata/datom"
)

// The differential test: random transactions against the engine, indexed
// into persistent trees and reopened from their root at random points, and
// every index under every view (current, as-of, since, history, and as-of
// with since) compared with a brute-force model computed from the log of
// tx-data alone (every datom in a slice).

type model struct{ log []datom.Datom }

// view returns the datoms a view holds, unsorted.
func (m *model) view(basis datom.T, asOf, since datom.T, hasAsOf, hasSince, history bool) []datom.Datom {
	inTime := func(d datom.Datom) bool {
		return (!hasAsOf || d.T() <= asOf) && (!hasSince || d.T() > since)
	}
	if history {
		var out []datom.Datom
		for _, d := range m.log {
			if inTime(d) {
				out = append(out, d)
			}
		}
		return out
	}
	limit := basis
	if hasAsOf {
		limit = min(asOf, basis)
	}
	last := map[factKey]datom.Datom{}
	var order []factKey
	for _, d := range m.log {
		if d.T() > limit {
			continue
		}
		k := keyOf(d.E, d.A, d.V)
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = d
	}
	var out []datom.Datom
	for _, k := range order {
		d := last[k]
		if d.Added && (!hasSince || d.T() > since) {
			out = append(out, d)
		}
	}
	return out
}

func TestDifferential(t *testing.T) {
	// Single-goroutine work the race detector only slows (tenfold): fewer
	// seeds under -race; make test's race-free pass runs them all.
	seeds := 6
	if testing.Short() || race.Enabled {
		seeds = 2
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { differential(t, uint64(seed)) })
	}
}

func differential(t *testing.T, seed uint64) {
	// Odd seeds fork by layering only, even ones copy small values.
	if seed%2 == 1 {
		defer func(n int) { copyForkMax = n }(copyForkMax)
		copyForkMax = 0
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	store := testStore(t)
	treeOpts := TreeOptions{ChunkDatoms: 8, LeafDatoms: 64, Fanout: 8}
	db := Empty()
	m := &model{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A follower replays every transaction of the chain from the log
	// (ApplyTx) and must hold what the chain holds.
	follower := Empty()
	var followers []*DB
	with := func(ops ...Op) (*TxReport, error) {
		now = now.Add(time.Millisecond)
		rep, err := db.With(context.Background(), ops, TxOptions{Now: now, Preds: modelPreds})
		if err == nil {
			m.log = append(m.log, rep.TxData...)
			db = rep.DBAfter
			entry := TxEntry{T: db.BasisT(), NextN: db.NextN(), Data: rep.TxData}
			if follower, err = follower.ApplyTx(context.Background(), entry, nil); err != nil {
				t.Fatalf("follower: %v", err)
			}
			if !slices.EqualFunc(allDatoms(t, follower), allDatoms(t, db), datomEq) {
				t.Fatalf("the follower at %d differs from the chain", follower.BasisT())
			}
		}
		return rep, err
	}
	if _, err := with(
		attr("t/email", datom.TypeString, false, KV{kw("db/unique"), kw("db.unique/identity")}),
		attr("t/name", datom.TypeString, false),
		attr("t/age", datom.TypeLong, false, KV{kw("db.attr/preds"), Symbol("t/small-age?")}),
		attr("t/tag", datom.TypeKeyword, true),
		attr("t/friend", datom.TypeRef, true),
		attr("t/best", datom.TypeRef, false),
	); err != nil {
		t.Fatal(err)
	}
	// A composite of name and age, unique: its conflicts and the age
	// predicate fail transactions after they wrote their memory layer,
	// which must take the writes back.
	if _, err := with(attr("t/name+age", datom.TypeTuple, false, KV{kw("db/tupleAttrs"), []any{kw("t/name"), kw("t/age")}},
		KV{kw("db/unique"), kw("db.unique/value")})); err != nil {
		t.Fatal(err)
	}
	// The schema transaction is in the log too; keep the bootstrap out of
	// the model by comparing user attributes only (below).
	var ents []datom.E
	var dbs []*DB
	pick := func() Entity {
		if len(ents) == 0 || rng.IntN(5) == 0 {
			return TempID(fmt.Sprint("n", rng.IntN(3)))
		}
		return ents[rng.IntN(len(ents))]
	}
	tags := []Keyword{"k/a", "k/b", "k/c", "k/d"}
	for step := range 150 {
		var ops []Op
		for range 1 + rng.IntN(4) {
			e := pick()
			switch rng.IntN(9) {
			case 0:
				ops = append(ops, Add{E: e, A: kw("t/email"), V: fmt.Sprint("e", rng.IntN(6))})
			case 1:
				ops = append(ops, Add{E: e, A: kw("t/name"), V: fmt.Sprint("name", rng.IntN(4))})
			case 2:
				ops = append(ops, Add{E: e, A: kw("t/age"), V: int64(rng.IntN(5))})
			case 3:
				ops = append(ops, Add{E: e, A: kw("t/tag"), V: tags[rng.IntN(len(tags))]})
			case 4:
				ops = append(ops, Add{E: e, A: kw("t/friend"), V: pick()})
			case 5:
				ops = append(ops, Add{E: e, A: kw("t/best"), V: pick()})
			case 6:
				if id, ok := e.(datom.E); ok {
					ops = append(ops, Retract{E: id, A: kw("t/tag"), V: tags[rng.IntN(len(tags))]})
				}
			case 7:
				if id, ok := e.(datom.E); ok {
					ops = append(ops, Retract{E: id, A: kw("t/age")})
				}
			case 8:
				if id, ok := e.(datom.E); ok && rng.IntN(3) == 0 {
					ops = append(ops, RetractEntity{E: id})
				}
			}
		}
		if len(ops) == 0 {
			continue
		}
		// Speculative with from an older value: it sees that value's
		// datoms, and neither it nor the newer values change.
		if len(dbs) > 1 && rng.IntN(5) == 0 {
			old := dbs[rng.IntN(len(dbs))]
			if rng.IntN(3) == 0 {
				old = db // the head: the real transaction below then forks
			}
			snapshot, latest := allDatoms(t, old), allDatoms(t, db)
			spec, err := old.With(context.Background(), ops, TxOptions{Now: now, Preds: modelPreds})
			if err == nil {
				checkTxData(t, m.view(old.BasisT(), 0, 0, false, false, false), spec)
			}
			if !slices.EqualFunc(allDatoms(t, old), snapshot, datomEq) || !slices.EqualFunc(allDatoms(t, db), latest, datomEq) {
				t.Fatalf("a speculative transaction on the value at %d changed a database value", old.BasisT())
			}
		}
		before := m.view(db.BasisT(), 0, 0, false, false, false)
		rep, err := with(ops...)
		if err != nil {
			continue // conflicts are expected now and then; nothing changed
		}
		for _, e := range rep.TempIDs {
			if !slices.Contains(ents, e) {
				ents = append(ents, e)
			}
		}
		checkTxData(t, before, rep)
		// Now and then go back to an older value and go on from there:
		// the next transactions fork its layer.
		if len(dbs) > 2 && rng.IntN(15) == 0 {
			k := rng.IntN(len(dbs) - 1)
			db, dbs = dbs[k], dbs[:k+1]
			follower, followers = followers[k], followers[:k+1]
			m.log = slices.DeleteFunc(m.log, func(d datom.Datom) bool { return d.T() > db.BasisT() })
			continue
		}
		// Index now and then (small nodes make real trees), and sometimes
		// reopen from the published root alone.
		if rng.IntN(20) == 0 {
			// Index this value, or (as the indexing job does while the
			// writer goes on) the one before and rebase this one on it.
			from := db
			if len(dbs) > 0 && rng.IntN(2) == 0 {
				from = dbs[len(dbs)-1]
			}
			idx, root, _, err := from.Index(context.Background(), store, treeOpts)
			if err != nil {
				t.Fatal(err)
			}
			direct := from == db
			if direct {
				db = idx
			} else if db, err = db.Rebase(idx, nil); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(2) == 0 {
				if direct {
					if db, err = Open(context.Background(), store, treeOpts, root); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		dbs = append(dbs, db)
		followers = append(followers, follower)
		if step%10 == 9 {
			compareViews(t, rng, db, m, dbs)
		}
	}
	compareViews(t, rng, db, m, dbs)
}

// checkTxData: retractions retract facts that were present, assertions
// add facts that were absent, and cardinality one holds after.
func checkTxData(t *testing.T, before []datom.Datom, rep *TxReport) {
	t.Helper()
	present := map[factKey]bool{}
	for _, d := range before {
		present[keyOf(d.E, d.A, d.V)] = true
	}
	for _, d := range rep.TxData {
		k := keyOf(d.E, d.A, d.V)
		if d.Added == present[k] {
			t.Fatalf("tx-data %s: fact present before = %v", d, present[k])
		}
	}
	one := map[eaKey]int{}
	for d, err := range rep.DBAfter.Datoms(context.Background(), datom.EAVT, Components{}) {
		if err != nil {
			t.Fatal(err)
		}
		if at, _ := rep.DBAfter.Schema().Attr(d.A); !at.Many {
			one[eaKey{d.E, d.A}]++
			if one[eaKey{d.E, d.A}] > 1 {
				t.Fatalf("two values for cardinality-one %s of %d", at.Ident, d.E)
			}
		}
	}
}

func compareViews(t *testing.T, rng *rand.Rand, db *DB, m *model, dbs []*DB) {
	t.Helper()
	basis := db.BasisT()
	ts := []datom.T{0, basis}
	for range 2 {
		ts = append(ts, dbs[rng.IntN(len(dbs))].BasisT())
	}
	type viewSpec struct {
		asOf, since       datom.T
		hasAsOf, hasSince bool
		history           bool
	}
	var specs []viewSpec
	specs = append(specs, viewSpec{})
	for _, a := range ts {
		for _, s := range ts {
			specs = append(specs, viewSpec{asOf: a, hasAsOf: true}, viewSpec{since: s, hasSince: true},
				viewSpec{asOf: a, since: s, hasAsOf: true, hasSince: true},
				viewSpec{history: true, asOf: a, hasAsOf: true}, viewSpec{history: true})
		}
	}
	user := func(d datom.Datom) bool { return d.A.N() >= firstUserN || d.A.Part() != datom.PartDB }
	for _, sp := range specs {
		v := db
		if sp.hasAsOf {
			v = v.AsOf(sp.asOf)
		}
		if sp.hasSince {
			v = v.Since(sp.since)
		}
		if sp.history {
			v = v.History()
		}
		want := m.view(basis, sp.asOf, sp.since, sp.hasAsOf, sp.hasSince, sp.history)
		if !sp.history {
			comparePull(t, rng, v, want, user)
		}
		for x := range datom.NumIndexes {
			var exp []datom.Datom
			for _, d := range want {
				if user(d) && inIndex(x, d) {
					exp = append(exp, d)
				}
			}
			slices.SortFunc(exp, func(a, b datom.Datom) int { return datom.Compare(x, a, b) })
			// The whole index, then components taken from a random datom.
			comps := []Components{{}}
			if len(exp) > 0 {
				d := exp[rng.IntN(len(exp))]
				switch x {
				case datom.EAVT:
					comps = append(comps, Components{E: d.E, HasE: true}, Components{E: d.E, HasE: true, A: d.A, HasA: true},
						Components{E: d.E, HasE: true, A: d.A, HasA: true, V: d.V})
				case datom.AEVT:
					comps = append(comps, Components{A: d.A, HasA: true}, Components{A: d.A, HasA: true, E: d.E, HasE: true})
				case datom.AVET:
					comps = append(comps, Components{A: d.A, HasA: true}, Components{A: d.A, HasA: true, V: d.V})
				case datom.VAET:
					comps = append(comps, Components{V: d.V}, Components{V: d.V, A: d.A, HasA: true})
				}
			}
			for _, c := range comps {
				var got []datom.Datom
				for d, err := range v.Datoms(context.Background(), x, c) {
					if err != nil {
						t.Fatal(err)
					}
					if user(d) {
						got = append(got, d)
					}
				}
				var exp2 []datom.Datom
				for _, d := range exp {
					if c.match(d) {
						exp2 = append(exp2, d)
					}
				}
				if !slices.EqualFunc(got, exp2, datomEq) && !(len(got) == 0 && len(exp2) == 0) {
					t.Fatalf("%s %s %+v: got %d datoms, want %d\ngot  %v\nwant %v", v, x, c, len(got), len(exp2), got, exp2)
				}
			}
		}
	}
}

// comparePull pulls random entities of the view with [* {:t/friend [:t/email]}
// :t/_best] and compares with a result built from the model's datoms of the
// view: every attribute of the entity (one value, or a sorted list for
// cardinality many), refs as {:db/id e}, friends' emails one level down, and
// the entities whose :t/best is this one.
func comparePull(t *testing.T, rng *rand.Rand, v *DB, want []datom.Datom, user func(datom.Datom) bool) {
	t.Helper()
	var ents []datom.E
	byE := map[datom.E][]datom.Datom{}
	for _, d := range want {
		if !user(d) {
			continue
		}
		if _, ok := byE[d.E]; !ok {
			ents = append(ents, d.E)
		}
		byE[d.E] = append(byE[d.E], d)
	}
	if len(ents) == 0 {
		return
	}
	s := v.Schema()
	friend, _ := s.AttrByIdent("t/friend")
	best, _ := s.AttrByIdent("t/best")
	email, _ := s.AttrByIdent("t/email")
	pattern := []any{"*", map[any]any{kw("t/friend"): []any{kw("t/email")}}, kw("t/_best")}
	for range 3 {
		e := ents[rng.IntN(len(ents))]
		exp := map[any]any{kw("db/id"): e}
		ds := slices.Clone(byE[e])
		slices.SortFunc(ds, func(a, b datom.Datom) int { return datom.Compare(datom.EAVT, a, b) })
		for _, d := range ds {
			at, _ := s.Attr(d.A)
			var val any = GoValue(d.V)
			if at.Type == datom.TypeRef {
				val = map[any]any{kw("db/id"): d.V.Ref()}
				if d.A == friend.ID {
					sub := map[any]any{}
					for _, fd := range byE[d.V.Ref()] {
						if fd.A == email.ID {
							sub[kw("t/email")] = fd.V.Str()
						}
					}
					val = sub
					if len(sub) == 0 {
						val = map[any]any{kw("db/id"): d.V.Ref()}
					}
				}
			}
			k := kw(at.Ident)
			if at.Many {
				l, _ := exp[k].([]any)
				exp[k] = append(l, val)
			} else {
				exp[k] = val
			}
		}
		var rev []any
		for _, d := range want {
			if d.A == best.ID && d.V.Ref() == e {
				rev = append(rev, map[any]any{kw("db/id"): d.E})
			}
		}
		if len(rev) > 0 {
			slices.SortFunc(rev, func(a, b any) int {
				return cmp.Compare(a.(map[any]any)[kw("db/id")].(datom.E), b.(map[any]any)[kw("db/id")].(datom.E))
			})
			exp[kw("t/_best")] = rev
		}
		got, err := v.Pull(context.Background(), pattern, e)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("%s: pull %d:\n got %v\nwant %v", v, e, got, exp)
		}
	}
}

func allDatoms(t *testing.T, db *DB) []datom.Datom {
	t.Helper()
	var out []datom.Datom
	for d, err := range db.Datoms(context.Background(), datom.EAVT, Components{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// modelPreds: t/age must be under 4 (ages 0 to 4 are drawn).
var modelPreds = map[string]Pred{
	"t/small-age?": func(_ *DB, _ datom.E, v datom.Value) bool { return v.Long() < 4 },
}
