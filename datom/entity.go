package datom

import (
	"fmt"
	"strconv"
)

// E is an entity id. Like Datomic's, it holds a partition in bits 42–61 and
// a number in bits 0–41, so that the entities of one partition sort together
// in EAVT (locality of reference) and a transaction's entity id encodes its
// t: TxE(t) = MakeE(PartTx, t).
type E uint64

// Part is a partition index (the partition's own entity id, as in Datomic:
// :db.part/db is 0, :db.part/tx 3, :db.part/user 4).
type Part uint32

// The built-in partitions.
const (
	PartDB   Part = 0 // :db.part/db: schema and system entities
	PartTx   Part = 3 // :db.part/tx: transaction entities, numbered by t
	PartUser Part = 4 // :db.part/user: the default for user entities
)

const (
	partShift = 42
	// MaxN is the largest entity number within a partition.
	MaxN = 1<<partShift - 1
	// MaxPart is the largest partition index.
	MaxPart = 1<<20 - 1
)

// MakeE builds the entity id of number n in partition p. It panics when p or
// n is out of range: callers allocate numbers and are expected to check
// MaxN (a programmer error, not bad input).
func MakeE(p Part, n uint64) E {
	if p > MaxPart || n > MaxN {
		panic(fmt.Sprintf("datom: invariant: entity number %d in partition %d out of range", n, p))
	}
	return E(uint64(p)<<partShift | n)
}

// Part is the partition of e.
func (e E) Part() Part { return Part(uint64(e) >> partShift & MaxPart) }

// N is e's number within its partition.
func (e E) N() uint64 { return uint64(e) & MaxN }

// String prints e as the decimal number users see in Datomic.
func (e E) String() string { return strconv.FormatUint(uint64(e), 10) }

// T is a database's basis: the number of transactions and new entities it
// has counted. It increases strictly with every transaction.
type T uint64

// String prints t in decimal.
func (t T) String() string { return strconv.FormatUint(uint64(t), 10) }

// TxE is the entity id of the transaction at t.
func TxE(t T) E { return MakeE(PartTx, uint64(t)) }

// IsTx reports whether e is a transaction entity.
func (e E) IsTx() bool { return e.Part() == PartTx }

// T is the t of a transaction entity id; for other entities it is the
// entity number (Datomic's e->t).
func (e E) T() T { return T(e.N()) }
