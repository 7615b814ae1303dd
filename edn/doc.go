// Package edn reads and prints EDN (https://github.com/edn-format/edn), the
// text of strata's transaction data, queries and results: what a user would
// give Datomic.
//
//	v, err := edn.Parse([]byte(`[{:db/id "alice" :person/name "Alice"}]`))
//	tx := v.(edn.Vector)
//	name, _ := tx[0].(edn.Map).Get(edn.Keyword{Namespace: "person", Name: "name"})
//	out, err := edn.Marshal(v) // reads back Equal to v
//
// # Values
//
// Parse returns these Go types; Marshal prints them and reads back Equal:
//
//	nil                       nil (Go's untyped nil; there is no edn.Nil)
//	true, false               bool
//	"text"                    string (valid UTF-8; escapes \t \n \r \b \f \" \\ \uXXXX, octal \NNN)
//	\a \newline \u00e9 \o101  Char (a rune); also \space \tab \return \formfeed \backspace
//	42 -7 +1                  int64
//	42N, beyond int64         *big.Int (N always reads as *big.Int, even 1N)
//	1.5 1e10 1.               float64; ##Inf ##-Inf ##NaN too
//	1.10M 1E+3M               BigDec: exact, keeps its scale (1.10M prints as 1.10M)
//	1/3                       *big.Rat (Clojure's ratio, not in the EDN spec)
//	:name :ns/name            Keyword{Namespace, Name}
//	name ns/name / ?e ...     Symbol{Namespace, Name}
//	(a b)                     List ([]any)
//	[a b]                     Vector ([]any)
//	{k v}                     Map ([]Entry in input order; Get looks a key up)
//	#{a b}                    Set ([]any in input order)
//	#:ns{:a 1 :_/b 2 c 3}     Map {:ns/a 1 :b 2 ns/c 3}: keys qualified as Clojure does
//	#inst "1985-04-12T23:20:50.52Z"   time.Time in UTC
//	#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"  UUID ([16]byte)
//	#db/id [:db.part/user -1] Tagged{Tag, Value}, for any tag without a handler
//
// #_ discards the next value, ; starts a comment to the end of the line, and
// commas are whitespace. A set with two Equal elements and a map with two
// Equal keys are errors, as the spec requires. Symbols follow the spec: a
// symbol cannot start with a digit nor with + - . and a digit (+1 is a number,
// -a a symbol, .5 an error); / alone is a symbol, and clojure.core// too.
// Keywords may start with a digit (:1), as Clojure allows. Regular
// expressions, #( ), ::auto-resolved keywords and #:: maps are not EDN and
// are errors. Integers and the integer part of floats cannot have leading
// zeros (the spec's rule; Clojure reads 017 as octal).
//
// #inst accepts RFC 3339 with trailing parts optional, as Clojure does:
// 1985, 1985-04-12, 1985-04-12T23:20Z, with a fraction of any length (digits
// past nanoseconds are dropped) and an offset Z or ±hh:mm, which is applied:
// the time.Time is in UTC. Equal compares instants.
//
// Marshal also accepts int, int8-int32, uint types up to MaxInt64 (printed
// as integers; a rune is an int32, so print characters as Char), float32
// (printed as the float64 it converts to exactly), []any (as a vector),
// map[string]any, map[Keyword]any and map[any]any (as maps, entries sorted by
// key text so the output is deterministic). Anything else, a symbol that
// would read back as something else (Symbol{Name: "nil"}), a keyword or
// symbol with invalid characters, a string that is not UTF-8, a set or a map
// with duplicates, a time beyond year 9999, or a Tagged with tag inst or uuid
// is an anomaly.Incorrect error.
//
// # Errors
//
// Every error a read returns because of its input is a *SyntaxError with the
// line and column (1-based; the column counts runes) and the byte offset of
// the problem, and a message naming what was wrong and what was expected:
//
//	edn: line 3, column 14: unterminated string starting at line 3, column 5: expected '"'
//
// It matches anomaly.Incorrect with errors.Is. A Decoder returns its
// io.Reader's errors unchanged.
//
// # Limits
//
// Options bound what a read accepts; NewParser fills defaults and rejects bad
// values. MaxDepth (default 1000) bounds nesting; the reader keeps its stack
// on the heap, so no input can overflow the goroutine stack. MaxInputBytes
// (default 64 MiB) bounds an input, or a Decoder's value. MaxNumberDigits
// (default 10,000) bounds a numeric literal, as big.Int parsing is quadratic.
//
// # Concurrency
//
// Parse, ParseAll, Marshal, AppendEDN and Equal are safe for concurrent use,
// and so are a Parser's methods: a Parser is immutable. A Decoder belongs to
// one goroutine. Values read are fresh, except that keywords and symbols may
// share their strings with other values read; no value is modified after it
// is returned.
//
// # Performance
//
// The reader is a hand-written scanner over []byte: no regexp, no reflection.
// A collection costs two allocations, a string one or two, a repeated
// keyword or symbol none (they are interned per read state). Run
// go test -bench . ./edn/ for MB/s on a transaction of 10,000 entity maps.
package edn
