package transactor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// Ids are "SK" and 18 base32 characters, secrets 40 characters of
// URL-safe base64; neither repeats.
func TestNewAPIKey(t *testing.T) {
	const n = 10000
	ids, secrets := map[string]bool{}, map[string]bool{}
	for range n {
		k, err := NewAPIKey(false, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(k.ID) != 20 || !strings.HasPrefix(k.ID, "SK") || strings.Trim(k.ID[2:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("id %q", k.ID)
		}
		if len(k.Secret) != 40 || strings.Trim(k.Secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("secret %q", k.Secret)
		}
		if ids[k.ID] || secrets[k.Secret] {
			t.Fatalf("id %s or its secret made twice", k.ID)
		}
		ids[k.ID], secrets[k.Secret] = true, true
		if k.Created.IsZero() || !k.Active(time.Now()) || k.ReadOnly || len(k.DBs) != 0 {
			t.Fatalf("a new key %v, created %s", k, k.Created)
		}
	}
}

// The databases are kept sorted, without repeats, in a copy; the limits
// hold exactly at their bounds.
func TestNewAPIKeyLimits(t *testing.T) {
	dbs := []string{"orders", "accounts", "orders"}
	k, err := NewAPIKey(true, dbs, "reports")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k.DBs, []string{"accounts", "orders"}) || !k.ReadOnly || k.Note != "reports" {
		t.Fatalf("key %v", k)
	}
	if !slices.Equal(dbs, []string{"orders", "accounts", "orders"}) {
		t.Fatalf("the caller's databases changed: %v", dbs)
	}
	names := make([]string, MaxKeyDBs+1)
	for i := range names {
		names[i] = fmt.Sprintf("db%02d", i)
	}
	if _, err := NewAPIKey(false, names[:MaxKeyDBs], strings.Repeat("n", MaxKeyNote)); err != nil {
		t.Fatalf("a key at the limits: %v", err)
	}
	for _, bad := range []struct {
		dbs  []string
		note string
		says string // what the error must name
	}{
		{names, "", "65 databases"},
		{[]string{"orders", "a/b"}, "", `"a/b"`},
		{[]string{""}, "", `""`},
		{nil, strings.Repeat("n", MaxKeyNote+1), "note of 257 bytes"},
		{nil, "\xff", "not UTF-8"},
	} {
		_, err := NewAPIKey(false, bad.dbs, bad.note)
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), bad.says) {
			t.Fatalf("databases %q, note %q: %v (want it to name %s)", bad.dbs, bad.note, err, bad.says)
		}
	}
}

func TestAPIKeyAllows(t *testing.T) {
	all := APIKey{}
	reader := APIKey{ReadOnly: true}
	orders := APIKey{DBs: []string{"accounts", "orders"}}
	ordersReader := APIKey{ReadOnly: true, DBs: []string{"orders"}}
	for _, c := range []struct {
		k     APIKey
		db    string
		write bool
		want  bool
	}{
		{all, "orders", false, true},
		{all, "orders", true, true},
		{all, "", true, true},
		{reader, "orders", false, true},
		{reader, "orders", true, false},
		{reader, "", false, true},
		{reader, "", true, false},
		{orders, "orders", true, true},
		{orders, "accounts", false, true},
		{orders, "payroll", false, false},
		{orders, "", false, false},
		{orders, "order", false, false},
		{ordersReader, "orders", false, true},
		{ordersReader, "orders", true, false},
		{ordersReader, "accounts", false, false},
	} {
		if got := c.k.Allows(c.db, c.write); got != c.want {
			t.Errorf("%v: Allows(%q, write %t) = %t", c.k, c.db, c.write, got)
		}
	}
}

// A key is inactive from the instant it is revoked.
func TestAPIKeyActive(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	k := APIKey{ID: "SKAAAAAAAAAAAAAAAAAA", Created: at.Add(-time.Hour)}
	if !k.Active(at) || !k.Active(time.Time{}) {
		t.Fatal("a key never revoked is inactive")
	}
	k.Revoked = at
	if !k.Active(at.Add(-time.Nanosecond)) || k.Active(at) || k.Active(at.Add(time.Hour)) {
		t.Fatalf("revoked at %s: active before %t, at %t, after %t", at,
			k.Active(at.Add(-time.Nanosecond)), k.Active(at), k.Active(at.Add(time.Hour)))
	}
}

// Printing a key does not print its secret.
func TestAPIKeyStringHidesSecret(t *testing.T) {
	k, err := NewAPIKey(true, []string{"orders"}, "reports")
	if err != nil {
		t.Fatal(err)
	}
	k.Revoked = time.Now()
	for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%v", []APIKey{k})} {
		if strings.Contains(s, k.Secret) || !strings.Contains(s, k.ID) {
			t.Fatalf("printed as %q", s)
		}
	}
}
