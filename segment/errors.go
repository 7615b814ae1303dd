package segment

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/stratadb/strata/anomaly"
)

// ErrCorrupt is the errors.Is target for every corruption a reader detects:
// a bad magic, version or checksum, a length that does not fit, a malformed
// record. Corruption errors also match anomaly.Fault.
var ErrCorrupt = errors.New("segment corrupt")

// CorruptError describes corruption found in a segment. Every error that a
// reader returns because of the bytes it was given is a *CorruptError.
type CorruptError struct {
	ID     ID     // the segment
	Block  int    // the block, or -1 when the corruption is not inside a block
	Offset int64  // byte offset in the segment of the structure found corrupt, or -1 if unknown
	Msg    string // what is wrong, with the stored and expected values
}

// Error returns e.g. "segment 7f3a12bc: block 12 at offset 49152: checksum mismatch (stored 0x…, computed 0x…)".
func (e *CorruptError) Error() string {
	b := make([]byte, 0, 64+len(e.Msg))
	b = append(b, "segment "...)
	b = append(b, e.ID.Short()...)
	b = append(b, ": "...)
	if e.Block >= 0 {
		b = append(b, "block "...)
		b = strconv.AppendInt(b, int64(e.Block), 10)
		if e.Offset >= 0 {
			b = append(b, ' ')
		} else {
			b = append(b, ": "...)
		}
	}
	if e.Offset >= 0 {
		b = append(b, "at offset "...)
		b = strconv.AppendInt(b, e.Offset, 10)
		b = append(b, ": "...)
	}
	b = append(b, e.Msg...)
	return string(b)
}

// Is reports true for ErrCorrupt and anomaly.Fault.
func (e *CorruptError) Is(target error) bool {
	return target == ErrCorrupt || target == anomaly.Fault
}

func corruptf(id ID, block int, off int64, format string, args ...any) *CorruptError {
	return &CorruptError{ID: id, Block: block, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// incorrectf reports a caller's mistake (bad options, unordered keys, a block
// number out of range): category anomaly.Incorrect, never ErrCorrupt.
func incorrectf(op, format string, args ...any) error {
	return anomaly.New(anomaly.Incorrect, op, format, args...)
}
