package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/client"
	"github.com/stratadb/strata/edn"
	"github.com/stratadb/strata/server"
	"github.com/stratadb/strata/server/servertest"
)

// startNode runs a node and its server in this process on a loopback
// port (no SSD tier, unsigned requests allowed) and returns its address.
func startNode(t *testing.T) string {
	t.Helper()
	_, url := servertest.Start(t, server.Config{AllowUnsigned: true})
	return strings.TrimPrefix(url, "http://")
}

func connect(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Connect(context.Background(), client.Config{Endpoint: "http://" + addr, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every operation against a node: setup makes the entities once, a
// second setup finds them, and a mixed closed loop runs without errors.
func TestStrataAgainstANode(t *testing.T) {
	ctx := context.Background()
	c := connect(t, startNode(t))
	all, _ := ParseMix("read=4,query=3,write=2,import=1")
	cfg := StrataConfig{Setup: true, Entities: 300, Batch: 50, TxSize: 3}
	var made []int
	cfg.SetupProgress = func(done, total int) { made = append(made, done) }
	target, err := NewStrata(ctx, c, cfg, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 || made[0] != 0 || made[1] != 300 {
		t.Errorf("setup progress %v, want 0 then 300", made)
	}
	if target.Keys(OpRead) != 300 || target.Keys(OpQuery) != 300 || target.Keys(OpImport) != 1 {
		t.Errorf("keys: read %d, query %d, import %d", target.Keys(OpRead), target.Keys(OpQuery), target.Keys(OpImport))
	}
	// The default query finds the value the setup gave key 7: 7.
	if v, err := c.Conn(DefaultDB).DB().Q(ctx, DefaultQuery, 7); err != nil || v != int64(7) {
		t.Fatalf("default query of key 7: %v, %v", v, err)
	}

	made = nil
	again, err := NewStrata(ctx, c, cfg, all)
	if err != nil || len(made) != 1 || made[0] != 300 {
		t.Fatalf("second setup: %v, progress %v: want the 300 entities found, none made", err, made)
	}
	for k := range 300 {
		if again.ids[k] != target.ids[k] {
			t.Fatalf("key %d: entity %d, then %d", k, target.ids[k], again.ids[k])
		}
	}

	res, err := Run(ctx, target, Config{Mix: all, Dist: Dist{Kind: Zipf, ZipfS: 1.2}, Concurrency: 4, Duration: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Ops {
		t.Logf("%s: %d requests, p50 %.2f ms, p99 %.2f ms, errors %v", o.Op, o.Requests, o.Latency.P50Ms, o.Latency.P99Ms, o.Errors)
		if o.Requests == 0 || o.OK != o.Requests {
			t.Errorf("%s: %d requests, %d ok, errors %v", o.Op, o.Requests, o.OK, o.Errors)
		}
	}
	// Writes and imports happened: the values moved, new entities came.
	st, err := c.Conn(DefaultDB).DB().Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Attrs[edn.Keyword{Namespace: "loadgen", Name: "group"}]; n <= 300 {
		t.Errorf("%d entities with a group: the imports added none", n)
	}
}

// Custom pools: ids and parameters from queries; without setup, a
// database without the entities is refused with not-found.
func TestStrataPoolsAndNoSetup(t *testing.T) {
	ctx := context.Background()
	c := connect(t, startNode(t))
	read, _ := ParseMix("read")
	if _, err := NewStrata(ctx, c, StrataConfig{DB: "empty", Entities: 10}, read); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("no setup, no database: %v, want not-found", err)
	}
	if _, err := NewStrata(ctx, c, StrataConfig{Setup: true, Entities: 20}, read); err != nil {
		t.Fatal(err)
	}
	mix, _ := ParseMix("read=1,query=1")
	target, err := NewStrata(ctx, c, StrataConfig{Entities: 20,
		IDs:    `[:find [?e ...] :where [?e :loadgen/group 3]]`,
		Query:  `[:find (count ?e) . :in $ ?g ?min :where [?e :loadgen/group ?g] [?e :loadgen/value ?v] [(>= ?v ?min)]]`,
		Params: `[:find ?g ?v :where [?e :loadgen/key ?v] [?e :loadgen/group ?g]]`}, mix)
	if err != nil {
		t.Fatal(err)
	}
	if target.Keys(OpRead) != 1 || target.Keys(OpQuery) != 20 {
		t.Fatalf("pools: %d ids (want the one entity of group 3), %d parameter sets (want 20)", target.Keys(OpRead), target.Keys(OpQuery))
	}
	for k := range 20 {
		if err := target.Do(ctx, OpQuery, k); err != nil {
			t.Fatalf("query with parameters %v: %v", target.params[k], err)
		}
	}
	if err := target.Do(ctx, OpRead, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStrata(ctx, c, StrataConfig{IDs: `[:find [?e ...] :where [?e :loadgen/group 1000]]`}, read); !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("an empty id pool: %v, want incorrect", err)
	}
	if _, err := NewStrata(ctx, c, StrataConfig{Query: `[:find`}, mix); !errors.Is(err, anomaly.Incorrect) {
		t.Errorf("a query that does not parse: %v, want incorrect", err)
	}
}
