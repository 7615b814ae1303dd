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
package datom
