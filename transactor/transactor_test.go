package transactor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// A node's view of the system in dir: its own log, catalog and store
// handles (as another process would have), its own clock.
func node(t *testing.T, dir, id string, clock *atomic.Int64) *Transactor {
	t.Helper()
	s := openSystem(t, dir, "test")
	s.opts.WriterID = id
	s.opts.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	tr, err := New(s.opts, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestTransactorLeases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	openSystem(t, dir, "") // creates the database "test"
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).UnixNano())
	n1, n2 := node(t, dir, "n1", &clock), node(t, dir, "n2", &clock)

	c1, err := n1.Conn(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := n1.Conn(ctx, "test"); err != nil || again != c1 {
		t.Fatalf("a second Conn call on the writer: %v", err)
	}
	mustTransact(t, c1, accountSchema...)
	mustTransact(t, c1, deposit(1, 10)...)
	_, err = n2.Conn(ctx, "test")
	var nw *NotWriterError
	if !errors.As(err, &nw) || nw.Holder != "n1" || !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("n2 while n1 holds the lease: %v", err)
	}
	if _, err := n1.Conn(ctx, "nope"); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("a missing database: %v", err)
	}

	// n1's lease runs out (its clock stands still while time passes for
	// n2): n2 takes over and commits; n1 is fenced.
	clock.Add(int64(5 * time.Second))
	c2, err := n2.Conn(ctx, "test")
	if err != nil {
		t.Fatalf("take-over after the lease ran out: %v", err)
	}
	if got := balances(t, c2.DB())[1]; got != 10 {
		t.Fatalf("n2 recovered balance %d, want 10", got)
	}
	mustTransact(t, c2, deposit(1, 20)...)
	if _, err := c1.Transact(ctx, deposit(1, 30)); !errors.Is(err, anomaly.Unavailable) {
		t.Fatalf("n1 after the take-over: %v", err)
	}
	// n1's renewal finds n2's lease and fences it too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c1.mu.Lock()
		f := c1.fenced
		c1.mu.Unlock()
		if f != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("n1 is not fenced")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Delete frees the name; a new database of that name starts empty.
	if err := n2.DeleteDB(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.CreateDB(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	c3, err := n2.Conn(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if c3.DB().BasisT() != 0 || len(balances(t, c3.DB())) != 0 {
		t.Fatalf("the recreated database is not empty: basis %d", c3.DB().BasisT())
	}
}

func TestPreferredWriter(t *testing.T) {
	members := []Member{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	owner := map[string]string{}
	count := map[string]int{}
	for i := range 300 {
		id := fmt.Sprint("db", i)
		m, ok := PreferredWriter(id, members)
		if !ok {
			t.Fatal("no writer among three members")
		}
		owner[id] = m.ID
		count[m.ID]++
		if m2, _ := PreferredWriter(id, []Member{members[2], members[0], members[1]}); m2.ID != m.ID {
			t.Fatal("the choice depends on the members' order")
		}
	}
	for _, m := range members {
		if count[m.ID] < 60 {
			t.Fatalf("uneven spread: %v", count)
		}
	}
	// b leaves: only b's databases move.
	for id, was := range owner {
		m, _ := PreferredWriter(id, []Member{members[0], members[2]})
		if was != "b" && m.ID != was {
			t.Fatalf("%s moved from %s to %s when b left", id, was, m.ID)
		}
	}
	if _, ok := PreferredWriter("x", nil); ok {
		t.Fatal("a writer among no members")
	}
}
