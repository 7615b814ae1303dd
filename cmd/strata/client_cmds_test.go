package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/server"
	"github.com/stratadb/strata/server/servertest"
)

// cmdNode is a node and its server in this process on a loopback port
// (no SSD tier), for the client commands to talk to.
type cmdNode struct {
	url, data string
}

func startCmdNode(t *testing.T, allowUnsigned bool) *cmdNode {
	t.Helper()
	n, url := servertest.Start(t, server.Config{AllowUnsigned: allowUnsigned})
	return &cmdNode{url: url, data: n.Config().DataDir}
}

// cleanEnv keeps the caller's environment and home directory out of a
// test: no STRATA_ENDPOINT, no STRATA_KEY, a home without credentials.
func cleanEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(envEndpoint, "")
	t.Setenv(envKey, "")
	return home
}

// must runs a command that must succeed and returns its stdout.
func must(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("strata %s: exit %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// refused runs a command that must fail with exit status code and a
// message holding want.
func refused(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	got, out, errOut := runCLI(args...)
	if got != code || !strings.Contains(errOut, want) {
		t.Fatalf("strata %s: exit %d, stderr %q (stdout %q); want exit %d and %q", strings.Join(args, " "), got, errOut, out, code, want)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const cmdSchema = `[{:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
 {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
 {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]`

// The client commands against a node: databases, transact from a file and
// from stdin, q in each format, pull, datoms, views, and their errors.
func TestClientCommands(t *testing.T) {
	cleanEnv(t)
	n := startCmdNode(t, true)
	ep := "--endpoint=" + n.url
	if out := must(t, "db", "create", "people", ep); out != "created people\n" {
		t.Fatalf("db create: %q", out)
	}
	must(t, "db", "create", "--endpoint", n.url, "scratch") // flags before or after
	if out := must(t, "db", "list", ep); out != "people\nscratch\n" {
		t.Fatalf("db list: %q", out)
	}
	refused(t, 1, "conflict", "db", "create", "people", ep)
	must(t, "db", "delete", "scratch", ep)
	refused(t, 1, "not-found", "db", "delete", "scratch", ep)

	file := writeFile(t, "tx.edn", cmdSchema+"\n"+`[{:db/id "a" :person/name "ann" :person/age 40} {:db/id "b" :person/name "bob" :person/age 30 :person/friend "a"}]`)
	out := must(t, "transact", "--db", "people", file, ep)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^\{:t-before \d+ :t-after \d+ :tempids \{"a" \d+ "b" \d+\} :datoms 6\}$`).MatchString(lines[1]) {
		t.Fatalf("transact: %q", out)
	}
	schemaT := regexp.MustCompile(`:t-after (\d+)`).FindStringSubmatch(lines[0])[1]
	stdin = strings.NewReader(`[{:person/name "cid" :person/age 20}]`)
	t.Cleanup(func() { stdin = os.Stdin })
	must(t, "transact", "--db", "people", "-", ep)
	refused(t, 2, "incorrect", "transact", "--db", "people", writeFile(t, "bad.edn", `[{:person/age "old"}]`), ep)
	refused(t, 2, "--db is required", "transact", file, ep)
	refused(t, 2, "line 1", "transact", "--db", "people", writeFile(t, "broken.edn", `[{:person/age`), ep)

	// q: EDN (a relation a row a line), JSON, a table, inputs.
	const q = `[:find ?n ?a :in $ ?min :where [?e :person/name ?n] [?e :person/age ?a] [(> ?a ?min)]]`
	out = must(t, "q", "--db", "people", q, "25", ep)
	if out != "[[\"ann\" 40]\n [\"bob\" 30]]\n" && out != "[[\"bob\" 30]\n [\"ann\" 40]]\n" {
		t.Fatalf("q: %q", out)
	}
	if out = must(t, "q", "--db", "people", "--json", `[:find ?a . :in $ ?n :where [?e :person/name ?n] [?e :person/age ?a]]`, `"ann"`, ep); out != "40\n" {
		t.Fatalf("q --json: %q", out)
	}
	out = must(t, "q", "--db", "people", "--table", `[:find ?n (count ?e) :where [?e :person/name ?n]]`, ep)
	if !regexp.MustCompile(`^\?n   \(count \?e\)\n(ann|bob|cid)  +1\n`).MatchString(out) || strings.Count(out, "\n") != 4 {
		t.Fatalf("q --table: %q", out)
	}
	if out = must(t, "q", "--db", "people", "--table", `[:find [?n ...] :where [_ :person/name ?n] [(< ?n "b")]]`, ep); out != "?n\nann\n" {
		t.Fatalf("q --table of a collection: %q", out)
	}
	if out = must(t, "q", "--db", "people", "--as-of", schemaT, `[:find (count ?e) . :where [?e :person/name]]`, ep); out != "0\n" {
		t.Fatalf("q --as-of the schema: %q", out)
	}
	if out = must(t, "q", "--db", "people", "--history", `[:find (count ?a) . :where [_ :person/age ?a _ true]]`, ep); out != "3\n" {
		t.Fatalf("q --history: %q", out)
	}
	const older = `[:find (count ?e) . :in $ ?min :where [?e :person/age ?a] [(> ?a ?min)]]`
	if out = must(t, "q", "--db", "people", older, "-5", ep); out != "3\n" {
		t.Fatalf("q with a negative input: %q", out)
	}
	if out = must(t, "q", "--db", "people", ep, "--", older, "35"); out != "1\n" {
		t.Fatalf("q with its arguments after --: %q", out)
	}
	refused(t, 2, "incorrect", "q", "--db", "people", `[:find ?x :where [?e :person/name ?n]]`, ep)
	refused(t, 2, "strings need quotes", "q", "--db", "people", q, `"ann`, ep)
	refused(t, 1, "not-found", "q", "--db", "nope", q, "1", ep)

	// pull and datoms.
	out = must(t, "pull", "--db", "people", `[:person/name {:person/friend [:person/name]}]`, `[:person/name "bob"]`, ep)
	if out != `{:person/friend [{:person/name "ann"}] :person/name "bob"}`+"\n" {
		t.Fatalf("pull: %q", out)
	}
	refused(t, 1, "not-found", "pull", "--db", "people", `[*]`, `[:person/name "zed"]`, ep)
	out = must(t, "datoms", "--db", "people", "--index", "avet", ":person/age", ep)
	if got := regexp.MustCompile(`(?m)^\[\d+ :person/age (\d+) \d+ true\]$`).FindAllStringSubmatch(out, -1); len(got) != 3 || got[0][1] != "20" || got[2][1] != "40" {
		t.Fatalf("datoms: %q", out)
	}
	if out = must(t, "datoms", "--db", "people", "--index", "avet", "--limit", "1", "--json", ":person/age", ep); !regexp.MustCompile(`^\[\d+,"~:person/age",20,\d+,true\]\n$`).MatchString(out) {
		t.Fatalf("datoms --json --limit 1: %q", out)
	}
	refused(t, 2, "incorrect", "datoms", "--db", "people", "--index", "xyz", ep)

	// STRATA_ENDPOINT, and a node that is not there.
	t.Setenv(envEndpoint, n.url)
	must(t, "db", "list")
	dead := httptest.NewServer(nil)
	dead.Close()
	refused(t, 1, "unavailable", "db", "list", "--timeout", "2s", "--endpoint", dead.URL)
}

// Every command has -h with an example, on stdout, exit 0; help reaches
// the subcommands.
func TestClientCommandsHelp(t *testing.T) {
	for _, args := range [][]string{
		{"db", "create"}, {"db", "list"}, {"db", "delete"}, {"transact"}, {"q"}, {"pull"}, {"datoms"},
		{"import"}, {"keys", "create"}, {"keys", "list"}, {"keys", "revoke"},
	} {
		code, out, errOut := runCLI(append(args, "-h")...)
		if code != 0 || !strings.Contains(out, "usage: strata "+strings.Join(args, " ")) || !strings.Contains(out, "example:\n  strata ") || errOut != "" {
			t.Errorf("%v -h: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := runCLI("help", "keys"); code != 0 || !strings.Contains(out, "revoke") {
		t.Errorf("help keys: %d %q", code, out)
	}
}

// Signed use: a key made with keys create against the node's data
// directory, given by --key, STRATA_KEY or the credentials file; unsigned
// and revoked are refused with forbidden.
func TestClientCommandsSigned(t *testing.T) {
	home := cleanEnv(t)
	n := startCmdNode(t, false)
	ep := "--endpoint=" + n.url
	refused(t, 1, "forbidden", "db", "create", "people", ep)
	out := must(t, "keys", "create", "--data", n.data, "--note", "admin")
	m := regexp.MustCompile(`^id: (SK[A-Z0-9]+)\nsecret: (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys create: %q", out)
	}
	key := m[1] + ":" + m[2]
	must(t, "db", "create", "people", ep, "--key", key)
	refused(t, 2, "want ID:SECRET", "db", "list", ep, "--key", "nocolon")
	refused(t, 1, "forbidden", "db", "list", ep, "--key", m[1]+":"+strings.Repeat("x", 40))

	t.Setenv(envKey, key)
	must(t, "transact", "--db", "people", writeFile(t, "s.edn", cmdSchema), ep)
	t.Setenv(envKey, "")

	ro := regexp.MustCompile(`id: (\S+)\nsecret: (\S+)`).FindStringSubmatch(must(t, "keys", "create", "--data", n.data, "--read-only"))
	if err := os.MkdirAll(filepath.Join(home, ".strata"), 0o700); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(home, credentialsPath)
	if err := os.WriteFile(creds, []byte("# the reports key\nkey = "+ro[1]+":"+ro[2]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must(t, "q", "--db", "people", `[:find (count ?e) . :where [?e :db/ident]]`, ep); strings.TrimSpace(out) == "" {
		t.Fatal("q with the credentials file: no output")
	}
	refused(t, 1, "read-only", "transact", "--db", "people", writeFile(t, "p.edn", `[{:person/name "x"}]`), ep)
	if err := os.WriteFile(creds, []byte("secret = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, 2, "credentials:1", "db", "list", ep)
	os.Remove(creds)

	// Revoked: nodes cache keys for a moment, so wait for the refusal.
	must(t, "keys", "revoke", m[1], "--data", n.data)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, errOut := runCLI("db", "list", ep, "--key", key)
		if code == 1 && strings.Contains(errOut, "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked key still works: exit %d %q", code, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
