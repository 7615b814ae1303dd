package cachetiers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

// segmentDir is a directory of whole segments, one file each. DirStore (the
// embedded store of record) and EFS (the shared cache) both keep segments this
// way and differ only in policy (whether Remove is allowed, what the tier is
// called), so the layout and the write protocol live here, once.
//
// Layout, under the root:
//
//	ab/ab01…ef.seg           segment ab01…ef (32 hex digits), fanned out by its first byte
//	ab/.tmp-ab01…ef-PID-RAND a write in progress, or one a crash left behind
//
// The fan-out keeps directories at 1/256 of the segment count, so lookups stay
// cheap on ext4 and on EFS (whose directory operations are network round trips)
// and no directory grows to millions of entries.
//
// Writing (put): the bytes go to a temporary file in the segment's own
// subdirectory (same directory, so same file system), created O_EXCL with a
// name unique across processes and hosts (pid + 64 random bits), fsync'd and
// closed; then link(2) publishes it under the final name and the temporary
// name is removed; then the subdirectory is fsync'd so the new name survives a
// crash. link fails with EEXIST when the name is taken, which makes "never
// overwrite" atomic without a lock, even between processes on different
// hosts sharing an NFS (EFS) mount. We prefer link to rename for a second
// reason: rename over an existing name replaces its inode, and a reader on
// another NFS client holding the old file open would then get ESTALE. On a
// file system without hard links (link fails with EPERM or ENOTSUP) we fall
// back to rename once an existence check finds no file, remember that, and
// accept the small window in which two writers rename identical bytes over
// each other. Readers never see a partial file either way: the final name
// only ever points at a complete, fsync'd file.
//
// Reading opens the file, takes its size from fstat and preads the range;
// nothing in memory is needed to find a segment, so a new process (or a
// restarted one) sees everything already there.
//
// Entries and Bytes (for Stats) are approximate: a background scan counts the
// files once when the directory is opened (and removes temporary files older
// than tempMaxAge, which only a crashed writer leaves), and this process's
// own puts and removes adjust the counts after that. Files that other
// processes add or remove later are not seen until the next open, and a file
// written while the scan runs may be counted twice. The scan is the only
// full listing the tier ever does; reads and writes never list.
//
// All methods are safe for concurrent use.
type segmentDir struct {
	root       string
	name       string // the tier's name, for error messages: "efs", "store"
	tempMaxAge time.Duration

	noLink atomic.Bool // link(2) is not supported here: publish with rename

	entries atomic.Int64
	bytes   atomic.Int64

	stopScan context.CancelFunc
	scanDone chan struct{} // closed when the counting scan has finished
	closed   sync.Once
}

const (
	segmentFileSuffix = ".seg"
	tempFilePrefix    = ".tmp-"
)

// openSegmentDir creates root if it is missing and starts the counting scan.
func openSegmentDir(root, name string, tempMaxAge time.Duration) (*segmentDir, error) {
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, anomaly.New(anomaly.Incorrect, name+" open", "%s is not a directory", root)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fsError(name+" open "+root, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &segmentDir{
		root:       root,
		name:       name,
		tempMaxAge: tempMaxAge,
		stopScan:   cancel,
		scanDone:   make(chan struct{}),
	}
	go func() {
		defer close(d.scanDone)
		d.scan(ctx)
	}()
	return d, nil
}

// path returns the file that holds segment id.
func (d *segmentDir) path(id segment.ID) string {
	h := id.String()
	return filepath.Join(d.root, h[:2], h+segmentFileSuffix)
}

// readAt implements Tier.ReadAt over the segment's file.
//
// A file system read cannot be cancelled, so ctx is checked only before the
// read starts. On EFS (NFS) a read against an unreachable server is bounded by
// the mount's timeo/retrans options, not by ctx: mount with those set.
func (d *segmentDir) readAt(ctx context.Context, id segment.ID, p []byte, off int64) (int, int64, error) {
	op := d.name + " read " + id.Short()
	if err := ctx.Err(); err != nil {
		return 0, 0, anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	f, err := os.Open(d.path(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, anomaly.Wrap(anomaly.NotFound, op, ErrNotFound)
		}
		return 0, 0, fsError(op, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fsError(op, err)
	}
	size := fi.Size()
	start, length, err := resolveRange(op, id, size, len(p), off)
	if err != nil {
		return 0, size, err
	}
	n, err := f.ReadAt(p[:length], start)
	if n == length {
		// io.ReaderAt may return io.EOF along with a full read at the very end.
		return n, size, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		// The file shrank after the fstat (truncated in place by someone else).
		return n, size, shortSegment(op, id, start, length, start+int64(n))
	}
	return n, size, fsError(op, err)
}

// resolveRange turns a ReadAt request (len(p) = n at off) against a segment of
// known size into the byte range to read, per the Tier contract: a negative
// off is a suffix read, clamped to the whole segment when the segment is
// shorter than p; any other range that does not fit is a short segment.
func resolveRange(op string, id segment.ID, size int64, n int, off int64) (start int64, length int, err error) {
	if off < 0 {
		if int64(n) >= size {
			return 0, int(size), nil
		}
		return size - int64(n), n, nil
	}
	if off > size || int64(n) > size-off {
		return 0, 0, shortSegment(op, id, off, n, size)
	}
	return off, n, nil
}

// shortSegment is the error for a copy that ends before the bytes asked for.
func shortSegment(op string, id segment.ID, off int64, n int, size int64) error {
	return anomaly.Wrap(anomaly.Fault, op, &segment.CorruptError{
		ID: id, Block: -1, Offset: off,
		Msg: fmt.Sprintf("short segment: read of %d bytes at offset %d, but the copy holds %d bytes", n, off, size),
	})
}

// put implements Tier.Put with the protocol described on segmentDir.
func (d *segmentDir) put(ctx context.Context, id segment.ID, data []byte) error {
	op := d.name + " put " + id.Short()
	if err := ctx.Err(); err != nil {
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	final := d.path(id)
	if _, err := os.Lstat(final); err == nil {
		return nil // already there, and segments are immutable
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fsError(op, err)
	}
	sub := filepath.Dir(final)
	tmp, f, err := createTemp(sub, id)
	if errors.Is(err, fs.ErrNotExist) {
		// First segment in this fan-out directory. Make it, and make its name
		// durable in the root before anything is published inside it.
		if err := os.Mkdir(sub, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fsError(op, err)
		}
		if err := syncDir(d.root); err != nil {
			return fsError(op, err)
		}
		tmp, f, err = createTemp(sub, id)
	}
	if err != nil {
		return fsError(op, err)
	}
	// The temporary name goes in every case: after a link it is a second name
	// for the segment, after a rename or a failure it is already gone or junk.
	defer os.Remove(tmp)
	if err := writeAndSync(f, data); err != nil {
		return fsError(op, err)
	}
	created, err := d.publish(tmp, final)
	if err != nil {
		return fsError(op, err)
	}
	if !created {
		return nil // another writer published it first; its bytes are the same segment
	}
	if err := syncDir(sub); err != nil {
		return fsError(op, err)
	}
	d.entries.Add(1)
	d.bytes.Add(int64(len(data)))
	return nil
}

// createTemp creates a fresh temporary file in dir for a write of segment id.
func createTemp(dir string, id segment.ID) (string, *os.File, error) {
	var r [8]byte
	_, _ = rand.Read(r[:]) // never fails on Linux (Go 1.24+)
	name := filepath.Join(dir, tempFilePrefix+id.String()+"-"+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(r[:]))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	return name, f, err
}

func writeAndSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// publish gives the complete file tmp the name final unless final exists. It
// reports whether this call created final.
func (d *segmentDir) publish(tmp, final string) (bool, error) {
	if !d.noLink.Load() {
		err := os.Link(tmp, final)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrExist):
			return false, nil
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP):
			// This file system has no hard links. Remember it, as the standard
			// library remembers ENOSYS, and use rename from now on.
			d.noLink.Store(true)
		default:
			return false, err
		}
	}
	if _, err := os.Lstat(final); err == nil {
		return false, nil
	}
	// Between that check and this rename another writer may publish the same
	// segment; rename then replaces identical bytes with identical bytes.
	if err := os.Rename(tmp, final); err != nil {
		return false, err
	}
	return true, nil
}

// remove deletes segment id's file, if any.
//
// The directory is not fsync'd after a removal: if a crash brings the file
// back, the tier holds a segment it meant to drop, which is harmless (a bad
// copy is found bad again by the reader's checksums and dropped again).
func (d *segmentDir) remove(ctx context.Context, id segment.ID) error {
	op := d.name + " remove " + id.Short()
	if err := ctx.Err(); err != nil {
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	path := d.path(id)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fsError(op, err)
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed by someone else since the Lstat
		}
		return fsError(op, err)
	}
	d.entries.Add(-1)
	d.bytes.Add(-fi.Size())
	return nil
}

// scan counts the segment files once and sweeps stale temporary files. It
// visits only the 256 fan-out directories and stops early when ctx is done.
// It is best effort: a directory it cannot list is left out of the counts.
func (d *segmentDir) scan(ctx context.Context) {
	subs, err := os.ReadDir(d.root)
	if err != nil {
		return
	}
	now := time.Now()
	for _, sub := range subs {
		if ctx.Err() != nil {
			return
		}
		if !sub.IsDir() || !isFanOutName(sub.Name()) {
			continue
		}
		dir := filepath.Join(d.root, sub.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, f := range files {
			name := f.Name()
			switch {
			case strings.HasPrefix(name, tempFilePrefix):
				fi, err := f.Info()
				if err == nil && now.Sub(fi.ModTime()) > d.tempMaxAge {
					_ = os.Remove(filepath.Join(dir, name)) // best effort; another process may sweep it too
				}
			case strings.HasSuffix(name, segmentFileSuffix) && f.Type().IsRegular():
				if _, err := segment.ParseID(strings.TrimSuffix(name, segmentFileSuffix)); err != nil {
					continue
				}
				fi, err := f.Info()
				if err != nil {
					continue // removed since the listing
				}
				d.entries.Add(1)
				d.bytes.Add(fi.Size())
			}
		}
	}
}

func isFanOutName(s string) bool {
	if len(s) != 2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// usage returns the approximate entries and bytes held (see segmentDir).
func (d *segmentDir) usage() (entries, bytes int64) {
	return max(d.entries.Load(), 0), max(d.bytes.Load(), 0)
}

// close stops the scan and waits for it.
func (d *segmentDir) close() {
	d.closed.Do(func() {
		d.stopScan()
		<-d.scanDone
	})
}

// syncDir fsyncs a directory so that names created in it survive a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsError gives a file system error its category: a permission problem is
// forbidden; anything else (EIO, ENOSPC, a stale NFS handle, a timeout of the
// EFS mount) means this tier cannot serve the request now, which is
// unavailable, so a caller falls through to a deeper tier or retries.
func fsError(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	case errors.Is(err, fs.ErrPermission):
		return anomaly.Wrap(anomaly.Forbidden, op, err)
	default:
		return anomaly.Wrap(anomaly.Unavailable, op, err)
	}
}
