package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/transactor"
)

// Node is one strata node: its storage strata, its writer (on a primary
// node) and the followers that serve reads of databases it does not write.
type Node struct {
	cfg    Config
	logger *slog.Logger

	log     transactor.Log
	catalog transactor.Catalog
	strata  *cachetiers.Stratified
	closers []io.Closer // tiers and the rest, closed last, in reverse

	opts transactor.Options
	tr   *transactor.Transactor // nil on a query-group node

	mu        sync.Mutex
	followers map[string]*transactor.Follower // by database id
	names     map[string]string               // followed databases' names, by id
	conns     map[string]*transactor.Conn     // the writers opened here, by name
	// notWriter remembers, per database name, until when another node
	// holds its lease, so that reads do not ask the catalog every time.
	notWriter map[string]time.Time
	closed    bool

	stop chan struct{}
	done chan struct{}
}

// Open starts a node: it opens the log, catalog and segment store that cfg
// names (creating the embedded default's directories), the cache strata,
// and the writer of a primary node. Misconfiguration is incorrect, with
// what to fix.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	n := &Node{cfg: cfg, logger: logger, followers: map[string]*transactor.Follower{}, names: map[string]string{}, conns: map[string]*transactor.Conn{},
		notWriter: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.closeStorage()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, anomaly.New(anomaly.Incorrect, "data-dir", "%s: %v (give a directory the node may write with --data)", cfg.DataDir, err)
	}
	if n.cfg.NodeID == "" {
		id, err := nodeID(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		n.cfg.NodeID = id
	}
	store, err := n.openStorage(ctx)
	if err != nil {
		return nil, err
	}
	n.opts = transactor.Options{Log: n.log, Catalog: n.catalog, Store: n.strata, WriterID: n.cfg.NodeID,
		IndexDatoms: cfg.IndexDatoms, Logger: logger}
	_ = store
	if cfg.Group == PrimaryGroup {
		if n.tr, err = transactor.New(n.opts, cfg.LeaseTTL); err != nil {
			return nil, err
		}
	}
	go n.heartbeat()
	ok = true
	return n, nil
}

// nodeID reads the node's id from dir/node-id, or makes one and writes it
// there, so that a restarted node keeps its leases' holder name.
func nodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := "node-" + hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", anomaly.New(anomaly.Incorrect, "data-dir", "writing %s: %v", path, err)
	}
	return id, nil
}

// openStorage opens the log, catalog, store of record and cache tiers.
func (n *Node) openStorage(ctx context.Context) (cachetiers.Tier, error) {
	cfg := n.cfg
	var store cachetiers.Tier
	if cfg.DynamoTable != "" {
		s3, err := cachetiers.NewS3Store(ctx, cachetiers.S3Options{Bucket: cfg.S3Bucket, Prefix: cfg.S3Prefix, Region: cfg.Region,
			Endpoint: cfg.S3Endpoint, UsePathStyle: cfg.S3Endpoint != ""})
		if err != nil {
			return nil, fmt.Errorf("s3-bucket %s: %w", cfg.S3Bucket, err)
		}
		n.closers = append(n.closers, s3)
		store = s3
	} else {
		ds, err := cachetiers.NewDirStore(cachetiers.DirStoreOptions{Dir: filepath.Join(cfg.DataDir, "store")})
		if err != nil {
			return nil, err
		}
		n.closers = append(n.closers, ds)
		store = ds
	}
	store, err := n.encrypt(ctx, store)
	if err != nil {
		return nil, err
	}
	tiers := []cachetiers.Tier{}
	if cfg.SSDPath != "off" {
		dir := cfg.SSDPath
		if dir == "" {
			dir = filepath.Join(cfg.DataDir, "ssd")
		}
		ssd, err := cachetiers.NewSSD(cachetiers.SSDOptions{Dir: dir, CapacityBytes: cfg.SSDBytes, AllowBuffered: true})
		if err != nil {
			return nil, fmt.Errorf("ssd-path %s (or --ssd-path off): %w", dir, err)
		}
		n.closers = append(n.closers, ssd)
		tiers = append(tiers, ssd)
	}
	if cfg.EFSPath != "" {
		efs, err := cachetiers.NewEFS(cachetiers.EFSOptions{Dir: cfg.EFSPath})
		if err != nil {
			return nil, fmt.Errorf("efs-path %s: %w", cfg.EFSPath, err)
		}
		n.closers = append(n.closers, efs)
		tiers = append(tiers, efs)
	}
	tiers = append(tiers, store)
	mem, err := cachetiers.NewMemory(cachetiers.MemoryOptions{CapacityBytes: cfg.MemoryBytes})
	if err != nil {
		return nil, fmt.Errorf("memory-bytes: %w", err)
	}
	if n.strata, err = cachetiers.NewStratified(cachetiers.StratifiedOptions{Memory: mem, Tiers: tiers}); err != nil {
		return nil, err
	}
	if cfg.DynamoTable != "" {
		o := transactor.DynamoOptions{Table: cfg.DynamoTable, Region: cfg.Region, Endpoint: cfg.DynamoEndpoint,
			CreateTable: cfg.CreateTable, Spill: transactor.SegmentSpill{Store: n.strata}}
		l, err := transactor.OpenDynamoLog(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("dynamodb-table %s: %w", cfg.DynamoTable, err)
		}
		n.log = l
		o.CreateTable = false
		c, err := transactor.OpenDynamoCatalog(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("dynamodb-table %s: %w", cfg.DynamoTable, err)
		}
		n.catalog = c
	} else {
		l, err := transactor.OpenFileLog(filepath.Join(cfg.DataDir, "log"))
		if err != nil {
			return nil, err
		}
		n.log = l
		c, err := transactor.OpenFileCatalog(filepath.Join(cfg.DataDir, "catalog"))
		if err != nil {
			return nil, err
		}
		n.catalog = c
	}
	return store, nil
}

// encrypt wraps the store of record in envelope encryption when the
// configuration asks for it.
func (n *Node) encrypt(ctx context.Context, store cachetiers.Tier) (cachetiers.Tier, error) {
	cfg := n.cfg
	var keys cachetiers.KeySource
	switch {
	case cfg.EncryptionKeyFile != "":
		k, err := cachetiers.LoadLocalKeyFile(cfg.EncryptionKeyFile, true)
		if err != nil {
			return nil, fmt.Errorf("encryption-key-file %s: %w", cfg.EncryptionKeyFile, err)
		}
		keys = k
	case cfg.KMSKeyID != "":
		k, err := cachetiers.NewKMSKeys(ctx, cachetiers.KMSKeysOptions{KeyID: cfg.KMSKeyID, Region: cfg.Region, Endpoint: cfg.KMSEndpoint})
		if err != nil {
			return nil, fmt.Errorf("kms-key-id %s: %w", cfg.KMSKeyID, err)
		}
		keys = k
	default:
		return store, nil
	}
	return cachetiers.NewEnvelope(store, cachetiers.EnvelopeOptions{Keys: keys})
}

// Config returns the node's configuration, defaults filled.
func (n *Node) Config() Config { return n.cfg }

// Catalog returns the node's catalog (keys, databases, members).
func (n *Node) Catalog() transactor.Catalog { return n.catalog }

// Strata returns the node's cache strata (for metrics).
func (n *Node) Strata() *cachetiers.Stratified { return n.strata }

// IsPrimary reports whether the node is in the primary group.
func (n *Node) IsPrimary() bool { return n.tr != nil }

// heartbeat records the node in its group until Close.
func (n *Node) heartbeat() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Heartbeat)
		err := n.catalog.Heartbeat(ctx, transactor.Member{ID: n.cfg.NodeID, Group: n.cfg.Group, Addr: n.cfg.Advertise, Seen: time.Now()})
		cancel()
		if err != nil {
			n.logger.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

// members returns the live members of group (seen within three leases).
func (n *Node) members(ctx context.Context, group string) ([]transactor.Member, error) {
	return n.catalog.Members(ctx, group, time.Now().Add(-3*n.cfg.LeaseTTL))
}

// dbInfo resolves a database name.
func (n *Node) dbInfo(ctx context.Context, name string) (transactor.DBInfo, error) {
	return n.catalog.GetDB(ctx, name)
}

// writer returns this node's writer of the database, or a
// *transactor.NotWriterError naming the node that writes it, or
// anomaly.Unsupported on a query-group node.
func (n *Node) writer(ctx context.Context, name string) (*transactor.Conn, error) {
	if n.tr == nil {
		return nil, errNotPrimary
	}
	n.mu.Lock()
	_, here := n.conns[name]
	n.mu.Unlock()
	if !here {
		if pref, err := n.preferredElsewhere(ctx, name); err != nil {
			return nil, err
		} else if pref != "" {
			return nil, &transactor.NotWriterError{DB: name, Holder: pref, Until: time.Now().Add(n.cfg.Heartbeat)}
		}
	}
	c, err := n.tr.Conn(ctx, name)
	n.mu.Lock()
	defer n.mu.Unlock()
	var nw *transactor.NotWriterError
	switch {
	case err == nil:
		n.conns[name] = c
		delete(n.notWriter, name)
	case errors.As(err, &nw):
		delete(n.conns, name)
		n.notWriter[name] = nw.Until
	}
	return c, err
}

// preferredElsewhere returns the primary node that should take database
// name's writer lease when nobody holds it and that node is not this one
// (rendezvous hashing over the live primary nodes, less a holder whose
// lease lapsed): "" when this node should take it, or when the lease is
// held (Conn then finds out by whom).
func (n *Node) preferredElsewhere(ctx context.Context, name string) (string, error) {
	info, err := n.dbInfo(ctx, name)
	if err != nil {
		return "", err
	}
	lease, err := n.catalog.LeaseOf(ctx, info.ID)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if lease.Holder == n.cfg.NodeID || lease.Holder != "" && now.Before(lease.Expires) {
		return "", nil
	}
	members, err := n.members(ctx, PrimaryGroup)
	if err != nil {
		return "", err
	}
	members = slices.DeleteFunc(members, func(m transactor.Member) bool { return m.ID == lease.Holder })
	if pref, ok := transactor.PreferredWriter(info.ID, members); ok && pref.ID != n.cfg.NodeID {
		return pref.ID, nil
	}
	return "", nil
}

// tracked returns the writers and followers this node runs (for metrics).
func (n *Node) tracked() (map[string]*transactor.Conn, map[string]*transactor.Follower) {
	n.mu.Lock()
	defer n.mu.Unlock()
	conns := make(map[string]*transactor.Conn, len(n.conns))
	for k, c := range n.conns {
		conns[k] = c
	}
	fs := make(map[string]*transactor.Follower, len(n.followers))
	for id, f := range n.followers {
		fs[n.names[id]] = f
	}
	return conns, fs
}

var errNotPrimary = errors.New("a query-group node writes nothing")

// reader returns the newest database value this node has of the database:
// its writer's if it writes it, else its follower's (started on first use).
func (n *Node) reader(ctx context.Context, name string) (db *engine.DB, sync func(context.Context, datom.T) (*engine.DB, error), err error) {
	info, err := n.dbInfo(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	n.mu.Lock()
	until, other := n.notWriter[name]
	n.mu.Unlock()
	if n.tr != nil && (!other || time.Now().After(until)) {
		if c, err := n.writer(ctx, name); err == nil {
			return c.DB(), c.Sync, nil
		} else if !errors.Is(err, anomaly.Unavailable) {
			return nil, nil, err
		}
	}
	f, err := n.follower(ctx, info)
	if err != nil {
		return nil, nil, err
	}
	return f.DB(), f.Sync, nil
}

// follower returns the database's follower, starting it if needed.
func (n *Node) follower(ctx context.Context, info transactor.DBInfo) (*transactor.Follower, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, anomaly.New(anomaly.Unavailable, "node", "closing")
	}
	f, ok := n.followers[info.ID]
	n.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := transactor.Follow(ctx, n.opts, info, 0)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if other, ok := n.followers[info.ID]; ok || n.closed {
		f.Close()
		if n.closed {
			return nil, anomaly.New(anomaly.Unavailable, "node", "closing")
		}
		return other, nil
	}
	n.followers[info.ID] = f
	n.names[info.ID] = info.Name
	return f, nil
}

// createDB creates a database.
func (n *Node) createDB(ctx context.Context, name string) (transactor.DBInfo, error) {
	return n.catalog.CreateDB(ctx, name)
}

// deleteDB deletes a database: its writer (if here) stops, its follower
// stops, its log is dropped.
func (n *Node) deleteDB(ctx context.Context, name string) error {
	info, err := n.dbInfo(ctx, name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	f := n.followers[info.ID]
	delete(n.followers, info.ID)
	delete(n.conns, name)
	n.mu.Unlock()
	if f != nil {
		f.Close()
	}
	if n.tr != nil {
		return n.tr.DeleteDB(ctx, name)
	}
	if _, err := n.catalog.DeleteDB(ctx, name); err != nil {
		return err
	}
	return n.log.Drop(ctx, info.ID)
}

// txRange reads the log's transactions with start <= t < end (end 0: to
// the head).
func (n *Node) txRange(ctx context.Context, name string, start, end datom.T, yield func(engine.TxEntry) bool) error {
	info, err := n.dbInfo(ctx, name)
	if err != nil {
		return err
	}
	after := datom.T(0)
	if start > 0 {
		after = start - 1
	}
	for rec, err := range n.log.Records(ctx, info.ID, after) {
		if err != nil {
			return err
		}
		for _, tx := range rec.Txs {
			if tx.T < start {
				continue
			}
			if end != 0 && tx.T >= end {
				return nil
			}
			if !yield(tx) {
				return nil
			}
		}
	}
	return nil
}

// Close stops the writer (acknowledged transactions are durable: the
// writer finishes the group commit in flight) and the followers, then the
// storage.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	fs := n.followers
	n.followers = nil
	n.mu.Unlock()
	close(n.stop)
	<-n.done
	if n.tr != nil {
		n.tr.Close()
	}
	for _, f := range fs {
		f.Close()
	}
	n.closeStorage()
	return nil
}

func (n *Node) closeStorage() {
	if n.strata != nil {
		n.strata.Close()
	}
	if n.catalog != nil {
		n.catalog.Close()
	}
	if n.log != nil {
		n.log.Close()
	}
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i].Close()
	}
}
