package transactor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/internal/testenv"
)

// dynamoOptions is a fresh table on the DynamoDB Local that make test
// starts (created on open).
func dynamoOptions(t *testing.T) DynamoOptions {
	t.Helper()
	srv := testenv.Dynamo(t)
	return DynamoOptions{Table: "strata-test-" + newDBID()[:12], Region: srv.Region, Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, CreateTable: true}
}

func TestDynamoLog(t *testing.T) {
	logContract(t, func(t *testing.T) (Log, Log) {
		o := dynamoOptions(t)
		ctx := context.Background()
		l, err := OpenDynamoLog(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		o.CreateTable = false
		l2, err := OpenDynamoLog(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return l, l2
	})
}

func TestDynamoCatalog(t *testing.T) {
	catalogContract(t, func(t *testing.T) (Catalog, Catalog) {
		o := dynamoOptions(t)
		ctx := context.Background()
		c, err := OpenDynamoCatalog(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		o.CreateTable = false
		c2, err := OpenDynamoCatalog(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return c, c2
	})
}

// A record over the item limit spills to the segment store; without a
// spill store it is refused, and nothing is appended.
func TestDynamoLogSpill(t *testing.T) {
	ctx := context.Background()
	o := dynamoOptions(t)
	big := &Record{PrevT: 0, Writer: "w", Txs: []engine.TxEntry{testTx(5, 8*blockDatoms)}}
	if n := len(AppendRecord(nil, big)); n <= itemPayloadMax {
		t.Fatalf("the big record is only %d bytes", n)
	}
	l, err := OpenDynamoLog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, "d", big); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a big record without a spill store: %v", err)
	}
	store, err := newDirStratified(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	o.CreateTable = false
	o.Spill = SegmentSpill{Store: store}
	l, err = OpenDynamoLog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, "d", big); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, "d", big); err != nil {
		t.Fatalf("a retry of the spilled append: %v", err)
	}
	if err := l.Append(ctx, "d", testRecord(5, 9)); err != nil {
		t.Fatal(err)
	}
	got := records(t, l, "d", 0)
	if len(got) != 2 || !sameRecord(got[0], big) {
		t.Fatalf("%d records read back, or the spilled one differs", len(got))
	}
}

// The writer on DynamoDB: transactions, recovery, indexing with roots in
// the DynamoDB catalog.
func TestConnOnDynamo(t *testing.T) {
	ctx := context.Background()
	o := dynamoOptions(t)
	log, err := OpenDynamoLog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o.CreateTable = false
	cat, err := OpenDynamoCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	store, err := newDirStratified(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Log: log, Catalog: cat, Store: store, IndexDatoms: 100,
		Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}
	info, err := cat.CreateDB(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenConn(ctx, opts, info)
	if err != nil {
		t.Fatal(err)
	}
	mustTransact(t, c, accountSchema...)
	for i := range 60 {
		mustTransact(t, c, deposit(int64(i%10), int64(i))...)
	}
	want := balances(t, c.DB())
	c.Close()
	if c.Stats().IndexJobs == 0 {
		t.Fatal("no indexing job ran")
	}
	c2, err := OpenConn(ctx, opts, info)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := balances(t, c2.DB()); fmt.Sprint(got) != fmt.Sprint(want) || c2.DB().IndexedT() == 0 {
		t.Fatalf("recovered %v (indexed t %d), want %v", got, c2.DB().IndexedT(), want)
	}
}

// A record that follows `after` exactly and is appended while Records is
// between its two reads is not skipped (a follower under latency skipped
// one, and its database lost a transaction).
func TestDynamoLogRecordsRace(t *testing.T) {
	ctx := context.Background()
	l, err := OpenDynamoLog(ctx, dynamoOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	db := newDBID()
	if err := l.Append(ctx, db, testRecord(0, 1000, 1001)); err != nil {
		t.Fatal(err)
	}
	recordsBetweenReads = func() {
		recordsBetweenReads = nil
		if err := l.Append(ctx, db, testRecord(1001, 1002)); err != nil {
			t.Error(err)
		}
	}
	defer func() { recordsBetweenReads = nil }()
	if got := lastTs(records(t, l, db, 1001)); fmt.Sprint(got) != "[1002]" {
		t.Fatalf("records after 1001 while 1001..1002 was appended: %v", got)
	}
}
