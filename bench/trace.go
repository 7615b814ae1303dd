package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/stratadb/strata/anomaly"
)

// TraceFormat names the layout of a trace file.
type TraceFormat string

const (
	// FormatLIRS is text, one integer key per line. See ReadLIRS.
	FormatLIRS TraceFormat = "lirs"
	// FormatCache2k is binary, 4-byte big-endian unsigned keys. See ReadCache2k.
	FormatCache2k TraceFormat = "cache2k"
)

// TraceFormats lists the formats ReadTraceFile reads, in the order a usage message shows them.
var TraceFormats = []TraceFormat{FormatLIRS, FormatCache2k}

// ParseTraceFormat returns the format named s ("lirs" or "cache2k").
func ParseTraceFormat(s string) (TraceFormat, error) {
	for _, f := range TraceFormats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", anomaly.New(anomaly.Incorrect, "trace format", "unknown format %q (want lirs or cache2k)", s)
}

// TraceKeysMaxDefault bounds the number of accesses a reader accepts when the
// caller passes keysMax <= 0. A replay holds the whole trace in memory (8 bytes
// per access) and Bélády's policy adds its next-use index (4 bytes per access),
// so 32 Mi accesses cost about 384 MiB before any policy state. The LIRS traces
// are at most about half a million accesses.
const TraceKeysMaxDefault = 32 << 20

// traceKeysMaxLimit is the largest keysMax accepted: the next-use index of
// Bélády's policy is an int32 per access and needs twice the trace length to
// give every "never used again" a distinct position (see NewFuture).
const traceKeysMaxLimit = 1 << 30

// lirsLineBytesMax bounds one line of a text trace. A key is at most 20 digits;
// the rest allows for padding, and a longer line is surely not a key.
const lirsLineBytesMax = 4096

// TraceError is a malformed trace: it names the trace and where in it the
// problem is. It matches anomaly.Incorrect with errors.Is.
type TraceError struct {
	Name   string // the file's path, or the name given to the reader
	Line   int    // 1-based line of a text trace; 0 when not applicable
	Offset int64  // byte offset in a binary trace (after decompression); -1 when not applicable
	Msg    string
	Err    error // the cause, if any (an I/O or gzip error)
}

func (e *TraceError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, ": byte offset %d", e.Offset)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *TraceError) Unwrap() error { return e.Err }

// Is makes a TraceError match anomaly.Incorrect: the input is wrong.
func (e *TraceError) Is(target error) bool { return target == anomaly.Incorrect }

func keysMaxOrDefault(keysMax int) int {
	if keysMax <= 0 {
		return TraceKeysMaxDefault
	}
	return min(keysMax, traceKeysMaxLimit)
}

func tooManyKeys(name string, line int, offset int64, keysMax int) error {
	return &TraceError{Name: name, Line: line, Offset: offset, Msg: fmt.Sprintf(
		"more than %d keys: a replay holds the whole trace in memory, so traces are limited to %d accesses",
		keysMax, keysMax)}
}

// ReadLIRS reads a text trace in the LIRS format from r, which is not
// compressed (ReadTraceFile decompresses). Each line holds one key, an
// unsigned or signed decimal integer (a negative key is kept as its two's
// complement bit pattern); surrounding spaces, tabs and a CR of a CRLF line
// ending are ignored. Blank lines and lines holding only "*" (a checkpoint
// marker) are skipped. Any other line is an error that names the trace (name)
// and the 1-based line. At most keysMax keys are read (TraceKeysMaxDefault if
// keysMax <= 0); more is an error.
func ReadLIRS(r io.Reader, name string, keysMax int) ([]uint64, error) {
	keysMax = keysMaxOrDefault(keysMax)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), lirsLineBytesMax)
	var keys []uint64
	line := 0
	for sc.Scan() {
		line++
		field := bytes.TrimSpace(sc.Bytes())
		if len(field) == 0 || (len(field) == 1 && field[0] == '*') {
			continue
		}
		key, ok := parseKey(field)
		if !ok {
			return nil, &TraceError{Name: name, Line: line, Offset: -1,
				Msg: fmt.Sprintf("%s is not an integer key (nor a checkpoint \"*\")", quoteShort(field))}
		}
		if len(keys) == keysMax {
			return nil, tooManyKeys(name, line, -1, keysMax)
		}
		keys = append(keys, key)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &TraceError{Name: name, Line: line + 1, Offset: -1,
				Msg: fmt.Sprintf("line longer than %d bytes is not a key", lirsLineBytesMax)}
		}
		return nil, &TraceError{Name: name, Line: line + 1, Offset: -1, Msg: "read failed", Err: err}
	}
	return keys, nil
}

// parseKey parses a decimal key. strconv sees no sign, underscore or base
// prefix in the unsigned case because those are rejected by ParseUint with
// base 10; the signed fallback accepts a leading '-' or '+'.
func parseKey(field []byte) (uint64, bool) {
	s := string(field)
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return u, true
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return uint64(i), true
	}
	return 0, false
}

// quoteShort quotes b for an error message, cut to a readable length.
func quoteShort(b []byte) string {
	const n = 40
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// cache2kRecordBytes is the size of one access in a cache2k trace.
const cache2kRecordBytes = 4

// ReadCache2k reads a binary trace in the cache2k format from r, which is not
// compressed (ReadTraceFile decompresses): a sequence of 4-byte big-endian
// unsigned keys with no header. A length that is not a multiple of 4 is an
// error naming the byte offset of the partial record at the end. At most
// keysMax keys are read (TraceKeysMaxDefault if keysMax <= 0).
func ReadCache2k(r io.Reader, name string, keysMax int) ([]uint64, error) {
	keysMax = keysMaxOrDefault(keysMax)
	var keys []uint64
	buf := make([]byte, 64<<10)
	have := 0        // bytes in buf not yet decoded: fewer than a record after each pass
	var offset int64 // offset in the trace of buf[0]
	for {
		n, err := r.Read(buf[have:])
		have += n
		whole := have - have%cache2kRecordBytes
		for i := 0; i < whole; i += cache2kRecordBytes {
			if len(keys) == keysMax {
				return nil, tooManyKeys(name, 0, offset+int64(i), keysMax)
			}
			keys = append(keys, uint64(binary.BigEndian.Uint32(buf[i:])))
		}
		have = copy(buf, buf[whole:have])
		offset += int64(whole)
		switch {
		case err == nil:
		case err == io.EOF: // io.EOF itself, never wrapped, as the io.Reader contract says
			if have != 0 {
				return nil, &TraceError{Name: name, Offset: offset, Msg: fmt.Sprintf(
					"trailing partial record of %d bytes (records are %d bytes)", have, cache2kRecordBytes)}
			}
			return keys, nil
		default:
			return nil, &TraceError{Name: name, Offset: offset + int64(have), Msg: "read failed", Err: err}
		}
	}
}

// gzipMagic starts every gzip stream (RFC 1952, section 2.3.1).
var gzipMagic = []byte{0x1f, 0x8b}

// ReadTraceFile reads the trace at path in the given format, decompressing
// gzip transparently, and returns its keys in access order. It refuses an
// empty trace and one of more than keysMax accesses (TraceKeysMaxDefault if
// keysMax <= 0).
//
// Gzip is recognized by the ".gz" suffix of path. A LIRS trace is also
// recognized by its first two bytes, since text never starts with gzip's magic
// number; a cache2k trace is not, because its first key may start with those
// bytes.
//
// Errors match anomaly.Incorrect with errors.Is: a file that cannot be opened
// wraps the *os.PathError (so it also matches os.ErrNotExist and friends); a
// malformed trace, a corrupt or truncated gzip stream included, is a
// *TraceError.
func ReadTraceFile(path string, format TraceFormat, keysMax int) ([]uint64, error) {
	switch format {
	case FormatLIRS, FormatCache2k:
	default:
		return nil, anomaly.New(anomaly.Incorrect, "read trace "+path, "unknown format %q (want lirs or cache2k)", format)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "read trace", err)
	}
	defer f.Close()

	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	compressed := strings.HasSuffix(path, ".gz")
	if !compressed && format == FormatLIRS {
		head, _ := br.Peek(len(gzipMagic)) // a short or failed peek is decided by the reader below
		compressed = bytes.Equal(head, gzipMagic)
	}
	if compressed {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &TraceError{Name: path, Offset: -1, Msg: "not a gzip stream", Err: err}
		}
		defer zr.Close()
		r = zr
	}

	var keys []uint64
	switch format {
	case FormatLIRS:
		keys, err = ReadLIRS(r, path, keysMax)
	case FormatCache2k:
		keys, err = ReadCache2k(r, path, keysMax)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, &TraceError{Name: path, Offset: -1, Msg: "no keys: the trace is empty"}
	}
	return keys, nil
}
