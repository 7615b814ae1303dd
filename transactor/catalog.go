package transactor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/engine"
)

// Catalog holds what a system knows about its databases besides their
// logs: names and ids, each database's root record (the published index
// root, replaced only by compare-and-swap), the writer lease per database,
// the members of the compute groups, and the API keys of the node server.
// Implementations: FileCatalog (a JSON file replaced atomically, the
// embedded default) and DynamoCatalog.
type Catalog interface {
	// CreateDB creates a database named name with a fresh id. A name in
	// use is a conflict.
	CreateDB(ctx context.Context, name string) (DBInfo, error)
	// GetDB returns the database named name (not-found if none).
	GetDB(ctx context.Context, name string) (DBInfo, error)
	// ListDBs returns every database, by name.
	ListDBs(ctx context.Context) ([]DBInfo, error)
	// DeleteDB deletes the database named name: the name is free for a new
	// database at once (with a new id); the old id's log and root are the
	// caller's to drop.
	DeleteDB(ctx context.Context, name string) (DBInfo, error)

	// Root returns database id's root record (version 0: nothing indexed).
	Root(ctx context.Context, id string) (RootRecord, error)
	// SwapRoot replaces id's root record if its version is old, with root
	// (whose T may not go back), and returns the new record; otherwise a
	// conflict.
	SwapRoot(ctx context.Context, id string, old uint64, root engine.IndexRoot) (RootRecord, error)

	// AcquireLease takes or renews the writer lease of database id for
	// holder until now+ttl: it succeeds when the lease is free, expired or
	// holder's; otherwise it is a conflict naming the holder.
	AcquireLease(ctx context.Context, id, holder string, ttl time.Duration, now time.Time) (Lease, error)
	// LeaseOf returns database id's lease (the zero Lease if none).
	LeaseOf(ctx context.Context, id string) (Lease, error)
	// ReleaseLease gives the lease up if holder holds it.
	ReleaseLease(ctx context.Context, id, holder string) error

	// Heartbeat records that member is alive at m.Seen.
	Heartbeat(ctx context.Context, m Member) error
	// Members returns the members of group seen at or after since.
	Members(ctx context.Context, group string, since time.Time) ([]Member, error)

	// PutKey stores a new API key (see APIKey; invalid keys are incorrect).
	// An id in use is a conflict: keys are never replaced, only revoked.
	PutKey(ctx context.Context, k APIKey) error
	// GetKey returns the key whose id is id, revoked or not (not-found if
	// none).
	GetKey(ctx context.Context, id string) (APIKey, error)
	// ListKeys returns every key, revoked ones included, by id. Secrets
	// are included: callers that print keys must hide them (APIKey's
	// String does).
	ListKeys(ctx context.Context) ([]APIKey, error)
	// RevokeKey revokes key id at now and returns it. Revoking a revoked
	// key changes nothing: it keeps its first revocation time. Not-found
	// if there is no such key.
	RevokeKey(ctx context.Context, id string, now time.Time) (APIKey, error)

	Close() error
}

// DBInfo names a database.
type DBInfo struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// RootRecord is a database's published index root and its version (0
// before the first indexing).
type RootRecord struct {
	Version uint64           `json:"version"`
	Root    engine.IndexRoot `json:"root"`
}

// Lease is a database's writer lease.
type Lease struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	// Epoch counts the hand-overs between holders (not renewals).
	Epoch uint64 `json:"epoch"`
}

// Member is a node of a compute group.
type Member struct {
	ID    string    `json:"id"`
	Group string    `json:"group"` // "primary" or a query group's name
	Addr  string    `json:"addr"`
	Seen  time.Time `json:"seen"`
}

// Limits of catalog entries.
const (
	MaxDBName   = 128
	MaxMemberID = 256
)

// validName checks a database name: 1 to 128 characters from a-z, A-Z,
// 0-9, '-', '_' and '.'.
func validName(name string) error {
	if name == "" || len(name) > MaxDBName {
		return anomaly.New(anomaly.Incorrect, "database name", "%q: want 1 to %d characters", name, MaxDBName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return anomaly.New(anomaly.Incorrect, "database name", "%q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}

func validMember(m Member) error {
	if m.ID == "" || len(m.ID) > MaxMemberID || len(m.Group) == 0 || len(m.Group) > MaxDBName || len(m.Addr) > 1024 {
		return anomaly.New(anomaly.Incorrect, "member", "id %q, group %q: want non-empty, bounded names", m.ID, m.Group)
	}
	return nil
}

// newDBID returns a fresh database id: 16 random bytes in hex (a valid
// log name).
func newDBID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("transactor: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func validLeaseRequest(holder string, ttl time.Duration) error {
	if holder == "" || len(holder) > MaxMemberID || ttl <= 0 {
		return anomaly.New(anomaly.Incorrect, "lease", "holder %q, ttl %s", holder, ttl)
	}
	return nil
}

// nextLease is the lease holder takes from cur at now: renewed if it is
// holder's, handed over (a new epoch) if it is free or expired; held by
// another, a conflict naming the holder.
func nextLease(cur Lease, id, holder string, ttl time.Duration, now time.Time) (Lease, error) {
	switch {
	case cur.Holder == holder:
		return Lease{Holder: holder, Expires: now.Add(ttl), Epoch: cur.Epoch}, nil
	case cur.Holder == "" || !now.Before(cur.Expires):
		return Lease{Holder: holder, Expires: now.Add(ttl), Epoch: cur.Epoch + 1}, nil
	}
	return Lease{}, anomaly.New(anomaly.Conflict, "lease", "database %s: held by %s until %s", id, cur.Holder, cur.Expires.Format(time.RFC3339Nano))
}
