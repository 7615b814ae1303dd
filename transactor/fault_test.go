package transactor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/internal/testenv"
)

// Faults between the writer and DynamoDB Local, with toxiproxy: added
// latency, lost responses, reset connections. A transaction either
// succeeds or fails with unavailable (its outcome unknown), is never in
// the log twice, and the writer recovers once the fault clears.

type faultRig struct {
	toxi  *testenv.Toxiproxy
	proxy string
	opts  Options
	tr    *Transactor
}

func newFaultRig(t *testing.T) *faultRig {
	t.Helper()
	toxi := testenv.Toxi(t)
	o := dynamoOptions(t)
	u, err := url.Parse(o.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	name := "ddb-" + newDBID()[:8]
	listen := toxi.Proxy(name, u.Host)
	ctx := context.Background()
	// The table is made directly; everything else goes through the proxy.
	if _, err := OpenDynamoLog(ctx, o); err != nil {
		t.Fatal(err)
	}
	o.CreateTable = false
	o.Endpoint = "http://" + listen
	log, err := OpenDynamoLog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := OpenDynamoCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	store, err := newDirStratified(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Log: log, Catalog: cat, Store: store, WriterID: "faulty", AppendTimeout: 4 * time.Second, Logger: quietLogger}
	tr, err := New(opts, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if _, err := tr.CreateDB(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	c, err := tr.Conn(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, bankSchema...)
	return &faultRig{toxi: toxi, proxy: name, opts: opts, tr: tr}
}

// tag transacts a transaction tagged id (its :xfer/id) through the rig's
// writer, reopening it when it stopped.
func (r *faultRig) tag(ctx context.Context, id string) error {
	c, err := r.tr.Conn(ctx, "f")
	if err != nil {
		return err
	}
	_, err = c.Transact(ctx, []engine.Op{engine.Add{E: engine.TxTempID, A: kw("xfer/id"), V: id}})
	return err
}

// inLog counts each tag in the log.
func (r *faultRig) inLog(t *testing.T) map[string]int {
	t.Helper()
	ctx := context.Background()
	info, err := r.opts.Catalog.GetDB(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	db, _, err := Recover(ctx, r.opts, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	xfer, _ := db.Schema().AttrByIdent("xfer/id")
	out := map[string]int{}
	for rec, err := range r.opts.Log.Records(ctx, info.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range rec.Txs {
			for _, d := range tx.Data {
				if d.A == xfer.ID && d.Added {
					out[d.V.Str()]++
				}
			}
		}
	}
	return out
}

func TestFaultLatency(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	r.toxi.AddToxic(r.proxy, "slow", "latency", "downstream", map[string]any{"latency": 150})
	t0 := time.Now()
	if err := r.tag(ctx, "slow-1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("a transaction through 150 ms of latency took %s", d)
	}
	r.toxi.RemoveToxic(r.proxy, "slow")
	if err := r.tag(ctx, "fast-1"); err != nil {
		t.Fatal(err)
	}
	if got := r.inLog(t); got["slow-1"] != 1 || got["fast-1"] != 1 {
		t.Fatalf("log %v", got)
	}
}

// Responses lost (the request reaches DynamoDB, the answer never comes
// back) for less than AppendTimeout: the writer's retries find their own
// record, so the transaction succeeds once the fault clears, and is in the
// log once.
func TestFaultLostResponses(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	r.toxi.AddToxic(r.proxy, "lost", "timeout", "downstream", map[string]any{"timeout": 0})
	done := make(chan error, 1)
	go func() { done <- r.tag(ctx, "lost-1") }()
	time.Sleep(1500 * time.Millisecond)
	r.toxi.RemoveToxic(r.proxy, "lost")
	// The fault lasted less than AppendTimeout: the retries must have
	// recognized the record that landed.
	err := <-done
	if err != nil {
		t.Fatalf("a transaction across 1.5 s of lost responses: %v", err)
	}
	for i := range 3 {
		if err := r.tag(ctx, fmt.Sprint("after-", i)); err != nil {
			t.Fatalf("after the fault cleared: %v", err)
		}
	}
	got := r.inLog(t)
	t.Logf("lost-1: %v; in the log %d times", err, got["lost-1"])
	if got["lost-1"] > 1 || err == nil && got["lost-1"] != 1 {
		t.Fatalf("lost-1 (err %v) is in the log %d times", err, got["lost-1"])
	}
	for i := range 3 {
		if got[fmt.Sprint("after-", i)] != 1 {
			t.Fatalf("log %v", got)
		}
	}
}

// Connections reset for longer than the writer's patience: transactions
// fail with unavailable and change nothing; after the fault clears the
// writer (reopened from the log) goes on.
func TestFaultResetPeer(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	r.toxi.AddToxic(r.proxy, "reset", "reset_peer", "upstream", map[string]any{"timeout": 0})
	err := r.tag(ctx, "reset-1")
	if !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("a transaction while every connection resets: %v", err)
	}
	r.toxi.RemoveToxic(r.proxy, "reset")
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := r.tag(ctx, "reset-2")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := r.inLog(t); got["reset-1"] > 1 || got["reset-2"] != 1 {
		t.Fatalf("log %v", got)
	}
}

// Faults between the writer and the segment store (MinIO through
// toxiproxy): an indexing job that cannot write its segments fails and
// publishes nothing, transactions go on in memory, and once the store is
// back the next job indexes and a recovery reads the new root.
func TestFaultStore(t *testing.T) {
	ctx := context.Background()
	toxi := testenv.Toxi(t)
	srv := testenv.S3(t)
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	name := "s3-" + newDBID()[:8]
	listen := toxi.Proxy(name, u.Host)
	bucket := "strata-fault-" + newDBID()[:12]
	s3opts := cachetiers.S3Options{Bucket: bucket, Region: srv.Region, Endpoint: "http://" + listen, UsePathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, RequestTimeout: time.Second, MaxAttempts: 2}
	s3store, err := cachetiers.NewS3Store(ctx, s3opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3store.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	store, err := cachetiers.NewStratified(cachetiers.StratifiedOptions{Tiers: []cachetiers.Tier{s3store}})
	if err != nil {
		t.Fatal(err)
	}
	s := newSystem(t)
	s.opts.Store = store
	s.opts.IndexDatoms = 150
	s.opts.Logger = quietLogger
	c, err := OpenConn(ctx, s.opts, s.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustTransact(t, c, accountSchema...)

	toxi.AddToxic(name, "down", "reset_peer", "upstream", map[string]any{"timeout": 0})
	for i := range 100 {
		mustTransact(t, c, deposit(int64(i%20), int64(i))...)
	}
	waitIdle := func() {
		deadline := time.Now().Add(20 * time.Second)
		for c.isIndexing() {
			if time.Now().After(deadline) {
				t.Fatal("an indexing job never ended")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitIdle()
	if root, err := s.opts.Catalog.Root(ctx, s.info.ID); err != nil || root.Version != 0 {
		t.Fatalf("a root was published while the store was down: %+v, %v", root, err)
	}
	if c.Stats().IndexJobs == 0 {
		t.Fatal("no indexing job was tried")
	}

	toxi.RemoveToxic(name, "down")
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		mustTransact(t, c, deposit(int64(i%20), int64(1000+i))...)
		waitIdle()
		if root, err := s.opts.Catalog.Root(ctx, s.info.ID); err == nil && root.Version > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no root after the store came back")
		}
	}
	want := balances(t, c.DB())
	db, root, err := Recover(ctx, s.opts, s.info, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := balances(t, db); fmt.Sprint(got) != fmt.Sprint(want) || root.Version == 0 || db.IndexedT() == 0 {
		t.Fatalf("recovered from root %d: %v, want %v", root.Version, got, want)
	}
}
