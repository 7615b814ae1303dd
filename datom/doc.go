// Package datom holds strata's facts and their parts: entity ids with
// partitions (E, Part), the basis t (T), typed values (Value, Type) with their
// total order and limits, datoms [e a v tx added] and the four covering
// index orders (EAVT, AEVT, AVET, VAET) with their comparators.
//
// Everything here is an immutable value and safe to share between
// goroutines. Values print as EDN, the way a Datomic user writes them:
//
//	datom.Long(42).String()            // 42
//	datom.Keyword("person/name")       // :person/name
//	datom.Datom{E: e, A: a, V: v, Tx: datom.TxE(7), Added: true}.String()
//
// Entity ids follow Datomic's layout: a partition in bits 42–61 and a number
// below, so TxE(t) is the transaction entity of t and E.T recovers t.
//
// Two encodings serve the storage: AppendKey (key.go) writes a datom as a
// byte string whose bytewise order is the index's order (segment keys,
// seeks with AppendKeyPrefix), and AppendBlock (columns.go) writes a sorted
// run of datoms as compact columns (deltas, dictionaries, bit-packing; a few
// bytes per datom before compression). Both are documented byte by byte next
// to their encoders and both decoders reject any malformed input with an
// error, never a panic (fuzzed).
package datom
