package transactor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
)

// testTx is transaction t with n datoms.
func testTx(t datom.T, n int) engine.TxEntry {
	tx := engine.TxEntry{T: t, NextN: uint64(t) + 3}
	txE := datom.TxE(t)
	for i := range n {
		tx.Data = append(tx.Data, datom.Datom{E: datom.MakeE(datom.PartUser, uint64(t)+uint64(i)), A: 1000,
			V: datom.String(fmt.Sprint("v", t, "-", i)), Tx: txE, Added: i%3 != 0})
	}
	return tx
}

func testRecord(prev datom.T, ts ...datom.T) *Record {
	r := &Record{PrevT: prev, Writer: "w1"}
	for _, t := range ts {
		r.Txs = append(r.Txs, testTx(t, 3))
	}
	return r
}

func sameRecord(a, b *Record) bool {
	if a.PrevT != b.PrevT || a.Writer != b.Writer || len(a.Txs) != len(b.Txs) {
		return false
	}
	for i := range a.Txs {
		x, y := a.Txs[i], b.Txs[i]
		if x.T != y.T || x.NextN != y.NextN || !slices.EqualFunc(x.Data, y.Data, func(p, q datom.Datom) bool {
			return datom.Compare(datom.EAVT, p, q) == 0
		}) {
			return false
		}
	}
	return true
}

func TestRecordRoundTrip(t *testing.T) {
	big := &Record{PrevT: 7, Writer: "node-a/123", Txs: []engine.TxEntry{testTx(9, 2*blockDatoms+5), testTx(20, 0), testTx(30, 1)}}
	for _, r := range []*Record{testRecord(0, 5), big} {
		b := AppendRecord(nil, r)
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRecord(got, r) {
			t.Fatalf("round trip of %d transactions differs", len(r.Txs))
		}
		// Every truncation is refused with an Incorrect error.
		step := max(1, len(b)/200) // every cut of the first 64 bytes, then 200 more
		for cut := 0; cut < len(b); cut++ {
			if cut > 64 && cut%step != 0 {
				continue
			}
			if _, err := DecodeRecord(b[:cut]); !errors.Is(err, anomaly.Incorrect) {
				t.Fatalf("record cut at %d of %d: %v", cut, len(b), err)
			}
		}
	}
	for _, bad := range []*Record{
		{PrevT: 5, Txs: []engine.TxEntry{testTx(5, 1)}}, // t not after PrevT
		{PrevT: 5}, // empty
		{PrevT: 5, Txs: []engine.TxEntry{{T: 6, NextN: 6}}},           // next not after t
		{PrevT: 1, Txs: []engine.TxEntry{testTx(9, 1), testTx(8, 1)}}, // t going back
		{PrevT: 1, Writer: string(make([]byte, MaxWriterToken+1)), Txs: []engine.TxEntry{testTx(2, 1)}},
	} {
		if err := bad.Valid(); !errors.Is(err, anomaly.Incorrect) {
			t.Errorf("record %+v: %v", bad.PrevT, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, testRecord(0, 5, 9)))
	f.Add(AppendRecord(nil, &Record{PrevT: 3, Txs: []engine.TxEntry{testTx(4, 40)}}))
	f.Add([]byte{1, 0, 0, 1, 5, 6, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, anomaly.Incorrect) {
				t.Fatalf("error without the incorrect category: %v", err)
			}
			return
		}
		again, err := DecodeRecord(AppendRecord(nil, r))
		if err != nil || !sameRecord(again, r) {
			t.Fatalf("a decoded record does not round-trip: %v", err)
		}
	})
}

func records(t *testing.T, l Log, db string, after datom.T) []*Record {
	t.Helper()
	var out []*Record
	for r, err := range l.Records(context.Background(), db, after) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func lastTs(rs []*Record) []datom.T {
	var out []datom.T
	for _, r := range rs {
		out = append(out, r.LastT())
	}
	return out
}

// logContract runs what every Log must do; open returns two handles on
// one fresh log (two processes' views).
func logContract(t *testing.T, open func(t *testing.T) (Log, Log)) {
	ctx := context.Background()
	l, l2 := open(t)
	if h, err := l.Head(ctx, "db1"); err != nil || h != 0 {
		t.Fatalf("empty log head %d, %v", h, err)
	}
	for _, r := range []*Record{testRecord(0, 5), testRecord(5, 8, 11), testRecord(11, 20)} {
		if err := l.Append(ctx, "db1", r); err != nil {
			t.Fatal(err)
		}
	}
	// The same record again (a retry after a lost response) is recognized.
	if err := l.Append(ctx, "db1", testRecord(11, 20)); err != nil {
		t.Fatalf("a retried append of the record at the head: %v", err)
	}
	// A stale writer's record is refused and names the head.
	stale := testRecord(11, 14)
	stale.Writer = "w2"
	err := l.Append(ctx, "db1", stale)
	if h, ok := IsHeadError(err); !ok || h.Head != 20 || !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("append after a stale head: %v", err)
	}
	if got := lastTs(records(t, l, "db1", 0)); !slices.Equal(got, []datom.T{5, 11, 20}) {
		t.Fatalf("records %v", got)
	}
	if got := lastTs(records(t, l, "db1", 8)); !slices.Equal(got, []datom.T{11, 20}) {
		t.Fatalf("records after 8: %v (the record holding 8 and 11 ends after 8)", got)
	}
	if got := lastTs(records(t, l, "db1", 20)); len(got) != 0 {
		t.Fatalf("records after the head: %v", got)
	}
	// The other handle sees them, and each catches up with the other's
	// appends.
	if err := l2.Append(ctx, "db1", testRecord(20, 25)); err != nil {
		t.Fatal(err)
	}
	other := testRecord(20, 26)
	other.Writer = "w2"
	if err := l.Append(ctx, "db1", other); err == nil {
		t.Fatal("two writers both appended after t 20")
	}
	if err := l.Append(ctx, "db1", testRecord(25, 30)); err != nil {
		t.Fatal(err)
	}
	got := records(t, l2, "db1", 0)
	if !slices.Equal(lastTs(got), []datom.T{5, 11, 20, 25, 30}) {
		t.Fatalf("the second handle reads %v", lastTs(got))
	}
	for i, r := range records(t, l, "db1", 0) {
		if !sameRecord(r, got[i]) {
			t.Fatalf("record %d differs between the handles", i)
		}
	}
	// Another database's log is apart; Drop empties one.
	if err := l.Append(ctx, "db2", testRecord(0, 7)); err != nil {
		t.Fatal(err)
	}
	if err := l.Drop(ctx, "db1"); err != nil {
		t.Fatal(err)
	}
	if h, err := l2.Head(ctx, "db1"); err != nil || h != 0 {
		t.Fatalf("head after drop %d, %v", h, err)
	}
	if h, err := l2.Head(ctx, "db2"); err != nil || h != 7 {
		t.Fatalf("the other database's head %d, %v", h, err)
	}
	if err := l.Append(ctx, "../x", testRecord(0, 1)); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a database id with a path in it: %v", err)
	}
	if err := l.Append(ctx, "db2", &Record{PrevT: 7}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("an empty record: %v", err)
	}
}

func TestFileLog(t *testing.T) {
	logContract(t, func(t *testing.T) (Log, Log) {
		dir := t.TempDir()
		l, err := OpenFileLog(dir)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := OpenFileLog(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close(); l2.Close() })
		return l, l2
	})
}

// Reopened, a file log holds every record byte for byte.
func TestFileLogReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := &Record{PrevT: 5, Writer: "w", Txs: []engine.TxEntry{testTx(9, blockDatoms+7)}}
	for _, r := range []*Record{testRecord(0, 5), big} {
		if err := l.Append(ctx, "d", r); err != nil {
			t.Fatal(err)
		}
	}
	want := records(t, l, "d", 0)
	l.Close()
	l, err = OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := records(t, l, "d", 0)
	if len(got) != len(want) || !sameRecord(got[0], want[0]) || !sameRecord(got[1], want[1]) {
		t.Fatalf("%d records after reopening, want %d, or they differ", len(got), len(want))
	}
}

// A crash in the middle of an append leaves a torn tail: cut short, or
// garbage in the frame. Reopening truncates it and keeps every record
// before it; damage with valid records after it is refused.
func TestFileLogTornTail(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"cut-header", "cut-payload", "garbage", "middle"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			l, err := OpenFileLog(dir)
			if err != nil {
				t.Fatal(err)
			}
			var ends []int64
			for _, r := range []*Record{testRecord(0, 5), testRecord(5, 8), testRecord(8, 11)} {
				if err := l.Append(ctx, "d", r); err != nil {
					t.Fatal(err)
				}
				fi, _ := os.Stat(filepath.Join(dir, "d.log"))
				ends = append(ends, fi.Size())
			}
			l.Close()
			path := filepath.Join(dir, "d.log")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantTs := []datom.T{5, 8}
			switch damage {
			case "cut-header":
				b = b[:ends[1]+5]
			case "cut-payload":
				b = b[:ends[2]-3]
			case "garbage":
				b[ends[2]-10] ^= 0xff
			case "middle":
				b[ends[0]+frameHeaderLen+2] ^= 0xff
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err = OpenFileLog(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			h, err := l.Head(ctx, "d")
			if damage == "middle" {
				if !errors.Is(err, anomaly.Fault) {
					t.Fatalf("damage before valid records: head %d, %v", h, err)
				}
				return
			}
			if err != nil || h != 8 {
				t.Fatalf("head %d, %v; want 8", h, err)
			}
			if got := lastTs(records(t, l, "d", 0)); !slices.Equal(got, wantTs) {
				t.Fatalf("records %v", got)
			}
			if fi, _ := os.Stat(path); fi.Size() != ends[1] {
				t.Fatalf("file of %d bytes after truncation, want %d", fi.Size(), ends[1])
			}
			if err := l.Append(ctx, "d", testRecord(8, 12)); err != nil {
				t.Fatalf("append after truncation: %v", err)
			}
		})
	}
}
