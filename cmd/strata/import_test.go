package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// countPeople counts the entities with a name.
func countPeople(t *testing.T, ep, db string) string {
	t.Helper()
	return strings.TrimSpace(must(t, "q", "--db", db, `[:find (count ?e) . :where [?e :person/name]]`, ep))
}

// EDN: items one a line and in transaction vectors, in batches with
// several in flight; from a file and from stdin; progress lines when not
// a terminal.
func TestImportEDN(t *testing.T) {
	cleanEnv(t)
	n := startCmdNode(t, true)
	ep := "--endpoint=" + n.url
	must(t, "db", "create", "people", ep)
	must(t, "transact", "--db", "people", writeFile(t, "schema.edn", cmdSchema), ep)
	var b strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&b, "{:person/name \"p%d\" :person/age %d}\n", i, i%90)
	}
	b.WriteString(`[{:person/name "x1"} [:db/add "x2" :person/name "x2"]]` + "\n")
	b.WriteString(`[:db/add "x3" :person/name "x3"]` + "\n")
	file := writeFile(t, "people.edn", b.String())
	old := progressEvery.plain
	progressEvery.plain = time.Millisecond
	t.Cleanup(func() { progressEvery.plain = old })
	code, out, errOut := runCLI("import", "--db", "people", "--batch", "100", "--parallel", "4", file, ep)
	if code != 0 || !regexp.MustCompile(`^imported 2503 items: 5003 datoms in 26 transactions in [0-9.]+s \(\d+ datoms/s\)\n$`).MatchString(out) {
		t.Fatalf("import: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^import: \d+ items read, \d+ datoms in \d+ transactions, \d+ datoms/s, \d+%, ETA \S+$`).MatchString(errOut) {
		t.Fatalf("import progress: %q", errOut)
	}
	if got := countPeople(t, ep, "people"); got != "2503" {
		t.Fatalf("%s people after the import", got)
	}
	// Again from stdin: the unique names upsert, nothing new.
	stdin = strings.NewReader(b.String())
	t.Cleanup(func() { stdin = os.Stdin })
	must(t, "import", "--db", "people", "--parallel", "1", "-", ep)
	if got := countPeople(t, ep, "people"); got != "2503" {
		t.Fatalf("%s people after importing the same again", got)
	}
	refused(t, 2, "--batch 0", "import", "--db", "people", "--batch", "0", file, ep)
	refused(t, 2, "--map is for CSV", "import", "--db", "people", "--map", "a=:b", file, ep)
	refused(t, 2, "no such file", "import", "--db", "people", file+".missing", ep)
}

// CSV: columns mapped to attributes and read by their types, or named by
// the header; a bad cell stops the import and says how far it is
// committed, and --skip resumes from there.
func TestImportCSV(t *testing.T) {
	cleanEnv(t)
	n := startCmdNode(t, true)
	ep := "--endpoint=" + n.url
	must(t, "db", "create", "people", ep)
	must(t, "transact", "--db", "people", writeFile(t, "schema.edn", cmdSchema), ep)
	var b strings.Builder
	b.WriteString("name,age,email\n")
	for i := range 500 {
		fmt.Fprintf(&b, "p%d,%d,p%d@example.com\n", i, i%50, i)
	}
	b.WriteString(`"with, comma",7,` + "\n,,\n")
	file := writeFile(t, "people.csv", b.String())
	out := must(t, "import", "--db", "people", "--map", "name=:person/name,age=:person/age", "--batch", "64", file, ep)
	if !strings.HasPrefix(out, "imported 501 items: 1002 datoms in 8 transactions") {
		t.Fatalf("import csv: %q", out)
	}
	if got := strings.TrimSpace(must(t, "q", "--db", "people", `[:find (sum ?a) . :with ?e :where [?e :person/age ?a]]`, ep)); got != fmt.Sprint(10*(49*50/2)+7) {
		t.Fatalf("the ages sum to %s: not read as longs?", got)
	}
	if got := strings.TrimSpace(must(t, "pull", "--db", "people", "[:person/age]", `[:person/name "with, comma"]`, ep)); got != "{:person/age 7}" {
		t.Fatalf("a quoted cell: %s", got)
	}

	// Headers that name attributes; a bad cell at line 252: the rows
	// before it are committed.
	must(t, "db", "create", "more", ep)
	must(t, "transact", "--db", "more", writeFile(t, "schema.edn", cmdSchema), ep)
	b.Reset()
	b.WriteString(":person/name,person/age\n")
	for i := range 400 {
		age := fmt.Sprint(i)
		if i == 250 {
			age = "old"
		}
		fmt.Fprintf(&b, "q%d,%s\n", i, age)
	}
	bad := writeFile(t, "bad.csv", b.String())
	refused(t, 2, `CSV line 252, column "person/age": "old" is not a db.type/long`, "import", "--db", "more", "--batch", "100", "--parallel", "2", bad, ep)
	if got := countPeople(t, ep, "more"); got != "250" {
		t.Fatalf("%s committed before the bad cell", got)
	}
	_, _, errOut := runCLI("import", "--db", "more", "--batch", "100", bad, ep)
	if !strings.Contains(errOut, "the first 250 items") || !strings.Contains(errOut, "--skip 250") {
		t.Fatalf("the failure does not say how far it got: %q", errOut)
	}
	fixed := writeFile(t, "fixed.csv", strings.Replace(b.String(), "q250,old", "q250,250", 1))
	out = must(t, "import", "--db", "more", "--skip", "250", fixed, ep)
	if !strings.HasPrefix(out, "imported 150 items") || countPeople(t, ep, "more") != "400" {
		t.Fatalf("resume: %q, %s people", out, countPeople(t, ep, "more"))
	}

	refused(t, 2, `no column "nope"`, "import", "--db", "people", "--map", "nope=:person/name", file, ep)
	refused(t, 2, "no attribute :person/email", "import", "--db", "people", "--map", "email=:person/email", file, ep)
	refused(t, 2, "is not an attribute", "import", "--db", "people", "--format", "csv", writeFile(t, "h.csv", "a b\n1\n"), ep)
}

// A transaction the node refuses stops the import with its category.
func TestImportRefused(t *testing.T) {
	cleanEnv(t)
	n := startCmdNode(t, true)
	ep := "--endpoint=" + n.url
	must(t, "db", "create", "people", ep)
	must(t, "transact", "--db", "people", writeFile(t, "schema.edn", cmdSchema), ep)
	var b strings.Builder
	for i := range 300 {
		if i == 150 {
			b.WriteString("{:person/name 12}\n")
			continue
		}
		fmt.Fprintf(&b, "{:person/name \"p%d\"}\n", i)
	}
	file := writeFile(t, "people.edn", b.String())
	refused(t, 2, "items 101 to 200: incorrect", "import", "--db", "people", "--batch", "100", "--parallel", "1", file, ep)
	if got := countPeople(t, ep, "people"); got != "100" {
		t.Fatalf("%s committed", got)
	}
	refused(t, 1, "not-found", "import", "--db", "nope", file, ep)
}
