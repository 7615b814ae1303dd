package engine

import (
	"fmt"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
)

// Transaction data, as Go values. The EDN and JSON readers produce these;
// Go programs may build them directly.
//
// An entity is named (type Entity) by one of:
//   - datom.E or int64: an entity id;
//   - Keyword: an ident, such as Keyword("db.part/user") or an enum value;
//   - TempID: a temporary id, resolved by the transaction (the same TempID
//     names the same entity throughout one transaction); TxTempID names the
//     transaction's own entity;
//   - LookupRef: [unique-attr value].
//
// A value (type any) is a datom.Value, or a Go value coerced to the
// attribute's type: string, Keyword, Symbol, bool, int, int64, float32,
// float64, *big.Int, time.Time, [16]byte (uuid), []byte, []any (tuple); for a
// ref attribute, any Entity (a plain string is a TempID there, as in
// Datomic) or a nested Map.
type (
	// Entity names an entity; see above.
	Entity = any
	// Keyword is a keyword without its colon: "person/name".
	Keyword string
	// Symbol is a symbol: "my.ns/pred".
	Symbol string
	// TempID is a temporary id.
	TempID string
	// LookupRef is [attr value]: the entity whose unique attribute has the value.
	LookupRef struct {
		Attr  Entity
		Value any
	}
)

// TxTempID is the reserved temporary id of the current transaction's
// entity (Datomic's "datomic.tx").
const TxTempID TempID = "datomic.tx"

// Op is one operation of a transaction.
type Op interface{ isOp() }

// Add is [:db/add e a v].
type Add struct {
	E Entity
	A Entity
	V any
}

// Retract is [:db/retract e a v], or [:db/retract e a] (every value of a)
// when V is nil.
type Retract struct {
	E Entity
	A Entity
	V any
}

// Map is a map form: {:db/id id, attr value, …}. ID nil means a new entity
// (or, through a unique identity attribute among Attrs, an upsert). A value
// of a cardinality-many attribute may be a []any of values; a ref value may
// be a nested Map. Reverse attributes (Keyword "ns/_attr") assert the
// reference from the value to this entity.
type Map struct {
	ID    Entity
	Attrs []KV
}

// KV is one attribute and value of a Map.
type KV struct {
	A Entity
	V any
}

// CAS is [:db/cas e a old new]: assert new if the current value of the
// cardinality-one attribute a is old; Old nil means "only if absent".
type CAS struct {
	E        Entity
	A        Entity
	Old, New any
}

// RetractEntity is [:db/retractEntity e]: retract every datom of e, every
// reference to e, and, recursively, its components.
type RetractEntity struct{ E Entity }

// Call is [fn args…]: the registered transaction function named Fn,
// called with the database before the transaction and Args; it returns
// more transaction data.
type Call struct {
	Fn   string
	Args []any
}

func (Add) isOp()           {}
func (Retract) isOp()       {}
func (Map) isOp()           {}
func (CAS) isOp()           {}
func (RetractEntity) isOp() {}
func (Call) isOp()          {}

// Code is the specific reason a transaction failed.
type Code string

// The error codes of failed transactions.
const (
	CodeInvalidTxData   Code = "invalid-tx-data"  // malformed operation
	CodeNotAnAttribute  Code = "not-an-attribute" // attribute position does not name an attribute
	CodeNotAnEntity     Code = "not-an-entity"    // ident or lookup ref that resolves to nothing
	CodeWrongType       Code = "wrong-type"       // value of the wrong type for its attribute
	CodeValueLimit      Code = "value-limit"      // value over a documented limit
	CodeUniqueConflict  Code = "unique-conflict"  // :db.unique/value duplicate, or upsert to two entities
	CodeDatomsConflict  Code = "datoms-conflict"  // two values for one cardinality-one attribute, or add and retract of one fact
	CodeCASFailed       Code = "cas-failed"       // :db/cas found another value
	CodeTxInstant       Code = "tx-instant"       // :db/txInstant earlier than the last transaction's
	CodeSchema          Code = "schema"           // disallowed schema change or incomplete attribute
	CodePredicateFailed Code = "predicate-failed" // attribute predicate or entity spec refused the entity
	CodeUnknownFunction Code = "unknown-function" // transaction function not registered
	CodeFunctionFailed  Code = "function-failed"  // a transaction function returned an error
	CodeTooLarge        Code = "too-large"        // more operations or datoms than the limits allow
)

// category of each code: conflicts are retryable by a caller that re-reads.
func (c Code) category() anomaly.Category {
	switch c {
	case CodeUniqueConflict, CodeCASFailed:
		return anomaly.Conflict
	case CodeUnknownFunction:
		return anomaly.NotFound
	}
	return anomaly.Incorrect
}

// TxError is why a transaction failed. It matches its category with
// errors.Is (errors.Is(err, anomaly.Conflict)) and carries the code and the
// offending form or datom.
type TxError struct {
	Code Code
	Msg  string
	Form string // the operation or datom at fault, printed
	Err  error  // the cause, if any
}

func (e *TxError) Error() string {
	s := fmt.Sprintf("%s: transaction: %s: %s", e.Code.category(), e.Code, e.Msg)
	if e.Form != "" {
		s += " (in " + e.Form + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the error's category.
func (e *TxError) Is(target error) bool {
	c, ok := target.(anomaly.Category)
	return ok && c == e.Code.category()
}

func (e *TxError) Unwrap() error { return e.Err }

// As lets anomaly.CategoryOf find the error's category.
func (e *TxError) As(target any) bool {
	if c, ok := target.(*anomaly.Category); ok {
		*c = e.Code.category()
		return true
	}
	return false
}

// Category is the error's anomaly category.
func (e *TxError) Category() anomaly.Category { return e.Code.category() }

func txErr(code Code, form any, format string, args ...any) *TxError {
	e := &TxError{Code: code, Msg: fmt.Sprintf(format, args...)}
	if form != nil {
		e.Form = formString(form)
	}
	return e
}

func formString(f any) string {
	switch f := f.(type) {
	case datom.Datom:
		return f.String()
	case Add:
		return fmt.Sprintf("[:db/add %s %s %s]", entString(f.E), entString(f.A), valString(f.V))
	case Retract:
		if f.V == nil {
			return fmt.Sprintf("[:db/retract %s %s]", entString(f.E), entString(f.A))
		}
		return fmt.Sprintf("[:db/retract %s %s %s]", entString(f.E), entString(f.A), valString(f.V))
	case CAS:
		return fmt.Sprintf("[:db/cas %s %s %s %s]", entString(f.E), entString(f.A), valString(f.Old), valString(f.New))
	case RetractEntity:
		return fmt.Sprintf("[:db/retractEntity %s]", entString(f.E))
	case Call:
		return fmt.Sprintf("[%s …%d args]", f.Fn, len(f.Args))
	case Map:
		return fmt.Sprintf("{:db/id %s …%d attributes}", entString(f.ID), len(f.Attrs))
	}
	return fmt.Sprint(f)
}

func entString(e Entity) string {
	switch e := e.(type) {
	case nil:
		return "nil"
	case Keyword:
		return ":" + string(e)
	case TempID:
		if len(e) > 0 && e[0] == 0 {
			return "(new entity of a map form)"
		}
		return fmt.Sprintf("%q", string(e))
	case LookupRef:
		return fmt.Sprintf("[%s %s]", entString(e.Attr), valString(e.Value))
	}
	return fmt.Sprint(e)
}

func valString(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case datom.Value:
		return v.String()
	case string:
		return fmt.Sprintf("%q", v)
	case Keyword, TempID, LookupRef:
		return entString(v)
	case [16]byte:
		return datom.UUID(v).String()
	case Symbol:
		return string(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = valString(x)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}
