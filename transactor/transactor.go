package transactor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/stratadb/strata/anomaly"
)

// Transactor runs the writers (Conns) of the databases this node writes,
// each under the database's lease in the catalog: it takes the lease
// before it opens a Conn, renews it while the Conn runs, and fences the
// Conn when the lease is lost. The log's conditional append fences a stale
// writer anyway; the lease keeps two nodes from trying.
type Transactor struct {
	opts     Options
	leaseTTL time.Duration

	mu     sync.Mutex
	conns  map[string]*leased // by database name
	closed bool
}

type leased struct {
	conn *Conn
	stop chan struct{}
	done chan struct{}
}

// DefaultLeaseTTL is how long a writer lease lasts between renewals (a
// third of it).
const DefaultLeaseTTL = 10 * time.Second

// New returns a Transactor. leaseTTL 0 means DefaultLeaseTTL.
func New(opts Options, leaseTTL time.Duration) (*Transactor, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if leaseTTL <= 0 {
		leaseTTL = DefaultLeaseTTL
	}
	return &Transactor{opts: opts, leaseTTL: leaseTTL, conns: map[string]*leased{}}, nil
}

// WriterID is the id this Transactor holds leases and appends records as.
func (t *Transactor) WriterID() string { return t.opts.WriterID }

// CreateDB creates a database.
func (t *Transactor) CreateDB(ctx context.Context, name string) (DBInfo, error) {
	return t.opts.Catalog.CreateDB(ctx, name)
}

// ListDBs lists the databases.
func (t *Transactor) ListDBs(ctx context.Context) ([]DBInfo, error) {
	return t.opts.Catalog.ListDBs(ctx)
}

// DeleteDB deletes a database: its writer here stops, its name is free at
// once, and its log is dropped. (Its segments stay in the store: other
// databases never share them, and a store sweep can remove them.)
func (t *Transactor) DeleteDB(ctx context.Context, name string) error {
	t.mu.Lock()
	l := t.conns[name]
	delete(t.conns, name)
	t.mu.Unlock()
	if l != nil {
		l.close()
	}
	info, err := t.opts.Catalog.DeleteDB(ctx, name)
	if err != nil {
		return err
	}
	return t.opts.Log.Drop(ctx, info.ID)
}

// NotWriterError says that another node holds a database's lease.
type NotWriterError struct {
	DB, Holder string
	Until      time.Time
}

func (e *NotWriterError) Error() string {
	return fmt.Sprintf("database %s is written by %s (lease until %s)", e.DB, e.Holder, e.Until.Format(time.RFC3339))
}

// Is makes a NotWriterError unavailable here (retryable: at the writer).
func (e *NotWriterError) Is(target error) bool { return target == anomaly.Unavailable }

// Conn returns the writer of database name, opening it (lease, recovery)
// if this node does not run it yet. Another node's lease is a
// *NotWriterError.
func (t *Transactor) Conn(ctx context.Context, name string) (*Conn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, anomaly.New(anomaly.Unavailable, "transactor", "closed")
	}
	if l, ok := t.conns[name]; ok {
		c := l.conn
		c.mu.Lock()
		live := !c.closed && c.fenced == nil
		c.mu.Unlock()
		if live {
			t.mu.Unlock()
			return c, nil
		}
		delete(t.conns, name)
		defer l.close()
	}
	t.mu.Unlock()

	info, err := t.opts.Catalog.GetDB(ctx, name)
	if err != nil {
		return nil, err
	}
	lease, err := t.opts.Catalog.AcquireLease(ctx, info.ID, t.opts.WriterID, t.leaseTTL, t.opts.Now())
	if err != nil {
		if errors.Is(err, anomaly.Conflict) {
			return nil, t.notWriter(ctx, info, err)
		}
		return nil, err
	}
	c, err := OpenConn(ctx, t.opts, info)
	if err != nil {
		t.opts.Catalog.ReleaseLease(context.Background(), info.ID, t.opts.WriterID)
		return nil, err
	}
	l := &leased{conn: c, stop: make(chan struct{}), done: make(chan struct{})}
	go t.renew(l, info, lease)
	t.mu.Lock()
	defer t.mu.Unlock()
	if other, ok := t.conns[name]; ok || t.closed {
		// Another caller opened it meanwhile (it holds the same lease), or
		// the Transactor closed.
		close(l.stop)
		<-l.done
		c.Close()
		if t.closed {
			return nil, anomaly.New(anomaly.Unavailable, "transactor", "closed")
		}
		return other.conn, nil
	}
	t.conns[name] = l
	return c, nil
}

// notWriter describes who holds the lease instead.
func (t *Transactor) notWriter(ctx context.Context, info DBInfo, cause error) error {
	if l, err := t.opts.Catalog.LeaseOf(ctx, info.ID); err == nil && l.Holder != "" {
		return &NotWriterError{DB: info.Name, Holder: l.Holder, Until: l.Expires}
	}
	return anomaly.Wrap(anomaly.Unavailable, "database "+info.Name, cause)
}

// renew keeps the lease of l's database until l stops, fencing the Conn
// when the lease is lost (another holder, or no renewal before it ran
// out).
func (t *Transactor) renew(l *leased, info DBInfo, lease Lease) {
	defer close(l.done)
	tick := time.NewTicker(t.leaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			t.opts.Catalog.ReleaseLease(context.Background(), info.ID, t.opts.WriterID)
			return
		case <-tick.C:
		}
		now := t.opts.Now()
		ctx, cancel := context.WithTimeout(context.Background(), t.leaseTTL/3)
		nl, err := t.opts.Catalog.AcquireLease(ctx, info.ID, t.opts.WriterID, t.leaseTTL, now)
		cancel()
		switch {
		case err == nil:
			lease = nl
		case errors.Is(err, anomaly.Conflict) || !now.Before(lease.Expires):
			l.conn.fence(anomaly.New(anomaly.Unavailable, "transact", "database %s: this node lost its writer lease (%v)", info.Name, err))
			t.opts.Logger.Warn("transactor: lease lost", "db", info.Name, "err", err)
			return
		default:
			t.opts.Logger.Warn("transactor: lease renewal failed, retrying", "db", info.Name, "err", err)
		}
	}
}

func (l *leased) close() {
	close(l.stop)
	<-l.done
	l.conn.Close()
}

// Close stops every writer and gives their leases up.
func (t *Transactor) Close() error {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = map[string]*leased{}
	t.mu.Unlock()
	for _, l := range conns {
		l.close()
	}
	return nil
}

// PreferredWriter returns the member that should write database id:
// rendezvous hashing over the live members of the primary group, so that
// each database has one preferred node and a member joining or leaving
// moves only the databases it wins or held.
func PreferredWriter(id string, members []Member) (Member, bool) {
	var best Member
	var bestScore uint64
	found := false
	for _, m := range members {
		s := xxhash.Sum64String(id + "\x00" + m.ID)
		if !found || s > bestScore || s == bestScore && m.ID < best.ID {
			best, bestScore, found = m, s, true
		}
	}
	return best, found
}
