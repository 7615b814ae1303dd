package transactor

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/internal/testenv"
)

// Faults between a follower and what it reads (DynamoDB Local, MinIO),
// with toxiproxy, while a writer that reaches them directly goes on
// committing: whatever the fault, Sync(t) returns a value at a basis of at
// least t or fails as unavailable or interrupted, every value the follower
// gives has the writer's balances at the same t, and once the fault clears
// the follower catches up.

// followRig is a writer committing deposits in the background, with the
// balances of every value it acknowledged, by t.
type followRig struct {
	t      *testing.T
	mu     sync.Mutex
	vals   map[datom.T]map[int64]int64
	latest atomic.Uint64
	n      atomic.Int64 // values recorded
	stop   chan struct{}
	done   chan struct{}
}

func startFollowWriter(t *testing.T, c *Conn, pause time.Duration) *followRig {
	t.Helper()
	mustTransact(t, c, accountSchema...)
	r := &followRig{t: t, vals: map[datom.T]map[int64]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	r.record(c.DB())
	go func() {
		defer close(r.done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-r.stop:
				return
			case <-time.After(pause):
			}
			rep, err := c.Transact(ctx, deposit(int64(i%20), int64(i)))
			if err != nil {
				t.Errorf("the writer (no faults on its way): %v", err)
				return
			}
			r.record(rep.DBAfter)
		}
	}()
	t.Cleanup(r.halt)
	return r
}

func (r *followRig) record(db *engine.DB) {
	bal, err := readBalances(context.Background(), db)
	if err != nil {
		r.t.Errorf("the writer's own value at t %d: %v", db.BasisT(), err)
		return
	}
	r.mu.Lock()
	r.vals[db.BasisT()] = bal
	r.mu.Unlock()
	r.latest.Store(uint64(db.BasisT()))
	r.n.Add(1)
}

// halt stops the writer.
func (r *followRig) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// next returns a t that the writer committed after the call: no read
// that ended before the call can have seen it. (The first value recorded
// after the call may have been committed before it, while the writer read
// its balances; the one after that was not.)
func (r *followRig) next() datom.T {
	r.t.Helper()
	was := r.n.Load()
	deadline := time.Now().Add(10 * time.Second)
	for r.n.Load() < was+2 {
		if time.Now().After(deadline) {
			r.t.Fatalf("the writer is stuck at t %d", r.latest.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return datom.T(r.latest.Load())
}

// check fails the test unless db's balances are the writer's at db's
// basis. A read that fails must fail as unavailable or interrupted (the
// store is what it reads); it is returned.
func (r *followRig) check(what string, db *engine.DB) error {
	r.t.Helper()
	b := db.BasisT()
	got, err := readBalances(context.Background(), db)
	if err != nil {
		if !errors.Is(err, anomaly.Unavailable) && !errors.Is(err, anomaly.Interrupted) {
			r.t.Fatalf("%s: reading the follower's value at t %d: %v (category %s)", what, b, err, anomaly.CategoryOf(err))
		}
		return err
	}
	// The follower may read a record from the log before the writer has
	// recorded its acknowledgement: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		latest := datom.T(r.latest.Load()) // before vals: record stores b's value before a later t
		r.mu.Lock()
		want, ok := r.vals[b]
		r.mu.Unlock()
		if ok {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				r.t.Fatalf("%s: the follower at t %d has %v, the writer had %v", what, b, got, want)
			}
			return nil
		}
		if time.Now().After(deadline) || latest > b {
			r.t.Fatalf("%s: the follower is at t %d, which the writer never acknowledged (it is at %d)", what, b, r.latest.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// syncOK syncs f to t within timeout, which must succeed, and checks the
// value.
func (r *followRig) syncOK(what string, f *Follower, t datom.T, timeout time.Duration) *engine.DB {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	db, err := f.Sync(ctx, t)
	if err != nil {
		r.t.Fatalf("%s: sync to t %d: %v after %s (the follower is at %d)", what, t, err, time.Since(start).Round(time.Millisecond), f.DB().BasisT())
	}
	if db.BasisT() < t {
		r.t.Fatalf("%s: sync to t %d returned t %d", what, t, db.BasisT())
	}
	r.check(what, db)
	return db
}

// syncFails syncs f to t within timeout, where the follower cannot get to
// t: it must fail as interrupted or unavailable.
func (r *followRig) syncFails(what string, f *Follower, t datom.T, timeout time.Duration) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	db, err := f.Sync(ctx, t)
	if err == nil {
		r.t.Fatalf("%s: sync to t %d returned a value at t %d, through a fault it cannot have read", what, t, db.BasisT())
	}
	if !errors.Is(err, anomaly.Interrupted) && !errors.Is(err, anomaly.Unavailable) {
		r.t.Fatalf("%s: sync to t %d: %v (category %s), want interrupted or unavailable", what, t, err, anomaly.CategoryOf(err))
	}
	r.check(what+", the value it has", f.DB())
}

// readBalances is balances with the read's error returned.
func readBalances(ctx context.Context, db *engine.DB) (map[int64]int64, error) {
	id, _ := db.Schema().AttrByIdent("acct/id")
	bal, _ := db.Schema().AttrByIdent("acct/balance")
	out := map[int64]int64{}
	if id == nil {
		return out, nil
	}
	for d, err := range db.Datoms(ctx, datom.AEVT, engine.Components{A: id.ID, HasA: true}) {
		if err != nil {
			return nil, err
		}
		for b, err := range db.Datoms(ctx, datom.EAVT, engine.Components{E: d.E, HasE: true, A: bal.ID, HasA: true}) {
			if err != nil {
				return nil, err
			}
			out[d.V.Long()] = b.V.Long()
		}
	}
	return out, nil
}

// waitRoot waits for the writer to have published a root, and then for
// f's trees to be at least at that root (the follower moves onto roots
// once it has caught up with them).
func waitRoot(t *testing.T, f *Follower, cat Catalog, info DBInfo) RootRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var root RootRecord
	for root.Version == 0 {
		var err error
		if root, err = cat.Root(context.Background(), info.ID); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer has published no root")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for f.DB().IndexedT() < root.Root.T {
		if time.Now().After(deadline) {
			t.Fatalf("the follower's trees are at t %d, the writer's root at %d", f.DB().IndexedT(), root.Root.T)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return root
}

// followDynamo is a writer on a fresh DynamoDB Local table, committing
// in the background, and its table's options and store, for followers.
type followDynamo struct {
	w     *followRig
	o     DynamoOptions
	cat   Catalog
	store *cachetiers.Stratified
	info  DBInfo
}

func newFollowDynamo(t *testing.T) *followDynamo {
	t.Helper()
	ctx := context.Background()
	o := dynamoOptions(t)
	log, err := OpenDynamoLog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o.CreateTable = false
	cat, err := OpenDynamoCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	d := &followDynamo{o: o, cat: cat, store: mustDirStore(t, filepath.Join(t.TempDir(), "store"))}
	if d.info, err = cat.CreateDB(ctx, "followed"); err != nil {
		t.Fatal(err)
	}
	c, err := OpenConn(ctx, Options{Log: log, Catalog: cat, Store: d.store, Tree: followTree, IndexDatoms: 150, Logger: quietLogger}, d.info)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d.w = startFollowWriter(t, c, 5*time.Millisecond)
	return d
}

var followTree = engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}

// follow starts a follower that reaches DynamoDB Local at hostPort.
func (d *followDynamo) follow(t *testing.T, hostPort string) *Follower {
	t.Helper()
	ctx := context.Background()
	fo := d.o
	fo.Endpoint = "http://" + hostPort
	log, err := OpenDynamoLog(ctx, fo)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := OpenDynamoCatalog(ctx, fo)
	if err != nil {
		t.Fatal(err)
	}
	// AppendTimeout/4 bounds one poll of the log.
	f, err := Follow(ctx, Options{Log: log, Catalog: cat, Store: d.store, Tree: followTree, AppendTimeout: 4 * time.Second, Logger: quietLogger},
		d.info, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// finish stops the writer, and checks that f catches up with its last t
// and moves onto its newest root.
func (d *followDynamo) finish(t *testing.T, f *Follower) {
	t.Helper()
	d.w.halt()
	last := datom.T(d.w.latest.Load())
	d.w.syncOK("after every fault", f, last, 15*time.Second)
	root := waitRoot(t, f, d.cat, d.info)
	d.w.check("on the newest root", f.DB())
	if lag := f.Lag(); lag != 0 && f.DB().BasisT() == last {
		t.Fatalf("lag %d at the writer's last t", lag)
	}
	t.Logf("the follower kept up to t %d, and is on the root of t %d", last, root.Root.T)
}

func dynamoHost(t *testing.T, o DynamoOptions) string {
	t.Helper()
	u, err := url.Parse(o.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// The follower reads the log and the catalog (DynamoDB Local) through
// toxiproxy; the writer and the store are direct.
func TestFollowerFaultLog(t *testing.T) {
	toxi := testenv.Toxi(t)
	d := newFollowDynamo(t)
	defer d.w.halt()
	w := d.w
	proxy := "ddb-follow-" + newDBID()[:8]
	f := d.follow(t, toxi.Proxy(proxy, dynamoHost(t, d.o)))
	w.syncOK("no fault", f, w.next(), 10*time.Second)

	// Latency: slower, still right.
	toxi.AddToxic(proxy, "slow", "latency", "downstream", map[string]any{"latency": 100, "jitter": 50})
	for i := range 3 {
		w.syncOK(fmt.Sprint("100±50 ms of latency, sync ", i), f, w.next(), 15*time.Second)
	}
	toxi.RemoveToxic(proxy, "slow")
	w.syncOK("after the latency", f, w.next(), 10*time.Second)

	// Cut: every connection is reset.
	toxi.AddToxic(proxy, "cut", "reset_peer", "upstream", map[string]any{"timeout": 0})
	for i := range 3 {
		w.syncFails(fmt.Sprint("connections reset, sync ", i), f, w.next(), 300*time.Millisecond)
	}
	toxi.RemoveToxic(proxy, "cut")
	w.syncOK("after the resets", f, w.next(), 15*time.Second)

	// Answers held: requests get through, nothing comes back (toxiproxy
	// closes the connections when the toxic goes).
	toxi.AddToxic(proxy, "held", "timeout", "downstream", map[string]any{"timeout": 0})
	for i := range 3 {
		w.syncFails(fmt.Sprint("answers held, sync ", i), f, w.next(), 300*time.Millisecond)
	}
	toxi.RemoveToxic(proxy, "held")
	w.syncOK("after the held answers", f, w.next(), 15*time.Second)

	// Answers cut short: every connection is closed after 200 bytes.
	toxi.AddToxic(proxy, "short", "limit_data", "downstream", map[string]any{"bytes": 200})
	for i := range 3 {
		w.syncFails(fmt.Sprint("answers cut short, sync ", i), f, w.next(), 300*time.Millisecond)
	}
	toxi.RemoveToxic(proxy, "short")
	w.syncOK("after the short answers", f, w.next(), 15*time.Second)

	d.finish(t, f)
}

// The follower reads the log and the catalog through a proxy that drops
// its connections without a word: they stay open, and what goes in them
// goes nowhere, also after the fault clears (new connections pass then) —
// what a NAT or firewall that forgets its connections does, or a peer
// that goes away without a reset, until keepalives notice.
func TestFollowerFaultSilentCut(t *testing.T) {
	d := newFollowDynamo(t)
	defer d.w.halt()
	w := d.w
	hole := newHoleProxy(t, dynamoHost(t, d.o))
	defer hole.close() // before the follower's Close, which waits for its poll
	f := d.follow(t, hole.addr())
	w.syncOK("no fault", f, w.next(), 10*time.Second)
	hole.cutAll()
	for i := range 3 {
		w.syncFails(fmt.Sprint("connections dropped, sync ", i), f, w.next(), 300*time.Millisecond)
	}
	hole.heal()
	w.syncOK("new connections pass", f, w.next(), 15*time.Second)
	d.finish(t, f)
}

// holeProxy is a TCP proxy whose connections can be dropped silently:
// cutAll makes every connection a black hole (what comes in from either
// side is thrown away, and nothing is closed toward the client), and
// every new one until heal. The cut ones stay black holes for good.
type holeProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cut      bool
	conns    []*holeConn
	wg       sync.WaitGroup
}

type holeConn struct {
	client, server net.Conn // server nil: cut before it was dialed
	dead           atomic.Bool
}

func newHoleProxy(t *testing.T, upstream string) *holeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holeProxy{ln: ln, upstream: upstream}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *holeProxy) addr() string { return p.ln.Addr().String() }

func (p *holeProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		hc := &holeConn{client: c}
		p.mu.Lock()
		cut := p.cut
		if !cut {
			if hc.server, err = net.Dial("tcp", p.upstream); err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
		}
		hc.dead.Store(cut)
		p.conns = append(p.conns, hc)
		p.mu.Unlock()
		p.wg.Go(func() { p.pump(hc, c, hc.server) })
		if hc.server != nil {
			p.wg.Go(func() { p.pump(hc, hc.server, c) })
		}
	}
}

// pump copies from to to while hc lives, and swallows what comes after.
// The client's end is closed only by the client, or by the upstream
// while hc lives.
func (p *holeProxy) pump(hc *holeConn, from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !hc.dead.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			if from == hc.client || !hc.dead.Load() {
				hc.client.Close()
				if hc.server != nil {
					hc.server.Close()
				}
			}
			return
		}
	}
}

func (p *holeProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, hc := range p.conns {
		hc.dead.Store(true)
	}
}

func (p *holeProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *holeProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, hc := range p.conns {
		hc.client.Close()
		if hc.server != nil {
			hc.server.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// The follower reads the segment store (MinIO) through toxiproxy; the
// writer indexes into it directly, and the log and catalog are files.
func TestFollowerFaultStore(t *testing.T) {
	ctx := context.Background()
	toxi := testenv.Toxi(t)
	srv := testenv.S3(t)
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	bucket := "strata-follow-" + newDBID()[:12]
	// Each store has a memory tier of its own, as a node's would: without
	// one every read of the trees is a GET, and the follower, which reads
	// them to apply each logged transaction, falls behind the writer.
	// Segments the follower has not read yet (the writer's new roots) it
	// can only get from the store.
	s3store := func(endpoint string) *cachetiers.Stratified {
		mem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		st, err := cachetiers.NewS3Store(ctx, cachetiers.S3Options{Bucket: bucket, Region: srv.Region, Endpoint: endpoint,
			UsePathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, RequestTimeout: time.Second, MaxAttempts: 2})
		if err != nil {
			t.Fatal(err)
		}
		s, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: []cachetiers.Tier{st}})
		if err != nil {
			t.Fatal(err)
		}
		if endpoint == srv.Endpoint {
			if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	direct := s3store(srv.Endpoint)
	proxy := "s3-follow-" + newDBID()[:8]
	proxied := s3store("http://" + toxi.Proxy(proxy, u.Host))

	s := newSystem(t)
	s.opts.Store = direct
	s.opts.IndexDatoms = 100
	s.opts.Logger = quietLogger
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := startFollowWriter(t, c, 2*time.Millisecond)
	defer w.halt()
	follow := func() (*Follower, error) {
		other := openSystem(t, s.dir, "test")
		other.opts.Store = proxied
		other.opts.Logger = quietLogger
		return Follow(ctx, other.opts, other.info, 20*time.Millisecond)
	}
	f, err := follow()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w.syncOK("no fault", f, w.next(), 10*time.Second)
	waitRoot(t, f, s.opts.Catalog, s.info)
	indexedBefore := f.DB().IndexedT()

	// The store is down. Applying a logged transaction reads the trees
	// it lands on (engine.DB.ApplyTx), so the follower gets further only
	// as far as its caches take it: a Sync either gets there or fails as
	// interrupted or unavailable, a read of a value it has either gives
	// the writer's balances or fails the same way, and so does a new
	// follower's start (it reads the newest root's trees).
	toxi.AddToxic(proxy, "down", "reset_peer", "upstream", map[string]any{"timeout": 0})
	var synced, syncFailed, readFailed int
	for i := range 3 {
		t0 := w.next()
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		db, err := f.Sync(ctx, t0)
		cancel()
		if err != nil {
			if !errors.Is(err, anomaly.Interrupted) && !errors.Is(err, anomaly.Unavailable) {
				t.Fatalf("store down, sync %d to t %d: %v (category %s)", i, t0, err, anomaly.CategoryOf(err))
			}
			syncFailed++
			db = f.DB()
		} else if db.BasisT() < t0 {
			t.Fatalf("store down, sync %d to t %d returned t %d", i, t0, db.BasisT())
		} else {
			synced++
		}
		if w.check(fmt.Sprint("store down, sync ", i), db) != nil {
			readFailed++
		}
	}
	// The writer indexes on (its own way to the store is up): a new follower
	// would start from its newest root.
	deadline := time.Now().Add(20 * time.Second)
	var rootDown RootRecord
	for {
		if rootDown, err = s.opts.Catalog.Root(ctx, s.info.ID); err != nil {
			t.Fatal(err)
		}
		if rootDown.Root.T > indexedBefore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer published no root after t %d in 20 s (stats %+v)", indexedBefore, c.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	startedDown := "failed"
	if f3, err := follow(); err == nil {
		startedDown = "started (from caches)"
		defer f3.Close()
		w.check("a follower started while the store is down", f3.DB())
	} else if !errors.Is(err, anomaly.Unavailable) && !errors.Is(err, anomaly.Interrupted) {
		t.Fatalf("a follower starting while the store is down: %v (category %s)", err, anomaly.CategoryOf(err))
	}
	indexedDown := f.DB().IndexedT()

	// The store is back: the follower moves onto the newest root and
	// keeps up, and a new follower starts.
	toxi.RemoveToxic(proxy, "down")
	w.syncOK("store back", f, w.next(), 10*time.Second)
	w.halt()
	last := datom.T(w.latest.Load())
	w.syncOK("store back, the writer's last t", f, last, 10*time.Second)
	root := waitRoot(t, f, s.opts.Catalog, s.info)
	w.check("store back, on the newest root", f.DB())
	f2, err := follow()
	if err != nil {
		t.Fatalf("a follower starting after the store came back: %v", err)
	}
	defer f2.Close()
	w.syncOK("a new follower", f2, last, 10*time.Second)
	t.Logf("store down: %d syncs got there, %d failed, %d reads of a value failed, a new follower %s, the follower's trees "+
		"at t %d with the writer's root at %d. Store back: the follower moved onto the root of t %d",
		synced, syncFailed, readFailed, startedDown, indexedDown, rootDown.Root.T, root.Root.T)
}

// slowLog is a log whose records come slowly, each after delay (or the
// reader's ctx ending first).
type slowLog struct {
	Log
	delay time.Duration
}

func (l slowLog) Records(ctx context.Context, db string, after datom.T) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for rec, err := range l.Log.Records(ctx, db, after) {
			if err == nil {
				select {
				case <-time.After(l.delay):
				case <-ctx.Done():
					yield(nil, anomaly.Wrap(anomaly.Interrupted, "slow log", ctx.Err()))
					return
				}
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// A follower far behind a slow log catches up over many polls, each
// bounded (AppendTimeout/4) and each keeping what it applied.
func TestFollowerCatchUpAcrossPolls(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustTransact(t, c, accountSchema...)
	other := openSystem(t, s.dir, "test")
	other.opts.Log = slowLog{Log: other.opts.Log, delay: 5 * time.Millisecond}
	other.opts.AppendTimeout = 400 * time.Millisecond // a poll: 100 ms, some 20 records
	other.opts.Logger = quietLogger
	f, err := Follow(ctx, other.opts, other.info, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rep *engine.TxReport
	for i := range 300 {
		rep = mustTransact(t, c, deposit(int64(i%10), int64(i))...)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	db, err := f.Sync(sctx, rep.DBAfter.BasisT())
	if err != nil {
		t.Fatalf("a follower 300 records behind, 5 ms a record, 100 ms a poll: %v (at t %d)", err, f.DB().BasisT())
	}
	if got, want := balances(t, db), balances(t, rep.DBAfter); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the follower at t %d has %v, the writer %v", db.BasisT(), got, want)
	}
}
