package transactor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/segment"
)

// catalogContract runs the behaviour every Catalog must have; open returns
// a fresh catalog, and a second handle on the same one.
func catalogContract(t *testing.T, open func(t *testing.T) (Catalog, Catalog)) {
	ctx := context.Background()
	c, c2 := open(t)
	a, err := c.CreateDB(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CreateDB(ctx, "orders"); !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("a second database named orders: %v", err)
	}
	for _, bad := range []string{"", "a/b", "x y", string(make([]byte, MaxDBName+1))} {
		if _, err := c.CreateDB(ctx, bad); !errors.Is(err, anomaly.Incorrect) {
			t.Fatalf("database name %q: %v", bad, err)
		}
	}
	if _, err := c.CreateDB(ctx, "accounts"); err != nil {
		t.Fatal(err)
	}
	list, err := c2.ListDBs(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "accounts" || list[1].Name != "orders" {
		t.Fatalf("list %v, %v", list, err)
	}
	if got, err := c2.GetDB(ctx, "orders"); err != nil || got.ID != a.ID {
		t.Fatalf("get %v, %v", got, err)
	}
	if _, err := c.GetDB(ctx, "nope"); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("get of a missing database: %v", err)
	}

	// Roots move by compare-and-swap only, and never back in t.
	r0, err := c.Root(ctx, a.ID)
	if err != nil || r0.Version != 0 {
		t.Fatalf("root before indexing %+v, %v", r0, err)
	}
	root := engine.IndexRoot{T: 100, NextN: 120, LastInstant: 5}
	root.Cur[0] = engine.TreeRef{ID: segment.NewID(), Height: 2, Count: 77}
	r1, err := c.SwapRoot(ctx, a.ID, 0, root)
	if err != nil || r1.Version != 1 {
		t.Fatalf("swap %+v, %v", r1, err)
	}
	if _, err := c2.SwapRoot(ctx, a.ID, 0, root); !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("a swap from a stale version: %v", err)
	}
	back := root
	back.T = 50
	if _, err := c2.SwapRoot(ctx, a.ID, 1, back); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a root going back in t: %v", err)
	}
	if got, err := c2.Root(ctx, a.ID); err != nil || got.Version != 1 || got.Root != root {
		t.Fatalf("root read back %+v, %v", got, err)
	}

	// One lease holder at a time; an expired lease goes to the next.
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	l1, err := c.AcquireLease(ctx, a.ID, "n1", 10*time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.AcquireLease(ctx, a.ID, "n2", 10*time.Second, now.Add(5*time.Second)); !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("a second holder while the lease runs: %v", err)
	}
	if l, err := c.AcquireLease(ctx, a.ID, "n1", 10*time.Second, now.Add(5*time.Second)); err != nil || l.Epoch != l1.Epoch {
		t.Fatalf("renewal %+v, %v", l, err)
	}
	l2, err := c2.AcquireLease(ctx, a.ID, "n2", 10*time.Second, now.Add(16*time.Second))
	if err != nil || l2.Epoch != l1.Epoch+1 {
		t.Fatalf("take-over after expiry %+v, %v", l2, err)
	}
	if err := c.ReleaseLease(ctx, a.ID, "n1"); err != nil {
		t.Fatal(err) // not n1's any more: nothing happens
	}
	if _, err := c.AcquireLease(ctx, a.ID, "n1", 10*time.Second, now.Add(17*time.Second)); !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("n1's release took n2's lease: %v", err)
	}
	if err := c2.ReleaseLease(ctx, a.ID, "n2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, a.ID, "n1", 10*time.Second, now.Add(17*time.Second)); err != nil {
		t.Fatalf("after release: %v", err)
	}

	// Members by group and freshness.
	for i, m := range []Member{{ID: "n1", Group: "primary", Seen: now}, {ID: "n2", Group: "primary", Seen: now.Add(-time.Minute)},
		{ID: "q1", Group: "reports", Seen: now}} {
		if err := c.Heartbeat(ctx, m); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	if ms, err := c2.Members(ctx, "primary", now.Add(-10*time.Second)); err != nil || len(ms) != 1 || ms[0].ID != "n1" {
		t.Fatalf("live primary members %v, %v", ms, err)
	}
	if err := c.Heartbeat(ctx, Member{ID: "", Group: "primary"}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a member without an id: %v", err)
	}

	// Deleting frees the name; the new database has a new id and no root.
	if _, err := c.DeleteDB(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteDB(ctx, "orders"); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("second delete: %v", err)
	}
	b, err := c2.CreateDB(ctx, "orders")
	if err != nil || b.ID == a.ID {
		t.Fatalf("recreated %+v (old id %s), %v", b, a.ID, err)
	}
	if r, err := c.Root(ctx, b.ID); err != nil || r.Version != 0 {
		t.Fatalf("root of the new database %+v, %v", r, err)
	}
}

func TestFileCatalog(t *testing.T) {
	catalogContract(t, func(t *testing.T) (Catalog, Catalog) {
		dir := t.TempDir()
		c, err := OpenFileCatalog(dir)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := OpenFileCatalog(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); c2.Close() })
		return c, c2
	})
}

func TestFileCatalogDamaged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, catalogFile), []byte(`{"version": 1, "databases": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileCatalog(dir); !errors.Is(err, anomaly.Fault) {
		t.Fatalf("a damaged catalog: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, catalogFile), []byte(`{"version": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileCatalog(dir); !errors.Is(err, anomaly.Fault) {
		t.Fatalf("a catalog of another version: %v", err)
	}
}
