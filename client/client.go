// Package client is a Go client of a strata node's HTTP API (package
// server): databases, transactions, and reads of database values, with
// request signing, retries, and errors that carry strata's anomaly
// categories.
//
//	c, err := client.Connect(ctx, client.Config{Endpoint: "http://127.0.0.1:4334", KeyID: id, Secret: secret})
//	conn := c.Conn("people")
//	rep, err := conn.Transact(ctx, `[{:db/id "a" :person/name "Ann"}]`)
//	names, err := rep.DBAfter.Q(ctx, `[:find [?n ...] :where [_ :person/name ?n]]`)
//
// # Values
//
// Code (transaction data, queries, pull patterns) is EDN: a string of EDN
// text, or EDN values as package edn makes them (edn.Vector, edn.Map,
// edn.Keyword, …; Go ints, floats, strings, bools, time.Time, slices and
// maps are taken too). Results are EDN values as edn.FromJSON reads them:
// keywords are edn.Keyword, collections edn.Vector and edn.Map, integers
// int64, entity ids int64.
//
// # Database values
//
// A DB is the database at one basis t, as in Datomic: Conn.DB is the newest
// value the Conn knows of (the highest t it has seen in an answer), and
// every read of one DB sees the same data, also while others transact. A
// read normally asks for the node's newest data and checks the basis-t it
// answers with; only if the database moved on since the DB was taken does
// the DB ask for it as of its basis (once moved, always), and if the node
// is behind (a query-group node), the read waits for the node to catch up
// (sync) first. A DB from a Conn that has seen nothing takes its basis
// from its first answer. AsOf, Since and History make views of a DB, sent
// to the node as the request arguments "as-of", "since" and "history".
//
// # Errors and retries
//
// Every error is an *Error that matches its category with errors.Is
// (errors.Is(err, anomaly.Busy)). Calls that fail with a retryable
// category (unavailable, busy, interrupted) or that cannot reach the node
// are retried up to MaxRetries times with exponential backoff and full
// jitter, each attempt signed anew. A write (a transaction, creating or
// deleting a database) is retried only when it surely did not happen: when
// it was never sent, or when the node (or a gateway, with 429 or 503)
// refused it. When a write was sent and no answer came back, it may or may
// not have happened: the error is unavailable with OutcomeUnknown set, and
// is not retried. The context's deadline bounds every call, its retries
// and their waits.
//
// # Concurrency
//
// A Client, its Conns and their DBs are safe for concurrent use.
package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stratadb/strata/edn"
)

// DefaultEndpoint is the embedded default node's address.
const DefaultEndpoint = "http://127.0.0.1:4334"

// Defaults and bounds of Config.
const (
	DefaultRegion     = "local"
	DefaultMaxRetries = 3
	DefaultTimeout    = 2 * time.Minute
	DefaultBackoff    = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultPageSize is how many datoms, pulls or transactions one
	// request of a paged read (Datoms, IndexRange, IndexPull, TxRange)
	// asks for; MaxPageSize is the node's limit.
	DefaultPageSize        = 10_000
	MaxPageSize            = 100_000
	DefaultMaxResponseSize = 1 << 30
)

// Config says how to reach a node. The zero Config reaches the embedded
// default on loopback, unsigned.
type Config struct {
	// Endpoint is the node's base URL, http or https. Default
	// DefaultEndpoint.
	Endpoint string
	// KeyID and Secret are an API key (strata keys create) that signs
	// every request. Without one, requests are unsigned, which only a
	// loopback node that allows it takes.
	KeyID, Secret string
	// Region is the region requests are signed for: the node's
	// configured region. Default "local".
	Region string
	// HTTPClient sends the requests. Default: a client of its own, with
	// up to 64 idle connections to the node. Its own Timeout, if set,
	// bounds each attempt.
	HTTPClient *http.Client
	// MaxRetries is how many times a failed call is retried. Default 3;
	// negative: never.
	MaxRetries int
	// Timeout bounds each call, its retries included, besides the
	// context's deadline. Default 2 minutes; negative: only the context.
	Timeout time.Duration
	// Backoff is the first retry's wait, doubled on every retry up to
	// BackoffMax, and jittered. Defaults 100 ms and 5 s.
	Backoff, BackoffMax time.Duration
	// PageSize is the size of one page of a paged read. Default 10,000;
	// at most 100,000.
	PageSize int
	// MaxResponseSize bounds one answer's body in bytes. Default 1 GiB.
	MaxResponseSize int64
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		c.HTTPClient = &http.Client{Transport: t}
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxResponseSize == 0 {
		c.MaxResponseSize = DefaultMaxResponseSize
	}
	return c
}

// validate rejects what cannot work, saying what to fix.
func (c Config) validate() error {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return incorrect("endpoint %q: want http://HOST:PORT or https://HOST:PORT", c.Endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return incorrect("endpoint %q: no query or fragment", c.Endpoint)
	}
	if (c.KeyID == "") != (c.Secret == "") {
		return incorrect("a key needs both its id and its secret")
	}
	if c.Backoff < 0 || c.BackoffMax < c.Backoff {
		return incorrect("backoff %s to %s: want 0 < backoff <= backoff max", c.Backoff, c.BackoffMax)
	}
	if c.PageSize < 1 || c.PageSize > MaxPageSize {
		return incorrect("page size %d: want 1 to %d", c.PageSize, MaxPageSize)
	}
	if c.MaxResponseSize < 1 {
		return incorrect("max response size %d: want a positive number of bytes", c.MaxResponseSize)
	}
	return nil
}

// Client talks to one node (or a load balancer in front of several).
type Client struct {
	cfg    Config
	signer *v4.Signer
}

// Connect checks that the node at cfg.Endpoint answers (GET /health,
// retried like any call) and returns a Client of it.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, signer: v4.NewSigner()}
	if _, err := c.call(ctx, request{method: "GET", path: "/health"}); err != nil {
		return nil, err
	}
	return c, nil
}

// Endpoint returns the node's base URL.
func (c *Client) Endpoint() string { return c.cfg.Endpoint }

// CreateDB creates a database (conflict if the name is taken).
func (c *Client) CreateDB(ctx context.Context, name string) error {
	_, err := c.call(ctx, request{method: "POST", path: "/v1/dbs", write: true, args: edn.Map{{Key: "name", Value: name}}})
	return err
}

// ListDBs returns the names of the databases, sorted.
func (c *Client) ListDBs(ctx context.Context) ([]string, error) {
	m, err := c.call(ctx, request{method: "GET", path: "/v1/dbs"})
	if err != nil {
		return nil, err
	}
	v, err := field[edn.Vector](m, "dbs")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(v))
	for _, x := range v {
		s, ok := x.(string)
		if !ok {
			return nil, badAnswer("dbs: a name is %T", x)
		}
		names = append(names, s)
	}
	return names, nil
}

// DeleteDB deletes a database and its data (not-found if there is none).
func (c *Client) DeleteDB(ctx context.Context, name string) error {
	_, err := c.call(ctx, request{method: "DELETE", path: "/v1/dbs/" + url.PathEscape(name), write: true})
	return err
}

// Conn returns a connection to database name. It makes no request: a
// database that does not exist shows as not-found on the first call.
func (c *Client) Conn(name string) *Conn {
	return &Conn{c: c, name: name, path: "/v1/dbs/" + url.PathEscape(name) + "/"}
}

// Conn is a connection to one database: it transacts, and remembers the
// newest basis t it has seen, which Conn.DB reads at.
type Conn struct {
	c      *Client
	name   string
	path   string
	latest atomic.Int64
}

// Name returns the database's name.
func (cn *Conn) Name() string { return cn.name }

// saw records that the database had reached t.
func (cn *Conn) saw(t int64) {
	for {
		cur := cn.latest.Load()
		if t <= cur || cn.latest.CompareAndSwap(cur, t) {
			return
		}
	}
}

// DB returns the newest database value the Conn knows of (see the
// package documentation). Its basis is fixed by the first answer if the
// Conn has seen none yet.
func (cn *Conn) DB() *DB {
	return cn.dbAt(cn.latest.Load())
}

func (cn *Conn) dbAt(t int64) *DB {
	b := &basis{}
	b.t.Store(t)
	return &DB{conn: cn, basis: b}
}

// Transact commits txData (EDN text, or EDN values: see the package
// documentation) and returns its report. DBBefore and DBAfter are the
// database values just before and after it.
func (cn *Conn) Transact(ctx context.Context, txData any) (*TxReport, error) {
	code, err := ednText(txData)
	if err != nil {
		return nil, err
	}
	m, err := cn.c.call(ctx, request{method: "POST", path: cn.path + "transact", write: true, args: edn.Map{{Key: "tx-data", Value: code}}})
	if err != nil {
		return nil, err
	}
	rep, err := reportOf(m)
	if err != nil {
		return nil, err
	}
	cn.saw(rep.TAfter)
	rep.DBBefore, rep.DBAfter = cn.dbAt(rep.TBefore), cn.dbAt(rep.TAfter)
	rep.DBBefore.basis.pinned.Store(true) // newer data exists: read it as of t-before
	return rep, nil
}

// Sync waits until the node serving the Conn has the database at t or
// later (t 0: the newest t the log holds now) and returns that value.
func (cn *Conn) Sync(ctx context.Context, t int64) (*DB, error) {
	if t < 0 {
		return nil, incorrect("sync: t %d must not be negative", t)
	}
	var args edn.Map
	if t > 0 {
		args = edn.Map{{Key: "t", Value: t}}
	}
	m, err := cn.c.call(ctx, request{method: "POST", path: cn.path + "sync", args: args})
	if err != nil {
		return nil, err
	}
	bt, err := field[int64](m, "basis-t")
	if err != nil {
		return nil, err
	}
	cn.saw(bt)
	return cn.dbAt(bt), nil
}

// TxEntry is one transaction of the log.
type TxEntry struct {
	T    int64
	Data []Datom
}

// TxRange yields the log's transactions with start <= t < end (end 0:
// to the newest), in order, a page at a time.
func (cn *Conn) TxRange(ctx context.Context, start, end int64) iter.Seq2[TxEntry, error] {
	return func(yield func(TxEntry, error) bool) {
		if start < 0 || end < 0 {
			yield(TxEntry{}, incorrect("tx-range: start %d and end %d must not be negative", start, end))
			return
		}
		limit := int64(cn.c.cfg.PageSize)
		for {
			m, err := cn.c.call(ctx, request{method: "POST", path: cn.path + "tx-range",
				args: edn.Map{{Key: "start", Value: start}, {Key: "end", Value: end}, {Key: "limit", Value: limit}}})
			if err != nil {
				yield(TxEntry{}, err)
				return
			}
			txs, err := field[edn.Vector](m, "txs")
			if err != nil {
				yield(TxEntry{}, err)
				return
			}
			for _, x := range txs {
				e, err := txEntryOf(x)
				if err != nil {
					yield(TxEntry{}, err)
					return
				}
				if !yield(e, nil) {
					return
				}
				start = e.T + 1
			}
			if int64(len(txs)) < limit {
				return
			}
		}
	}
}
