package transactor

import (
	"context"
	"sync"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// Follower keeps a read-only copy of a database current, as query-group
// nodes and primary nodes that are not its writer do: it tails the log
// from its basis, applying each transaction to its memory index, and when
// the writer publishes a new root it moves onto the new trees (so that its
// memory index stays as small as the writer's).
type Follower struct {
	opts     Options
	info     DBInfo
	interval time.Duration

	mu      sync.Mutex
	cur     *engine.DB
	root    RootRecord
	head    datom.T // the log's head at the last poll
	err     error   // the last poll's error (nil once a poll succeeds)
	changed chan struct{}
	poke    chan struct{}

	stop chan struct{}
	done chan struct{}
}

// Follow recovers database info and follows it, polling the log every
// interval (default 50 ms) and whenever Sync waits.
func Follow(ctx context.Context, opts Options, info DBInfo, interval time.Duration) (*Follower, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	db, root, err := Recover(ctx, opts, info, nil)
	if err != nil {
		return nil, err
	}
	f := &Follower{opts: opts, info: info, interval: interval, cur: db, root: root, head: db.BasisT(),
		changed: make(chan struct{}), poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f, nil
}

// DB returns the newest value the follower has.
func (f *Follower) DB() *engine.DB {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// Lag is how far the follower is behind the log's head, in t, at its last
// poll.
func (f *Follower) Lag() datom.T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head - min(f.head, f.cur.BasisT())
}

// Sync returns a value whose basis is at least t.
func (f *Follower) Sync(ctx context.Context, t datom.T) (*engine.DB, error) {
	for {
		f.mu.Lock()
		db, ch := f.cur, f.changed
		f.mu.Unlock()
		if db.BasisT() >= t {
			return db, nil
		}
		select {
		case f.poke <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, anomaly.Wrap(anomaly.Interrupted, "sync", ctx.Err())
		case <-f.done:
			return nil, anomaly.New(anomaly.Unavailable, "sync", "the follower of %s is closed", f.info.Name)
		}
	}
}

// Close stops following.
func (f *Follower) Close() error {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	return nil
}

func (f *Follower) run() {
	defer close(f.done)
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		case <-f.poke:
		}
		if err := f.poll(); err != nil {
			f.opts.Logger.Warn("transactor: follower poll", "db", f.info.Name, "err", err)
		}
	}
}

// poll applies what the log gained and moves onto a newer root. A poll
// is bounded as one append attempt of the writer is (AppendTimeout/4):
// the SDKs' HTTP clients wait as long as a connection stays open, and a
// poll stuck on one that died without a reset (TestFollowerFaultSilentCut)
// would stop the follower for good. What a poll applied before it failed
// is kept (catchUp returns it), so that a catch-up longer than one poll
// still gets there.
func (f *Follower) poll() error {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.AppendTimeout/4)
	defer cancel()
	db := f.DB()
	next, err := catchUp(ctx, f.opts.Log, f.info.ID, db, nil)
	if err == nil {
		err = f.pickUpRoot(ctx, &next)
	}
	head, herr := f.opts.Log.Head(ctx, f.info.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if herr == nil {
		f.head = head
	}
	f.err = err
	if next != nil && next != f.cur {
		f.cur = next
		close(f.changed)
		f.changed = make(chan struct{})
	}
	return err
}

// pickUpRoot rebases *db onto the newest published root, if it is newer
// than *db's trees and *db has caught up with it.
func (f *Follower) pickUpRoot(ctx context.Context, db **engine.DB) error {
	rec, err := f.opts.Catalog.Root(ctx, f.info.ID)
	if err != nil || rec.Version == 0 || rec.Version == f.root.Version {
		return err
	}
	if rec.Root.T <= (*db).IndexedT() || rec.Root.T > (*db).BasisT() {
		return nil // not newer, or not caught up with it yet
	}
	idx, err := engine.Open(ctx, f.opts.Store, f.opts.Tree, rec.Root)
	if err != nil {
		return err
	}
	nd, err := (*db).Rebase(idx, nil)
	if err != nil {
		return err
	}
	*db = nd
	f.mu.Lock()
	f.root = rec
	f.mu.Unlock()
	return nil
}
