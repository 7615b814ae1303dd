package cachetiers

import (
	"context"
	"fmt"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

var _ Tier = (*EFS)(nil)

// EFSOptions configure an EFS tier.
type EFSOptions struct {
	// Dir is the tier's directory: on AWS a directory on an EFS mount shared by
	// every node of a compute group; here any local directory. It is created if
	// missing. Required.
	Dir string

	// TempMaxAge is how old a temporary file must be before the sweep that runs
	// when the tier opens removes it. Only a writer that crashed between
	// creating and publishing a segment leaves one; live writers on other
	// hosts finish in well under this. Default 1h.
	TempMaxAge time.Duration
}

// DefaultTempMaxAge is the default for EFSOptions.TempMaxAge and DirStoreOptions.TempMaxAge.
const DefaultTempMaxAge = time.Hour

func (o EFSOptions) withDefaults() EFSOptions {
	if o.TempMaxAge == 0 {
		o.TempMaxAge = DefaultTempMaxAge
	}
	return o
}

func (o EFSOptions) validate() error {
	if o.Dir == "" {
		return anomaly.New(anomaly.Incorrect, "efs options", "Dir is required")
	}
	if o.TempMaxAge < 0 {
		return anomaly.New(anomaly.Incorrect, "efs options", "TempMaxAge %v is negative", o.TempMaxAge)
	}
	return nil
}

// EFS is the durable shared cache: a directory on a shared file system, one
// file per segment, in the layout and with the write protocol documented on
// segmentDir (segdir.go). Several processes, on one host or many, may use the
// same directory at once: each segment is published atomically by link(2),
// never overwritten, and readers only ever see complete files. Everything the
// tier knows is in the directory, so it survives restarts.
//
// EFS is elastic, so the tier has no capacity and never evicts; Remove drops a
// copy (Stratified does this with a bad copy before rewriting it). Stats
// Entries and Bytes are approximate (see segmentDir).
//
// The tier does not verify what it reads: a copy damaged in place is returned
// as it is, and the reader's block checksums catch it. A copy shorter than the
// range asked for is reported as corrupt (segment.ErrCorrupt).
type EFS struct {
	dir *segmentDir
}

// NewEFS opens (creating if needed) the EFS tier in opts.Dir.
func NewEFS(opts EFSOptions) (*EFS, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	d, err := openSegmentDir(opts.Dir, "efs", opts.TempMaxAge)
	if err != nil {
		return nil, fmt.Errorf("new efs tier: %w", err)
	}
	return &EFS{dir: d}, nil
}

// Name returns "efs".
func (e *EFS) Name() string { return "efs" }

// Path returns the file that holds segment id (whether or not it exists), for
// tools, benchmarks and tests that inject corruption.
func (e *EFS) Path(id segment.ID) string { return e.dir.path(id) }

// ReadAt reads a byte range of segment id; see Tier.
func (e *EFS) ReadAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	return e.dir.readAt(ctx, id, p, off)
}

// Put stores segment id unless it is already there; see Tier.
func (e *EFS) Put(ctx context.Context, id segment.ID, data []byte) error {
	return e.dir.put(ctx, id, data)
}

// Remove deletes the tier's copy of id, if any.
func (e *EFS) Remove(ctx context.Context, id segment.ID) error {
	return e.dir.remove(ctx, id)
}

// Stats returns approximate entries and bytes (see segmentDir); Capacity is 0 (unbounded).
func (e *EFS) Stats() TierStats {
	n, b := e.dir.usage()
	return TierStats{Entries: n, Bytes: b, Backend: "dir"}
}

// Close stops the background counting scan. The files stay.
func (e *EFS) Close() error {
	e.dir.close()
	return nil
}
