package transactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// The bank test, in the style of Jepsen's: clients move money between
// accounts through two competing writer nodes, each transfer a pair of
// :db/cas, while the nodes restart, hand their leases over, and are
// abandoned still running (stale writers that the log must fence). At the
// end: no money is made or lost, every acknowledged transfer is in the log
// exactly once, and replaying the log in order reproduces every transfer's
// reads (the history is serializable as the log's order).

const (
	bankAccounts = 8
	bankInitial  = 100
)

var bankSchema = append([]engine.Op{
	engine.Map{Attrs: []engine.KV{{A: kw("db/ident"), V: kw("xfer/id")}, {A: kw("db/valueType"), V: kw("db.type/string")},
		{A: kw("db/cardinality"), V: kw("db.cardinality/one")}, {A: kw("db/unique"), V: kw("db.unique/value")}}},
}, accountSchema...)

// bankNode is one writer node of the bank test. Every start opens the
// node's own log, catalog and store handles (as a new process would).
type bankNode struct {
	id  string
	t   *testing.T
	sys bankSystem
	cur atomic.Pointer[Transactor]
}

// bankSystem is where the bank lives and how fast it goes: open returns a
// fresh set of handles on it (the database "bank" is made with the
// first). The nemesis restarts a node every restartMs[0] to restartMs[1]
// milliseconds for run; a client whose node is not the writer tries
// again after retryPause.
type bankSystem struct {
	open       func(t *testing.T) Options
	leaseTTL   time.Duration
	run        time.Duration
	restartMs  [2]int
	retryPause time.Duration
}

func (n *bankNode) start() {
	opts := n.sys.open(n.t)
	opts.WriterID = n.id
	opts.Logger = quietLogger
	tr, err := New(opts, n.sys.leaseTTL)
	if err != nil {
		n.t.Fatal(err)
	}
	n.cur.Store(tr)
}

func TestBank(t *testing.T) {
	if testing.Short() {
		t.Skip("a randomized run of a few seconds")
	}
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		sys := bankSystem{leaseTTL: 300 * time.Millisecond, run: 2 * time.Second, restartMs: [2]int{50, 200}, retryPause: 5 * time.Millisecond}
		sys.open = func(t *testing.T) Options {
			log, err := OpenFileLog(filepath.Join(dir, "log"))
			if err != nil {
				t.Fatal(err)
			}
			cat, err := OpenFileCatalog(filepath.Join(dir, "catalog"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { log.Close(); cat.Close() })
			return Options{Log: log, Catalog: cat, Store: mustDirStore(t, filepath.Join(dir, "store")),
				Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}
		}
		bank(t, sys)
	})
	t.Run("dynamodb", func(t *testing.T) {
		o := dynamoOptions(t) // a fresh table, made by the first open
		dir := t.TempDir()
		// DynamoDB Local (and the SDK under -race) takes tens of
		// milliseconds a request here, and a node's first Conn (the lease,
		// a recovery) a few hundred: restarts are rarer and clients that
		// are not at the writer wait longer, so that the run is not all
		// hand-overs; a renewal has a third of the lease, and 1 s keeps lost
		// leases (which the test survives, but which stall it) rare.
		sys := bankSystem{leaseTTL: time.Second, run: 3 * time.Second, restartMs: [2]int{300, 800}, retryPause: 30 * time.Millisecond}
		sys.open = func(t *testing.T) Options {
			ctx := context.Background()
			log, err := OpenDynamoLog(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			cat, err := OpenDynamoCatalog(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			o.CreateTable = false
			return Options{Log: log, Catalog: cat, Store: mustDirStore(t, filepath.Join(dir, "store")),
				Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}
		}
		bank(t, sys)
	})
}

// bank runs the bank test on sys and checks its history.
func bank(t *testing.T, sys bankSystem) {
	ctx := context.Background()
	setup := sys.open(t)
	bankDB, err := setup.Catalog.CreateDB(ctx, "bank")
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*bankNode{{id: "n1", t: t, sys: sys}, {id: "n2", t: t, sys: sys}}
	for _, n := range nodes {
		n.start()
	}
	// Accounts.
	func() {
		c, err := nodes[0].cur.Load().Conn(ctx, "bank")
		if err != nil {
			t.Fatal(err)
		}
		mustTransact(t, c, bankSchema...)
		for a := range bankAccounts {
			mustTransact(t, c, deposit(int64(a), bankInitial)...)
		}
	}()

	type outcome int
	const (
		ok outcome = iota
		failed
		unknown
	)
	var mu sync.Mutex
	acked := map[string]bool{}
	var attempts, oks, fails, unknowns atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for client := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(client), 9))
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				n := nodes[rng.IntN(len(nodes))]
				c, err := n.cur.Load().Conn(ctx, "bank")
				if err != nil {
					time.Sleep(sys.retryPause) // not its writer now: try again
					continue
				}
				from, to := int64(rng.IntN(bankAccounts)), int64(rng.IntN(bankAccounts))
				if from == to {
					continue
				}
				db := c.DB()
				bal := balances(t, db)
				amount := int64(1 + rng.IntN(20))
				if bal[from] < amount {
					continue
				}
				id := fmt.Sprintf("c%d-%d", client, seq)
				ops := []engine.Op{
					engine.CAS{E: engine.LookupRef{Attr: kw("acct/id"), Value: from}, A: kw("acct/balance"), Old: bal[from], New: bal[from] - amount},
					engine.CAS{E: engine.LookupRef{Attr: kw("acct/id"), Value: to}, A: kw("acct/balance"), Old: bal[to], New: bal[to] + amount},
					engine.Add{E: engine.TxTempID, A: kw("xfer/id"), V: id},
				}
				attempts.Add(1)
				_, err = c.Transact(ctx, ops)
				switch {
				case err == nil:
					oks.Add(1)
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				case errors.Is(err, anomaly.Unavailable) || errors.Is(err, anomaly.Interrupted):
					unknowns.Add(1) // may or may not have committed
				default:
					fails.Add(1) // a cas lost to a concurrent transfer: nothing happened
				}
			}
		})
	}
	// The nemesis: restart a node (its Conn closes and the lease is given
	// up), or abandon it running with a fresh one beside it (the old one
	// is a stale writer until fenced).
	rng := rand.New(rand.NewPCG(3, 3))
	var abandoned []*Transactor
	deadline := time.Now().Add(sys.run)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(sys.restartMs[0]+rng.IntN(sys.restartMs[1]-sys.restartMs[0])) * time.Millisecond)
		n := nodes[rng.IntN(len(nodes))]
		old := n.cur.Load()
		n.start()
		if rng.IntN(2) == 0 {
			old.Close()
		} else {
			abandoned = append(abandoned, old)
		}
	}
	close(stop)
	wg.Wait()
	for _, tr := range abandoned {
		tr.Close()
	}
	for _, n := range nodes {
		n.cur.Load().Close()
	}

	// Check against the log and a recovered value.
	final, _, err := Recover(ctx, setup, bankDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	bal := balances(t, final)
	total := int64(0)
	for _, v := range bal {
		total += v
	}
	if total != bankAccounts*bankInitial {
		t.Fatalf("the bank holds %d, it started with %d: %v", total, bankAccounts*bankInitial, bal)
	}
	committed := replayBank(t, ctx, setup.Log, bankDB, final)
	for id := range acked {
		if committed[id] != 1 {
			t.Fatalf("acknowledged transfer %s is in the log %d times", id, committed[id])
		}
	}
	for id, n := range committed {
		if n != 1 {
			t.Fatalf("transfer %s is in the log %d times", id, n)
		}
	}
	t.Logf("%d transfers tried: %d acknowledged, %d refused, %d unknown; %d in the log", attempts.Load(), oks.Load(), fails.Load(), unknowns.Load(), len(committed))
	if oks.Load() == 0 {
		t.Fatal("no transfer went through")
	}
}

// mustDirStore is a directory store read through Stratified.
func mustDirStore(t *testing.T, dir string) *cachetiers.Stratified {
	t.Helper()
	s, err := newDirStratified(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replayBank replays the log in order from empty balances: the records
// must form one chain (each follows the one before it, t only grows), every
// retraction of a balance must retract the balance the replay holds at that
// point (each transfer read the state the log's order gives it), and the
// replay must end at final's balances. It returns how many times each
// transfer id is in the log.
func replayBank(t *testing.T, ctx context.Context, log Log, bank DBInfo, final *engine.DB) map[string]int {
	t.Helper()
	idA, _ := final.Schema().AttrByIdent("acct/id")
	balA, _ := final.Schema().AttrByIdent("acct/balance")
	xferA, _ := final.Schema().AttrByIdent("xfer/id")
	account := map[datom.E]int64{} // entity → account number
	state := map[datom.E]int64{}   // entity → balance
	committed := map[string]int{}
	var last datom.T
	for rec, err := range log.Records(ctx, bank.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.PrevT != last {
			t.Fatalf("a record of %s follows t %d, the record before it ends at t %d: the log forked", rec.Writer, rec.PrevT, last)
		}
		for _, tx := range rec.Txs {
			if tx.T <= last {
				t.Fatalf("t %d after t %d in the log", tx.T, last)
			}
			last = tx.T
			for _, d := range tx.Data {
				switch {
				case d.A == idA.ID && d.Added:
					account[d.E] = d.V.Long()
				case d.A == xferA.ID && d.Added:
					committed[d.V.Str()]++
				case d.A == balA.ID && !d.Added:
					if state[d.E] != d.V.Long() {
						t.Fatalf("t %d retracts balance %d of %d, the log's order gives %d: not serializable", tx.T, d.V.Long(), d.E, state[d.E])
					}
				}
			}
			for _, d := range tx.Data {
				if d.A == balA.ID && d.Added {
					state[d.E] = d.V.Long()
				}
			}
		}
	}
	want := balances(t, final)
	for e, v := range state {
		if want[account[e]] != v {
			t.Fatalf("replay ends with account %d at %d, the database says %d", account[e], v, want[account[e]])
		}
	}
	return committed
}

// quietLogger drops the transactor's logs (the nemesis makes many).
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
