package transactor

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

type system struct {
	dir   string
	opts  Options
	info  DBInfo
	store *cachetiers.Stratified
}

// newSystem opens a file log, a file catalog and a directory store in a
// temporary directory, with one database.
func newSystem(t *testing.T) *system {
	t.Helper()
	dir := t.TempDir()
	return openSystem(t, dir, "")
}

func openSystem(t *testing.T, dir, name string) *system {
	t.Helper()
	log, err := OpenFileLog(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := OpenFileCatalog(filepath.Join(dir, "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := newDirStratified(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(); cat.Close() })
	s := &system{dir: dir, store: store, opts: Options{Log: log, Catalog: cat, Store: store,
		Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}}
	ctx := context.Background()
	if name == "" {
		if s.info, err = cat.CreateDB(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	} else if s.info, err = cat.GetDB(ctx, name); err != nil {
		t.Fatal(err)
	}
	return s
}

func kw(s string) engine.Keyword { return engine.Keyword(s) }

var accountSchema = []engine.Op{
	engine.Map{Attrs: []engine.KV{{A: kw("db/ident"), V: kw("acct/id")}, {A: kw("db/valueType"), V: kw("db.type/long")},
		{A: kw("db/cardinality"), V: kw("db.cardinality/one")}, {A: kw("db/unique"), V: kw("db.unique/identity")}}},
	engine.Map{Attrs: []engine.KV{{A: kw("db/ident"), V: kw("acct/balance")}, {A: kw("db/valueType"), V: kw("db.type/long")},
		{A: kw("db/cardinality"), V: kw("db.cardinality/one")}}},
	engine.Map{Attrs: []engine.KV{{A: kw("db/ident"), V: kw("acct/note")}, {A: kw("db/valueType"), V: kw("db.type/string")},
		{A: kw("db/cardinality"), V: kw("db.cardinality/many")}}},
}

func mustTransact(t *testing.T, c *Conn, ops ...engine.Op) *engine.TxReport {
	t.Helper()
	rep, err := c.Transact(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// balances reads every account's balance.
func balances(t *testing.T, db *engine.DB) map[int64]int64 {
	t.Helper()
	ctx := context.Background()
	id, _ := db.Schema().AttrByIdent("acct/id")
	bal, _ := db.Schema().AttrByIdent("acct/balance")
	out := map[int64]int64{}
	if id == nil {
		return out
	}
	for d, err := range db.Datoms(ctx, datom.AEVT, engine.Components{A: id.ID, HasA: true}) {
		if err != nil {
			t.Fatal(err)
		}
		for b, err := range db.Datoms(ctx, datom.EAVT, engine.Components{E: d.E, HasE: true, A: bal.ID, HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			out[d.V.Long()] = b.V.Long()
		}
	}
	return out
}

func deposit(id, amount int64) []engine.Op {
	return []engine.Op{engine.Map{Attrs: []engine.KV{{A: kw("acct/id"), V: id}, {A: kw("acct/balance"), V: amount}}}}
}

func TestConnTransactRecover(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, accountSchema...)
	// Concurrent transactions: group commit puts several in one record.
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			if _, err := c.Transact(ctx, deposit(int64(i), int64(100+i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// A failed transaction is reported and changes nothing.
	if _, err := c.Transact(ctx, []engine.Op{engine.Add{E: engine.TempID("x"), A: kw("acct/balance"), V: "not a number"}}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a wrong-typed value: %v", err)
	}
	want := balances(t, c.DB())
	if len(want) != 64 || want[7] != 107 {
		t.Fatalf("balances %v", want)
	}
	st := c.Stats()
	if st.Transactions != 65 || st.Batches >= 65 {
		t.Logf("stats %+v", st)
	}
	basis := c.DB().BasisT()
	c.Close()
	if _, err := c.Transact(ctx, deposit(1, 1)); !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("transact on a closed writer: %v", err)
	}

	// A new writer recovers everything from the log, exactly once.
	c2, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := balances(t, c2.DB()); fmt.Sprint(got) != fmt.Sprint(want) || c2.DB().BasisT() != basis {
		t.Fatalf("recovered basis %d (want %d), balances %v", c2.DB().BasisT(), basis, got)
	}
	rep := mustTransact(t, c2, deposit(7, 1)...)
	if rep.DBBefore.BasisT() != basis {
		t.Fatalf("the next transaction follows t %d, want %d", rep.DBBefore.BasisT(), basis)
	}
	if db, err := c2.Sync(ctx, rep.DBAfter.BasisT()); err != nil || balances(t, db)[7] != 1 {
		t.Fatalf("sync: %v", err)
	}
}

// Indexing runs in the background past the threshold, publishes its root,
// and a writer recovers from the root and the log after it.
func TestConnIndexing(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	s.opts.IndexDatoms = 200
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, accountSchema...)
	for i := range 300 {
		mustTransact(t, c, deposit(int64(i%40), int64(i))...)
	}
	want := balances(t, c.DB())
	c.Close()
	st := c.Stats()
	if st.IndexJobs == 0 {
		t.Fatal("no indexing job ran")
	}
	root, err := s.opts.Catalog.Root(ctx, s.info.ID)
	if err != nil || root.Version == 0 || root.Root.T == 0 {
		t.Fatalf("root %+v, %v", root, err)
	}
	c2, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.DB().IndexedT() != root.Root.T {
		t.Fatalf("recovered over the root at %d, want %d", c2.DB().IndexedT(), root.Root.T)
	}
	if got := balances(t, c2.DB()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("recovered balances %v, want %v", got, want)
	}
}

// Two writers on one database: the log's conditional append lets one
// history through, and the loser is fenced.
func TestConnFencing(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	a, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mustTransact(t, a, accountSchema...)
	mustTransact(t, a, deposit(1, 10)...)
	// b takes over (as after a lease hand-over) and commits.
	b, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mustTransact(t, b, deposit(1, 20)...)
	// a's next commit finds b's record at the head.
	if _, err := a.Transact(ctx, deposit(1, 30)); !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("the stale writer: %v", err)
	}
	if _, err := a.Transact(ctx, deposit(1, 40)); !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("the fenced writer again: %v", err)
	}
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := balances(t, c.DB())[1]; got != 20 {
		t.Fatalf("balance %d after the race, want 20 (b's)", got)
	}
}

func TestConnBusy(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	s.opts.QueueDepth = 1
	s.opts.MaxBatch = 1
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustTransact(t, c, accountSchema...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for i := range 200 {
		wg.Go(func() {
			_, err := c.Transact(ctx, deposit(int64(i), 1))
			if errors.Is(err, anomaly.Busy) {
				mu.Lock()
				busy++
				mu.Unlock()
			} else if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if busy == 0 {
		t.Fatal("200 concurrent transactions on a queue of 1: none answered busy")
	}
	if got := len(balances(t, c.DB())); got != 200-busy {
		t.Fatalf("%d accounts, want %d (busy ones must not commit)", got, 200-busy)
	}
}

// A follower (another process's view of the same log, catalog and store)
// keeps up with the writer, and moves onto the roots it publishes.
func TestFollower(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	s.opts.IndexDatoms = 150
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustTransact(t, c, accountSchema...)
	other := openSystem(t, s.dir, "test")
	f, err := Follow(ctx, other.opts, other.info, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 200 {
		rep := mustTransact(t, c, deposit(int64(i%30), int64(i))...)
		if i%50 == 49 {
			db, err := f.Sync(ctx, rep.DBAfter.BasisT())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := balances(t, db), balances(t, rep.DBAfter); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("follower at %d: %v, writer %v", db.BasisT(), got, want)
			}
		}
	}
	if c.Stats().IndexJobs == 0 {
		t.Fatal("the writer never indexed")
	}
	// The follower picks up the newest root once it has caught up.
	root, err := s.opts.Catalog.Root(ctx, s.info.ID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.DB().IndexedT() < root.Root.T {
		if time.Now().After(deadline) {
			t.Fatalf("the follower's trees are at %d, the root at %d", f.DB().IndexedT(), root.Root.T)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := balances(t, f.DB()), balances(t, c.DB()); f.DB().BasisT() == c.DB().BasisT() && fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rebase: %v, writer %v", got, want)
	}
	if lag := f.Lag(); lag > c.DB().BasisT() {
		t.Fatalf("lag %d", lag)
	}
}

// newDirStratified is a directory store read through Stratified.
func newDirStratified(dir string) (*cachetiers.Stratified, error) {
	ds, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: dir})
	if err != nil {
		return nil, err
	}
	return cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: []cachetiers.Tier{ds}})
}

// heldLog holds appends until released.
type heldLog struct {
	Log
	hold chan struct{}
}

func (l *heldLog) Append(ctx context.Context, db string, rec *Record) error {
	<-l.hold
	return l.Log.Append(ctx, db, rec)
}

// A caller that stops waiting for its transaction learns that the outcome
// is unknown (errors.Is ErrOutcomeUnknown), not just interrupted: the
// transaction may still commit, as it does here once the log answers.
func TestConnOutcomeUnknown(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, accountSchema...)
	c.Close()
	held := &heldLog{Log: s.opts.Log, hold: make(chan struct{})}
	s.opts.Log = held
	c, err = OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Transact(short, deposit(7, 1))
	if !errors.Is(err, anomaly.Interrupted) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("a transaction the caller stopped waiting for: %v", err)
	}
	close(held.hold)
	db, err := c.Sync(ctx, c.DB().BasisT()+1)
	if err != nil {
		t.Fatal(err)
	}
	if got := balances(t, db); got[7] != 1 {
		t.Fatalf("the transaction whose outcome was unknown did not commit after all: %v", got)
	}
}

// skippingLog loses one record of every read (a broken log or a bad read).
type skippingLog struct {
	Log
	skip datom.T // the PrevT of the record to lose
}

func (l *skippingLog) Records(ctx context.Context, db string, after datom.T) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for rec, err := range l.Log.Records(ctx, db, after) {
			if err == nil && rec.PrevT == l.skip {
				continue
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// Catching up refuses a read of the log with a record missing (a fault)
// instead of applying the records after it.
func TestCatchUpRefusesGap(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, accountSchema...)
	atMid := c.DB()
	mid := atMid.BasisT()
	mustTransact(t, c, deposit(1, 1)...)
	mustTransact(t, c, deposit(2, 2)...)
	c.Close()
	if _, err := catchUp(ctx, s.opts.Log, s.info.ID, atMid, nil); err != nil {
		t.Fatal(err)
	}
	_, err = catchUp(ctx, &skippingLog{Log: s.opts.Log, skip: mid}, s.info.ID, atMid, nil)
	if !errors.Is(err, anomaly.Fault) || !strings.Contains(err.Error(), "skipped a record") {
		t.Fatalf("a log read with a record missing: %v", err)
	}
}
