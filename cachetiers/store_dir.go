package cachetiers

import (
	"context"
	"fmt"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

var _ Tier = (*DirStore)(nil)

// DirStoreOptions configure a DirStore.
type DirStoreOptions struct {
	// Dir holds the segments. It is created if missing. Required.
	Dir string

	// AllowRemove lets Remove delete segments. Off by default: the store is
	// the storage of record, and only the garbage collector (or a test) may
	// delete from it.
	AllowRemove bool

	// TempMaxAge: temporary files older than this, left by a crashed writer,
	// are removed when the store opens. Default DefaultTempMaxAge.
	TempMaxAge time.Duration
}

func (o DirStoreOptions) withDefaults() DirStoreOptions {
	if o.TempMaxAge == 0 {
		o.TempMaxAge = DefaultTempMaxAge
	}
	return o
}

func (o DirStoreOptions) validate() error {
	if o.Dir == "" {
		return anomaly.New(anomaly.Incorrect, "dir store options", "Dir is required")
	}
	if o.TempMaxAge < 0 {
		return anomaly.New(anomaly.Incorrect, "dir store options", "TempMaxAge %v is negative", o.TempMaxAge)
	}
	return nil
}

// DirStore is the embedded default storage of record: segments as files in a
// local directory, laid out and written as documented on segmentDir
// (segdir.go): each file fsync'd and published atomically under its final
// name, the directory fsync'd, an existing segment never overwritten. Reads
// are preads. Stats Entries and Bytes are approximate (see segmentDir).
type DirStore struct {
	dir         *segmentDir
	allowRemove bool
}

// NewDirStore opens (creating if needed) the store in opts.Dir.
func NewDirStore(opts DirStoreOptions) (*DirStore, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	d, err := openSegmentDir(opts.Dir, "store", opts.TempMaxAge)
	if err != nil {
		return nil, fmt.Errorf("new dir store: %w", err)
	}
	return &DirStore{dir: d, allowRemove: opts.AllowRemove}, nil
}

// Name returns "store".
func (s *DirStore) Name() string { return "store" }

// Path returns the file that holds segment id (whether or not it exists).
func (s *DirStore) Path(id segment.ID) string { return s.dir.path(id) }

// ReadAt reads a byte range of segment id; see Tier.
func (s *DirStore) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	return s.dir.readAt(ctx, id, p, off)
}

// Put stores segment id durably unless it is already there; see Tier.
func (s *DirStore) Put(ctx context.Context, id segment.ID, data []byte) error {
	return s.dir.put(ctx, id, data)
}

// Remove refuses with an anomaly.Unsupported error unless the store was
// opened with AllowRemove.
func (s *DirStore) Remove(ctx context.Context, id segment.ID) error {
	if !s.allowRemove {
		return anomaly.New(anomaly.Unsupported, "store remove "+id.Short(),
			"the store of record does not remove segments (garbage collection does; open with AllowRemove)")
	}
	return s.dir.remove(ctx, id)
}

// Stats returns approximate entries and bytes; Backend "dir".
func (s *DirStore) Stats() TierStats {
	n, b := s.dir.usage()
	return TierStats{Entries: n, Bytes: b, Backend: "dir"}
}

// Close stops the background counting scan.
func (s *DirStore) Close() error {
	s.dir.close()
	return nil
}
