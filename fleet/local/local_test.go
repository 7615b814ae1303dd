package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/internal/testenv"
	"github.com/stratadb/strata/server"
)

// The test binary is the fleet's strata binary too: run as `BIN node …`
// with STRATA_FLEET_TEST_NODE=1, it is a node.
func TestMain(m *testing.M) {
	if os.Getenv("STRATA_FLEET_TEST_NODE") == "1" && len(os.Args) > 1 && os.Args[1] == "node" {
		os.Exit(server.RunNode("strata node", os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func post(endpoint, path, body string) (int, map[string]any, error) {
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Post(endpoint+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("not JSON: %q", raw)
	}
	return resp.StatusCode, out, nil
}

func must(t *testing.T, endpoint, path, body string) map[string]any {
	t.Helper()
	code, out, err := post(endpoint, path, body)
	if err != nil || code != 200 {
		t.Fatalf("%s%s %s: %d %v %v", endpoint, path, body, code, out, err)
	}
	return out
}

// mustRetrying is must that resends while the node answers 503
// unavailable and says the outcome is not unknown (the client's rule for
// writes), for up to 30 seconds.
func mustRetrying(t *testing.T, endpoint, path, body string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, err := post(endpoint, path, body)
		if err == nil && code == 200 {
			return out
		}
		if err != nil || code != http.StatusServiceUnavailable || out["outcome"] == "unknown" || time.Now().After(deadline) {
			t.Fatalf("%s%s %s: %d %v %v", endpoint, path, body, code, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The local production topology: two primary nodes and a query group on
// shared files. Clients write through both primaries while the writer is
// killed with SIGKILL; the survivor takes the database over and every
// acknowledged transaction is there exactly once; a write sent to the
// query group lands; the query group sees the last transaction after sync.
func TestFleetLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three node processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Up(ctx, Spec{Dir: dir, Binary: os.Args[0], Env: []string{"STRATA_FLEET_TEST_NODE=1"}, Primary: 2,
		QueryGroups: map[string]int{"analytics": 1}, LeaseTTL: 2 * time.Second})
	if err != nil {
		for _, n := range []string{"primary-1", "primary-2", "analytics-1"} {
			b, _ := os.ReadFile(dir + "/" + n + "/node.log")
			t.Logf("%s: %s", n, b)
		}
		t.Fatal(err)
	}
	defer Down(dir, 10*time.Second)
	if _, err := Up(ctx, Spec{Dir: dir, Binary: os.Args[0], Primary: 1}); err == nil {
		t.Fatal("a second fleet in the same directory started")
	}
	p1, p2, qg := st.Members[0], st.Members[1], st.Members[2]
	if p1.Group != "primary" || qg.Group != "analytics" {
		t.Fatalf("members %+v", st.Members)
	}
	must(t, p1.Endpoint(), "/v1/dbs", `{"name": "f"}`)
	must(t, p1.Endpoint(), "/v1/dbs/f/transact", `{"tx-data": "[{:db/ident :k/tag :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}]"}`)

	// Clients write tagged transactions, each through either primary,
	// retrying on the other while the writer is down.
	var mu sync.Mutex
	acked := map[string]bool{}
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for c := range 3 {
		wg.Go(func() {
			for i := 0; !stopped.Load(); i++ {
				tag := fmt.Sprintf("c%d-%d", c, i)
				for _, m := range []Member{p1, p2, p2, p2} {
					code, _, err := post(m.Endpoint(), "/v1/dbs/f/transact", fmt.Sprintf(`{"tx-data": "[{:k/tag \"%s\"}]"}`, tag))
					if err == nil && code == 200 {
						mu.Lock()
						acked[tag] = true
						mu.Unlock()
						break
					}
					if stopped.Load() {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("transactions before the kill", func() bool { return count() >= 20 })
	if err := syscall.Kill(p1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := count()
	waitFor("transactions through the survivor", func() bool { return count() >= before+20 })
	stopped.Store(true)
	wg.Wait()

	// A write sent to the query group lands (forwarded to the writer). As a
	// client does, it is resent while the answer is 503 unavailable without
	// an unknown outcome: the query group may still pick the killed node
	// until the membership forgets it, and a refused connection means the
	// write was never sent.
	rep := mustRetrying(t, qg.Endpoint(), "/v1/dbs/f/transact", `{"tx-data": "[{:k/tag \"via-query-group\"}]"}`)
	last := rep["t-after"].(float64)
	acked["via-query-group"] = true
	// The query group sees it after sync.
	s := must(t, qg.Endpoint(), "/v1/dbs/f/sync", fmt.Sprintf(`{"t": %d}`, int64(last)))
	if s["basis-t"].(float64) < last {
		t.Fatalf("sync to %v: %v", last, s)
	}
	for _, m := range []Member{qg, p2} {
		out := must(t, m.Endpoint(), "/v1/dbs/f/q", `{"query": "[:find ?tag (count ?e) :where [?e :k/tag ?tag]]"}`)
		seen := map[string]float64{}
		for _, row := range out["result"].([]any) {
			r := row.([]any)
			seen[r[0].(string)] = r[1].(float64)
		}
		for tag := range acked {
			if seen[tag] != 1 {
				t.Fatalf("%s: acknowledged %s is there %v times", m.Name, tag, seen[tag])
			}
		}
		if m == qg && len(seen) < len(acked) {
			t.Fatalf("the query group holds %d tags, %d acknowledged", len(seen), len(acked))
		}
	}
	sts, err := Status(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Alive || !sts[1].Ready || !sts[2].Ready {
		t.Fatalf("status %+v", sts)
	}
	t.Logf("%d transactions acknowledged; %d before the kill", len(acked), before)
	if err := Down(dir, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if alive(m.PID) {
			t.Fatalf("%s still runs after down", m.Name)
		}
	}
	if _, err := Status(ctx, dir); err == nil {
		t.Fatal("status of a fleet that is down")
	}
}

// The same topology on DynamoDB Local and MinIO instead of files: a write
// through the query group lands, and the query group reads it after sync.
func TestFleetLocalOnDynamoAndS3(t *testing.T) {
	ddb := testenv.Dynamo(t)
	minio := testenv.S3(t)
	var r [6]byte
	rand.Read(r[:])
	name := "strata-fleet-" + hex.EncodeToString(r[:])
	t.Setenv("AWS_ACCESS_KEY_ID", minio.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", minio.SecretKey)
	st, err := cachetiers.NewS3Store(context.Background(), cachetiers.S3Options{Bucket: name, Endpoint: minio.Endpoint, UsePathStyle: true, Region: minio.Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fleet, err := Up(context.Background(), Spec{Dir: dir, Binary: os.Args[0], Env: []string{"STRATA_FLEET_TEST_NODE=1"}, Primary: 1,
		QueryGroups: map[string]int{"reports": 1}, LeaseTTL: 2 * time.Second,
		Storage: Storage{DynamoTable: name, DynamoEndpoint: ddb.Endpoint, CreateTable: true, S3Bucket: name, S3Prefix: "segments/",
			S3Endpoint: minio.Endpoint, Region: ddb.Region}})
	if err != nil {
		t.Fatal(err)
	}
	defer Down(dir, 10*time.Second)
	p, qg := fleet.Members[0], fleet.Members[1]
	must(t, p.Endpoint(), "/v1/dbs", `{"name": "f"}`)
	must(t, p.Endpoint(), "/v1/dbs/f/transact", `{"tx-data": "[{:db/ident :k/tag :db/valueType :db.type/string :db/cardinality :db.cardinality/one}]"}`)
	rep := must(t, qg.Endpoint(), "/v1/dbs/f/transact", `{"tx-data": "[{:k/tag \"through-the-query-group\"}]"}`)
	must(t, qg.Endpoint(), "/v1/dbs/f/sync", fmt.Sprintf(`{"t": %d}`, int64(rep["t-after"].(float64))))
	out := must(t, qg.Endpoint(), "/v1/dbs/f/q", `{"query": "[:find ?tag . :where [_ :k/tag ?tag]]"}`)
	if out["result"] != "through-the-query-group" {
		t.Fatalf("the query group reads %v", out)
	}
}
