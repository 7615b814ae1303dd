package transactor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/engine"
)

// FileCatalog is the embedded default Catalog: one JSON file, replaced on
// every change by writing a temporary file, fsyncing it, renaming it over
// the old one and fsyncing the directory, so that a crash leaves either
// the old catalog or the new one. Changes take an flock on a lock file
// beside it, so processes sharing the directory take turns. The file holds
// API key secrets, so only its owner may read it (mode 0600).
type FileCatalog struct {
	dir  string
	mu   sync.Mutex
	lock *os.File
}

const (
	catalogFile = "catalog.json"
	catalogLock = "catalog.lock"
	// Format versions: 2 added API keys. A catalog without keys is still
	// written as version 1, which builds from before keys can open; one
	// with keys is version 2, which they refuse, rather than read it,
	// ignore the keys and drop them on their next write.
	catalogVersionNoKeys = 1
	catalogVersion       = 2
)

type catalogState struct {
	Version int                   `json:"version"`
	DBs     map[string]DBInfo     `json:"databases"` // by name
	Roots   map[string]RootRecord `json:"roots"`     // by id
	Leases  map[string]Lease      `json:"leases"`    // by id
	Members map[string]Member     `json:"members"`   // by id
	Keys    map[string]APIKey     `json:"keys"`      // by id
}

// OpenFileCatalog opens (creating it if needed) the catalog in dir.
func OpenFileCatalog(dir string) (*FileCatalog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "open catalog", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, catalogLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "open catalog lock", err)
	}
	c := &FileCatalog{dir: dir, lock: f}
	// Read it once: a damaged catalog fails at open.
	if err := c.view(func(*catalogState) error { return nil }); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// view runs fn on the current state (shared lock).
func (c *FileCatalog) view(fn func(*catalogState) error) error {
	return c.locked(unix.LOCK_SH, func() error {
		s, err := c.load()
		if err != nil {
			return err
		}
		return fn(s)
	})
}

// update runs fn on the current state and saves what it leaves, unless fn
// fails (exclusive lock).
func (c *FileCatalog) update(fn func(*catalogState) error) error {
	return c.locked(unix.LOCK_EX, func() error {
		s, err := c.load()
		if err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
		return c.save(s)
	})
}

func (c *FileCatalog) locked(how int, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return anomaly.New(anomaly.Unavailable, "catalog", "closed")
	}
	if err := unix.Flock(int(c.lock.Fd()), how); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "lock catalog", err)
	}
	defer unix.Flock(int(c.lock.Fd()), unix.LOCK_UN)
	return fn()
}

func (c *FileCatalog) load() (*catalogState, error) {
	s := &catalogState{Version: catalogVersion, DBs: map[string]DBInfo{}, Roots: map[string]RootRecord{},
		Leases: map[string]Lease{}, Members: map[string]Member{}, Keys: map[string]APIKey{}}
	b, err := os.ReadFile(filepath.Join(c.dir, catalogFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "read catalog", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "catalog "+filepath.Join(c.dir, catalogFile), err)
	}
	if s.Version != catalogVersionNoKeys && s.Version != catalogVersion {
		return nil, anomaly.New(anomaly.Fault, "catalog", "format version %d (this build reads %d and %d)", s.Version, catalogVersionNoKeys, catalogVersion)
	}
	// A file may leave maps out (null): start them empty.
	if s.DBs == nil {
		s.DBs = map[string]DBInfo{}
	}
	if s.Roots == nil {
		s.Roots = map[string]RootRecord{}
	}
	if s.Leases == nil {
		s.Leases = map[string]Lease{}
	}
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	if s.Keys == nil {
		s.Keys = map[string]APIKey{}
	}
	return s, nil
}

func (c *FileCatalog) save(s *catalogState) error {
	s.Version = catalogVersionNoKeys
	if len(s.Keys) > 0 {
		s.Version = catalogVersion
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return anomaly.Wrap(anomaly.Fault, "encode catalog", err)
	}
	tmp := filepath.Join(c.dir, catalogFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "write catalog", err)
	}
	// The mode of OpenFile is only for a new file: a temporary file left
	// by a crash, or by a build that wrote 0644, keeps its own.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(c.dir, catalogFile))
	}
	if err == nil {
		err = syncDir(c.dir)
	}
	if err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "write catalog", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CreateDB implements Catalog.
func (c *FileCatalog) CreateDB(ctx context.Context, name string) (DBInfo, error) {
	if err := validName(name); err != nil {
		return DBInfo{}, err
	}
	info := DBInfo{Name: name, ID: newDBID(), Created: time.Now().UTC()}
	err := c.update(func(s *catalogState) error {
		if _, ok := s.DBs[name]; ok {
			return anomaly.New(anomaly.Conflict, "create database", "%q exists", name)
		}
		s.DBs[name] = info
		return nil
	})
	return info, err
}

// GetDB implements Catalog.
func (c *FileCatalog) GetDB(ctx context.Context, name string) (DBInfo, error) {
	if err := validName(name); err != nil {
		return DBInfo{}, err
	}
	var info DBInfo
	err := c.view(func(s *catalogState) error {
		var ok bool
		if info, ok = s.DBs[name]; !ok {
			return anomaly.New(anomaly.NotFound, "database", "no database named %q", name)
		}
		return nil
	})
	return info, err
}

// ListDBs implements Catalog.
func (c *FileCatalog) ListDBs(ctx context.Context) ([]DBInfo, error) {
	var out []DBInfo
	err := c.view(func(s *catalogState) error {
		for _, d := range s.DBs {
			out = append(out, d)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b DBInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// DeleteDB implements Catalog.
func (c *FileCatalog) DeleteDB(ctx context.Context, name string) (DBInfo, error) {
	if err := validName(name); err != nil {
		return DBInfo{}, err
	}
	var info DBInfo
	err := c.update(func(s *catalogState) error {
		var ok bool
		if info, ok = s.DBs[name]; !ok {
			return anomaly.New(anomaly.NotFound, "delete database", "no database named %q", name)
		}
		delete(s.DBs, name)
		delete(s.Roots, info.ID)
		delete(s.Leases, info.ID)
		return nil
	})
	return info, err
}

// Root implements Catalog.
func (c *FileCatalog) Root(ctx context.Context, id string) (RootRecord, error) {
	var r RootRecord
	err := c.view(func(s *catalogState) error { r = s.Roots[id]; return nil })
	return r, err
}

// SwapRoot implements Catalog.
func (c *FileCatalog) SwapRoot(ctx context.Context, id string, old uint64, root engine.IndexRoot) (RootRecord, error) {
	var r RootRecord
	err := c.update(func(s *catalogState) error {
		cur := s.Roots[id]
		if cur.Version != old {
			return anomaly.New(anomaly.Conflict, "swap root", "database %s: root version is %d, not %d", id, cur.Version, old)
		}
		if root.T < cur.Root.T {
			return anomaly.New(anomaly.Incorrect, "swap root", "database %s: root t %d is before the current %d", id, root.T, cur.Root.T)
		}
		r = RootRecord{Version: old + 1, Root: root}
		s.Roots[id] = r
		return nil
	})
	return r, err
}

// AcquireLease implements Catalog.
func (c *FileCatalog) AcquireLease(ctx context.Context, id, holder string, ttl time.Duration, now time.Time) (Lease, error) {
	if err := validLeaseRequest(holder, ttl); err != nil {
		return Lease{}, err
	}
	var l Lease
	err := c.update(func(s *catalogState) error {
		var err error
		if l, err = nextLease(s.Leases[id], id, holder, ttl, now); err != nil {
			return err
		}
		s.Leases[id] = l
		return nil
	})
	return l, err
}

// LeaseOf implements Catalog.
func (c *FileCatalog) LeaseOf(ctx context.Context, id string) (Lease, error) {
	var l Lease
	err := c.view(func(s *catalogState) error { l = s.Leases[id]; return nil })
	return l, err
}

// ReleaseLease implements Catalog.
func (c *FileCatalog) ReleaseLease(ctx context.Context, id, holder string) error {
	return c.update(func(s *catalogState) error {
		if cur := s.Leases[id]; cur.Holder == holder {
			cur.Holder, cur.Expires = "", time.Time{}
			s.Leases[id] = cur
		}
		return nil
	})
}

// Heartbeat implements Catalog.
func (c *FileCatalog) Heartbeat(ctx context.Context, m Member) error {
	if err := validMember(m); err != nil {
		return err
	}
	return c.update(func(s *catalogState) error { s.Members[m.ID] = m; return nil })
}

// Members implements Catalog.
func (c *FileCatalog) Members(ctx context.Context, group string, since time.Time) ([]Member, error) {
	var out []Member
	err := c.view(func(s *catalogState) error {
		for _, m := range s.Members {
			if m.Group == group && !m.Seen.Before(since) {
				out = append(out, m)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

// PutKey implements Catalog.
func (c *FileCatalog) PutKey(ctx context.Context, k APIKey) error {
	if err := validAPIKey(k); err != nil {
		return err
	}
	return c.update(func(s *catalogState) error {
		if _, ok := s.Keys[k.ID]; ok {
			return anomaly.New(anomaly.Conflict, "put api key", "%s exists", k.ID)
		}
		s.Keys[k.ID] = k
		return nil
	})
}

// GetKey implements Catalog.
func (c *FileCatalog) GetKey(ctx context.Context, id string) (APIKey, error) {
	if err := validKeyID(id); err != nil {
		return APIKey{}, err
	}
	var k APIKey
	err := c.view(func(s *catalogState) error {
		var ok bool
		if k, ok = s.Keys[id]; !ok {
			return anomaly.New(anomaly.NotFound, "api key", "no key %s", id)
		}
		return nil
	})
	return k, err
}

// ListKeys implements Catalog.
func (c *FileCatalog) ListKeys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	err := c.view(func(s *catalogState) error {
		for _, k := range s.Keys {
			out = append(out, k)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b APIKey) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

// RevokeKey implements Catalog.
func (c *FileCatalog) RevokeKey(ctx context.Context, id string, now time.Time) (APIKey, error) {
	if err := validRevocation(id, now); err != nil {
		return APIKey{}, err
	}
	var k APIKey
	err := c.update(func(s *catalogState) error {
		var ok bool
		if k, ok = s.Keys[id]; !ok {
			return anomaly.New(anomaly.NotFound, "revoke api key", "no key %s", id)
		}
		if k.Revoked.IsZero() {
			k.Revoked = now.UTC()
			s.Keys[id] = k
		}
		return nil
	})
	return k, err
}

// Close implements Catalog.
func (c *FileCatalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return nil
	}
	err := c.lock.Close()
	c.lock = nil
	return err
}
