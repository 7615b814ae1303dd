// Package engine is strata's database: datoms, schema as data, transactions,
// immutable database values over time, pull, and the covering indexes (EAVT,
// AEVT, AVET, VAET) as a memory index over trees of immutable segments.
//
// # Database values
//
// A *DB is an immutable value: every datom up to its basis t. Transactions
// (DB.With) return a new value and leave the old one as it was; AsOf, Since
// and History return filtered views. Every DB, and everything reachable from
// it, is safe to share between goroutines. Reads take a context: below the
// memory index they go to the cache strata (cachetiers.Stratified), which can
// fail, and the error comes back (as the last element of a Datoms sequence,
// or from Pull).
//
//	db := engine.Empty()
//	ops, _ := engine.ParseTxDataEDN([]byte(`[{:db/ident :person/email :db/valueType :db.type/string
//	                                          :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}]`))
//	rep, err := db.With(ctx, ops, engine.TxOptions{})
//	for d, err := range rep.DBAfter.Datoms(ctx, datom.AEVT, engine.Components{}) { … }
//
// # Transactions
//
// Transaction data are Ops (Add, Retract, Map, CAS, RetractEntity, Call),
// built in Go or read from EDN (ParseTxDataEDN). With expands maps and
// transaction functions, resolves idents, lookup refs and tempids (upserting
// through :db.unique/identity), types every value against its attribute,
// drops redundant datoms, retracts what cardinality one replaces, checks
// uniqueness, maintains composite tuples, runs attribute predicates and
// entity specs, and reifies the transaction (:db/txInstant, monotonic). A
// failed transaction changes nothing and returns a *TxError: a Code and an
// anomaly category (errors.Is(err, anomaly.Conflict)), naming the form at
// fault. testdata/tx shows every rule with its output.
//
// # Storage
//
// Recent datoms live in the memory index: copy-on-write B-trees, current
// datoms apart from history. DB.Index merges them into persistent trees of
// segments (tree.go: leaves of columnar datom chunks keyed by their last
// datom, wide branches), rewriting only the segments a change touches, and
// returns the IndexRoot to publish; Open makes a database value from a root.
// Current and history are separate trees at every level, so reads of the
// current database never step over history.
package engine
