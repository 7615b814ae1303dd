package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/transactor"
)

// testNode starts a node on a fresh data directory (no SSD tier: tests run
// several nodes at once) and its server on a loopback listener.
type testNode struct {
	t    *testing.T
	node *Node
	srv  *Server
	url  string
}

func startNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.SSDPath = "off"
	if cfg.Listen == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen = l.Addr().String()
		l.Close()
	}
	cfg.LeaseTTL = max(cfg.LeaseTTL, 2*time.Second)
	cfg.Heartbeat = 200 * time.Millisecond
	n, err := Open(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s := New(n, quiet())
	l, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	tn := &testNode{t: t, node: n, srv: s, url: "http://" + l.Addr().String()}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return tn
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// call posts body (JSON) to path and decodes the JSON answer.
func (n *testNode) call(method, path, body string, sign func(*http.Request)) (int, map[string]any) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sign != nil {
		sign(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		n.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (n *testNode) ok(method, path, body string) map[string]any {
	n.t.Helper()
	code, out := n.call(method, path, body, nil)
	if code != 200 {
		n.t.Fatalf("%s %s %s: %d %v", method, path, body, code, out)
	}
	return out
}

func (n *testNode) refused(method, path, body string, code int, category string) {
	n.t.Helper()
	got, out := n.call(method, path, body, nil)
	if got != code || out["category"] != category {
		n.t.Fatalf("%s %s %s: %d %v, want %d %s", method, path, body, got, out, code, category)
	}
}

const schemaTx = `{"tx-data": "[{:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity} {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one} {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]"}`

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The API end to end on the embedded default: databases, transactions,
// every read, views, and the errors each bad input gets (nothing changes).
func TestAPI(t *testing.T) {
	n := startNode(t, Config{AllowUnsigned: true})
	n.ok("GET", "/health", "")
	n.ok("GET", "/ready", "")
	n.ok("POST", "/v1/dbs", `{"name": "people"}`)
	n.refused("POST", "/v1/dbs", `{"name": "people"}`, 409, "conflict")
	n.refused("POST", "/v1/dbs", `{"name": "a b"}`, 400, "incorrect")
	n.refused("POST", "/v1/dbs", `{"nom": "x"}`, 400, "incorrect")
	if got := n.ok("GET", "/v1/dbs", "")["dbs"]; fmt.Sprint(got) != "[people]" {
		t.Fatalf("dbs %v", got)
	}
	schemaT := n.ok("POST", "/v1/dbs/people/transact", schemaTx)["t-after"].(float64)
	rep := n.ok("POST", "/v1/dbs/people/transact", `{"tx-data": "[{:db/id \"a\" :person/name \"ann\" :person/age 40} {:db/id \"b\" :person/name \"bob\" :person/age 30 :person/friend \"a\"}]"}`)
	tAfter := rep["t-after"].(float64)
	if ids := rep["tempids"].(map[string]any); len(ids) != 2 {
		t.Fatalf("tempids %v", rep)
	}
	// Bad transactions change nothing.
	n.refused("POST", "/v1/dbs/people/transact", `{"tx-data": "[{:person/name 12}]"}`, 400, "incorrect")
	n.refused("POST", "/v1/dbs/people/transact", `{"tx-data": "[[:db/add"}`, 400, "incorrect")
	n.refused("POST", "/v1/dbs/people/transact", `{}`, 400, "incorrect")
	n.refused("POST", "/v1/dbs/nope/transact", schemaTx, 404, "not-found")
	n.refused("POST", "/v1/dbs/people/transact", `[1 2]`, 400, "incorrect")
	// Queries, with args, both formats of query, offset and limit.
	q := n.ok("POST", "/v1/dbs/people/q", `{"query": "[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]"}`)
	if fmt.Sprint(q["result"]) != "[[ann 40] [bob 30]]" || q["basis-t"].(float64) != tAfter {
		t.Fatalf("q %v", q)
	}
	q = n.ok("POST", "/v1/dbs/people/q", `{"query": ["~:find", "~$?n", "~:in", "~$$", "~$?min", "~:where", ["~$?e", "~:person/name", "~$?n"], ["~$?e", "~:person/age", "~$?a"], [{"~#list": ["~$>", "~$?a", "~$?min"]}]], "args": [35]}`)
	if fmt.Sprint(q["result"]) != "[[ann]]" {
		t.Fatalf("q with args %v", q)
	}
	q = n.ok("POST", "/v1/dbs/people/q", `{"query": "[:find [?n ...] :in $ [?n ...] :where [_ :person/name ?n]]", "args": [["ann", "zed"]]}`)
	if fmt.Sprint(q["result"]) != "[ann]" {
		t.Fatalf("q with a collection %v", q)
	}
	ex := n.ok("POST", "/v1/dbs/people/q", `{"query": "[:find ?n :where [?e :person/age ?a] [(> ?a 35)] [?e :person/name ?n]]", "explain": true}`)
	if plan := ex["plan"].([]any); len(plan) != 3 || plan[0].(map[string]any)["access"] != "range AVET" || plan[2].(map[string]any)["rows-out"] != float64(1) {
		t.Fatalf("explain %v", ex)
	}
	n.refused("POST", "/v1/dbs/people/q", `{"query": "[:find ?x :where [?e :person/name ?n]]"}`, 400, "incorrect")
	n.refused("POST", "/v1/dbs/people/q", `{"query": "[:find ?n :in $ ?x :where [?e :person/name ?n]]"}`, 400, "incorrect")
	n.refused("POST", "/v1/dbs/people/q", `{"query": "[:find ?n :where [?e :person/name ?n]]", "limit": -1}`, 400, "incorrect")
	// Pull, pull many, datoms, index-range, index-pull, stats.
	p := n.ok("POST", "/v1/dbs/people/pull", `{"pattern": "[:person/name {:person/friend [:person/name]}]", "eid": "[:person/name \"bob\"]"}`)
	if fmt.Sprint(p["result"]) != "map[~:person/friend:[map[~:person/name:ann]] ~:person/name:bob]" {
		t.Fatalf("pull %v", p)
	}
	p = n.ok("POST", "/v1/dbs/people/pull", `{"pattern": "[:person/age]", "eids": "[[:person/name \"ann\"] [:person/name \"bob\"]]"}`)
	if fmt.Sprint(p["result"]) != "[map[~:person/age:40] map[~:person/age:30]]" {
		t.Fatalf("pull many %v", p)
	}
	n.refused("POST", "/v1/dbs/people/pull", `{"pattern": "[*]", "eid": "[:person/name \"zed\"]"}`, 404, "not-found")
	d := n.ok("POST", "/v1/dbs/people/datoms", `{"index": "~:avet", "components": "[:person/age]"}`)
	if fmt.Sprint(d["datoms"]) != fmt.Sprintf("[[%v ~:person/age 30 %v true] [%v ~:person/age 40 %v true]]",
		idOf(t, n, "bob"), tx(rep), idOf(t, n, "ann"), tx(rep)) {
		t.Fatalf("datoms %v", d)
	}
	n.refused("POST", "/v1/dbs/people/datoms", `{"index": "~:xyz"}`, 400, "incorrect")
	r := n.ok("POST", "/v1/dbs/people/index-range", `{"attrid": "~:person/age", "start": 35}`)
	if len(r["datoms"].([]any)) != 1 {
		t.Fatalf("index-range %v", r)
	}
	ip := n.ok("POST", "/v1/dbs/people/index-pull", `{"index": "~:avet", "selector": "[:person/name]", "start": "[:person/age]"}`)
	if fmt.Sprint(ip["result"]) != "[map[~:person/name:bob] map[~:person/name:ann]]" {
		t.Fatalf("index-pull %v", ip)
	}
	st := n.ok("POST", "/v1/dbs/people/stats", "")
	if st["attrs"].(map[string]any)["~:person/name"].(float64) != 2 {
		t.Fatalf("stats %v", st)
	}
	// Views: as of the schema transaction, nobody; with, speculative.
	q = n.ok("POST", "/v1/dbs/people/q", js(map[string]any{"query": "[:find ?n :where [_ :person/name ?n]]", "as-of": schemaT}))
	if fmt.Sprint(q["result"]) != "[]" {
		t.Fatalf("as-of %v", q)
	}
	w := n.ok("POST", "/v1/dbs/people/with", `{"tx-data": "[{:person/name \"cid\"}]"}`)
	if w["t-after"].(float64) <= tAfter {
		t.Fatalf("with %v", w)
	}
	if q = n.ok("POST", "/v1/dbs/people/q", `{"query": "[:find (count ?e) . :where [?e :person/name]]"}`); q["result"].(float64) != 2 {
		t.Fatalf("with changed the database: %v", q)
	}
	h := n.ok("POST", "/v1/dbs/people/q", `{"query": "[:find ?a ?added :where [_ :person/age ?a _ ?added]]", "history": true}`)
	if len(h["result"].([]any)) != 2 {
		t.Fatalf("history %v", h)
	}
	txs := n.ok("POST", "/v1/dbs/people/tx-range", js(map[string]any{"start": schemaT}))
	if got := txs["txs"].([]any); len(got) != 2 {
		t.Fatalf("tx-range %v", txs)
	}
	if s := n.ok("POST", "/v1/dbs/people/sync", js(map[string]any{"t": tAfter})); s["basis-t"].(float64) < tAfter {
		t.Fatalf("sync %v", s)
	}
	// EDN in, EDN out.
	req, _ := http.NewRequest("POST", n.url+"/v1/dbs/people/q", strings.NewReader(`{:query [:find ?a . :where [?e :person/name "ann"] [?e :person/age ?a]]}`))
	req.Header.Set("Content-Type", "application/edn")
	req.Header.Set("Accept", "application/edn")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != fmt.Sprintf("{:result 40 :basis-t %d}\n", int64(tAfter)) {
		t.Fatalf("EDN answer %q", body)
	}
	// Limits: a body over the limit, an unknown route.
	n.refused("POST", "/v1/dbs/people/q", `{"query": "`+strings.Repeat(" ", 17<<20)+`"}`, 400, "incorrect")
	n.refused("GET", "/v2/nothing", "", 404, "not-found")
	// Busy past max-concurrent.
	for range cap(n.srv.slots) {
		n.srv.slots <- struct{}{}
	}
	n.refused("POST", "/v1/dbs/people/stats", "", 429, "busy")
	for range cap(n.srv.slots) {
		<-n.srv.slots
	}
	// Metrics.
	resp, err = http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`strata_http_requests_total{route="POST /v1/dbs/{db}/transact",code="200"} 2`, "strata_transactions_total 2",
		`strata_stratum_hits_total{stratum="memory"}`, `strata_memindex_datoms{db="people"}`, "strata_transaction_seconds_count"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	// Delete: the name is free again, the old data gone.
	n.ok("DELETE", "/v1/dbs/people", "")
	n.refused("POST", "/v1/dbs/people/q", `{"query": "[:find ?n :where [_ :person/name ?n]]"}`, 404, "not-found")
	n.ok("POST", "/v1/dbs", `{"name": "people"}`)
	n.ok("POST", "/v1/dbs/people/transact", schemaTx)
	if q = n.ok("POST", "/v1/dbs/people/q", `{"query": "[:find (count ?e) . :where [?e :person/name]]"}`); q["result"] != float64(0) {
		t.Fatalf("a recreated database holds old data: %v", q)
	}
}

func idOf(t *testing.T, n *testNode, name string) any {
	q := n.ok("POST", "/v1/dbs/people/q", js(map[string]any{"query": "[:find ?e . :in $ ?n :where [?e :person/name ?n]]", "args": []any{name}}))
	return q["result"]
}

func tx(rep map[string]any) any {
	return rep["tx-data"].([]any)[0].([]any)[3]
}

// signer signs requests with a key, as the Go client does.
func signer(id, secret, region string, at func() time.Time) func(*http.Request) {
	return func(r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, r,
			hex.EncodeToString(sum[:]), SigningService, region, at())
		if err != nil {
			panic(err)
		}
	}
}

// Signed requests: a good signature passes; unsigned, wrong secret,
// expired, replayed, revoked, read-only writes and other databases are
// refused with forbidden and change nothing.
func TestSigning(t *testing.T) {
	n := startNode(t, Config{})
	ctx := context.Background()
	n.srv.auth.keyTTL = 0
	mk := func(readOnly bool, dbs ...string) transactor.APIKey {
		k, err := transactor.NewAPIKey(readOnly, dbs, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := n.node.catalog.PutKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	admin, ro, onlyB := mk(false), mk(true), mk(false, "b")
	now := time.Now
	sign := func(k transactor.APIKey) func(*http.Request) { return signer(k.ID, k.Secret, "local", now) }
	expect := func(code int, category string, method, path, body string, s func(*http.Request)) {
		t.Helper()
		got, out := n.call(method, path, body, s)
		if got != code || code != 200 && out["category"] != category {
			t.Fatalf("%s %s: %d %v, want %d %s", method, path, got, out, code, category)
		}
	}
	expect(403, "forbidden", "POST", "/v1/dbs", `{"name": "a"}`, nil) // unsigned: not allowed on this node
	expect(200, "", "POST", "/v1/dbs", `{"name": "a"}`, sign(admin))
	expect(200, "", "POST", "/v1/dbs", `{"name": "b"}`, sign(admin))
	expect(200, "", "POST", "/v1/dbs/a/transact", schemaTx, sign(admin))
	expect(403, "forbidden", "POST", "/v1/dbs/a/transact", schemaTx, signer(admin.ID, ro.Secret, "local", now))
	expect(403, "forbidden", "POST", "/v1/dbs/a/transact", schemaTx, signer(admin.ID, admin.Secret, "eu-west-1", now))
	expect(403, "forbidden", "POST", "/v1/dbs/a/transact", schemaTx, signer("SKNOSUCHKEY000000000", admin.Secret, "local", now))
	expect(403, "forbidden", "POST", "/v1/dbs/a/transact", schemaTx, signer(admin.ID, admin.Secret, "local", func() time.Time { return time.Now().Add(-6 * time.Minute) }))
	expect(200, "", "POST", "/v1/dbs/a/stats", "", sign(ro))
	expect(403, "forbidden", "POST", "/v1/dbs/a/transact", schemaTx, sign(ro))
	expect(403, "forbidden", "POST", "/v1/dbs", `{"name": "c"}`, sign(ro))
	expect(403, "forbidden", "POST", "/v1/dbs/a/stats", "", sign(onlyB))
	expect(200, "", "POST", "/v1/dbs/b/stats", "", sign(onlyB))
	// A body changed after signing.
	tamper := func(r *http.Request) {
		sign(admin)(r)
		r.Body = io.NopCloser(strings.NewReader(`{"name": "evil"}`))
		r.ContentLength = int64(len(`{"name": "evil"}`))
	}
	expect(403, "forbidden", "POST", "/v1/dbs", `{"name": "c"}`, tamper)
	// A path changed after signing.
	repath := func(r *http.Request) {
		sign(onlyB)(r)
		r.URL.Path = "/v1/dbs/a/stats"
	}
	expect(403, "forbidden", "POST", "/v1/dbs/b/stats", "", repath)
	// A replay of one signed request.
	req, _ := http.NewRequest("POST", n.url+"/v1/dbs/a/stats", nil)
	sign(admin)(req)
	for i, want := range []int{200, 403} {
		again := req.Clone(context.Background())
		resp, err := http.DefaultClient.Do(again)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("send %d of one signed request: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	// Revoked.
	if _, err := n.node.catalog.RevokeKey(ctx, admin.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(403, "forbidden", "POST", "/v1/dbs/a/stats", "", sign(admin))
	// Nothing the refused requests asked for happened.
	_, out := n.call("GET", "/v1/dbs", "", sign(ro))
	if fmt.Sprint(out["dbs"]) != "[a b]" {
		t.Fatalf("dbs after refusals: %v", out)
	}
}

// Unsigned requests are let in only from loopback, and a node that
// listens anywhere else may not allow them at all.
func TestUnsignedLoopbackOnly(t *testing.T) {
	if err := (Config{Listen: "0.0.0.0:4334", AllowUnsigned: true}).Validate(); err == nil {
		t.Fatal("allow-unsigned on 0.0.0.0 accepted")
	}
	n := startNode(t, Config{AllowUnsigned: true})
	req := httptest.NewRequest("GET", "/v1/dbs", nil) // from 192.0.2.1
	rec := httptest.NewRecorder()
	n.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("an unsigned request from %s: %d", req.RemoteAddr, rec.Code)
	}
}

// Misconfiguration fails at start, saying what to fix.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "nope"}, "listen"},
		{Config{DynamoTable: "t"}, "s3-bucket"},
		{Config{S3Bucket: "b", DynamoTable: "t", S3Prefix: "x"}, "s3-prefix"},
		{Config{Group: "no way"}, "group"},
		{Config{TLSCert: "c.pem"}, "tls-key"},
		{Config{LeaseTTL: time.Millisecond}, "lease-ttl"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a message about %s", c.cfg, err, c.want)
		}
	}
}

// Two primary nodes and a query-group node on one data directory: a write
// at the node that is not the database's writer, and one at the
// query-group node, are forwarded to the writer; reads anywhere see them
// after sync.
func TestForwarding(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, Config{DataDir: dir, NodeID: "node-a", AllowUnsigned: true})
	a.ok("POST", "/v1/dbs", `{"name": "shared"}`)
	a.ok("POST", "/v1/dbs/shared/transact", schemaTx) // a takes the lease
	b := startNode(t, Config{DataDir: dir, NodeID: "node-b", AllowUnsigned: true})
	qg := startNode(t, Config{DataDir: dir, NodeID: "node-q", Group: "analytics", AllowUnsigned: true})
	time.Sleep(500 * time.Millisecond) // heartbeats
	var wg sync.WaitGroup
	for i, n := range []*testNode{b, qg, a} {
		wg.Go(func() {
			n.ok("POST", "/v1/dbs/shared/transact", fmt.Sprintf(`{"tx-data": "[{:person/name \"p%d\"}]"}`, i))
		})
	}
	wg.Wait()
	for _, n := range []*testNode{a, b, qg} {
		s := n.ok("POST", "/v1/dbs/shared/sync", "")
		q := n.ok("POST", "/v1/dbs/shared/q", `{"query": "[:find (count ?e) . :where [?e :person/name]]"}`)
		if q["result"] != float64(3) || q["basis-t"].(float64) < s["basis-t"].(float64) {
			t.Fatalf("%s: %v after sync to %v", n.node.cfg.NodeID, q, s)
		}
	}
	if b.srv.metrics_.forwards.Load() != 1 || qg.srv.metrics_.forwards.Load() != 1 {
		t.Fatalf("forwards: b %d, query group %d", b.srv.metrics_.forwards.Load(), qg.srv.metrics_.forwards.Load())
	}
}

// Shutdown lets a transaction in flight finish and answer.
func TestGracefulShutdown(t *testing.T) {
	n := startNode(t, Config{AllowUnsigned: true})
	n.ok("POST", "/v1/dbs", `{"name": "g"}`)
	n.ok("POST", "/v1/dbs/g/transact", schemaTx)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", n.url+"/v1/dbs/g/transact", strings.NewReader(fmt.Sprintf(`{"tx-data": "[{:person/name \"s%d\"}]"}`, i)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // refused after shutdown began: never acknowledged
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := n.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	acked := 0
	for _, c := range codes {
		if c == 200 {
			acked++
		}
	}
	// Reopen the data: every acknowledged transaction is there.
	m := startNode(t, Config{DataDir: n.node.cfg.DataDir, AllowUnsigned: true})
	q := m.ok("POST", "/v1/dbs/g/q", `{"query": "[:find (count ?e) . :where [?e :person/name]]"}`)
	if got := int(q["result"].(float64)); got < acked {
		t.Fatalf("%d acknowledged, %d after restart", acked, got)
	}
}

// Every request, however malformed, gets an answer with a category, and
// the node stays up: the handlers under fuzzed routes, methods, content
// types and bodies.
func FuzzAPI(f *testing.F) {
	for _, seed := range []string{`{"name": "x"}`, `{"tx-data": "[{:a 1}]"}`, `{"query": "[:find ?e :where [?e :a]]", "args": [1]}`,
		`{:query [:find ?e :where [?e :a]]}`, `[1 2 3]`, `{"eid": {"~#set": [1]}}`, `{"pattern": 12}`, "\xff\xfe", `{"as-of": "x"}`,
		`{"components": "[:a 1 2 3 4]"}`, `{"t": -1}`, `{"limit": 99999999999}`} {
		f.Add("q", seed, false)
		f.Add("transact", seed, true)
		f.Add("pull", seed, false)
	}
	n, err := Open(context.Background(), Config{DataDir: f.TempDir(), SSDPath: "off", AllowUnsigned: true}, quiet())
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	s := New(n, quiet())
	send := func(method, path, ctype, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555"
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	send("POST", "/v1/dbs", "application/json", `{"name": "f"}`)
	send("POST", "/v1/dbs/f/transact", "application/json", schemaTx)
	ops := []string{"q", "pull", "datoms", "index-range", "index-pull", "tx-range", "stats", "sync", "with", "transact"}
	f.Fuzz(func(t *testing.T, op, body string, edn bool) {
		ctype := "application/json"
		if edn {
			ctype = "application/edn"
		}
		path := "/v1/dbs/f/" + op
		if !slices.Contains(ops, op) {
			path = "/v1/dbs/" + url.PathEscape(op) + "/q"
		}
		rec := send("POST", path, ctype, body)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %q: %d, not JSON: %q", path, body, rec.Code, rec.Body.String())
		}
		if rec.Code != 200 {
			cat, _ := out["category"].(string)
			if cat == "" || cat == "fault" {
				t.Fatalf("%s %q: %d %v: want a category that is not fault", path, body, rec.Code, out)
			}
		}
		if send("GET", "/health", "", "").Code != 200 {
			t.Fatal("the node stopped answering")
		}
	})
}

// With a master key file, the segments in the store hold no plaintext, and
// a node opened again on the same data (and key) reads them.
func TestEncryptedStore(t *testing.T) {
	dir := t.TempDir()
	keyFile := dir + "/master.key"
	cfg := Config{DataDir: dir, AllowUnsigned: true, EncryptionKeyFile: keyFile, IndexDatoms: 20}
	n := startNode(t, cfg)
	n.ok("POST", "/v1/dbs", `{"name": "secret"}`)
	n.ok("POST", "/v1/dbs/secret/transact", schemaTx)
	for i := range 30 {
		n.ok("POST", "/v1/dbs/secret/transact", fmt.Sprintf(`{"tx-data": "[{:person/name \"plaintext-marker-%02d\"}]"}`, i))
	}
	// Wait for an indexing job to put segments in the store.
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, _ := os.ReadDir(dir + "/store")
		if len(entries) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	found := 0
	filepath.WalkDir(dir+"/store", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		found++
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("plaintext-marker")) || bytes.Contains(b, []byte("person/name")) {
			t.Errorf("%s holds plaintext", path)
		}
		return nil
	})
	if found == 0 {
		t.Fatal("no segment in the store: nothing was checked")
	}
	n.srv.Shutdown(context.Background())
	m := startNode(t, cfg)
	q := m.ok("POST", "/v1/dbs/secret/q", `{"query": "[:find (count ?e) . :where [?e :person/name]]"}`)
	if q["result"] != float64(30) {
		t.Fatalf("reopened: %v", q)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v", st, err)
	}
}

// A database nobody writes yet gets its writer by rendezvous over the live
// primary nodes, whichever node the first write reaches.
func TestPreferredWriter(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, Config{DataDir: dir, NodeID: "node-a", AllowUnsigned: true})
	b := startNode(t, Config{DataDir: dir, NodeID: "node-b", AllowUnsigned: true})
	time.Sleep(500 * time.Millisecond) // heartbeats
	ctx := context.Background()
	members, err := a.node.members(ctx, PrimaryGroup)
	if err != nil || len(members) != 2 {
		t.Fatalf("members %v, %v", members, err)
	}
	for i := range 6 {
		name := fmt.Sprint("db", i)
		a.ok("POST", "/v1/dbs", fmt.Sprintf(`{"name": %q}`, name))
		info, _ := a.node.dbInfo(ctx, name)
		want, _ := transactor.PreferredWriter(info.ID, members)
		// The first write goes to the node that is not preferred.
		first := a
		if want.ID == "node-a" {
			first = b
		}
		first.ok("POST", "/v1/dbs/"+name+"/transact", schemaTx)
		lease, err := a.node.catalog.LeaseOf(ctx, info.ID)
		if err != nil || lease.Holder != want.ID {
			t.Fatalf("%s: the writer is %q, the preferred node %q (%v)", name, lease.Holder, want.ID, err)
		}
	}
}

// A forward that got no answer is unavailable; it has an unknown outcome
// unless the connection was refused (the write was never sent).
func TestForwardFailed(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := refused.Addr().String()
	refused.Close()
	// A writer that reads the request and hangs up without answering.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 4096))
			c.Close()
		}
	}()
	for _, tc := range []struct {
		addr    string
		unknown bool
	}{{closedAddr, false}, {mute.Addr().String(), true}} {
		_, err := http.Post("http://"+tc.addr+"/v1/dbs/f/transact", "application/json", strings.NewReader(`{"tx-data": "[]"}`))
		if err == nil {
			t.Fatalf("%s answered", tc.addr)
		}
		ferr := forwardFailed("node-x", err)
		if anomaly.CategoryOf(ferr) != anomaly.Unavailable {
			t.Errorf("%s: %v is not unavailable", tc.addr, ferr)
		}
		if got := errors.Is(ferr, transactor.ErrOutcomeUnknown); got != tc.unknown {
			t.Errorf("%s: outcome unknown %v, want %v (%v)", tc.addr, got, tc.unknown, ferr)
		}
		rec := httptest.NewRecorder()
		fail(rec, httptest.NewRequest("POST", "/v1/dbs/f/transact", nil), ferr)
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "unknown") != tc.unknown {
			t.Errorf("%s: answered %d %s", tc.addr, rec.Code, rec.Body.String())
		}
	}
}
