package transactor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// FileLog is the embedded default Log: one append-only file per database
// under a directory, each record framed as
//
//	uint32 payload length (little endian)
//	uint64 xxhash64 of the payload (little endian)
//	payload (AppendRecord)
//
// after a 16-byte file header. Append writes one frame and fdatasyncs
// before it returns, so an acknowledged record survives a crash. Opening a
// log (and every append or read, which first catch up with what other
// processes appended) checks every frame: a torn tail (a frame cut short
// or failing its checksum, with nothing valid after it) is what a crash
// during an append leaves, and is truncated; a bad frame with valid frames
// after it is corruption, and the log refuses to serve (anomaly.Fault)
// rather than drop acknowledged records. Processes sharing the directory
// take turns with flock(2), so the head check of Append holds across them.
type FileLog struct {
	dir    string
	mu     sync.Mutex
	logs   map[string]*logFile
	closed bool
}

const (
	logHeader      = "strata log v1\n\x00\x00"
	frameHeaderLen = 12
)

// OpenFileLog opens (creating it if needed) the log directory dir.
func OpenFileLog(dir string) (*FileLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "open log directory", err)
	}
	return &FileLog{dir: dir, logs: map[string]*logFile{}}, nil
}

// logFile is one database's log.
type logFile struct {
	mu   sync.Mutex
	f    *os.File
	path string
	end  int64 // bytes of valid frames
	head datom.T
	recs []recPos
	// broken is set when a failed append could not be taken back.
	broken error
}

type recPos struct {
	off   int64 // of the frame
	n     uint32
	prevT datom.T
	lastT datom.T
	sum   uint64 // xxhash64 of the payload
}

// validDB checks a database id (it names a file).
func validDB(db string) error {
	if db == "" || len(db) > 128 {
		return anomaly.New(anomaly.Incorrect, "log", "database id %q: want 1 to 128 characters", db)
	}
	for _, c := range db {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return anomaly.New(anomaly.Incorrect, "log", "database id %q: only a-z, 0-9, - and _ are allowed", db)
		}
	}
	return nil
}

func (l *FileLog) file(db string) (*logFile, error) {
	if err := validDB(db); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, anomaly.New(anomaly.Unavailable, "log", "closed")
	}
	path := filepath.Join(l.dir, db+".log")
	if lf, ok := l.logs[db]; ok {
		// Another process may have dropped the log (and a new one may
		// have started under the same id): follow the path, not the file.
		fi, err1 := lf.f.Stat()
		pi, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			return lf, nil
		}
		lf.mu.Lock()
		lf.f.Close()
		lf.mu.Unlock()
		delete(l.logs, db)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Unavailable, "open log "+db, err)
	}
	lf := &logFile{f: f, path: path}
	if err := lf.locked(func() error { return lf.catchUp() }); err != nil {
		f.Close()
		return nil, err
	}
	l.logs[db] = lf
	return lf, nil
}

// locked runs fn holding the file's exclusive flock (lf.mu held by the
// caller or not needed).
func (lf *logFile) locked(fn func() error) error {
	if err := unix.Flock(int(lf.f.Fd()), unix.LOCK_EX); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "lock "+lf.path, err)
	}
	defer unix.Flock(int(lf.f.Fd()), unix.LOCK_UN)
	return fn()
}

// catchUp reads the frames other processes appended since lf.end (all of
// them at open), truncating a torn tail. Under the flock.
func (lf *logFile) catchUp() error {
	if lf.broken != nil {
		return anomaly.New(anomaly.Fault, "log", "%s: %v", lf.path, lf.broken)
	}
	fi, err := lf.f.Stat()
	if err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "stat "+lf.path, err)
	}
	size := fi.Size()
	if size < lf.end {
		// Shorter than what we read: another process truncated a tail we
		// had taken for valid; never expected.
		return anomaly.New(anomaly.Fault, "log", "%s shrank from %d to %d bytes", lf.path, lf.end, size)
	}
	if lf.end == 0 {
		if err := lf.header(size); err != nil {
			return err
		}
		size = max(size, int64(len(logHeader)))
		lf.end = int64(len(logHeader))
	}
	off := lf.end
	for off < size {
		rp, rec, err := lf.readFrame(off, size)
		if err != nil {
			if errors.Is(err, errTorn) {
				return lf.truncateTorn(off, size, err)
			}
			return err
		}
		if rec.PrevT != lf.head {
			return anomaly.New(anomaly.Fault, "log", "%s: record at offset %d follows t %d, the log's head is t %d",
				lf.path, off, rec.PrevT, lf.head)
		}
		lf.recs = append(lf.recs, rp)
		lf.head = rp.lastT
		off += frameHeaderLen + int64(rp.n)
		lf.end = off
	}
	return nil
}

// header checks the file header, writing it into a new file.
func (lf *logFile) header(size int64) error {
	if size == 0 {
		if _, err := lf.f.WriteAt([]byte(logHeader), 0); err != nil {
			return anomaly.Wrap(anomaly.Unavailable, "write "+lf.path, err)
		}
		if err := unix.Fdatasync(int(lf.f.Fd())); err != nil {
			return anomaly.Wrap(anomaly.Unavailable, "sync "+lf.path, err)
		}
		return nil
	}
	var h [len(logHeader)]byte
	if _, err := lf.f.ReadAt(h[:], 0); err != nil || string(h[:]) != logHeader {
		return anomaly.New(anomaly.Fault, "log", "%s is not a strata log (bad header)", lf.path)
	}
	return nil
}

var errTorn = errors.New("torn frame")

// readFrame reads and checks the frame at off (size: the file's size).
// A frame that does not fit in the file or fails its checksum is errTorn.
func (lf *logFile) readFrame(off, size int64) (recPos, *Record, error) {
	if size-off < frameHeaderLen {
		return recPos{}, nil, fmt.Errorf("%w: %d bytes of a frame header at offset %d", errTorn, size-off, off)
	}
	var h [frameHeaderLen]byte
	if _, err := lf.f.ReadAt(h[:], off); err != nil {
		return recPos{}, nil, anomaly.Wrap(anomaly.Unavailable, "read "+lf.path, err)
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n > MaxRecordBytes || int64(n) > size-off-frameHeaderLen {
		return recPos{}, nil, fmt.Errorf("%w: frame of %d bytes at offset %d, %d bytes left", errTorn, n, off, size-off-frameHeaderLen)
	}
	payload := make([]byte, n)
	if _, err := lf.f.ReadAt(payload, off+frameHeaderLen); err != nil && err != io.EOF {
		return recPos{}, nil, anomaly.Wrap(anomaly.Unavailable, "read "+lf.path, err)
	}
	sum := xxhash.Sum64(payload)
	if sum != binary.LittleEndian.Uint64(h[4:]) {
		return recPos{}, nil, fmt.Errorf("%w: checksum mismatch in the frame at offset %d", errTorn, off)
	}
	rec, err := DecodeRecord(payload)
	if err != nil {
		return recPos{}, nil, anomaly.Wrap(anomaly.Fault, fmt.Sprintf("%s: record at offset %d", lf.path, off), err)
	}
	return recPos{off: off, n: n, prevT: rec.PrevT, lastT: rec.LastT(), sum: sum}, rec, nil
}

// truncateTorn cuts the log at off, where a bad frame starts, if nothing
// valid follows it.
func (lf *logFile) truncateTorn(off, size int64, why error) error {
	// A valid frame right after the bad one's declared end means the bad
	// one is not a torn tail but damage in the middle of the log.
	var h [frameHeaderLen]byte
	if _, err := lf.f.ReadAt(h[:], off); err == nil {
		next := off + frameHeaderLen + int64(binary.LittleEndian.Uint32(h[:4]))
		if next < size {
			if _, _, err := lf.readFrame(next, size); err == nil {
				return anomaly.New(anomaly.Fault, "log", "%s: %v, with valid records after it: the log is damaged", lf.path, why)
			}
		}
	}
	slog.Warn("log: truncating a torn tail", "log", lf.path, "offset", off, "bytes", size-off, "reason", why.Error())
	if err := lf.f.Truncate(off); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "truncate "+lf.path, err)
	}
	if err := unix.Fdatasync(int(lf.f.Fd())); err != nil {
		return anomaly.Wrap(anomaly.Unavailable, "sync "+lf.path, err)
	}
	return nil
}

// Append implements Log.
func (l *FileLog) Append(ctx context.Context, db string, rec *Record) error {
	if err := rec.Valid(); err != nil {
		return err
	}
	payload := AppendRecord(make([]byte, frameHeaderLen, 4096), rec)
	n := len(payload) - frameHeaderLen
	if n > MaxRecordBytes {
		return anomaly.New(anomaly.Incorrect, "log append", "record of %d bytes (max %d)", n, MaxRecordBytes)
	}
	binary.LittleEndian.PutUint32(payload[:4], uint32(n))
	binary.LittleEndian.PutUint64(payload[4:12], xxhash.Sum64(payload[frameHeaderLen:]))
	if err := ctx.Err(); err != nil {
		return anomaly.Wrap(anomaly.Interrupted, "log append", err)
	}
	lf, err := l.file(db)
	if err != nil {
		return err
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.locked(func() error {
		if err := lf.catchUp(); err != nil {
			return err
		}
		if lf.head != rec.PrevT {
			// The same record already in its place (same writer, same
			// content) is this append done before: a retry.
			i := sort.Search(len(lf.recs), func(i int) bool { return lf.recs[i].prevT >= rec.PrevT })
			if i < len(lf.recs) && lf.recs[i].prevT == rec.PrevT && lf.recs[i].sum == binary.LittleEndian.Uint64(payload[4:12]) {
				return nil
			}
			return &HeadError{DB: db, Head: lf.head, Want: rec.PrevT}
		}
		_, err := lf.f.WriteAt(payload, lf.end)
		if err == nil {
			err = unix.Fdatasync(int(lf.f.Fd()))
		}
		if err != nil {
			// Not durable: take the frame back, so that no reader ever
			// takes it for a record. If even that fails, the log's state
			// is unknown and it serves nothing more until reopened.
			if terr := lf.f.Truncate(lf.end); terr != nil || unix.Fdatasync(int(lf.f.Fd())) != nil {
				lf.broken = fmt.Errorf("append failed (%v) and could not be taken back", err)
				return anomaly.New(anomaly.Fault, "log append "+db, "%v", lf.broken)
			}
			return anomaly.Wrap(anomaly.Unavailable, "log append "+db, err)
		}
		lf.recs = append(lf.recs, recPos{off: lf.end, n: uint32(n), prevT: rec.PrevT, lastT: rec.LastT(),
			sum: binary.LittleEndian.Uint64(payload[4:12])})
		lf.head = rec.LastT()
		lf.end += int64(len(payload))
		return nil
	})
}

// Head implements Log.
func (l *FileLog) Head(ctx context.Context, db string) (datom.T, error) {
	lf, err := l.file(db)
	if err != nil {
		return 0, err
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if err := lf.locked(lf.catchUp); err != nil {
		return 0, err
	}
	return lf.head, nil
}

// Records implements Log.
func (l *FileLog) Records(ctx context.Context, db string, after datom.T) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		lf, err := l.file(db)
		if err != nil {
			yield(nil, err)
			return
		}
		lf.mu.Lock()
		err = lf.locked(lf.catchUp)
		i := sort.Search(len(lf.recs), func(i int) bool { return lf.recs[i].lastT > after })
		todo := append([]recPos(nil), lf.recs[i:]...)
		f, end := lf.f, lf.end
		lf.mu.Unlock()
		if err != nil {
			yield(nil, err)
			return
		}
		for _, rp := range todo {
			if err := ctx.Err(); err != nil {
				yield(nil, anomaly.Wrap(anomaly.Interrupted, "log read", err))
				return
			}
			_, rec, err := (&logFile{f: f, path: lf.path}).readFrame(rp.off, end)
			if err != nil {
				// Checked when it was read first: now it is damage.
				yield(nil, anomaly.Wrap(anomaly.Fault, "log read "+db, err))
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// Drop implements Log.
func (l *FileLog) Drop(ctx context.Context, db string) error {
	if err := validDB(db); err != nil {
		return err
	}
	l.mu.Lock()
	lf := l.logs[db]
	delete(l.logs, db)
	l.mu.Unlock()
	if lf != nil {
		lf.mu.Lock()
		lf.f.Close()
		lf.mu.Unlock()
	}
	if err := os.Remove(filepath.Join(l.dir, db+".log")); err != nil && !os.IsNotExist(err) {
		return anomaly.Wrap(anomaly.Unavailable, "drop log "+db, err)
	}
	return nil
}

// Close implements Log.
func (l *FileLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var first error
	for db, lf := range l.logs {
		lf.mu.Lock()
		if err := lf.f.Close(); err != nil && first == nil {
			first = err
		}
		lf.mu.Unlock()
		delete(l.logs, db)
	}
	return first
}
