package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/client"
	"github.com/stratadb/strata/edn"
	"github.com/stratadb/strata/server"
	"github.com/stratadb/strata/server/servertest"
	"github.com/stratadb/strata/transactor"
)

// testNode is a node and its server in this process, on a loopback port,
// without an SSD tier (tests run several nodes at once).
type testNode struct {
	node *server.Node
	url  string
}

func startNode(t *testing.T, cfg server.Config) *testNode {
	t.Helper()
	n, url := servertest.Start(t, cfg)
	return &testNode{node: n, url: url}
}

// key puts a new API key in the node's catalog.
func (n *testNode) key(t *testing.T, readOnly bool, dbs ...string) transactor.APIKey {
	t.Helper()
	k, err := transactor.NewAPIKey(readOnly, dbs, "client test")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.node.Catalog().PutKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func connect(t *testing.T, endpoint string, k transactor.APIKey, cfg client.Config) *client.Client {
	t.Helper()
	cfg.Endpoint, cfg.KeyID, cfg.Secret = endpoint, k.ID, k.Secret
	if cfg.Backoff == 0 {
		cfg.Backoff, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	c, err := client.Connect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const schema = `[{:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
 {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
 {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]`

func kw(s string) edn.Keyword {
	ns, name, _ := strings.Cut(s, "/")
	return edn.Keyword{Namespace: ns, Name: name}
}

// show prints EDN values, sorting a vector's elements so that results
// compare as sets.
func show(t *testing.T, v any, sorted bool) string {
	t.Helper()
	if vec, ok := v.(edn.Vector); ok && sorted {
		parts := make([]string, len(vec))
		for i, x := range vec {
			parts[i] = show(t, x, false)
		}
		slices.Sort(parts)
		return "[" + strings.Join(parts, " ") + "]"
	}
	b, err := edn.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func count(t *testing.T, db *client.DB) int64 {
	t.Helper()
	n, err := db.Q(context.Background(), `[:find (count ?e) . :where [?e :person/name]]`)
	if err != nil {
		t.Fatal(err)
	}
	if n == nil {
		return 0
	}
	return n.(int64)
}

// The API end to end, every request signed: databases, transactions as
// text and as values, every read, views, database values that stay put
// while others transact, the log, sync.
func TestRoundTrip(t *testing.T) {
	n := startNode(t, server.Config{})
	c := connect(t, n.url, n.key(t, false), client.Config{PageSize: 2})
	ctx := context.Background()
	if err := c.CreateDB(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	if dbs, err := c.ListDBs(ctx); err != nil || fmt.Sprint(dbs) != "[people]" {
		t.Fatalf("ListDBs %v %v", dbs, err)
	}
	conn := c.Conn("people")
	schemaRep, err := conn.Transact(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	data, err := edn.Parse([]byte(`[{:db/id "a" :person/name "ann" :person/age 40}
		{:db/id "b" :person/name "bob" :person/age 30 :person/friend "a"}
		{:person/name "cid" :person/age 20}]`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := conn.Transact(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TBefore != schemaRep.TAfter || rep.TAfter <= rep.TBefore || rep.TempIDs["a"] == 0 || rep.TempIDs["b"] == 0 || len(rep.TxData) != 8 {
		t.Fatalf("report %+v", rep)
	}
	db := conn.DB()
	if db.BasisT() != rep.TAfter {
		t.Fatalf("conn.DB() at %d, the transaction at %d", db.BasisT(), rep.TAfter)
	}

	// Queries: a relation, inputs of Go types, a collection input.
	q, err := db.Q(ctx, `[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]`)
	if err != nil || show(t, q, true) != `[["ann" 40] ["bob" 30] ["cid" 20]]` {
		t.Fatalf("q %v %v", q, err)
	}
	q, err = db.Q(ctx, `[:find [?n ...] :in $ ?min :where [?e :person/name ?n] [?e :person/age ?a] [(> ?a ?min)]]`, 25)
	if err != nil || show(t, q, true) != `["ann" "bob"]` {
		t.Fatalf("q with an input %v %v", q, err)
	}
	q, err = db.Q(ctx, `[:find [?a ...] :in $ [?n ...] :where [?e :person/name ?n] [?e :person/age ?a]]`, []string{"ann", "zed", "cid"})
	if err != nil || show(t, q, true) != `[20 40]` {
		t.Fatalf("q with a collection %v %v", q, err)
	}
	q, err = db.Query(ctx, client.Query{Query: `[:find ?n :where [_ :person/name ?n]]`, Limit: 1, Timeout: time.Second})
	if err != nil || len(q.(edn.Vector)) != 1 {
		t.Fatalf("q with a limit %v %v", q, err)
	}

	// Pull, by lookup ref as values and as text; pull many.
	p, err := db.Pull(ctx, `[:person/name {:person/friend [:person/name]}]`, edn.Vector{kw("person/name"), "bob"})
	if err != nil || show(t, p, false) != `{:person/friend [{:person/name "ann"}] :person/name "bob"}` {
		t.Fatalf("pull %v %v", p, err)
	}
	p, err = db.Pull(ctx, `[:person/age]`, rep.TempIDs["a"])
	if err != nil || show(t, p, false) != `{:person/age 40}` {
		t.Fatalf("pull by id %v %v", p, err)
	}
	ps, err := db.PullMany(ctx, `[:person/age]`, []any{`[:person/name "ann"]`, rep.TempIDs["b"]})
	if err != nil || len(ps) != 2 || show(t, ps[1], false) != `{:person/age 30}` {
		t.Fatalf("pull many %v %v", ps, err)
	}

	// Datoms, index-range and index-pull, over pages of 2.
	var ages []string
	for d, err := range db.Datoms(ctx, "avet", kw("person/age")) {
		if err != nil {
			t.Fatal(err)
		}
		ages = append(ages, fmt.Sprint(d.V))
		if d.A != kw("person/age") || d.Tx == 0 || !d.Added {
			t.Fatalf("datom %v", d)
		}
	}
	if fmt.Sprint(ages) != "[20 30 40]" {
		t.Fatalf("datoms over pages: %v", ages)
	}
	all := 0
	for _, err := range db.Datoms(ctx, "eavt") {
		if err != nil {
			t.Fatal(err)
		}
		all++
	}
	var inRange []string
	for d, err := range db.IndexRange(ctx, kw("person/age"), 25, nil) {
		if err != nil {
			t.Fatal(err)
		}
		inRange = append(inRange, d.String())
	}
	if len(inRange) != 2 {
		t.Fatalf("index-range %v", inRange)
	}
	var pulledNames []string
	for m, err := range db.IndexPull(ctx, client.IndexPull{Selector: `[:person/name]`, Start: []any{kw("person/age")}}) {
		if err != nil {
			t.Fatal(err)
		}
		pulledNames = append(pulledNames, show(t, m, false))
	}
	if fmt.Sprint(pulledNames) != `[{:person/name "cid"} {:person/name "bob"} {:person/name "ann"}]` {
		t.Fatalf("index-pull %v", pulledNames)
	}
	st, err := db.Stats(ctx)
	if err != nil || st.Attrs[kw("person/name")] != 3 || st.Datoms != int64(all) || st.BasisT != rep.TAfter {
		t.Fatalf("stats %+v %v (eavt has %d)", st, err, all)
	}

	// Views.
	if got := count(t, db.AsOf(schemaRep.TAfter)); got != 0 {
		t.Fatalf("as of the schema: %d people", got)
	}
	if got := count(t, db.Since(schemaRep.TAfter)); got != 3 {
		t.Fatalf("since the schema: %d people", got)
	}
	w, err := db.With(ctx, `[{:person/name "dan"}]`)
	if err != nil || w.TAfter <= rep.TAfter || count(t, conn.DB()) != 3 {
		t.Fatalf("with %+v %v", w, err)
	}

	// A database value stays put while the database moves on; the
	// reports' values are before and after.
	old := conn.DB()
	rep2, err := conn.Transact(ctx, edn.Vector{edn.Vector{kw("db/add"), "d", kw("person/name"), "dan"},
		edn.Vector{kw("db/add"), edn.Vector{kw("person/name"), "ann"}, kw("person/age"), 41}})
	if err != nil {
		t.Fatal(err)
	}
	if count(t, old) != 3 || count(t, conn.DB()) != 4 || count(t, rep2.DBBefore) != 3 || count(t, rep2.DBAfter) != 4 {
		t.Fatalf("values: old %d, new %d, before %d, after %d", count(t, old), count(t, conn.DB()), count(t, rep2.DBBefore), count(t, rep2.DBAfter))
	}
	names := 0
	for _, err := range old.Datoms(ctx, "aevt", kw("person/name")) {
		if err != nil {
			t.Fatal(err)
		}
		names++
	}
	if names != 3 {
		t.Fatalf("an old value's datoms over pages: %d names", names)
	}
	h, err := conn.DB().History().Q(ctx, `[:find ?a ?added :where [_ :person/age ?a _ ?added]]`)
	if err != nil || show(t, h, true) != `[[20 true] [30 true] [40 false] [40 true] [41 true]]` {
		t.Fatalf("history %v %v", h, err)
	}
	// A fresh Conn's DB takes its basis from its first answer.
	fresh := c.Conn("people").DB()
	if fresh.BasisT() != 0 || count(t, fresh) != 4 || fresh.BasisT() != rep2.TAfter {
		t.Fatalf("a fresh value's basis %d, want %d", fresh.BasisT(), rep2.TAfter)
	}

	// The log, over pages of 2 transactions.
	var ts []int64
	for e, err := range conn.TxRange(ctx, schemaRep.TAfter, 0) {
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, e.T)
		if len(e.Data) == 0 {
			t.Fatalf("tx %d without data", e.T)
		}
	}
	if fmt.Sprint(ts) != fmt.Sprint([]int64{schemaRep.TAfter, rep.TAfter, rep2.TAfter}) {
		t.Fatalf("tx-range %v", ts)
	}
	s, err := conn.Sync(ctx, rep2.TAfter)
	if err != nil || s.BasisT() < rep2.TAfter {
		t.Fatalf("sync %v %v", s, err)
	}

	if err := c.DeleteDB(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	if dbs, err := c.ListDBs(ctx); err != nil || len(dbs) != 0 {
		t.Fatalf("after delete: %v %v", dbs, err)
	}
}

// Refused calls surface as their categories, with the node's message, and
// are not retried.
func TestRefusals(t *testing.T) {
	n := startNode(t, server.Config{})
	ctx := context.Background()
	admin := n.key(t, false)
	c := connect(t, n.url, admin, client.Config{})
	if err := c.CreateDB(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Conn("a").Transact(ctx, schema); err != nil {
		t.Fatal(err)
	}
	ro := connect(t, n.url, n.key(t, true), client.Config{})
	onlyB := connect(t, n.url, n.key(t, false, "b"), client.Config{})
	wrong := connect(t, n.url, transactor.APIKey{ID: admin.ID, Secret: strings.Repeat("x", 40)}, client.Config{})
	unsigned, err := client.Connect(ctx, client.Config{Endpoint: n.url})
	if err != nil {
		t.Fatal(err)
	}
	db := c.Conn("a").DB()
	for _, tc := range []struct {
		name string
		want anomaly.Category
		err  error
	}{
		{"unsigned", anomaly.Forbidden, unsigned.CreateDB(ctx, "x")},
		{"wrong secret", anomaly.Forbidden, wrong.CreateDB(ctx, "x")},
		{"read-only write", anomaly.Forbidden, second(ro.Conn("a").Transact(ctx, `[{:person/name "x"}]`))},
		{"other database", anomaly.Forbidden, second(onlyB.Conn("a").DB().Stats(ctx))},
		{"name taken", anomaly.Conflict, c.CreateDB(ctx, "a")},
		{"no database", anomaly.NotFound, second(c.Conn("nope").Transact(ctx, schema))},
		{"no such entity", anomaly.NotFound, second(db.Pull(ctx, `[*]`, `[:person/name "zed"]`))},
		{"bad query", anomaly.Incorrect, second(db.Q(ctx, `[:find ?x :where [?e :person/name ?n]]`))},
		{"bad tx data", anomaly.Incorrect, second(c.Conn("a").Transact(ctx, `[{:person/name 12}]`))},
		{"bad input", anomaly.Incorrect, second(db.Q(ctx, `[:find ?n :where [_ :person/name ?n]]`, make(chan int)))},
		{"bad view", anomaly.Incorrect, second(db.AsOf("yesterday").Q(ctx, `[:find ?n :where [_ :person/name ?n]]`))},
	} {
		var ce *client.Error
		if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &ce) || anomaly.CategoryOf(tc.err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, tc.err, tc.want)
			continue
		}
		if !strings.HasPrefix(tc.err.Error(), tc.want.String()+": ") || ce.Message == "" {
			t.Errorf("%s: message %q", tc.name, tc.err)
		}
	}
	// The read-only key reads.
	if _, err := ro.Conn("a").DB().Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Conn("a").Transact(ctx, `[{:person/name "x"}]`); !strings.Contains(fmt.Sprint(err), "read-only") {
		t.Fatalf("read-only refusal says %v", err)
	}
	if _, err := client.Connect(ctx, client.Config{Endpoint: "ftp://x"}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a bad endpoint: %v", err)
	}
	if _, err := client.Connect(ctx, client.Config{Endpoint: n.url, KeyID: "X"}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a key without a secret: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// proxy stands between a client and a node and misbehaves on the
// requests its plan says, counting attempts per path.
type proxy struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	attempts map[string]int
	// plan returns what to do with attempt n (from 1) of a path.
	plan func(path string, n int) action
	rp   *httputil.ReverseProxy
}

type action int

const (
	pass               action = iota
	busyBare                  // 429 without a body
	unavailable               // 503 with the node's error body
	badGateway                // 502 without a body
	interruptedUnknown        // 504 from the node: interrupted, the outcome unknown
	forwardFail               // forward, drop the answer, 503 with the node's body
	forwardDrop               // forward, then close the connection without an answer
	hang                      // answer nothing until the client gives up
	forbidden                 // 403 with the node's body
)

func newProxy(t *testing.T, target string, plan func(path string, n int) action) *proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, attempts: map[string]int{}, plan: plan, rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelError)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[path]
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.attempts[r.URL.Path]++
	n := p.attempts[r.URL.Path]
	p.mu.Unlock()
	strataError := func(code int, category string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"category": %q, "message": "%s: the test proxy says so"}`, category, category)
	}
	switch p.plan(r.URL.Path, n) {
	case pass:
		p.rp.ServeHTTP(w, r)
	case busyBare:
		w.WriteHeader(http.StatusTooManyRequests)
	case unavailable:
		strataError(http.StatusServiceUnavailable, "unavailable")
	case forbidden:
		strataError(http.StatusForbidden, "forbidden")
	case badGateway:
		w.WriteHeader(http.StatusBadGateway)
	case interruptedUnknown:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGatewayTimeout)
		fmt.Fprint(w, `{"category": "interrupted", "message": "interrupted: transact: context deadline exceeded\nthe outcome is unknown: the transaction may have committed", "outcome": "unknown"}`)
	case forwardFail:
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		strataError(http.StatusServiceUnavailable, "unavailable")
	case forwardDrop:
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			p.t.Error(err)
			return
		}
		conn.Close()
	case hang:
		<-r.Context().Done()
	}
}

// Retries: retryable refusals and lost answers of reads are retried, each
// attempt signed anew; writes are retried only when they surely did not
// happen; other refusals are not retried.
func TestRetries(t *testing.T) {
	n := startNode(t, server.Config{})
	ctx := context.Background()
	k := n.key(t, false)
	setup := connect(t, n.url, k, client.Config{})
	if err := setup.CreateDB(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Conn("r").Transact(ctx, schema); err != nil {
		t.Fatal(err)
	}
	const q = `[:find (count ?e) . :where [?e :person/name]]`
	var plan atomic.Pointer[func(string, int) action]
	setPlan := func(f func(string, int) action) { plan.Store(&f) }
	setPlan(func(string, int) action { return pass })
	p := newProxy(t, n.url, func(path string, i int) action { return (*plan.Load())(path, i) })
	c := connect(t, p.srv.URL, k, client.Config{MaxRetries: 3})
	conn := c.Conn("r")
	people := func() int64 { return count(t, setup.Conn("r").DB()) }
	firstN := func(k int, a action) func(string, int) action {
		return func(_ string, i int) action {
			if i <= k {
				return a
			}
			return pass
		}
	}
	reset := func(f func(string, int) action) {
		p.mu.Lock()
		clear(p.attempts)
		p.mu.Unlock()
		setPlan(f)
	}
	for _, tc := range []struct {
		name     string
		plan     func(string, int) action
		write    bool
		want     anomaly.Category // 0: success
		attempts int
		unknown  bool
		commits  int64
	}{
		{name: "read, 503 twice", plan: firstN(2, unavailable), attempts: 3},
		{name: "read, 429 twice", plan: firstN(2, busyBare), attempts: 3},
		{name: "read, answered then lost, signed anew", plan: firstN(1, forwardFail), attempts: 2},
		{name: "read, connection lost", plan: firstN(2, forwardDrop), attempts: 3},
		{name: "read, 503 always", plan: firstN(99, unavailable), want: anomaly.Unavailable, attempts: 4},
		{name: "read, forbidden", plan: firstN(99, forbidden), want: anomaly.Forbidden, attempts: 1},
		{name: "write, 503 then ok", plan: firstN(1, unavailable), write: true, attempts: 2, commits: 1},
		{name: "write, 429 then ok", plan: firstN(1, busyBare), write: true, attempts: 2, commits: 1},
		{name: "write, 429 always", plan: firstN(99, busyBare), write: true, want: anomaly.Busy, attempts: 4},
		{name: "write, connection lost", plan: firstN(1, forwardDrop), write: true, want: anomaly.Unavailable, attempts: 1, unknown: true, commits: 1},
		{name: "write, gateway 502", plan: firstN(1, badGateway), write: true, want: anomaly.Unavailable, attempts: 1, unknown: true},
		{name: "write, the node says the outcome is unknown", plan: firstN(1, interruptedUnknown), write: true, want: anomaly.Interrupted, attempts: 1, unknown: true},
	} {
		reset(tc.plan)
		before := people()
		var err error
		path := "/v1/dbs/r/q"
		if tc.write {
			path = "/v1/dbs/r/transact"
			_, err = conn.Transact(ctx, fmt.Sprintf(`[{:person/name %q}]`, tc.name))
		} else {
			_, err = conn.DB().Q(ctx, q)
		}
		switch {
		case tc.want == 0 && err != nil, tc.want != 0 && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		case p.count(path) != tc.attempts:
			t.Errorf("%s: %d attempts, want %d", tc.name, p.count(path), tc.attempts)
		}
		var ce *client.Error
		if unknown := errors.As(err, &ce) && ce.OutcomeUnknown; unknown != tc.unknown {
			t.Errorf("%s: outcome unknown %v (%v), want %v", tc.name, unknown, err, tc.unknown)
		}
		if tc.unknown && !strings.Contains(err.Error(), "outcome is unknown") {
			t.Errorf("%s: %q does not say that the outcome is unknown", tc.name, err)
		}
		if got := people() - before; tc.write && got != tc.commits {
			t.Errorf("%s: %d committed, want %d", tc.name, got, tc.commits)
		}
	}
	// A database created through a lost answer: unknown too.
	reset(firstN(1, forwardDrop))
	if err := c.CreateDB(ctx, "lost"); !errors.Is(err, anomaly.Unavailable) || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("create through a lost answer: %v", err)
	}
	// A node that is not there: unavailable, after the retries.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := client.Connect(ctx, client.Config{Endpoint: dead.URL, Backoff: time.Millisecond, BackoffMax: time.Millisecond}); !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("connect to nothing: %v", err)
	}
}

// The context's deadline and the configured timeout bound a call: one
// that hangs ends as interrupted, and no retry waits past the deadline.
func TestDeadline(t *testing.T) {
	n := startNode(t, server.Config{AllowUnsigned: true})
	ctx := context.Background()
	var plan atomic.Int32
	p := newProxy(t, n.url, func(path string, _ int) action {
		if path == "/health" {
			return pass
		}
		return action(plan.Load())
	})
	c, err := client.Connect(ctx, client.Config{Endpoint: p.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	plan.Store(int32(hang))
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = c.ListDBs(dctx)
	cancel()
	if !errors.Is(err, anomaly.Interrupted) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("a hanging call under a deadline: %v after %s", err, time.Since(start))
	}
	// The configured timeout.
	short, err := client.Connect(ctx, client.Config{Endpoint: p.srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.ListDBs(ctx); !errors.Is(err, anomaly.Interrupted) {
		t.Fatalf("a hanging call under Timeout: %v", err)
	}
	// A retry that would wait past the deadline is not waited for.
	plan.Store(int32(unavailable))
	slow, err := client.Connect(ctx, client.Config{Endpoint: p.srv.URL, Backoff: time.Hour, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	dctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	_, err = slow.ListDBs(dctx)
	cancel()
	if !errors.Is(err, anomaly.Unavailable) || time.Since(start) > 10*time.Second {
		t.Fatalf("a retry past the deadline: %v after %s", err, time.Since(start))
	}
	// A cancelled context is interrupted before any attempt.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.ListDBs(cctx); !errors.Is(err, anomaly.Interrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context: %v", err)
	}
}

// Read your writes through a load balancer that sends writes to the
// primary node and reads to a query-group node, which follows the log and
// may be behind: Conn.DB is at the last transaction's t, so its reads wait
// for the query-group node to catch up (sync) before they answer.
func TestReadYourWrites(t *testing.T) {
	dir := t.TempDir()
	primary := startNode(t, server.Config{DataDir: dir, NodeID: "node-a", AllowUnsigned: true})
	reader := startNode(t, server.Config{DataDir: dir, NodeID: "node-q", Group: "analytics", AllowUnsigned: true})
	pu, _ := url.Parse(primary.url)
	ru, _ := url.Parse(reader.url)
	toPrimary, toReader := httputil.NewSingleHostReverseProxy(pu), httputil.NewSingleHostReverseProxy(ru)
	var syncs atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != "POST" || r.URL.Path == "/v1/dbs" || strings.HasSuffix(r.URL.Path, "/transact"):
			toPrimary.ServeHTTP(w, r)
		default:
			if strings.HasSuffix(r.URL.Path, "/sync") {
				syncs.Add(1)
			}
			toReader.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(lb.Close)
	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{Endpoint: lb.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDB(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	conn := c.Conn("g")
	if _, err := conn.Transact(ctx, schema); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		rep, err := conn.Transact(ctx, fmt.Sprintf(`[{:person/name "p%d"}]`, i))
		if err != nil {
			t.Fatal(err)
		}
		db := conn.DB()
		if got := count(t, db); got != int64(i+1) || db.BasisT() != rep.TAfter {
			t.Fatalf("after transaction %d: %d people at basis %d (transaction at %d)", i+1, got, db.BasisT(), rep.TAfter)
		}
	}
	t.Logf("%d reads waited for the query-group node", syncs.Load())
}
