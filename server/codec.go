package server

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strings"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/edn"
	"github.com/stratadb/strata/transactor"
)

// Request and response bodies: a map, in JSON (EDN's JSON form, see
// edn.FromJSON: keywords are "~:ns/name") or in EDN, by Content-Type and
// Accept (application/edn; JSON otherwise). Request keys may be strings or
// keywords ("query" or :query). A value holding EDN code (a query, tx-data,
// a pull pattern) may also be given as a string of EDN text, which is what
// a JSON client usually has.

const (
	mimeJSON = "application/json"
	mimeEDN  = "application/edn"
)

// body is a parsed request body: its fields by name.
type body map[string]any

// parseBody reads a request body (up to limit bytes) into fields.
func parseBody(r *http.Request, raw []byte) (body, error) {
	b := body{}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return b, nil
	}
	var v any
	var err error
	if isEDN(r.Header.Get("Content-Type")) {
		v, err = edn.Parse(raw)
	} else {
		v, err = edn.FromJSON(raw)
	}
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Incorrect, "request body", err)
	}
	m, ok := v.(edn.Map)
	if !ok {
		return nil, anomaly.New(anomaly.Incorrect, "request body", "want a map of arguments, not %s", ednKind(v))
	}
	for _, e := range m {
		var k string
		switch key := e.Key.(type) {
		case string:
			k = key
		case edn.Keyword:
			k = key.String()[1:]
		default:
			return nil, anomaly.New(anomaly.Incorrect, "request body", "argument names are strings or keywords, not %s", ednKind(e.Key))
		}
		if _, dup := b[k]; dup {
			return nil, anomaly.New(anomaly.Incorrect, "request body", "argument %q given twice", k)
		}
		b[k] = e.Value
	}
	return b, nil
}

func isEDN(contentType string) bool {
	t, _, _ := mime.ParseMediaType(contentType)
	return t == mimeEDN
}

// readBody reads at most limit bytes; more is incorrect.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Interrupted, "request body", err)
	}
	if int64(len(data)) > limit {
		return nil, anomaly.New(anomaly.Incorrect, "request body", "over the limit of %d bytes (max-body-bytes)", limit)
	}
	return data, nil
}

// known checks that b holds only the named arguments.
func (b body) known(names ...string) error {
	for k := range b {
		found := false
		for _, n := range names {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			return anomaly.New(anomaly.Incorrect, "request", "unknown argument %q (this operation takes %s)", k, strings.Join(names, ", "))
		}
	}
	return nil
}

// code returns argument k as EDN data: a string is read as EDN text.
func (b body) code(k string, required bool) (any, bool, error) {
	v, ok := b[k]
	if !ok || v == nil {
		if required {
			return nil, false, anomaly.New(anomaly.Incorrect, "request", "argument %q is required", k)
		}
		return nil, false, nil
	}
	if s, isStr := v.(string); isStr {
		x, err := edn.Parse([]byte(s))
		if err != nil {
			return nil, false, anomaly.New(anomaly.Incorrect, "request", "argument %q: %v", k, err)
		}
		return x, true, nil
	}
	return v, true, nil
}

// integer returns argument k as an int64.
func (b body) integer(k string) (int64, bool, error) {
	v, ok := b[k]
	if !ok || v == nil {
		return 0, false, nil
	}
	switch n := v.(type) {
	case int64:
		return n, true, nil
	case *big.Int:
		if n.IsInt64() {
			return n.Int64(), true, nil
		}
	}
	return 0, false, anomaly.New(anomaly.Incorrect, "request", "argument %q must be an integer, not %s", k, ednKind(v))
}

// boolean returns argument k as a bool.
func (b body) boolean(k string) (bool, error) {
	v, ok := b[k]
	if !ok || v == nil {
		return false, nil
	}
	x, isBool := v.(bool)
	if !isBool {
		return false, anomaly.New(anomaly.Incorrect, "request", "argument %q must be true or false, not %s", k, ednKind(v))
	}
	return x, nil
}

// name returns argument k as a keyword's or string's text.
func (b body) name(k string) (string, bool, error) {
	v, ok := b[k]
	if !ok || v == nil {
		return "", false, nil
	}
	switch x := v.(type) {
	case string:
		return strings.TrimPrefix(x, ":"), true, nil
	case edn.Keyword:
		return x.String()[1:], true, nil
	}
	return "", false, anomaly.New(anomaly.Incorrect, "request", "argument %q must be a keyword or string, not %s", k, ednKind(v))
}

// ednKind names v's kind for errors.
func ednKind(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case edn.Map:
		return "a map"
	case edn.Vector, []any:
		return "a vector"
	case edn.List:
		return "a list"
	case edn.Set:
		return "a set"
	case string:
		return "a string"
	case edn.Keyword:
		return "a keyword"
	case edn.Symbol:
		return "a symbol"
	case int64, *big.Int:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("a %T", v)
}

// fields is a response: names to EDN values (engine.ResultEDN's).
type fields []field

type field struct {
	name  string
	value any
}

// respond writes a response in the format r accepts: EDN with keyword
// keys, or JSON with string keys.
func respond(w http.ResponseWriter, r *http.Request, status int, fs fields) {
	ednOut := wantsEDN(r)
	m := make(edn.Map, len(fs))
	for i, f := range fs {
		var k any = f.name
		if ednOut {
			k = edn.Keyword{Name: f.name}
		}
		m[i] = edn.Entry{Key: k, Value: f.value}
	}
	var out []byte
	var err error
	if ednOut {
		out, err = edn.Marshal(m)
		w.Header().Set("Content-Type", mimeEDN)
	} else {
		out, err = edn.ToJSON(m)
		w.Header().Set("Content-Type", mimeJSON)
	}
	if err != nil {
		status = http.StatusInternalServerError
		out = []byte(fmt.Sprintf(`{"category":"fault","message":%q}`, "encoding the response: "+err.Error()))
		w.Header().Set("Content-Type", mimeJSON)
	}
	w.WriteHeader(status)
	w.Write(append(out, '\n'))
}

func wantsEDN(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if t, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); t == mimeEDN {
			return true
		}
	}
	return false
}

// statusOf maps an error's category to an HTTP status.
func statusOf(err error) int {
	switch anomaly.CategoryOf(err) {
	case anomaly.Incorrect:
		return http.StatusBadRequest
	case anomaly.Forbidden:
		return http.StatusForbidden
	case anomaly.NotFound:
		return http.StatusNotFound
	case anomaly.Conflict:
		return http.StatusConflict
	case anomaly.Busy:
		return http.StatusTooManyRequests
	case anomaly.Unavailable:
		return http.StatusServiceUnavailable
	case anomaly.Interrupted:
		return http.StatusGatewayTimeout
	case anomaly.Unsupported:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// fail writes err as {"category": …, "message": …}.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	cat := anomaly.CategoryOf(err)
	name := "fault"
	if cat != 0 {
		name = cat.String()
	}
	fs := fields{{"category", name}, {"message", err.Error()}}
	if errors.Is(err, transactor.ErrOutcomeUnknown) {
		// Retryable in kind, but the write may have happened: a client
		// must not resend it blindly.
		fs = append(fs, field{"outcome", "unknown"})
	}
	if cat == anomaly.Busy || cat == anomaly.Unavailable {
		w.Header().Set("Retry-After", "1")
	}
	respond(w, r, statusOf(err), fs)
}
