package transactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// Options configure the writer of a database.
type Options struct {
	Log     Log
	Catalog Catalog
	// Store receives the segments of indexing jobs and serves the trees
	// of published roots.
	Store engine.SegmentStore
	Tree  engine.TreeOptions
	// Tx holds the registered transaction functions and predicates (its
	// Now and Writer are set per transaction).
	Tx engine.TxOptions
	// WriterID names this writer in the records it appends (a node id);
	// default a random one.
	WriterID string
	// QueueDepth bounds the transactions waiting for the writer; past it
	// Transact answers busy. Default 1024.
	QueueDepth int
	// MaxBatch bounds the transactions of one group commit. Default 512.
	MaxBatch int
	// IndexDatoms is the memory-index size (datoms) that starts an
	// indexing job. Default 1<<20.
	IndexDatoms int
	// MaxMemDatoms is the memory-index size past which the writer waits for
	// indexing (transactions queue, then answer busy) instead of growing
	// memory without bound. Default 4 × IndexDatoms.
	MaxMemDatoms int
	// AppendTimeout bounds how long a group commit keeps trying to reach
	// the log (each attempt gets a quarter of it; so does each poll of a
	// Follower). Default 30 s.
	AppendTimeout time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger receives the indexing and fencing events; default
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.WriterID == "" {
		o.WriterID = "writer-" + newDBID()[:12]
	}
	if o.QueueDepth <= 0 {
		o.QueueDepth = 1024
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.IndexDatoms <= 0 {
		o.IndexDatoms = 1 << 20
	}
	if o.MaxMemDatoms <= 0 {
		o.MaxMemDatoms = 4 * o.IndexDatoms
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Log == nil:
		return anomaly.New(anomaly.Incorrect, "transactor options", "no Log")
	case o.Catalog == nil:
		return anomaly.New(anomaly.Incorrect, "transactor options", "no Catalog")
	case o.Store == nil:
		return anomaly.New(anomaly.Incorrect, "transactor options", "no Store")
	case len(o.WriterID) > MaxWriterToken:
		return anomaly.New(anomaly.Incorrect, "transactor options", "writer id of %d bytes (max %d)", len(o.WriterID), MaxWriterToken)
	}
	return nil
}

// Conn is the single writer of one database: it resolves transactions in
// order against the newest database value, appends each group of them to
// the log as one record (conditional on the log's head), and acknowledges
// them only once the record is durable. It indexes in the background when
// the memory index grows past a threshold, publishing the new root by
// compare-and-swap.
//
// A Conn that finds another writer's record at the head of the log (it
// lost its lease and someone else took over) is fenced: it refuses
// everything with unavailable from then on.
type Conn struct {
	info  DBInfo
	opts  Options
	w     *engine.Writer
	queue chan *request

	mu      sync.Mutex
	cur     *engine.DB    // newest acknowledged value
	changed chan struct{} // closed and replaced when cur changes
	fenced  error
	closed  bool
	root    RootRecord // the newest root this Conn knows
	// indexing says an indexing job runs; indexed receives its result.
	indexing bool
	indexed  chan indexResult

	stop chan struct{}
	done chan struct{}
	jobs sync.WaitGroup // indexing jobs in flight

	stats ConnStats
}

type request struct {
	ctx  context.Context
	ops  []engine.Op
	done chan result
}

type result struct {
	rep *engine.TxReport
	err error
}

type indexResult struct {
	db   *engine.DB
	root RootRecord
	err  error
}

// ConnStats counts what a Conn did.
type ConnStats struct {
	Transactions, Batches, Failed, Busy int64
	IndexJobs                           int64
	LastIndex                           engine.IndexStats
	LastIndexTime                       time.Duration
}

// OpenConn recovers database info from its root and log and starts its
// writer. The caller holds the database's lease (Transactor does).
func OpenConn(ctx context.Context, opts Options, info DBInfo) (*Conn, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &Conn{info: info, opts: opts, w: engine.NewWriter(), queue: make(chan *request, opts.QueueDepth),
		changed: make(chan struct{}), indexed: make(chan indexResult, 1), stop: make(chan struct{}), done: make(chan struct{})}
	db, root, err := Recover(ctx, opts, info, c.w)
	if err != nil {
		return nil, err
	}
	c.cur, c.root = db, root
	go c.run()
	return c, nil
}

// Recover returns the newest value of database info: its published root
// (or the empty database) with every logged transaction after it applied,
// each once, and the root record it started from. w is the writer that
// will own the value (nil for a follower).
func Recover(ctx context.Context, opts Options, info DBInfo, w *engine.Writer) (*engine.DB, RootRecord, error) {
	root, err := opts.Catalog.Root(ctx, info.ID)
	if err != nil {
		return nil, root, err
	}
	db := engine.Empty()
	if root.Version > 0 {
		if db, err = engine.Open(ctx, opts.Store, opts.Tree, root.Root); err != nil {
			return nil, root, fmt.Errorf("recover %s: open root at t %d: %w", info.Name, root.Root.T, err)
		}
	}
	if db, err = catchUp(ctx, opts.Log, info.ID, db, w); err != nil {
		return nil, root, err
	}
	return db, root, nil
}

// catchUp applies the logged transactions after db's basis. On an error
// it returns the value as far as it got, with the error (a follower keeps
// it).
func catchUp(ctx context.Context, log Log, id string, db *engine.DB, w *engine.Writer) (*engine.DB, error) {
	for rec, err := range log.Records(ctx, id, db.BasisT()) {
		if err != nil {
			return db, err
		}
		if rec.PrevT > db.BasisT() {
			// Applying it would skip the transactions between: never.
			return db, anomaly.New(anomaly.Fault, "log "+id, "a record follows t %d, but the database is at t %d: the log read skipped a record", rec.PrevT, db.BasisT())
		}
		for _, tx := range rec.Txs {
			if tx.T <= db.BasisT() {
				continue
			}
			next, err := db.ApplyTx(ctx, tx, w)
			if err != nil {
				return db, fmt.Errorf("log %s: t %d: %w", id, tx.T, err)
			}
			db = next
		}
	}
	return db, nil
}

// Info names the Conn's database.
func (c *Conn) Info() DBInfo { return c.info }

// DB returns the newest acknowledged database value.
func (c *Conn) DB() *engine.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// Stats returns what the Conn did so far.
func (c *Conn) Stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Sync returns a database value whose basis is at least t, waiting for
// the writer to get there (or ctx to end).
func (c *Conn) Sync(ctx context.Context, t datom.T) (*engine.DB, error) {
	for {
		c.mu.Lock()
		db, ch, fenced := c.cur, c.changed, c.fenced
		c.mu.Unlock()
		if db.BasisT() >= t {
			return db, nil
		}
		if fenced != nil {
			return nil, fenced
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, anomaly.Wrap(anomaly.Interrupted, "sync", ctx.Err())
		}
	}
}

// Transact submits a transaction and waits for its report: acknowledged
// means durable in the log. A full queue answers busy at once; a failed
// transaction changes nothing.
func (c *Conn) Transact(ctx context.Context, ops []engine.Op) (*engine.TxReport, error) {
	c.mu.Lock()
	closed, fenced := c.closed, c.fenced
	c.mu.Unlock()
	switch {
	case closed:
		return nil, anomaly.New(anomaly.Unavailable, "transact", "database %s: the writer is closed", c.info.Name)
	case fenced != nil:
		return nil, fenced
	}
	req := &request{ctx: ctx, ops: ops, done: make(chan result, 1)}
	select {
	case c.queue <- req:
	default:
		c.mu.Lock()
		c.stats.Busy++
		c.mu.Unlock()
		return nil, anomaly.New(anomaly.Busy, "transact", "database %s: %d transactions are waiting", c.info.Name, cap(c.queue))
	}
	select {
	case r := <-req.done:
		return r.rep, r.err
	case <-ctx.Done():
		// The transaction may still commit: the caller can find out with
		// Sync and the log. Waiting no longer is all this does.
		return nil, anomaly.Wrap(anomaly.Interrupted, "transact", errors.Join(ctx.Err(), ErrOutcomeUnknown))
	}
}

// ErrOutcomeUnknown is in the errors of transactions that may or may not
// have committed (errors.Is): the caller stopped waiting, or the log did
// not answer. Retrying one blindly could commit it twice; Sync and the
// log tell.
var ErrOutcomeUnknown = errors.New("the outcome is unknown: the transaction may have committed")

// fence makes the Conn refuse everything with err from now on (it is not
// the database's writer any more).
func (c *Conn) fence(err error) {
	c.mu.Lock()
	if c.fenced == nil {
		c.fenced = err
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Close stops the writer after the transactions it has taken; queued ones
// that did not start fail with unavailable.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	c.jobs.Wait() // an indexing job in flight writes to the store until it ends
	return nil
}

// run is the writer loop: one group commit at a time.
func (c *Conn) run() {
	defer close(c.done)
	defer func() {
		c.mu.Lock()
		err := c.fenced
		c.mu.Unlock()
		if err == nil {
			err = anomaly.New(anomaly.Unavailable, "transact", "database %s: the writer closed", c.info.Name)
		}
		c.drain(err)
	}()
	for {
		// Rebase onto a finished indexing job first; wait for one while the
		// memory index is over its bound.
		for {
			select {
			case r := <-c.indexed:
				c.finishIndex(r)
			default:
			}
			if c.DB().MemDatoms() < c.opts.MaxMemDatoms || !c.isIndexing() {
				break
			}
			select {
			case r := <-c.indexed:
				c.finishIndex(r)
			case <-c.stop:
				return
			}
		}
		var batch []*request
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		case r := <-c.indexed:
			c.finishIndex(r)
			continue
		case <-c.stop:
			return
		}
	more:
		for len(batch) < c.opts.MaxBatch {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		if err := c.commit(batch); err != nil {
			c.opts.Logger.Error("transactor: writer stops", "db", c.info.Name, "err", err)
			return
		}
		c.maybeIndex()
	}
}

// drain fails what is left in the queue.
func (c *Conn) drain(err error) {
	for {
		select {
		case r := <-c.queue:
			r.done <- result{err: err}
		default:
			return
		}
	}
}

// commit resolves a batch against the newest value, appends the ones that
// succeed as one record, and acknowledges them once it is durable. It
// returns an error only when the Conn must stop (fenced).
func (c *Conn) commit(batch []*request) error {
	c.mu.Lock()
	fenced := c.fenced
	c.mu.Unlock()
	if fenced != nil {
		for _, req := range batch {
			req.done <- result{err: fenced}
		}
		return fenced
	}
	base := c.DB()
	db := base
	type done struct {
		req *request
		rep *engine.TxReport
	}
	var ok []done
	rec := &Record{PrevT: base.BasisT(), Writer: c.opts.WriterID}
	txOpts := c.opts.Tx
	txOpts.Writer = c.w
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- result{err: anomaly.Wrap(anomaly.Interrupted, "transact", err)}
			continue
		}
		txOpts.Now = c.opts.Now()
		rep, err := db.With(req.ctx, req.ops, txOpts)
		if err != nil {
			req.done <- result{err: err}
			c.count(func(s *ConnStats) { s.Failed++ })
			continue
		}
		db = rep.DBAfter
		rec.Txs = append(rec.Txs, engine.TxEntry{T: db.BasisT(), NextN: db.NextN(), Data: rep.TxData})
		ok = append(ok, done{req, rep})
	}
	if len(ok) == 0 {
		return nil
	}
	err := c.append(rec)
	if err != nil {
		if _, stale := IsHeadError(err); stale {
			// Another writer appended: this one is not the writer any
			// more. Nothing of this batch is in the log.
			fenced := anomaly.New(anomaly.Unavailable, "transact", "database %s: this node is no longer its writer (%v)", c.info.Name, err)
			c.fence(fenced)
			for _, d := range ok {
				d.req.done <- result{err: fenced}
			}
			return fenced
		}
		if errors.Is(err, anomaly.Incorrect) {
			// Refused outright (a record over the size limit): nothing
			// of the batch is in the log, and the writer goes on.
			for _, d := range ok {
				d.req.done <- result{err: err}
			}
			c.count(func(s *ConnStats) { s.Failed += int64(len(ok)) })
			return nil
		}
		// The log could not be reached for AppendTimeout: the record may
		// or may not be in it. The callers learn that the outcome is
		// unknown, and this writer stops, so that whoever writes next
		// (a new Conn) starts from what the log holds.
		unknown := &anomaly.Error{Category: anomaly.Unavailable, Op: "transact",
			Msg: fmt.Sprintf("database %s: the log did not answer (%v)", c.info.Name, err), Err: ErrOutcomeUnknown}
		fenced := anomaly.New(anomaly.Unavailable, "transact", "database %s: the writer stopped: the log did not answer (%v)", c.info.Name, err)
		c.fence(fenced)
		for _, d := range ok {
			d.req.done <- result{err: unknown}
		}
		return fenced
	}
	c.mu.Lock()
	c.cur = db
	close(c.changed)
	c.changed = make(chan struct{})
	c.stats.Transactions += int64(len(ok))
	c.stats.Batches++
	c.mu.Unlock()
	for _, d := range ok {
		d.req.done <- result{rep: d.rep}
	}
	// Let the callers just woken run before this goroutine goes back to
	// the log: they sit on this P, and a P blocked in the next append's
	// fdatasync keeps them waiting until the scheduler takes it back
	// (BenchmarkFileLog's open loop: 120 to 40 µs from the append's end to
	// the caller's return, at the median).
	runtime.Gosched()
	return nil
}

// append appends rec, retrying what may be transient until
// AppendTimeout: a retry of a record that landed is recognized by the log
// (same writer, same content), so retrying never appends twice. The append
// is the commit point and is not cancelled with any caller.
func (c *Conn) append(rec *Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.AppendTimeout)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		actx, acancel := context.WithTimeout(ctx, c.opts.AppendTimeout/4)
		err := c.opts.Log.Append(actx, c.info.ID, rec)
		acancel()
		if err == nil || !anomaly.CategoryOf(err).Retryable() {
			return err
		}
		if _, stale := IsHeadError(err); stale {
			return err
		}
		c.opts.Logger.Warn("transactor: append failed, retrying", "db", c.info.Name, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (c *Conn) count(fn func(*ConnStats)) {
	c.mu.Lock()
	fn(&c.stats)
	c.mu.Unlock()
}

func (c *Conn) isIndexing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.indexing
}

// maybeIndex starts an indexing job when the memory index is over its
// threshold and none runs.
func (c *Conn) maybeIndex() {
	c.mu.Lock()
	if c.indexing || c.cur.MemDatoms() < c.opts.IndexDatoms {
		c.mu.Unlock()
		return
	}
	c.indexing = true
	snap, root := c.cur, c.root
	c.mu.Unlock()
	c.jobs.Add(1)
	go func() {
		defer c.jobs.Done()
		start := time.Now()
		idx, r, st, err := snap.Index(context.Background(), c.opts.Store, c.opts.Tree)
		var rec RootRecord
		if err == nil {
			rec, err = c.opts.Catalog.SwapRoot(context.Background(), c.info.ID, root.Version, r)
		}
		c.count(func(s *ConnStats) {
			s.IndexJobs++
			s.LastIndex, s.LastIndexTime = st, time.Since(start)
		})
		c.indexed <- indexResult{db: idx, root: rec, err: err}
	}()
}

// finishIndex rebases the newest value onto a finished job's trees (in
// the writer loop, between batches).
func (c *Conn) finishIndex(r indexResult) {
	c.mu.Lock()
	c.indexing = false
	c.mu.Unlock()
	if r.err != nil {
		// The memory index stays; the next batch tries again.
		c.opts.Logger.Warn("transactor: indexing failed", "db", c.info.Name, "err", r.err)
		if errors.Is(r.err, anomaly.Conflict) {
			// Someone else published a root: read it for the next job.
			if rec, err := c.opts.Catalog.Root(context.Background(), c.info.ID); err == nil {
				c.mu.Lock()
				c.root = rec
				c.mu.Unlock()
			}
		}
		return
	}
	db, err := c.DB().Rebase(r.db, c.w)
	if err != nil {
		c.opts.Logger.Error("transactor: rebase after indexing", "db", c.info.Name, "err", err)
		return
	}
	c.mu.Lock()
	c.cur, c.root = db, r.root
	c.mu.Unlock()
	c.opts.Logger.Info("transactor: indexed", "db", c.info.Name, "t", r.root.Root.T, "version", r.root.Version)
}
