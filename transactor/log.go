package transactor

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// Log holds the transaction logs of the databases of one system, each
// named by its database id (Catalog gives ids out; a deleted database's
// name can be reused, its id never is). Implementations: FileLog (fsync'd
// files, the embedded default) and DynamoLog.
type Log interface {
	// Append appends rec to db's log if the log's head is rec.PrevT, and
	// returns once the record is durable. If the very same record (writer
	// token and content) already follows rec.PrevT, Append succeeds: it is a
	// retry of an append whose answer was lost. Any other head is refused
	// with a *HeadError (anomaly.Conflict): the caller is a stale writer.
	Append(ctx context.Context, db string, rec *Record) error
	// Records yields db's records whose LastT is after t, in order.
	Records(ctx context.Context, db string, after datom.T) iter.Seq2[*Record, error]
	// Head returns the LastT of db's last record, 0 when the log is empty.
	Head(ctx context.Context, db string) (datom.T, error)
	// Drop removes db's log.
	Drop(ctx context.Context, db string) error
	Close() error
}

// HeadError is Append's refusal: the log's head is not the record's PrevT.
type HeadError struct {
	DB         string
	Head, Want datom.T
}

func (e *HeadError) Error() string {
	return fmt.Sprintf("log %s: head is t %d, the record follows t %d", e.DB, e.Head, e.Want)
}

// Is makes a HeadError an anomaly.Conflict.
func (e *HeadError) Is(target error) bool { return target == anomaly.Conflict }

// IsHeadError reports whether err is Append's refusal, and returns it.
func IsHeadError(err error) (*HeadError, bool) {
	var h *HeadError
	ok := errors.As(err, &h)
	return h, ok
}
