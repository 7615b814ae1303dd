package transactor

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/internal/testenv"
)

// The hand-over test: two writer processes (this test binary, re-executed)
// each run a Transactor on the same log and catalog, and their clients
// commit tagged transactions as fast as the lease lets them, printing
// "ack TAG T" for each acknowledged one. The parent kills whichever holds
// the database's lease with SIGKILL, several times; the other process must
// take the lease over once it lapses (never before) and go on committing,
// and the killed one comes back as a new incarnation (a new writer id).
// At the end the log must be one chain, every acknowledged transaction in
// it exactly once at the t and in a record of the writer that acknowledged
// it, and every transaction in it whole and serializable.
//
// Each transaction increments one of handoverCounters counters with a
// :db/cas on the value its writer reads: a writer that took over from a
// recovery that missed some of the log would either be refused by the log
// (its record follows an old t) or, if the log let it through, leave a
// retraction that the replay does not hold.

const (
	handoverChildEnv = "STRATA_HANDOVER_CHILD"
	handoverCounters = 3 // and clients per child: client k increments counter k
)

// handoverChild runs a writer node until it is killed.
func handoverChild(dir string) {
	ctx := context.Background()
	writer := os.Getenv(handoverChildEnv + "_WRITER")
	ttl, err := time.ParseDuration(os.Getenv(handoverChildEnv + "_TTL"))
	if err != nil {
		panic(err)
	}
	pause, err := time.ParseDuration(os.Getenv(handoverChildEnv + "_PAUSE"))
	if err != nil {
		panic(err)
	}
	log, cat, err := crashBackend(ctx, dir, os.Getenv(handoverChildEnv+"_TABLE"))
	if err != nil {
		panic(err)
	}
	store, err := newDirStratified(dir + "/store")
	if err != nil {
		panic(err)
	}
	tr, err := New(Options{Log: log, Catalog: cat, Store: store, WriterID: writer, IndexDatoms: 200, Logger: quietLogger,
		Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}, ttl)
	if err != nil {
		panic(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	fmt.Fprintln(os.Stdout, "ready")
	var wg sync.WaitGroup
	for client := range handoverCounters {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				c, err := tr.Conn(ctx, "h")
				if err != nil {
					time.Sleep(pause) // another node's lease, or a lost one: try again
					continue
				}
				db := c.DB()
				n, err := counter(ctx, db, int64(client))
				if err != nil {
					panic(err)
				}
				tag := fmt.Sprintf("%s-c%d-%d", writer, client, seq)
				rep, err := c.Transact(ctx, []engine.Op{
					engine.CAS{E: engine.LookupRef{Attr: kw("acct/id"), Value: int64(client)}, A: kw("acct/balance"), Old: n, New: n + 1},
					engine.Add{E: engine.TxTempID, A: kw("xfer/id"), V: tag},
				})
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", tag, rep.DBAfter.BasisT())
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// counter reads counter k (account k's balance).
func counter(ctx context.Context, db *engine.DB, k int64) (int64, error) {
	id, ok := db.Schema().AttrByIdent("acct/id")
	bal, ok2 := db.Schema().AttrByIdent("acct/balance")
	if !ok || !ok2 {
		return 0, fmt.Errorf("no counter schema at t %d", db.BasisT())
	}
	e, err := db.Lookup(ctx, id.ID, datom.Long(k))
	if err != nil {
		return 0, err
	}
	for d, err := range db.Datoms(ctx, datom.EAVT, engine.Components{E: e, HasE: true, A: bal.ID, HasA: true}) {
		if err != nil {
			return 0, err
		}
		return d.V.Long(), nil
	}
	return 0, fmt.Errorf("counter %d has no value at t %d", k, db.BasisT())
}

// handoverAck is what a child said of a transaction it acknowledged.
type handoverAck struct {
	writer string
	t      datom.T
}

// handoverNode is one of the two writer processes, in its current
// incarnation.
type handoverNode struct {
	name   string // "a" or "b"
	writer string // name and incarnation: "a0", "a1", …
	cmd    *exec.Cmd
	done   chan struct{} // closed when its stdout ends
}

type handoverRig struct {
	t            *testing.T
	dir, table   string
	ttl, pause   time.Duration
	exe          string
	mu           sync.Mutex
	acks         map[string]handoverAck // by tag
	acksBy       map[string]int         // by writer
	badLines     []string
	nodes        [2]*handoverNode
	incarnations int
}

func TestHandover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	// The lease is short so that a hand-over takes about a second; the
	// DynamoDB variant has a longer one, as its requests take tens of
	// milliseconds here and a renewal has a third of the lease.
	t.Run("files", func(t *testing.T) { handover(t, "", 500*time.Millisecond, 20*time.Millisecond, 4) })
	t.Run("dynamodb", func(t *testing.T) {
		testenv.Dynamo(t)
		handover(t, "strata-handover-"+newDBID()[:12], time.Second, 50*time.Millisecond, 3)
	})
}

func handover(t *testing.T, table string, ttl, pause time.Duration, kills int) {
	ctx := context.Background()
	dir := t.TempDir()
	log, cat, err := crashBackend(ctx, dir, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(); cat.Close() })
	opts := Options{Log: log, Catalog: cat, Store: mustDirStore(t, dir+"/store"), WriterID: "setup", Logger: quietLogger,
		Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}
	info, err := cat.CreateDB(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	// The schema and the counters, by a writer that gives its lease up.
	setup, err := New(opts, ttl)
	if err != nil {
		t.Fatal(err)
	}
	c, err := setup.Conn(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, bankSchema...)
	for k := range handoverCounters {
		mustTransact(t, c, deposit(int64(k), 0)...)
	}
	setupT := c.DB().BasisT()
	setup.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := &handoverRig{t: t, dir: dir, table: table, ttl: ttl, pause: pause, exe: exe,
		acks: map[string]handoverAck{}, acksBy: map[string]int{}}
	t.Cleanup(func() {
		for _, n := range r.nodes {
			if n != nil {
				r.kill(n)
			}
		}
	})
	r.nodes[0] = r.start("a")
	r.nodes[1] = r.start("b")

	rng := rand.New(rand.NewPCG(7, uint64(len(table))))
	start := time.Now()
	for kill := range kills {
		// Wait for a live node to hold the lease and commit under it.
		var holder *handoverNode
		var before int
		r.waitFor(fmt.Sprintf("kill %d: a live node holding the lease and committing", kill), 10*time.Second, func() bool {
			l, err := cat.LeaseOf(ctx, info.ID)
			if err != nil {
				return false
			}
			if h := r.node(l.Holder); h != holder {
				holder = h
				if h != nil {
					before = r.acked(h.writer)
				}
			}
			return holder != nil && time.Now().Before(l.Expires) && r.acked(holder.writer) >= before+3
		})
		// Let it commit a little longer, so that the kill lands in the
		// middle of group commits (and now and then of an indexing job).
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		lease, err := cat.LeaseOf(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		victim := r.node(lease.Holder)
		if victim == nil {
			t.Fatalf("kill %d: the lease is held by %q, no live node", kill, lease.Holder)
		}
		survivor := r.nodes[0]
		if survivor == victim {
			survivor = r.nodes[1]
		}
		r.kill(victim)
		killed := time.Now()
		ackedBefore := r.acked(survivor.writer)
		// The victim may have renewed since: its last lease is the one
		// the catalog holds now, unless it had lost it already.
		if l, err := cat.LeaseOf(ctx, info.ID); err != nil {
			t.Fatal(err)
		} else if l.Holder == victim.writer {
			lease = l
		} else {
			t.Logf("kill %d: %s lost the lease to %q before it was killed", kill, victim.writer, l.Holder)
		}

		// The survivor takes the lease over once it lapses, never before,
		// and commits.
		var took Lease
		var tookAt time.Time
		r.waitFor(fmt.Sprintf("kill %d: %s to take over from %s", kill, survivor.writer, victim.writer), ttl+15*time.Second, func() bool {
			l, err := cat.LeaseOf(ctx, info.ID)
			if err != nil || l.Holder != survivor.writer {
				return false
			}
			if tookAt.IsZero() {
				took, tookAt = l, time.Now()
			}
			return r.acked(survivor.writer) > ackedBefore
		})
		if tookAt.Round(0).Before(lease.Expires) {
			t.Fatalf("kill %d: %s held the lease at %s, before %s's ran out at %s", kill, survivor.writer,
				tookAt.Format(time.RFC3339Nano), victim.writer, lease.Expires.Format(time.RFC3339Nano))
		}
		if took.Epoch <= lease.Epoch {
			t.Fatalf("kill %d: the lease went from %s to %s without a new epoch (%d, %d)", kill, victim.writer, survivor.writer, lease.Epoch, took.Epoch)
		}
		t.Logf("kill %d: %s killed holding the lease (epoch %d); %s took over %s after the kill, committed %s after it",
			kill, victim.writer, lease.Epoch, survivor.writer, tookAt.Sub(killed).Round(time.Millisecond),
			time.Since(killed).Round(time.Millisecond))
		for i, n := range r.nodes {
			if n == victim {
				r.nodes[i] = r.start(victim.name)
			}
		}
	}
	for _, n := range r.nodes {
		r.kill(n)
	}
	elapsed := time.Since(start)

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.badLines) > 0 {
		t.Fatalf("the children printed lines that are not acknowledgements: %q", r.badLines)
	}
	checkHandoverLog(t, ctx, opts, info, setupT, r.acks, kills)
	t.Logf("%d kills in %s, %d acknowledged transactions, all in the log once, where their writers said", kills,
		elapsed.Round(time.Millisecond), len(r.acks))
}

// start starts node name's next incarnation and waits until it is ready.
func (r *handoverRig) start(name string) *handoverNode {
	r.t.Helper()
	n := &handoverNode{name: name, writer: fmt.Sprint(name, r.incarnations), done: make(chan struct{})}
	r.incarnations++
	n.cmd = exec.Command(r.exe, "-test.run=^$")
	n.cmd.Env = append(os.Environ(), handoverChildEnv+"="+r.dir, handoverChildEnv+"_TABLE="+r.table,
		handoverChildEnv+"_WRITER="+n.writer, handoverChildEnv+"_TTL="+r.ttl.String(), handoverChildEnv+"_PAUSE="+r.pause.String())
	// A child outlives a parent that dies without its cleanups (a test
	// binary timing out) by no more than that.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.cmd.Stderr = os.Stderr
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		n.cmd.Process.Kill()
		n.cmd.Wait()
		r.t.Fatalf("%s did not start: %q", n.writer, lines.Text())
	}
	go func() {
		defer close(n.done)
		for lines.Scan() {
			r.line(n, lines.Text())
		}
	}()
	return n
}

// line takes one line of n's output: "ack TAG T".
func (r *handoverRig) line(n *handoverNode, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := strings.Fields(s)
	if len(f) == 3 && f[0] == "ack" && strings.HasPrefix(f[1], n.writer+"-") {
		if t, err := strconv.ParseUint(f[2], 10, 64); err == nil {
			if _, dup := r.acks[f[1]]; dup {
				r.badLines = append(r.badLines, "acknowledged twice: "+s)
				return
			}
			r.acks[f[1]] = handoverAck{writer: n.writer, t: datom.T(t)}
			r.acksBy[n.writer]++
			return
		}
	}
	r.badLines = append(r.badLines, n.writer+": "+s)
}

func (r *handoverRig) acked(writer string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acksBy[writer]
}

// node returns the live node whose writer id is writer.
func (r *handoverRig) node(writer string) *handoverNode {
	for _, n := range r.nodes {
		if n != nil && n.cmd.ProcessState == nil && n.writer == writer {
			return n
		}
	}
	return nil
}

// kill kills n with SIGKILL and waits until it is gone and its output read.
func (r *handoverRig) kill(n *handoverNode) {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd.Wait()
}

// waitFor polls cond until it holds, failing the test after timeout.
func (r *handoverRig) waitFor(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("waited %s for %s", timeout, what)
		}
		<-tick.C
	}
}

// checkHandoverLog checks the log of database info after the run: one
// chain; every transaction after the setup (which ends at setupT) tagged,
// whole (one counter moved up by one) and serializable; every
// acknowledgement in it once, at its t, in a record of its writer; the
// counters adding up to the transactions; and at least one change of
// writer per kill.
func checkHandoverLog(t *testing.T, ctx context.Context, opts Options, info DBInfo, setupT datom.T, acks map[string]handoverAck, kills int) {
	t.Helper()
	final, _, err := Recover(ctx, opts, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	committed := replayBank(t, ctx, opts.Log, info, final) // one chain, serializable
	balA, _ := final.Schema().AttrByIdent("acct/balance")
	xferA, _ := final.Schema().AttrByIdent("xfer/id")
	type place struct {
		t      datom.T
		writer string
	}
	at := map[string]place{}
	switches, lastWriter := 0, ""
	for rec, err := range opts.Log.Records(ctx, info.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Writer != lastWriter && lastWriter != "" {
			switches++
		}
		lastWriter = rec.Writer
		for _, tx := range rec.Txs {
			if tx.T <= setupT {
				continue
			}
			tag, e := "", datom.E(0)
			var ov, nv int64
			var olds, news int
			for _, d := range tx.Data {
				switch {
				case d.A == xferA.ID && d.Added:
					tag = d.V.Str()
				case d.A == balA.ID && d.Added:
					news++
					nv = d.V.Long()
					if e != 0 && e != d.E {
						t.Fatalf("t %d moves two counters", tx.T)
					}
					e = d.E
				case d.A == balA.ID:
					olds++
					ov = d.V.Long()
					if e != 0 && e != d.E {
						t.Fatalf("t %d moves two counters", tx.T)
					}
					e = d.E
				}
			}
			if tag == "" || olds != 1 || news != 1 || nv != ov+1 {
				t.Fatalf("t %d by %s is not one whole increment: tag %q, %d retractions, %d assertions, %d to %d",
					tx.T, rec.Writer, tag, olds, news, ov, nv)
			}
			at[tag] = place{tx.T, rec.Writer}
		}
	}
	for tag, n := range committed {
		if n != 1 {
			t.Fatalf("%s is in the log %d times", tag, n)
		}
	}
	for tag, a := range acks {
		if committed[tag] != 1 {
			t.Fatalf("acknowledged %s is in the log %d times", tag, committed[tag])
		}
		if p := at[tag]; p.t != a.t || p.writer != a.writer {
			t.Fatalf("%s was acknowledged by %s at t %d; the log has it at t %d in a record of %s", tag, a.writer, a.t, p.t, p.writer)
		}
	}
	sum := int64(0)
	for k, v := range balances(t, final) {
		if k < 0 || k >= handoverCounters {
			t.Fatalf("an account %d that no one made", k)
		}
		sum += v
	}
	if sum != int64(len(at)) {
		t.Fatalf("the counters add up to %d, the log holds %d increments", sum, len(at))
	}
	if switches < kills {
		t.Fatalf("the log changes writer %d times over %d kills", switches, kills)
	}
	t.Logf("the log: %d transactions after the setup (%d of them never acknowledged: killed in flight), %d changes of writer",
		len(at), len(at)-len(acks), switches)
}
