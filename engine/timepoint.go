package engine

import (
	"context"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// TOf turns a point in time, as Datomic's as-of and since take it, into a
// t: a datom.T as is, a transaction's entity id (datom.E, or int64) to its
// t, and a time.Time to the t of the last transaction whose :db/txInstant
// is not after it (0 when there is none).
func (db *DB) TOf(ctx context.Context, point any) (datom.T, error) {
	switch p := point.(type) {
	case datom.T:
		return p, nil
	case datom.E:
		if !p.IsTx() {
			return 0, anomaly.New(anomaly.Incorrect, "as-of", "%d is not a transaction entity id", p)
		}
		return p.T(), nil
	case int64:
		if p < 0 {
			return 0, anomaly.New(anomaly.Incorrect, "as-of", "negative point %d", p)
		}
		if e := datom.E(p); e.IsTx() {
			return e.T(), nil
		}
		return datom.T(p), nil
	case time.Time:
		r := newRd(ctx)
		var t datom.T
		end := datom.InstantMillis(p.UnixMilli() + 1)
		// Instants are monotonic in t, so the last one not after p is the
		// last datom of the AVET range below p+1ms.
		db.scanCur(r, datom.AVET, datom.Datom{A: eTxInstant}, func(d datom.Datom) bool {
			return d.A == eTxInstant && datom.CompareValue(d.V, end) < 0
		}, func(d datom.Datom) bool {
			t = max(t, d.E.T())
			return true
		})
		return t, r.err
	}
	return 0, anomaly.New(anomaly.Incorrect, "as-of", "a point in time is a t, a transaction id or an instant, not %T", point)
}

// AsOfPoint is AsOf of a t, a transaction id or an instant (see TOf).
func (db *DB) AsOfPoint(ctx context.Context, point any) (*DB, error) {
	t, err := db.TOf(ctx, point)
	if err != nil {
		return nil, err
	}
	return db.AsOf(t), nil
}

// SincePoint is Since of a t, a transaction id or an instant (see TOf).
func (db *DB) SincePoint(ctx context.Context, point any) (*DB, error) {
	t, err := db.TOf(ctx, point)
	if err != nil {
		return nil, err
	}
	return db.Since(t), nil
}
