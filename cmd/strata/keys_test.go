package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/internal/testenv"
	"github.com/stratadb/strata/transactor"
)

// keys create, list and revoke on the embedded default's catalog: the
// secret is printed once and never listed.
func TestKeys(t *testing.T) {
	cleanEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	testKeys(t, "--data", data)
	// A mistyped --data is not a fresh catalog.
	refused(t, 2, "no such directory", "keys", "list", "--data", filepath.Join(t.TempDir(), "nothing"))
	refused(t, 2, "need --dynamodb-table", "keys", "list", "--data", data, "--region", "eu-west-1")
	refused(t, 2, "incorrect", "keys", "create", "--data", data, "--db", "not a name")
}

// The same on a DynamoDB catalog (DynamoDB Local, as make test starts it).
func TestKeysDynamo(t *testing.T) {
	srv := testenv.Dynamo(t)
	cleanEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	table := fmt.Sprintf("strata-keys-%d", time.Now().UnixNano())
	c, err := transactor.OpenDynamoCatalog(context.Background(), transactor.DynamoOptions{Table: table, Region: srv.Region,
		Endpoint: srv.Endpoint, CreateTable: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	testKeys(t, "--dynamodb-table", table, "--region", srv.Region, "--dynamodb-endpoint", srv.Endpoint)
}

func testKeys(t *testing.T, where ...string) {
	t.Helper()
	args := func(a ...string) []string { return append(a, where...) }
	out := must(t, args("keys", "create", "--read-only", "--db", "b", "--db", "a,b", "--note", "nightly reports")...)
	m := regexp.MustCompile(`^id: (SK[A-Z0-9]{18})\nsecret: (\S{40})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys create: %q", out)
	}
	id, secret := m[1], m[2]
	admin := regexp.MustCompile(`id: (\S+)`).FindStringSubmatch(must(t, args("keys", "create")...))[1]
	list := must(t, args("keys", "list")...)
	if strings.Contains(list, secret) {
		t.Fatalf("keys list shows a secret:\n%s", list)
	}
	row := regexp.MustCompile(`(?m)^` + id + `\s+active\s+read-only\s+a,b\s+\S+Z\s+nightly reports$`)
	if !strings.HasPrefix(list, "ID ") || !row.MatchString(list) || !regexp.MustCompile(`(?m)^`+admin+`\s+active\s+read-write\s+\*\s`).MatchString(list) {
		t.Fatalf("keys list:\n%s", list)
	}
	if out := must(t, args("keys", "revoke", id)...); !strings.HasPrefix(out, "revoked "+id+" at ") {
		t.Fatalf("keys revoke: %q", out)
	}
	if list = must(t, args("keys", "list")...); !regexp.MustCompile(`(?m)^` + id + `\s+revoked \S+Z\s+read-only`).MatchString(list) {
		t.Fatalf("keys list after revoke:\n%s", list)
	}
	refused(t, 1, "not-found", args("keys", "revoke", "SKNOSUCHKEY0000000000")...)
	refused(t, 2, "want the key's ID", args("keys", "revoke")...)
}
