package transactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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
	root := engine.IndexRoot{T: 100, NextN: 120, LastInstant: 5, Counts: []engine.AttrCount{{A: 10, N: 5}, {A: 72, N: 1 << 40}}}
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
	if got, err := c2.Root(ctx, a.ID); err != nil || got.Version != 1 || !reflect.DeepEqual(got.Root, root) {
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

	keyContract(t, c, c2, now)
}

// keyContract is catalogContract's part on API keys: created once, read
// from either handle, listed by id, revoked once; invalid keys change
// nothing.
func keyContract(t *testing.T, c, c2 Catalog, now time.Time) {
	ctx := context.Background()
	admin, err := NewAPIKey(false, nil, "admin")
	if err != nil {
		t.Fatal(err)
	}
	reports, err := NewAPIKey(true, []string{"orders", "accounts"}, "reports")
	if err != nil {
		t.Fatal(err)
	}
	// A hand-made key (as if imported) whose id sorts before any NewAPIKey
	// makes.
	imported := APIKey{ID: "AKIA0000000000000000", Secret: strings.Repeat("s/+=", 10), DBs: []string{"orders"}, Created: now}
	for _, k := range []APIKey{admin, reports, imported} {
		if err := c.PutKey(ctx, k); err != nil {
			t.Fatalf("put %v: %v", k, err)
		}
	}
	again := admin
	again.Secret = strings.Repeat("x", 40)
	if err := c2.PutKey(ctx, again); !errors.Is(err, anomaly.Conflict) {
		t.Fatalf("a second key with id %s: %v", admin.ID, err)
	}
	for _, k := range []APIKey{admin, reports, imported} {
		if got, err := c2.GetKey(ctx, k.ID); err != nil || !sameKey(got, k) {
			t.Fatalf("get %s from the second handle: %v (secret kept: %t), %v", k.ID, got, got.Secret == k.Secret, err)
		}
	}
	want := []APIKey{imported, admin, reports}
	slices.SortFunc(want[1:], func(a, b APIKey) int { return strings.Compare(a.ID, b.ID) })
	checkKeys(t, c2, want)

	const missing = "SKZZZZZZZZZZZZZZZZZZ"
	if _, err := c.GetKey(ctx, missing); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("get of a missing key: %v", err)
	}
	if _, err := c.RevokeKey(ctx, missing, now); !errors.Is(err, anomaly.NotFound) {
		t.Fatalf("revoke of a missing key: %v", err)
	}
	for _, id := range []string{"", "sk-lower-case-id-000", "SK1"} {
		if _, err := c.GetKey(ctx, id); !errors.Is(err, anomaly.Incorrect) {
			t.Fatalf("get of key id %q: %v", id, err)
		}
		if _, err := c.RevokeKey(ctx, id, now); !errors.Is(err, anomaly.Incorrect) {
			t.Fatalf("revoke of key id %q: %v", id, err)
		}
	}
	if _, err := c.RevokeKey(ctx, admin.ID, time.Time{}); !errors.Is(err, anomaly.Incorrect) {
		t.Fatalf("a revocation without a time: %v", err)
	}

	// Revoked once: a second revocation, from either handle, keeps the
	// first time.
	revokedAt := now.Add(time.Minute)
	r, err := c.RevokeKey(ctx, admin.ID, revokedAt)
	if err != nil || !r.Revoked.Equal(revokedAt) || r.Active(revokedAt) || !r.Active(revokedAt.Add(-time.Nanosecond)) {
		t.Fatalf("revoked %v at %s, %v", r, r.Revoked, err)
	}
	i := slices.IndexFunc(want, func(k APIKey) bool { return k.ID == admin.ID })
	want[i].Revoked = revokedAt
	if !sameKey(r, want[i]) {
		t.Fatalf("revocation changed more than the time: %v", r)
	}
	for _, cat := range []Catalog{c2, c} {
		if r, err := cat.RevokeKey(ctx, admin.ID, revokedAt.Add(time.Hour)); err != nil || !r.Revoked.Equal(revokedAt) {
			t.Fatalf("revoked again: %v at %s, %v", r, r.Revoked, err)
		}
	}
	if got, err := c2.GetKey(ctx, admin.ID); err != nil || !sameKey(got, want[i]) {
		t.Fatalf("revoked key read back: %v at %s, %v", got, got.Revoked, err)
	}
	checkKeys(t, c, want)

	// Invalid keys are refused, and nothing changes.
	names := make([]string, MaxKeyDBs+1)
	for i := range names {
		names[i] = fmt.Sprintf("db%d", i)
	}
	for _, bad := range []struct {
		what string
		edit func(*APIKey)
	}{
		{"no id", func(k *APIKey) { k.ID = "" }},
		{"a short id", func(k *APIKey) { k.ID = "SK123" }},
		{"a long id", func(k *APIKey) { k.ID = strings.Repeat("A", maxKeyID+1) }},
		{"a lower-case id", func(k *APIKey) { k.ID = strings.ToLower(k.ID) }},
		{"an id with a slash", func(k *APIKey) { k.ID = k.ID[:10] + "/" + k.ID[11:] }},
		{"a short secret", func(k *APIKey) { k.Secret = k.Secret[:minKeySecret-1] }},
		{"a long secret", func(k *APIKey) { k.Secret = strings.Repeat("s", maxKeySecret+1) }},
		{"a secret with a space", func(k *APIKey) { k.Secret = k.Secret[:10] + " " + k.Secret[11:] }},
		{"a secret with a control character", func(k *APIKey) { k.Secret = k.Secret[:10] + "\n" + k.Secret[11:] }},
		{"a bad database name", func(k *APIKey) { k.DBs = []string{"orders", "a/b"} }},
		{"an empty database name", func(k *APIKey) { k.DBs = []string{""} }},
		{"too many databases", func(k *APIKey) { k.DBs = names }},
		{"a long note", func(k *APIKey) { k.Note = strings.Repeat("n", MaxKeyNote+1) }},
		{"a note that is not UTF-8", func(k *APIKey) { k.Note = "\xff" }},
		{"no creation time", func(k *APIKey) { k.Created = time.Time{} }},
	} {
		k, err := NewAPIKey(false, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		bad.edit(&k)
		if err := c.PutKey(ctx, k); !errors.Is(err, anomaly.Incorrect) {
			t.Fatalf("a key with %s: %v", bad.what, err)
		}
	}
	checkKeys(t, c2, want)
}

// sameKey compares keys as a catalog keeps them: times by instant, no
// databases and an empty list alike.
func sameKey(a, b APIKey) bool {
	return a.ID == b.ID && a.Secret == b.Secret && a.ReadOnly == b.ReadOnly && slices.Equal(a.DBs, b.DBs) &&
		a.Created.Equal(b.Created) && a.Revoked.Equal(b.Revoked) && a.Note == b.Note
}

func checkKeys(t *testing.T, c Catalog, want []APIKey) {
	t.Helper()
	got, err := c.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, sameKey) {
		t.Fatalf("keys %v, want %v", got, want)
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

// The catalog file holds secrets: only its owner may read it, also when a
// temporary file left behind was readable by others. It stays format
// version 1, which builds from before keys open, until it holds a key.
func TestFileCatalogKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := OpenFileCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.WriteFile(filepath.Join(dir, catalogFile+".tmp"), []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	version := func() int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, catalogFile))
		if err != nil {
			t.Fatal(err)
		}
		var s struct{ Version int }
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s.Version
	}
	if _, err := c.CreateDB(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != catalogVersionNoKeys {
		t.Fatalf("a catalog without keys is version %d", v)
	}
	k, err := NewAPIKey(false, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != catalogVersion {
		t.Fatalf("a catalog with keys is version %d", v)
	}
	fi, err := os.Stat(filepath.Join(dir, catalogFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("catalog file mode %v", fi.Mode().Perm())
	}
	c2, err := OpenFileCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := c2.GetKey(ctx, k.ID); err != nil || !sameKey(got, k) {
		t.Fatalf("key read back %v, %v", got, err)
	}
}
